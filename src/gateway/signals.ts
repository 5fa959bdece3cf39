/**
 * The gateway process's signals, where Node's defaults would stop it at the wrong moment:
 *
 * - a SIGHUP that arrives while the `liter-llm` executable starts, before the server listens for it (Node's
 *   default ends the process, so a reload sent right after a restart would stop the gateway): held, it reloads
 *   the file once the gateway serves;
 * - the same SIGINT or SIGTERM delivered twice: Ctrl-C under `npm run` reaches the process from the terminal and
 *   again from npm, which forwards it. `NodeRuntime.runMain` drains on the first and leaves the next to Node's
 *   default (the process ends at once): the echo is ignored, a later signal still stops the process at once.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Os from "node:os"

export { holdEarly, takeHangups } from "./earlySignals.js"

const stops = ["SIGINT", "SIGTERM"] as const

/**
 * While the scope is open: a SIGINT or SIGTERM within `echoMs` of the first one is that signal delivered twice
 * and ignored; one after it ends the process at once (exit code 128 + the signal's number), as Node's default
 * would. The first one is left to whoever stops the program (`NodeRuntime.runMain` interrupts it): a signal
 * nothing listens for when the scope opens is left to Node's default altogether.
 *
 * This is process plumbing outside Effect's runtime, which may be stopping: wall-clock time, not `Clock`.
 *
 * @since 0.2.0
 * @category signals
 */
export const ignoreEchoedStops = (echoMs = 1_000): Effect.Effect<void, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      let first: number | undefined
      const onStop = (signal: NodeJS.Signals) => {
        const now = performance.now()
        if (first === undefined) first = now
        else if (now - first >= echoMs) process.exit(128 + Os.constants.signals[signal as typeof stops[number]])
      }
      const handled = stops.filter((signal) => process.listenerCount(signal) > 0)
      for (const signal of handled) process.on(signal, onStop)
      return () => {
        for (const signal of handled) process.off(signal, onStop)
      }
    }),
    (remove) => Effect.sync(remove)
  )
