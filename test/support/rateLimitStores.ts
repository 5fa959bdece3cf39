/**
 * Runs a `RateLimit` suite against each limiter store: in memory, and in a real Redis (skipped with a message
 * without `redis-server`). Each test gets a fresh limiter: a new memory one, or a new key prefix on the server.
 */
import { describe } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as RateLimit from "../../src/RateLimit.js"
import * as Redis from "../../src/Redis.js"
import { describeRedis, type RedisServer, uniquePrefix } from "./redis.js"

/** A limiter over its own connection to `server`, under a key prefix of its own (built when provided). */
export const redisLimiter = (
  server: RedisServer,
  options: Omit<Redis.Options, "url"> = {}
): Layer.Layer<RateLimit.Limiter | Redis.Redis> =>
  Layer.unwrapEffect(Effect.sync(() =>
    RateLimit.layerRedis.pipe(
      Layer.provideMerge(Redis.layer({ url: server.url, keyPrefix: uniquePrefix("rate"), ...options })),
      Layer.orDie
    )
  ))

/** `suite` once per store, given the limiter layer to provide to each test. */
export const forEachStore = (name: string, suite: (limiter: Layer.Layer<RateLimit.Limiter>) => void): void => {
  describe(`${name} (memory)`, () => suite(RateLimit.layerMemory))
  describeRedis(`${name} (Redis)`, (server) => suite(redisLimiter(server)))
}
