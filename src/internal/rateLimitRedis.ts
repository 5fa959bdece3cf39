/**
 * The `RateLimit` store in Redis, shared by every process on the same Redis and key prefix.
 *
 * Why not `@effect/experimental/RateLimiter/Redis`: it opens a connection of its own from options (it cannot use
 * the shared `Redis` service, its bounded commands and its outage reporting), it reads time from Redis (`PTTL`)
 * so a TestClock cannot drive it, its token bucket keys never expire, and its fixed-window script sets
 * `PX refillms × tokens`, fractional whenever `window / limit` is not a whole number of ms (60 per second), which
 * Redis rejects, and a zero-unit take on a fresh key (what `RateLimit.status` does) sets a 0 ms expiry, also
 * rejected. Here each algorithm is one Lua script (atomic per key), `now` comes from the caller's Effect `Clock`,
 * every expiry is a whole number of ms, zero units never create a key, and every key has a TTL: until its state no
 * longer matters (the window's count carried off, the leaky window closed, the bucket full), plus a grace.
 */
import type * as RateLimiter from "@effect/experimental/RateLimiter"
import { RateLimitStoreError } from "@effect/experimental/RateLimiter"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redis from "../Redis.js"
import type * as Store from "./rateLimitStore.js"

/**
 * How long a key outlives the time its state matters, in ms. The scripts decide from the stored state and the
 * caller's `now` alone, so a key kept longer changes nothing; the grace covers callers whose clocks run behind
 * Redis's, or a TestClock, which moves faster than the time Redis expires keys in.
 */
export const graceMillis = 60_000

/**
 * The aligned fixed window: the steps of `rateLimitStore.alignedStep` (with `alignedIndex` and `carriedCount`). A
 * hash of `w` (window), `c` (count), `l` (the windows' length, ms) and `m` (the limit counted at).
 */
export const alignedScript = Redis.script(
  "rateLimitAligned",
  `local tokens = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
local index = math.floor(now / window)
local count = 0
local stored = redis.call("HMGET", KEYS[1], "w", "c", "l", "m")
local storedIndex = tonumber(stored[1])
local storedWindow = tonumber(stored[3])
if storedIndex and storedWindow and storedWindow ~= window then
  storedIndex = math.floor(storedIndex * storedWindow / window)
end
if storedIndex then
  local storedCount = tonumber(stored[2]) or 0
  local storedLimit = tonumber(stored[4]) or limit
  if storedIndex >= index then
    index = storedIndex
  end
  count = math.max(0, storedCount - (index - storedIndex) * storedLimit)
  if storedLimit ~= limit then
    local inWindow = math.min(count, storedLimit)
    count = math.min(inWindow, limit) + count - inWindow
  end
end
if tokens == 0 then
  return {1, count, index}
end
if ARGV[5] ~= "1" and count + tokens > limit then
  return {0, count, index}
end
count = count + tokens
redis.call("HSET", KEYS[1], "w", index, "c", count, "l", window, "m", limit)
redis.call("PEXPIRE", KEYS[1], math.ceil((index + math.ceil(count / limit)) * window - now) + ${graceMillis})
return {1, count, index}`,
  { keys: 1 }
)

/**
 * Gives back the units of the last take of an aligned counter: only while the counter is exactly as that take
 * left it (same window `w`, same count `c`), so units taken after it are never moved into an earlier window.
 */
export const alignedGiveBackScript = Redis.script(
  "rateLimitAlignedGiveBack",
  `local stored = redis.call("HMGET", KEYS[1], "w", "c")
if tonumber(stored[1]) ~= tonumber(ARGV[2]) or tonumber(stored[2]) ~= tonumber(ARGV[3]) then
  return 0
end
redis.call("HSET", KEYS[1], "c", tonumber(ARGV[3]) - tonumber(ARGV[1]))
return 1`,
  { keys: 1 }
)

/**
 * `@effect/experimental`'s fixed window (leaky): opened at `s`, each of the `c` units keeps it open `refill` ms.
 * The time left is answered as text: a Lua number in a reply would lose its fraction.
 */
export const leakyScript = Redis.script(
  "rateLimitLeaky",
  `local tokens = tonumber(ARGV[1])
local refill = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
local stored = redis.call("HMGET", KEYS[1], "s", "c")
local start = tonumber(stored[1])
local count = tonumber(stored[2]) or 0
if not start or start + refill * count <= now then
  start = now
  count = 0
end
local next = count + tokens
if tokens == 0 or (limit and next > limit) then
  return {next, tostring(start + refill * count - now)}
end
redis.call("HSET", KEYS[1], "s", start, "c", next)
redis.call("PEXPIRE", KEYS[1], math.ceil(start + refill * next - now) + ${graceMillis})
return {next, tostring(start + refill * next - now)}`,
  { keys: 1 }
)

/** `@effect/experimental`'s token bucket: a hash of `t` (tokens) and `r` (last refill), with `now` from the caller. */
export const bucketScript = Redis.script(
  "rateLimitBucket",
  `local tokens = tonumber(ARGV[1])
local refill = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
local stored = redis.call("HMGET", KEYS[1], "t", "r")
local current = tonumber(stored[1])
local last = tonumber(stored[2])
if not current or not last then
  if tokens == 0 then
    return limit
  end
  current = limit
  last = now
end
local refills = math.floor((now - last) / refill)
if refills > 0 then
  current = math.min(current + refills, limit)
  last = last + refills * refill
end
local next = current - tokens
local kept = next
if next < 0 and ARGV[5] ~= "1" then
  kept = current
end
redis.call("HSET", KEYS[1], "t", kept, "r", last)
redis.call("PEXPIRE", KEYS[1], math.max(0, math.ceil(last + (limit - kept) * refill - now)) + ${graceMillis})
return next`,
  { keys: 1 }
)

const storeError = (error: Redis.RedisError) => new RateLimitStoreError({ message: error.message, cause: error })

/** The store over the shared connection; keys are `<prefix>rate-limit:<algorithm>:<limiter key>`. */
export const make = (redis: Redis.Service): Store.Store => {
  const run = <A>(
    script: Redis.Script,
    algorithm: Store.Algorithm,
    key: string,
    args: (now: number) => ReadonlyArray<string | number>,
    decode: (reply: unknown) => A
  ) =>
    Effect.flatMap(
      Clock.currentTimeMillis,
      (now) =>
        redis.eval(script, [redis.key("rate-limit", algorithm, key)], args(now)).pipe(
          Effect.map(decode),
          Effect.mapError(storeError)
        )
    )
  return {
    alignedWindow: (take) =>
      Effect.map(
        redis.eval(alignedScript, [redis.key("rate-limit", "fixed-window", take.key)], [
          take.tokens,
          take.limit,
          take.windowMillis,
          take.now,
          take.overflow ? 1 : 0
        ]),
        (reply): Store.AlignedResult => {
          const [taken, count, index] = reply as [number, number, number]
          return { taken: taken === 1, count, index }
        }
      ).pipe(Effect.mapError(storeError)),
    alignedGiveBack: (options) =>
      Effect.map(
        redis.eval(alignedGiveBackScript, [redis.key("rate-limit", "fixed-window", options.key)], [
          options.tokens,
          options.index,
          options.count
        ]),
        (reply) => reply === 1
      ).pipe(Effect.mapError(storeError)),
    fixedWindow: (options) =>
      run(
        leakyScript,
        "leaky-window",
        options.key,
        (now) => [options.tokens, Duration.toMillis(options.refillRate), options.limit ?? "", now],
        (reply) => {
          const [count, ttl] = reply as [number, string]
          return [count, Number(ttl)] as const
        }
      ),
    tokenBucket: (options) =>
      run(
        bucketScript,
        "token-bucket",
        options.key,
        (now) => [
          options.tokens,
          Duration.toMillis(options.refillRate),
          options.limit,
          now,
          options.allowOverflow ? 1 : 0
        ],
        (reply) => reply as number
      )
  } satisfies RateLimiter.RateLimiterStore["Type"] & Store.AlignedWindow
}
