/**
 * Errors in OpenAI's error JSON, with the HTTP status the official SDKs map to the right error class. The
 * table of every tag is in `docs/gateway-wire.md`.
 *
 * @since 0.2.0
 */
import * as Duration from "effect/Duration"
import type * as LlmError from "../../LlmError.js"
import * as Addresses from "./addresses.js"
import type * as WireError from "./WireError.js"

/**
 * OpenAI's error object.
 *
 * @since 0.2.0
 * @category models
 */
export interface WireErrorBody {
  readonly error: {
    readonly message: string
    readonly type: string
    readonly param: string | null
    readonly code: string | null
  }
}

/**
 * An error response: status, headers (`retry-after` in seconds, `retry-after-ms`, `x-should-retry`) and body.
 *
 * @since 0.2.0
 * @category models
 */
export interface EncodedError {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: WireErrorBody
}

/**
 * What an error answer needs besides the error: the time (for `retry-after`) and the attempts made.
 *
 * @since 0.2.0
 * @category models
 */
export interface ErrorOptions {
  /**
   * The current time in epoch milliseconds of Effect's `Clock`: needed for the Retry-After of a `CircuitOpen`
   * (until `until`) and a `BudgetExceeded` with a `resetsAt` (until then). Without it they carry none.
   */
  readonly now?: number | undefined
  /**
   * The provider attempts the route made for this request (retries and fallback steps). Past one, a 5xx is
   * final (`x-should-retry: false`): the route already retried, and a client's SDK retrying on top would
   * multiply the calls (3 SDK tries of a route that makes 3 attempts are 9 calls upstream).
   */
  readonly attempts?: number | undefined
}

interface Row {
  readonly status: number
  readonly type: string
  readonly code: string
  readonly param?: string
  /** Retrying cannot help: tell the SDKs not to (`x-should-retry: false`). */
  readonly final?: boolean
  /**
   * A fixed message, for errors whose own message is the operator's business (it may quote an upstream's
   * address, an account, a store's URL). Without one the error's own message is sent, without addresses.
   */
  readonly message?: (error: LlmError.LlmError) => string
}

const upstream = (what: string) => (error: LlmError.LlmError) => `The upstream provider "${error.provider}" ${what}`

/**
 * What a `ServerError` says of its status: a 5xx is a server error; a 200 is an error the provider sent inside
 * its answer (an error event, an error object); another status (a 409, an unexpected 4xx) is only named.
 */
const serverErrorText = (status: number | undefined): string =>
  status === undefined || status >= 500
    ? `failed with a server error${status === undefined ? "" : ` (HTTP ${status})`}.`
    : status < 300
    ? "sent an error instead of an answer."
    : `failed (HTTP ${status}).`

const timeoutMessages: Record<LlmError.TimeoutPhase, string> = {
  request: "did not answer in time.",
  "first-token": "did not start its answer in time.",
  idle: "stopped sending its answer for too long.",
  total: "did not finish its answer in time."
}

/** Store names of the policies (`PolicyUnavailable.policy`); another name is only "a policy". */
const policyStores: Readonly<Record<string, string>> = {
  budget: "budget",
  "rate-limit": "rate-limit",
  "circuit-breaker": "circuit-breaker",
  cache: "cache"
}

const rows: { readonly [Tag in LlmError.Tag]: Row } = {
  InvalidRequest: { status: 400, type: "invalid_request_error", code: "invalid_request" },
  AuthenticationFailed: {
    status: 502,
    type: "upstream_error",
    code: "upstream_authentication_failed",
    final: true,
    message: upstream("refused the gateway's credentials: the gateway's configuration needs fixing")
  },
  // The client named a route; the upstream's model or endpoint behind it is the configuration's.
  NotFound: {
    status: 404,
    type: "invalid_request_error",
    code: "model_not_found",
    param: "model",
    message: upstream("does not know the model or endpoint this route calls: the gateway's configuration needs fixing")
  },
  ContextLengthExceeded: {
    status: 400,
    type: "invalid_request_error",
    code: "context_length_exceeded",
    param: "messages"
  },
  ContentFiltered: { status: 400, type: "invalid_request_error", code: "content_filter", param: "messages" },
  QuotaExhausted: {
    status: 502,
    type: "upstream_error",
    code: "upstream_quota_exhausted",
    final: true,
    message: upstream("account is out of quota or credit: the gateway's configuration needs fixing")
  },
  // The provider's text names the gateway's account (organisation, project, limits).
  RateLimited: {
    status: 429,
    type: "rate_limit_error",
    code: "upstream_rate_limited",
    message: upstream("is rate limiting the gateway; retry later.")
  },
  Overloaded: {
    status: 503,
    type: "server_error",
    code: "upstream_overloaded",
    message: upstream("is overloaded; retry later.")
  },
  ServerError: {
    status: 502,
    type: "server_error",
    code: "upstream_error",
    message: (error) => upstream(serverErrorText(error.status))(error)
  },
  Timeout: {
    status: 504,
    type: "server_error",
    code: "timeout",
    message: (error) => upstream(timeoutMessages[(error as LlmError.Timeout).phase])(error)
  },
  NetworkError: {
    status: 502,
    type: "server_error",
    code: "upstream_unreachable",
    message: upstream("could not be reached (the connection failed or was cut).")
  },
  MalformedResponse: {
    status: 502,
    type: "server_error",
    code: "upstream_malformed_response",
    message: upstream("sent a response that could not be read")
  },
  EmptyResponse: {
    status: 502,
    type: "server_error",
    code: "upstream_empty_response",
    message: upstream("sent an empty response.")
  },
  StreamInterrupted: {
    status: 502,
    type: "server_error",
    code: "stream_interrupted",
    message: (error) => {
      const cause = (error as LlmError.StreamInterrupted).causeTag
      // "After it started": the provider had sent content, which the client may not have received (an output
      // guardrail holds text back), so not "after content was sent" to the client.
      return `The stream from the upstream provider "${error.provider}" was interrupted after it started${
        /^[A-Za-z]{1,40}$/.test(cause) ? ` (${cause})` : ""
      }; the answer is incomplete.`
    }
  },
  CircuitOpen: {
    status: 503,
    type: "server_error",
    code: "circuit_open",
    message: upstream("is failing: the gateway does not call it for now (circuit open); retry later.")
  },
  RateLimitExceeded: { status: 429, type: "requests", code: "rate_limit_exceeded" },
  BudgetExceeded: { status: 429, type: "insufficient_quota", code: "budget_exceeded" },
  CostLimitExceeded: { status: 400, type: "invalid_request_error", code: "cost_limit_exceeded" },
  GuardrailBlocked: { status: 400, type: "invalid_request_error", code: "guardrail_blocked", param: "messages" },
  // The store's reason may quote its URL, host or database.
  PolicyUnavailable: {
    status: 503,
    type: "server_error",
    code: "policy_unavailable",
    message: (error) => {
      const policy = (error as LlmError.PolicyUnavailable).policy
      const store = Object.hasOwn(policyStores, policy) ? policyStores[policy] : "policy"
      return `The gateway's ${store} store is unavailable; retry later.`
    }
  }
}

// `upstream_request_timeout`, not `request_timeout`: that is the 408 of a client too slow to send its request.
const timeoutCodes: Record<LlmError.TimeoutPhase, string> = {
  request: "upstream_request_timeout",
  "first-token": "first_token_timeout",
  idle: "idle_timeout",
  total: "total_timeout"
}

/** The OpenAI SDKs honour a Retry-After up to 60 s and back off on their own beyond it. */
const sdkRetryCapMs = 60_000

/** How long to wait, in milliseconds, when known. */
const retryAfterMs = (error: LlmError.LlmError, now: number | undefined): number | undefined => {
  if (error._tag === "CircuitOpen" && now !== undefined) return Math.max(0, error.until - now)
  // A refusal by reservations alone has no `resetsAt` but a short `retryAfter` (below).
  if (error._tag === "BudgetExceeded" && error.resetsAt !== undefined) {
    return now === undefined ? undefined : Math.max(0, error.resetsAt - now)
  }
  if (error.retryAfter === undefined) return undefined
  const ms = Duration.toMillis(error.retryAfter)
  return Number.isFinite(ms) && ms >= 0 ? ms : undefined
}

const bodyType = (error: LlmError.LlmError, row: Row): string => {
  // OpenAI says which limit in `type`: "requests" or "tokens".
  if (error._tag === "RateLimitExceeded") return error.kind
  // OpenAI's `insufficient_quota` means waiting will not help: not so for a budget held only by calls in flight.
  if (error._tag === "BudgetExceeded" && error.shouldRetry === true) return "rate_limit_error"
  return row.type
}

/**
 * The OpenAI error object of an error (the body of an error response, or of an error event in a stream). The
 * message is fixed for errors whose own message is the operator's business (provider failures, an open circuit,
 * a policy store down): it names the provider and what happened. Other errors keep their message, which helps
 * the client fix its request, without URLs, addresses or file paths (see `withoutAddresses`).
 *
 * @example
 * ```ts
 * import { errorBody } from "liter-llm/gateway/wire"
 * import { LlmError } from "liter-llm"
 *
 * errorBody(new LlmError.ContextLengthExceeded({ provider: "openai", message: "openai 400: 130000 > 128000 tokens" }))
 * // { error: { message: "openai 400: 130000 > 128000 tokens", type: "invalid_request_error", ... } }
 * errorBody(new LlmError.NetworkError({ provider: "openai", message: "openai: connect ECONNREFUSED 10.0.0.7:443" }))
 * // { error: { message: "The upstream provider \"openai\" could not be reached (...)", code: "upstream_unreachable", ... } }
 * ```
 *
 * @since 0.2.0
 * @category encoding
 */
const htmlPage = /<(?:!doctype|html|head|body|title|center|h1)\b/i

/**
 * An error's own message as a client reads it: without addresses; an HTML page quoted in it (a proxy's error page
 * in front of the upstream, with its server's name and version) left out.
 */
const clientText = (message: string): string => {
  const html = message.search(htmlPage)
  return Addresses.withoutAddresses(html < 0 ? message : `${message.slice(0, html)}(an HTML page, not shown)`)
}

/**
 * The request field an upstream's 400 names, in OpenAI's error JSON (`error.param`, as OpenAI, Azure and the
 * compatible servers write it; the other providers' bodies have none): the gateway's requests are OpenAI's wire,
 * so it names the client's own field. Only a plain field path is passed on.
 */
const upstreamParam = (error: LlmError.LlmError): string | null => {
  if (error._tag !== "InvalidRequest" || error.body === undefined || !error.body.startsWith("{")) return null
  let param: unknown
  try {
    param = (JSON.parse(error.body) as { readonly error?: { readonly param?: unknown } } | null)?.error?.param
  } catch {
    return null
  }
  return typeof param === "string" && /^[A-Za-z_][\w.[\]-]{0,199}$/.test(param) ? param : null
}

export const errorBody = (error: LlmError.LlmError | WireError.WireError): WireErrorBody => {
  if (error._tag === "WireError") {
    return {
      error: { message: error.message, type: "invalid_request_error", param: error.param ?? null, code: error.code }
    }
  }
  const row = rows[error._tag]
  return {
    error: {
      message: row.message === undefined ? clientText(error.message) : row.message(error),
      type: bodyType(error, row),
      param: row.param ?? upstreamParam(error),
      code: error._tag === "Timeout" ? timeoutCodes[error.phase] : row.code
    }
  }
}

/**
 * An error as an HTTP response in OpenAI's error JSON. The status is the one the official SDKs map to the
 * right class (400 `BadRequestError`, 404 `NotFoundError`, 429 `RateLimitError`, 5xx `InternalServerError`);
 * `retry-after` (seconds, rounded up) and `retry-after-ms` when the wait is known; `x-should-retry: false`
 * when retrying cannot help (or the wait is beyond what the SDKs honour), so they do not retry in vain.
 *
 * @example
 * ```ts
 * import { Clock, Effect } from "effect"
 * import { encodeError } from "liter-llm/gateway/wire"
 * import type { LlmError } from "liter-llm"
 * declare const error: LlmError.LlmError
 *
 * const response = Effect.map(Clock.currentTimeMillis, (now) => encodeError(error, { now }))
 * ```
 *
 * @since 0.2.0
 * @category encoding
 */
export const encodeError = (
  error: LlmError.LlmError | WireError.WireError,
  options: ErrorOptions = {}
): EncodedError => {
  const body = errorBody(error)
  if (error._tag === "WireError") return { status: 400, headers: {}, body }
  const row = rows[error._tag]
  const headers: Record<string, string> = {}
  const wait = retryAfterMs(error, options.now)
  if (wait !== undefined) {
    headers["retry-after"] = String(Math.ceil(wait / 1000))
    headers["retry-after-ms"] = String(Math.ceil(wait))
  }
  const retriedBySdk = row.status === 429 || row.status >= 500
  const final = row.final === true || error.shouldRetry === false || (wait !== undefined && wait > sdkRetryCapMs) ||
    (error._tag === "BudgetExceeded" && wait === undefined) || (row.status >= 500 && (options.attempts ?? 0) > 1)
  if (retriedBySdk && final) headers["x-should-retry"] = "false"
  return { status: row.status, headers, body }
}

/**
 * The HTTP status an error is answered with (the error table's): what a client would have seen had the error
 * come before the answer started.
 *
 * @example
 * ```ts
 * import { LlmError } from "liter-llm"
 * import { statusOf } from "liter-llm/gateway/wire"
 *
 * statusOf(new LlmError.Timeout({ provider: "openai", phase: "request", message: "slow" })) // 504
 * ```
 *
 * @since 0.2.0
 * @category encoding
 */
export const statusOf = (error: LlmError.LlmError | WireError.WireError): number =>
  error._tag === "WireError" ? 400 : rows[error._tag].status
