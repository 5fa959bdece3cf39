/**
 * One Redis connection for every store that shares state across processes (circuit breakers now; rate limits,
 * budgets and the cache each add theirs). Memory stays the default everywhere: provide this layer and a store's
 * Redis layer to share.
 *
 * No call waits on Redis for long: every command is bounded (`commandTimeout`, default 500 ms), a command while
 * disconnected fails at once (no offline queue), and the client reconnects in the background, so the processes
 * use Redis again when it returns, without a restart. A failed command is a {@link RedisError}; a password is
 * never in an error, a log or a metric.
 *
 * @since 0.2.0
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type { Redis as IORedis } from "ioredis"
import { createHash } from "node:crypto"
import * as Client from "./internal/redisClient.js"
import * as RedisOptions from "./internal/redisOptions.js"
import * as Outage from "./internal/redisOutage.js"
import * as Span from "./internal/span.js"

/**
 * A Redis command (or connecting) failed: `operation` says which, `reason` why (`"timed out"`, `"not connected"`,
 * `"could not connect to redis://host:port/db ..."`, a database the server does not have, or the server's words),
 * `cause` the driver's error (its message scrubbed; for `"not connected"`, why the last connection attempt
 * failed). Never carries the password: an address shows credentials as `***@`.
 *
 * @since 0.2.0
 * @category errors
 */
export class RedisError extends Schema.TaggedError<RedisError>()("RedisError", {
  operation: Schema.String,
  reason: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  /**
   * @since 0.2.0
   */
  override get message(): string {
    return `Redis ${this.operation} failed: ${this.reason}`
  }
}

/**
 * How to reach Redis: `url` (`redis://[user:password@]host[:port][/db]`, `rediss://` for TLS), or `host` / `port`
 * and the rest.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /** `redis://[user:password@]host[:port][/db]` or `rediss://...`; `Redacted` when it holds a password. */
  readonly url?: string | Redacted.Redacted<string> | undefined
  readonly host?: string | undefined
  /** Default 6379. */
  readonly port?: number | undefined
  readonly username?: string | undefined
  readonly password?: Redacted.Redacted<string> | undefined
  /** Database number, default 0. */
  readonly db?: number | undefined
  readonly tls?: boolean | undefined
  /** Put before every key, so several applications can share one Redis (default `"liter-llm:"`). */
  readonly keyPrefix?: string | undefined
  /** The longest any command may take before it fails with `reason: "timed out"` (default 500 ms). */
  readonly commandTimeout?: Duration.DurationInput | undefined
  /** The longest one connection attempt may take (default 2 s). */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /**
   * Wait (up to `connectTimeout`) for the first connection when the layer is built, failing with a `RedisError`
   * if there is none: a wrong host or password shows at startup (default true). With false the layer is ready at
   * once and the stores treat Redis as unavailable until it connects.
   */
  readonly awaitConnection?: boolean | undefined
}

/**
 * A Lua script, defined once per client and run with `EVALSHA` (ioredis loads it again on `NOSCRIPT`, e.g.
 * after Redis restarted).
 *
 * @since 0.2.0
 * @category models
 */
export interface Script {
  /** A readable name, used in errors and spans. */
  readonly name: string
  readonly lua: string
  /** How many of the arguments are keys (`KEYS[1..n]`); the others are `ARGV`. */
  readonly keys: number
  /** The ioredis command name: the name and a hash of the source, so two scripts never collide. */
  readonly command: string
}

/**
 * The shared connection.
 *
 * @since 0.2.0
 * @category models
 */
export interface Service {
  /**
   * The ioredis client (for commands this module has no helper for; prefix the keys with {@link Service.key}).
   * Commands sent on it directly have no `commandTimeout`: send them through {@link Service.run} to bound them.
   */
  readonly client: IORedis
  readonly keyPrefix: string
  /** The full key of a store's entry: the prefix, then the parts joined by `:`. */
  readonly key: (...parts: ReadonlyArray<string>) => string
  /** Runs a script with its keys and arguments. */
  readonly eval: (
    script: Script,
    keys: ReadonlyArray<string>,
    args: ReadonlyArray<string | number>
  ) => Effect.Effect<unknown, RedisError>
  /**
   * Runs any ioredis command, bounded by `commandTimeout` (a stall of this process's event loop does not count:
   * a reply that arrived meanwhile is read before the timeout is declared), its failure a {@link RedisError} of
   * that operation.
   */
  readonly run: <A>(operation: string, f: (client: IORedis) => Promise<A>) => Effect.Effect<A, RedisError>
  /** Whether the client is connected right now. */
  readonly isConnected: Effect.Effect<boolean>
}

/**
 * How a store reports that Redis failed and it served from its fallback instead: one warning when an outage
 * starts and one note when it ends (not one per call), and `liter_llm.redis.unavailable` counted per fallback.
 *
 * @since 0.2.0
 * @category models
 */
export interface OutageReporter {
  /** Redis failed: counted, and logged if an outage starts. */
  readonly failed: (error: RedisError) => Effect.Effect<void>
  /** Redis answered: ends an outage, if one was going on. */
  readonly succeeded: Effect.Effect<void>
}

/**
 * The Redis connection the stores share, as a service.
 *
 * @since 0.2.0
 * @category tags
 */
export class Redis extends Context.Tag("liter-llm/Redis")<Redis, Service>() {}

/**
 * The key prefix of a connection whose options name none: `"liter-llm:"`.
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultKeyPrefix: string = RedisOptions.defaults.keyPrefix

/**
 * Counters of the Redis stores: `unavailable` (`liter_llm.redis.unavailable`, tagged `store` and `fallback`)
 * counts the store operations served without Redis because it failed or timed out.
 *
 * @since 0.2.0
 * @category metrics
 */
export const metrics = {
  unavailable: Outage.unavailable
} as const

/**
 * A Lua script to run with {@link Service.eval}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Redis } from "liter-llm"
 *
 * const incrementBy = Redis.script("incrementBy", `return redis.call("INCRBY", KEYS[1], ARGV[1])`, { keys: 1 })
 * const program = Effect.flatMap(Redis.Redis, (redis) => redis.eval(incrementBy, [redis.key("hits")], [2]))
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const script = (name: string, lua: string, options: { readonly keys: number }): Script => ({
  name,
  lua,
  keys: options.keys,
  command: `literllm_${name.replace(/[^A-Za-z0-9_]/g, "_")}_${
    createHash("sha1").update(lua).digest("hex").slice(0, 12)
  }`
})

const makeService = (client: Client.Client, keyPrefix: string): Service => {
  const defined = new Set<string>()
  const run = <A>(operation: string, f: (redis: IORedis) => Promise<A>): Effect.Effect<A, RedisError> =>
    Effect.suspend(() => {
      // A database the server refused: nothing may run, in whatever database the driver fell back to.
      const fatal = client.fatal()
      return fatal !== undefined
        ? Effect.fail(new RedisError({ operation, ...fatal }))
        : Effect.tryPromise({
          try: () => Client.timed(client.commandTimeoutMillis, () => f(client.client)),
          catch: (error) => new RedisError({ operation, ...Client.failureOf(client, error) })
        })
    }).pipe(Span.withSpan(`Redis.${operation}`))
  return {
    client: client.client,
    keyPrefix,
    key: (...parts) => `${keyPrefix}${parts.join(":")}`,
    eval: (script, keys, args) => {
      if (keys.length !== script.keys) {
        return Effect.dieMessage(`Redis script ${script.name} takes ${script.keys} keys, got ${keys.length}`)
      }
      return run(script.name, (redis) => {
        if (!defined.has(script.command)) {
          redis.defineCommand(script.command, { lua: script.lua, numberOfKeys: script.keys })
          defined.add(script.command)
        }
        const command = (redis as unknown as Record<string, (...args: Array<string | number>) => Promise<unknown>>)[
          script.command
        ]!
        return command.call(redis, ...keys, ...args)
      })
    },
    run,
    isConnected: Effect.sync(() => client.client.status === "ready" && client.fatal() === undefined)
  }
}

/**
 * Connects with checked options; closed (`QUIT`) when the scope ends.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Service, ConfigError.ConfigError | RedisError, Scope.Scope> =>
  Effect.flatMap(RedisOptions.resolve("Redis.layer", options), (resolved) => connect(resolved))

const connect = Effect.fn("Redis.connect")(function*(resolved: RedisOptions.Resolved) {
  const client = yield* Effect.acquireRelease(
    Effect.sync(() => Client.make(resolved)),
    (client) => Client.close(client, resolved.commandTimeoutMillis)
  )
  if (resolved.awaitConnection) {
    yield* Effect.mapError(
      Client.awaitReady(client, resolved.connectTimeoutMillis),
      (failure) => new RedisError({ operation: "connect", ...failure })
    )
  }
  return makeService(client, resolved.keyPrefix)
})

/**
 * The connection as a Layer.
 *
 * @example
 * ```ts
 * import { Layer, Redacted } from "effect"
 * import { CircuitBreaker, Redis } from "liter-llm"
 *
 * const Shared = CircuitBreaker.layerRedis().pipe(
 *   Layer.provide(Redis.layer({ url: Redacted.make("redis://:secret@10.0.0.5:6379/0"), keyPrefix: "myapp:" }))
 * )
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Redis, ConfigError.ConfigError | RedisError> =>
  Layer.scoped(Redis, make(options))

/**
 * The connection from the environment: `REDIS_URL` (required; it may hold the password, read as `Redacted`) and
 * `REDIS_KEY_PREFIX` (optional; set but empty it is a `ConfigError`, not the default). A missing or bad URL is a
 * `ConfigError` naming `REDIS_URL`.
 *
 * @example
 * ```ts
 * import { Redis } from "liter-llm"
 *
 * // REDIS_URL=redis://:secret@redis.internal:6379/0
 * const FromEnv = Redis.layerConfig({ commandTimeout: "250 millis" })
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layerConfig = (
  options: Omit<Options, "url" | "host" | "port" | "username" | "password" | "db" | "tls"> = {}
): Layer.Layer<Redis, ConfigError.ConfigError | RedisError> =>
  Layer.scoped(
    Redis,
    Effect.flatMap(
      // Set but empty, REDIS_KEY_PREFIX is refused (see `RedisOptions.resolve`), never read as unset.
      Config.all([urlConfig, Config.option(Config.string("REDIS_KEY_PREFIX"))]),
      ([url, prefix]) =>
        Effect.flatMap(
          RedisOptions.resolve(
            "Redis.layerConfig",
            { ...options, url, ...(Option.isSome(prefix) ? { keyPrefix: prefix.value } : {}) },
            { url: "REDIS_URL", keyPrefix: Option.isSome(prefix) ? "REDIS_KEY_PREFIX" : "keyPrefix" }
          ),
          connect
        )
    )
  )

// `Config.redacted` alone would replace every message with "<redacted>", the "not set" one included.
const urlConfig: Config.Config<Redacted.Redacted<string>> = Config.option(Config.redacted("REDIS_URL")).pipe(
  Config.mapOrFail((value) => {
    const url = Option.map(value, (url) => Redacted.value(url).trim())
    return Option.isSome(url) && url.value !== ""
      ? Either.right(Redacted.make(url.value))
      : Either.left(ConfigError.MissingData(
        ["REDIS_URL"],
        "REDIS_URL is not set: export it (e.g. redis://127.0.0.1:6379), or pass the url to Redis.layer"
      ))
  })
)
