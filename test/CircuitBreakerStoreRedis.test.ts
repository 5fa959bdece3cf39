/**
 * The Redis store under contention and through outages: several connections (as several processes would) racing
 * on one key, and Redis going away mid-run and coming back.
 */
import { expect, it } from "@effect/vitest"
import type { Layer } from "effect"
import { Effect, Either, Exit, Metric } from "effect"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import * as LanguageModel from "../src/LanguageModel.js"
import type * as LlmError from "../src/LlmError.js"
import * as Redis from "../src/Redis.js"
import { withLogs } from "./support/observe.js"
import { awaitConnected, describeRedis, uniquePrefix } from "./support/redis.js"
import { ask, errors, failure, scripted } from "./support/resilience.js"

const tagOf = (exit: Exit.Exit<unknown, LlmError.LlmError>) => Exit.isSuccess(exit) ? "success" : failure(exit)._tag

/** A registry over its own Redis connection, as another process would have. */
const processOn = (url: string, prefix: string, options: CircuitBreaker.RedisStoreOptions = {}) =>
  Effect.gen(function*() {
    const redis = yield* Redis.make({ url, keyPrefix: prefix })
    const store = yield* CircuitBreaker.makeRedisStore(redis, options)
    return { redis, registry: CircuitBreaker.makeRegistry(store) }
  }).pipe(Effect.orDie)

const callIn = (registry: CircuitBreaker.RegistryService, layer: Layer.Layer<LanguageModel.LanguageModel>) =>
  LanguageModel.generate(ask()).pipe(
    Effect.provide(layer),
    Effect.provideService(CircuitBreaker.Registry, registry),
    Effect.exit
  )

const stateIn = (registry: CircuitBreaker.RegistryService, key: string) =>
  CircuitBreaker.state(key).pipe(Effect.provideService(CircuitBreaker.Registry, registry))

const unavailableCount = (fallback: string) =>
  Effect.map(
    Metric.value(
      Redis.metrics.unavailable.pipe(Metric.tagged("store", "circuit"), Metric.tagged("fallback", fallback))
    ),
    (state) => state.count
  )

describeRedis("CircuitBreaker store: Redis under contention and outages", (server) => {
  it.scoped("fibers of three processes racing on one key count every outcome, as sequential calls would", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("race")
      const processes = yield* Effect.all([1, 2, 3].map(() => processOn(server.url, prefix)))
      const fallbacksBefore = yield* unavailableCount("local breaker")
      const options = { key: "k", minimumCalls: 1_000 }
      const outcomes = [errors.overloaded(), { text: "ok" }, errors.serverError(), { text: "ok" }]
      const model = yield* scripted(Array.from({ length: 30 }, (_, i) => outcomes[i % 4]!))
      const guarded = CircuitBreaker.layer(model.layer, options)
      yield* Effect.forEach(
        Array.from({ length: 30 }, (_, i) => processes[i % 3]!.registry),
        (registry) => callIn(registry, guarded),
        { concurrency: "unbounded" }
      )
      // the same 30 outcomes one after another, in memory
      const sequential = CircuitBreaker.makeRegistry()
      const again = yield* scripted(Array.from({ length: 30 }, (_, i) => outcomes[i % 4]!))
      for (let i = 0; i < 30; i++) yield* callIn(sequential, CircuitBreaker.layer(again.layer, options))
      const expected = yield* stateIn(sequential, "k")
      expect(expected).toMatchObject({ state: "closed", calls: 30, failures: 15 })
      for (const { registry } of processes) expect(yield* stateIn(registry, "k")).toEqual(expected)
      // every change reached Redis: none was served by the local fallback
      expect(yield* unavailableCount("local breaker")).toBe(fallbacksBefore)
    }))

  it.scoped("a change that keeps losing to other writers is applied again until it lands, as long as it takes", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("starved")
      const { redis } = yield* processOn(server.url, prefix)
      const store = Either.getOrThrow(CircuitBreaker.makeRedisStore(redis))
      const fallbacksBefore = yield* unavailableCount("local breaker")
      let applied = 0
      // Each of the first 40 attempts is beaten by another writer: on the same connection, its version bump is
      // sent just before the attempt's compare-and-set.
      const result = yield* store.modify("k", (state) => {
        applied++
        if (applied <= 40) void redis.client.hincrby(redis.key("circuit", "k"), "v", 1)
        return [applied, { ...state }] as const
      })
      expect(result).toBe(41)
      expect(yield* Effect.promise(() => redis.client.hget(redis.key("circuit", "k"), "v"))).toBe("41")
      expect(yield* unavailableCount("local breaker")).toBe(fallbacksBefore)
    }))

  it.scoped("a breaker one process opened refuses calls in another, without calling its provider", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("share")
      const [a, b] = yield* Effect.all([processOn(server.url, prefix), processOn(server.url, prefix)])
      const modelA = yield* scripted([errors.overloaded(), errors.overloaded()])
      const modelB = yield* scripted([{ text: "never" }])
      const options = { key: "openai", minimumCalls: 2, failureRateThreshold: 1 }
      expect(tagOf(yield* callIn(a.registry, CircuitBreaker.layer(modelA.layer, options)))).toBe("Overloaded")
      expect(tagOf(yield* callIn(a.registry, CircuitBreaker.layer(modelA.layer, options)))).toBe("Overloaded")
      const refused = failure(yield* callIn(b.registry, CircuitBreaker.layer(modelB.layer, options)))
      expect(refused).toMatchObject({ _tag: "CircuitOpen", key: "openai", until: 30_000 })
      expect(yield* modelB.calls).toBe(0)
    }))

  it.scoped("Redis down mid-run (fail-open): calls go on through a local breaker; when it is back, shared state", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("down")
      const [a, b] = yield* Effect.all([processOn(server.url, prefix), processOn(server.url, prefix)])
      const model = yield* scripted([errors.overloaded(), { text: "local" }, { text: "local 2" }, errors.overloaded()])
      const guarded = CircuitBreaker.layer(model.layer, { key: "k", minimumCalls: 1 })
      expect(tagOf(yield* callIn(a.registry, guarded))).toBe("Overloaded")
      expect(tagOf(yield* callIn(a.registry, guarded))).toBe("CircuitOpen")
      const before = yield* unavailableCount("local breaker")
      const logs: Array<string> = []
      yield* Effect.promise(() => server.stop())
      const started = performance.now()
      // the shared state is out of reach: a's local breaker (closed) lets the calls through, quickly
      const during = yield* withLogs(logs, Effect.all([callIn(a.registry, guarded), callIn(a.registry, guarded)]))
      expect(during.map(tagOf)).toEqual(["success", "success"])
      expect(performance.now() - started).toBeLessThan(2_000)
      expect(yield* stateIn(a.registry, "k")).toEqual({
        key: "k",
        state: "closed",
        until: undefined,
        calls: 2,
        failures: 0
      })
      expect((yield* unavailableCount("local breaker")) - before).toBeGreaterThanOrEqual(4)
      // one warning for the outage, not one per call
      expect(logs.filter((line) => line.startsWith("WARN"))).toEqual([
        "WARN Redis unavailable for the circuit store: local breaker until it is back"
      ])
      yield* Effect.promise(() => server.start())
      yield* Effect.promise(() =>
        Promise.all([a, b].map(({ redis }) => awaitConnected(() => redis.client.status === "ready")))
      )
      // back (empty: no persistence): b opens it in Redis, a sees it at once
      expect(tagOf(yield* callIn(b.registry, guarded))).toBe("Overloaded")
      const refused = yield* withLogs(logs, callIn(a.registry, guarded))
      expect(failure(refused)).toMatchObject({ _tag: "CircuitOpen", key: "k" })
      expect(logs.at(-1)).toBe("INFO Redis is back for the circuit store")
      expect(yield* model.calls).toBe(4)
    }))

  it.scoped("Redis down (fail-closed): calls are refused as CircuitOpen without calling; back, they go through", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("closed")
      const { redis, registry } = yield* processOn(server.url, prefix, {
        whenUnavailable: "fail-closed",
        rejectFor: "2 seconds"
      })
      const model = yield* scripted([{ text: "before" }, { text: "after" }])
      const guarded = CircuitBreaker.layer(model.layer, { key: "k" })
      expect(tagOf(yield* callIn(registry, guarded))).toBe("success")
      yield* Effect.promise(() => server.stop())
      const refused = failure(yield* callIn(registry, guarded))
      expect(refused).toMatchObject({ _tag: "CircuitOpen", key: "k", until: 2_000 })
      expect(
        yield* CircuitBreaker.isRejecting("k").pipe(Effect.provideService(CircuitBreaker.Registry, registry))
      ).toBe(true)
      expect(yield* model.calls).toBe(1)
      yield* Effect.promise(() => server.start())
      yield* Effect.promise(() => awaitConnected(() => redis.client.status === "ready"))
      expect(tagOf(yield* callIn(registry, guarded))).toBe("success")
      expect(yield* model.calls).toBe(2)
    }))
})
