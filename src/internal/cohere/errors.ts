/** Classification of Cohere error bodies into `LlmError` tags. */
import * as ErrorPatterns from "../errorPatterns.js"
import type * as Errors from "../errors.js"
import { isObject, nonEmpty } from "../json.js"

/** "You are using a Trial key, which is limited to 40 API calls / minute. ..." waits out; a monthly cap does not. */
const trialKeyTag = (status: number | undefined, message: string): Errors.HttpErrorTag | undefined =>
  status === 429 && /trial key/i.test(message)
    ? /\/\s*month|per month|monthly/i.test(message) ? "QuotaExhausted" : "RateLimited"
    : undefined

/**
 * Reads a Cohere error body `{"id": "...", "message": "..."}`: the message becomes the error's, and decides the
 * tag where it says more than the status (a trial key's monthly cap here; context length, blocked content and
 * billing through the shared known messages).
 */
export const classifyError: Errors.ClassifyError = (status, body) => {
  if (!isObject(body) || !nonEmpty(body.message)) return {}
  return {
    tag: ErrorPatterns.refine(trialKeyTag(status, body.message), { status, message: body.message }),
    message: body.message
  }
}
