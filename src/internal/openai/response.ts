/** Decoding of a whole OpenAI Chat Completions response: finish reasons, usage, content and tool calls. */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as ChatResponse from "../../ChatResponse.js"
import * as LlmError from "../../LlmError.js"
import * as StreamPart from "../../StreamPart.js"
import * as Errors from "../errors.js"
import { isObject } from "../json.js"
import * as ContentParts from "./contentParts.js"
import * as OpenAiErrors from "./errors.js"

const optionalNullable = <S extends Schema.Schema.Any>(schema: S) => Schema.optional(Schema.NullOr(schema))

const WireFunction = Schema.Struct({ name: Schema.String, arguments: optionalNullable(Schema.String) })

const WireToolCall = Schema.Struct({
  // Some compatible servers send no id: the call then gets the one a stream would give it.
  id: optionalNullable(Schema.String),
  type: Schema.optional(Schema.String),
  function: WireFunction
})

const WireUsage = Schema.Struct({
  prompt_tokens: Schema.Number,
  completion_tokens: Schema.Number,
  total_tokens: Schema.optional(Schema.Number),
  prompt_tokens_details: optionalNullable(Schema.Struct({ cached_tokens: optionalNullable(Schema.Number) })),
  completion_tokens_details: optionalNullable(Schema.Struct({ reasoning_tokens: optionalNullable(Schema.Number) }))
})

/** A usage object as sent in both non-streaming responses and the final stream chunk. */
export type WireUsage = typeof WireUsage.Type

const WireChoice = Schema.Struct({
  index: Schema.optional(Schema.Number),
  message: Schema.Struct({
    // A list of parts from some compatible servers (see `contentParts.ts`).
    content: optionalNullable(Schema.Union(Schema.String, Schema.Array(Schema.Unknown))),
    refusal: optionalNullable(Schema.String),
    // OpenAI-compatible servers put reasoning here: `reasoning_content` (DeepSeek, vLLM), `reasoning` (OpenRouter,
    // newer vLLM), as in their stream deltas.
    reasoning_content: optionalNullable(Schema.String),
    reasoning: optionalNullable(Schema.String),
    tool_calls: optionalNullable(Schema.Array(WireToolCall)),
    // The deprecated single call of older models and some compatible servers.
    function_call: optionalNullable(WireFunction)
  }),
  finish_reason: optionalNullable(Schema.String),
  content_filter_results: Schema.optional(Schema.Unknown)
})

const WireResponse = Schema.Struct({
  // Absent or null (some compatible servers): the unified response's id is then "".
  id: optionalNullable(Schema.String),
  model: optionalNullable(Schema.String),
  choices: Schema.Array(WireChoice),
  usage: optionalNullable(WireUsage),
  system_fingerprint: optionalNullable(Schema.String),
  service_tier: optionalNullable(Schema.String),
  prompt_filter_results: Schema.optional(Schema.Unknown)
})

const decodeWire = Schema.decodeUnknownEither(WireResponse)

/** The unified finish reason of an OpenAI `finish_reason`. */
export const finishReason = (raw: string | null | undefined): ChatResponse.FinishReason => {
  switch (raw) {
    case "stop":
      return "stop"
    case "length":
      return "length"
    case "tool_calls":
    case "function_call":
      return "tool-calls"
    case "content_filter":
      return "content-filter"
    default:
      return "other"
  }
}

/** The unified usage of an OpenAI usage object. */
export const usage = (wire: WireUsage): ChatResponse.Usage => {
  const cached = wire.prompt_tokens_details?.cached_tokens
  const reasoning = wire.completion_tokens_details?.reasoning_tokens
  return {
    inputTokens: wire.prompt_tokens,
    outputTokens: wire.completion_tokens,
    totalTokens: wire.total_tokens ?? wire.prompt_tokens + wire.completion_tokens,
    ...(cached == null ? {} : { cachedInputTokens: cached }),
    ...(reasoning == null ? {} : { reasoningTokens: reasoning })
  }
}

/**
 * A tool call's id, made unique within its answer: a server that gives two calls one id (a bug some compatible
 * servers have) would leave a client unable to tell their results apart, and a stream's calls by id merged.
 * The later call gets `<id>_<position>`; the same in whole answers and streams.
 */
export const uniqueCallId = (used: Set<string>, id: string, position: number): string => {
  let unique = id
  while (used.has(unique)) unique = `${unique}_${position}`
  used.add(unique)
  return unique
}

/** Decodes a non-streaming chat completion. */
export const decodeResponse = (
  json: unknown,
  raw: { readonly text: string; readonly status: number; readonly requestId: string | undefined },
  context: Errors.ErrorContext
): Effect.Effect<ChatResponse.ChatResponse, LlmError.LlmError> => {
  // A compatible server may answer 200 with its error object (`{"error": ...}`, vLLM's `{"object": "error"}`).
  if (isObject(json) && Errors.isErrorObject(json)) {
    return Effect.fail(
      Errors.fromErrorObject(context, OpenAiErrors.classifyError, json, { requestId: raw.requestId, where: "body" })
    )
  }
  const decoded = decodeWire(json)
  if (decoded._tag === "Left") {
    return Effect.fail(Errors.malformed(context, Errors.describeIssues(decoded.left, context.secrets), raw.text, raw))
  }
  const wire = decoded.right
  const choice = wire.choices[0]
  if (choice === undefined) {
    return Effect.fail(
      new LlmError.EmptyResponse({
        ...Errors.baseFields(context),
        status: raw.status,
        ...(raw.requestId === undefined ? {} : { requestId: raw.requestId }),
        body: LlmError.truncateBody(Errors.scrub(raw.text, context.secrets)),
        message: `${context.provider}: the response has no choices`
      })
    )
  }
  const content: Array<ChatResponse.ContentPart> = []
  const message = choice.message
  const reasoning = message.reasoning_content ?? message.reasoning
  if (reasoning != null && reasoning !== "") content.push({ type: "reasoning", text: reasoning })
  if (typeof message.content === "string") {
    if (message.content !== "") content.push({ type: "text", text: message.content })
  } else if (message.content != null) {
    const listed = ContentParts.pieces(message.content)
    if (typeof listed === "string") return Effect.fail(Errors.malformed(context, `message.${listed}`, raw.text, raw))
    for (const piece of listed) content.push(piece)
  }
  if (message.refusal != null && message.refusal !== "") content.push({ type: "refusal", text: message.refusal })
  const calls = message.tool_calls != null && message.tool_calls.length > 0
    ? message.tool_calls
    : message.function_call == null
    ? []
    : [{ function: message.function_call }]
  const ids = new Set<string>()
  calls.forEach((call, index) => {
    const rawArguments = call.function.arguments ?? ""
    content.push({
      type: "tool-call",
      id: uniqueCallId(ids, "id" in call && call.id != null && call.id !== "" ? call.id : `call_${index}`, index),
      name: call.function.name,
      arguments: StreamPart.parseArguments(rawArguments),
      rawArguments
    })
  })
  const metadata: Record<string, unknown> = {}
  if (wire.system_fingerprint != null) metadata.systemFingerprint = wire.system_fingerprint
  if (wire.service_tier != null) metadata.serviceTier = wire.service_tier
  if (wire.prompt_filter_results !== undefined) metadata.promptFilterResults = wire.prompt_filter_results
  if (choice.content_filter_results !== undefined) metadata.contentFilterResults = choice.content_filter_results
  if (raw.requestId !== undefined) metadata.requestId = raw.requestId
  return Effect.succeed({
    id: wire.id ?? "",
    provider: context.provider,
    model: wire.model ?? context.model ?? "",
    content,
    finishReason: finishReason(choice.finish_reason),
    ...(choice.finish_reason == null ? {} : { rawFinishReason: choice.finish_reason }),
    ...(wire.usage == null ? {} : { usage: usage(wire.usage) }),
    ...(Object.keys(metadata).length === 0 ? {} : { providerMetadata: metadata })
  })
}
