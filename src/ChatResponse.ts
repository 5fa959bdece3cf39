/**
 * The unified response every provider is decoded into.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import type * as ChatRequest from "./ChatRequest.js"

/**
 * Text the model answered.
 *
 * @since 0.1.0
 * @category parts
 */
export const TextContent = Schema.Struct({
  type: Schema.Literal("text"),
  text: Schema.String
})

/**
 * Model reasoning ("thinking"); `signature` lets it be sent back to the provider that made it.
 *
 * @since 0.1.0
 * @category parts
 */
export const ReasoningContent = Schema.Struct({
  type: Schema.Literal("reasoning"),
  text: Schema.String,
  signature: Schema.optional(Schema.String),
  redacted: Schema.optional(Schema.Boolean)
})

/**
 * A tool call. `arguments` is the parsed JSON (`undefined` when `rawArguments` is not valid JSON, e.g. cut
 * off by `maxTokens`); `rawArguments` is the text the provider sent.
 *
 * @since 0.1.0
 * @category parts
 */
export const ToolCallContent = Schema.Struct({
  type: Schema.Literal("tool-call"),
  id: Schema.String,
  name: Schema.String,
  arguments: Schema.Unknown,
  rawArguments: Schema.String
})

/**
 * The model declined to answer (OpenAI `refusal`).
 *
 * @since 0.1.0
 * @category parts
 */
export const RefusalContent = Schema.Struct({
  type: Schema.Literal("refusal"),
  text: Schema.String
})

/**
 * One part of an answer: text, reasoning, a refusal or a tool call, in the order the model produced them.
 *
 * @since 0.1.0
 * @category parts
 */
export const ContentPart = Schema.Union(TextContent, ReasoningContent, ToolCallContent, RefusalContent)

/**
 * One part of an answer: text, reasoning, a refusal or a tool call, in the order the model produced them.
 *
 * @since 0.1.0
 * @category parts
 */
export type ContentPart = typeof ContentPart.Type

/**
 * A call of one of the request's tools: its id, name, parsed arguments and their raw JSON text.
 *
 * @since 0.1.0
 * @category parts
 */
export type ToolCall = typeof ToolCallContent.Type

/**
 * Why generation stopped, unified across providers; the provider's own value is kept in `rawFinishReason`.
 *
 * @since 0.1.0
 * @category models
 */
export const FinishReason = Schema.Literal("stop", "length", "tool-calls", "content-filter", "error", "other")

/**
 * Why the model stopped, the same for every provider (the provider's own value is kept in `rawFinishReason`).
 *
 * @since 0.1.0
 * @category models
 */
export type FinishReason = typeof FinishReason.Type

/**
 * The finish reason a response's content bears out: `tool-calls` only when it carries a tool call (a tool loop
 * would otherwise have nothing to run: it is then `other`, the provider's value staying in `rawFinishReason`),
 * and a plain `stop` that carries tool calls is `tool-calls` (some servers, and OpenAI with a forced tool, say
 * `stop`). Applied to every provider's responses and stream `finish` parts alike.
 *
 * @example
 * ```ts
 * import { ChatResponse } from "liter-llm"
 *
 * ChatResponse.finishReasonFor("tool-calls", false) // "other"
 * ChatResponse.finishReasonFor("stop", true) // "tool-calls"
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const finishReasonFor = (finishReason: FinishReason, hasToolCalls: boolean): FinishReason => {
  if (hasToolCalls) return finishReason === "stop" ? "tool-calls" : finishReason
  return finishReason === "tool-calls" ? "other" : finishReason
}

/**
 * Token usage. Totals reported by a provider replace earlier ones, they are never added.
 *
 * @since 0.1.0
 * @category models
 */
export const Usage = Schema.Struct({
  inputTokens: Schema.Number,
  outputTokens: Schema.Number,
  totalTokens: Schema.Number,
  /** Input tokens read from the provider's prompt cache (included in `inputTokens`). */
  cachedInputTokens: Schema.optional(Schema.Number),
  /** Input tokens written to the provider's prompt cache. */
  cacheWriteTokens: Schema.optional(Schema.Number),
  /** Output tokens spent on reasoning (included in `outputTokens`). */
  reasoningTokens: Schema.optional(Schema.Number)
})

/**
 * Tokens of a call as the provider reported them: input (cache reads and writes included), output (reasoning
 * included) and their total.
 *
 * @since 0.1.0
 * @category models
 */
export type Usage = typeof Usage.Type

/**
 * The response schema.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ChatResponse = Schema.Struct({
  id: Schema.String,
  provider: Schema.String,
  model: Schema.String,
  content: Schema.Array(ContentPart),
  finishReason: FinishReason,
  rawFinishReason: Schema.optional(Schema.String),
  /** Absent when the provider reported none. */
  usage: Schema.optional(Usage),
  /**
   * The cost of this call in USD, from `Pricing` and `usage`; absent when the model has no known price or the
   * provider reported no usage (never a silent 0). A cached answer costs 0.
   */
  costUsd: Schema.optional(Schema.Number),
  /** The answer came from a cache (the `Cache` policy), not from the provider. */
  cached: Schema.optional(Schema.Boolean),
  /** What only this provider returns (Azure content-filter results, system fingerprint, ...). */
  providerMetadata: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown }))
})

/**
 * A whole answer, decoded from any provider into one shape.
 *
 * @since 0.1.0
 * @category models
 */
export type ChatResponse = typeof ChatResponse.Type

/**
 * The response with the finish reason its content bears out (see {@link finishReasonFor}).
 *
 * @example
 * ```ts
 * import { ChatResponse } from "liter-llm"
 * declare const response: ChatResponse.ChatResponse
 *
 * const settled = ChatResponse.withSettledFinishReason(response)
 * ```
 *
 * @since 0.1.0
 * @category conversions
 */
export const withSettledFinishReason = (response: ChatResponse): ChatResponse => {
  const finishReason = finishReasonFor(
    response.finishReason,
    response.content.some((part) => part.type === "tool-call")
  )
  return finishReason === response.finishReason ? response : { ...response, finishReason }
}

/**
 * The text of a response: all text parts joined.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ChatResponse, LanguageModel } from "liter-llm"
 *
 * const answer = LanguageModel.generate({ messages: [{ role: "user", content: "Hi" }] }).pipe(
 *   Effect.map(ChatResponse.text)
 * )
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const text = (response: ChatResponse): string => {
  let out = ""
  for (const part of response.content) {
    if (part.type === "text") out += part.text
  }
  return out
}

/**
 * The reasoning text of a response, joined.
 *
 * @since 0.1.0
 * @category getters
 */
export const reasoning = (response: ChatResponse): string => {
  let out = ""
  for (const part of response.content) {
    if (part.type === "reasoning") out += part.text
  }
  return out
}

/**
 * The tool calls of a response, in order.
 *
 * @since 0.1.0
 * @category getters
 */
export const toolCalls = (response: ChatResponse): ReadonlyArray<ToolCall> =>
  response.content.filter((part): part is ToolCall => part.type === "tool-call")

/**
 * The refusal text, if the model refused.
 *
 * @since 0.1.0
 * @category getters
 */
export const refusal = (response: ChatResponse): string | undefined => {
  const parts = response.content.filter((part) => part.type === "refusal")
  return parts.length === 0 ? undefined : parts.map((part) => part.text).join("")
}

/**
 * The response as an assistant message, to append to the conversation (e.g. before tool results).
 *
 * @example
 * ```ts
 * import { ChatResponse } from "liter-llm"
 * declare const response: ChatResponse.ChatResponse
 *
 * const next = [ChatResponse.toMessage(response), {
 *   role: "tool" as const,
 *   content: ChatResponse.toolCalls(response).map((call) => ({
 *     type: "tool-result" as const, toolCallId: call.id, toolName: call.name, result: { temperature: 21 }
 *   }))
 * }]
 * ```
 *
 * @since 0.1.0
 * @category conversions
 */
export const toMessage = (response: ChatResponse): typeof ChatRequest.AssistantMessage.Type => {
  const content: Array<typeof ChatRequest.AssistantMessage.Type["content"][number] & object> = []
  for (const part of response.content) {
    switch (part.type) {
      case "text":
        content.push({ type: "text", text: part.text })
        break
      case "reasoning":
        content.push(
          part.signature === undefined
            ? { type: "reasoning", text: part.text }
            : { type: "reasoning", text: part.text, signature: part.signature }
        )
        break
      case "tool-call":
        content.push({ type: "tool-call", id: part.id, name: part.name, arguments: part.arguments ?? {} })
        break
      case "refusal":
        content.push({ type: "text", text: part.text })
        break
    }
  }
  return { role: "assistant", content }
}
