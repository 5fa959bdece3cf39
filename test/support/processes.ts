/**
 * Runs a script of `test/processes/` in a Node process of its own (`node --import tsx`), as a separate
 * application process would run: the multi-process tests prove their claims across real process boundaries.
 */
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"

/**
 * Runs `test/processes/<script>` with `env` added to this process's environment (killed after 30 s) and returns
 * the JSON of the last line it printed. `env.NAME`, when set, names the process in errors.
 */
export const runWorker = <A>(script: string, env: Record<string, string>): Effect.Effect<A, Error> =>
  Effect.async<A, Error>((resume) => {
    const path = fileURLToPath(new URL(`../processes/${script}`, import.meta.url))
    const name = env.NAME ?? script
    const child = execFile(
      process.execPath,
      ["--import", "tsx", path],
      { env: { ...process.env, ...env }, timeout: 30_000, killSignal: "SIGKILL", cwd: process.cwd() },
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
