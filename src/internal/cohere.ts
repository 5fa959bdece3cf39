/**
 * The Cohere v2 Chat wire format: request encoding, response decoding, usage, trial rate-limit headers and error
 * classification. Nothing about retries or transport.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as ChatRequest from "../ChatRequest.js"
import type * as ChatResponse from "../ChatResponse.js"
import * as LlmError from "../LlmError.js"
import * as StreamPart from "../StreamPart.js"
import * as Errors from "./errors.js"
import type * as Headers from "./headers.js"
import { isObject, nonEmpty } from "./json.js"

type Json = Record<string, unknown>

const num = (u: unknown): number | undefined => typeof u === "number" && Number.isFinite(u) ? u : undefined

/** The response headers of the latest attempt of a call, for the trial rate-limit values. */
export interface Call {
  readonly headers: Headers.HeaderRecord | undefined
}

// ---------------------------------------------------------------------------------------------------------------
// request
// ---------------------------------------------------------------------------------------------------------------

const imageItem = (part: typeof ChatRequest.ImagePart.Type): Json => ({
  type: "image_url",
  image_url: {
    url: part.url ?? `data:${part.mediaType};base64,${part.data}`,
    ...(part.detail === undefined ? {} : { detail: part.detail })
  }
})

/**
 * A tool result: a string as is, anything else as one JSON document (documents are what Cohere cites). Cohere
 * has no error flag, so an error result is wrapped as `{"error": result}`.
 */
const toolContent = (part: typeof ChatRequest.ToolResultPart.Type): string | Array<Json> => {
  const result = part.isError === true ? { error: part.result } : part.result
  return typeof result === "string"
    ? result
    : [{ type: "document", document: { data: JSON.stringify(result) ?? "null" } }]
}

const assistantMessage = (
  content: Exclude<typeof ChatRequest.AssistantMessage.Type["content"], string>
): Json | undefined => {
  let text = ""
  let reasoning = ""
  const calls: Array<Json> = []
  for (const part of content) {
    switch (part.type) {
      case "text":
        text += part.text
        break
      case "reasoning":
        reasoning += part.text
        break
      case "tool-call":
        calls.push({
          id: part.id,
          type: "function",
          function: { name: part.name, arguments: JSON.stringify(part.arguments ?? {}) }
        })
        break
    }
  }
  if (calls.length > 0) {
    // Cohere refuses text content next to tool calls ("text content is not allowed when tool_calls are
    // provided"): the reasoning and any text travel as the `tool_plan`, which is where Cohere put them.
    const plan = [reasoning, text].filter((piece) => piece !== "").join("\n\n")
    return { role: "assistant", ...(plan === "" ? {} : { tool_plan: plan }), tool_calls: calls }
  }
  // Earlier turns' reasoning is not sent back without tool calls: Cohere only accepts it under `thinking`.
  return text === "" ? undefined : { role: "assistant", content: text }
}

const encodeMessages = (messages: ChatRequest.ChatRequest["messages"]): Array<Json> => {
  const out: Array<Json> = []
  for (const message of messages) {
    switch (message.role) {
      case "system":
        out.push({ role: "system", content: message.content })
        break
      case "user":
        out.push({
          role: "user",
          content: typeof message.content === "string"
            ? message.content
            : message.content.map((part) => part.type === "text" ? { type: "text", text: part.text } : imageItem(part))
        })
        break
      case "assistant": {
        const encoded = typeof message.content === "string"
          ? { role: "assistant", content: message.content }
          : assistantMessage(message.content)
        if (encoded !== undefined) out.push(encoded)
        break
      }
      case "tool":
        for (const part of message.content) {
          out.push({ role: "tool", tool_call_id: part.toolCallId, content: toolContent(part) })
        }
        break
    }
  }
  return out
}

const encodeResponseFormat = (format: NonNullable<ChatRequest.ChatRequest["responseFormat"]>): Json => {
  switch (format.type) {
    case "text":
      return { type: "text" }
    case "json":
      return { type: "json_object" }
    case "json-schema":
      // Cohere constrains generation to the schema; it takes no name, description or strict flag.
      return { type: "json_object", json_schema: format.schema }
  }
}

/** Cohere's `strict_tools` covers every tool at once: per-tool flags must agree. */
const strictTools = (tools: ReadonlyArray<ChatRequest.Tool>): Either.Either<boolean | undefined, string> => {
  const flags = new Set(tools.flatMap((tool) => tool.strict === undefined ? [] : [tool.strict]))
  if (flags.size > 1) {
    return Either.left("Cohere's `strict_tools` applies to every tool: set the same `strict` on all tools")
  }
  return Either.right(flags.has(true) ? true : undefined)
}

const unitRange = (name: string, value: number | undefined): string | undefined =>
  value === undefined || (value >= 0 && value <= 1)
    ? undefined
    : `Cohere accepts \`${name}\` between 0 and 1, got ${value}`

/** The JSON body of a v2 Chat request, or why the request cannot be expressed. */
export const encodeRequest = (
  request: ChatRequest.ChatRequest,
  options: { readonly model: string; readonly stream: boolean }
): Either.Either<Json, string> => {
  if (typeof request.toolChoice === "object") {
    return Either.left(
      `Cohere cannot force a named tool (\`tool_choice\` is only REQUIRED or NONE): got "${request.toolChoice.name}"`
    )
  }
  const range = unitRange("presencePenalty", request.presencePenalty) ??
    unitRange("frequencyPenalty", request.frequencyPenalty)
  if (range !== undefined) return Either.left(range)
  const body: Json = { model: options.model, messages: encodeMessages(request.messages) }
  const tools = request.tools ?? []
  if (tools.length > 0) {
    const strict = strictTools(tools)
    if (Either.isLeft(strict)) return Either.left(strict.left)
    body.tools = tools.map((tool) => ({
      type: "function",
      function: {
        name: tool.name,
        ...(tool.description === undefined ? {} : { description: tool.description }),
        parameters: tool.parameters
      }
    }))
    if (strict.right === true) body.strict_tools = true
  }
  // "auto" is Cohere's default and has no wire value.
  if (request.toolChoice === "required") body.tool_choice = "REQUIRED"
  if (request.toolChoice === "none") body.tool_choice = "NONE"
  if (request.temperature !== undefined) body.temperature = request.temperature
  if (request.topP !== undefined) body.p = request.topP
  if (request.topK !== undefined) body.k = request.topK
  if (request.maxTokens !== undefined) body.max_tokens = request.maxTokens
  if (request.stop !== undefined) body.stop_sequences = typeof request.stop === "string" ? [request.stop] : request.stop
  if (request.seed !== undefined) body.seed = request.seed
  if (request.presencePenalty !== undefined) body.presence_penalty = request.presencePenalty
  if (request.frequencyPenalty !== undefined) body.frequency_penalty = request.frequencyPenalty
  if (request.responseFormat !== undefined) body.response_format = encodeResponseFormat(request.responseFormat)
  if (options.stream) body.stream = true
  const extra = request.providerOptions?.cohere
  if (extra !== undefined) Object.assign(body, extra)
  return Either.right(body)
}

// ---------------------------------------------------------------------------------------------------------------
// response
// ---------------------------------------------------------------------------------------------------------------

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
  return Errors.make(raw === "ERROR" ? "ServerError" : "Timeout", {
    ...Errors.baseFields(context),
    ...(extra.requestId === undefined ? {} : { requestId: extra.requestId }),
    body: LlmError.truncateBody(Errors.scrub(extra.body, context.secrets)),
    message: Errors.scrub(
      `${context.provider}: ${what} (finish_reason ${raw})${
        detail === undefined ? "" : `: ${Errors.truncate(detail, Errors.maxMessageDetail)}`
      }`,
      context.secrets
    )
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
  const input = num(tokens.input_tokens) ?? num(billed.input_tokens)
  const output = num(tokens.output_tokens) ?? num(billed.output_tokens)
  if (input === undefined && output === undefined) return undefined
  const cached = num(wire.cached_tokens)
  return {
    inputTokens: input ?? 0,
    outputTokens: output ?? 0,
    totalTokens: (input ?? 0) + (output ?? 0),
    ...(cached === undefined ? {} : { cachedInputTokens: cached })
  }
}

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
  const decoded = decodeWire(json)
  if (decoded._tag === "Left") {
    return Effect.fail(Errors.malformed(context, ChatRequest.formatIssues(decoded.left), raw.text, raw))
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

// ---------------------------------------------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------------------------------------------

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
