import { describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Fiber, Layer, Stream } from "effect"
import * as TestClock from "effect/TestClock"
import * as Cache from "../src/Cache.js"
import type * as ChatRequest from "../src/ChatRequest.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmMetrics from "../src/LlmMetrics.js"
import { adjustTo, awaitSleepUntil } from "./support/loopback.js"
import { after, answer, ask, errors, failure, scripted } from "./support/resilience.js"

/** A model whose calls each take 1 s of virtual time, counting calls and the calls interrupted. */
const slow = Effect.gen(function*() {
  let calls = 0
  let interrupted = 0
  const service = LanguageModel.make({
    provider: "test",
    defaultModel: "test-model",
    generate: () =>
      Effect.suspend(() => {
        calls++
        const n = calls
        return Effect.as(Effect.sleep(Duration.seconds(1)), {
          ...answer(`answer ${n}`, { usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 } }),
          costUsd: 0.25
        })
          .pipe(Effect.onInterrupt(() => Effect.sync(() => interrupted++)))
      }),
    stream: () => Stream.die("not used")
  })
  return {
    layer: Layer.succeed(LanguageModel.LanguageModel, service),
    calls: Effect.sync(() => calls),
    interrupted: Effect.sync(() => interrupted)
  }
})

/** Builds the cached layer once and gives its service, so fibers forked in a test share it. */
const cachedService = (inner: Layer.Layer<LanguageModel.LanguageModel>, options: Cache.Options = {}) =>
  Effect.map(Layer.build(Cache.layer(inner, options)), Context.get(LanguageModel.LanguageModel))

const call = (service: LanguageModel.Service, input: ChatRequest.Input = ask("q")) =>
  LanguageModel.generate(input).pipe(Effect.provideService(LanguageModel.LanguageModel, service))

describe("Cache: single flight", () => {
  it.scoped("concurrent identical misses share one call; the others are answered like hits", () =>
    Effect.gen(function*() {
      const model = yield* slow
      const service = yield* cachedService(model.layer)
      const fibers = yield* Effect.forEach(Array.from({ length: 5 }), () => Effect.fork(call(service)))
      yield* awaitSleepUntil(1_000)
      yield* adjustTo(1_000)
      const responses = yield* Effect.forEach(fibers, Fiber.join)
      expect(yield* model.calls).toBe(1)
      expect(responses.map((response) => [response.id, response.cached ?? false, response.costUsd])).toEqual([
        ["r-answer 1", false, 0.25],
        ...Array.from({ length: 4 }, () => ["r-answer 1", true, 0])
      ])
      // Four calls paid nothing: the metrics say so.
      const summary = yield* LlmMetrics.summary
      expect(summary.total).toMatchObject({ requests: 4, cacheHits: 4, costUsd: 0 })
      // And the answer is stored.
      expect((yield* call(service)).cached).toBe(true)
      expect(yield* model.calls).toBe(1)
    }).pipe(Effect.provide(LlmMetrics.layerMemory)))

  it.scoped("a shared answer's event says it joined a call in flight and lasted that call's time; a stored hit does not", () =>
    Effect.gen(function*() {
      const events: Array<LlmMetrics.CallEvent> = []
      const recording = {
        ...LlmMetrics.noop,
        recordCall: (event: LlmMetrics.CallEvent) => Effect.sync(() => events.push(event))
      }
      const model = yield* slow
      const service = yield* cachedService(model.layer)
      const fibers = yield* Effect.forEach(
        Array.from({ length: 2 }),
        () => Effect.fork(Effect.provideService(call(service), LlmMetrics.LlmMetrics, recording))
      )
      yield* awaitSleepUntil(1_000)
      yield* adjustTo(1_000)
      yield* Effect.forEach(fibers, Fiber.join)
      yield* Effect.provideService(call(service), LlmMetrics.LlmMetrics, recording)
      const hits = events.filter((event) => event.cached)
      expect(hits.map((event) => [event.joined ?? false, event.durationMs])).toEqual([[true, 1_000], [false, 0]])
    }))

  it.scoped("an interrupted caller leaves the call to the others, and the first of them pays for it", () =>
    Effect.gen(function*() {
      const model = yield* slow
      const service = yield* cachedService(model.layer)
      const first = yield* Effect.fork(call(service))
      const others = yield* Effect.forEach([1, 2], () => Effect.fork(call(service)))
      yield* awaitSleepUntil(1_000)
      yield* Fiber.interrupt(first)
      yield* adjustTo(1_000)
      const responses = yield* Effect.forEach(others, Fiber.join)
      expect(responses.map((response) => response.id)).toEqual(["r-answer 1", "r-answer 1"])
      expect([yield* model.calls, yield* model.interrupted]).toEqual([1, 0])
      // The caller that started the call left: the next one answered owns it (a miss, with the call's cost), so
      // what the call cost is reported once, not by no one; the last is answered like a hit.
      expect(responses.map((response) => [response.cached ?? false, response.costUsd])).toEqual([
        [false, 0.25],
        [true, 0]
      ])
      expect((yield* LlmMetrics.summary).total).toMatchObject({ requests: 1, cacheHits: 1, costUsd: 0 })
    }).pipe(Effect.provide(LlmMetrics.layerMemory)))

  it.scoped("when every caller has left, the call is interrupted and nothing is stored", () =>
    Effect.gen(function*() {
      const model = yield* slow
      const service = yield* cachedService(model.layer)
      const fibers = yield* Effect.forEach([1, 2, 3], () => Effect.fork(call(service)))
      yield* awaitSleepUntil(1_000)
      yield* Fiber.interruptAll(fibers)
      expect(yield* model.interrupted).toBe(1)
      const next = yield* Effect.fork(call(service))
      yield* awaitSleepUntil(1_000 + (yield* TestClock.currentTimeMillis))
      yield* TestClock.adjust(1_000)
      expect((yield* Fiber.join(next)).id).toBe("r-answer 2")
      expect(yield* model.calls).toBe(2)
    }))

  it.scoped("a shared failure fails every caller and is not stored", () =>
    Effect.gen(function*() {
      const model = yield* scripted([after(1_000, errors.overloaded()), answer("ok")])
      const service = yield* cachedService(model.layer)
      const fibers = yield* Effect.forEach([1, 2, 3], () => Effect.fork(Effect.exit(call(service))))
      yield* awaitSleepUntil(1_000)
      yield* adjustTo(1_000)
      const exits = yield* Effect.forEach(fibers, Fiber.join)
      expect(exits.map((exit) => failure(exit)._tag)).toEqual(["Overloaded", "Overloaded", "Overloaded"])
      expect((yield* call(service)).id).toBe("r-ok")
      expect(yield* model.calls).toBe(2)
    }))

  it.scoped("other tenants, and noCache requests, do not join", () =>
    Effect.gen(function*() {
      const model = yield* slow
      const service = yield* cachedService(model.layer)
      const fibers = yield* Effect.forEach(
        [ask("q", { tenant: "a" }), ask("q", { tenant: "b" }), {
          ...ask("q", { tenant: "a" }),
          cache: { noCache: true }
        }],
        (input) => Effect.fork(call(service, input))
      )
      yield* awaitSleepUntil(1_000)
      yield* adjustTo(1_000)
      const responses = yield* Effect.forEach(fibers, Fiber.join)
      expect(responses.map((response) => response.id).sort()).toEqual(["r-answer 1", "r-answer 2", "r-answer 3"])
      expect(yield* model.calls).toBe(3)
    }))
})

describe("Cache: a failing store", () => {
  const failing: Cache.Store = {
    get: () => Effect.fail(new Cache.StoreError({ message: "unreachable" })),
    set: () => Effect.fail(new Cache.StoreError({ message: "unreachable" })),
    delete: () => Effect.fail(new Cache.StoreError({ message: "unreachable" }))
  }

  it.effect("a store that fails is a miss, never a failed call", () =>
    Effect.gen(function*() {
      const model = yield* scripted([answer("1"), answer("2")])
      const responses = yield* Effect.all([call2(), call2()]).pipe(
        Effect.provide(Cache.layer(model.layer, { store: failing }))
      )
      expect(responses.map((response) => [response.id, response.cached])).toEqual([["r-1", undefined], [
        "r-2",
        undefined
      ]])
    }))

  it.effect("an entry that cannot be read is dropped and replaced", () =>
    Effect.gen(function*() {
      const store = yield* Cache.makeMemoryStore()
      const keys: Array<string> = []
      const spy: Cache.Store = {
        ...store,
        set: (key, value, ttl) => Effect.zipRight(Effect.sync(() => keys.push(key)), store.set(key, value, ttl))
      }
      const model = yield* scripted([answer("1"), answer("2"), answer("never")])
      const layer = Cache.layer(model.layer, { store: spy })
      yield* call2().pipe(Effect.provide(layer))
      yield* store.set(keys[0]!, "{\"response\":42}", Duration.hours(1))
      const fresh = yield* call2().pipe(Effect.provide(layer))
      const again = yield* call2().pipe(Effect.provide(layer))
      expect([fresh.id, fresh.cached, again.id, again.cached]).toEqual(["r-2", undefined, "r-2", true])
      expect(keys).toEqual([keys[0], keys[0]])
    }))
})

const call2 = (content = "q") => LanguageModel.generate(ask(content))
