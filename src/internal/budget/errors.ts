/** The budget's refusals, with messages that say what did not fit and how to fix it. */
import * as Duration from "effect/Duration"
import * as LlmError from "../../LlmError.js"
import type * as Estimate from "./estimate.js"
import * as Options from "./options.js"
import * as Store from "./store.js"

type Priced = Extract<Estimate.Estimate, { readonly _tag: "Priced" }>

// Worded with the names both `Pricing.layer` and the gateway's config file use, so either reader can act on it.
const addPrice = (model: string) => `give it a price (pricing models "${model}": inputPerMillion, outputPerMillion)`

/**
 * A call whose cost cannot be estimated: its model has no price (`CostLimitExceeded` when the cost guard needs
 * one, else `InvalidRequest`), or its output has no known bound (`InvalidRequest`).
 */
export const unpriced = (
  estimate: Exclude<Estimate.Estimate, Priced>,
  provider: string,
  tenant: string,
  guardUsd: number | undefined
): LlmError.CostLimitExceeded | LlmError.InvalidRequest => {
  const model = estimate.model ?? "(none)"
  if (estimate._tag === "Unpriced" && guardUsd !== undefined) {
    return new LlmError.CostLimitExceeded({
      provider,
      model,
      tenant,
      limitUsd: guardUsd,
      message: `Budget: model "${model}" has no known price, so the cost guard of ${
        Options.usd(guardUsd)
      } cannot check it; ${addPrice(model)}`
    })
  }
  return new LlmError.InvalidRequest({
    provider,
    model,
    message: estimate._tag === "Unpriced"
      ? `Budget: model "${model}" has no known price, so tenant "${tenant}"'s budget cannot hold its cost; ${
        addPrice(model)
      }, or allow unpriced models (unpricedModels: "allow")`
      : `Budget: the output of model "${model}" has no known bound, so its cost cannot be estimated; set maxTokens on the request (max_tokens), or give the model a maxOutputTokens (or contextWindow) in its price`
  })
}

/** One request whose estimate passes the per-request cost guard. */
export const costLimit = (
  estimate: Priced,
  provider: string,
  tenant: string,
  guardUsd: number
): LlmError.CostLimitExceeded =>
  new LlmError.CostLimitExceeded({
    provider,
    model: estimate.model,
    tenant,
    limitUsd: guardUsd,
    estimatedUsd: estimate.costUsd,
    message: `Budget: the estimated cost of this request, ${
      Options.usd(estimate.costUsd)
    } (${estimate.inputTokens} input and ${estimate.outputTokens} output tokens of ${estimate.model}), passes the per-request limit of ${
      Options.usd(guardUsd)
    }`
  })

/** One request whose estimate passes the tenant's whole budget: it could never fit, so it is the caller's to fix. */
export const overWholeBudget = (
  estimate: Priced,
  provider: string,
  tenant: string,
  limit: Options.Limit
): LlmError.CostLimitExceeded =>
  new LlmError.CostLimitExceeded({
    provider,
    model: estimate.model,
    tenant,
    limitUsd: limit.limitUsd,
    estimatedUsd: estimate.costUsd,
    message: `Budget: the estimated cost of this request, ${
      Options.usd(estimate.costUsd)
    } (${estimate.inputTokens} input and ${estimate.outputTokens} output tokens of ${estimate.model}), passes tenant "${tenant}"'s whole budget of ${
      Options.usd(limit.limitUsd)
    } ${Options.periodText(limit.period)}: ask for fewer output tokens`
  })

/**
 * How long a refusal caused only by reservations asks the caller to wait. Reservations are held by calls in
 * flight and go when they end (usually within seconds), but the store does not know when; `reservationTimeout`
 * only bounds a dead process's reservation (15 minutes by default), far too long to wait and beyond what SDKs
 * honour. So a short fixed hint, the same as a store outage's: a retry that still does not fit is refused again.
 */
const reservedRetryAfterMillis = 1000

/**
 * A tenant's budget that cannot hold this call's estimate. When the spend alone leaves room for it, only the
 * reservations of calls in flight are in the way: retryable after {@link reservedRetryAfterMillis}, without
 * `resetsAt` (the period's end is not when it fits). Otherwise it waits for `resetsAt` and is not retryable.
 */
export const budgetExceeded = (context: {
  readonly provider: string
  readonly estimate: Priced
  readonly tenant: string
  readonly limit: Options.Limit
  readonly totals: Store.Totals
  readonly resetsAt: number | undefined
}): LlmError.BudgetExceeded => {
  const { estimate, limit, tenant } = context
  const { reservedUsd, spentUsd } = context.totals
  const transient = spentUsd + estimate.costUsd <= limit.limitUsd + Store.tolerance
  const resetsAt = transient ? undefined : context.resetsAt
  return new LlmError.BudgetExceeded({
    provider: context.provider,
    model: estimate.model,
    tenant,
    limitUsd: limit.limitUsd,
    spentUsd,
    reservedUsd,
    requestedUsd: estimate.costUsd,
    ...(resetsAt === undefined ? {} : { resetsAt }),
    ...(transient ? { shouldRetry: true, retryAfter: Duration.millis(reservedRetryAfterMillis) } : {}),
    message: `Budget: tenant "${tenant}" has spent ${Options.usd(spentUsd)} and reserved ${
      Options.usd(reservedUsd)
    } of ${Options.usd(limit.limitUsd)} ${Options.periodText(limit.period)}; this call's estimate of ${
      Options.usd(estimate.costUsd)
    } does not fit${
      transient
        ? ` beside the reservations of calls in flight, which go when they end: retry after ${reservedRetryAfterMillis} ms`
        : resetsAt === undefined
        ? ""
        : ` (resets at ${new Date(resetsAt).toISOString()})`
    }`
  })
}

interface Unavailable {
  readonly provider: string
  readonly model?: string | undefined
  readonly tenant: string
  readonly error: Store.StoreUnavailable
}

const storeUnavailable = (context: Unavailable, message: string): LlmError.PolicyUnavailable =>
  new LlmError.PolicyUnavailable({
    provider: context.provider,
    ...(context.model === undefined ? {} : { model: context.model }),
    policy: "budget",
    reason: context.error.reason,
    retryAfter: Duration.millis(context.error.retryAfterMillis),
    message
  })

/** The store could not answer (a shared store unreachable, failing closed): refused before any network call. */
export const unavailable = (context: Unavailable): LlmError.PolicyUnavailable =>
  storeUnavailable(
    context,
    `Budget: the budget store cannot answer (${context.error.reason}), so tenant "${context.tenant}"'s call is refused before reaching the provider; retry after ${context.error.retryAfterMillis} ms`
  )

/**
 * The store could not answer a read (`status`, `spent`, `remaining`): no call is involved, so the message must
 * not speak of a refusal (with `whenUnavailable: "fail-open"` calls are not refused at all).
 */
export const unreadable = (context: Unavailable): LlmError.PolicyUnavailable =>
  storeUnavailable(
    context,
    `Budget: the budget store cannot answer (${context.error.reason}), so tenant "${context.tenant}"'s budget cannot be read; retry after ${context.error.retryAfterMillis} ms`
  )
