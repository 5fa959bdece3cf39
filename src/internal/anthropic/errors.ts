/** Classification of Anthropic error bodies and error events into `LlmError` tags. */
import * as LlmError from "../../LlmError.js"
import * as Errors from "../errors.js"
import { isObject } from "../json.js"
import { stringOf } from "../json.js"

type Json = Record<string, unknown>

const typeTags: Record<string, Errors.HttpErrorTag> = {
  overloaded_error: "Overloaded",
  rate_limit_error: "RateLimited",
  api_error: "ServerError",
  timeout_error: "Timeout",
  authentication_error: "AuthenticationFailed",
  permission_error: "AuthenticationFailed",
  not_found_error: "NotFound",
  request_too_large: "InvalidRequest",
  billing_error: "QuotaExhausted"
}

const tagOf = (type: string | undefined, message: string | undefined): Errors.HttpErrorTag | undefined => {
  if (type === "invalid_request_error") {
    // "prompt is too long: 210000 tokens > 200000 maximum"; "input length and `max_tokens` exceed context limit"
    if (message !== undefined && /prompt is too long|exceed context limit|context window/i.test(message)) {
      return "ContextLengthExceeded"
    }
    // An empty prepaid balance is a 400 invalid_request_error, not a billing_error.
    if (message !== undefined && /credit balance is too low/i.test(message)) return "QuotaExhausted"
    return "InvalidRequest"
  }
  return Errors.lookup(typeTags, type)
}

/**
 * Reads an Anthropic error body `{"type":"error","error":{"type","message"},"request_id"}`: the error `type`
 * decides the tag where it says more than the status.
 */
export const classifyError: Errors.ClassifyError = (_status, body) => {
  if (!isObject(body)) return {}
  const error = body.error
  if (typeof error === "string") return { message: error }
  if (!isObject(error)) return {}
  const message = stringOf(error.message)
  return { tag: tagOf(stringOf(error.type), message), message }
}

/** The error of an `error` event in a 200 stream (or an error object in a 200 body). */
export const errorEvent = (
  context: Errors.ErrorContext,
  json: Json,
  requestId: string | undefined,
  where: "stream" | "body" = "stream"
): LlmError.LlmError => {
  const details = classifyError(undefined, json)
  return Errors.make(details.tag ?? "ServerError", {
    ...Errors.baseFields(context),
    ...(requestId === undefined ? {} : { requestId }),
    body: LlmError.truncateBody(Errors.scrub(JSON.stringify(json), context.secrets)),
    message: Errors.scrub(
      `${context.provider}: error ${where === "stream" ? "event in stream" : "object in a 200 body"}: ${
        details.message ?? "unknown error"
      }`,
      context.secrets
    )
  })
}
