/** Decoding of a whole Anthropic Messages response: content blocks, usage, finish reasons, rate-limit headers. */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as ChatResponse from "../../ChatResponse.js"
import type * as LlmError from "../../LlmError.js"
import * as Errors from "../errors.js"
import type * as Headers from "../headers.js"
import { isObject, type Json, nonEmpty } from "../json.js"
import { errorEvent } from "./errors.js"
import { redactedPrefix } from "./request.js"

export interface Call {
  readonly formatTool: string | undefined
  readonly headers: Headers.HeaderRecord | undefined
}

const optionalNullable = <S extends Schema.Schema.Any>(schema: S) => Schema.optional(Schema.NullOr(schema))

const WireUsage = Schema.Struct({
  input_tokens: Schema.Number,
  output_tokens: Schema.Number,
  cache_creation_input_tokens: optionalNullable(Schema.Number),
  cache_read_input_tokens: optionalNullable(Schema.Number),
  output_tokens_details: optionalNullable(Schema.Struct({ thinking_tokens: optionalNullable(Schema.Number) })),
  service_tier: optionalNullable(Schema.String)
})

const knownBlocks: ReadonlyArray<string> = ["text", "tool_use", "thinking", "redacted_thinking"]

const WireBlock = Schema.Union(
  Schema.Struct({ type: Schema.Literal("text"), text: Schema.String }),
  Schema.Struct({ type: Schema.Literal("tool_use"), id: Schema.String, name: Schema.String, input: Schema.Unknown }),
  Schema.Struct({
    type: Schema.Literal("thinking"),
    thinking: Schema.String,
    signature: optionalNullable(Schema.String)
  }),
  Schema.Struct({ type: Schema.Literal("redacted_thinking"), data: Schema.String }),
  // Server tools and their results, ...: not part of the unified model.
  Schema.transform(
    Schema.Struct({ type: Schema.String.pipe(Schema.filter((type) => !knownBlocks.includes(type))) }),
    Schema.Struct({ type: Schema.Literal("other") }),
    { strict: true, decode: () => ({ type: "other" as const }), encode: (block) => block }
  )
)

const WireMessage = Schema.Struct({
  id: Schema.String,
  model: Schema.String,
  content: Schema.Array(WireBlock),
  stop_reason: optionalNullable(Schema.String),
  stop_sequence: optionalNullable(Schema.String),
  stop_details: Schema.optional(Schema.Unknown),
  usage: optionalNullable(WireUsage)
})

const decodeWire = Schema.decodeUnknownEither(WireMessage)

/** The usage fields read from a `usage` object (all optional: stream events carry subsets). */
export interface UsageFields {
  readonly input_tokens?: number | undefined
  readonly output_tokens?: number | undefined
  readonly cache_creation_input_tokens?: number | null | undefined
  readonly cache_read_input_tokens?: number | null | undefined
  readonly output_tokens_details?: { readonly thinking_tokens?: number | null | undefined } | null | undefined
}

/**
 * The unified usage. Anthropic's `input_tokens` excludes cache reads and writes; `inputTokens` is the whole
 * prompt (`input_tokens + cache_read_input_tokens + cache_creation_input_tokens`), of which `cachedInputTokens`
 * were read from and `cacheWriteTokens` written to the cache.
 */
export const usage = (wire: UsageFields): ChatResponse.Usage => {
  const read = wire.cache_read_input_tokens
  const write = wire.cache_creation_input_tokens
  const thinking = wire.output_tokens_details?.thinking_tokens
  const inputTokens = (wire.input_tokens ?? 0) + (read ?? 0) + (write ?? 0)
  const outputTokens = wire.output_tokens ?? 0
  return {
    inputTokens,
    outputTokens,
    totalTokens: inputTokens + outputTokens,
    ...(read == null ? {} : { cachedInputTokens: read }),
    ...(write == null ? {} : { cacheWriteTokens: write }),
    ...(thinking == null ? {} : { reasoningTokens: thinking })
  }
}

/** The unified finish reason of a `stop_reason`; `tool_use` of the forced format tool is a plain stop. */
export const finishReason = (raw: string | null | undefined, formatUsed: boolean): ChatResponse.FinishReason => {
  switch (raw) {
    case "end_turn":
    case "stop_sequence":
      return "stop"
    case "max_tokens":
    case "model_context_window_exceeded":
      return "length"
    case "tool_use":
      return formatUsed ? "stop" : "tool-calls"
    case "refusal":
      return "content-filter"
    default:
      return "other"
  }
}

const camelCase = (name: string): string => name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase())

/**
 * Every `anthropic-ratelimit-*` header, camel-cased without the prefix (`requestsRemaining`, `tokensReset`,
 * `inputTokensLimit`, ...): counts as numbers, resets as the RFC 3339 strings sent.
 */
export const rateLimit = (headers: Headers.HeaderRecord | undefined): Record<string, number | string> | undefined => {
  const prefix = "anthropic-ratelimit-"
  const out: Record<string, number | string> = {}
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined || !name.startsWith(prefix)) continue
    out[camelCase(name.slice(prefix.length))] = /^\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : value
  }
  return Object.keys(out).length === 0 ? undefined : out
}

/** The metadata known from the response headers: request id and rate limits. */
export const headerMetadata = (requestId: string | undefined, headers: Headers.HeaderRecord | undefined): Json => {
  const limits = rateLimit(headers)
  return {
    ...(requestId === undefined ? {} : { requestId }),
    ...(limits === undefined ? {} : { rateLimit: limits })
  }
}

/** The metadata of a stop: the stop sequence matched and the `stop_details` (e.g. a refusal's explanation). */
export const stopMetadata = (stopSequence: unknown, stopDetails: unknown): Json => ({
  ...(nonEmpty(stopSequence) ? { stopSequence } : {}),
  ...(stopDetails === undefined || stopDetails === null ? {} : { stopDetails })
})

/** The words of a refusal: `stop_details.explanation` of a `refusal` stop, sent as refusal content. */
export const refusalText = (stopReason: unknown, stopDetails: unknown): string | undefined =>
  stopReason === "refusal" && isObject(stopDetails) && nonEmpty(stopDetails.explanation)
    ? stopDetails.explanation
    : undefined

/** Decodes a non-streaming Messages response. */
export const decodeResponse = (
  json: unknown,
  raw: { readonly text: string; readonly status: number; readonly requestId: string | undefined },
  context: Errors.ErrorContext,
  call: Call
): Effect.Effect<ChatResponse.ChatResponse, LlmError.LlmError> => {
  if (isObject(json) && json.type === "error") return Effect.fail(errorEvent(context, json, raw.requestId, "body"))
  const decoded = decodeWire(json)
  if (decoded._tag === "Left") {
    return Effect.fail(Errors.malformed(context, Errors.describeIssues(decoded.left, context.secrets), raw.text, raw))
  }
  const wire = decoded.right
  const content: Array<ChatResponse.ContentPart> = []
  let formatUsed = false
  for (const block of wire.content) {
    switch (block.type) {
      case "text":
        if (block.text !== "") content.push({ type: "text", text: block.text })
        break
      case "thinking":
        content.push({
          type: "reasoning",
          text: block.thinking,
          ...(nonEmpty(block.signature) ? { signature: block.signature } : {})
        })
        break
      case "redacted_thinking":
        content.push({ type: "reasoning", text: "", signature: redactedPrefix + block.data, redacted: true })
        break
      case "tool_use": {
        const rawArguments = JSON.stringify(block.input ?? {})
        if (block.name === call.formatTool) {
          formatUsed = true
          content.push({ type: "text", text: rawArguments })
        } else {
          content.push({ type: "tool-call", id: block.id, name: block.name, arguments: block.input, rawArguments })
        }
        break
      }
    }
  }
  const refusal = refusalText(wire.stop_reason, wire.stop_details)
  if (refusal !== undefined) content.push({ type: "refusal", text: refusal })
  const metadata: Json = {
    ...headerMetadata(raw.requestId, call.headers),
    ...stopMetadata(wire.stop_sequence, wire.stop_details),
    ...(nonEmpty(wire.usage?.service_tier) ? { serviceTier: wire.usage.service_tier } : {})
  }
  return Effect.succeed({
    id: wire.id,
    provider: context.provider,
    model: wire.model,
    content,
    finishReason: finishReason(wire.stop_reason, formatUsed),
    ...(wire.stop_reason == null ? {} : { rawFinishReason: wire.stop_reason }),
    ...(wire.usage == null ? {} : { usage: usage(wire.usage) }),
    ...(Object.keys(metadata).length === 0 ? {} : { providerMetadata: metadata })
  })
}
