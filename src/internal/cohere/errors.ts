/** Classification of Cohere error bodies into `LlmError` tags. */
import type * as Errors from "../errors.js"
import { isObject, nonEmpty } from "../json.js"

const tagOf = (status: number | undefined, message: string): Errors.HttpErrorTag | undefined => {
  // "too many tokens: size limit exceeded by 11 tokens. Try using shorter or fewer inputs, ..."
  if (status !== 429 && /too many tokens|context length|context window/i.test(message)) {
    return "ContextLengthExceeded"
  }
  // "blocked input: please adjust your prompt and try again, ..."
  if (/^blocked (input|output)\b/i.test(message)) return "ContentFiltered"
  // "You are using a Trial key, which is limited to 40 API calls / minute. ..." waits out; a monthly cap does not.
  if (status === 429 && /trial key/i.test(message)) {
    return /\/\s*month|per month|monthly/i.test(message) ? "QuotaExhausted" : "RateLimited"
  }
  return undefined
}

/**
 * Reads a Cohere error body `{"id": "...", "message": "..."}`: the message becomes the error's, and decides the
 * tag where it says more than the status (context length, blocked content, a trial key's monthly cap).
 */
export const classifyError: Errors.ClassifyError = (status, body) => {
  if (!isObject(body) || !nonEmpty(body.message)) return {}
  return { tag: tagOf(status, body.message), message: body.message }
}
