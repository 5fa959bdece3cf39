/**
 * A gateway in a Node process of its own, started as a user starts it: `liter-llm gateway --config FILE --port P`
 * (the CLI's source, bundled: see `programs.ts`). Ready once `GET /ready` answers 200; killed with the scope.
 */
import { Effect, Schedule } from "effect"
import { spawn } from "node:child_process"
import { program } from "./programs.js"
import { freePort } from "./redisServer.js"

/** A gateway process started by {@link startGateway}. */
export interface GatewayProcess {
  /** `http://127.0.0.1:<port>`. */
  readonly base: string
  /** What it printed so far (stdout and stderr), for failure messages. */
  readonly output: () => string
}

/**
 * Starts `liter-llm gateway --config <configPath>` on a free port of 127.0.0.1, with `env` added to this
 * process's environment, and waits (bounded by `readyMs`) until `GET /ready` answers 200. Fails at once with
 * its output if it exits first. Killed (SIGKILL) when the scope closes, or this process exits, and after `timeoutMs` (2 minutes) in any case.
 */
export const startGateway = (options: {
  readonly configPath: string
  readonly env: Record<string, string>
  /** Names the process in failure messages. */
  readonly name: string
  readonly readyMs?: number
  readonly timeoutMs?: number
}) =>
  Effect.gen(function*() {
    const port = yield* Effect.promise(freePort)
    const base = `http://127.0.0.1:${port}`
    const { child } = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const child = spawn(
          process.execPath,
          [
            program("src/gateway/bin.ts"),
            "gateway",
            "--config",
            options.configPath,
            "--host",
            "127.0.0.1",
            "--port",
            `${port}`
          ],
          { env: { ...process.env, ...options.env }, cwd: process.cwd(), stdio: ["ignore", "pipe", "pipe"] }
        )
        const kill = () => child.kill("SIGKILL")
        const timer = setTimeout(kill, options.timeoutMs ?? 120_000)
        child.once("exit", () => clearTimeout(timer))
        // A test run that ends abruptly must not leave a gateway behind.
        process.once("exit", kill)
        return { child, kill, timer }
      }),
      ({ kill, timer }) =>
        Effect.sync(() => {
          clearTimeout(timer)
          process.off("exit", kill)
          kill()
        })
    )
    let output = ""
    const collect = (chunk: Buffer) => output += chunk.toString()
    child.stdout.on("data", collect)
    child.stderr.on("data", collect)
    const exited = () => child.exitCode !== null || child.signalCode !== null
    const ready = Effect.suspend(() =>
      exited()
        ? Effect.dieMessage(`gateway ${options.name} exited (${child.exitCode ?? child.signalCode})`)
        : Effect.promise(() => fetch(`${base}/ready`).then((response) => response.ok, () => false))
    )
    // Polled at a pace: loading takes seconds, and a tight loop here would take a core from the processes loading.
    yield* ready.pipe(
      Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: (up) => up }),
      Effect.timeoutFail({
        duration: options.readyMs ?? 30_000,
        onTimeout: () => new Error(`gateway ${options.name} not ready on ${base}`)
      }),
      Effect.orDie,
      Effect.catchAllDefect((defect) =>
        Effect.dieMessage(`${defect instanceof Error ? defect.message : String(defect)}; it printed:\n${output}`)
      )
    )
    return { base, output: () => output } satisfies GatewayProcess
  })
