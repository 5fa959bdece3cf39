/**
 * Requests per window and tokens per window, per tenant (and optionally per model), around any
 * `LanguageModel` Layer. Counting is done by `@effect/experimental`'s `RateLimiter`, so its stores (memory now,
 * Redis for several processes) plug in unchanged.
 *
 * - **requests**: every call takes one unit before it reaches the provider.
 * - **tokens**: every call takes its estimate before (input tokens from `Tokenizer.countRequest`, plus
 *   `maxTokens`, or `defaultOutputTokens` when the request sets none), and after it the tokens it used beyond
 *   the estimate (the provider's `usage.totalTokens`, else the input estimate plus the output text counted).
 *   A stream settles when it ends, fails, or its consumer stops. The limiter has no refund: a call that used
 *   less than its estimate keeps the estimate taken.
 * - **refused**: `LlmError.RateLimitExceeded` with `retryAfter`, without reaching the provider; or, with
 *   `onExceeded: "delay"`, the call waits (on Effect's `Clock`) for the window that holds it, then goes on.
 *
 * The tenant is `ChatRequest.tenantOf(request)`; tenants (and, with `perModel`, models) count separately.
 *
 * @since 0.2.0
 */
import * as RateLimiter from "@effect/experimental/RateLimiter"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as PolicyLayer from "./internal/policyLayer.js"
import * as Internal from "./internal/rateLimit.js"
import * as Options_ from "./internal/rateLimitOptions.js"
import * as LanguageModel from "./LanguageModel.js"

/**
 * How the limiter counts a window (the `RateLimiter`'s algorithms):
 *
 * - `"fixed-window"`: the window opens with the first unit taken and closes after `window × taken / limit`
 *   (the full `window` once `limit` units are taken); then the count starts again from zero.
 * - `"token-bucket"`: a bucket of `limit` units, one unit back every `window / limit`; a burst of `limit`,
 *   then a steady rate.
 *
 * @since 0.2.0
 * @category models
 */
export type Algorithm = "fixed-window" | "token-bucket"

/**
 * What a call over the limit does: `"fail"` with `LlmError.RateLimitExceeded`, or `"delay"` until its window.
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
  /** The output tokens estimated for a request without `maxTokens` (default 0: its output is taken after it). */
  readonly defaultOutputTokens?: number | undefined
  /** The counters' identity: layers with the same key (default `"rate-limit"`) share them. */
  readonly key?: string | undefined
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

const memory = (): RateLimiter.RateLimiter =>
  Effect.runSync(RateLimiter.make.pipe(Effect.provide(RateLimiter.layerStoreMemory)))

/**
 * The `RateLimiter` every `RateLimit` layer counts with; by default one in memory for the process. Provide
 * {@link layerMemory} (a fresh one) or {@link layerStore} (over a shared store) to choose.
 *
 * @since 0.2.0
 * @category tags
 */
export class Limiter extends Context.Reference<Limiter>()("liter-llm/RateLimit/Limiter", {
  defaultValue: memory
}) {}

/**
 * A limiter over the provided `RateLimiterStore`, e.g. `@effect/experimental/RateLimiter/Redis`'s `layerStore`
 * so that every process shares the counters.
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
  RateLimiter.make
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
export const layerMemory: Layer.Layer<Limiter> = Layer.sync(Limiter, memory)

const layerName = "RateLimit.layer"

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
      const config = yield* Options_.check(layerName, options)
      const limiter = yield* Limiter
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
 * const options = { default: { requests: { limit: 60, window: "1 minute" } } }
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
  Effect.gen(function*() {
    const config = yield* Options_.check("RateLimit.status", options)
    const limiter = yield* Limiter
    const plan = Internal.planFor(config, of.tenant, of.model)
    const status: { tenant: string; requests?: Remaining; tokens?: Remaining } = { tenant: of.tenant }
    for (const kind of Options_.kinds) {
      const checked = plan.limits[kind]
      if (checked !== undefined) status[kind] = yield* Internal.peek(limiter, config, plan, kind, checked)
    }
    return status
  })
