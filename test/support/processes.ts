/**
 * Runs a script of `test/processes/` in a Node process of its own (its bundle, see `programs.ts`), as a separate
 * application process would run: the multi-process tests prove their claims across real process boundaries.
 */
import { Effect, type Scope } from "effect"
import { execFile, spawn } from "node:child_process"
import { program } from "./programs.js"

/**
 * Runs `test/processes/<script>` with `env` added to this process's environment (killed after `timeoutMs`) and
 * returns the JSON of the last line it printed. `env.NAME`, when set, names the process in errors.
 */
export const runWorker = <A>(
  script: string,
  env: Record<string, string>,
  timeoutMs = 30_000
): Effect.Effect<A, Error> =>
  Effect.async<A, Error>((resume) => {
    const name = env.NAME ?? script
    const child = execFile(
      process.execPath,
      [program(`test/processes/${script}`)],
      { env: { ...process.env, ...env }, timeout: timeoutMs, killSignal: "SIGKILL", cwd: process.cwd() },
      (error, stdout, stderr) => {
        if (error) return resume(Effect.fail(new Error(`worker ${name} failed: ${error.message}\n${stderr}`)))
        resume(Effect.try({
          try: () => JSON.parse(stdout.trim().split("\n").at(-1)!) as A,
          catch: () => new Error(`worker ${name} printed no JSON line: ${stdout}\n${stderr}`)
        }))
      }
    )
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/** A worker started by {@link startWorker}. */
export interface StartedWorker<A> {
  /** Succeeds once the worker printed `ready` (fails if it exited first). */
  readonly ready: Effect.Effect<void, Error>
  /** Writes one line to its stdin. */
  readonly send: (line: string) => Effect.Effect<void>
  /** Closes its stdin. */
  readonly end: Effect.Effect<void>
  /** The JSON of the last line it printed, once it exited with code 0. */
  readonly done: Effect.Effect<A, Error>
}

/**
 * Starts `test/processes/<script>` with `env` added, for a worker the test talks to while it runs: it prints
 * `ready`, reads lines from stdin, and prints its report as its last line. Killed after `timeoutMs`, and when the
 * scope ends.
 */
export const startWorker = <A>(
  script: string,
  env: Record<string, string>,
  timeoutMs = 30_000
): Effect.Effect<StartedWorker<A>, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const name = env.NAME ?? script
      const child = spawn(process.execPath, [program(`test/processes/${script}`)], {
        env: { ...process.env, ...env },
        cwd: process.cwd(),
        stdio: ["pipe", "pipe", "pipe"]
      })
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
      let stdout = ""
      let stderr = ""
      child.stderr.on("data", (data: Buffer) => stderr += data.toString())
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
      const ready = new Promise<void>((resolve, reject) => {
        child.stdout.on("data", (data: Buffer) => {
          stdout += data.toString()
          if (stdout.startsWith("ready\n")) resolve()
        })
        void exited.then(() => reject(new Error(`worker ${name} exited before ready: ${stderr}`)))
      })
      const done = exited.then((code) => {
        clearTimeout(timer)
        if (code !== 0) throw new Error(`worker ${name} failed (exit code ${code}): ${stdout}\n${stderr}`)
        try {
          return JSON.parse(stdout.trim().split("\n").at(-1)!) as A
        } catch {
          throw new Error(`worker ${name} printed no JSON line: ${stdout}\n${stderr}`)
        }
      })
      // Awaited only by tests that get that far: a worker killed earlier must not be an unhandled rejection.
      ready.catch(() => undefined)
      done.catch(() => undefined)
      const worker: StartedWorker<A> = {
        ready: Effect.tryPromise({ try: () => ready, catch: (error) => error as Error }),
        send: (line) => Effect.sync(() => child.stdin.write(`${line}\n`)),
        end: Effect.sync(() => child.stdin.end()),
        done: Effect.tryPromise({ try: () => done, catch: (error) => error as Error })
      }
      return { child, timer, worker }
    }),
    ({ child, timer }) =>
      Effect.sync(() => {
        clearTimeout(timer)
        child.kill("SIGKILL")
      })
  ).pipe(Effect.map(({ worker }) => worker))
