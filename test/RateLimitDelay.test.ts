/**
 * `onExceeded: "delay"`: a call interrupted while it waits gives its units back (when no later call took units
 * after it), and a call that would wait longer than `maxDelay` is refused instead of waiting.
 */
import { expect, it } from "@effect/vitest"
import { Chunk, Clock, Duration, Effect, Fiber, Layer, TestClock } from "effect"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import * as RateLimit from "../src/RateLimit.js"
import { adjustTo } from "./support/loopback.js"
import { forEachStore } from "./support/rateLimitStores.js"
import { answer, ask, failure, runTo, scripted, success } from "./support/resilience.js"

const generate = (layer: Layer.Layer<LanguageModel.LanguageModel, unknown>) =>
  LanguageModel.generate(ask("hi")).pipe(Effect.provide(Layer.orDie(layer)))

/** A reply that answers the virtual time at which the call reached the model. */
const stamped = () => Effect.map(Clock.currentTimeMillis, (now) => answer(`${now}`))

const replies = (n: number) => Array.from({ length: n }, () => stamped)

const text = (response: { readonly content: ReadonlyArray<{ readonly type: string; readonly text?: string }> }) =>
  response.content[0]?.text

/**
 * Forks a call and lets it run until it sleeps until `wakeAt` (its units taken, its delay begun). Over Redis the
 * units are taken in a round trip: a clock moved before the call sleeps would start its wait late (it sleeps its
 * delay from the moved time), and the round trip's own command timeout is a sleep too, which is not this one.
 */
const waiting = <A, E>(effect: Effect.Effect<A, E>, wakeAt: number) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    const asleep = Effect.map(TestClock.sleeps(), (sleeps) => Chunk.some(sleeps, (at) => at === wakeAt))
    while (!(yield* asleep)) yield* Effect.yieldNow()
    return fiber
  })

const onePer300: RateLimit.Options = {
  default: { requests: { limit: 1, window: 300 } },
  onExceeded: "delay"
}

forEachStore("RateLimit: delay mode", (limiter) => {
  it.effect("a delayed call interrupted before it runs gives its units back to the next call", () =>
    Effect.gen(function*() {
      const model = yield* scripted(replies(2))
      const limited = RateLimit.layer(model.layer, onePer300)
      expect(text(yield* generate(limited))).toBe("0")
      const second = yield* waiting(generate(limited), 300)
      yield* adjustTo(10)
      yield* Fiber.interrupt(second)
      // Without the give-back the third call would wait for the window after the second's: 600 ms.
      const third = success(yield* runTo(generate(limited), [300]))
      expect(text(third)).toBe("300")
      expect(yield* model.calls).toBe(2)
    }).pipe(Effect.provide(limiter)))

  it.effect("units taken after the interrupted call keep it from giving back (no window ever holds two)", () =>
    Effect.gen(function*() {
      const model = yield* scripted(replies(3))
      const limited = RateLimit.layer(model.layer, { ...onePer300, maxDelay: "1 second" })
      expect(text(yield* generate(limited))).toBe("0")
      const second = yield* waiting(generate(limited), 300) // window [300, 600)
      const third = yield* waiting(generate(limited), 600) // window [600, 900)
      yield* Fiber.interrupt(second)
      // The second's window stays taken: the fourth call waits after the third's, not in a window beside it.
      const fourth = yield* waiting(generate(limited), 900)
      yield* adjustTo(600)
      expect(text(yield* Fiber.join(third))).toBe("600")
      yield* adjustTo(900)
      expect(text(yield* Fiber.join(fourth))).toBe("900")
    }).pipe(Effect.provide(limiter)))

  it.effect("a call that would wait longer than maxDelay fails with retryAfter and gives its units back", () =>
    Effect.gen(function*() {
      const model = yield* scripted(replies(3))
      const limited = RateLimit.layer(model.layer, onePer300)
      expect(text(yield* generate(limited))).toBe("0")
      const second = yield* waiting(generate(limited), 300) // waits 300 ms: the window, the default maxDelay
      const refused = failure(yield* Effect.exit(generate(limited)))
      if (!(refused instanceof LlmError.RateLimitExceeded)) throw new Error(`expected a refusal: ${refused._tag}`)
      expect(Duration.toMillis(refused.retryAfter!)).toBe(600)
      expect(refused.message).toContain("would wait 600ms, more than maxDelay 300ms")
      yield* adjustTo(300)
      expect(text(yield* Fiber.join(second))).toBe("300")
      // The refused call's window [600, 900) was given back: the next call takes it and waits 300 ms, in bounds.
      const next = success(yield* runTo(generate(limited), [600]))
      expect(text(next)).toBe("600")
      expect(yield* model.calls).toBe(3)
    }).pipe(Effect.provide(limiter)))
})
