/**
 * The cache's store in Redis, shared by every process on the same Redis and key prefix: `GET`, `SET key value PX
 * ttl` and `DEL` on `<prefix><cache key>`, one round trip each, so no check-then-write can race.
 *
 * Why not `@effect/experimental`'s `Persistence` Redis store: it opens a connection of its own (from raw ioredis
 * options, without the shared connection's bounded commands, no offline queue and scrubbed errors), it encodes
 * values itself with `JSON.stringify` (the cache owns its entry format, and weighs an entry before writing it), and
 * it fails with its own `PersistenceError`, where the stores here report outages one way (`redisOutage.ts`).
 *
 * Bounded by Redis itself (its `maxmemory` and eviction policy) and by `maxEntryBytes` per entry. A cache is
 * harmless to lose, so it fails open: a failed lookup is a miss, a failed write is skipped, one warning per outage.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Redis from "../Redis.js"
import { type Operations, sizeOf } from "./cacheStore.js"
import * as Outage from "./redisOutage.js"

export interface Config {
  /** The heaviest entry stored, key and value as UTF-8. */
  readonly maxEntryBytes: number
}

/** The default `maxEntryBytes`: 1 MiB, far above any answer, far below what would hurt Redis. */
export const defaultMaxEntryBytes = 1024 * 1024

/** The `PX` of a finite TTL: whole milliseconds, rounded up, at least 1 (Redis refuses `PX 0`). */
export const pxOf = (ttl: Duration.Duration): number => Math.max(1, Math.ceil(Duration.toMillis(ttl)))

export const make = (redis: Redis.Service, config: Config): Operations => {
  const outage = Outage.reporter("cache", "bypass")
  const keyOf = (key: string) => redis.key(key)

  /** Fail open: on any Redis failure the outage is reported (once) and `fallback` answers instead. */
  const guarded = <A>(effect: Effect.Effect<A, Redis.RedisError>, fallback: A): Effect.Effect<A> =>
    effect.pipe(
      Effect.tap(() => outage.succeeded),
      Effect.catchAll((error) => Effect.as(outage.failed(error), fallback))
    )

  const remove = (key: string) =>
    guarded(Effect.asVoid(redis.run("cache.delete", (client) => client.del(keyOf(key)))), undefined)

  return {
    get: (key) =>
      guarded(
        Effect.map(redis.run("cache.get", (client) => client.get(keyOf(key))), Option.fromNullable),
        Option.none()
      ),
    set: (key, value, ttl) => {
      // As in memory, a write replaces the entry: one that cannot be kept (too large, no time) leaves none behind.
      if (Duration.isZero(ttl) || sizeOf(key, value) > config.maxEntryBytes) return remove(key)
      const write = Duration.isFinite(ttl)
        ? redis.run("cache.set", (client) => client.set(keyOf(key), value, "PX", pxOf(ttl)))
        : redis.run("cache.set", (client) => client.set(keyOf(key), value))
      return guarded(Effect.asVoid(write), undefined)
    },
    delete: remove
  }
}
