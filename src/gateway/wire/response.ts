/**
 * Encoding a unified `ChatResponse` as an OpenAI `chat.completion` object.
 *
 * @since 0.2.0
 */
import * as ChatResponse from "../../ChatResponse.js"

/**
 * OpenAI's finish reasons.
 *
 * @since 0.2.0
 * @category models
 */
export type WireFinishReason = "stop" | "length" | "tool_calls" | "content_filter" | "function_call"

/**
 * The OpenAI `finish_reason` of a unified one. `error` and `other` have no OpenAI value (typed clients refuse
 * unknown ones): both are `"stop"`, the generation ended and nothing more will come.
 *
 * @example
 * ```ts
 * import { finishReason } from "liter-llm/gateway/wire"
 *
 * finishReason("tool-calls", false) // "tool_calls"
 * finishReason("tool-calls", true) // "function_call" (the client used the legacy `functions`)
 * ```
 *
 * @since 0.2.0
 * @category encoding
 */
export const finishReason = (reason: ChatResponse.FinishReason, legacyFunctions = false): WireFinishReason => {
  switch (reason) {
    case "length":
      return "length"
    case "tool-calls":
      return legacyFunctions ? "function_call" : "tool_calls"
    case "content-filter":
      return "content_filter"
    default:
      return "stop"
  }
}

/**
 * OpenAI's usage object: counts in tokens.
 *
 * @since 0.2.0
 * @category models
 */
export interface WireUsage {
  readonly prompt_tokens: number
  readonly completion_tokens: number
  readonly total_tokens: number
  readonly prompt_tokens_details?: { readonly cached_tokens: number }
  readonly completion_tokens_details?: { readonly reasoning_tokens: number }
}

/**
 * The OpenAI usage of a unified one; the details are present only when the provider reported them (never a
 * made-up 0).
 *
 * @since 0.2.0
 * @category encoding
 */
export const usage = (usage: ChatResponse.Usage): WireUsage => ({
  prompt_tokens: usage.inputTokens,
  completion_tokens: usage.outputTokens,
  total_tokens: usage.totalTokens,
  ...(usage.cachedInputTokens === undefined
    ? {}
    : { prompt_tokens_details: { cached_tokens: usage.cachedInputTokens } }),
  ...(usage.reasoningTokens === undefined
    ? {}
    : { completion_tokens_details: { reasoning_tokens: usage.reasoningTokens } })
})

/**
 * One tool call of an answer.
 *
 * @since 0.2.0
 * @category models
 */
export interface WireToolCall {
  readonly id: string
  readonly type: "function"
  readonly function: { readonly name: string; readonly arguments: string }
}

/**
 * The `chat.completion` object (one choice).
 *
 * @since 0.2.0
 * @category models
 */
export interface ChatCompletion {
  readonly id: string
  readonly object: "chat.completion"
  /** Unix time in seconds. */
  readonly created: number
  readonly model: string
  readonly choices: [{
    readonly index: 0
    readonly message: {
      readonly role: "assistant"
      readonly content: string | null
      readonly refusal: string | null
      /** The model's reasoning text, where DeepSeek, vLLM and OpenRouter clients read it. */
      readonly reasoning_content?: string
      readonly tool_calls?: ReadonlyArray<WireToolCall>
      readonly function_call?: { readonly name: string; readonly arguments: string }
    }
    readonly logprobs: null
    readonly finish_reason: WireFinishReason
  }]
  readonly usage?: WireUsage
  readonly system_fingerprint?: string
}

/**
 * What a `chat.completion` says besides the response: the model name the client asked for, its id and time.
 *
 * @since 0.2.0
 * @category models
 */
export interface EncodeOptions {
  /** The model name the client asked for: it is what the answer says (the upstream model is the server's to tell). */
  readonly model: string
  /** Default: the response's id. */
  readonly id?: string | undefined
  /** Unix time in seconds; default: now. */
  readonly created?: number | undefined
  /** Answer with the legacy `function_call` (the first tool call) instead of `tool_calls`. */
  readonly legacyFunctions?: boolean | undefined
}

/**
 * A tool call's `arguments` as a client gets it: `{}` for a call without arguments (OpenAI sends it so, and
 * clients parse the text), an empty text or `null` (Cohere's for an argument-less call), else the provider's text.
 *
 * @example
 * ```ts
 * import { argumentsText } from "liter-llm/gateway/wire"
 *
 * argumentsText("") // "{}"
 * argumentsText("null") // "{}"
 * argumentsText("{\"city\":\"Paris\"}") // unchanged
 * ```
 *
 * @since 0.2.0
 * @category encoding
 */
export const argumentsText = (raw: string): string => {
  const trimmed = raw.trim()
  return trimmed === "" || trimmed === "null" ? "{}" : raw
}

/**
 * The `chat.completion` object of a response: text as `content` (`null` when the answer is only tool calls),
 * tool calls with their raw `arguments` text, `refusal`, reasoning as `reasoning_content`, the finish reason
 * settled by the content, and usage in tokens.
 *
 * @example
 * ```ts
 * import { encodeChatCompletion } from "liter-llm/gateway/wire"
 * import type { ChatResponse } from "liter-llm"
 * declare const response: ChatResponse.ChatResponse
 *
 * const body = JSON.stringify(encodeChatCompletion(response, { model: "gpt-4o-mini", created: 1_700_000_000 }))
 * ```
 *
 * @since 0.2.0
 * @category encoding
 */
export const encodeChatCompletion = (response: ChatResponse.ChatResponse, options: EncodeOptions): ChatCompletion => {
  let text: string | undefined
  let refusal: string | undefined
  let reasoning: string | undefined
  const calls: Array<WireToolCall> = []
  for (const part of response.content) {
    switch (part.type) {
      case "text":
        text = (text ?? "") + part.text
        break
      case "refusal":
        refusal = (refusal ?? "") + part.text
        break
      case "reasoning":
        if (part.text !== "") reasoning = (reasoning ?? "") + part.text
        break
      case "tool-call":
        calls.push({
          id: part.id,
          type: "function",
          function: { name: part.name, arguments: argumentsText(part.rawArguments) }
        })
        break
    }
  }
  const legacy = options.legacyFunctions === true && calls.length > 0
  const fingerprint = response.providerMetadata?.systemFingerprint
  return {
    id: options.id ?? response.id,
    object: "chat.completion",
    created: options.created ?? Math.floor(Date.now() / 1000),
    model: options.model,
    choices: [{
      index: 0,
      message: {
        role: "assistant",
        content: text ?? (calls.length > 0 || refusal !== undefined ? null : ""),
        refusal: refusal ?? null,
        ...(reasoning === undefined ? {} : { reasoning_content: reasoning }),
        ...(calls.length === 0 ? {} : legacy ? { function_call: calls[0]!.function } : { tool_calls: calls })
      },
      logprobs: null,
      finish_reason: finishReason(
        ChatResponse.finishReasonFor(response.finishReason, calls.length > 0),
        options.legacyFunctions === true
      )
    }],
    ...(response.usage === undefined ? {} : { usage: usage(response.usage) }),
    ...(typeof fingerprint === "string" ? { system_fingerprint: fingerprint } : {})
  }
}
