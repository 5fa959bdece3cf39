/**
 * What the gateway's HTTP server serves from: the tenants and their keys, the model routes each may use, and
 * the state a tenant may read. Built from a config file (see `Config`), or by hand by an Effect application
 * that embeds the server; swapped atomically on reload.
 *
 * @since 0.2.0
 */
import type * as Effect from "effect/Effect"
import type * as Budget from "../Budget.js"
import type * as ChatRequest from "../ChatRequest.js"
import type * as LanguageModel from "../LanguageModel.js"
import type * as LlmError from "../LlmError.js"
import type * as Pricing from "../Pricing.js"
import type * as RateLimit from "../RateLimit.js"

/**
 * A tenant as the server sees it after authentication.
 *
 * @since 0.2.0
 * @category models
 */
export interface Tenant {
  /** The tenant key: `metadata.tenant` of every call made for it (budgets, limits, cache, metrics). */
  readonly id: string
  /** The model names (routes) this tenant may call; `"*"` for every route. */
  readonly models: ReadonlyArray<string> | "*"
}

/**
 * What a tenant may read about itself (and an admin about any tenant): spend, budget left, limits.
 *
 * @since 0.2.0
 * @category models
 */
export interface Usage {
  readonly tenant: string
  /** The tenant's budget now (USD), absent when it has none. */
  readonly budget?: Budget.Status | undefined
  /** The tenant's rate limits now, absent when it has none. */
  readonly rateLimits?: RateLimit.Status | undefined
}

/**
 * A caller's identity: a tenant, or the admin.
 *
 * @since 0.2.0
 * @category models
 */
export type Caller =
  | { readonly _tag: "Tenant"; readonly tenant: Tenant }
  | { readonly _tag: "Admin" }

/**
 * Server settings that a config file sets and a reload may change.
 *
 * @since 0.2.0
 * @category models
 */
export interface Settings {
  /** Largest request body accepted, in bytes (413 above it). */
  readonly maxBodyBytes: number
  /** Wire parameters the gateway drops instead of refusing with a 400: `true` for all, or their names. */
  readonly dropUnsupported: boolean | ReadonlyArray<string>
  /** Whether the request log carries prompts and answers (never keys). */
  readonly logContent: boolean
}

/**
 * The runtime of one loaded configuration.
 *
 * @since 0.2.0
 * @category models
 */
export interface Runtime {
  readonly settings: Settings
  /**
   * The caller a presented key (the bearer token, as sent) belongs to, or undefined. Implementations compare
   * key hashes in constant time and never log the key, not even hashed.
   */
  readonly authenticate: (key: string) => Caller | undefined
  /** The model names a tenant may call, in config order. */
  readonly models: (tenant: Tenant) => ReadonlyArray<string>
  /**
   * The `LanguageModel` serving a route for a tenant, with every policy of that tenant and route applied
   * (guardrails, context window, cache, rate limit, budget, fallback, breakers), or undefined for a route that
   * does not exist or the tenant may not use. The server passes requests as the client sent them, `model`
   * being the route name and `metadata.tenant` the tenant id; the route's service sends each provider its own
   * model name.
   */
  readonly route: (tenant: Tenant, model: string) => LanguageModel.Service | undefined
  /**
   * A tenant's spend, budget left and limits; `PolicyUnavailable` when a shared store cannot answer (a budget
   * that cannot be read is not reported as "no budget").
   */
  readonly usage: (tenant: string) => Effect.Effect<Usage, LlmError.PolicyUnavailable>
  /**
   * Whether a tenant has rate limits, so that the server reads them for the `x-ratelimit-*` headers of each
   * answer. Absent: the server reads `usage` for every request.
   */
  readonly rateLimited?: ((tenant: string) => boolean) | undefined
  /**
   * A tenant's rate limits alone, for the `x-ratelimit-*` headers of each answer: without the budget's read
   * that `usage` adds (a store round trip per request on Redis). Absent: the server reads `usage`.
   */
  readonly rateLimits?:
    | ((tenant: string) => Effect.Effect<Usage["rateLimits"] | undefined, LlmError.PolicyUnavailable>)
    | undefined
  /** Whether the runtime can serve (e.g. its Redis answers when one is configured). */
  readonly ready: Effect.Effect<boolean>
  /**
   * The prompt of a request as the request log shows it (with `logContent`): after the input guardrails'
   * rewrites, as the provider is sent it. Absent: the request's messages.
   */
  readonly loggedPrompt?: ((request: ChatRequest.ChatRequest) => Effect.Effect<unknown>) | undefined
  /** Tenant ids known to the runtime (for an admin's usage listing). */
  readonly tenants: ReadonlyArray<string>
  /**
   * The prices the routes are charged at, for the request log's estimate of a stream that stopped early
   * without the provider's usage. Absent: the price dataset.
   */
  readonly pricing?: Pricing.Service | undefined
}
