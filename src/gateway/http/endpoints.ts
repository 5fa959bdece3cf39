/**
 * The endpoints besides chat completions: `GET /v1/models`, `GET /v1/usage`, `GET /health`, `GET /ready`,
 * `GET /metrics`.
 *
 * @since 0.2.0
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Budget from "../../Budget.js"
import type * as LlmError from "../../LlmError.js"
import type * as RateLimit from "../../RateLimit.js"
import type * as Metrics from "../Metrics.js"
import type * as Runtime from "../Runtime.js"
import * as Exchange from "./exchange.js"
import * as Respond from "./respond.js"
import * as Usd from "./usd.js"

/**
 * `GET /v1/models`: the routes this tenant may call, in OpenAI's list format.
 *
 * @since 0.2.0
 * @category handlers
 */
export const models = (
  runtime: Runtime.Runtime,
  tenant: Runtime.Tenant,
  headers: Respond.HeaderRecord
): Respond.Answer =>
  Respond.json(
    {
      object: "list",
      data: runtime.models(tenant).map(modelObject)
    },
    200,
    headers
  )

/**
 * `GET /v1/models/{id}`: the route as OpenAI's model object, or `404 model_not_found` when it is no route this
 * key may use (its tag, `NotFound`, then the outcome of `exchange`).
 *
 * @since 0.2.0
 * @category endpoints
 */
export const model = (
  runtime: Runtime.Runtime,
  tenant: Runtime.Tenant,
  id: string,
  headers: Respond.HeaderRecord,
  exchange?: Exchange.Exchange
): Respond.Answer =>
  runtime.models(tenant).includes(id)
    ? Respond.json(modelObject(id), 200, headers)
    : refused(exchange, "NotFound", Respond.modelNotFound(id, headers))

const modelObject = (id: string) => ({ id, object: "model", created: 0, owned_by: "liter-llm" })

/** A refusal, its tag the request's outcome in the log (as a chat request's own refusals are). */
const refused = (exchange: Exchange.Exchange | undefined, outcome: string, answer: Respond.Answer) => {
  if (exchange !== undefined) exchange.outcome = outcome
  return answer
}

// Amounts derived from others (`remaining_usd` is the limit minus the spend) carry float noise.
const budgetJson = (status: Budget.Status | undefined) =>
  status === undefined ? null : {
    limit_usd: Usd.round(status.limitUsd),
    spent_usd: Usd.round(status.spentUsd),
    reserved_usd: Usd.round(status.reservedUsd),
    remaining_usd: Usd.round(status.remainingUsd),
    resets_at: status.resetsAt === undefined ? null : Math.ceil(status.resetsAt / 1000)
  }

const remainingJson = (remaining: RateLimit.Remaining | undefined) =>
  remaining === undefined ? null : {
    limit: remaining.limit,
    remaining: remaining.remaining,
    reset_ms: Duration.toMillis(remaining.resetAfter)
  }

/**
 * A tenant's usage as JSON: `budget` in USD (`resets_at` in Unix seconds), `rate_limits` per kind (requests or
 * tokens per window, `reset_ms` until the window is full again); `null` where the tenant has none.
 *
 * @since 0.2.0
 * @category encoding
 */
export const usageJson = (usage: Runtime.Usage) => ({
  object: "usage",
  tenant: usage.tenant,
  budget: budgetJson(usage.budget),
  rate_limits: usage.rateLimits === undefined ? null : {
    requests: remainingJson(usage.rateLimits.requests),
    tokens: remainingJson(usage.rateLimits.tokens)
  }
})

/**
 * `GET /v1/usage`: a tenant reads its own usage; the admin reads one tenant's with `?tenant=<id>`, or a list
 * without it: every tenant's, or a page with `?limit=<1..1000>` and `&after=<the last id of the page before>`
 * (`has_more`, `first_id` and `last_id` as in OpenAI's lists).
 *
 * @since 0.2.0
 * @category handlers
 */
export const usage = (
  runtime: Runtime.Runtime,
  caller: Runtime.Caller,
  query: URLSearchParams,
  headers: Respond.HeaderRecord,
  exchange?: Exchange.Exchange
): Effect.Effect<Respond.Answer> =>
  // A store that cannot answer (Redis down) is a 503 with its Retry-After, not a budget reported as absent.
  Effect.catchTag(
    usageOf(runtime, caller, query, headers, exchange),
    "PolicyUnavailable",
    (error) => {
      if (exchange !== undefined) Exchange.failed(exchange, error)
      return Effect.map(Clock.currentTimeMillis, (now) => Respond.fromError(error, now, headers))
    }
  )

const usageOf = (
  runtime: Runtime.Runtime,
  caller: Runtime.Caller,
  query: URLSearchParams,
  headers: Respond.HeaderRecord,
  exchange: Exchange.Exchange | undefined
): Effect.Effect<Respond.Answer, LlmError.PolicyUnavailable> => {
  // `?tenant=a&tenant=b` asks for two: answering for the first would look like an answer for both.
  if (query.getAll("tenant").length > 1) {
    return Effect.succeed(refused(
      exchange,
      "WireError",
      Respond.openAiError(400, {
        message: "`tenant` is given more than once: ask for one tenant, or for all without it.",
        type: "invalid_request_error",
        param: "tenant",
        code: "invalid_value"
      }, headers)
    ))
  }
  if (caller._tag === "Tenant") {
    const asked = query.get("tenant")
    if (asked !== null && asked !== caller.tenant.id) {
      return Effect.succeed(refused(
        exchange,
        "PermissionDenied",
        Respond.openAiError(403, {
          message: "A tenant's key reads only its own usage.",
          type: "invalid_request_error",
          param: "tenant",
          code: "permission_denied"
        }, headers)
      ))
    }
    return Effect.map(runtime.usage(caller.tenant.id), (usage) => Respond.json(usageJson(usage), 200, headers))
  }
  const asked = query.get("tenant")
  if (asked === null) {
    const page = pageOf(runtime.tenants, query)
    if ("invalid" in page) {
      return Effect.succeed(refused(
        exchange,
        "WireError",
        Respond.openAiError(400, {
          message: page.invalid,
          type: "invalid_request_error",
          param: page.param,
          code: "invalid_value"
        }, headers)
      ))
    }
    return Effect.map(
      Effect.forEach(page.tenants, (tenant) => runtime.usage(tenant), { concurrency: 8 }),
      (all) =>
        Respond.json(
          {
            object: "list",
            data: all.map(usageJson),
            first_id: page.tenants[0] ?? null,
            last_id: page.tenants.at(-1) ?? null,
            has_more: page.hasMore
          },
          200,
          headers
        )
    )
  }
  if (!runtime.tenants.includes(asked)) {
    return Effect.succeed(refused(
      exchange,
      "NotFound",
      Respond.openAiError(404, {
        message: `No tenant \`${asked.slice(0, 100)}\`.`,
        type: "invalid_request_error",
        param: "tenant",
        code: "tenant_not_found"
      }, headers)
    ))
  }
  return Effect.map(runtime.usage(asked), (usage) => Respond.json(usageJson(usage), 200, headers))
}

/** The most tenants one page of the admin's list holds. */
const maxPage = 1_000

/**
 * The page of tenants the admin's list asks for, in config order: after the tenant `after` names (a cursor, as
 * OpenAI's lists take), at most `limit` of them (1 to 1 000; every one without it); or what is wrong.
 */
const pageOf = (
  tenants: ReadonlyArray<string>,
  query: URLSearchParams
):
  | { readonly tenants: ReadonlyArray<string>; readonly hasMore: boolean }
  | { readonly invalid: string; readonly param: "limit" | "after" } =>
{
  for (const param of ["limit", "after"] as const) {
    if (query.getAll(param).length > 1) return { invalid: `\`${param}\` is given more than once.`, param }
  }
  const limitText = query.get("limit")
  const after = query.get("after")
  let limit = tenants.length
  if (limitText !== null) {
    if (!/^\d{1,4}$/.test(limitText) || Number(limitText) < 1 || Number(limitText) > maxPage) {
      return {
        invalid: `\`limit\` must be a whole number from 1 to ${maxPage}, not \`${limitText.slice(0, 20)}\`.`,
        param: "limit"
      }
    }
    limit = Number(limitText)
  }
  const start = after === null ? 0 : tenants.indexOf(after) + 1
  if (start === 0 && after !== null) {
    return { invalid: `\`after\` names no tenant: \`${after.slice(0, 100)}\`.`, param: "after" }
  }
  const page = tenants.slice(start, start + limit)
  return { tenants: page, hasMore: start + page.length < tenants.length }
}

/**
 * `GET /health`: the process answers.
 *
 * @since 0.2.0
 * @category handlers
 */
export const health = (headers: Respond.HeaderRecord) => Respond.json({ status: "ok" }, 200, headers)

/**
 * `GET /ready`: a runtime is loaded and says it can serve (bounded by `timeoutMs`); 503 otherwise.
 *
 * @since 0.2.0
 * @category handlers
 */
export const ready = (
  runtime: Runtime.Runtime | undefined,
  timeoutMs: number,
  headers: Respond.HeaderRecord
): Effect.Effect<Respond.Answer> => {
  if (runtime === undefined) {
    return Effect.succeed(Respond.json({ status: "not ready", reason: "no configuration loaded" }, 503, headers))
  }
  return runtime.ready.pipe(
    Effect.timeoutOption(timeoutMs),
    Effect.map((ready) =>
      ready._tag === "Some" && ready.value
        ? Respond.json({ status: "ready" }, 200, headers)
        : Respond.json(
          {
            status: "not ready",
            reason: ready._tag === "None" ? "the readiness check timed out" : "a store does not answer"
          },
          503,
          headers
        )
    ),
    Effect.catchAllCause(() =>
      Effect.succeed(Respond.json({ status: "not ready", reason: "the readiness check failed" }, 503, headers))
    )
  )
}

/**
 * `GET /metrics`: the Prometheus exposition.
 *
 * @since 0.2.0
 * @category handlers
 */
export const metrics = (
  metrics: Metrics.GatewayMetrics,
  headers: Respond.HeaderRecord = {}
): Effect.Effect<Respond.Answer> =>
  Effect.map(
    Effect.promise(() => metrics.scrape()),
    ({ contentType, text }): Respond.Answer => ({
      status: 200,
      headers: { ...headers, "content-type": contentType },
      body: text
    })
  )
