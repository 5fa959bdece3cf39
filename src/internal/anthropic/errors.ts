/** Classification of Anthropic error bodies and error events into `LlmError` tags. */
import type * as LlmError from "../../LlmError.js"
import * as ErrorPatterns from "../errorPatterns.js"
import * as Errors from "../errors.js"
import { isObject, type Json, stringOf } from "../json.js"

/** Types only Anthropic uses; `overloaded_error`, `billing_error` and the messages are in `errorPatterns`. */
const typeTags: Record<string, Errors.HttpErrorTag> = {
  rate_limit_error: "RateLimited",
  api_error: "ServerError",
  timeout_error: "Timeout",
  authentication_error: "AuthenticationFailed",
  permission_error: "AuthenticationFailed",
  not_found_error: "NotFound",
  // 413: a body over the byte limit, not a prompt over the context window.
  request_too_large: "InvalidRequest",
  invalid_request_error: "InvalidRequest"
}

/**
 * Reads an Anthropic error body `{"type":"error","error":{"type","message","details"},"request_id"}`: the error
 * `type` decides the tag where it says more than the status; where it is generic (`invalid_request_error`,
 * `api_error`, ...), a known message or `details.error_code` does.
 */
export const classifyError: Errors.ClassifyError = (status, body) => {
  if (!isObject(body)) return {}
  const error = body.error
  if (typeof error === "string") {
    return { tag: ErrorPatterns.refine(undefined, { status, message: error }), message: error }
  }
  if (!isObject(error)) return {}
  const message = stringOf(error.message)
  const type = stringOf(error.type)
  const details = isObject(error.details) ? error.details : {}
  const tag = Errors.lookup(typeTags, type)
  // A `request_too_large` event in a stream has no status: it is the 413 all the same (bytes, not tokens).
  const evidence = {
    status: status ?? (type === "request_too_large" ? 413 : undefined),
    codes: [type, stringOf(details.error_code)],
    message
  }
  return { tag: ErrorPatterns.refine(tag, evidence), message }
}

/** The error of an `error` event in a 200 stream (or an error object in a 200 body). */
export const errorEvent = (
  context: Errors.ErrorContext,
  json: Json,
  requestId: string | undefined,
  where: "stream" | "body" = "stream"
): LlmError.LlmError => Errors.fromErrorObject(context, classifyError, json, { requestId, where })
