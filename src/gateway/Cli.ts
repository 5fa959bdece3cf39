/**
 * The `liter-llm` command line: `gateway` (serve a config), `check-config` (validate one), `hash-key` (the hash
 * of a virtual key, to put in a config). Exit codes: 0 done, 1 refused (an invalid config or key, a server that
 * cannot start), 2 a command line that does not parse.
 *
 * @since 0.2.0
 */
import * as Args from "@effect/cli/Args"
import type * as CliApp from "@effect/cli/CliApp"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Redis from "../Redis.js"
import * as Build from "./buildRuntime.js"
import * as CliArgs from "./cliArgs.js"
import * as Config from "./Config.js"
import * as Check from "./configCheck.js"
import * as ServerOptions from "./http/serverOptions.js"
import * as Keys from "./Keys.js"
import * as Telemetry from "./Telemetry.js"

/**
 * What `liter-llm gateway` runs once its config has been checked: the HTTP server, serving until stopped.
 *
 * @since 0.2.0
 * @category models
 */
export type ServeFn = (options: {
  readonly configPath: string
  readonly host: string
  readonly port: number
  /** The config as the command loaded and checked it, served first rather than read again; reloads read the file. */
  readonly loaded?: Config.Loaded | undefined
}) => Effect.Effect<never, unknown, CliApp.CliApp.Environment>

/**
 * Options of {@link make}.
 *
 * @since 0.2.0
 * @category models
 */
export interface MakeOptions {
  readonly serve: ServeFn
  /** The whole of standard input (for `hash-key`); default the process's. */
  readonly readStdin?: Effect.Effect<string> | undefined
  readonly version?: string | undefined
  /** Whether standard input and output are a terminal (for `--wizard`); default: the process's. */
  readonly interactive?: boolean | undefined
}

/**
 * A failure the CLI reports with exit code 1, its message printed as is.
 *
 * @since 0.2.0
 * @category errors
 */
export class Refused extends Error {
  /** @since 0.2.0 */
  readonly _tag = "Refused"
}

/**
 * A serve step from a module loaded on demand (the server, which a build may leave out): its `serve` export, or,
 * when the module is missing, a refusal saying so.
 *
 * @example
 * ```ts
 * import { Cli } from "liter-llm/gateway"
 *
 * const serve = Cli.serveFrom(() => import("liter-llm/gateway/Server"))
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const serveFrom = (load: () => Promise<unknown>): ServeFn => (serveOptions) =>
  Effect.tryPromise({
    try: load,
    catch: (error) =>
      (error as { readonly code?: unknown } | null)?.code === "ERR_MODULE_NOT_FOUND"
        ? new Refused("the gateway server is not part of this build")
        : new Refused(`cannot load the gateway server: ${error instanceof Error ? error.message : String(error)}`)
  }).pipe(
    Effect.flatMap((module) => {
      const serve = (module as { readonly serve?: ServeFn }).serve
      return typeof serve === "function"
        ? serve(serveOptions)
        : Effect.fail(new Refused("the gateway server is not part of this build"))
    })
  )

// eslint-disable-next-line no-control-regex
const ansiEscape = /\u001b\[[0-9;]*m/g

/**
 * A console that writes text without ANSI colour codes to the streams that `plain` names: the help of
 * `@effect/cli` is coloured, which a file, a pipe or `NO_COLOR` should not get.
 *
 * @example
 * ```ts
 * import { Console, Effect } from "effect"
 * import { Cli } from "liter-llm/gateway"
 *
 * const program = Console.consoleWith((console) =>
 *   Effect.withConsole(
 *     Console.log("\u001b[1mhelp\u001b[0m"), // prints "help" when piped
 *     Cli.plainConsole(console, { log: !process.stdout.isTTY, error: !process.stderr.isTTY })
 *   )
 * )
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const plainConsole = (
  console: Console.Console,
  plain: { readonly log: boolean; readonly error: boolean }
): Console.Console => {
  const strip = (args: ReadonlyArray<unknown>) =>
    args.map((arg) => typeof arg === "string" ? arg.replace(ansiEscape, "") : arg)
  return {
    ...console,
    log: plain.log ? (...args) => console.log(...strip(args)) : console.log,
    error: plain.error ? (...args) => console.error(...strip(args)) : console.error
  }
}

/**
 * A failure as one line: its message, else its tag and its cause's (a platform error such as `ServeError` has an
 * empty message and its reason in `cause`).
 *
 * @example
 * ```ts
 * import { Cli } from "liter-llm/gateway"
 *
 * Cli.failureText({ _tag: "ServeError", message: "", cause: new Error("listen EACCES") }) // "ServeError: listen EACCES"
 * ```
 *
 * @since 0.2.0
 * @category errors
 */
export const failureText = (error: unknown): string => {
  if (typeof error !== "object" || error === null) return String(error)
  const { _tag, cause, message } = error as {
    readonly _tag?: unknown
    readonly cause?: unknown
    readonly message?: unknown
  }
  if (typeof message === "string" && message.trim() !== "") return message
  const name = typeof _tag === "string" ? _tag : error instanceof Error ? error.name : "failure"
  return cause === undefined ? name : `${name}: ${failureText(cause)}`
}

/** A server that could not listen, as a refusal: its message (`Server.layer` words it), else its cause's. */
const listenRefused = (error: unknown, host: string, port: number): unknown => {
  if ((error as { readonly _tag?: unknown } | null)?._tag !== "ServeError") return error
  const { cause, message } = error as { readonly cause?: unknown; readonly message?: unknown }
  return new Refused(
    typeof message === "string" && message !== "" ? message : ServerOptions.listenFailure(cause, host, port)
  )
}

// A key is one short line: standard input is read no further than this (`hash-key < /dev/zero` must end).
const maxStdinBytes = 64 * 1024

const processStdin: Effect.Effect<string> = Effect.promise(async () => {
  const chunks: Array<Buffer> = []
  let bytes = 0
  for await (const chunk of process.stdin) {
    chunks.push(Buffer.from(chunk as Uint8Array))
    bytes += (chunk as Uint8Array).length
    if (bytes > maxStdinBytes) break
  }
  return Buffer.concat(chunks).toString("utf8")
})

const summary = (loaded: Config.Loaded, telemetry: Telemetry.Options | undefined): string => {
  const { config } = loaded
  const count = (record: object | undefined, one: string, many: string) => {
    const n = Object.keys(record ?? {}).length
    return `${n} ${n === 1 ? one : many}`
  }
  return [
    `${loaded.source}: valid`,
    `  ${count(config.providers, "provider", "providers")}, ${count(config.models, "model route", "model routes")}, ${
      count(config.tenants, "tenant", "tenants")
    }, ${config.admin === undefined ? "no admin key" : "an admin key"}`,
    `  routes: ${Object.keys(config.models).join(", ")}`,
    `  state: ${
      config.redis === undefined
        ? "in memory (one instance)"
        : `Redis, keys under ${
          JSON.stringify(config.redis.keyPrefix ?? Redis.defaultKeyPrefix)
        } (shared by every instance with that prefix)`
    }`,
    `  listens on ${config.server?.host ?? Config.defaults.host}:${config.server?.port ?? Config.defaults.port}`,
    `  spans: ${telemetry === undefined ? "not exported" : Telemetry.describe(telemetry)}`
  ].join("\n")
}

// Built too, as the gateway builds it at start (in memory, nothing connected): an option one of its layers refuses
// refuses the file here, so that a config `check-config` accepts is one the gateway accepts.
const loadOrRefuse = (path: string) =>
  Effect.mapError(Effect.tap(Config.load(path), Build.check), (error) => new Refused(error.message))

// The OTEL_* variables are checked with the file: a bad one refuses the config before anything listens.
const telemetryOrRefuse = (loaded: Config.Loaded) =>
  Effect.mapError(
    Telemetry.forConfig(loaded),
    (error) =>
      new Refused(`${loaded.source}: span export refused: ${"message" in error ? error.message : String(error)}`)
  )

/**
 * The CLI's commands around a serve step.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Cli } from "liter-llm/gateway"
 *
 * const cli = Cli.make({ serve: () => Effect.never })
 * const code = cli.main(["check-config", "gateway.yaml"]) // Effect of the exit code
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (options: MakeOptions) => {
  const readStdin = options.readStdin ?? processStdin

  const checkConfig = Command.make(
    "check-config",
    // Text, not `Args.file` (which refuses a directory as a usage error): `Config.load` says what is wrong with any path.
    { file: Args.text({ name: "FILE" }).pipe(Args.withDescription("The config file (.yaml, .yml or .json)")) },
    ({ file }) =>
      Effect.gen(function*() {
        const loaded = yield* loadOrRefuse(file)
        const telemetry = yield* telemetryOrRefuse(loaded)
        yield* Console.log(summary(loaded, telemetry))
        for (const warning of yield* Check.configWarnings(loaded.config)) yield* Console.log(`  warning: ${warning}`)
      })
  ).pipe(Command.withDescription(
    "Checks a config file: its schema, the names it refers to, and that every key variable it names is set. " +
      "Prints a summary and exits 0, or prints every error with its path and exits 1."
  ))

  const hashKey = Command.make(
    "hash-key",
    {
      generate: Options.boolean("generate").pipe(
        Options.withDescription("Make a new random virtual key and print it with its hash, instead of reading stdin")
      )
    },
    ({ generate }) =>
      Effect.gen(function*() {
        const key = generate ? Keys.generateKey() : (yield* readStdin).replace(/\r?\n$/, "")
        if (key.length > maxStdinBytes) {
          return yield* Effect.fail(
            new Refused(`hash-key: standard input holds more than ${maxStdinBytes} bytes: a key is one line`)
          )
        }
        const hash = Keys.hashKey(key)
        if (Either.isLeft(hash)) return yield* Effect.fail(new Refused(`hash-key: ${hash.left}`))
        if (generate) yield* Console.log(`key:  ${key}\nhash: ${hash.right}`)
        else yield* Console.log(hash.right)
      })
  ).pipe(Command.withDescription(
    "Reads a virtual key on stdin (e.g. `printf %s \"$KEY\" | liter-llm hash-key`) and prints the hash to put " +
      "in the config (tenants.<id>.keys or admin.keys). Keys have at least 20 characters."
  ))

  const gateway = Command.make(
    "gateway",
    {
      config: Options.text("config").pipe(
        Options.withAlias("c"),
        Options.withPseudoName("FILE"),
        Options.withDescription("The config file (.yaml, .yml or .json)")
      ),
      host: Options.text("host").pipe(
        // Checked as a command line (exit 2, naming --host) by `CliArgs.normalize`, with the server's own check.
        Options.optional,
        Options.withDescription(
          `Address to listen on (default server.host of the config, else ${Config.defaults.host})`
        )
      ),
      port: Options.integer("port").pipe(
        // Checked as a command line (exit 2, naming --port), not later as the server's option (its digits are
        // checked first, by `CliArgs.normalize`: a number would take `1e3` or `0x100`).
        Options.filterMap(
          (port) => port >= 0 && port <= 65_535 ? Option.some(port) : Option.none(),
          "--port must be a port number from 0 to 65535 (0: any free port)"
        ),
        Options.optional,
        Options.withDescription(`Port to listen on (default server.port of the config, else ${Config.defaults.port})`)
      )
    },
    ({ config, host, port }) =>
      Effect.gen(function*() {
        // Checked first: a bad config is reported like check-config does, before anything listens.
        const loaded = yield* loadOrRefuse(config)
        yield* telemetryOrRefuse(loaded)
        // Warnings do not stop the start; on stderr, apart from the server's JSON log lines.
        for (const warning of yield* Check.configWarnings(loaded.config)) yield* Console.error(`warning: ${warning}`)
        const address = {
          host: Option.getOrElse(host, () => loaded.config.server?.host ?? Config.defaults.host),
          port: Option.getOrElse(port, () => loaded.config.server?.port ?? Config.defaults.port)
        }
        return yield* Effect.mapError(
          options.serve({ configPath: config, ...address, loaded }),
          (error) => listenRefused(error, address.host, address.port)
        )
      })
  ).pipe(Command.withDescription(
    "Starts the OpenAI-compatible gateway with a config file. SIGHUP reloads the file (an invalid one is refused " +
      "and the old one keeps serving); SIGTERM drains in-flight requests and stops."
  ))

  const command = Command.make("liter-llm").pipe(
    Command.withDescription("liter-llm: an OpenAI-compatible LLM gateway with tenants, budgets, limits and fallbacks"),
    Command.withSubcommands([gateway, checkConfig, hashKey])
  )

  const run = Command.run(command, { name: "liter-llm", version: options.version ?? "0.2.0" })

  /** Runs the CLI on `argv` (without `node` and the script), answering the exit code. */
  const main = (args: ReadonlyArray<string>): Effect.Effect<number, never, CliApp.CliApp.Environment> => {
    const normalized = CliArgs.normalize(args, { interactive: options.interactive ?? defaultInteractive() })
    if (Either.isLeft(normalized)) return Effect.as(Console.error(`${normalized.left}\n${usageHint}`), 2)
    const { args: checked, logLevel, version } = normalized.right
    // The version alone, as `node --version` prints it (@effect/cli's help renderer adds a blank line after it).
    if (version) return Effect.as(Console.log(options.version ?? "0.2.0"), 0)
    const ran = run(["node", "liter-llm", ...checked])
    return (logLevel === undefined ? ran : Logger.withMinimumLogLevel(ran, logLevel)).pipe(
      Effect.as(0),
      Effect.catchAll((error) =>
        ValidationError.isValidationError(error)
          // What is wrong is already printed; say where the usage is.
          ? Effect.as(Console.error(usageHint), 2)
          : Effect.as(Console.error(failureText(error)), 1)
      ),
      Effect.catchAllDefect((defect) => Effect.as(Console.error(`liter-llm: unexpected failure: ${String(defect)}`), 1))
    )
  }

  return { command, main }
}

const defaultInteractive = () => process.stdin.isTTY === true && process.stdout.isTTY === true

const usageHint = "Run `liter-llm --help`, or `liter-llm <command> --help`, for the usage."
