/**
 * Spans for the per-call hot path: the same spans as `Effect.withSpan` and `Effect.fn`, for about half their
 * cost. Measured on Effect 3.22, per span around a trivial effect: 35 Effect operations and 13.5 µs of CPU for
 * `Effect.withSpan`, 20 and 7.9 µs here. Effect makes the span the inner effect's parent with
 * `Effect.provideService`, a bracket (`acquireUseRelease`) of its own, and captures a stack trace per call;
 * here the span is set and put back inside one uninterruptible region, with no stack trace. A governed call
 * opens about ten (budget, rate limit, cache steps), so this is a measurable part of its cost.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as Tracer from "effect/Tracer"
import type { YieldWrap } from "effect/Utils"

/**
 * `self` in a span named `name`, the parent of the spans `self` opens; ended with `self`'s exit, whether it
 * succeeds, fails or is interrupted. As `Effect.withSpan(name, options)` without `captureStackTrace`.
 */
export const withSpan =
  (name: string, options?: Tracer.SpanOptions) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.withFiberRuntime<A, E, R>((fiber) => {
        const previous = fiber.currentContext
        return Effect.flatMap(Effect.makeSpan(name, { ...options, captureStackTrace: false }), (span) => {
          const end = (exit: Exit.Exit<unknown, unknown>) =>
            Effect.zipRight(
              FiberRef.set(FiberRef.currentContext, previous),
              Effect.withFiberRuntime((current) => {
                if (span.status._tag === "Ended") return Effect.void
                const timed = current.getFiberRef(FiberRef.currentTracerTimingEnabled)
                span.end(
                  timed ? Context.get(current.currentDefaultServices, Clock.Clock).unsafeCurrentTimeNanos() : 0n,
                  exit
                )
                return Effect.void
              })
            )
          return Effect.zipRight(
            FiberRef.set(FiberRef.currentContext, Context.add(previous, Tracer.ParentSpan, span)),
            Effect.matchCauseEffect(restore(self), {
              onFailure: (cause) => Effect.zipRight(end(Exit.failCause(cause)), Effect.failCause(cause)),
              onSuccess: (value) => Effect.as(end(Exit.succeed(value)), value)
            })
          )
        })
      })
    )

/**
 * A function whose calls run in a span named `name`: `Effect.fn(name)(body)` for the hot path (see the module's
 * comment), without the call site's stack trace.
 */
export const fn =
  (name: string, options?: Tracer.SpanOptions) =>
  <Args extends Array<unknown>, Eff extends YieldWrap<Effect.Effect<unknown, unknown, unknown>>, A>(
    body: (...args: Args) => Generator<Eff, A, never>
  ): (...args: Args) => Effect.Effect<
    A,
    [Eff] extends [never] ? never
      : [Eff] extends [YieldWrap<Effect.Effect<infer _A, infer E, infer _R>>] ? E
      : never,
    [Eff] extends [never] ? never
      : [Eff] extends [YieldWrap<Effect.Effect<infer _A, infer _E, infer R>>] ? R
      : never
  > =>
  (...args) => withSpan(name, options)(Effect.gen(() => body(...args)))
