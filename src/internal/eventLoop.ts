/**
 * Turns of the event loop, for long work on the thread that serves I/O.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"

/**
 * Lets the event loop run its pending I/O, then goes on: `setImmediate` where there is one (Node, Bun, Deno),
 * with no 1 ms minimum as a timer has. Effect's own yields are microtasks, which I/O does not get in between.
 *
 * @since 0.2.0
 * @category scheduling
 */
export const nextTurn: Effect.Effect<void> = Effect.async<void>((resume) => {
  if (typeof setImmediate === "function") {
    const handle = setImmediate(() => resume(Effect.void))
    return Effect.sync(() => clearImmediate(handle))
  }
  const handle = setTimeout(() => resume(Effect.void), 0)
  return Effect.sync(() => clearTimeout(handle))
})
