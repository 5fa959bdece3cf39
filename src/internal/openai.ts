/**
 * The OpenAI Chat Completions wire format (also spoken by Azure OpenAI and OpenAI-compatible servers):
 * request encoding, response decoding, error classification. Nothing about retries or transport.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as ChatRequest from "../ChatRequest.js"
import type * as ChatResponse from "../ChatResponse.js"
import * as LlmError from "../LlmError.js"
import * as StreamPart from "../StreamPart.js"
import * as Errors from "./errors.js"

// ---------------------------------------------------------------------------------------------------------------
// request
// ---------------------------------------------------------------------------------------------------------------

/** Which field carries `maxTokens`: OpenAI's reasoning models only accept `max_completion_tokens`. */
export type MaxTokensField = "max_tokens" | "max_completion_tokens"

const toolResultContent = (result: unknown): string => typeof result === "string" ? result : JSON.stringify(result)

const encodeMessages = (messages: ChatRequest.ChatRequest["messages"]): Array<Record<string, unknown>> => {
  const out: Array<Record<string, unknown>> = []
  for (const message of messages) {
    switch (message.role) {
      case "system":
        out.push({ role: "system", content: message.content })
        break
      case "user":
        out.push({
          role: "user",
          content: typeof message.content === "string" ?
            message.content :
            message.content.map((part) =>
              part.type === "text" ? { type: "text", text: part.text } : {
                type: "image_url",
                image_url: {
                  url: part.url ?? `data:${part.mediaType};base64,${part.data}`,
                  ...(part.detail === undefined ? {} : { detail: part.detail })
                }
              }
            )
        })
        break
      case "assistant": {
        if (typeof message.content === "string") {
          out.push({ role: "assistant", content: message.content })
          break
        }
        const text = ChatRequest.messageText(message)
        const calls = message.content.filter((part) => part.type === "tool-call").map((part) => ({
          id: part.id,
          type: "function",
          function: { name: part.name, arguments: JSON.stringify(part.arguments ?? {}) }
        }))
        out.push({
          role: "assistant",
          content: text === "" && calls.length > 0 ? null : text,
          ...(calls.length === 0 ? {} : { tool_calls: calls })
        })
        break
      }
      case "tool":
        for (const part of message.content) {
          out.push({ role: "tool", tool_call_id: part.toolCallId, content: toolResultContent(part.result) })
        }
        break
    }
  }
  return out
}

const encodeResponseFormat = (format: NonNullable<ChatRequest.ChatRequest["responseFormat"]>) => {
  switch (format.type) {
    case "text":
      return { type: "text" }
    case "json":
      return { type: "json_object" }
    case "json-schema":
      return {
        type: "json_schema",
        json_schema: {
          name: format.name,
          schema: format.schema,
          strict: format.strict ?? true,
          ...(format.description === undefined ? {} : { description: format.description })
        }
      }
  }
}

/** The JSON body of a chat completions request. */
export const encodeRequest = (
  request: ChatRequest.ChatRequest,
  options: {
    readonly model: string
    readonly stream: boolean
    readonly maxTokensField: MaxTokensField
    /** Whether the server accepts `top_k` (OpenAI-compatible servers such as vLLM do, OpenAI does not). */
    readonly topK: boolean
    /** Keys of `request.providerOptions` merged into the body, in order. */
    readonly optionKeys: ReadonlyArray<string>
  }
): Record<string, unknown> => {
  const body: Record<string, unknown> = { model: options.model, messages: encodeMessages(request.messages) }
  if (request.tools !== undefined && request.tools.length > 0) {
    body.tools = request.tools.map((tool) => ({
      type: "function",
      function: {
        name: tool.name,
        ...(tool.description === undefined ? {} : { description: tool.description }),
        parameters: tool.parameters,
        ...(tool.strict === undefined ? {} : { strict: tool.strict })
      }
    }))
  }
  if (request.toolChoice !== undefined) {
    body.tool_choice = typeof request.toolChoice === "string"
      ? request.toolChoice
      : { type: "function", function: { name: request.toolChoice.name } }
  }
  if (request.temperature !== undefined) body.temperature = request.temperature
  if (request.topP !== undefined) body.top_p = request.topP
  if (request.topK !== undefined && options.topK) body.top_k = request.topK
  if (request.maxTokens !== undefined) body[options.maxTokensField] = request.maxTokens
  if (request.stop !== undefined) body.stop = request.stop
  if (request.seed !== undefined) body.seed = request.seed
  if (request.presencePenalty !== undefined) body.presence_penalty = request.presencePenalty
  if (request.frequencyPenalty !== undefined) body.frequency_penalty = request.frequencyPenalty
  if (request.responseFormat !== undefined) body.response_format = encodeResponseFormat(request.responseFormat)
  if (request.metadata?.user !== undefined) body.user = request.metadata.user
  if (options.stream) {
    body.stream = true
    body.stream_options = { include_usage: true }
  }
  for (const key of options.optionKeys) {
    const extra = request.providerOptions?.[key]
    if (extra !== undefined) Object.assign(body, extra)
  }
  return body
}

// ---------------------------------------------------------------------------------------------------------------
// response
// ---------------------------------------------------------------------------------------------------------------

const optionalNullable = <S extends Schema.Schema.Any>(schema: S) => Schema.optional(Schema.NullOr(schema))

const WireToolCall = Schema.Struct({
  id: Schema.String,
  type: Schema.optional(Schema.String),
  function: Schema.Struct({ name: Schema.String, arguments: optionalNullable(Schema.String) })
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
    content: optionalNullable(Schema.String),
    refusal: optionalNullable(Schema.String),
    // OpenAI-compatible servers (DeepSeek, vLLM, ...) put reasoning here.
    reasoning_content: optionalNullable(Schema.String),
    tool_calls: optionalNullable(Schema.Array(WireToolCall))
  }),
  finish_reason: optionalNullable(Schema.String),
  content_filter_results: Schema.optional(Schema.Unknown)
})

const WireResponse = Schema.Struct({
  id: Schema.optional(Schema.String),
  model: Schema.optional(Schema.String),
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

/** Decodes a non-streaming chat completion. */
export const decodeResponse = (
  json: unknown,
  raw: { readonly text: string; readonly status: number; readonly requestId: string | undefined },
  context: Errors.ErrorContext
): Effect.Effect<ChatResponse.ChatResponse, LlmError.LlmError> => {
  const decoded = decodeWire(json)
  if (decoded._tag === "Left") {
    return Effect.fail(Errors.malformed(context, ChatRequest.formatIssues(decoded.left), raw.text, raw))
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
  if (message.reasoning_content != null && message.reasoning_content !== "") {
    content.push({ type: "reasoning", text: message.reasoning_content })
  }
  if (message.content != null && message.content !== "") content.push({ type: "text", text: message.content })
  if (message.refusal != null) content.push({ type: "refusal", text: message.refusal })
  for (const call of message.tool_calls ?? []) {
    const rawArguments = call.function.arguments ?? ""
    content.push({
      type: "tool-call",
      id: call.id,
      name: call.function.name,
      arguments: StreamPart.parseArguments(rawArguments),
      rawArguments
    })
  }
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

// ---------------------------------------------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------------------------------------------

const codeTags: Record<string, Errors.HttpErrorTag> = {
  insufficient_quota: "QuotaExhausted",
  billing_hard_limit_reached: "QuotaExhausted",
  context_length_exceeded: "ContextLengthExceeded",
  string_above_max_length: "ContextLengthExceeded",
  content_filter: "ContentFiltered",
  content_policy_violation: "ContentFiltered",
  invalid_api_key: "AuthenticationFailed",
  model_not_found: "NotFound",
  DeploymentNotFound: "NotFound"
}

const str = (u: unknown): string | undefined => typeof u === "string" && u !== "" ? u : undefined

/**
 * Reads an OpenAI / Azure error body `{"error": {message, type, code, innererror}}`. The `code` (or, for a
 * few errors, the `type`) decides the tag where it says more than the status: a 429 `insufficient_quota`
 * cannot be fixed by retrying.
 */
export const classifyError: Errors.ClassifyError = (_status, body) => {
  if (typeof body !== "object" || body === null || !("error" in body)) return {}
  const error = (body as { error: unknown }).error
  if (typeof error === "string") return { message: error }
  if (typeof error !== "object" || error === null) return {}
  const fields = error as Record<string, unknown>
  const code = str(fields.code) ?? str(fields.type)
  const inner = fields.innererror as Record<string, unknown> | undefined
  const innerCode = str(inner?.code)
  const tag = Errors.lookup(codeTags, code) ??
    (innerCode === "ResponsibleAIPolicyViolation" ? "ContentFiltered" : undefined)
  return { tag, message: str(fields.message) }
}
