/**
 * Requests per window and tokens per window, per tenant (and optionally per model), around any
 * `LanguageModel` Layer. Counters live in memory (the default) or in Redis ({@link layerRedis}), shared by every
 * process: by default at most `limit` units are counted in each window `[k × window, (k + 1) × window)`, in total
 * over all processes.
 *
 * - **requests**: every call takes one unit before it reaches the provider.
 * - **tokens**: every call takes its estimate before (input tokens from `Tokenizer.countRequest`, plus
 *   `maxTokens`, or `defaultOutputTokens` when the request sets none), and after it the tokens it used beyond
 *   the estimate (the provider's `usage.totalTokens`, else the input estimate plus the output text counted).
 *   A stream settles when it ends, fails, or its consumer stops. The limiter has no refund: a call that used
 *   less than its estimate keeps the estimate taken.
 * - **refused**: `LlmError.RateLimitExceeded` with `retryAfter`, without reaching the provider; or, with
 *   `onExceeded: "delay"`, the call waits (on Effect's `Clock`) for the window that holds it, then goes on.
 * - **store unavailable** (Redis down or slow): by default the call is refused with `LlmError.PolicyUnavailable`
 *   (`whenUnavailable: "fail-closed"`), or let through uncounted with `"fail-open"`.
 *
 * The tenant is `ChatRequest.tenantOf(request)`; tenants (and, with `perModel`, models) count separately.
 *
 * @since 0.2.0
 */
import * as RateLimiter from "@effect/experimental/RateLimiter"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as PolicyLayer from "./internal/policyLayer.js"
import * as Internal from "./internal/rateLimit.js"
import * as Options_ from "./internal/rateLimitOptions.js"
import * as RedisStore from "./internal/rateLimitRedis.js"
import * as Store from "./internal/rateLimitStore.js"
import * as LanguageModel from "./LanguageModel.js"
import * as Redis from "./Redis.js"

/**
 * How the limiter counts a window:
 *
 * - `"fixed-window"` (default): windows aligned to the clock, `[k × window, (k + 1) × window)`; at most `limit`
 *   units are counted in each, over every process sharing the store. A use beyond an estimate (tokens) is carried
 *   into the next windows.
 * - `"leaky-window"`: `@effect/experimental`'s fixed window: it opens with the first unit taken and closes after
 *   `window × taken / limit` (the full `window` once `limit` units are taken). Not full, it closes early, so a
 *   stretch of `window` may see more than `limit` units.
 * - `"token-bucket"`: a bucket of `limit` units, one unit back every `window / limit`; a burst of `limit`,
 *   then a steady rate.
 *
 * @since 0.2.0
 * @category models
 */
export type Algorithm = "fixed-window" | "leaky-window" | "token-bucket"

/**
 * What a call does when the limiter's store cannot answer (Redis down, or slower than its `commandTimeout`):
 * `"fail-closed"` refuses it with `LlmError.PolicyUnavailable` (retry after 1 s), `"fail-open"` lets it through
 * uncounted.
 *
 * @since 0.2.0
 * @category models
 */
export type WhenUnavailable = "fail-closed" | "fail-open"

/**
 * What a call over the limit does: `"fail"` with `LlmError.RateLimitExceeded`, or `"delay"` until its window
 * (at most `maxDelay`). A delayed call holds its units while it waits; interrupted before it runs, it gives them
 * back under `"fixed-window"` (the default) as long as no later call took units after it (then they stay taken,
 * so that later call never shares a window it was not counted in). Under `"leaky-window"` and `"token-bucket"`
 * the store can only add: an interrupted call's units stay taken until its window passes.
 *
 * @since 0.2.0
 * @category models
 */
export type OnExceeded = "fail" | "delay"

/**
 * One limit: `limit` units (requests, or tokens) per `window`.
 *
 * @since 0.2.0
 * @category models
 */
export interface Limit {
  /** A positive integer: requests, or tokens. */
  readonly limit: number
  /** A positive, finite duration, e.g. `"1 minute"`. */
  readonly window: Duration.DurationInput
  /** Default `"fixed-window"`. */
  readonly algorithm?: Algorithm | undefined
}

/**
 * The limits of a tenant: requests per window and/or tokens per window.
 *
 * @since 0.2.0
 * @category models
 */
export interface Limits {
  readonly requests?: Limit | undefined
  readonly tokens?: Limit | undefined
}

/**
 * The settings of a rate limiter: requests and tokens per window, by default, per tenant and per model, and what to
 * do when a limit is reached (refuse or wait) or its store is unavailable.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /** The limits of every tenant. Without it, only the tenants listed in `tenants` are limited. */
  readonly default?: Limits | undefined
  /** Limits per tenant; per kind, a tenant's limit replaces the default one, a kind it omits keeps the default. */
  readonly tenants?: Readonly<Record<string, Limits>> | undefined
  /** Count each model separately: each limit applies per tenant and model. Default `false`. */
  readonly perModel?: boolean | undefined
  /** Default `"fail"`. */
  readonly onExceeded?: OnExceeded | undefined
  /**
   * With `onExceeded: "delay"`, the longest a call may wait for its window (default: the window of the limit
   * that delays it). A call that would wait longer fails with `LlmError.RateLimitExceeded`, its `retryAfter` the
   * wait it was refused, and gives its units back as an interrupted one does (see {@link OnExceeded}). Given
   * with `onExceeded: "fail"`, it is a `ConfigError`.
   */
  readonly maxDelay?: Duration.DurationInput | undefined
  /** The output tokens estimated for a request without `maxTokens` (default 0: its output is taken after it). */
  readonly defaultOutputTokens?: number | undefined
  /** The counters' identity: layers with the same key (default `"rate-limit"`) share them. */
  readonly key?: string | undefined
  /**
   * When the store cannot answer: `"fail-closed"` (default: the limit never silently vanishes) or `"fail-open"`
   * (the call goes through uncounted; one warning per outage, counted by `Redis.metrics.unavailable`).
   */
  readonly whenUnavailable?: WhenUnavailable | undefined
}

/**
 * What is left of one limit.
 *
 * @since 0.2.0
 * @category models
 */
export interface Remaining {
  /** The limit: requests, or tokens, per window. */
  readonly limit: number
  /** Units (requests, or tokens) still free in the window; 0 while in debt. */
  readonly remaining: number
  /** When the window is full again. */
  readonly resetAfter: Duration.Duration
}

/**
 * What is left for a tenant (and model), per limit that applies.
 *
 * @since 0.2.0
 * @category models
 */
export interface Status {
  readonly tenant: string
  readonly requests?: Remaining | undefined
  readonly tokens?: Remaining | undefined
}

/**
 * What one take of a limiter answers, and how to undo it where the store can.
 *
 * @since 0.2.0
 * @category models
 */
export interface Consumed extends RateLimiter.ConsumeResult {
  /**
   * Gives the units back (a delayed call interrupted before it ran), where the store can: the aligned window,
   * while no take was counted after this one. Best effort: it never fails.
   */
  readonly giveBack?: Effect.Effect<void> | undefined
}

/**
 * A limiter: what it can count, and one take of units (`tokens`: requests, or tokens) from a counter.
 *
 * @since 0.2.0
 * @category models
 */
export interface LimiterService {
  /** The algorithms its store can count. */
  readonly algorithms: ReadonlyArray<Algorithm>
  readonly consume: (options: ConsumeOptions) => Effect.Effect<Consumed, RateLimiter.RateLimiterError>
  /** Reports its store's outages, once per outage for all the layers counting with it. */
  readonly outage: (fallback: string) => Redis.OutageReporter
}

/**
 * One take of `tokens` units (requests, or tokens) from the counter at `key`: at most `limit` per `window`.
 *
 * @since 0.2.0
 * @category models
 */
export interface ConsumeOptions {
  readonly algorithm: Algorithm
  readonly onExceeded: OnExceeded
  readonly window: Duration.Duration
  readonly limit: number
  readonly key: string
  readonly tokens: number
}

/**
 * The limiter every `RateLimit` layer counts with; by default one in memory for the process. Provide
 * {@link layerMemory} (a fresh one), {@link layerRedis} (shared by every process) or {@link layerStore} to choose.
 *
 * @since 0.2.0
 * @category tags
 */
export class Limiter extends Context.Reference<Limiter>()("liter-llm/RateLimit/Limiter", {
  defaultValue: (): LimiterService => Store.memory()
}) {}

/**
 * A limiter over the provided `RateLimiterStore` of `@effect/experimental`. Such a store has no aligned window:
 * it counts `"leaky-window"` and `"token-bucket"` limits, and a `RateLimit` layer asking it for a `"fixed-window"`
 * (the default) fails with a `ConfigError` when it is built.
 *
 * @example
 * ```ts
 * import { RateLimiter } from "@effect/experimental"
 * import { Layer } from "effect"
 * import { RateLimit } from "liter-llm"
 *
 * const InMemory = RateLimit.layerStore.pipe(Layer.provide(RateLimiter.layerStoreMemory))
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layerStore: Layer.Layer<Limiter, never, RateLimiter.RateLimiterStore> = Layer.effect(
  Limiter,
  Effect.map(RateLimiter.RateLimiterStore, (store): LimiterService => Store.make(store, undefined))
)

/**
 * A limiter in Redis over the shared `Redis` connection: every process on the same Redis and key prefix shares
 * the counters. Each take is one Lua script (atomic per key), bounded by the connection's `commandTimeout`; time
 * is the caller's Effect `Clock`, so the hosts' clocks should agree (NTP). Keys are
 * `<prefix>rate-limit:<algorithm>:<key>:<requests|tokens>:<tenant>[:<model>]`, each with a TTL until its count no
 * longer matters. When Redis cannot answer, each `RateLimit` layer does what its `whenUnavailable` says.
 *
 * @example
 * ```ts
 * import { Layer, Redacted } from "effect"
 * import { OpenAi, RateLimit, Redis } from "liter-llm"
 *
 * const Limited = RateLimit.layer(OpenAi.layer({ apiKey: Redacted.make("sk-...") }), {
 *   default: { requests: { limit: 60, window: "1 minute" } }
 * }).pipe(Layer.provide(RateLimit.layerRedis), Layer.provide(Redis.layerConfig()))
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layerRedis: Layer.Layer<Limiter, never, Redis.Redis> = Layer.effect(
  Limiter,
  Effect.map(Redis.Redis, (redis): LimiterService => {
    const store = RedisStore.make(redis)
    return Store.make(store, store)
  })
)

/**
 * A fresh in-memory limiter (e.g. one per test).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RateLimit } from "liter-llm"
 *
 * const left = RateLimit.status({ default: { requests: { limit: 10, window: "1 second" } } }, { tenant: "a" }).pipe(
 *   Effect.provide(RateLimit.layerMemory)
 * )
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layerMemory: Layer.Layer<Limiter> = Layer.sync(Limiter, Store.memory)

const layerName = "RateLimit.layer"

/** The config, and the limiter in context if it can count every algorithm the config uses. */
const configured = (layer: string, options: Options) =>
  Effect.gen(function*() {
    const config = yield* Options_.check(layer, options)
    const limiter = yield* Limiter
    const missing = Options_.algorithmsOf(config).filter((algorithm) => !limiter.algorithms.includes(algorithm))
    if (missing.length > 0) {
      return yield* Effect.fail(ConfigError.InvalidData(
        ["algorithm"],
        `${layer}: the limiter's store cannot count ${
          missing.map((name) => JSON.stringify(name)).join(", ")
        } (it counts ${
          limiter.algorithms.map((name) => JSON.stringify(name)).join(", ")
        }): set another algorithm, or provide RateLimit.layerMemory or RateLimit.layerRedis`
      ))
    }
    return { config, limiter }
  })

/**
 * Rate limits checked once, to wrap any number of `LanguageModel` services and to read what is left: what
 * {@link layer} and {@link status} check each time they are built or called. Every service it wraps counts in
 * the same windows (the options' `key`); a gateway with many routes and many tenants checks their limits once,
 * not once per route, nor once per status read.
 *
 * @since 0.2.0
 * @category models
 */
export interface Service {
  /** Wraps a `LanguageModel` service with these limits. */
  readonly wrap: (model: LanguageModel.Service) => LanguageModel.Service
  /** What is left for a tenant (and, with `perModel`, a model), as {@link status} answers it. */
  readonly status: (
    of: { readonly tenant: string; readonly model?: string | undefined }
  ) => Effect.Effect<Status, RateLimiter.RateLimitStoreError>
}

/**
 * Rate limits from options, checked now (a `ConfigError`, as {@link layer} fails with), counting in the
 * {@link Limiter} in context.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RateLimit } from "liter-llm"
 *
 * const program = Effect.gen(function*() {
 *   const limits = yield* RateLimit.make({ tenants: { acme: { requests: { limit: 60, window: "1 minute" } } } })
 *   return yield* limits.status({ tenant: "acme" }) // requests: { limit: 60, remaining: 60, ... }
 * })
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Service, ConfigError.ConfigError> =>
  Effect.map(configured("RateLimit.make", options), ({ config, limiter }) => ({
    wrap: (model) => Internal.wrap(model, config, limiter),
    status: (of) => Internal.status(limiter, config, of)
  }))

/**
 * Wraps a `LanguageModel` Layer with rate limits. Options are checked when the layer is built: a limit that
 * is not a positive integer, a window that is not a positive finite duration, or no limit at all is a
 * `ConfigError`. The limiter is the {@link Limiter} in context when the layer is built.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { OpenAi, RateLimit } from "liter-llm"
 *
 * const Limited = RateLimit.layer(OpenAi.layer({ apiKey: Redacted.make("sk-...") }), {
 *   default: {
 *     requests: { limit: 60, window: "1 minute" },
 *     tokens: { limit: 100_000, window: "1 minute", algorithm: "token-bucket" }
 *   },
 *   tenants: { free: { requests: { limit: 10, window: "1 minute" } } }
 * })
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = <A, E, R>(
  model: Layer.Layer<A | LanguageModel.LanguageModel, E, R>,
  options: Options
): Layer.Layer<A | LanguageModel.LanguageModel, E | ConfigError.ConfigError, R> =>
  PolicyLayer.around(
    model,
    Effect.gen(function*() {
      const { config, limiter } = yield* configured(layerName, options)
      const service = yield* LanguageModel.LanguageModel
      return Internal.wrap(service, config, limiter)
    })
  )

/**
 * What is left for a tenant (and, with `perModel`, a model) under the limits of `options`, without taking
 * anything. A window in debt (calls that used more tokens than estimated) reports 0 remaining until
 * `resetAfter`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RateLimit } from "liter-llm"
 *
 * const options: RateLimit.Options = { default: { requests: { limit: 60, window: "1 minute" } } }
 * const left = RateLimit.status(options, { tenant: "acme" }).pipe(
 *   Effect.map((status) => status.requests?.remaining) // requests left in the window
 * )
 * ```
 *
 * @since 0.2.0
 * @category accessors
 */
export const status = (
  options: Options,
  of: { readonly tenant: string; readonly model?: string | undefined }
): Effect.Effect<Status, ConfigError.ConfigError | RateLimiter.RateLimitStoreError> =>
  Effect.flatMap(configured("RateLimit.status", options), ({ config, limiter }) => Internal.status(limiter, config, of))
