/** Classification of OpenAI / Azure / OpenAI-compatible error bodies into `LlmError` tags. */
import * as ErrorPatterns from "../errorPatterns.js"
import * as Errors from "../errors.js"
import { isObject, stringOf } from "../json.js"

/** Codes only the OpenAI wire format uses; the shared ones (quota, context, filter, ...) are in `errorPatterns`. */
const codeTags: Record<string, Errors.HttpErrorTag> = {
  invalid_api_key: "AuthenticationFailed",
  model_not_found: "NotFound",
  DeploymentNotFound: "NotFound"
}

/**
 * Reads an OpenAI / Azure error body `{"error": {message, type, code, innererror | inner_error}}`, vLLM's
 * top-level `{"object": "error", message, type, code}` and Ollama's / LM Studio's `{"error": "message"}`. The
 * `code`, `type` and inner code decide the tag where they say more than the status (a 429 `insufficient_quota`
 * cannot be fixed by retrying); where they are generic, a known message does.
 */
export const classifyError: Errors.ClassifyError = (status, body) => {
  if (!isObject(body)) return {}
  if (typeof body.error === "string") {
    return { tag: ErrorPatterns.refine(undefined, { status, message: body.error }), message: body.error }
  }
  const fields = isObject(body.error) ? body.error : body.object === "error" ? body : undefined
  if (fields === undefined) return {}
  const code = stringOf(fields.code)
  const type = stringOf(fields.type)
  const inner = isObject(fields.innererror) ? fields.innererror : isObject(fields.inner_error) ? fields.inner_error : {}
  const message = stringOf(fields.message)
  const tag = Errors.lookup(codeTags, code) ?? Errors.lookup(codeTags, type)
  return { tag: ErrorPatterns.refine(tag, { status, codes: [code, type, stringOf(inner.code)], message }), message }
}
