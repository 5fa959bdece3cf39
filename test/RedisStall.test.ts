/**
 * A stalled event loop is not a slow Redis: a command Redis answered in time, whose reply waited in the socket
 * while this process was busy (a first tokenizer load, a long GC pause), succeeds; only a Redis that does not
 * answer times out.
 */
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Redis from "../src/Redis.js"
import { describeRedis, uniquePrefix } from "./support/redis.js"

/** Blocks this thread for `millis` of real time, as a synchronous load would. */
const stall = (millis: number) => {
  const until = performance.now() + millis
  while (performance.now() < until) {
    // busy: nothing else of this process runs
  }
}

describeRedis("Redis commands across a stalled event loop", (server) => {
  it.scopedLive("a reply that arrived while the loop was blocked past commandTimeout is read, not timed out", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      yield* redis.run("warm", (client) => client.ping())
      const results = yield* Effect.all([
        redis.run("set", (client) => client.set(redis.key("stalled"), "1")),
        // Sent first, then the thread stalls three times as long as the timeout: Redis has answered meanwhile.
        Effect.andThen(Effect.yieldNow(), Effect.sync(() => stall(300)))
      ], { concurrency: "unbounded" })
      expect(results[0]).toBe("OK")
      expect(yield* redis.run("get", (client) => client.get(redis.key("stalled")))).toBe("1")
    }).pipe(
      Effect.provide(Redis.layer({ url: server.url, keyPrefix: uniquePrefix("stall"), commandTimeout: "100 millis" }))
    ))
})
