/**
 * How a Redis-backed store reports that it could not reach Redis and served from its fallback instead: one warning
 * when an outage starts and one note when it ends (not one per call), and a counter per fallback.
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type * as Redis from "../Redis.js"

/** The name of {@link unavailable}. */
export const unavailableName = "liter_llm.redis.unavailable"

/** Operations a store served from its fallback because Redis failed, by store and fallback. */
export const unavailable = Metric.counter(unavailableName, {
  description: "Store operations served without Redis because it failed (by store and fallback)",
  incremental: true
})

/** As `Redis.OutageReporter`; the store's `fallback` says what it does instead (e.g. "local", "reject"). */
export type Reporter = Redis.OutageReporter

export const reporter = (store: string, fallback: string): Reporter => {
  let down = false
  const count = unavailable.pipe(Metric.tagged("store", store), Metric.tagged("fallback", fallback))
  return {
    failed: (error) =>
      Effect.suspend(() => {
        const first = !down
        down = true
        const counted = Metric.increment(count)
        if (!first) return counted
        return Effect.zipRight(
          Effect.logWarning(`Redis unavailable for the ${store} store: ${fallback} until it is back`).pipe(
            Effect.annotateLogs({
              store,
              operation: error.operation,
              reason: error.reason,
              // e.g. "could not connect to redis://10.0.0.5:6379/0: connection refused" behind "not connected"
              ...(error.cause instanceof Error ? { cause: error.cause.message } : {})
            })
          ),
          counted
        )
      }),
    succeeded: Effect.suspend(() => {
      if (!down) return Effect.void
      down = false
      return Effect.logInfo(`Redis is back for the ${store} store`).pipe(Effect.annotateLogs({ store }))
    })
  }
}
