/**
 * The breaker's behaviour against each store (memory, Redis): the same cases, the same exact virtual times. The
 * Redis store keeps the timestamps the breaker computes from Effect's Clock, so the TestClock drives it too.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Layer } from "effect"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as Redis from "../src/Redis.js"
import { adjustTo, awaitSleepUntil } from "./support/loopback.js"
import { describeRedis, uniquePrefix } from "./support/redis.js"
import { after, answer, ask, closed, errors, failure, opened, scripted, tagOf } from "./support/resilience.js"

const call = (layer: Layer.Layer<LanguageModel.LanguageModel>) =>
  LanguageModel.generate(ask()).pipe(Effect.provide(layer), Effect.exit)

/** The breaker cases every store must pass; `registry` gives a fresh, empty registry per test. */
export const behaviour = (registry: () => Layer.Layer<CircuitBreaker.Registry>) => {
  it.effect("opens once minimumCalls and failureRateThreshold are reached, then rejects without calling", () =>
    Effect.gen(function*() {
      const model = yield* scripted([{ text: "1" }, errors.overloaded(), { text: "3" }, errors.serverError()])
      const guarded = CircuitBreaker.layer(model.layer, { key: "k", minimumCalls: 4, failureRateThreshold: 0.5 })
      const steps: Array<readonly [string, CircuitBreaker.StateView]> = []
      for (const at of [0, 1_000, 2_000, 3_000]) {
        yield* adjustTo(at)
        steps.push([tagOf(yield* call(guarded)), yield* CircuitBreaker.state("k")])
      }
      expect(steps).toEqual([
        ["success", closed("k", 1, 0)],
        ["Overloaded", closed("k", 2, 1)],
        ["success", closed("k", 3, 1)],
        ["ServerError", opened("k", 33_000)]
      ])
      yield* adjustTo(32_999)
      const rejected = failure(yield* call(guarded))
      expect(rejected).toMatchObject({ _tag: "CircuitOpen", key: "k", until: 33_000 })
      expect(rejected.retryAfter && Duration.toMillis(rejected.retryAfter)).toBe(1)
      expect(yield* CircuitBreaker.isRejecting("k")).toBe(true)
      expect(yield* model.calls).toBe(4)
    }).pipe(Effect.provide(registry())))

  it.effect("half-opens at the cooldown: one probe at a time, a failed probe reopens, a good one closes", () =>
    Effect.gen(function*() {
      const model = yield* scripted([errors.overloaded(), after(1_000, errors.serverError()), { text: "ok" }])
      const guarded = CircuitBreaker.layer(model.layer, { key: "k", minimumCalls: 1, cooldown: "30 seconds" })
      expect(tagOf(yield* call(guarded))).toBe("Overloaded")
      yield* adjustTo(30_000)
      const probe = yield* Effect.fork(call(guarded))
      yield* awaitSleepUntil(31_000)
      expect(yield* CircuitBreaker.state("k")).toEqual(opened("k", 30_000, "half-open"))
      expect(failure(yield* call(guarded))).toMatchObject({ _tag: "CircuitOpen", until: 30_000 })
      yield* adjustTo(31_000)
      expect(tagOf(yield* Fiber.join(probe))).toBe("ServerError")
      expect(yield* CircuitBreaker.state("k")).toEqual(opened("k", 61_000))
      yield* adjustTo(61_000)
      expect(tagOf(yield* call(guarded))).toBe("success")
      expect(yield* CircuitBreaker.state("k")).toEqual(closed("k", 0, 0))
      expect(yield* model.calls).toBe(3)
    }).pipe(Effect.provide(registry())))

  it.effect("a probe holds its slot only for probeLease: after it, the next probe goes through", () =>
    Effect.gen(function*() {
      const model = yield* scripted([errors.overloaded(), after(600_000, answer("lost")), { text: "ok" }])
      const guarded = CircuitBreaker.layer(model.layer, {
        key: "k",
        minimumCalls: 1,
        cooldown: "10 seconds",
        probeLease: "20 seconds"
      })
      yield* call(guarded)
      yield* adjustTo(10_000)
      const lost = yield* Effect.fork(call(guarded))
      yield* awaitSleepUntil(610_000)
      yield* adjustTo(29_999)
      expect(tagOf(yield* call(guarded))).toBe("CircuitOpen")
      yield* adjustTo(30_000)
      expect(tagOf(yield* call(guarded))).toBe("success")
      expect(yield* CircuitBreaker.state("k")).toEqual(closed("k", 0, 0))
      yield* Fiber.interrupt(lost)
      expect(yield* model.calls).toBe(3)
    }).pipe(Effect.provide(registry())))

  it.effect("a cooldown is only extended: a long Retry-After extends it, a later failure does not shorten it", () =>
    Effect.gen(function*() {
      const model = yield* scripted([
        after(5_000, errors.rateLimited("test", "5 minutes")),
        after(10_000, errors.serverError()),
        errors.overloaded()
      ])
      const guarded = CircuitBreaker.layer(model.layer, { key: "k", minimumCalls: 1, cooldown: "30 seconds" })
      const slowLimit = yield* Effect.fork(call(guarded))
      const slowFailure = yield* Effect.fork(call(guarded))
      yield* awaitSleepUntil(10_000)
      expect(tagOf(yield* call(guarded))).toBe("Overloaded")
      expect(yield* CircuitBreaker.state("k")).toEqual(opened("k", 30_000))
      yield* adjustTo(5_000)
      expect(tagOf(yield* Fiber.join(slowLimit))).toBe("RateLimited")
      expect(yield* CircuitBreaker.state("k")).toEqual(opened("k", 305_000))
      yield* adjustTo(10_000)
      expect(tagOf(yield* Fiber.join(slowFailure))).toBe("ServerError")
      expect(yield* CircuitBreaker.state("k")).toEqual(opened("k", 305_000))
    }).pipe(Effect.provide(registry())))

  it.effect("outcomes leave the window; keys are independent", () =>
    Effect.gen(function*() {
      const model = yield* scripted([errors.overloaded(), errors.overloaded(), { text: "b" }])
      const options = { minimumCalls: 2, failureRateThreshold: 1, window: "10 seconds" } as const
      const a = CircuitBreaker.layer(model.layer, { ...options, key: "a" })
      yield* call(a)
      yield* adjustTo(10_000)
      yield* call(a)
      expect(yield* CircuitBreaker.state("a")).toEqual(closed("a", 1, 1))
      yield* call(CircuitBreaker.layer(model.layer, { ...options, key: "b" }))
      expect(yield* CircuitBreaker.state("b")).toEqual(closed("b", 1, 0))
      expect(yield* CircuitBreaker.state("unused")).toEqual(closed("unused", 0, 0))
    }).pipe(Effect.provide(registry())))
}

describe("CircuitBreaker store: memory", () => {
  behaviour(() => CircuitBreaker.layerMemory)
})

/** A registry over Redis with a fresh key prefix: its own, empty state. */
export const redisRegistry = (url: string, options: CircuitBreaker.RedisStoreOptions = {}, prefix = uniquePrefix()) =>
  CircuitBreaker.layerRedis(options).pipe(
    Layer.provide(Redis.layer({ url, keyPrefix: prefix })),
    Layer.orDie
  )

describeRedis("CircuitBreaker store: Redis", (server) => {
  behaviour(() => redisRegistry(server.url))

  it.effect("keys live under <prefix>circuit:<key>, with a TTL past the cooldown", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("ttl")
      const model = yield* scripted([errors.overloaded()])
      yield* call(CircuitBreaker.layer(model.layer, { key: "openai", minimumCalls: 1, cooldown: "2 minutes" })).pipe(
        Effect.provide(redisRegistry(server.url, { retention: "1 minute" }, prefix))
      )
      const [keys, ttl] = yield* Effect.scoped(Effect.gen(function*() {
        const redis = yield* Redis.make({ url: server.url })
        return [
          yield* redis.run("keys", (client) => client.keys(`${prefix}*`)),
          yield* redis.run("pttl", (client) => client.pttl(`${prefix}circuit:openai`))
        ] as const
      })).pipe(Effect.orDie)
      expect(keys).toEqual([`${prefix}circuit:openai`])
      // 2 minutes of cooldown + 1 minute of retention, counted from the write
      expect(ttl).toBeGreaterThan(170_000)
      expect(ttl).toBeLessThanOrEqual(180_000)
    }))

  it.effect("bad store options are ConfigErrors at layer construction", () =>
    Effect.gen(function*() {
      const bad: ReadonlyArray<readonly [CircuitBreaker.RedisStoreOptions, string]> = [
        [{ whenUnavailable: "maybe" as "fail-open" }, "whenUnavailable"],
        [{ maxConflictRetries: -1 }, "maxConflictRetries"],
        [{ rejectFor: 0 }, "rejectFor"],
        [{ retention: "forever" as Duration.DurationInput }, "retention"],
        [{ retension: 5 } as CircuitBreaker.RedisStoreOptions, "retension"]
      ]
      for (const [options, path] of bad) {
        const exit = yield* Effect.exit(Effect.scoped(Layer.build(
          CircuitBreaker.layerRedis(options).pipe(Layer.provide(Layer.orDie(Redis.layer({ url: server.url }))))
        )))
        expect(Exit.isFailure(exit) && exit.cause._tag === "Fail" && exit.cause.error).toMatchObject({
          _op: "InvalidData",
          path: [path]
        })
      }
    }))
})
