/**
 * The `RateLimit` policy around one service: take the units of a call from the limiter before it (one request,
 * the token estimate), and the tokens it used beyond the estimate after it.
 */
import type * as RateLimiter from "@effect/experimental/RateLimiter"
import * as Cause from "effect/Cause"
import type * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ChatRequest from "../ChatRequest.js"
import type * as ChatResponse from "../ChatResponse.js"
import type * as LanguageModel from "../LanguageModel.js"
import * as LlmError from "../LlmError.js"
import type * as RateLimit from "../RateLimit.js"
import * as Redis from "../Redis.js"
import type * as StreamPart from "../StreamPart.js"
import * as Tokenizer from "../Tokenizer.js"
import * as BudgetEstimate from "./budget/estimate.js"
import * as PolicyStream from "./policyStream.js"
import * as Options from "./rateLimitOptions.js"
import type * as Store from "./rateLimitStore.js"
import * as Span from "./span.js"

/** Who a call is counted for, and under which limits. */
interface Plan {
  readonly tenant: string
  readonly model: string | undefined
  readonly limits: Options.CheckedLimits
}

/** The token estimate of a call: its input and the output it may produce. */
interface Estimate {
  readonly input: number
  readonly total: number
}

const take = (
  limiter: Store.Limiter,
  config: Options.Config,
  plan: Plan,
  kind: Options.Kind,
  checked: Options.Checked,
  tokens: number,
  onExceeded: "fail" | "delay"
) =>
  limiter.consume({
    algorithm: checked.algorithm,
    onExceeded,
    window: checked.window,
    limit: checked.limit,
    key: Options.keyOf(config, kind, plan.tenant, plan.model),
    tokens
  })

/** The `retryAfter` of a call refused because the store could not answer: a short wait, as for a blip. */
export const unavailableRetryAfter = Duration.seconds(1)

/** Why the store could not answer, in the words of Redis when it is Redis (never a secret; it may name the host). */
const storeFailure = (error: RateLimiter.RateLimitStoreError): Redis.RedisError =>
  error.cause instanceof Redis.RedisError
    ? error.cause
    : new Redis.RedisError({ operation: "rate-limit", reason: error.message })

/** Wraps a service with the limits of `config`, counted in `limiter`. */
export const wrap = (
  service: LanguageModel.Service,
  config: Options.Config,
  limiter: Store.Limiter
): LanguageModel.Service => {
  const failOpen = config.whenUnavailable === "fail-open"
  const outage = limiter.outage(failOpen ? "calls uncounted" : "reject calls")

  const planOf = (request: ChatRequest.ChatRequest): Plan => {
    const tenant = ChatRequest.tenantOf(request)
    return { tenant, model: request.model ?? service.defaultModel, limits: Options.limitsOf(config, tenant) }
  }

  const refused = (
    plan: Plan,
    kind: Options.Kind,
    checked: Options.Checked,
    retryAfter: Duration.Duration | undefined,
    reason: string,
    never = false
  ) =>
    new LlmError.RateLimitExceeded({
      provider: service.provider,
      ...(plan.model === undefined ? {} : { model: plan.model }),
      tenant: plan.tenant,
      kind,
      limit: checked.description,
      ...(retryAfter === undefined ? {} : { retryAfter }),
      // A call no window can ever hold: retrying (here, or by an SDK behind the gateway) cannot help.
      ...(never ? { shouldRetry: false } : {}),
      message: `tenant ${JSON.stringify(plan.tenant)}${
        config.perModel && plan.model !== undefined ? ` on ${plan.model}` : ""
      }: ${reason}`
    })

  /**
   * The store could not answer. Fail closed: the call is refused, a limit must not silently vanish; fail open:
   * it goes through uncounted. Either way the outage is reported once, and counted.
   */
  const unavailable = (plan: Plan, error: RateLimiter.RateLimitStoreError) => {
    const failure = storeFailure(error)
    return Effect.zipRight(
      outage.failed(failure),
      failOpen ? Effect.succeed(Duration.zero) : Effect.fail(
        new LlmError.PolicyUnavailable({
          provider: service.provider,
          ...(plan.model === undefined ? {} : { model: plan.model }),
          policy: "rate-limit",
          reason: failure.reason,
          retryAfter: unavailableRetryAfter,
          message: `rate limit of tenant ${JSON.stringify(plan.tenant)} unavailable: ${failure.reason}`
        })
      )
    )
  }

  const estimateOf = (request: ChatRequest.ChatRequest, plan: Plan) =>
    Effect.map(Tokenizer.Tokenizer, (tokenizer): Estimate => {
      const input = tokenizer.countRequest(request, plan.model)
      return { input, total: input + (request.maxTokens ?? config.defaultOutputTokens) }
    })

  /**
   * Takes the units of a call (each kind in the window that holds it, in delay mode) and waits for the later
   * window. `backs` collects how to give each take back: a call interrupted before it runs, or one that would
   * wait longer than `maxDelay`, returns its units where the store can.
   */
  const takeAll = Span.fn("RateLimit.admit")(function*(
    plan: Plan,
    estimate: Estimate | undefined,
    backs: Array<Effect.Effect<void>>
  ) {
    let delay = Duration.zero
    for (const kind of Options.kinds) {
      const checked = plan.limits[kind]
      if (checked === undefined) continue
      const units = kind === "requests" || estimate === undefined ? 1 : estimate.total
      if (units > checked.limit) {
        // No window will ever hold it: waiting or retrying cannot help, so no `retryAfter`.
        return yield* refused(
          plan,
          kind,
          checked,
          undefined,
          `the estimate of ${units} tokens is more than the limit of ${checked.description}`,
          true
        )
      }
      const taken = yield* take(limiter, config, plan, kind, checked, units, config.onExceeded).pipe(
        Effect.map((result) => {
          if (result.giveBack !== undefined) backs.push(result.giveBack)
          return result.delay
        }),
        Effect.tap(() => outage.succeeded),
        Effect.catchAll((
          error
        ): Effect.Effect<Duration.Duration, LlmError.RateLimitExceeded | LlmError.PolicyUnavailable> =>
          error.reason === "Exceeded"
            ? Effect.zipRight(
              outage.succeeded,
              Effect.fail(refused(
                plan,
                kind,
                checked,
                error.retryAfter,
                `${checked.description} reached, retry after ${Duration.format(error.retryAfter)}`
              ))
            )
            : unavailable(plan, error)
        )
      )
      const maxDelay = config.maxDelay ?? checked.window
      if (Duration.greaterThan(taken, maxDelay)) {
        yield* Effect.all(backs, { discard: true })
        return yield* refused(
          plan,
          kind,
          checked,
          taken,
          `${checked.description} reached: the call would wait ${Duration.format(taken)}, more than maxDelay ${
            Duration.format(maxDelay)
          }`
        )
      }
      delay = Duration.max(delay, taken)
    }
    // Both reservations are already made, each in the window that holds it: waiting for the later one is enough.
    if (!Duration.isZero(delay)) yield* Effect.sleep(delay)
  })

  /**
   * {@link takeAll}, the units given back if the call is interrupted before it runs; how to give them back later
   * (a call the budget inside refuses before any provider call).
   */
  const admit = (plan: Plan, estimate: Estimate | undefined) =>
    Effect.suspend(() => {
      const backs: Array<Effect.Effect<void>> = []
      // Built before the takes fill `backs`: read when it runs.
      const giveBack = Effect.suspend(() => Effect.all(backs, { discard: true }))
      return Effect.as(Effect.onInterrupt(takeAll(plan, estimate, backs), () => giveBack), giveBack)
    })

  /**
   * A call the budget inside this limit refused before any provider call (its limit, or its per-request cost
   * guard): nothing was used, so its units are given back where the store can (the client is told to send it
   * cheaper, not to wait).
   */
  const refusedBeforeCall = (error: LlmError.LlmError) =>
    error._tag === "BudgetExceeded" || error._tag === "CostLimitExceeded"

  /** Takes the tokens used beyond the estimate. The limiter has no refund, so a lower use keeps the estimate. */
  const settle = Span.fn("RateLimit.settle")(function*(plan: Plan, estimate: Estimate, used: number) {
    const checked = plan.limits.tokens
    if (checked === undefined) return
    let extra = used - estimate.total
    while (extra > 0) {
      // Taken whatever the window holds ("delay" never refuses), so the next calls wait for this one's use; in
      // pieces of at most `limit`, the most one take may ask of the limiter.
      const piece = Math.min(extra, checked.limit)
      // After the call there is nothing left to refuse: a store that cannot answer only reports the outage.
      yield* take(limiter, config, plan, "tokens", checked, piece, "delay").pipe(
        Effect.zipRight(outage.succeeded),
        Effect.catchAll((error) => error.reason === "StoreError" ? outage.failed(storeFailure(error)) : Effect.void)
      )
      extra -= piece
    }
  })

  /** The tokens a call used: the provider's usage, else its input estimate and its output text counted. */
  const usedTokens = (
    plan: Plan,
    estimate: Estimate,
    usage: ChatResponse.Usage | undefined,
    output: string
  ) =>
    usage === undefined
      ? Effect.map(Tokenizer.Tokenizer, (tokenizer) => estimate.input + tokenizer.countText(output, plan.model))
      : Effect.succeed(usage.totalTokens)

  const generate = (request: ChatRequest.ChatRequest) =>
    Effect.gen(function*() {
      const plan = planOf(request)
      const estimate = plan.limits.tokens === undefined ? undefined : yield* estimateOf(request, plan)
      const giveBack = yield* admit(plan, estimate)
      const response = yield* Effect.tapError(
        service.generate(request),
        (error) => refusedBeforeCall(error) ? giveBack : Effect.void
      )
      // A replayed cached answer used no provider tokens beyond what was taken before the call.
      if (estimate !== undefined && response.cached !== true) {
        yield* settle(
          plan,
          estimate,
          yield* usedTokens(plan, estimate, response.usage, BudgetEstimate.responseText(response))
        )
      }
      return response
    })

  const stream = PolicyStream.make((request) =>
    Effect.gen(function*() {
      const plan = planOf(request)
      const estimate = plan.limits.tokens === undefined ? undefined : yield* estimateOf(request, plan)
      const giveBack = yield* admit(plan, estimate)
      let refused = false
      // Given back as the refusal goes out, before whoever answers it reads the limits.
      const failed = (cause: Cause.Cause<LlmError.LlmError>) => {
        const error = Cause.failureOption(cause)
        if (Option.isNone(error) || !refusedBeforeCall(error.value)) return
        refused = true
        return giveBack
      }
      if (estimate === undefined) return PolicyStream.watched(service, undefined, failed)
      let usage: ChatResponse.Usage | undefined
      let cached = false
      const output: Array<string> = []
      // On the scope's close: the stream ended, failed, or its consumer stopped early; all used tokens.
      yield* Effect.addFinalizer(() =>
        refused || cached ? Effect.void : Effect.flatMap(
          usedTokens(plan, estimate, usage, output.join("")),
          (used) => settle(plan, estimate, used)
        )
      )
      return PolicyStream.watched(service, (chunk: Chunk.Chunk<StreamPart.StreamPart>) => {
        for (const part of chunk) {
          switch (part.type) {
            case "usage":
              usage = part.usage
              break
            case "response-metadata":
              if (part.cached === true) cached = true
              break
            case "text-delta":
            case "reasoning-delta":
            case "refusal-delta":
              output.push(part.text)
              break
            case "tool-call-start":
              output.push(part.name)
              break
            case "tool-call-delta":
              output.push(part.argumentsDelta)
              break
          }
        }
      }, failed)
    })
  )

  return { ...service, generate, stream }
}

/**
 * Peeks at one counter by taking zero units: the limiter changes nothing (a token bucket refills, as any take
 * would). A counter in debt (a use beyond the estimate) reports 0 remaining until it is paid off.
 */
export const peek = (
  limiter: Store.Limiter,
  config: Options.Config,
  plan: Plan,
  kind: Options.Kind,
  checked: Options.Checked
): Effect.Effect<RateLimit.Remaining, RateLimiter.RateLimitStoreError> =>
  take(limiter, config, plan, kind, checked, 0, "fail").pipe(
    Effect.map((result): RateLimit.Remaining => ({
      limit: checked.limit,
      remaining: Math.max(0, result.remaining),
      resetAfter: result.resetAfter
    })),
    Effect.catchAll((error) =>
      error.reason === "Exceeded"
        ? Effect.succeed<RateLimit.Remaining>({ limit: checked.limit, remaining: 0, resetAfter: error.retryAfter })
        : Effect.fail(error)
    )
  )

/** The plan of a status query. */
export const planFor = (config: Options.Config, tenant: string, model: string | undefined): Plan => ({
  tenant,
  model,
  limits: Options.limitsOf(config, tenant)
})

/** What is left for a tenant (and model) under every limit that applies, without taking anything. */
export const status = (
  limiter: Store.Limiter,
  config: Options.Config,
  of: { readonly tenant: string; readonly model?: string | undefined }
): Effect.Effect<RateLimit.Status, RateLimiter.RateLimitStoreError> =>
  Effect.gen(function*() {
    const plan = planFor(config, of.tenant, of.model)
    const status: { tenant: string; requests?: RateLimit.Remaining; tokens?: RateLimit.Remaining } = {
      tenant: of.tenant
    }
    for (const kind of Options.kinds) {
      const checked = plan.limits[kind]
      if (checked !== undefined) status[kind] = yield* peek(limiter, config, plan, kind, checked)
    }
    return status
  })
