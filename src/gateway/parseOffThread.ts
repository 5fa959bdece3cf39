/**
 * A config file's text parsed in a worker thread, so that a reload does not hold the requests the gateway is
 * serving: reading YAML is synchronous, and a file of 20 000 tenants takes the `yaml` package seconds.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { createRequire } from "node:module"
import { pathToFileURL } from "node:url"
import { Worker } from "node:worker_threads"
import * as ConfigText from "./configText.js"

type Answer = { readonly parsed: ConfigText.Parsed } | { readonly errors: Array<string> }

// Run from the TypeScript sources (the project's own tests, `tsx`), the worker's entry is TypeScript too: the
// worker registers tsx's loader, then imports it (on Node 20 a loader given with `--import` does not load a
// worker's entry). From the built package, the entry is the compiled module beside this one.
const fromSources = import.meta.url.endsWith(".ts")

const startWorker = (): Worker => {
  if (!fromSources) return new Worker(new URL("./configParseWorker.js", import.meta.url))
  const tsx = createRequire(import.meta.url).resolve("tsx/package.json").replace(
    /package\.json$/,
    "dist/esm/api/index.mjs"
  )
  const entry = new URL("./configParseWorker.ts", import.meta.url).href
  const code = `import(${JSON.stringify(pathToFileURL(tsx).href)}).then((tsx) => {
    tsx.register()
    return import(${JSON.stringify(entry)})
  })`
  return new Worker(code, { eval: true })
}

const reasonOf = (error: unknown): string => error instanceof Error ? error.message : String(error)

/** Stops a worker whose answer is no longer wanted; an error it may still raise then is of no interest. */
const stop = (worker: Worker | undefined) => {
  if (worker === undefined) return
  worker.removeAllListeners()
  worker.on("error", () => {})
  void worker.terminate()
}

/**
 * What `ConfigText.parseFile` makes of `text`, computed in a worker thread. A worker that cannot start or fails
 * (no memory for one more thread, say) leaves the text to be parsed on this thread, with a warning saying why:
 * the reload holds requests for that long, but is not refused. Interrupted, the worker is stopped.
 *
 * @since 0.2.0
 * @category decoding
 */
export const parseOffThread = (
  text: string,
  source: string
): Effect.Effect<Either.Either<ConfigText.Parsed, Array<string>>> =>
  Effect.flatten(Effect.async<Effect.Effect<Either.Either<ConfigText.Parsed, Array<string>>>>((resume) => {
    let worker: Worker | undefined
    let done = false
    const finish = (result: Effect.Effect<Either.Either<ConfigText.Parsed, Array<string>>>) => {
      if (done) return
      done = true
      stop(worker)
      resume(Effect.succeed(result))
    }
    const onThisThread = (why: unknown) =>
      finish(Effect.zipRight(
        Effect.logWarning(
          `the config file could not be parsed in a worker thread (${reasonOf(why)}): parsed on the serving thread`
        ),
        Effect.sync(() => ConfigText.parseFile(text, source))
      ))
    try {
      worker = startWorker()
    } catch (error) {
      onThisThread(error)
      return
    }
    const started = worker
    started.once(
      "message",
      (answer: Answer) =>
        finish(Effect.succeed("parsed" in answer ? Either.right(answer.parsed) : Either.left(answer.errors)))
    )
    started.once("error", onThisThread)
    started.once("exit", (code) => onThisThread(`the worker exited with code ${code}`))
    started.postMessage({ text, source })
    return Effect.sync(() => {
      done = true
      stop(started)
    })
  }))
