/**
 * Spending limits in USD per tenant and period, around any `LanguageModel` Layer.
 *
 * - **estimate**: before a call, its input tokens are counted with `Tokenizer` and its output taken at
 *   `maxTokens`, else the model's `maxOutputTokens`, else its context window minus the input (from `Pricing`),
 *   and priced with `Pricing`. A model without a price, or without any bound on its output, is refused with
 *   `InvalidRequest` saying how to fix it (`unpricedModels: "allow"` lets unpriced models through, unbudgeted).
 * - **reserve**: the estimate is held atomically in the {@link Store}; a call whose estimate does not fit
 *   (spent + reserved + estimate > limit) fails with `LlmError.BudgetExceeded` without reaching the provider,
 *   so concurrent calls can never overshoot on their estimates. When the spend alone leaves room for it, only
 *   calls in flight are in the way: that refusal is retryable, after a short `retryAfter` (1 s).
 * - **reconcile**: after the call the reservation becomes the actual cost (`costUsd` of the response or usage
 *   part, else the usage priced, else the input estimate plus the output received counted by `Tokenizer`). A
 *   failed call, or a stream that delivered nothing, is released: it costs nothing. A stream that fails or is
 *   stopped after content is charged for what was received. Exactly one settle per reservation, whatever the
 *   exit.
 * - **periods**: `"day"` and `"month"` in UTC (from Effect's `Clock`), or a rolling window counted in 60 buckets.
 * - **cost guard**: `maxRequestCostUsd` refuses one request whose estimate passes it with
 *   `LlmError.CostLimitExceeded`, with or without period limits; so is a request whose estimate passes the
 *   tenant's whole budget, which could never fit (`BudgetExceeded` is for one that does not fit now).
 * - **stores**: in memory (default), or in Redis ({@link layerRedis}) shared by every process; a store that cannot
 *   answer refuses calls with `LlmError.PolicyUnavailable` (or lets them through unreserved, if so configured).
 *
 * @since 0.2.0
 */
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Random from "effect/Random"
import * as Schema from "effect/Schema"
import * as Options_ from "./internal/budget/options.js"
import * as Policy from "./internal/budget/policy.js"
import * as RedisStore from "./internal/budget/redisStore.js"
import * as Store_ from "./internal/budget/store.js"
import * as PolicyLayer from "./internal/policyLayer.js"
import * as LanguageModel from "./LanguageModel.js"
import type * as LlmError from "./LlmError.js"
import * as Redis from "./Redis.js"

/**
 * A limit: `limitUsd` (USD) per `period`: `"day"` or `"month"` (calendar, UTC), or a `Duration` for a rolling
 * window (`"1 hour"`; note `"1 day"` is a rolling 24 hours, `"day"` the calendar day).
 *
 * @since 0.2.0
 * @category models
 */
export interface Limit {
  readonly limitUsd: number
  readonly period: "day" | "month" | Duration.DurationInput
}

/**
 * The settings of a budget: limits in USD per tenant and period (a default and per tenant), a cap on one request's
 * estimated cost, what to do with models it cannot price, and how long a reservation may be held.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /** Limits of named tenants (`metadata.tenant` of the request). */
  readonly tenants?: Readonly<Record<string, Limit>> | undefined
  /** The limit of every tenant without its own. Without it, such tenants are unlimited (and not tracked). */
  readonly defaultLimit?: Limit | undefined
  /** The per-request cost guard: refuse one request whose estimate passes this many USD. */
  readonly maxRequestCostUsd?: number | undefined
  /** A model without a known price: `"refuse"` (default) fails the call; `"allow"` lets it through unbudgeted. */
  readonly unpricedModels?: "refuse" | "allow" | undefined
  /** How long a reservation holds budget if it is never settled (its process died): default 15 minutes. */
  readonly reservationTimeout?: Duration.DurationInput | undefined
}

/**
 * Where budget totals live: every operation is one atomic step (a shared store runs each as one script). Keyed
 * by tenant and period id (`"day"`, `"month"`, `"window:<ms>"`); spend is kept in buckets by their start (the
 * start of the UTC day or month, or of a rolling window's bucket), reservations by id with an expiry.
 *
 * @since 0.2.0
 * @category models
 */
export interface Store {
  /** Checks the limit and, when the amount fits, holds it under the reservation's id, in one step. */
  readonly reserve: (reservation: StoreReservation) => Effect.Effect<Reserved, StoreUnavailable>
  /**
   * Drops the reservation (if still held) and charges `actualUsd` to the bucket of `now`, in one step. A
   * reservation that expired is still charged: the call was made. `undefined` when a shared store could not
   * apply it now (it retries on its own; it never fails the call that was made).
   */
  readonly settle: (
    target: StoreTarget & { readonly id: string; readonly actualUsd: number }
  ) => Effect.Effect<Totals | undefined>
  /** Drops the reservation without charging anything (the call failed); `undefined` as for `settle`. */
  readonly release: (target: StoreTarget & { readonly id: string }) => Effect.Effect<Totals | undefined>
  /** The totals, without changing them. */
  readonly read: (target: StoreTarget) => Effect.Effect<Totals, StoreUnavailable>
}

/**
 * What every {@link Store} operation names: whose totals, in which period, and where `now` stands in it (epoch
 * ms of Effect's `Clock`).
 *
 * @since 0.2.0
 * @category models
 */
export interface StoreTarget {
  readonly tenant: string
  /** The period's identity, e.g. `"day"`, `"month"` or `"window:3600000"`: one set of totals per tenant and id. */
  readonly period: string
  /** Epoch ms. */
  readonly now: number
  /** Start (epoch ms) of the bucket a charge made now goes to. */
  readonly bucket: number
  /** Buckets starting before this (epoch ms) no longer count (and may be dropped). */
  readonly since: number
  /** When (epoch ms) the bucket of `bucket` stops counting: a shared store may expire its keys then. */
  readonly until: number
}

/**
 * A reservation to make: refused when spent + reserved + `amountUsd` would pass `limitUsd` (USD).
 *
 * @since 0.2.0
 * @category models
 */
export interface StoreReservation extends StoreTarget {
  readonly id: string
  readonly amountUsd: number
  readonly limitUsd: number
  /** When (epoch ms) the reservation stops holding budget if never settled or released (its process died). */
  readonly expiresAt: number
}

/**
 * A {@link Store}'s answer to a reservation. `Unchecked`: the store could not check it and lets the call through
 * without holding anything (a shared store configured to fail open while it is unreachable).
 *
 * @since 0.2.0
 * @category models
 */
export type Reserved =
  | { readonly _tag: "Reserved"; readonly totals: Totals }
  | { readonly _tag: "Refused"; readonly totals: Totals }
  | { readonly _tag: "Unchecked"; readonly reason: string }

/**
 * A shared {@link Store} that cannot answer now (unreachable or too slow) and fails closed; the budget turns it
 * into `LlmError.PolicyUnavailable` (policy `"budget"`, retryable after `retryAfterMillis`).
 *
 * @since 0.2.0
 * @category errors
 */
export class StoreUnavailable extends Schema.TaggedError<StoreUnavailable>()("BudgetStoreUnavailable", {
  /** Why, e.g. `"timed out"` or `"not connected"`; never an address or a secret. */
  reason: Schema.String,
  /** How long a refused caller should wait before trying again, in ms. */
  retryAfterMillis: Schema.Number
}) {}

/**
 * The totals a {@link Store} answers, in USD.
 *
 * @since 0.2.0
 * @category models
 */
export interface Totals {
  /** USD charged in the buckets that still count. */
  readonly spentUsd: number
  /** USD held by reservations that have not expired. */
  readonly reservedUsd: number
  /** Start (epoch ms) of the oldest bucket with spend that still counts. */
  readonly oldestBucket: number | undefined
}

/**
 * A tenant's budget in its current period. Amounts in USD; `resetsAt` in epoch ms of Effect's `Clock`.
 *
 * @since 0.2.0
 * @category models
 */
export interface Status {
  readonly tenant: string
  readonly limitUsd: number
  readonly spentUsd: number
  readonly reservedUsd: number
  /** What new calls may still reserve: limit - spent - reserved, at least 0. */
  readonly remainingUsd: number
  /** When the period ends (calendar), or when the oldest spend leaves the window (rolling; absent if none). */
  readonly resetsAt: number | undefined
}

/**
 * The service a budget layer provides next to its `LanguageModel`.
 *
 * @since 0.2.0
 * @category models
 */
export interface Service {
  /** The tenant's budget now, or `undefined` when the tenant has no limit; fails when a shared store is down. */
  readonly status: (tenant: string) => Effect.Effect<Status | undefined, LlmError.PolicyUnavailable>
  /** Wraps a `LanguageModel` service with these limits. */
  readonly wrap: (model: LanguageModel.Service) => LanguageModel.Service
}

/**
 * The service tag.
 *
 * @since 0.2.0
 * @category tags
 */
export class Budget extends Context.Tag("liter-llm/Budget")<Budget, Service>() {}

/**
 * The store in use; by default one in-memory store for the process. Provide {@link layerMemory} (or a shared
 * store with {@link layerStore}) to choose.
 *
 * @since 0.2.0
 * @category tags
 */
export class BudgetStore extends Context.Reference<BudgetStore>()("liter-llm/Budget/Store", {
  defaultValue: (): Store => Store_.makeMemory()
}) {}

/**
 * The in-memory {@link Store}, with how many tenant-period entries it holds (`size`, to observe its bounds).
 *
 * @since 0.2.0
 * @category models
 */
export interface MemoryStore extends Store {
  readonly size: Effect.Effect<number>
}

/**
 * A store in this process's memory: buckets that stopped counting and expired reservations are dropped as it
 * goes, so it never grows without bound.
 *
 * @example
 * ```ts
 * import { Budget } from "liter-llm"
 *
 * // One store for two budget layers that must share their totals.
 * export const store: Budget.MemoryStore = Budget.makeMemoryStore()
 * export const Shared = Budget.layerStore(store)
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeMemoryStore: () => MemoryStore = Store_.makeMemory

/**
 * A fresh in-memory store (e.g. one per test).
 *
 * @since 0.2.0
 * @category layers
 */
export const layerMemory: Layer.Layer<BudgetStore> = Layer.sync(BudgetStore, () => Store_.makeMemory())

/**
 * A given store, e.g. a shared one.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerStore = (store: Store): Layer.Layer<BudgetStore> => Layer.succeed(BudgetStore, store)

/**
 * How the Redis store behaves when Redis cannot answer: `whenUnavailable` (`"fail-closed"`, the default, or
 * `"fail-open"`) and `rejectFor` (the `retryAfter` of a refusal, default 1 s).
 *
 * @since 0.2.0
 * @category models
 */
export interface RedisStoreOptions {
  /**
   * What a call does when Redis cannot be reached or is slower than its `commandTimeout`:
   * - `"fail-closed"` (default): it is refused with `LlmError.PolicyUnavailable` (retryable, after `rejectFor`)
   *   before any network call: no spend goes unaccounted.
   * - `"fail-open"`: it goes through without a reservation and is not charged (a warning once per outage, and
   *   `liter_llm.redis.unavailable` counts each such call).
   */
  readonly whenUnavailable?: "fail-closed" | "fail-open" | undefined
  /** With `"fail-closed"`: the `retryAfter` of a refusal while Redis is unavailable (default 1 s). */
  readonly rejectFor?: Duration.DurationInput | undefined
}

/**
 * The {@link BudgetStore} in Redis: budgets shared by every process on the same Redis and key prefix, so N
 * processes together never spend past a tenant's limit. Each operation is one Lua script; amounts are whole
 * micro-USD; every key has a TTL (docs/redis.md). A settle or release that fails after a call is retried in the
 * background (bounded: about 6 s) and never fails the call; closing the layer stops those retries at once, with a
 * warning of how many were cut. Bad options are a `ConfigError`. By default a call is refused with
 * `LlmError.PolicyUnavailable` while Redis cannot answer; `whenUnavailable: "fail-open"` lets it through
 * unreserved and uncharged (one warning per outage, counted by `Redis.metrics.unavailable`).
 *
 * @example
 * ```ts
 * import { Layer, Redacted } from "effect"
 * import { Budget, OpenAi, Redis } from "liter-llm"
 *
 * // REDIS_URL=redis://redis.internal:6379
 * const Budgeted = Budget.layer(OpenAi.layer({ apiKey: Redacted.make("sk-...") }), {
 *   defaultLimit: { limitUsd: 50, period: "day" } // USD per UTC day, across every process
 * }).pipe(Layer.provide(Budget.layerRedis({ whenUnavailable: "fail-closed" })), Layer.provide(Redis.layerConfig()))
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layerRedis = (
  options: RedisStoreOptions = {}
): Layer.Layer<BudgetStore, ConfigError.ConfigError, Redis.Redis> =>
  Layer.scoped(
    BudgetStore,
    Effect.all([RedisStore.config(options), Redis.Redis, Effect.scope]).pipe(
      Effect.flatMap(([config, redis, scope]) => RedisStore.make(redis, config, scope, StoreUnavailable))
    )
  )

/**
 * A budget service from options, or a `ConfigError` naming a bad option (a negative or NaN amount, a
 * zero-length window, an unknown key). Uses the {@link BudgetStore} of the context. Unlike {@link layer}, it
 * accepts options without any limit: a service whose `wrap` lets every call through (one of several budgets
 * chosen per tenant, some without limits).
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Service, ConfigError.ConfigError> =>
  Effect.gen(function*() {
    const config = yield* Options_.decode(options)
    const store = yield* BudgetStore
    // Reservation ids: this instance's random prefix, then a counter (unique even with a fixed `Random`).
    const instance = (yield* Random.nextIntBetween(0, 2 ** 31)).toString(36)
    return Policy.make(config, store, instance)
  })

/**
 * Wraps a `LanguageModel` Layer with budgets; the layer also provides the {@link Budget} service, to read them.
 * Fails at construction with a `ConfigError` on a bad option, an unknown one, or options that enforce nothing
 * (no limit and no `maxRequestCostUsd`).
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { Budget, OpenAi } from "liter-llm"
 *
 * const Budgeted = Budget.layer(OpenAi.layer({ apiKey: Redacted.make("sk-...") }), {
 *   tenants: { "acme": { limitUsd: 100, period: "month" } }, // USD per calendar month (UTC)
 *   defaultLimit: { limitUsd: 5, period: "day" },            // every other tenant: USD per UTC day
 *   maxRequestCostUsd: 0.5                                   // no single request above 0.50 USD
 * })
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = <A, E, R>(
  model: Layer.Layer<A | LanguageModel.LanguageModel, E, R>,
  options: Options
): Layer.Layer<A | LanguageModel.LanguageModel | Budget, E | ConfigError.ConfigError, R> =>
  // This layer's own service wraps the model and is the one the program reads, also when the inner layer
  // provides a `Budget` of its own (budgets nested for a daily and a monthly cap).
  Layer.unwrapEffect(Effect.map(Effect.zipRight(Options_.decodeForLayer(options), make(options)), (budget) =>
    Layer.merge(
      PolicyLayer.around(model, Effect.map(LanguageModel.LanguageModel, (service) => budget.wrap(service))),
      Layer.succeed(Budget, budget)
    )))

/**
 * A tenant's budget now, or `undefined` when it has no limit (`PolicyUnavailable` when a shared store is down).
 *
 * @since 0.2.0
 * @category accessors
 */
export const status = (tenant: string): Effect.Effect<Status | undefined, LlmError.PolicyUnavailable, Budget> =>
  Effect.flatMap(Budget, (budget) => budget.status(tenant))

/**
 * What a tenant has spent in its current period, in USD (0 for a tenant without a limit: it is not tracked).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Budget } from "liter-llm"
 *
 * const report = Effect.all([Budget.spent("acme"), Budget.remaining("acme")])
 * ```
 *
 * @since 0.2.0
 * @category accessors
 */
export const spent = (tenant: string): Effect.Effect<number, LlmError.PolicyUnavailable, Budget> =>
  Effect.map(status(tenant), (current) => current?.spentUsd ?? 0)

/**
 * What a tenant may still reserve in its current period, in USD (`Infinity` for a tenant without a limit).
 *
 * @since 0.2.0
 * @category accessors
 */
export const remaining = (tenant: string): Effect.Effect<number, LlmError.PolicyUnavailable, Budget> =>
  Effect.map(status(tenant), (current) => current?.remainingUsd ?? Infinity)
