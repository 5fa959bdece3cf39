/**
 * The budget policy around a `LanguageModel` service: reserve an estimate before each call, settle the actual cost
 * (or release) exactly once after it, and read a tenant's totals; over a {@link Budget.Store}.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Budget from "../../Budget.js"
import * as ChatRequest from "../../ChatRequest.js"
import * as LanguageModel from "../../LanguageModel.js"
import type * as LlmError from "../../LlmError.js"
import * as Pricing from "../../Pricing.js"
import * as Tokenizer from "../../Tokenizer.js"
import * as PolicyStream from "../policyStream.js"
import * as Span from "../span.js"
import * as Errors from "./errors.js"
import * as Estimate from "./estimate.js"
import * as Options_ from "./options.js"
import * as Period from "./period.js"
import * as Store_ from "./store.js"

type Priced = Extract<Estimate.Estimate, { readonly _tag: "Priced" }>

/** A reservation held for one call, settled exactly once. */
interface Ticket {
  readonly tenant: string
  readonly period: Period.Period
  readonly id: string
  readonly priced: Priced
  readonly meter: Estimate.Meter
  done: boolean
}

/** The service over `store`; `instance` prefixes this service's reservation ids. */
export const make = (config: Options_.Config, store: Budget.Store, instance: string): Budget.Service => {
  let counter = 0

  const target = (tenant: string, period: Period.Period, now: number): Store_.Target => ({
    tenant,
    period: period.id,
    now,
    ...Period.position(period, now)
  })

  const reserve = Span.fn("Budget.reserve")(function*(
    service: LanguageModel.Service,
    request: ChatRequest.ChatRequest
  ) {
    const tenant = ChatRequest.tenantOf(request)
    const limit = Options_.limitOf(config, tenant)
    if (limit === undefined && config.maxRequestCostUsd === undefined) return undefined
    const meter: Estimate.Meter = {
      provider: LanguageModel.pricingProvider(service),
      pricing: yield* Pricing.Pricing,
      tokenizer: yield* Tokenizer.Tokenizer
    }
    const estimate = Estimate.estimate(meter, request, service.defaultModel)
    if (estimate._tag !== "Priced") {
      if (estimate._tag === "Unpriced" && config.unpricedModels === "allow") return undefined
      return yield* Errors.unpriced(estimate, service.provider, tenant, config.maxRequestCostUsd)
    }
    const guard = config.maxRequestCostUsd
    if (guard !== undefined && estimate.costUsd > guard + Store_.tolerance) {
      return yield* Errors.costLimit(estimate, service.provider, tenant, guard)
    }
    if (limit === undefined) return undefined
    // An estimate larger than the whole budget never fits, whatever is spent: not a wait-and-retry refusal.
    if (estimate.costUsd > limit.limitUsd + Store_.tolerance) {
      return yield* Errors.overWholeBudget(estimate, service.provider, tenant, limit)
    }
    const now = yield* Clock.currentTimeMillis
    const id = `${instance}:${(counter++).toString(36)}`
    const at = target(tenant, limit.period, now)
    const answer = yield* store.reserve({
      ...at,
      id,
      amountUsd: estimate.costUsd,
      limitUsd: limit.limitUsd,
      expiresAt: now + config.reservationTimeoutMillis
    }).pipe(
      Effect.mapError((error) =>
        Errors.unavailable({ provider: service.provider, model: estimate.model, tenant, error })
      )
    )
    // The store let the call through without holding anything (failing open): nothing to settle.
    if (answer._tag === "Unchecked") return undefined
    if (answer._tag === "Refused") {
      return yield* Errors.budgetExceeded({
        provider: service.provider,
        estimate,
        tenant,
        limit,
        totals: answer.totals,
        resetsAt: Period.resetsAt(limit.period, now, answer.totals.oldestBucket)
      })
    }
    const ticket: Ticket = { tenant, period: limit.period, id, priced: estimate, meter, done: false }
    return ticket
  })

  /** Charges `actualUsd`, or releases the reservation when `undefined`; once per ticket. */
  const settle = Span.fn("Budget.settle")(function*(ticket: Ticket, actualUsd: number | undefined) {
    if (ticket.done) return
    ticket.done = true
    const at = target(ticket.tenant, ticket.period, yield* Clock.currentTimeMillis)
    if (actualUsd === undefined) yield* store.release({ ...at, id: ticket.id })
    else yield* store.settle({ ...at, id: ticket.id, actualUsd })
  })

  const wrap = (service: LanguageModel.Service): LanguageModel.Service => ({
    ...service,
    // Reserve and settle as one resource: an interrupt between them must not leave budget held.
    generate: (request) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(
          reserve(service, request),
          (ticket) =>
            ticket === undefined ? restore(service.generate(request)) : Effect.onExit(
              restore(service.generate(request)),
              (exit) =>
                settle(
                  ticket,
                  Exit.isSuccess(exit) ? Estimate.responseCost(ticket.meter, ticket.priced, exit.value) : undefined
                )
            )
        )
      ),
    stream: PolicyStream.make((request) =>
      Effect.gen(function*() {
        const received = new Estimate.Received()
        // Settled from what went by, not from the scope's exit: that carries the consumer's own failure, and a
        // consumer that stops early still received (and is charged for) what it took.
        const ticket = yield* Effect.acquireRelease(
          reserve(service, request),
          (ticket) => ticket === undefined ? Effect.void : settle(ticket, received.cost(ticket.meter, ticket.priced))
        )
        return ticket === undefined ? PolicyStream.inner(service) : PolicyStream.watched(service, (chunk) => {
          for (const part of chunk) {
            received.observe(part)
          }
        })
      })
    )
  })

  const status = (tenant: string): Effect.Effect<Budget.Status | undefined, LlmError.PolicyUnavailable> => {
    const limit = Options_.limitOf(config, tenant)
    if (limit === undefined) {
      return Effect.succeed(undefined)
    }
    return Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.map(
        Effect.mapError(store.read(target(tenant, limit.period, now)), (error) =>
          Errors.unreadable({ provider: "liter-llm", tenant, error })),
        (totals): Budget.Status => ({
          tenant,
          limitUsd: limit.limitUsd,
          spentUsd: totals.spentUsd,
          reservedUsd: totals.reservedUsd,
          // In micro-USD, as the store counts: exact, not `0.0002500000000000002`.
          remainingUsd: Store_.toUsd(
            Math.max(
              0,
              Store_.toMicros(limit.limitUsd) - Store_.toMicros(totals.spentUsd) - Store_.toMicros(totals.reservedUsd)
            )
          ),
          resetsAt: Period.resetsAt(limit.period, now, totals.oldestBucket)
        })
      ))
  }

  return { status, wrap }
}
