/**
 * What only the Redis store has: its keys and their TTLs, windows whose `window / limit` is not a whole number of
 * ms, a status that creates nothing, and Redis going away (or hanging) mid-run and coming back.
 */
import { expect, it } from "@effect/vitest"
import type { Exit } from "effect"
import { Duration, Effect, Layer, Logger, Metric } from "effect"
import { Redis as IORedis } from "ioredis"
import * as RedisStore from "../src/internal/rateLimitRedis.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import * as RateLimit from "../src/RateLimit.js"
import * as Redis from "../src/Redis.js"
import { redisLimiter } from "./support/rateLimitStores.js"
import { awaitConnected, describeRedis } from "./support/redis.js"
import { answer, ask, failure, scripted, success } from "./support/resilience.js"

const call = (layer: Layer.Layer<LanguageModel.LanguageModel, unknown>, extra: Parameters<typeof ask>[1] = {}) =>
  Effect.exit(LanguageModel.generate(ask("hi", extra)).pipe(Effect.provide(Layer.orDie(layer))))

const replies = (n: number) => Array.from({ length: n }, () => answer("ok"))

const requests = (limit: number, window: Duration.DurationInput, algorithm: RateLimit.Algorithm, key = algorithm) => ({
  default: { requests: { limit, window, algorithm } },
  key
})

const retryAfterOf = (exit: Exit.Exit<unknown, LlmError.LlmError>) => {
  const error = failure(exit)
  if (!(error instanceof LlmError.RateLimitExceeded)) throw new Error(`expected RateLimitExceeded, got ${error._tag}`)
  return Duration.toMillis(error.retryAfter ?? Duration.zero)
}

/** Every key under this test's prefix, with its TTL in ms. */
const keys = Effect.flatMap(Redis.Redis, (redis) =>
  Effect.flatMap(
    redis.run("keys", (client) => client.keys(`${redis.keyPrefix}*`)),
    (found) =>
      Effect.forEach(found.sort(), (key) =>
        Effect.map(
          redis.run("pttl", (client) => client.pttl(key)),
          (ttl) => [key.slice(redis.keyPrefix.length), ttl] as const
        ))
  ))

const algorithms: ReadonlyArray<RateLimit.Algorithm> = ["fixed-window", "leaky-window", "token-bucket"]

describeRedis("RateLimit store: Redis", (server) => {
  it.effect("keys sit under the prefix, one per counter and algorithm, each with a TTL until it no longer matters", () =>
    Effect.gen(function*() {
      const model = yield* scripted(replies(3))
      for (const algorithm of algorithms) {
        success(
          yield* call(RateLimit.layer(model.layer, { ...requests(3, "1 minute", algorithm), perModel: true }), {
            tenant: "a:b"
          })
        )
      }
      const found = new Map(yield* keys)
      expect([...found.keys()]).toEqual([
        "rate-limit:fixed-window:fixed-window:requests:a%3Ab:test-model",
        "rate-limit:leaky-window:leaky-window:requests:a%3Ab:test-model",
        "rate-limit:token-bucket:token-bucket:requests:a%3Ab:test-model"
      ])
      const ttl = (key: string) => found.get(`rate-limit:${key}:${key}:requests:a%3Ab:test-model`)!
      // At virtual time 0: the aligned window ends at 60 s; one unit of three keeps the leaky window open 20 s and
      // leaves the bucket 20 s from full; each plus the grace. Real time runs on meanwhile: a margin below.
      const expected = { "fixed-window": 60_000, "leaky-window": 20_000, "token-bucket": 20_000 }
      for (const algorithm of algorithms) {
        expect(ttl(algorithm)).toBeGreaterThan(expected[algorithm] + RedisStore.graceMillis - 5_000)
        expect(ttl(algorithm)).toBeLessThanOrEqual(expected[algorithm] + RedisStore.graceMillis)
      }
    }).pipe(Effect.provide(redisLimiter(server))))

  it.effect("60 per second: a refill of 16.67 ms is stored and expires in whole ms, and counts exactly", () =>
    Effect.gen(function*() {
      const model = yield* scripted(replies(180))
      const expected: Record<RateLimit.Algorithm, number> = {
        "fixed-window": 1_000,
        "leaky-window": 1_000,
        "token-bucket": 1_000 / 60
      }
      for (const algorithm of algorithms) {
        const limited = RateLimit.layer(model.layer, requests(60, "1 second", algorithm))
        for (let i = 0; i < 60; i++) success(yield* call(limited))
        // Within a microsecond: the limiter divides the window in whole nanoseconds.
        expect(retryAfterOf(yield* call(limited))).toBeCloseTo(expected[algorithm], 3)
      }
      expect(yield* model.calls).toBe(180)
      for (const [, ttl] of yield* keys) expect(Number.isInteger(ttl) && ttl > 0).toBe(true)
    }).pipe(Effect.provide(redisLimiter(server))))

  it.effect("status on a fresh key answers the whole limit and creates no key", () =>
    Effect.gen(function*() {
      for (const algorithm of algorithms) {
        const status = yield* RateLimit.status(requests(5, "1 second", algorithm), { tenant: "fresh" })
        expect(status.requests).toMatchObject({ limit: 5, remaining: 5 })
        expect(Duration.toMillis(status.requests!.resetAfter)).toBe(0)
      }
      expect(yield* keys).toEqual([])
    }).pipe(Effect.provide(redisLimiter(server))))
})

const unavailableCount = (fallback: string) =>
  Effect.map(
    Metric.value(
      Redis.metrics.unavailable.pipe(Metric.tagged("store", "rate-limit"), Metric.tagged("fallback", fallback))
    ),
    (state) => state.count
  )

/** Runs `body` with the log lines (level and text) it writes collected in `logs`. */
const capturing = <A, E, R>(body: (logs: ReadonlyArray<string>) => Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    const logs: Array<string> = []
    const logger = Logger.make(({ logLevel, message }) => {
      logs.push(`${logLevel.label} ${Array.isArray(message) ? message.join(" ") : String(message)}`)
    })
    return body(logs).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
  })

const realMillis = Effect.sync(() => performance.now())

const reconnect = Effect.flatMap(
  Redis.Redis,
  (redis) => Effect.promise(() => awaitConnected(() => redis.client.status === "ready"))
)

describeRedis("RateLimit store: Redis unavailable", (server) => {
  it.effect("fails closed by default: refused at once with PolicyUnavailable, then counts again once Redis is back", () =>
    Effect.gen(function*() {
      const model = yield* scripted(replies(3))
      const limited = RateLimit.layer(model.layer, requests(2, "1 minute", "fixed-window"))
      success(yield* call(limited))
      yield* Effect.promise(() => server.stop())
      const started = yield* realMillis
      const error = failure(yield* call(limited))
      expect((yield* realMillis) - started).toBeLessThan(1_000)
      expect(error).toMatchObject({ _tag: "PolicyUnavailable", policy: "rate-limit", reason: "not connected" })
      expect(Duration.toMillis(error.retryAfter!)).toBe(1_000)
      expect(yield* model.calls).toBe(1)

      // Back without a restart of this process (the server lost its counts: it keeps nothing on disk).
      yield* Effect.promise(() => server.start())
      yield* reconnect
      success(yield* call(limited))
      success(yield* call(limited))
      expect(retryAfterOf(yield* call(limited))).toBe(60_000)
      expect(yield* model.calls).toBe(3)
    }).pipe(Effect.provide(redisLimiter(server))))

  it.effect("a Redis slower than commandTimeout fails the call closed as well, bounded by the timeout", () =>
    Effect.gen(function*() {
      const model = yield* scripted(replies(1))
      const limited = RateLimit.layer(model.layer, requests(2, "1 minute", "fixed-window"))
      // Another client pauses every other client's commands for 600 ms.
      yield* Effect.promise(async () => {
        const other = new IORedis(server.url)
        await other.call("CLIENT", "PAUSE", "600", "ALL")
        other.disconnect()
      })
      const started = yield* realMillis
      const error = failure(yield* call(limited))
      expect((yield* realMillis) - started).toBeLessThan(500)
      expect(error).toMatchObject({ _tag: "PolicyUnavailable", reason: "timed out" })
      expect(yield* model.calls).toBe(0)
    }).pipe(Effect.provide(redisLimiter(server, { commandTimeout: "100 millis" }))))

  it.effect("fail-open lets calls through uncounted (one warning, counted), and counts again once Redis is back", () =>
    capturing((logs) =>
      Effect.gen(function*() {
        const model = yield* scripted(replies(5))
        const limited = RateLimit.layer(model.layer, {
          ...requests(2, "1 minute", "fixed-window"),
          whenUnavailable: "fail-open"
        })
        const before = yield* unavailableCount("calls uncounted")
        yield* Effect.promise(() => server.stop())
        for (let i = 0; i < 3; i++) success(yield* call(limited))
        expect(yield* model.calls).toBe(3)
        expect((yield* unavailableCount("calls uncounted")) - before).toBe(3)

        yield* Effect.promise(() => server.start())
        yield* reconnect
        success(yield* call(limited))
        success(yield* call(limited))
        expect(retryAfterOf(yield* call(limited))).toBe(60_000)
        expect(logs).toEqual([
          "WARN Redis unavailable for the rate-limit store: calls uncounted until it is back",
          "INFO Redis is back for the rate-limit store"
        ])
      })
    ).pipe(Effect.provide(redisLimiter(server))))
})
