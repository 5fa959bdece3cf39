/**
 * The pieces of Gemini response decoding shared by streamed and whole responses (a streamed chunk is a whole
 * `GenerateContentResponse`, so both go through the decoder of `stream.ts`).
 */
import * as Schema from "effect/Schema"
import type * as ChatResponse from "../../ChatResponse.js"
import * as Errors from "../errors.js"
import { countOf, isObject } from "../json.js"

const contentFilterReasons: ReadonlySet<string> = new Set([
  "SAFETY",
  "RECITATION",
  "BLOCKLIST",
  "PROHIBITED_CONTENT",
  "SPII",
  "IMAGE_SAFETY",
  "IMAGE_PROHIBITED_CONTENT",
  "IMAGE_RECITATION"
])

const errorReasons: ReadonlySet<string> = new Set([
  "MALFORMED_FUNCTION_CALL",
  "UNEXPECTED_TOOL_CALL",
  "TOO_MANY_TOOL_CALLS",
  "MISSING_THOUGHT_SIGNATURE",
  "MALFORMED_RESPONSE"
])

/** The unified finish reason of a Gemini `finishReason`; `STOP` after function calls is `tool-calls`. */
export const finishReason = (raw: string | undefined, hasToolCalls: boolean): ChatResponse.FinishReason => {
  if (raw === undefined) return "other"
  if (raw === "STOP") return hasToolCalls ? "tool-calls" : "stop"
  if (raw === "MAX_TOKENS") return "length"
  if (contentFilterReasons.has(raw)) return "content-filter"
  if (errorReasons.has(raw)) return "error"
  return "other"
}

/**
 * The unified usage of a `usageMetadata`, or `undefined` when it carries no counts (Vertex sends
 * `{trafficType}` alone on early chunks). Gemini's `candidatesTokenCount` excludes thinking, so
 * `outputTokens` adds `thoughtsTokenCount` (all billed output); `inputTokens` adds the tool-use prompt.
 */
export const usage = (meta: unknown): ChatResponse.Usage | undefined => {
  if (!isObject(meta)) return undefined
  const prompt = countOf(meta.promptTokenCount)
  const candidates = countOf(meta.candidatesTokenCount)
  const total = countOf(meta.totalTokenCount)
  if (prompt === undefined && candidates === undefined && total === undefined) return undefined
  const thoughts = countOf(meta.thoughtsTokenCount)
  const cached = countOf(meta.cachedContentTokenCount)
  const inputTokens = (prompt ?? 0) + (countOf(meta.toolUsePromptTokenCount) ?? 0)
  const outputTokens = (candidates ?? 0) + (thoughts ?? 0)
  return {
    inputTokens,
    outputTokens,
    totalTokens: total ?? inputTokens + outputTokens,
    ...(cached === undefined ? {} : { cachedInputTokens: cached }),
    ...(thoughts === undefined ? {} : { reasoningTokens: thoughts })
  }
}

/** The outline of a whole response, checked before decoding so a wrong shape names its path. */
const WireResponse = Schema.Struct({
  candidates: Schema.optional(Schema.Array(Schema.Struct({
    content: Schema.optional(Schema.Struct({
      role: Schema.optional(Schema.String),
      parts: Schema.optional(Schema.Array(Schema.Record({ key: Schema.String, value: Schema.Unknown })))
    })),
    finishReason: Schema.optional(Schema.String),
    index: Schema.optional(Schema.Number)
  }))),
  promptFeedback: Schema.optional(Schema.Struct({ blockReason: Schema.optional(Schema.String) })),
  usageMetadata: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  modelVersion: Schema.optional(Schema.String),
  responseId: Schema.optional(Schema.String)
})

const validateWire = Schema.decodeUnknownEither(WireResponse)

/**
 * Why a whole response does not have the `GenerateContentResponse` shape, if it does not. Pass the call's
 * `secrets`: a value shown is cut short, and a key cut in two would escape the scrubbing after.
 */
export const checkResponse = (json: unknown, secrets: ReadonlyArray<string> = []): string | undefined => {
  const result = validateWire(json)
  return result._tag === "Left" ? Errors.describeIssues(result.left, secrets) : undefined
}
