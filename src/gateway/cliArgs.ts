/**
 * The command line, checked and put in the order @effect/cli reads before it is given to it, where its own
 * messages would mislead: an option it does not know after a command is taken for that command's file ("Received
 * unknown argument: 'gateway.yaml'"), an option given twice is "unknown", `--log-level` after a command's own
 * options is "unknown" and a level it does not know is an "Invalid subcommand", and `--port 1e3` is port 1000.
 *
 * @since 0.2.0
 */
import * as Either from "effect/Either"
import * as LogLevel from "effect/LogLevel"
import * as Messages from "./configMessages.js"
import * as ServerOptions from "./http/serverOptions.js"

/** The options each command takes, by name: whether one takes a value. */
const commandOptions: Readonly<Record<string, Readonly<Record<string, boolean>>>> = {
  gateway: { "--config": true, "-c": true, "--host": true, "--port": true },
  "check-config": {},
  "hash-key": { "--generate": false }
}

/** What each command takes besides its options: its arguments' names (`check-config FILE`). */
const commandArguments: Readonly<Record<string, ReadonlyArray<string>>> = {
  gateway: [],
  "check-config": ["FILE"],
  "hash-key": []
}

/** The options a command cannot do without, and what each names. */
const requiredOptions: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  gateway: { "--config": "FILE" }
}

/** @effect/cli's own options, taken by every command. */
const builtIns: Readonly<Record<string, boolean>> = {
  "--help": false,
  "-h": false,
  "--version": false,
  "--wizard": false,
  "--completions": true,
  "--log-level": true
}

/** The long names of @effect/cli's own options, listed and suggested with a command's. */
const everyCommand = Object.keys(builtIns).filter((option) => option.startsWith("--"))

/** The levels by the names `--log-level` takes (`debug`, `warning`, ...). */
const logLevels = new Map(LogLevel.allLevels.map((level) => [level._tag.toLowerCase(), level]))

// The names of one option (`-c` is `--config`), for "given twice".
const canonical = (name: string) => name === "-c" ? "--config" : name

const quoted = (text: string) => JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}...` : text)

/** `: did you mean X?` when `given` is a slip of one of `known` (a command, or an option with its dashes). */
const didYouMean = (given: string, known: ReadonlyArray<string>): string => {
  const bare = (name: string) => name.replace(/^-+/, "")
  const meant = known.find((name) => Messages.closest(bare(given), [bare(name)]) !== undefined)
  return meant === undefined ? "" : `: did you mean ${meant}?`
}

/** A problem with a value: `undefined` when it is fine. */
const valueProblem = (name: string, value: string): string | undefined => {
  if (name === "--log-level" && !logLevels.has(value.toLowerCase())) {
    return `--log-level takes one of ${[...logLevels.keys()].join(", ")}, not ${quoted(value)}`
  }
  if (name === "--completions" && !["sh", "bash", "fish", "zsh"].includes(value)) {
    return `--completions takes one of sh, bash, fish, zsh, not ${quoted(value)}`
  }
  if (name === "--port" && !(/^\d{1,5}$/.test(value) && Number(value) <= 65_535)) {
    return `--port must be a port number from 0 to 65535 (0: any free port), not ${quoted(value)}`
  }
  if (name === "--host") {
    // The server's own check; on the command line the port goes in --port, not in the config's `port:`.
    const problem = ServerOptions.hostProblem(value)
    if (problem !== undefined) {
      return `--host ${problem.replace("(the port goes in port:)", "(the port goes in --port)")}`
    }
  }
  return undefined
}

/**
 * The arguments (without `node` and the script) checked, without `--log-level`, whose level is given apart (set
 * by the caller: @effect/cli's own handling of it prints each of its errors twice); or what is wrong with them,
 * in one line. Nothing after a `--` is looked at.
 * `interactive`: whether standard input and output are a terminal (`--wizard` needs one).
 *
 * @since 0.2.0
 * @category parsing
 */
export const normalize = (
  args: ReadonlyArray<string>,
  options: { readonly interactive: boolean } = { interactive: true }
): Either.Either<Normalized, string> => {
  let logLevel: LogLevel.LogLevel | undefined
  const rest: Array<string> = []
  const seen = new Set<string>()
  let command: string | undefined
  const positional: Array<string> = []
  let end = args.length
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === "--") {
      // Past it, every argument is an argument (a file named `--help`).
      for (const after of args.slice(i + 1)) positional.push(after)
      end = i
      break
    }
    if (!arg.startsWith("-") || arg === "-") {
      if (command === undefined) {
        if (!(arg in commandOptions)) {
          const commands = Object.keys(commandOptions)
          return Either.left(
            `unknown command ${quoted(arg)}${didYouMean(arg, commands)} (commands: ${commands.join(", ")})`
          )
        }
        command = arg
      } else positional.push(arg)
      rest.push(arg)
      continue
    }
    const equals = arg.indexOf("=")
    const name = arg.startsWith("--") && equals > 0 ? arg.slice(0, equals) : arg
    const takesValue = builtIns[name] ?? (command === undefined ? undefined : commandOptions[command]![name])
    if (takesValue === undefined) {
      const owners = Object.keys(commandOptions).filter((owner) => name in commandOptions[owner]!)
      const own = command === undefined ? [] : Object.keys(commandOptions[command]!)
      // Suggested among the command's options and the ones every command takes (`--help`, `--log-level`).
      const meant = didYouMean(name, [...own, ...everyCommand])
      const listed = own.length === 0
        ? `it takes only the options every command takes: ${everyCommand.join(", ")}`
        : `its options: ${own.join(", ")}; every command takes ${everyCommand.join(", ")}`
      return Either.left(
        command === undefined
          ? owners.length > 0
            ? `${quoted(name)} is an option of ${owners.join(", ")}: put it after the command`
            : `unknown option ${quoted(name)}${meant}`
          : `${command} has no option ${quoted(name)}${meant} (${listed})`
      )
    }
    if (seen.has(canonical(name))) return Either.left(`${canonical(name)} is given more than once`)
    // @effect/cli's wizard prompts on the terminal: without one it prints escape codes and fails.
    if (name === "--wizard" && !options.interactive) return Either.left("--wizard needs a terminal")
    seen.add(canonical(name))
    if (!takesValue) {
      rest.push(arg)
      continue
    }
    const value = equals > 0 && name !== arg ? arg.slice(equals + 1) : args[++i]
    if (value === undefined || value === "") return Either.left(`${name} needs a value`)
    const problem = valueProblem(name, value)
    if (problem !== undefined) return Either.left(problem)
    if (name === "--log-level") logLevel = logLevels.get(value.toLowerCase())
    else rest.push(name, value)
  }
  // Help wherever it is asked for: @effect/cli reads it only before the command's own options, and the help of a
  // command needs nothing else from the line.
  if (seen.has("--help") || seen.has("-h")) {
    return Either.right({ args: [...(command ? [command] : []), "--help"], logLevel, version: false })
  }
  // The version alone, whatever else is given, unless the wizard or completions are asked for.
  const version = seen.has("--version") && !seen.has("--wizard") && !seen.has("--completions")
  const checked = { args: [...rest, ...args.slice(end)], logLevel, version }
  // The version, the wizard and completions need no more; @effect/cli answers them.
  if (command === undefined || ["--version", "--wizard", "--completions"].some((name) => seen.has(name))) {
    return Either.right(checked)
  }
  const wanted = commandArguments[command]!
  if (positional.length > wanted.length) {
    const extra = positional.slice(wanted.length).map(quoted).join(", ")
    return Either.left(
      wanted.length === 0
        ? `${command} takes no arguments, only options (got ${extra})`
        : `${command} takes one ${wanted.join(" ")}, not more (also got ${extra})`
    )
  }
  if (positional.length < wanted.length) return Either.left(`${command} needs a ${wanted[positional.length]!}`)
  // As an option's empty value is (`--config=`): a usage error, not a file that cannot be found.
  const empty = positional.indexOf("")
  if (empty >= 0) return Either.left(`${command} needs a ${wanted[empty]!}, not an empty argument`)
  for (const [option, names] of Object.entries(requiredOptions[command] ?? {})) {
    if (!seen.has(option)) return Either.left(`${command} needs ${option} ${names}`)
  }
  return Either.right(checked)
}

/**
 * A command line checked: the arguments for @effect/cli and the `--log-level` given, if any.
 *
 * @since 0.2.0
 * @category models
 */
export interface Normalized {
  readonly args: ReadonlyArray<string>
  readonly logLevel: LogLevel.LogLevel | undefined
  /** Whether the line asks for the version (`--version`, neither help, the wizard nor completions with it). */
  readonly version: boolean
}
