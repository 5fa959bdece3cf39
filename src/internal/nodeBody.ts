/**
 * Reading a Node `Readable` from Effect without a stream stage: what it has buffered is taken with `read()` in a
 * plain loop, and a fiber waits for `readable`, `end` or `error` only when there is nothing to take. Shared by
 * the undici client's byte stream and the SSE decoder that reads a body straight from the socket.
 */
import * as Effect from "effect/Effect"
import type { Readable } from "node:stream"

/** One body being read. */
export interface NodeBody {
  readonly body: Readable
  /** The body has ended: nothing more will come. */
  readonly ended: () => boolean
  /** The body's error, once it failed. */
  readonly failure: () => { readonly cause: unknown } | undefined
  /** Waits until the body has more, has ended or has failed. */
  readonly wait: Effect.Effect<void>
  /** Stops listening, and destroys a body that has not ended (which closes its connection). */
  readonly release: Effect.Effect<void>
  /**
   * Stops listening to a body whose content is complete (its stream's end marker came) but that has not ended:
   * the rest is read and dropped in the background, so the connection goes back to its pool, and the body is
   * destroyed if it has not ended within `graceMillis` (a server that holds it open).
   */
  readonly releaseComplete: (graceMillis: number) => Effect.Effect<void>
}

/** Starts listening to `body`; `release` when done with it. */
export const make = (body: Readable): NodeBody => {
  let ended = false
  let failure: { readonly cause: unknown } | undefined
  let wake: (() => void) | undefined
  const notify = () => {
    const resume = wake
    wake = undefined
    resume?.()
  }
  const onEnd = () => {
    ended = true
    notify()
  }
  const onError = (cause: unknown) => {
    failure = { cause }
    notify()
  }
  body.on("readable", notify)
  body.once("end", onEnd)
  body.once("error", onError)
  const stop = () => {
    body.off("readable", notify)
    body.off("end", onEnd)
    body.off("error", onError)
  }
  return {
    body,
    ended: () => ended || body.readableEnded,
    failure: () => failure,
    wait: Effect.async<void>((resume) => {
      wake = () => resume(Effect.void)
      return Effect.sync(() => {
        wake = undefined
      })
    }),
    release: Effect.sync(() => {
      stop()
      if (!ended) body.destroy()
    }),
    releaseComplete: (graceMillis) =>
      Effect.sync(() => {
        stop()
        if (ended || body.readableEnded || body.destroyed) return
        // Real time, unref'd: cleanup of a socket, which no caller waits for.
        const timer = setTimeout(() => body.destroy(), graceMillis)
        timer.unref()
        const done = () => clearTimeout(timer)
        body.once("end", done)
        // Listened to, so a late error of a body nobody reads is not an unhandled 'error' event.
        body.once("error", done)
        body.once("close", done)
        body.resume()
      })
  }
}
