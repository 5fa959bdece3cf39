/**
 * The cache's two stores for one behaviour suite: {@link describeStores} runs the suite once on a memory store and
 * once on a real Redis (skipped with a message without `redis-server`). Each test makes a fresh, empty store.
 */
import { describe, expect } from "@effect/vitest"
import { Effect, type Scope } from "effect"
import * as Cache from "../../src/Cache.js"
import * as Redis from "../../src/Redis.js"
import { describeRedis, type RedisServer, uniquePrefix } from "./redis.js"

/** A fresh store of one test, and (Redis) what Redis holds for it. */
export interface StoreHandle {
  readonly store: Cache.Store
  /** Redis: every key of this store (its key prefix included) with its `PTTL` in ms; memory: none. */
  readonly entries: Effect.Effect<ReadonlyArray<readonly [string, number]>>
}

export interface StoreCase {
  readonly name: "memory" | "redis"
  readonly make: Effect.Effect<StoreHandle, never, Scope.Scope>
}

const memory: StoreCase = {
  name: "memory",
  make: Effect.map(Effect.orDie(Cache.makeMemoryStore()), (store) => ({ store, entries: Effect.succeed([]) }))
}

/** A store on its own connection and key prefix, as one process would have. */
export const redisStore = (url: string, options: Cache.RedisStoreOptions & { readonly prefix?: string } = {}) =>
  Effect.gen(function*() {
    const { prefix = uniquePrefix("cache"), ...storeOptions } = options
    const redis = yield* Redis.make({ url, keyPrefix: prefix })
    const store = yield* Cache.makeRedisStore(redis, storeOptions)
    const entries = Effect.promise(async () => {
      const keys = (await redis.client.keys(`${prefix}*`)).sort()
      return Promise.all(keys.map(async (key) => [key, await redis.client.pttl(key)] as const))
    })
    return { redis, prefix, store, entries }
  }).pipe(Effect.orDie)

const redisCase = (server: RedisServer): StoreCase => ({
  name: "redis",
  // the server's URL is known once the suite has started it
  make: Effect.suspend(() => redisStore(server.url))
})

/** `suite` on a memory store, then on a Redis store. */
export const describeStores = (name: string, suite: (stores: StoreCase) => void): void => {
  describe(`${name} (memory store)`, () => suite(memory))
  describeRedis(`${name} (Redis store)`, (server) => suite(redisCase(server)))
}

/**
 * One entry in Redis, expiring in `ttlMillis` as set when it was written: its `PTTL` at most that, and less by
 * no more than the time since (a second, generously).
 */
export const expectOneEntryExpiringIn = (entries: ReadonlyArray<readonly [string, number]>, ttlMillis: number) => {
  expect(entries).toHaveLength(1)
  const [, pttl] = entries[0]!
  expect(pttl).toBeLessThanOrEqual(ttlMillis)
  expect(pttl).toBeGreaterThan(ttlMillis - 1_000)
}
