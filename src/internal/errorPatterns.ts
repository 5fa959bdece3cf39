/**
 * The error codes and messages that say more than a provider's generic error type or status: a 400
 * `invalid_request_error` whose message says the prompt was filtered, a context-size error under an unusual code,
 * a 429 that is really an empty account. Every provider's classifier reads its own structured fields first and
 * consults {@link refine} only where they left a generic tag, so one list serves every provider.
 *
 * Codes are matched exactly; messages as lower-case substrings (all substrings of one entry must appear). Each
 * entry names where it was seen; an entry that is ambiguous across providers is left out rather than guessed.
 */
import type { HttpErrorTag } from "./errors.js"
import { tagForStatus } from "./errors.js"

/** Error codes and types (OpenAI `code` / `type`, Azure `innererror.code`, Anthropic `type`, ...) and their tag. */
export const codeTags: Readonly<Record<string, HttpErrorTag>> = {
  // OpenAI / Azure (chat completions and Responses `code`).
  context_length_exceeded: "ContextLengthExceeded",
  // OpenAI: one message longer than the API's string limit; see `notContextLength` for the `user` field.
  string_above_max_length: "ContextLengthExceeded",
  // llama.cpp server `type`: "request (6009 tokens) exceeds the available context size (4096 tokens)".
  exceed_context_size_error: "ContextLengthExceeded",
  // Azure `code` of a filtered prompt; OpenAI image and moderation endpoints.
  content_filter: "ContentFiltered",
  content_policy_violation: "ContentFiltered",
  // OpenAI: "Invalid prompt: your prompt was flagged as potentially violating our usage policy."
  invalid_prompt: "ContentFiltered",
  // Azure `innererror.code` / `inner_error.code` of a content-filter refusal.
  ResponsibleAIPolicyViolation: "ContentFiltered",
  // OpenAI billing and spend limits (429 or 400: no wait fixes them).
  insufficient_quota: "QuotaExhausted",
  billing_hard_limit_reached: "QuotaExhausted",
  billing_not_active: "QuotaExhausted",
  credit_balance_exhausted: "QuotaExhausted",
  organization_spend_limit_exceeded: "QuotaExhausted",
  project_spend_limit_exceeded: "QuotaExhausted",
  organization_usage_limit_exceeded: "QuotaExhausted",
  // Anthropic: `billing_error` type (402); `details.error_code` of a workspace spend limit.
  billing_error: "QuotaExhausted",
  enforced_spend_limit_reached: "QuotaExhausted",
  // Anthropic 529 `overloaded_error`; Moonshot sends `engine_overloaded_error` with a 429; Groq 498.
  overloaded_error: "Overloaded",
  engine_overloaded_error: "Overloaded",
  capacity_exceeded: "Overloaded"
}

/** One recognised message: every substring must appear in the lower-cased message. */
export type Needles = ReadonlyArray<string>

/** Messages of a prompt (plus requested output) over the model's context window. */
export const contextLengthMessages: ReadonlyArray<Needles> = [
  // OpenAI, Azure, vLLM, DeepSeek: "This model's maximum context length is 128000 tokens. However, ..."
  ["this model's maximum context length is"],
  // OpenRouter: "This endpoint's maximum context length is 131072 tokens. However, ..."
  ["this endpoint's maximum context length is"],
  // OpenAI Responses: "Your input exceeds the context window of this model. Please adjust your input and try again."
  ["your input exceeds the context window of this model"],
  // OpenAI Responses: "Input tokens exceed the configured limit of 272000 tokens. Your messages resulted in ..."
  ["input tokens exceed the configured limit"],
  // llama.cpp: "request (6009 tokens) exceeds the available context size (4096 tokens), try increasing it"
  ["exceeds the available context size"],
  // older llama.cpp: "the request exceeds the available context size" / "prompt is larger than the max context size"
  ["is larger than the max context size"],
  // Ollama: "the prompt is longer than the context length" / "input exceeds the context length"
  ["the prompt is longer than the context length"],
  ["exceeds the context length"],
  ["exceeds the model's maximum context length"],
  // LM Studio: "The number of tokens to keep from the initial prompt is greater than the context length. ..."
  ["greater than the context length"],
  // LM Studio (verbatim, word order included): "Trying to keep the first N tokens when context the overflows."
  ["when context the overflows"],
  // Groq and OpenAI: "... Please reduce the length of the messages or completion."
  ["please reduce the length of the messages or completion"],
  // Mistral: "Prompt contains 40000 tokens and 0 draft tokens, too large for model with 32768 maximum context length"
  ["too large for model with", "maximum context length"],
  // Together: "Input validation error: ... is longer than the model's context length (8193 > 8192)"
  ["is longer than the model's context length"],
  // Hugging Face TGI, Together: "`inputs` tokens + `max_new_tokens` must be <= 4096. Given: ..."
  ["`inputs` tokens + `max_new_tokens` must be"],
  // vLLM: "The decoder prompt (length 9000) is longer than the maximum model length of 8192."
  ["is longer than the maximum model length"],
  // Anthropic: "prompt is too long: 210000 tokens > 200000 maximum"; Cohere: "multi-hop prompt is too long ..."
  ["prompt is too long"],
  // Anthropic: "input length and `max_tokens` exceed context limit: 197626 + 21333 > 200000, ..."
  ["exceed context limit"],
  ["model's maximum context limit"],
  // Gemini: "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."
  ["exceeds the maximum number of tokens allowed"],
  // Cohere: "too many tokens: total number of tokens in the prompt cannot exceed 4081 - received 4554. ..."
  ["too many tokens: total number of tokens in the prompt cannot exceed"],
  // Cohere: "too many tokens: size limit exceeded by 11 tokens. Try using shorter or fewer inputs, ..."
  ["too many tokens: size limit exceeded by"],
  // Cohere: "minimal context could not be added to prompt (size limit exceeded by 280 tokens)"
  ["minimal context could not be added to prompt"],
  // Cerebras: "Please reduce the length of the messages or completion. Current length is 9000 while limit is 8192"
  ["current length is", "while limit is"],
  // OpenAI 429: "Request too large for gpt-4o in organization org-... on tokens per min (TPM): Limit 30000,
  // Requested 50000. The input or output tokens must be reduced in order to run successfully." One request is
  // over the per-minute budget: no wait fixes it, a shorter request does.
  ["request too large for", "tokens per min"]
]

/** Messages that look like a context-length error and are not (checked before the list above). */
export const notContextLength: ReadonlyArray<Needles> = [
  // Cohere: a bad `max_tokens` value, "too many tokens: max tokens must be less than or equal to 4096, ..."
  ["max tokens must be less than or equal to"],
  // OpenAI `string_above_max_length` on the `user` field: "Invalid 'user': string too long. ..."
  ["invalid 'user'"]
]

/** Messages of a prompt or an output blocked by the provider's content filter. */
export const contentFilterMessages: ReadonlyArray<Needles> = [
  // Azure: "The response was filtered due to the prompt triggering Azure OpenAI's content management policy."
  ["content management policy"],
  // OpenAI images: "Your request was rejected as a result of our safety system."
  ["rejected as a result of our safety system"],
  // OpenAI: "Invalid prompt: your prompt was flagged as potentially violating our usage policy."
  ["flagged as potentially violating our usage policy"],
  // OpenAI-compatible gateways: "The output was blocked by our content filters."
  ["blocked by our content filters"],
  // Anthropic (also an SSE `error` event): "Output blocked by content filtering policy"
  ["content filtering policy"],
  // Cohere: "blocked output: please adjust your prompt and try again, as it may be a potential violation of ..."
  ["blocked output: please adjust your prompt"],
  ["blocked input: please adjust your prompt"]
]

/** Messages of an account out of credit or over its spend limit: a wait does not fix it. */
export const quotaMessages: ReadonlyArray<Needles> = [
  // OpenAI: "You exceeded your current quota, please check your plan and billing details." (Gemini words its
  // per-minute free-tier limit the same way, so the Gemini classifier reads its quota details instead.)
  ["you exceeded your current quota"],
  // Anthropic (a 400 invalid_request_error): "Your credit balance is too low to access the Anthropic API."
  ["credit balance is too low"],
  // Anthropic: "You have reached your specified API usage limits. You will regain access on ..."
  ["reached your specified api usage limits"],
  // Cohere: "Maximum billing reached for this API key" / "please add or update your payment method"
  ["maximum billing reached"],
  ["please add or update your payment method"],
  // DeepSeek 402: "Insufficient Balance"
  ["insufficient balance"],
  // OpenRouter 402: "Insufficient credits. Add more using https://openrouter.ai/credits"
  ["insufficient credits"]
]

/** Messages of a provider out of capacity for now: retryable. */
export const overloadedMessages: ReadonlyArray<Needles> = [
  // OpenAI 503: "That model is currently overloaded with other requests. You can retry your request, ..."
  ["currently overloaded with other requests"],
  // OpenAI (older engines): "The engine is currently overloaded, please try again later"
  ["engine is currently overloaded"],
  // Gemini 503 UNAVAILABLE: "The model is overloaded. Please try again later."
  ["the model is overloaded"],
  // Vertex AI: "The service is temporarily out of capacity. Please try again later."
  ["temporarily out of capacity"],
  // Mistral 429: "Service tier capacity exceeded for this model."
  ["service tier capacity exceeded"]
]

/** Tags a message or code may refine: the ones a status or a generic type gives. */
const generic: ReadonlySet<HttpErrorTag | undefined> = new Set([
  undefined,
  "InvalidRequest",
  "RateLimited",
  "ServerError",
  "Overloaded"
])

/** Tags an `Overloaded` message may refine: a caller's 4xx never turns into a retryable error by its wording. */
const retryableGeneric: ReadonlySet<HttpErrorTag | undefined> = new Set([undefined, "RateLimited", "ServerError"])

const normalise = (message: string): string => message.toLowerCase().replace(/[\u2018\u2019]/g, "'")

const matchesAny = (text: string, list: ReadonlyArray<Needles>): boolean =>
  list.some((needles) => needles.every((needle) => text.includes(needle)))

/** What a classifier read off an error, beyond its structured tag. */
export interface Evidence {
  /** The HTTP status, or the status an error object carries inside a 200 stream. */
  readonly status?: number | undefined
  /** Generic codes and types, in order of precedence (`code`, `type`, inner codes). */
  readonly codes?: ReadonlyArray<string | undefined> | undefined
  readonly message?: string | undefined
}

/** The tag a known message gives, if any (a 413 byte limit is never a context-length error). */
export const messageTag = (message: string, status?: number | undefined): HttpErrorTag | undefined => {
  const text = normalise(message)
  if (matchesAny(text, contentFilterMessages)) return "ContentFiltered"
  if (status !== 413 && !matchesAny(text, notContextLength) && matchesAny(text, contextLengthMessages)) {
    return "ContextLengthExceeded"
  }
  if (matchesAny(text, quotaMessages)) return "QuotaExhausted"
  if (matchesAny(text, overloadedMessages)) return "Overloaded"
  return undefined
}

/** The tag the first known code gives, if any. */
export const codeTag = (codes: ReadonlyArray<string | undefined>, message?: string | undefined) => {
  for (const code of codes) {
    const tag = code !== undefined && Object.hasOwn(codeTags, code) ? codeTags[code] : undefined
    if (tag === "ContextLengthExceeded" && message !== undefined && matchesAny(normalise(message), notContextLength)) {
      continue
    }
    if (tag !== undefined) return tag
  }
  return undefined
}

/**
 * Refines a classifier's tag (`undefined` when its structured fields said nothing) by known codes, then known
 * messages. A specific tag (authentication, not found, context length, filter, quota, timeout) is kept as is; a
 * generic one (none, `InvalidRequest`, `RateLimited`, `ServerError`, `Overloaded`, also as the status gives it)
 * may become the tag a caller acts on. An `Overloaded` message never turns a 4xx caller error retryable.
 */
export const refine = (tag: HttpErrorTag | undefined, evidence: Evidence): HttpErrorTag | undefined => {
  const effective = tag ?? (evidence.status === undefined ? undefined : tagForStatus(evidence.status))
  if (!generic.has(effective)) return tag
  const byCode = codeTag(evidence.codes ?? [], evidence.message)
  if (byCode !== undefined) return byCode
  const byMessage = evidence.message === undefined ? undefined : messageTag(evidence.message, evidence.status)
  if (byMessage === undefined || byMessage === effective) return tag
  if (byMessage === "Overloaded" && !retryableGeneric.has(effective)) return tag
  return byMessage
}
