/**
 * The budget store in Redis, shared by every process on the same Redis and key prefix.
 *
 * Atomicity: each operation is ONE Lua script (prune, check, update), so concurrent reservations from any number
 * of processes are checked one after another against the same totals and can never overshoot together.
 *
 * Keys of a tenant and period id, all with one hash tag so a cluster keeps them in one slot:
 * - `budget:{<tenant>:<period>}:spent[:<day or month>]`: hash, bucket start (epoch ms) -> micro-USD. A calendar
 *   period has one key per day (`2026-11-30`) or month (`2026-11`), so a new period starts from an empty key;
 *   a rolling window keeps its (at most 61) buckets in one key, pruned as they leave the window.
 * - `budget:{...}:held`: hash, `r:<id>` -> micro-USD of each reservation, and `total` (their sum).
 * - `budget:{...}:expiry`: sorted set, reservation id by its expiry (epoch ms): pruned from the caller's `now`.
 * - `budget:{...}:settled`: sorted set, ids settled in the last {@link settledMarkerMillis}, so a retried settle
 *   never charges twice.
 *
 * TTLs are relative to the caller's `now` and only ever lengthened: a spend key lives until its period (or its
 * newest bucket's window) ends plus {@link marginMillis}; the reservation keys until their latest expiry plus
 * the margin. The margin covers clocks that disagree a little between processes.
 */
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import type * as Budget from "../../Budget.js"
import * as Redis from "../../Redis.js"
import * as Durations from "../duration.js"
import * as OptionChecks from "../optionChecks.js"
import * as Outage from "../redisOutage.js"
import * as Span from "../span.js"
import * as Store from "./store.js"

/** The options of the Redis store, as `Budget.RedisStoreOptions`. */
export type Options = Budget.RedisStoreOptions

export interface Config {
  readonly whenUnavailable: "fail-closed" | "fail-open"
  readonly rejectForMillis: number
}

const invalid = (path: string, message: string) =>
  Either.left(ConfigError.InvalidData([path], `Budget.layerRedis: ${message}`))

/** The options checked, each bad one a `ConfigError` naming it. */
export const config = (options: Options): Either.Either<Config, ConfigError.ConfigError> => {
  const known = OptionChecks.knownOptions(
    "Budget.layerRedis",
    options,
    OptionChecks.optionNames<Options>({ whenUnavailable: true, rejectFor: true })
  )
  if (Either.isLeft(known)) return Either.left(known.left)
  const whenUnavailable = options.whenUnavailable ?? "fail-closed"
  if (whenUnavailable !== "fail-closed" && whenUnavailable !== "fail-open") {
    return invalid(
      "whenUnavailable",
      `whenUnavailable must be "fail-closed" or "fail-open", got ${JSON.stringify(whenUnavailable)}`
    )
  }
  const rejectFor = Durations.decodeNonNegative(options.rejectFor ?? "1 second")
  if (rejectFor === undefined || Duration.isZero(rejectFor) || !Duration.isFinite(rejectFor)) {
    return invalid(
      "rejectFor",
      `rejectFor must be a positive finite duration, got ${Durations.show(options.rejectFor ?? "1 second")}`
    )
  }
  return Either.right({ whenUnavailable, rejectForMillis: Duration.toMillis(rejectFor) })
}

/** How long keys outlive their last use (clock skew between processes). */
export const marginMillis = 3_600_000

/** How long a settled id is remembered: far longer than the bounded retries of a settle. */
export const settledMarkerMillis = 120_000

/**
 * How a settle or release that failed is tried again, in the background: 5 more times over about 6 s, enough to
 * ride out a restart or a failover.
 */
const retrySchedule = Schedule.intersect(Schedule.exponential("200 millis"), Schedule.recurs(5))

// KEYS: spend, held, expiry, settled. ARGV[1..4]: now, since, bucket, spend key TTL (ms); then the operation's.
// Numbers go to redis.call as Lua numbers (written by Redis with 17 significant digits: whole micro-USD stay
// exact); they are never concatenated into strings, which Lua would write with only 14.
const prelude = `local now = tonumber(ARGV[1])
local since = tonumber(ARGV[2])
local bucket = tonumber(ARGV[3])
local reserved = tonumber(redis.call("HGET", KEYS[2], "total") or "0")
local expired = redis.call("ZRANGEBYSCORE", KEYS[3], "-inf", ARGV[1])
for _, id in ipairs(expired) do
  local amount = redis.call("HGET", KEYS[2], "r:" .. id)
  if amount then
    reserved = reserved - tonumber(amount)
    redis.call("HDEL", KEYS[2], "r:" .. id)
  end
end
if #expired > 0 then
  redis.call("ZREMRANGEBYSCORE", KEYS[3], "-inf", ARGV[1])
  redis.call("HSET", KEYS[2], "total", reserved)
end
local spent = 0
local oldest = nil
local buckets = redis.call("HGETALL", KEYS[1])
for i = 1, #buckets, 2 do
  local start = tonumber(buckets[i])
  if start < since then
    redis.call("HDEL", KEYS[1], buckets[i])
  else
    spent = spent + tonumber(buckets[i + 1])
    if oldest == nil or start < oldest then oldest = start end
  end
end
local function extend(key, ttl)
  if redis.call("PTTL", key) < ttl then redis.call("PEXPIRE", key, ttl) end
end
local function unhold(id)
  local held = redis.call("HGET", KEYS[2], "r:" .. id)
  if held then
    reserved = reserved - tonumber(held)
    redis.call("HDEL", KEYS[2], "r:" .. id)
    redis.call("HSET", KEYS[2], "total", reserved)
    redis.call("ZREM", KEYS[3], id)
  end
end
local function answer(tag)
  if oldest == nil then return {tag, spent, reserved, 0, 0} end
  return {tag, spent, reserved, 1, oldest}
end
`

/** ARGV[5..9]: id, micro-USD, limit in micro-USD, expiresAt, TTL of the reservation keys. 1 reserved, 0 refused. */
export const reserveScript = Redis.script(
  "budgetReserve",
  `${prelude}
local id = ARGV[5]
if redis.call("HEXISTS", KEYS[2], "r:" .. id) == 1 then return answer(1) end
local amount = tonumber(ARGV[6])
if spent + reserved + amount > tonumber(ARGV[7]) then return answer(0) end
redis.call("HSET", KEYS[2], "r:" .. id, ARGV[6])
reserved = reserved + amount
redis.call("HSET", KEYS[2], "total", reserved)
redis.call("ZADD", KEYS[3], ARGV[8], id)
extend(KEYS[2], tonumber(ARGV[9]))
extend(KEYS[3], tonumber(ARGV[9]))
return answer(1)`,
  { keys: 4 }
)

/** ARGV[5..8]: id, micro-USD, until when the id is remembered, TTL of the settled key. 2: settled already. */
export const settleScript = Redis.script(
  "budgetSettle",
  `${prelude}
local id = ARGV[5]
if redis.call("ZSCORE", KEYS[4], id) then return answer(2) end
unhold(id)
redis.call("HINCRBY", KEYS[1], ARGV[3], ARGV[6])
spent = spent + tonumber(ARGV[6])
if oldest == nil or bucket < oldest then oldest = bucket end
extend(KEYS[1], tonumber(ARGV[4]))
redis.call("ZREMRANGEBYSCORE", KEYS[4], "-inf", ARGV[1])
redis.call("ZADD", KEYS[4], ARGV[7], id)
extend(KEYS[4], tonumber(ARGV[8]))
return answer(1)`,
  { keys: 4 }
)

/** ARGV[5]: id. */
export const releaseScript = Redis.script("budgetRelease", `${prelude}\nunhold(ARGV[5])\nreturn answer(1)`, {
  keys: 4
})

export const readScript = Redis.script("budgetRead", `${prelude}\nreturn answer(1)`, { keys: 4 })

type Reply = readonly [number, number, number, number, number]

const totalsOf = (reply: Reply): Store.Totals => ({
  spentUsd: Store.toUsd(reply[1]),
  reservedUsd: Store.toUsd(reply[2]),
  oldestBucket: reply[3] === 1 ? reply[4] : undefined
})

/** The keys of a target (see the module's doc). */
export const keysOf = (redis: Redis.Service, target: Store.Target): ReadonlyArray<string> => {
  const tag = `{${encodeURIComponent(target.tenant)}:${target.period}}`
  const calendar = target.period === "day" ? 10 : target.period === "month" ? 7 : undefined
  const spend = calendar === undefined
    ? redis.key("budget", tag, "spent")
    : redis.key("budget", tag, "spent", new Date(target.since).toISOString().slice(0, calendar))
  return [
    spend,
    redis.key("budget", tag, "held"),
    redis.key("budget", tag, "expiry"),
    redis.key("budget", tag, "settled")
  ]
}

const ttl = (millis: number): number => Math.max(1, Math.ceil(millis + marginMillis))

/**
 * The store; `scope` holds the background retries of settles and releases that failed, which stop when it closes
 * (the process stopping: its exit is not held for them), with a warning of how many were cut. `unavailable` is the
 * public error class, given by `Budget` (this module is below it).
 */
export const make = (
  redis: Redis.Service,
  config: Config,
  scope: Scope.Scope,
  unavailable: typeof Budget.StoreUnavailable
): Effect.Effect<Store.Store> =>
  Effect.suspend(() => {
    const background: Background = { scope, cut: 0 }
    return Effect.as(
      Scope.addFinalizer(
        scope,
        Effect.suspend(() =>
          background.cut === 0 ? Effect.void : Effect.logWarning(
            background.cut === 1
              ? "Budget: stopped while 1 settle or release was still being retried in Redis; unless Redis ran it late (a command that timed out may still run), its reservation stops holding budget when it expires and its cost is not counted"
              : `Budget: stopped while ${background.cut} settles or releases were still being retried in Redis; unless Redis ran them late (a command that timed out may still run), their reservations stop holding budget when they expire and their costs are not counted`
          )
        )
      ),
      store(redis, config, background, unavailable)
    )
  })

/** Where the retries of settles and releases run, and how many its close cut. */
interface Background {
  readonly scope: Scope.Scope
  cut: number
}

/**
 * Runs `retries` in the background. Interruptible even when started from a finalizer (a call's settle is one):
 * otherwise the scope's close would wait for every retry to run out, holding the process's exit.
 */
const inBackground = (background: Background, retries: Effect.Effect<void>) =>
  retries.pipe(
    Effect.onInterrupt(() => Effect.sync(() => background.cut++)),
    Effect.interruptible,
    Effect.forkIn(background.scope)
  )

const store = (
  redis: Redis.Service,
  config: Config,
  background: Background,
  unavailable: typeof Budget.StoreUnavailable
): Store.Store => {
  const outage = Outage.reporter("budget", config.whenUnavailable === "fail-open" ? "unreserved calls" : "refuse calls")
  // A settle or release after a call that was answered refuses nothing: counted and said apart.
  const afterCallOutage = Outage.reporter("budget", "settles retried in the background")

  const run = (script: Redis.Script, target: Store.Target, args: ReadonlyArray<string | number>) =>
    redis.eval(script, keysOf(redis, target), [
      target.now,
      target.since,
      target.bucket,
      ttl(target.until - target.now),
      ...args
    ]).pipe(
      Effect.map((reply) => reply as Reply),
      Effect.tap(() => outage.succeeded)
    )

  /**
   * A settle or release runs after the call, which must not fail or wait because of Redis: on failure it is tried
   * again in the background, bounded; if all fail, the reservation still stops holding budget when it expires.
   */
  const afterCall = (
    what: string,
    target: Store.Target & { readonly id: string },
    command: Effect.Effect<Reply, Redis.RedisError>
  ) => {
    // Its own outage ends with a settle or release that lands; a call's reserve does not pay for that check.
    const attempt = Effect.tap(command, () => afterCallOutage.succeeded)
    return attempt.pipe(
      Effect.map(totalsOf),
      Effect.catchAll((error) =>
        Effect.zipRight(
          afterCallOutage.failed(error),
          attempt.pipe(
            Effect.retry(retrySchedule),
            Effect.asVoid,
            Effect.catchAll((last) =>
              Effect.logWarning(
                `Budget: could not ${what} a reservation in Redis (${last.reason}); ${
                  last.reason === "timed out"
                    ? "Redis may still run it (its cost then counts), else the reservation"
                    : "the reservation"
                } stops holding budget when it expires`
              ).pipe(Effect.annotateLogs({ tenant: target.tenant, period: target.period, reservation: target.id }))
            ),
            (retries) => inBackground(background, retries),
            Effect.as(undefined)
          )
        )
      )
    )
  }

  return {
    reserve: (reservation) =>
      run(reserveScript, reservation, [
        reservation.id,
        Store.toMicros(reservation.amountUsd),
        Store.toMicros(reservation.limitUsd),
        reservation.expiresAt,
        ttl(reservation.expiresAt - reservation.now)
      ]).pipe(
        Effect.map((reply): Store.Reserved => ({
          _tag: reply[0] === 1 ? "Reserved" : "Refused",
          totals: totalsOf(reply)
        })),
        Effect.catchAll((error) =>
          Effect.gen(function*() {
            yield* outage.failed(error)
            // A reserve that timed out may still have run: give the budget back rather than hold it until expiry.
            if (error.reason === "timed out") {
              yield* inBackground(
                background,
                Effect.ignore(Effect.retry(run(releaseScript, reservation, [reservation.id]), retrySchedule))
              )
            }
            if (config.whenUnavailable === "fail-open") {
              return { _tag: "Unchecked", reason: error.reason } satisfies Store.Reserved as Store.Reserved
            }
            return yield* new unavailable({ reason: error.reason, retryAfterMillis: config.rejectForMillis })
          })
        ),
        Span.withSpan("Budget.RedisStore.reserve", { attributes: { tenant: reservation.tenant } })
      ),
    settle: (target) =>
      afterCall(
        "settle",
        target,
        run(settleScript, target, [
          target.id,
          Store.toMicros(target.actualUsd),
          target.now + settledMarkerMillis,
          ttl(settledMarkerMillis)
        ])
      ).pipe(Span.withSpan("Budget.RedisStore.settle", { attributes: { tenant: target.tenant } })),
    release: (target) =>
      afterCall("release", target, run(releaseScript, target, [target.id])).pipe(
        Span.withSpan("Budget.RedisStore.release", { attributes: { tenant: target.tenant } })
      ),
    read: (target) =>
      run(readScript, target, []).pipe(
        Effect.map(totalsOf),
        Effect.catchAll((error) =>
          Effect.zipRight(
            outage.failed(error),
            new unavailable({ reason: error.reason, retryAfterMillis: config.rejectForMillis })
          )
        ),
        Span.withSpan("Budget.RedisStore.read", { attributes: { tenant: target.tenant } })
      )
  }
}
