/** Decoding of a whole Cohere v2 Chat response: content, tool calls, finish reasons, usage, trial rate-limit headers. */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as ChatResponse from "../../ChatResponse.js"
import * as LlmError from "../../LlmError.js"
import * as StreamPart from "../../StreamPart.js"
import * as ErrorPatterns from "../errorPatterns.js"
import * as Errors from "../errors.js"
import type * as Headers from "../headers.js"
import { countOf, isObject, type Json, nonEmpty } from "../json.js"
import * as CohereErrors from "./errors.js"

export interface Call {
  readonly headers: Headers.HeaderRecord | undefined
}

const optionalNullable = <S extends Schema.Schema.Any>(schema: S) => Schema.optional(Schema.NullOr(schema))

const WireToolCall = Schema.Struct({
  id: Schema.String,
  type: optionalNullable(Schema.String),
  function: Schema.Struct({ name: Schema.String, arguments: optionalNullable(Schema.String) })
})

// Only `text` and `thinking` items are part of the unified model; others are skipped.
const WireContent = Schema.Struct({
  type: Schema.String,
  text: optionalNullable(Schema.String),
  thinking: optionalNullable(Schema.String)
})

const WireResponse = Schema.Struct({
  id: Schema.String,
  finish_reason: optionalNullable(Schema.String),
  message: Schema.Struct({
    role: optionalNullable(Schema.String),
    content: optionalNullable(Schema.Array(WireContent)),
    tool_plan: optionalNullable(Schema.String),
    tool_calls: optionalNullable(Schema.Array(WireToolCall)),
    citations: Schema.optional(Schema.Unknown)
  }),
  // Read field by field by `usage`, shared with the stream decoder.
  usage: Schema.optional(Schema.Unknown)
})

const decodeWire = Schema.decodeUnknownEither(WireResponse)

/** The unified finish reason of a Cohere `finish_reason`. */
export const finishReason = (raw: string | null | undefined): ChatResponse.FinishReason => {
  switch (raw) {
    case "COMPLETE":
    case "STOP_SEQUENCE":
      return "stop"
    case "MAX_TOKENS":
      return "length"
    case "TOOL_CALL":
      return "tool-calls"
    case "ERROR":
      return "error"
    default:
      return "other"
  }
}

/**
 * The failure a finish reason stands for: `ERROR` (generation failed on Cohere's side) is a `ServerError` and
 * `TIMEOUT` a `Timeout`, both retryable, in streams and non-streaming calls alike: their partial output is not an
 * answer.
 */
export const finishFailure = (
  context: Errors.ErrorContext,
  raw: string | null | undefined,
  detail: string | undefined,
  extra: { readonly requestId: string | undefined; readonly body: string }
): LlmError.LlmError | undefined => {
  if (raw !== "ERROR" && raw !== "TIMEOUT") return undefined
  const what = raw === "ERROR" ? "generation failed" : "generation timed out"
  // A generic `ERROR` whose detail names a known cause (a blocked output, a prompt over the window) is that cause.
  const tag = raw === "ERROR" ? ErrorPatterns.refine("ServerError", { message: detail }) ?? "ServerError" : "Timeout"
  return Errors.make(tag, {
    ...Errors.baseFields(context),
    ...(extra.requestId === undefined ? {} : { requestId: extra.requestId }),
    body: LlmError.truncateBody(Errors.scrub(extra.body, context.secrets)),
    message: `${context.provider}: ${what} (finish_reason ${raw})${
      detail === undefined ? "" : `: ${Errors.messageDetail(detail, context.secrets)}`
    }`
  })
}

/**
 * The unified usage of a Cohere `usage` object: `tokens` (what the model processed, cache reads included) as
 * input and output, `cached_tokens` as `cachedInputTokens`; `billed_units` only when `tokens` is missing.
 */
export const usage = (wire: unknown): ChatResponse.Usage | undefined => {
  if (!isObject(wire)) return undefined
  const tokens = isObject(wire.tokens) ? wire.tokens : {}
  const billed = isObject(wire.billed_units) ? wire.billed_units : {}
  const input = countOf(tokens.input_tokens) ?? countOf(billed.input_tokens)
  const output = countOf(tokens.output_tokens) ?? countOf(billed.output_tokens)
  if (input === undefined && output === undefined) return undefined
  const cached = countOf(wire.cached_tokens)
  return {
    inputTokens: input ?? 0,
    outputTokens: output ?? 0,
    totalTokens: (input ?? 0) + (output ?? 0),
    ...(cached === undefined ? {} : { cachedInputTokens: cached })
  }
}

/**
 * The usage Cohere charges for: `billed_units` (its own system prompt excluded, so no cache reads either), read
 * from the provider metadata where `billedUnits` keeps it; `usage` itself where it has no input or output count.
 */
export const billedUsage = (
  reported: ChatResponse.Usage,
  providerMetadata: Readonly<Record<string, unknown>> | undefined
): ChatResponse.Usage => usage({ billed_units: providerMetadata?.billedUnits }) ?? reported

/** `billed_units` (what Cohere charges for, system prompt excluded), kept as sent. */
export const billedUnits = (wire: unknown): Json =>
  isObject(wire) && isObject(wire.billed_units)
    ? { billedUnits: wire.billed_units }
    : {}

/** Tool-call arguments: `{}` for an empty text and for `"null"`, which Cohere sends for argument-less calls. */
export const parseToolArguments = (raw: string): unknown => {
  const parsed = StreamPart.parseArguments(raw)
  return parsed === null ? {} : parsed
}

const camelCase = (name: string): string => name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase())

const rateLimitPrefixes = ["x-trial-endpoint-call-", "x-endpoint-monthly-call-"]

/**
 * The trial key call limits, camel-cased without the `x-` (`trialEndpointCallLimit`,
 * `trialEndpointCallRemaining`, `endpointMonthlyCallLimit`), as numbers where they are numbers.
 */
export const rateLimit = (headers: Headers.HeaderRecord | undefined): Record<string, number | string> | undefined => {
  const out: Record<string, number | string> = {}
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined || !rateLimitPrefixes.some((prefix) => name.startsWith(prefix))) continue
    out[camelCase(name.slice(2))] = /^\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : value
  }
  return Object.keys(out).length === 0 ? undefined : out
}

/**
 * The metadata known from the response headers: the request id (Cohere's `x-debug-trace-id` when no standard
 * request-id header is present) and the trial rate limits.
 */
export const headerMetadata = (requestId: string | undefined, headers: Headers.HeaderRecord | undefined): Json => {
  const id = requestId ?? headers?.["x-debug-trace-id"]
  const limits = rateLimit(headers)
  return {
    ...(id === undefined || id === "" ? {} : { requestId: id }),
    ...(limits === undefined ? {} : { rateLimit: limits })
  }
}

/** Decodes a non-streaming v2 Chat response. */
export const decodeResponse = (
  json: unknown,
  raw: { readonly text: string; readonly status: number; readonly requestId: string | undefined },
  context: Errors.ErrorContext,
  call: Call
): Effect.Effect<ChatResponse.ChatResponse, LlmError.LlmError> => {
  // An error body (`{"id", "message": "..."}`) sent with a 200 status.
  const error = isObject(json) && typeof json.message === "string"
    ? Errors.recognisedErrorObject(context, CohereErrors.classifyError, json, {
      requestId: raw.requestId,
      where: "body"
    })
    : undefined
  if (error !== undefined) return Effect.fail(error)
  const decoded = decodeWire(json)
  if (decoded._tag === "Left") {
    return Effect.fail(Errors.malformed(context, Errors.describeIssues(decoded.left, context.secrets), raw.text, raw))
  }
  const wire = decoded.right
  const metadata = headerMetadata(raw.requestId, call.headers)
  const failure = finishFailure(context, wire.finish_reason, undefined, {
    requestId: metadata.requestId as string | undefined,
    body: raw.text
  })
  if (failure !== undefined) return Effect.fail(failure)
  const content: Array<ChatResponse.ContentPart> = []
  for (const item of wire.message.content ?? []) {
    if (item.type === "text" && nonEmpty(item.text)) content.push({ type: "text", text: item.text })
    if (item.type === "thinking" && nonEmpty(item.thinking)) content.push({ type: "reasoning", text: item.thinking })
  }
  // The tool plan is the model's reasoning before its tool calls (streamed as `tool-plan-delta`).
  if (nonEmpty(wire.message.tool_plan)) content.push({ type: "reasoning", text: wire.message.tool_plan })
  for (const toolCall of wire.message.tool_calls ?? []) {
    const rawArguments = toolCall.function.arguments ?? ""
    content.push({
      type: "tool-call",
      id: toolCall.id,
      name: toolCall.function.name,
      arguments: parseToolArguments(rawArguments),
      rawArguments
    })
  }
  const citations = wire.message.citations
  Object.assign(metadata, billedUnits(wire.usage))
  if (Array.isArray(citations) && citations.length > 0) metadata.citations = citations
  const unified = usage(wire.usage)
  return Effect.succeed({
    id: wire.id,
    provider: context.provider,
    // The v2 response names no model.
    model: context.model ?? "",
    content,
    finishReason: finishReason(wire.finish_reason),
    ...(wire.finish_reason == null ? {} : { rawFinishReason: wire.finish_reason }),
    ...(unified === undefined ? {} : { usage: unified }),
    ...(Object.keys(metadata).length === 0 ? {} : { providerMetadata: metadata })
  })
}
