/** Classification of OpenAI / Azure error bodies into `LlmError` tags. */
import * as Errors from "../errors.js"
import { stringOf } from "../json.js"

const codeTags: Record<string, Errors.HttpErrorTag> = {
  insufficient_quota: "QuotaExhausted",
  billing_hard_limit_reached: "QuotaExhausted",
  context_length_exceeded: "ContextLengthExceeded",
  string_above_max_length: "ContextLengthExceeded",
  content_filter: "ContentFiltered",
  content_policy_violation: "ContentFiltered",
  invalid_api_key: "AuthenticationFailed",
  model_not_found: "NotFound",
  DeploymentNotFound: "NotFound"
}

/**
 * Reads an OpenAI / Azure error body `{"error": {message, type, code, innererror}}`. The `code` (or, for a
 * few errors, the `type`) decides the tag where it says more than the status: a 429 `insufficient_quota`
 * cannot be fixed by retrying.
 */
export const classifyError: Errors.ClassifyError = (_status, body) => {
  if (typeof body !== "object" || body === null || !("error" in body)) return {}
  const error = (body as { error: unknown }).error
  if (typeof error === "string") return { message: error }
  if (typeof error !== "object" || error === null) return {}
  const fields = error as Record<string, unknown>
  const code = stringOf(fields.code) ?? stringOf(fields.type)
  const inner = fields.innererror as Record<string, unknown> | undefined
  const innerCode = stringOf(inner?.code)
  const tag = Errors.lookup(codeTags, code) ??
    (innerCode === "ResponsibleAIPolicyViolation" ? "ContentFiltered" : undefined)
  return { tag, message: stringOf(fields.message) }
}
