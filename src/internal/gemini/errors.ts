/** Classification of Gemini error bodies into `LlmError` tags, and `RetryInfo` delays. */
import type * as Duration from "effect/Duration"
import * as ErrorPatterns from "../errorPatterns.js"
import * as Errors from "../errors.js"
import * as Headers from "../headers.js"
import { isObject, type Json, stringOf } from "../json.js"

const statusTags: Record<string, Errors.HttpErrorTag> = {
  INVALID_ARGUMENT: "InvalidRequest",
  FAILED_PRECONDITION: "InvalidRequest",
  OUT_OF_RANGE: "InvalidRequest",
  UNIMPLEMENTED: "InvalidRequest",
  UNAUTHENTICATED: "AuthenticationFailed",
  PERMISSION_DENIED: "AuthenticationFailed",
  NOT_FOUND: "NotFound",
  RESOURCE_EXHAUSTED: "RateLimited",
  UNAVAILABLE: "Overloaded",
  INTERNAL: "ServerError",
  UNKNOWN: "ServerError",
  ABORTED: "ServerError",
  CANCELLED: "ServerError",
  DATA_LOSS: "ServerError",
  DEADLINE_EXCEEDED: "Timeout"
}

const authReasons: ReadonlySet<string> = new Set([
  "API_KEY_INVALID",
  "API_KEY_EXPIRED",
  "API_KEY_SERVICE_BLOCKED",
  "API_KEY_HTTP_REFERRER_BLOCKED",
  "API_KEY_IP_ADDRESS_BLOCKED",
  "ACCESS_TOKEN_EXPIRED"
])

const detailOf = (details: ReadonlyArray<unknown>, type: string): Json | undefined =>
  details.find((detail): detail is Json =>
    isObject(detail) && typeof detail["@type"] === "string" && detail["@type"].endsWith(`/google.rpc.${type}`)
  )

/**
 * Whether a `RESOURCE_EXHAUSTED` error names a quota no retry can satisfy soon: a per-day quota
 * (`QuotaFailure` quotaId or `ErrorInfo` quota_limit containing "PerDay"), or a quota whose limit is 0.
 */
const unrecoverableQuota = (details: ReadonlyArray<unknown>): boolean => {
  const failure = detailOf(details, "QuotaFailure")
  const violations = Array.isArray(failure?.violations) ? failure.violations : []
  if (violations.some((violation) => isObject(violation) && stringOf(violation.quotaId)?.includes("PerDay"))) {
    return true
  }
  const metadata = detailOf(details, "ErrorInfo")?.metadata
  return isObject(metadata) &&
    (stringOf(metadata.quota_limit)?.includes("PerDay") === true || metadata.quota_limit_value === "0")
}

/** The `retryDelay` of a `google.rpc.RetryInfo` detail ("34.4s"). */
export const retryDelay = (details: ReadonlyArray<unknown>): Duration.Duration | undefined =>
  Headers.parseGoogleDuration(detailOf(details, "RetryInfo")?.retryDelay)

/**
 * Reads a Google error body `{"error": {code, message, status, details}}`: the `status` name decides the
 * tag, refined by the details (an `API_KEY_INVALID` 400 is `AuthenticationFailed`; a per-day or zero quota
 * is `QuotaExhausted`), else by a known message where the status is generic (a prompt over the window is
 * `ContextLengthExceeded`); `RetryInfo.retryDelay` gives `retryAfter`.
 */
export const classifyError: Errors.ClassifyError = (httpStatus, body) => {
  if (!isObject(body) || !isObject(body.error)) return {}
  const error = body.error
  const message = stringOf(error.message)
  const details = Array.isArray(error.details) ? error.details : []
  const reason = stringOf(detailOf(details, "ErrorInfo")?.reason)
  const status = stringOf(error.status)
  let tag = Errors.lookup(statusTags, status)
  if (reason !== undefined && authReasons.has(reason)) tag = "AuthenticationFailed"
  else if (tag === "RateLimited") {
    // The quota details decide: Gemini words a per-minute limit "You exceeded your current quota" too.
    if (unrecoverableQuota(details)) tag = "QuotaExhausted"
  } else tag = ErrorPatterns.refine(tag, { status: httpStatus, message })
  return { tag, message, retryAfter: retryDelay(details) }
}
