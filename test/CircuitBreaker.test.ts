import { describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Exit, Fiber, Layer, Queue, Stream } from "effect"
import * as TestClock from "effect/TestClock"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import * as Fallback from "../src/Fallback.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import * as LlmMetrics from "../src/LlmMetrics.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { adjustTo, arrivals, awaitRequests, awaitSleepUntil, openAiLayer } from "./support/loopback.js"
import { after, answer, ask, closed, count, errors, failure, opened, scripted, tagOf } from "./support/resilience.js"

const call = (layer: Layer.Layer<LanguageModel.LanguageModel>, content = "hi") =>
  LanguageModel.generate(ask(content)).pipe(Effect.provide(layer), Effect.exit)

/** Lets forked fibers run up to their first suspension (e.g. a subscription to the transitions). */
const settle = Effect.forEach(Array.from({ length: 10 }), () => Effect.yieldNow(), { discard: true })

describe("CircuitBreaker: opening", () => {
  it.effect("opens once both minimumCalls and failureRateThreshold are reached, and rejects without calling", () =>
    Effect.gen(function*() {
      const model = yield* scripted([
        { text: "1" },
        errors.overloaded(),
        { text: "3" },
        errors.serverError(),
        { text: "never" }
      ])
      const options = { key: "k", minimumCalls: 4, failureRateThreshold: 0.5, cooldown: "30 seconds" } as const
      const guarded = CircuitBreaker.layer(model.layer, options)
      const steps: Array<readonly [string, CircuitBreaker.StateView]> = []
      for (const at of [0, 1_000, 2_000, 3_000]) {
        yield* adjustTo(at)
        const exit = yield* call(guarded)
        steps.push([tagOf(exit), yield* CircuitBreaker.state("k")])
      }
      expect(steps).toEqual([
        ["success", closed("k", 1, 0)],
        // half the calls failed, but fewer than minimumCalls were made
        ["Overloaded", closed("k", 2, 1)],
        ["success", closed("k", 3, 1)],
        ["ServerError", opened("k", 33_000)]
      ])
      const rejected = failure(yield* call(guarded))
      expect(rejected).toBeInstanceOf(LlmError.CircuitOpen)
      expect(rejected).toMatchObject({ _tag: "CircuitOpen", key: "k", until: 33_000, provider: "test" })
      expect(rejected.retryAfter && Duration.toMillis(rejected.retryAfter)).toBe(30_000)
      yield* adjustTo(32_999)
      const last = failure(yield* call(guarded))
      expect(last).toMatchObject({ _tag: "CircuitOpen", until: 33_000 })
      expect(last.retryAfter && Duration.toMillis(last.retryAfter)).toBe(1)
      expect(yield* model.calls).toBe(4)
    }).pipe(Effect.provide(CircuitBreaker.layerMemory)))

  it.effect("stays closed below the failure rate, however many calls", () =>
    Effect.gen(function*() {
      const model = yield* scripted([
        { text: "1" },
        errors.overloaded(),
        { text: "3" },
        errors.overloaded(),
        { text: "5" },
        errors.overloaded()
      ])
      const guarded = CircuitBreaker.layer(model.layer, { key: "k", minimumCalls: 2, failureRateThreshold: 0.6 })
      for (let i = 0; i < 6; i++) yield* call(guarded)
      expect(yield* CircuitBreaker.state("k")).toEqual(closed("k", 6, 3))
      expect(yield* model.calls).toBe(6)
    }).pipe(Effect.provide(CircuitBreaker.layerMemory)))

  it.effect("outcomes expire after the rolling window", () =>
    Effect.gen(function*() {
      const options = { minimumCalls: 2, failureRateThreshold: 1, window: "10 seconds" } as const
      const a = yield* scripted([errors.overloaded(), errors.overloaded()])
      const b = yield* scripted([errors.overloaded(), errors.overloaded()])
      const guardedA = CircuitBreaker.layer(a.layer, { ...options, key: "a" })
      const guardedB = CircuitBreaker.layer(b.layer, { ...options, key: "b" })
      // a: failures at 0 and 9.999 s, both inside one window: opens
      yield* call(guardedA)
      yield* adjustTo(9_999)
      yield* call(guardedA)
      expect(yield* CircuitBreaker.state("a")).toEqual(opened("a", 39_999))
      // b: failures at 20 s and 30 s: the first has left the window when the second arrives
      yield* adjustTo(20_000)
      yield* call(guardedB)
      yield* adjustTo(30_000)
      yield* call(guardedB)
      expect(yield* CircuitBreaker.state("b")).toEqual(closed("b", 1, 1))
    }).pipe(Effect.provide(CircuitBreaker.layerMemory)))

  it.effect("state counts only the outcomes still inside the window", () =>
    Effect.gen(function*() {
      const model = yield* scripted([errors.overloaded()])
      yield* call(CircuitBreaker.layer(model.layer, { key: "k", window: "10 seconds" }))
      expect(yield* CircuitBreaker.state("k")).toEqual(closed("k", 1, 1))
      yield* adjustTo(10_000)
      expect(yield* CircuitBreaker.state("k")).toEqual(closed("k", 0, 0))
    }).pipe(Effect.provide(CircuitBreaker.layerMemory)))

  it.effect("caller faults, non-retryable provider faults and interrupts do not count", () =>
    Effect.gen(function*() {
      const ignored: ReadonlyArray<LlmError.LlmError> = [
        errors.invalid(),
        errors.contextLength(),
        new LlmError.AuthenticationFailed({ provider: "test", status: 401, message: "no" }),
        new LlmError.QuotaExhausted({ provider: "test", status: 429, message: "quota" }),
        errors.malformed(),
        new LlmError.ServerError({ provider: "test", status: 500, shouldRetry: false, message: "do not retry" })
      ]
      const model = yield* scripted([...ignored, after(1_000, answer("slow")), errors.overloaded()])
      const guarded = CircuitBreaker.layer(model.layer, { key: "k", minimumCalls: 1 })
      for (const error of ignored) expect(tagOf(yield* call(guarded))).toBe(error._tag)
      expect(yield* CircuitBreaker.state("k")).toEqual(closed("k", 0, 0))
      const slow = yield* Effect.fork(call(guarded))
      yield* awaitSleepUntil(1_000)
      yield* Fiber.interrupt(slow)
      expect(yield* CircuitBreaker.state("k")).toEqual(closed("k", 0, 0))
      expect(tagOf(yield* call(guarded))).toBe("Overloaded")
      expect(yield* CircuitBreaker.state("k")).toEqual(opened("k", 30_000))
    }).pipe(Effect.provide(CircuitBreaker.layerMemory)))

  it.scoped("a real 400 leaves the breaker alone; a real 500 opens it", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [OpenAiMock.error(400), OpenAiMock.error(400), OpenAiMock.error(500)]
      })
      const guarded = CircuitBreaker.layer(openAiLayer(server, { retry: false }), { key: "openai", minimumCalls: 1 })
      expect([tagOf(yield* call(guarded)), tagOf(yield* call(guarded))]).toEqual(["InvalidRequest", "InvalidRequest"])
      expect(yield* CircuitBreaker.state("openai")).toEqual(closed("openai", 0, 0))
      expect(tagOf(yield* call(guarded))).toBe("ServerError")
      expect(yield* CircuitBreaker.state("openai")).toEqual(opened("openai", 30_000))
      expect(failure(yield* call(guarded))).toMatchObject({ _tag: "CircuitOpen", provider: "openai", until: 30_000 })
      expect(yield* count(server)).toBe(3)
    }).pipe(Effect.provide(CircuitBreaker.layerMemory)))
})

describe("CircuitBreaker.subscribe", () => {
  it.scoped("subscribed once it returns: the first transition, made at once, is in the queue", () =>
    Effect.gen(function*() {
      const subscription = yield* CircuitBreaker.subscribe
      const model = yield* scripted([errors.overloaded()])
      const guarded = CircuitBreaker.layer(model.layer, { key: "s", minimumCalls: 1, cooldown: "30 seconds" })
      expect(tagOf(yield* call(guarded))).toBe("Overloaded")
      expect(yield* Queue.take(subscription)).toMatchObject({ key: "s", from: "closed", to: "open" })
    }).pipe(Effect.provide(CircuitBreaker.layerMemory)))
})

describe("CircuitBreaker: half-open", () => {
  it.effect("half-opens at exactly the cooldown, reopens on a failed probe, closes on a good one", () =>
    Effect.gen(function*() {
      const metrics = yield* LlmMetrics.LlmMetrics
      const seen = yield* CircuitBreaker.transitions.pipe(Stream.take(5), Stream.runCollect, Effect.fork)
      yield* settle
      const model = yield* scripted([
        errors.overloaded(),
        after(1_000, errors.serverError()),
        { text: "healthy" }
      ])
      const guarded = CircuitBreaker.layer(model.layer, { key: "k", minimumCalls: 1, cooldown: "30 seconds" })
      expect(tagOf(yield* call(guarded))).toBe("Overloaded")
      expect(yield* CircuitBreaker.state("k")).toEqual(opened("k", 30_000))
      yield* adjustTo(29_999)
      expect(failure(yield* call(guarded))).toMatchObject({ _tag: "CircuitOpen", until: 30_000 })
      expect(yield* model.calls).toBe(1)
      // at 30 s the probe goes through; while it runs, the breaker is half-open and refuses anyone else
      yield* adjustTo(30_000)
      const probe = yield* Effect.fork(call(guarded))
      yield* awaitSleepUntil(31_000)
      expect(yield* CircuitBreaker.state("k")).toEqual(opened("k", 30_000, "half-open"))
      expect(failure(yield* call(guarded))).toMatchObject({ _tag: "CircuitOpen", until: 30_000 })
      expect(yield* model.calls).toBe(2)
      // the probe fails at 31 s: open again for a full cooldown from then
      yield* adjustTo(31_000)
      expect(tagOf(yield* Fiber.join(probe))).toBe("ServerError")
      expect(yield* CircuitBreaker.state("k")).toEqual(opened("k", 61_000))
      yield* adjustTo(60_999)
      expect(tagOf(yield* call(guarded))).toBe("CircuitOpen")
      yield* adjustTo(61_000)
      expect(tagOf(yield* call(guarded))).toBe("success")
      expect(yield* CircuitBreaker.state("k")).toEqual(closed("k", 0, 0))
      expect(yield* model.calls).toBe(3)
      const expected = [
        { key: "k", from: "closed", to: "open", at: 0 },
        { key: "k", from: "open", to: "half-open", at: 30_000 },
        { key: "k", from: "half-open", to: "open", at: 31_000 },
        { key: "k", from: "open", to: "half-open", at: 61_000 },
        { key: "k", from: "half-open", to: "closed", at: 61_000 }
      ]
      expect(Chunk.toArray(yield* Fiber.join(seen))).toEqual(expected)
      expect((yield* metrics.summary).circuitTransitions).toEqual(expected)
    }).pipe(Effect.provide(Layer.merge(CircuitBreaker.layerMemory, LlmMetrics.layerMemory))))

  it.effect("a probe that ends without a verdict (a 400, an interrupt) frees the slot for the next probe", () =>
    Effect.gen(function*() {
      const model = yield* scripted([
        errors.overloaded(),
        errors.invalid(),
        after(5_000, answer("slow")),
        { text: "healthy" }
      ])
      const guarded = CircuitBreaker.layer(model.layer, { key: "k", minimumCalls: 1, cooldown: "10 seconds" })
      yield* call(guarded)
      yield* adjustTo(10_000)
      expect(tagOf(yield* call(guarded))).toBe("InvalidRequest")
      expect(yield* CircuitBreaker.state("k")).toEqual(opened("k", 10_000, "half-open"))
      const slow = yield* Effect.fork(call(guarded))
      yield* awaitSleepUntil(15_000)
      yield* Fiber.interrupt(slow)
      expect(yield* CircuitBreaker.state("k")).toEqual(opened("k", 10_000, "half-open"))
      expect(tagOf(yield* call(guarded))).toBe("success")
      expect(yield* CircuitBreaker.state("k")).toEqual(closed("k", 0, 0))
      expect(yield* model.calls).toBe(4)
    }).pipe(Effect.provide(CircuitBreaker.layerMemory)))

  it.effect("state of a breaker never used is closed and empty; keys are independent", () =>
    Effect.gen(function*() {
      const model = yield* scripted([errors.overloaded(), { text: "b" }])
      yield* call(CircuitBreaker.layer(model.layer, { key: "a", minimumCalls: 1 }))
      yield* call(CircuitBreaker.layer(model.layer, { key: "b", minimumCalls: 1 }))
      expect(yield* CircuitBreaker.state("a")).toEqual(opened("a", 30_000))
      expect(yield* CircuitBreaker.state("b")).toEqual(closed("b", 1, 0))
      expect(yield* CircuitBreaker.state("unused")).toEqual(closed("unused", 0, 0))
    }).pipe(Effect.provide(CircuitBreaker.layerMemory)))

  it.effect("a fresh registry per layerMemory: state does not leak between registries", () =>
    Effect.gen(function*() {
      const model = yield* scripted([errors.overloaded()])
      yield* call(CircuitBreaker.layer(model.layer, { key: "shared", minimumCalls: 1 })).pipe(
        Effect.provide(CircuitBreaker.layerMemory)
      )
      expect(yield* CircuitBreaker.state("shared").pipe(Effect.provide(CircuitBreaker.layerMemory))).toEqual(
        closed("shared", 0, 0)
      )
    }))
})

describe("CircuitBreaker: Retry-After", () => {
  const rateLimited = (seconds: number, delay?: Duration.DurationInput) =>
    OpenAiMock.error(429, "rate_limit_exceeded", {
      headers: { "retry-after": String(seconds) },
      ...(delay === undefined ? {} : { delay })
    })

  it.scoped("a Retry-After of 120 s opens it at once until then; one of 30 s only counts as a failure", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [rateLimited(30), rateLimited(120), OpenAiMock.completion({ text: "back" })]
      })
      const guarded = CircuitBreaker.layer(openAiLayer(server, { retry: false }), { key: "openai" })
      yield* adjustTo(5_000)
      expect(tagOf(yield* call(guarded))).toBe("RateLimited")
      expect(yield* CircuitBreaker.state("openai")).toEqual(closed("openai", 1, 1))
      expect(tagOf(yield* call(guarded))).toBe("RateLimited")
      expect(yield* CircuitBreaker.state("openai")).toEqual(opened("openai", 125_000))
      yield* adjustTo(124_999)
      const rejected = failure(yield* call(guarded))
      expect(rejected).toMatchObject({ _tag: "CircuitOpen", until: 125_000 })
      expect(rejected.retryAfter && Duration.toMillis(rejected.retryAfter)).toBe(1)
      expect(yield* count(server)).toBe(2)
      yield* adjustTo(125_000)
      expect(tagOf(yield* call(guarded))).toBe("success")
      expect(yield* arrivals(server)).toEqual([5_000, 5_000, 125_000])
    }).pipe(Effect.provide(CircuitBreaker.layerMemory)))

  it.scoped("a long Retry-After extends an open breaker's cooldown, and nothing shortens it", () =>
    Effect.gen(function*() {
      // Requests are routed by their prompt: they run concurrently, so their arrival order is not fixed.
      const replies: Record<string, MockProvider.Reply> = {
        "slow-429-120": rateLimited(120, "5 seconds"),
        "slow-429-90": rateLimited(90, "10 seconds"),
        "slow-500": OpenAiMock.error(500, null, { delay: "10 seconds" }),
        "slow-ok": OpenAiMock.completion({ text: "late" }, { delay: "10 seconds" }),
        "fast-500": OpenAiMock.error(500)
      }
      const server = yield* MockProvider.make({
        route: (request) => replies[(request.body as { messages: Array<{ content: string }> }).messages[0]!.content]
      })
      const guarded = CircuitBreaker.layer(openAiLayer(server, { retry: false }), {
        key: "openai",
        minimumCalls: 1,
        cooldown: "30 seconds"
      })
      // four calls go through while the breaker is closed...
      const slow = yield* Effect.forEach(
        ["slow-429-120", "slow-429-90", "slow-500", "slow-ok"],
        (prompt) => Effect.fork(call(guarded, prompt))
      )
      yield* awaitRequests(server, 4)
      // ...then a fast failure opens it for the 30 s cooldown
      expect(tagOf(yield* call(guarded, "fast-500"))).toBe("ServerError")
      expect(yield* CircuitBreaker.state("openai")).toEqual(opened("openai", 30_000))
      // at 5 s a Retry-After of 120 s extends it to 125 s
      yield* awaitSleepUntil(5_000)
      yield* adjustTo(5_000)
      expect(tagOf(yield* Fiber.join(slow[0]!))).toBe("RateLimited")
      expect(yield* CircuitBreaker.state("openai")).toEqual(opened("openai", 125_000))
      // at 10 s a Retry-After of 90 s (ending at 100 s), a failure and a success all leave it at 125 s
      yield* awaitSleepUntil(10_000)
      yield* adjustTo(10_000)
      expect(yield* Effect.forEach(slow.slice(1), (fiber) => Effect.map(Fiber.join(fiber), tagOf))).toEqual([
        "RateLimited",
        "ServerError",
        "success"
      ])
      expect(yield* CircuitBreaker.state("openai")).toEqual(opened("openai", 125_000))
      expect(failure(yield* call(guarded, "fast-500"))).toMatchObject({ _tag: "CircuitOpen", until: 125_000 })
      expect(yield* count(server)).toBe(5)
    }).pipe(Effect.provide(CircuitBreaker.layerMemory)))

  it.effect("a long Retry-After during a half-open probe reopens it until then, not for the cooldown", () =>
    Effect.gen(function*() {
      const model = yield* scripted([errors.overloaded(), errors.rateLimited("test", "5 minutes")])
      const guarded = CircuitBreaker.layer(model.layer, { key: "k", minimumCalls: 1, cooldown: "30 seconds" })
      yield* call(guarded)
      yield* adjustTo(30_000)
      expect(tagOf(yield* call(guarded))).toBe("RateLimited")
      expect(yield* CircuitBreaker.state("k")).toEqual(opened("k", 330_000))
    }).pipe(Effect.provide(CircuitBreaker.layerMemory)))
})

describe("CircuitBreaker: streams", () => {
  it.scoped("a failed stream counts, a consumer stopping before the finish part does not, a finished one succeeds", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [
          OpenAiMock.stream({ deltas: ["a", "b"] }, { hang: true, done: false }),
          OpenAiMock.error(503),
          OpenAiMock.stream({ deltas: ["c", "d"] })
        ]
      })
      const guarded = CircuitBreaker.layer(openAiLayer(server, { retry: false }), { key: "k", minimumCalls: 3 })
      const stream = LanguageModel.stream(ask()).pipe(Stream.provideLayer(guarded))
      const taken = yield* stream.pipe(Stream.take(2), Stream.runCollect)
      expect(Chunk.size(taken)).toBe(2)
      expect(yield* CircuitBreaker.state("k")).toEqual(closed("k", 0, 0))
      expect(Exit.isFailure(yield* Effect.exit(Stream.runDrain(stream)))).toBe(true)
      expect(yield* CircuitBreaker.state("k")).toEqual(closed("k", 1, 1))
      yield* Stream.runDrain(stream)
      expect(yield* CircuitBreaker.state("k")).toEqual(closed("k", 2, 1))
    }).pipe(Effect.provide(CircuitBreaker.layerMemory)))

  it.effect("an open breaker refuses a stream before calling", () =>
    Effect.gen(function*() {
      const model = yield* scripted([errors.overloaded(), { text: "never" }])
      const guarded = CircuitBreaker.layer(model.layer, { key: "k", minimumCalls: 1 })
      yield* call(guarded)
      const exit = yield* LanguageModel.stream(ask()).pipe(Stream.runDrain, Effect.provide(guarded), Effect.exit)
      expect(failure(exit)).toMatchObject({ _tag: "CircuitOpen", until: 30_000 })
      expect(yield* model.calls).toBe(1)
    }).pipe(Effect.provide(CircuitBreaker.layerMemory)))
})

describe("CircuitBreaker with Fallback", () => {
  it.effect("a chain skips an open step without calling it and moves on", () =>
    Effect.gen(function*() {
      const a = yield* scripted([errors.overloaded("a"), { text: "a is back" }], { provider: "a" })
      const b = yield* scripted([{ text: "b1" }, { text: "b2" }, errors.invalid("b")], { provider: "b" })
      const chain = Fallback.layer([
        { provide: CircuitBreaker.layer(a.layer, { key: "a", minimumCalls: 1, cooldown: "30 seconds" }) },
        { provide: b.layer }
      ])
      const first = yield* LanguageModel.generate(ask()).pipe(Effect.provide(chain))
      expect(first.provider).toBe("b")
      yield* adjustTo(10_000)
      const second = yield* LanguageModel.generate(ask()).pipe(Effect.provide(chain))
      expect(second.provider).toBe("b")
      expect([yield* a.calls, yield* b.calls]).toEqual([1, 2])
      // the final error of a chain whose first step was refused says so
      yield* adjustTo(20_000)
      const error = failure(yield* LanguageModel.generate(ask()).pipe(Effect.provide(chain), Effect.exit))
      expect(error._tag).toBe("InvalidRequest")
      expect(error.attempts?.map((attempt) => [attempt.provider, attempt.outcome])).toEqual([
        ["a", "CircuitOpen"],
        ["b", "InvalidRequest"]
      ])
      expect(yield* a.calls).toBe(1)
      // after the cooldown the first step serves again
      yield* adjustTo(30_000)
      expect((yield* LanguageModel.generate(ask()).pipe(Effect.provide(chain))).provider).toBe("a")
    }).pipe(Effect.provide(CircuitBreaker.layerMemory)))
})

describe("CircuitBreaker registry", () => {
  it.effect("isRejecting follows the breaker's clock (the TestClock here)", () =>
    Effect.gen(function*() {
      const model = yield* scripted([errors.overloaded()])
      yield* TestClock.setTime(1_000_000)
      yield* call(CircuitBreaker.layer(model.layer, { key: "k", minimumCalls: 1, cooldown: "1 minute" }))
      expect(yield* CircuitBreaker.state("k")).toEqual(opened("k", 1_060_000))
      expect(yield* CircuitBreaker.isRejecting("k")).toBe(true)
      yield* adjustTo(1_059_999)
      expect(yield* CircuitBreaker.isRejecting("k")).toBe(true)
      yield* adjustTo(1_060_000)
      expect(yield* CircuitBreaker.isRejecting("k")).toBe(false)
    }).pipe(Effect.provide(CircuitBreaker.layerMemory)))
})

describe("CircuitBreaker.layer: the registry where the layer is built", () => {
  it.effect("is the one its calls use: a store provided to the layer is not bypassed by the program's", () =>
    Effect.gen(function*() {
      const options = { key: "shared-key", minimumCalls: 2, failureRateThreshold: 0.5, cooldown: "30 seconds" } as const
      const overloaded = () => new LlmError.Overloaded({ provider: "p", message: "busy" })
      const first = yield* scripted([overloaded(), overloaded(), overloaded()])
      const second = yield* scripted([{ text: "ok" }])
      // each layer gets its own store, as `Layer.provide(CircuitBreaker.layerRedis())` would give it
      const A = CircuitBreaker.layer(first.layer, options).pipe(Layer.provide(CircuitBreaker.layerMemory))
      const B = CircuitBreaker.layer(second.layer, options).pipe(Layer.provide(CircuitBreaker.layerMemory))
      const call = LanguageModel.generate({ messages: [{ role: "user", content: "hi" }] })
      const tags = yield* Effect.forEach([1, 2, 3], () => Effect.exit(call)).pipe(
        Effect.map((exits) => exits.map((exit) => Exit.isFailure(exit) ? failure(exit)._tag : "success")),
        Effect.provide(A)
      )
      expect(tags).toEqual(["Overloaded", "Overloaded", "CircuitOpen"])
      // B's store never saw A's failures, and the process-wide default registry was not used either
      expect(Exit.isSuccess(yield* Effect.exit(Effect.provide(call, B)))).toBe(true)
      expect((yield* CircuitBreaker.state("shared-key")).state).toBe("closed")
    }))
})
