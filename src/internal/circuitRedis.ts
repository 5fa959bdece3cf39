/**
 * The circuit breaker's store in Redis, shared by every process on the same Redis and key prefix.
 *
 * Atomicity: optimistic concurrency. Each key is a hash of the state (JSON) and a version. `modify` reads both,
 * applies the breaker's pure function locally, and writes with a compare-and-set script that succeeds only if the
 * version is still the one read (bumping it); on a conflict the script answers the current state and version, so
 * the retry needs no second read. The state machine stays in one place (TypeScript), not duplicated in Lua.
 * A function that leaves the state as it was (a closed breaker granting a call, an open one refusing) writes
 * nothing: a refusal costs one read; a call through a closed breaker three round trips. Within a process,
 * changes to one key are serialised, so conflicts only come
 * from other processes.
 *
 * Every write refreshes the key's TTL: until the state's last deadline (cooldown, probe lease, end of the newest
 * bucket's window) plus `retention`, so nothing outlives its use by long, and nothing grows without bound.
 */
import * as Clock from "effect/Clock"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as CircuitBreaker from "../CircuitBreaker.js"
import * as Redis from "../Redis.js"
import * as Circuit from "./circuit.js"
import * as Durations from "./duration.js"
import * as OptionChecks from "./optionChecks.js"
import * as Outage from "./redisOutage.js"
import * as Span from "./span.js"

/** The store interface of `CircuitBreaker`. */
export type Store = CircuitBreaker.Store

export interface Config {
  readonly whenUnavailable: "fail-open" | "fail-closed"
  readonly rejectForMillis: number
  readonly maxConflictRetries: number
  readonly retentionMillis: number
}

/** The options of the Redis store, as `CircuitBreaker.RedisStoreOptions`. */
export type Options = CircuitBreaker.RedisStoreOptions

/** The options checked, each bad one a `ConfigError` naming it. */
export const config = (
  options: Options
): Either.Either<Config, ConfigError.ConfigError> =>
  Either.gen(function*() {
    yield* OptionChecks.knownOptions(
      "CircuitBreaker.layerRedis",
      options,
      OptionChecks.optionNames<Options>({
        whenUnavailable: true,
        rejectFor: true,
        maxConflictRetries: true,
        retention: true
      })
    )
    const whenUnavailable = options.whenUnavailable ?? "fail-open"
    if (whenUnavailable !== "fail-open" && whenUnavailable !== "fail-closed") {
      return yield* Either.left(ConfigError.InvalidData(
        ["whenUnavailable"],
        `CircuitBreaker.layerRedis: whenUnavailable must be "fail-open" or "fail-closed", got ${
          JSON.stringify(whenUnavailable)
        }`
      ))
    }
    // A change that loses a race already holds the current state, so it is tried again in one round trip; but the
    // others may win again meanwhile. With three connections racing on one key, runs of 8 attempts were seen: 64
    // keeps a starved change (which would go to the local fallback and count as an outage) out of reach.
    const maxConflictRetries = options.maxConflictRetries ?? 64
    if (!(Number.isSafeInteger(maxConflictRetries) && maxConflictRetries >= 0)) {
      return yield* Either.left(ConfigError.InvalidData(
        ["maxConflictRetries"],
        `CircuitBreaker.layerRedis: maxConflictRetries must be a whole number >= 0, got ${maxConflictRetries}`
      ))
    }
    const millis = (option: string, input: Duration.DurationInput | undefined, fallback: Duration.DurationInput) => {
      const decoded = Durations.decodeNonNegative(input ?? fallback)
      return decoded !== undefined && Duration.isFinite(decoded) && !Duration.isZero(decoded)
        ? Either.right(Duration.toMillis(decoded))
        : Either.left(ConfigError.InvalidData(
          [option],
          `CircuitBreaker.layerRedis: ${option} must be a positive finite duration, got ${
            Durations.show(input ?? fallback)
          }`
        ))
    }
    return {
      whenUnavailable,
      maxConflictRetries,
      rejectForMillis: yield* millis("rejectFor", options.rejectFor, "1 second"),
      retentionMillis: yield* millis("retention", options.retention, "1 hour")
    }
  })

/** Sets the state if the version is still the one read; else answers the current version and state. */
export const compareAndSet = Redis.script(
  "circuitCompareAndSet",
  `local current = redis.call("HMGET", KEYS[1], "v", "s")
local version = current[1] or "0"
if version ~= ARGV[1] then
  return {0, version, current[2] or ""}
end
local next = tonumber(version) + 1
redis.call("HSET", KEYS[1], "v", next, "s", ARGV[2])
redis.call("PEXPIRE", KEYS[1], ARGV[3])
return {1, tostring(next)}`,
  { keys: 1 }
)

interface Versioned {
  readonly version: string
  readonly state: Circuit.State
}

const isState = (value: unknown): value is Circuit.State =>
  typeof value === "object" && value !== null &&
  ["closed", "open", "half-open"].includes((value as { state?: unknown }).state as string)

/** A stored value, or the initial state when absent (or unreadable: the next write replaces it). */
const decode = (version: string | null | undefined, raw: string | null | undefined): Versioned => {
  if (raw === null || raw === undefined || raw === "") return { version: version ?? "0", state: Circuit.initial }
  try {
    const parsed: unknown = JSON.parse(raw)
    return { version: version ?? "0", state: isState(parsed) ? parsed : Circuit.initial }
  } catch {
    return { version: version ?? "0", state: Circuit.initial }
  }
}

/** How long a state matters from `now` on: its last deadline. */
const lastDeadline = (state: Circuit.State): number => {
  switch (state.state) {
    case "open":
      return state.until
    case "half-open":
      return state.leases.reduce((latest, [, expires]) => Math.max(latest, expires), state.until)
    case "closed": {
      const newest = state.buckets[state.buckets.length - 1]
      return newest === undefined || state.bucketMillis === undefined
        ? 0
        : (newest[0] + 1 + Circuit.BUCKETS) * state.bucketMillis
    }
  }
}

export const ttlMillis = (state: Circuit.State, now: number, retentionMillis: number): number =>
  Math.ceil(Math.max(0, lastDeadline(state) - now) + retentionMillis)

export const make = (redis: Redis.Service, config: Config, local: Store): Store => {
  const locks = new Map<string, Effect.Semaphore>()
  const lockOf = (key: string) => {
    let lock = locks.get(key)
    if (lock === undefined) {
      lock = Effect.unsafeMakeSemaphore(1)
      locks.set(key, lock)
    }
    return lock
  }
  const outage = Outage.reporter("circuit", config.whenUnavailable === "fail-open" ? "local breaker" : "reject calls")
  const keyOf = (key: string) => redis.key("circuit", key)

  const read = (key: string) =>
    Effect.map(
      redis.run("circuit.get", (client) => client.hmget(keyOf(key), "v", "s")),
      ([version, raw]) => decode(version, raw)
    )

  const shared = <A>(key: string, f: (state: Circuit.State) => readonly [A, Circuit.State]) =>
    lockOf(key).withPermits(1)(Effect.gen(function*() {
      let current = yield* read(key)
      for (let attempt = 0; attempt <= config.maxConflictRetries; attempt++) {
        const [result, next] = f(current.state)
        // Unchanged (the functions return the very same object): nothing to write.
        if (next === current.state) return result
        const now = yield* Clock.currentTimeMillis
        const reply = (yield* redis.eval(compareAndSet, [keyOf(key)], [
          current.version,
          JSON.stringify(next),
          ttlMillis(next, now, config.retentionMillis)
        ])) as [number, string, string?]
        if (reply[0] === 1) return result
        current = decode(reply[1], reply[2])
      }
      return yield* new Redis.RedisError({
        operation: "circuit.modify",
        reason: `key "${key}" still changed by others after ${config.maxConflictRetries + 1} attempts`
      })
    }))

  // Fail closed: while the shared state cannot be read, the breaker acts as open for `rejectFor`, so calls are
  // refused (and a Fallback moves on) rather than sent to a provider the other processes may have given up on.
  const refusing = Effect.map(
    Clock.currentTimeMillis,
    (now): Circuit.State => ({ state: "open", period: -1, until: now + config.rejectForMillis })
  )

  return {
    modify: (key, f) =>
      shared(key, f).pipe(
        Effect.tap(() => outage.succeeded),
        Effect.catchAll((error) =>
          Effect.zipRight(
            outage.failed(error),
            config.whenUnavailable === "fail-open"
              ? local.modify(key, f)
              : Effect.map(refusing, (state) => f(state)[0])
          )
        ),
        Span.withSpan("CircuitBreaker.RedisStore.modify", { attributes: { key } })
      ),
    get: (key) =>
      read(key).pipe(
        Effect.map(({ state }) => state),
        Effect.tap(() => outage.succeeded),
        Effect.catchAll((error) =>
          Effect.zipRight(outage.failed(error), config.whenUnavailable === "fail-open" ? local.get(key) : refusing)
        )
      )
  }
}
