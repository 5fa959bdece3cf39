/**
 * Where the runtime's state lives: breakers, budgets, rate-limit counters and cache entries. In memory by
 * default (kept across reloads, per process), or in Redis when the config names one, store by store, from the
 * table {@link redisStoreLayers}.
 *
 * @since 0.2.0
 */
import * as Clock from "effect/Clock"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Budget from "../Budget.js"
import * as Cache from "../Cache.js"
import * as CircuitBreaker from "../CircuitBreaker.js"
import * as RateLimit from "../RateLimit.js"
import * as Redis from "../Redis.js"
import type * as Config from "./Config.js"

/**
 * The services the policies read their state from.
 *
 * @since 0.2.0
 * @category models
 */
export type StoreServices = CircuitBreaker.Registry | Budget.BudgetStore | RateLimit.Limiter

/**
 * The in-memory stores of a process: made once, shared by every config loaded after, so a reload keeps the
 * tenants' spend, their rate-limit windows and the breakers' state.
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeMemory: Effect.Effect<Context.Context<StoreServices>, never, Scope.Scope> = Layer.build(
  Layer.mergeAll(CircuitBreaker.layerMemory, Budget.layerMemory, RateLimit.layerMemory)
)

/**
 * The Redis store of each kind of state, when the library has one. A missing entry keeps that state in memory
 * (per instance). Add an entry here when a Redis store layer lands.
 *
 * @since 0.2.0
 * @category models
 */
export interface RedisStoreLayers {
  readonly breakers?: Layer.Layer<CircuitBreaker.Registry, ConfigError.ConfigError, Redis.Redis> | undefined
  readonly budgets?: Layer.Layer<Budget.BudgetStore, ConfigError.ConfigError, Redis.Redis> | undefined
  readonly rateLimits?: Layer.Layer<RateLimit.Limiter, ConfigError.ConfigError, Redis.Redis> | undefined
  readonly cache?:
    | ((options: Cache.MemoryOptions) => Effect.Effect<Cache.Store, ConfigError.ConfigError, Redis.Redis>)
    | undefined
}

/**
 * The Redis stores the gateway uses when a config names a Redis.
 *
 * @since 0.2.0
 * @category constants
 */
export const redisStoreLayers: RedisStoreLayers = {
  breakers: CircuitBreaker.layerRedis(),
  budgets: Budget.layerRedis(),
  rateLimits: RateLimit.layerRedis,
  // Redis bounds the entries itself (`maxmemory`); the memory store's bounds do not apply.
  cache: () => Effect.flatMap(Redis.Redis, (redis) => Cache.makeRedisStore(redis))
}

/**
 * The stores of one loaded config.
 *
 * @since 0.2.0
 * @category models
 */
export interface Stores {
  readonly context: Context.Context<StoreServices>
  readonly cacheStore: (options: Cache.MemoryOptions) => Effect.Effect<Cache.Store, ConfigError.ConfigError>
  /** Answers whether the shared store can be reached (always true in memory). */
  readonly ping: Effect.Effect<boolean>
  /** The kinds of state kept in this process only although a Redis is configured. */
  readonly local: ReadonlyArray<string>
}

/**
 * The stores of a config that names no Redis: the process's memory stores, and a memory cache.
 *
 * @since 0.2.0
 * @category constructors
 */
export const inMemory = (memory: Context.Context<StoreServices>): Stores => ({
  context: memory,
  cacheStore: Cache.makeMemoryStore,
  ping: Effect.succeed(true),
  local: []
})

/** How long a new config's first connection to Redis may take before a probe that finds none logs why, ms. */
const firstConnectionMillis = 5_000

/**
 * The stores for a config: its Redis (connected in the background: `ping` says when it answers) with the
 * Redis layers of `table`, the process's memory stores for the rest.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (
  loaded: Config.Loaded,
  memory: Context.Context<StoreServices>,
  table: RedisStoreLayers = redisStoreLayers
): Effect.Effect<Stores, ConfigError.ConfigError | Redis.RedisError, Scope.Scope> =>
  Effect.gen(function*() {
    const redisConfig = loaded.config.redis
    if (redisConfig === undefined || loaded.redisUrl === undefined) return inMemory(memory)
    const redis = yield* Redis.make({
      url: loaded.redisUrl,
      // Not awaited: an instance starts and reports not ready (GET /ready) until Redis answers.
      awaitConnection: false,
      ...(redisConfig.keyPrefix === undefined ? {} : { keyPrefix: redisConfig.keyPrefix }),
      ...(redisConfig.commandTimeout === undefined ? {} : { commandTimeout: redisConfig.commandTimeout })
    })
    const withRedis = Context.make(Redis.Redis, redis)
    const local: Array<string> = []
    let context = memory
    const use = <I extends StoreServices>(
      kind: string,
      layer: Layer.Layer<I, ConfigError.ConfigError, Redis.Redis> | undefined
    ) =>
      layer === undefined
        ? Effect.sync(() => {
          local.push(kind)
        })
        : Effect.map(Effect.provide(Layer.build(layer), withRedis), (built) => {
          context = Context.merge(context, built)
        })
    yield* use("breakers", table.breakers)
    yield* use("budgets", table.budgets)
    yield* use("rate limits", table.rateLimits)
    const cache = table.cache
    if (cache === undefined) local.push("cache")
    // A Redis that does not answer is logged once, with why, when probes or a reload find it (else an instance
    // that never gets a chat request stays not ready with nothing in its log), and once when it answers again;
    // not in the first seconds of its first connection (the first probes may come before it is made); a Redis
    // that accepts the connection and never answers (hung) is reported once they are over.
    // ioredis's states before its first connection is ready (a failed attempt is "reconnecting").
    const firstConnection = new Set(["wait", "connecting", "connect"])
    const connectingUntil = (yield* Clock.currentTimeMillis) + firstConnectionMillis
    let answered = false
    let logged = false
    const ping = redis.run("ping", (client) => client.ping()).pipe(
      Effect.matchEffect({
        onFailure: (error) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => {
            const connecting = !answered && error.reason === "not connected" &&
              firstConnection.has(redis.client.status) && now < connectingUntil
            if (logged || connecting) return Effect.succeed(false)
            logged = true
            return Effect.as(
              Effect.logWarning("gateway: not ready: Redis does not answer").pipe(Effect.annotateLogs({
                reason: error.reason,
                ...(error.cause instanceof Error ? { cause: error.cause.message } : {})
              })),
              false
            )
          }),
        onSuccess: () => {
          answered = true
          if (!logged) return Effect.succeed(true)
          logged = false
          return Effect.as(Effect.logInfo("gateway: Redis answers again"), true)
        }
      })
    )
    return {
      context,
      cacheStore: cache === undefined
        ? Cache.makeMemoryStore
        : (options: Cache.MemoryOptions) => Effect.provide(cache(options), withRedis),
      ping,
      local
    }
  })
