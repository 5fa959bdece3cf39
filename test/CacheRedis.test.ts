/**
 * The cache's Redis store on a real redis-server: its keys, values and TTLs, its size bound, its options, and
 * Redis going away mid-run (calls go to the provider, at once) and coming back.
 */
import { describe, expect, it } from "@effect/vitest"
import { ConfigError, Duration, Effect, Exit, Layer, Metric, Option } from "effect"
import * as Cache from "../src/Cache.js"
import type * as ChatRequest from "../src/ChatRequest.js"
import * as RedisStore from "../src/internal/cacheRedis.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as Redis from "../src/Redis.js"
import { expectOneEntryExpiringIn, redisStore } from "./support/cacheStores.js"
import { withLogs } from "./support/observe.js"
import { awaitConnected, describeRedis, uniquePrefix } from "./support/redis.js"
import { answer, ask, scripted } from "./support/resilience.js"

/** A model answering "answer N" to its Nth call. */
const counting = () => scripted(Array.from({ length: 20 }, (_, i) => answer(`answer ${i + 1}`)))

const textOf = (request: ChatRequest.Input) =>
  Effect.map(
    LanguageModel.generate(request),
    (response) => response.content.flatMap((part) => part.type === "text" ? [part.text] : []).join("")
  )

const bypassed = Effect.map(
  Metric.value(Redis.metrics.unavailable.pipe(Metric.tagged("store", "cache"), Metric.tagged("fallback", "bypass"))),
  (state) => state.count
)

describe("Cache Redis store: PX", () => {
  it("a TTL is whole milliseconds, rounded up, at least 1", () => {
    expect(
      [Duration.seconds(10), Duration.millis(1.2), Duration.nanos(1n), Duration.micros(999n), Duration.millis(1)]
        .map(RedisStore.pxOf)
    ).toEqual([10_000, 2, 1, 1, 1])
  })
})

describeRedis("Cache on Redis: keys, TTLs, bounds, outages", (server) => {
  it.scoped("an entry is the answer's JSON under <prefix><cache key>, the tenant encoded in it", () =>
    Effect.gen(function*() {
      const { prefix, redis, store } = yield* redisStore(server.url)
      const model = yield* counting()
      yield* Effect.provide(
        Effect.all([textOf(ask("q", { tenant: "acme" })), textOf(ask("q", { tenant: "a:b" }))]),
        Cache.layer(model.layer, { store })
      )
      const keys = (yield* Effect.promise(() => redis.client.keys(`${prefix}*`))).sort()
      expect(keys).toHaveLength(2)
      // one prefix (the connection's), then the store's name: never the default prefix a second time
      expect(keys[0]).toMatch(new RegExp(`^${prefix}cache:v1:a%3Ab:[0-9a-f]{64}$`))
      expect(keys[1]).toMatch(new RegExp(`^${prefix}cache:v1:acme:[0-9a-f]{64}$`))
      // the same request: one hash, two tenants
      expect(keys[0]!.slice(-64)).toBe(keys[1]!.slice(-64))
      const stored = JSON.parse((yield* Effect.promise(() => redis.client.get(keys[1]!)))!)
      expect(stored.response.content).toEqual([{ type: "text", text: "answer 1" }])
      expect(stored.response).not.toHaveProperty("cached")
    }))

  it.scoped("the store: get, set with PX, delete; an infinite TTL never expires; 0 or too large replaces", () =>
    Effect.gen(function*() {
      const { entries, prefix, store } = yield* redisStore(server.url, { maxEntryBytes: 20 })
      yield* store.set("k", "v1", Duration.seconds(30))
      expect(yield* store.get("k")).toEqual(Option.some("v1"))
      expectOneEntryExpiringIn(yield* entries, 30_000)
      expect((yield* entries)[0]![0]).toBe(`${prefix}k`)
      yield* store.set("k", "v2", Duration.infinity)
      expect(yield* entries).toEqual([[`${prefix}k`, -1]])
      // 1 + 19 bytes: kept; 1 + 20: not kept, and the older value is gone too (a write replaces)
      yield* store.set("k", "x".repeat(19), Duration.seconds(30))
      expect(yield* store.get("k")).toEqual(Option.some("x".repeat(19)))
      yield* store.set("k", "é".repeat(10), Duration.seconds(30))
      expect(yield* store.get("k")).toEqual(Option.none())
      yield* store.set("k", "v3", Duration.seconds(30))
      yield* store.set("k", "v4", Duration.zero)
      expect(yield* store.get("k")).toEqual(Option.none())
      yield* store.set("k", "v5", Duration.seconds(30))
      yield* store.delete("k")
      expect(yield* entries).toEqual([])
    }))

  it.scoped("an answer larger than maxEntryBytes is not stored: the next identical call asks the provider", () =>
    Effect.gen(function*() {
      const small = yield* redisStore(server.url, { maxEntryBytes: 100 })
      const large = yield* redisStore(server.url)
      for (
        const [{ entries, store }, expected] of [[small, ["answer 1", "answer 2"]], [large, [
          "answer 1",
          "answer 1"
        ]]] as const
      ) {
        const model = yield* counting()
        const answers = yield* Effect.provide(
          Effect.all([textOf(ask()), textOf(ask())]),
          Cache.layer(model.layer, { store })
        )
        expect(answers).toEqual(expected)
        expect((yield* entries).length).toBe(expected[1] === "answer 1" ? 1 : 0)
      }
    }))

  it.scoped("layerRedis: two layers on one Redis (as two processes) share entries; options checked at build", () =>
    Effect.gen(function*() {
      const connection = Redis.layer({ url: server.url, keyPrefix: uniquePrefix("layer") })
      const a = yield* counting()
      const b = yield* counting()
      const first = yield* Effect.provide(
        textOf(ask("shared")),
        Cache.layerRedis(a.layer, { ttl: "1 minute" }).pipe(Layer.provide(connection))
      )
      const second = yield* Effect.provide(
        LanguageModel.generate(ask("shared")),
        Cache.layerRedis(b.layer).pipe(Layer.provide(connection))
      )
      expect([first, second.cached, yield* a.calls, yield* b.calls]).toEqual(["answer 1", true, 1, 0])

      const cases: ReadonlyArray<readonly [Cache.RedisOptions, string]> = [
        [{ maxEntryBytes: 0 }, "maxEntryBytes"],
        [{ maxEntryBytes: 1.5 }, "maxEntryBytes"],
        [{ maxEntryBytes: -1 }, "maxEntryBytes"],
        [{ ttl: 0 }, "ttl"],
        [{ ttl: "soon" as never }, "ttl"]
      ]
      for (const [options, option] of cases) {
        let built = 0
        const inner = Layer.effect(LanguageModel.LanguageModel, Effect.sync(() => (built++, a.service)))
        const exit = yield* Effect.exit(
          Layer.build(Cache.layerRedis(inner, options).pipe(Layer.provide(connection))).pipe(Effect.scoped)
        )
        if (Exit.isSuccess(exit) || exit.cause._tag !== "Fail" || !ConfigError.isConfigError(exit.cause.error)) {
          throw new Error(`expected a ConfigError for ${JSON.stringify(options)}`)
        }
        const error = exit.cause.error
        expect(error._op === "InvalidData" && [error.path, built]).toEqual([[option], 0])
        expect(error._op === "InvalidData" && error.message).toMatch(new RegExp(`^Cache\\.layerRedis: ${option}`))
      }
      const redis = yield* Redis.make({ url: server.url })
      const refused = yield* Effect.flip(Cache.makeRedisStore(redis, { maxEntryBytes: 0 }))
      expect(refused._op === "InvalidData" && refused.message).toBe(
        "Cache.makeRedisStore: maxEntryBytes must be a positive integer, got 0"
      )
    }))

  it.scoped("Redis down mid-run: calls go to the provider at once, one warning; back, the cache works again", () =>
    Effect.gen(function*() {
      const { redis, store } = yield* redisStore(server.url)
      const model = yield* counting()
      const cached = Cache.layer(model.layer, { store })
      const ask1 = () => Effect.provide(textOf(ask("q")), cached)
      expect([yield* ask1(), yield* ask1()]).toEqual(["answer 1", "answer 1"])

      const before = yield* bypassed
      const logs: Array<string> = []
      yield* Effect.promise(() => server.stop())
      const started = performance.now()
      const during = yield* withLogs(logs, Effect.all([ask1(), ask1(), ask1()]))
      // every lookup is a miss and every write is skipped: each call is the provider's
      expect(during).toEqual(["answer 2", "answer 3", "answer 4"])
      expect(performance.now() - started).toBeLessThan(2_000)
      expect((yield* bypassed) - before).toBe(6)
      expect(logs.filter((line) => !line.startsWith("DEBUG"))).toEqual([
        "WARN Redis unavailable for the cache store: bypass until it is back"
      ])

      yield* Effect.promise(() => server.start())
      yield* Effect.promise(() => awaitConnected(() => redis.client.status === "ready"))
      // back, and empty (no persistence): one miss stores the answer, the next call is a hit
      const after = yield* withLogs(logs, Effect.all([ask1(), ask1()]))
      expect(after).toEqual(["answer 5", "answer 5"])
      expect(logs.at(-1)).toBe("INFO Redis is back for the cache store")
      expect(yield* model.calls).toBe(5)
    }))
})
