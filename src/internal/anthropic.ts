/**
 * The Anthropic Messages wire format: request encoding, response decoding, usage, rate-limit headers and error
 * classification. Nothing about retries or transport.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as ChatRequest from "../ChatRequest.js"
import type * as ChatResponse from "../ChatResponse.js"
import * as LlmError from "../LlmError.js"
import * as Errors from "./errors.js"
import type * as Headers from "./headers.js"

type Json = Record<string, unknown>

/** @internal */
export const isObject = (u: unknown): u is Json => typeof u === "object" && u !== null && !Array.isArray(u)

/** @internal */
export const nonEmpty = (u: unknown): u is string => typeof u === "string" && u !== ""

/**
 * The prefix marking a `redacted_thinking` block's `data` kept in a reasoning part's `signature`. A colon never
 * occurs in a real (base64) signature, so the reasoning part round-trips through `ChatResponse.toMessage`.
 */
export const redactedPrefix = "redacted_thinking:"

/** The instruction added to `system` for `responseFormat: {type: "json"}`: Anthropic has no JSON mode. */
export const jsonInstruction = "Respond with a single valid JSON value only, without any prose or markdown fences."

/**
 * What decoding a response needs besides its body: the forced tool carrying a `json-schema` answer, and the
 * response headers (for the `anthropic-ratelimit-*` values).
 */
export interface Call {
  readonly formatTool: string | undefined
  readonly headers: Headers.HeaderRecord | undefined
}

// ---------------------------------------------------------------------------------------------------------------
// request
// ---------------------------------------------------------------------------------------------------------------

type Block = Record<string, unknown>
type WireMessage = { readonly role: "user" | "assistant"; readonly content: string | Array<Block> }

const imageBlock = (part: typeof ChatRequest.ImagePart.Type): Block => {
  if (part.data !== undefined) {
    return { type: "image", source: { type: "base64", media_type: part.mediaType, data: part.data } }
  }
  // Anthropic's `url` source only fetches http(s): a data URL goes as base64.
  const dataUrl = /^data:([^;,]+);base64,(.*)$/s.exec(part.url ?? "")
  return dataUrl === null
    ? { type: "image", source: { type: "url", url: part.url } }
    : { type: "image", source: { type: "base64", media_type: dataUrl[1], data: dataUrl[2] } }
}

const assistantBlocks = (
  content: Exclude<typeof ChatRequest.AssistantMessage.Type["content"], string>
): Either.Either<Array<Block>, string> => {
  const blocks: Array<Block> = []
  for (const part of content) {
    switch (part.type) {
      case "text":
        // Anthropic rejects empty text blocks.
        if (part.text !== "") blocks.push({ type: "text", text: part.text })
        break
      case "reasoning":
        // Anthropic only accepts thinking it signed; unsigned reasoning (another provider's) is dropped.
        if (part.signature === undefined || part.signature === "") break
        blocks.push(
          part.signature.startsWith(redactedPrefix)
            ? { type: "redacted_thinking", data: part.signature.slice(redactedPrefix.length) }
            : { type: "thinking", thinking: part.text, signature: part.signature }
        )
        break
      case "tool-call": {
        const input = part.arguments ?? {}
        if (!isObject(input)) {
          return Either.left(`the arguments of tool call "${part.id}" must be a JSON object (Anthropic \`input\`)`)
        }
        blocks.push({ type: "tool_use", id: part.id, name: part.name, input })
        break
      }
    }
  }
  return Either.right(blocks)
}

const encodeMessages = (
  messages: ChatRequest.ChatRequest["messages"]
): Either.Either<{ system: Array<string>; messages: Array<WireMessage> }, string> => {
  const system: Array<string> = []
  const out: Array<WireMessage> = []
  // The user message collecting consecutive tool results, while nothing else came in between.
  let toolTurn: Array<Block> | undefined
  for (const message of messages) {
    if (message.role !== "tool") toolTurn = undefined
    switch (message.role) {
      case "system":
        system.push(message.content)
        break
      case "user":
        out.push({
          role: "user",
          content: typeof message.content === "string"
            ? message.content
            : message.content.map((part) => part.type === "text" ? { type: "text", text: part.text } : imageBlock(part))
        })
        break
      case "assistant": {
        if (typeof message.content === "string") {
          out.push({ role: "assistant", content: message.content })
          break
        }
        const blocks = assistantBlocks(message.content)
        if (Either.isLeft(blocks)) return Either.left(blocks.left)
        // Nothing left (only unsigned reasoning): an empty content array is a 400.
        if (blocks.right.length > 0) out.push({ role: "assistant", content: blocks.right })
        break
      }
      case "tool": {
        if (toolTurn === undefined) {
          toolTurn = []
          out.push({ role: "user", content: toolTurn })
        }
        for (const part of message.content) {
          toolTurn.push({
            type: "tool_result",
            tool_use_id: part.toolCallId,
            content: typeof part.result === "string" ? part.result : JSON.stringify(part.result),
            ...(part.isError === true ? { is_error: true } : {})
          })
        }
        break
      }
    }
  }
  return Either.right({ system, messages: out })
}

const encodeToolChoice = (choice: NonNullable<ChatRequest.ChatRequest["toolChoice"]>): Json => {
  switch (choice) {
    case "auto":
      return { type: "auto" }
    case "required":
      return { type: "any" }
    case "none":
      return { type: "none" }
    default:
      return { type: "tool", name: choice.name }
  }
}

const toolNamePattern = /^[a-zA-Z0-9_-]{1,64}$/

/** The JSON body of a Messages request, or why the request cannot be expressed. */
export const encodeRequest = (
  request: ChatRequest.ChatRequest,
  options: { readonly model: string; readonly stream: boolean; readonly defaultMaxTokens: number }
): Either.Either<Json, string> => {
  const unsupported = (["seed", "presencePenalty", "frequencyPenalty"] as const).filter((key) =>
    request[key] !== undefined
  )
  if (unsupported.length > 0) {
    return Either.left(`Anthropic does not support ${unsupported.map((key) => `\`${key}\``).join(", ")}`)
  }
  if (request.temperature !== undefined && request.temperature > 1) {
    return Either.left(`Anthropic accepts \`temperature\` between 0 and 1, got ${request.temperature}`)
  }
  const encoded = encodeMessages(request.messages)
  if (Either.isLeft(encoded)) return Either.left(encoded.left)
  const system = encoded.right.system
  const tools: Array<Json> = (request.tools ?? []).map((tool) => ({
    name: tool.name,
    ...(tool.description === undefined ? {} : { description: tool.description }),
    input_schema: tool.parameters
  }))
  let toolChoice = request.toolChoice === undefined ? undefined : encodeToolChoice(request.toolChoice)
  const format = request.responseFormat
  if (format?.type === "json") system.push(jsonInstruction)
  if (format?.type === "json-schema") {
    // A forced tool named after the format: its input is the answer.
    if (!toolNamePattern.test(format.name)) {
      return Either.left(`the response format name "${format.name}" must be 1 to 64 letters, digits, \`_\` or \`-\``)
    }
    if (tools.some((tool) => tool.name === format.name)) {
      return Either.left(`the response format name "${format.name}" is also the name of a tool`)
    }
    if (request.toolChoice !== undefined && request.toolChoice !== "auto") {
      return Either.left("a `json-schema` response format forces its own tool: `toolChoice` can only be \"auto\"")
    }
    if (format.schema.type !== undefined && format.schema.type !== "object") {
      return Either.left("Anthropic needs a JSON Schema of `type: \"object\"` at the root of a `json-schema` format")
    }
    tools.push({
      name: format.name,
      description: format.description ?? "Give the answer as this tool's input, matching its schema exactly.",
      input_schema: format.schema
    })
    toolChoice = { type: "tool", name: format.name }
  }
  const body: Json = {
    model: options.model,
    max_tokens: request.maxTokens ?? options.defaultMaxTokens,
    messages: encoded.right.messages
  }
  const systemText = system.filter((text) => text !== "").join("\n\n")
  if (systemText !== "") body.system = systemText
  if (request.temperature !== undefined) body.temperature = request.temperature
  if (request.topP !== undefined) body.top_p = request.topP
  if (request.topK !== undefined) body.top_k = request.topK
  if (request.stop !== undefined) body.stop_sequences = typeof request.stop === "string" ? [request.stop] : request.stop
  if (tools.length > 0) body.tools = tools
  if (toolChoice !== undefined) body.tool_choice = toolChoice
  if (request.metadata?.user !== undefined) body.metadata = { user_id: request.metadata.user }
  if (options.stream) body.stream = true
  const extra = request.providerOptions?.anthropic
  if (extra !== undefined) Object.assign(body, extra)
  const thinking = body.thinking
  const forced = isObject(body.tool_choice) && (body.tool_choice.type === "any" || body.tool_choice.type === "tool")
  if (isObject(thinking) && thinking.type !== "disabled" && forced) {
    return Either.left(
      "Anthropic cannot force a tool while extended thinking is on: `toolChoice` \"required\", a named tool and " +
        "`json-schema` response formats need `thinking` off"
    )
  }
  return Either.right(body)
}

// ---------------------------------------------------------------------------------------------------------------
// response
// ---------------------------------------------------------------------------------------------------------------

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
    return Effect.fail(Errors.malformed(context, ChatRequest.formatIssues(decoded.left), raw.text, raw))
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

// ---------------------------------------------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------------------------------------------

const typeTags: Record<string, Errors.HttpErrorTag> = {
  overloaded_error: "Overloaded",
  rate_limit_error: "RateLimited",
  api_error: "ServerError",
  timeout_error: "Timeout",
  authentication_error: "AuthenticationFailed",
  permission_error: "AuthenticationFailed",
  not_found_error: "NotFound",
  request_too_large: "InvalidRequest",
  billing_error: "QuotaExhausted"
}

const tagOf = (type: string | undefined, message: string | undefined): Errors.HttpErrorTag | undefined => {
  if (type === "invalid_request_error") {
    // "prompt is too long: 210000 tokens > 200000 maximum"; "input length and `max_tokens` exceed context limit"
    if (message !== undefined && /prompt is too long|exceed context limit|context window/i.test(message)) {
      return "ContextLengthExceeded"
    }
    // An empty prepaid balance is a 400 invalid_request_error, not a billing_error.
    if (message !== undefined && /credit balance is too low/i.test(message)) return "QuotaExhausted"
    return "InvalidRequest"
  }
  return type === undefined ? undefined : typeTags[type]
}

const str = (u: unknown): string | undefined => nonEmpty(u) ? u : undefined

/**
 * Reads an Anthropic error body `{"type":"error","error":{"type","message"},"request_id"}`: the error `type`
 * decides the tag where it says more than the status.
 */
export const classifyError: Errors.ClassifyError = (_status, body) => {
  if (!isObject(body)) return {}
  const error = body.error
  if (typeof error === "string") return { message: error }
  if (!isObject(error)) return {}
  const message = str(error.message)
  return { tag: tagOf(str(error.type), message), message }
}

/** The error of an `error` event in a 200 stream (or an error object in a 200 body). */
export const errorEvent = (
  context: Errors.ErrorContext,
  json: Json,
  requestId: string | undefined,
  where: "stream" | "body" = "stream"
): LlmError.LlmError => {
  const details = classifyError(undefined, json)
  return Errors.make(details.tag ?? "ServerError", {
    ...Errors.baseFields(context),
    ...(requestId === undefined ? {} : { requestId }),
    body: LlmError.truncateBody(Errors.scrub(JSON.stringify(json), context.secrets)),
    message: Errors.scrub(
      `${context.provider}: error ${where === "stream" ? "event in stream" : "object in a 200 body"}: ${
        details.message ?? "unknown error"
      }`,
      context.secrets
    )
  })
}
