/**
 * An exact-match response cache around any `LanguageModel` Layer, always partitioned by tenant.
 *
 * - **Key**: a SHA-256 of the request as the provider would see it (see `docs/governance.md#the-cache-key`): key order,
 *   `undefined` fields, an absent `model` (the inner layer's default model), empty `tools` and empty
 *   `providerOptions` do not change it; `metadata` (tenant, end user) and the `cache` controls are not part of
 *   it; the inner provider's name is. The tenant (`ChatRequest.tenantOf`) prefixes the store key, encoded, so
 *   one tenant never reads another's entries.
 * - **Hit**: answers without calling the provider, with `cached: true` and `costUsd: 0`, and records an
 *   `LlmMetrics` event with `cached: true`. A `stream` call is answered by replaying the entry as parts.
 * - **Miss**: only a successful answer is stored: a `generate` that succeeded, or a stream that delivered its
 *   finish part without an error and was read to its end. Concurrent identical `generate` misses share one call.
 * - **Store**: a {@link Store} of JSON strings with a TTL; in memory (LRU) by default, or in Redis
 *   ({@link layerRedis}) to share entries between processes. A failing store is a miss, never a failed call.
 *
 * @since 0.2.0
 */
import type * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Policy from "./internal/cachePolicy.js"
import * as RedisStore from "./internal/cacheRedis.js"
import * as MemoryStore from "./internal/cacheStore.js"
import * as StoreOptions from "./internal/cacheStoreOptions.js"
import * as OptionChecks from "./internal/optionChecks.js"
import * as PolicyLayer from "./internal/policyLayer.js"
import * as PolicyStream from "./internal/policyStream.js"
import * as LanguageModel from "./LanguageModel.js"
import * as Redis from "./Redis.js"

/**
 * A store that failed (a remote store unreachable, say). The policy never fails a call with it: a lookup that
 * fails is a miss, a write that fails is skipped, and both are logged.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Cache } from "liter-llm"
 *
 * const unreachable = Effect.fail(new Cache.StoreError({ message: "redis: connection refused" }))
 * ```
 *
 * @since 0.2.0
 * @category errors
 */
export class StoreError extends Schema.TaggedError<StoreError>()("CacheStoreError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

/**
 * Where entries live: JSON strings under string keys, each with a TTL. Each operation is one call to a remote
 * store (`GET`, `SET ... PX`, `DEL` in Redis), so no check-then-write can race.
 *
 * Why not `@effect/experimental`'s `BackingPersistenceStore`, which has the same three operations: it takes
 * values as `unknown` and encodes them itself, so the policy could neither weigh an entry (the byte bound) nor
 * own its format; its memory store never evicts; its errors are `PersistenceError`s, and it is built per scope
 * and store id. The interface is that small on purpose: a `BackingPersistenceStore` adapts to it in a few lines.
 *
 * @since 0.2.0
 * @category models
 */
export interface Store {
  /** The value under `key`, unless absent or expired. */
  readonly get: (key: string) => Effect.Effect<Option.Option<string>, StoreError>
  /** Stores `value` under `key` for `ttl` (a zero TTL stores nothing). */
  readonly set: (key: string, value: string, ttl: Duration.Duration) => Effect.Effect<void, StoreError>
  readonly delete: (key: string) => Effect.Effect<void, StoreError>
}

/**
 * The bounds of the in-memory store: how many entries and how many bytes it keeps (the least recently used go
 * first).
 *
 * @since 0.2.0
 * @category models
 */
export interface MemoryOptions {
  /** The most entries kept (default 1,000); the least recently used go first. */
  readonly maxEntries?: number | undefined
  /** The most bytes kept, keys and values as UTF-8 (default 64 MiB); an entry larger than this is not kept. */
  readonly maxBytes?: number | undefined
}

/**
 * The settings of a cache: how long an answer is kept (`ttl`) and where (`store`, in memory by default).
 *
 * @since 0.2.0
 * @category models
 */
export interface Options extends MemoryOptions {
  /**
   * How long an entry is kept unless its request says otherwise (`cache.ttl`). Default 1 hour. At least 1 ms,
   * in whole milliseconds (a fraction is rounded up, as Redis keeps it).
   */
  readonly ttl?: Duration.DurationInput | undefined
  /**
   * Where entries live; default a memory store of `maxEntries` / `maxBytes`, made when the layer is built (so it
   * lives as long as the built layer). Pass a store to share it between layers or processes: an object with
   * `get`, `set` and `delete` functions, else the layer fails to build.
   */
  readonly store?: Store | undefined
}

/**
 * A store in this process's memory: least-recently-used eviction past `maxEntries` entries or `maxBytes` bytes,
 * expiry by Effect's `Clock`. Fails with a `ConfigError` on a bound that is not a positive integer.
 *
 * @example
 * ```ts
 * import { Effect, Redacted } from "effect"
 * import { Cache, OpenAi } from "liter-llm"
 *
 * // One store shared by two cached layers.
 * const layers = Effect.map(Cache.makeMemoryStore({ maxEntries: 10_000, maxBytes: 256 * 1024 * 1024 }), (store) => ({
 *   a: Cache.layer(OpenAi.layer({ apiKey: Redacted.make("sk-...") }), { store }),
 *   b: Cache.layer(OpenAi.layer({ apiKey: Redacted.make("sk-..."), model: "gpt-4.1" }), { store })
 * }))
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeMemoryStore = (options: MemoryOptions = {}): Effect.Effect<Store, ConfigError.ConfigError> =>
  Effect.map(
    Effect.all([
      StoreOptions.countOption(
        "Cache.makeMemoryStore",
        "maxEntries",
        options.maxEntries,
        StoreOptions.defaults.maxEntries
      ),
      StoreOptions.countOption("Cache.makeMemoryStore", "maxBytes", options.maxBytes, StoreOptions.defaults.maxBytes)
    ]),
    ([maxEntries, maxBytes]) => MemoryStore.make({ maxEntries, maxBytes })
  )

/**
 * The bounds of the Redis store: the largest entry it writes, in bytes.
 *
 * @since 0.2.0
 * @category models
 */
export interface RedisStoreOptions {
  /** The largest entry stored, key and JSON value as UTF-8 bytes (default 1 MiB); a larger answer is not stored. */
  readonly maxEntryBytes?: number | undefined
}

/**
 * A store in Redis, shared by every process on the same Redis and key prefix: `GET`, `SET key value PX ttl` and
 * `DEL` on `<prefix><cache key>`, each bounded by the connection's `commandTimeout`. Redis's own `maxmemory` (with
 * `maxmemory-policy allkeys-lru` or `volatile-lru`) bounds the total. It fails open: while Redis cannot answer, a
 * lookup is a miss and a write is skipped (one warning per outage, `Redis.metrics.unavailable` counted with
 * `store: "cache"`), so it never fails with a {@link StoreError}. Fails with a `ConfigError` on a bad option.
 *
 * @example
 * ```ts
 * import { Effect, Redacted } from "effect"
 * import { Cache, OpenAi, Redis } from "liter-llm"
 *
 * // One Redis store shared by two cached layers (and every process on the same Redis).
 * const layers = Effect.map(Effect.flatMap(Redis.Redis, (redis) => Cache.makeRedisStore(redis)), (store) => ({
 *   a: Cache.layer(OpenAi.layer({ apiKey: Redacted.make("sk-...") }), { store }),
 *   b: Cache.layer(OpenAi.layer({ apiKey: Redacted.make("sk-..."), model: "gpt-4.1" }), { store })
 * }))
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeRedisStore = (
  redis: Redis.Service,
  options: RedisStoreOptions = {}
): Effect.Effect<Store, ConfigError.ConfigError> =>
  Effect.map(
    StoreOptions.countOption(
      "Cache.makeRedisStore",
      "maxEntryBytes",
      options.maxEntryBytes,
      RedisStore.defaultMaxEntryBytes
    ),
    (maxEntryBytes) => RedisStore.make(redis, { maxEntryBytes })
  )

/**
 * Wraps a service with a cache over `store`, entries kept for `ttl` unless a request says otherwise. {@link layer}
 * checks the options and makes the store; this is the step after. Options that cannot work (not an object, a
 * misspelt option, a `ttl` that is no finite `Duration` of at least 1 ms, a `store` without `get`, `set` and
 * `delete` functions) make every call fail with `InvalidRequest` naming the option.
 *
 * @example
 * ```ts
 * import { Duration, Effect } from "effect"
 * import { Cache, LanguageModel } from "liter-llm"
 * declare const service: LanguageModel.Service
 *
 * const cached = Effect.map(Cache.makeMemoryStore(), (store) => Cache.wrap(service, { ttl: Duration.minutes(5), store }))
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const wrap = (
  service: LanguageModel.Service,
  options: { readonly ttl: Duration.Duration; readonly store: Store }
): LanguageModel.Service => {
  const problem = StoreOptions.wrapProblem(options)
  return problem === undefined ? Policy.wrap(service, options) : PolicyStream.refusing(service, problem)
}

/**
 * Wraps a `LanguageModel` Layer with an exact-match cache, partitioned by tenant. The options are checked when
 * the layer is built: a bad one fails it with a `ConfigError`.
 *
 * @example
 * ```ts
 * import { Effect, Redacted } from "effect"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Cache, ChatResponse, LanguageModel, OpenAi } from "liter-llm"
 *
 * const Cached = Cache.layer(OpenAi.layer({ apiKey: Redacted.make("sk-...") }), {
 *   ttl: "10 minutes", // per entry, unless the request's `cache.ttl` says otherwise
 *   maxEntries: 5_000 // least recently used evicted first
 * })
 *
 * const twice = Effect.gen(function*() {
 *   const ask = { messages: [{ role: "user" as const, content: "Capital of France?" }], metadata: { tenant: "acme" } }
 *   yield* LanguageModel.generate(ask) // calls OpenAI
 *   const again = yield* LanguageModel.generate(ask) // from the cache: again.cached === true, again.costUsd === 0
 *   return ChatResponse.text(again)
 * }).pipe(Effect.provide(Cached), Effect.provide(NodeHttpClient.layerUndici))
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = <A, E, R>(
  model: Layer.Layer<A | LanguageModel.LanguageModel, E, R>,
  options: Options = {}
): Layer.Layer<A | LanguageModel.LanguageModel, E | ConfigError.ConfigError, R> =>
  // Checked before the inner layer is built: a bad option fails at startup without opening anything.
  Layer.unwrapEffect(Effect.map(StoreOptions.settle(options), (settled) => wrapLayer(model, settled)))

/** The cache around `model`; the inner layer's other services (a `Budget` below the cache) pass through. */
const wrapLayer = <A, E, R>(
  model: Layer.Layer<A | LanguageModel.LanguageModel, E, R>,
  settled: { readonly ttl: Duration.Duration; readonly store: Store }
) => PolicyLayer.around(model, Effect.map(LanguageModel.LanguageModel, (service) => wrap(service, settled)))

/**
 * The cache over Redis: its options plus how long an answer is kept.
 *
 * @since 0.2.0
 * @category models
 */
export interface RedisOptions extends RedisStoreOptions {
  /**
   * How long an entry is kept unless its request says otherwise (`cache.ttl`). Default 1 hour. At least 1 ms,
   * in whole milliseconds (a fraction is rounded up, as Redis keeps it).
   */
  readonly ttl?: Duration.DurationInput | undefined
}

/**
 * {@link layer} with its entries in Redis ({@link makeRedisStore}), on the connection of a `Redis` layer: an
 * answer cached by one process serves the same tenant's identical request in every other. A Redis outage only
 * turns hits into misses. Bad options fail the layer with a `ConfigError`.
 *
 * @example
 * ```ts
 * import { Layer, Redacted } from "effect"
 * import { Cache, OpenAi, Redis } from "liter-llm"
 *
 * // REDIS_URL=redis://redis.internal:6379 (configured with maxmemory and maxmemory-policy allkeys-lru)
 * const Cached = Cache.layerRedis(OpenAi.layer({ apiKey: Redacted.make("sk-...") }), {
 *   ttl: "10 minutes",
 *   maxEntryBytes: 256 * 1024 // larger answers are not stored
 * }).pipe(Layer.provide(Redis.layerConfig()))
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layerRedis = <A, E, R>(
  model: Layer.Layer<A | LanguageModel.LanguageModel, E, R>,
  options: RedisOptions = {}
): Layer.Layer<A | LanguageModel.LanguageModel, E | ConfigError.ConfigError, R | Redis.Redis> =>
  Layer.unwrapEffect(Effect.gen(function*() {
    yield* OptionChecks.knownOptions(
      "Cache.layerRedis",
      options,
      OptionChecks.optionNames<RedisOptions>({ ttl: true, maxEntryBytes: true })
    )
    const { maxEntryBytes, ...rest } = options
    const bound = yield* StoreOptions.countOption(
      "Cache.layerRedis",
      "maxEntryBytes",
      maxEntryBytes,
      RedisStore.defaultMaxEntryBytes
    )
    const store = RedisStore.make(yield* Redis.Redis, { maxEntryBytes: bound })
    return wrapLayer(model, yield* StoreOptions.settle({ ...rest, store }, "Cache.layerRedis"))
  }))
