/**
 * The Gemini (Generative Language API) wire format: request encoding, error classification, and the pieces of
 * response decoding shared by streamed and whole responses (a streamed chunk is a whole
 * `GenerateContentResponse`, so both go through the decoder of `geminiStream.ts`).
 */
import type * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as ChatRequest from "../ChatRequest.js"
import type * as ChatResponse from "../ChatResponse.js"
import * as Errors from "./errors.js"
import * as Headers from "./headers.js"
import { isObject } from "./json.js"

type Json = Record<string, unknown>

const str = (u: unknown): string | undefined => typeof u === "string" && u !== "" ? u : undefined

// ---------------------------------------------------------------------------------------------------------------
// request
// ---------------------------------------------------------------------------------------------------------------

/**
 * Google's documented placeholder for a `functionCall` replayed without its `thoughtSignature`: Gemini 3
 * rejects such calls with a 400 unless the part carries it.
 */
export const skipSignature = "skip_thought_signature_validator"

/** The `models/...` (or `tunedModels/...`) resource path of a model name given with or without its prefix. */
export const modelPath = (model: string): string => {
  const path = model.startsWith("models/") || model.startsWith("tunedModels/") ? model : `models/${model}`
  return path.split("/").map(encodeURIComponent).join("/")
}

/** Whether a model is of the Gemini 3 family, which requires thought signatures on replayed function calls. */
export const isGemini3 = (model: string): boolean => /(^|\/)gemini-3/.test(model)

class EncodeError {
  constructor(readonly message: string) {}
}

const imageExtensions: Record<string, string> = {
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  webp: "image/webp",
  heic: "image/heic",
  heif: "image/heif",
  gif: "image/gif"
}

/** The image type of a URL from its path's extension, e.g. `https://x/cat.PNG?s=1` → `image/png`. */
export const inferImageType = (url: string): string | undefined => {
  const path = url.replace(/[?#].*$/s, "")
  const dot = path.lastIndexOf(".")
  return dot < path.lastIndexOf("/") || dot < 0 ? undefined : imageExtensions[path.slice(dot + 1).toLowerCase()]
}

const mediaResolution = { low: "MEDIA_RESOLUTION_LOW", high: "MEDIA_RESOLUTION_HIGH" } as const

type ImagePart = Extract<Exclude<ChatRequest.Message["content"], string>[number], { type: "image" }>

const encodeImage = (part: ImagePart): Json => {
  // Gemini 3 takes a per-part resolution; "auto" is its default, so it is left out.
  const detail = part.detail === "low" || part.detail === "high"
    ? { mediaResolution: { level: mediaResolution[part.detail] } }
    : {}
  if (part.data !== undefined) return { inlineData: { mimeType: part.mediaType!, data: part.data }, ...detail }
  const url = part.url!
  const dataUrl = /^data:([^;,]+);base64,(.*)$/s.exec(url)
  if (dataUrl !== null) return { inlineData: { mimeType: dataUrl[1], data: dataUrl[2] }, ...detail }
  const mimeType = part.mediaType ?? inferImageType(url)
  if (mimeType === undefined) {
    throw new EncodeError(
      `an image URL needs its \`mediaType\` on Gemini (fileData.mimeType), and none can be inferred from ` +
        `"${Errors.truncate(url, 100)}": set \`mediaType\` (e.g. "image/png")`
    )
  }
  return { fileData: { mimeType, fileUri: url }, ...detail }
}

const toolResponse = (result: unknown, isError: boolean | undefined): Json =>
  isError === true ? { error: result } : isObject(result) ? result : { result }

/** The name of the tool an earlier assistant message called with `id` (the latest such call wins). */
const toolNameOf = (messages: ReadonlyArray<ChatRequest.Message>, before: number, id: string): string | undefined => {
  for (let i = before - 1; i >= 0; i--) {
    const message = messages[i]!
    if (message.role !== "assistant" || typeof message.content === "string") continue
    for (const part of message.content) {
      if (part.type === "tool-call" && part.id === id) return part.name
    }
  }
  return undefined
}

/**
 * The parts of an assistant message. A reasoning part's `signature` belongs to the part that follows it:
 * decoding puts a `thoughtSignature` found on a function call (or text) part into a signature-only reasoning
 * part just before it, so encoding hands it to the next non-thought part, where Gemini sent it. A signature
 * that nothing follows stays on its own thought part, or goes in an empty text part (as Gemini sends it).
 */
const encodeAssistant = (
  content: Extract<ChatRequest.Message, { role: "assistant" }>["content"],
  model: string
): Array<Json> => {
  if (typeof content === "string") return content === "" ? [] : [{ text: content }]
  const parts: Array<Json> = []
  let pending: { readonly signature: string; readonly owner: Json | undefined } | undefined
  let signedCall = false
  const settle = () => {
    if (pending === undefined) return
    if (pending.owner === undefined) parts.push({ text: "", thoughtSignature: pending.signature })
    else pending.owner.thoughtSignature = pending.signature
    pending = undefined
  }
  const take = (): { thoughtSignature?: string } => {
    const signature = pending?.signature
    pending = undefined
    return signature === undefined ? {} : { thoughtSignature: signature }
  }
  for (const part of content) {
    switch (part.type) {
      case "reasoning": {
        settle()
        const thought = part.text === "" ? undefined : { text: part.text, thought: true }
        if (thought !== undefined) parts.push(thought)
        if (part.signature !== undefined) pending = { signature: part.signature, owner: thought }
        break
      }
      case "text":
        if (part.text === "" && pending === undefined) break
        parts.push({ text: part.text, ...take() })
        break
      case "tool-call": {
        const args = part.arguments ?? {}
        if (!isObject(args)) {
          throw new EncodeError(`the arguments of tool call "${part.id}" must be a JSON object on Gemini`)
        }
        // Gemini 3 signs only the first call of a parallel step; later calls legitimately have none.
        const signature: string | undefined = take().thoughtSignature ??
          (isGemini3(model) && !signedCall ? skipSignature : undefined)
        signedCall = signedCall || signature !== undefined
        parts.push({
          functionCall: { name: part.name, args },
          ...(signature === undefined ? {} : { thoughtSignature: signature })
        })
        break
      }
    }
  }
  settle()
  return parts
}

interface Content {
  readonly role: "user" | "model"
  parts: Array<Json>
}

const encodeContents = (messages: ReadonlyArray<ChatRequest.Message>, model: string) => {
  const system: Array<Json> = []
  const contents: Array<Content> = []
  // Gemini wants turns to alternate: consecutive messages of one role (e.g. tool results, then a user
  // message) become one content.
  const add = (role: Content["role"], parts: Array<Json>) => {
    if (parts.length === 0) return
    const last = contents[contents.length - 1]
    if (last !== undefined && last.role === role) last.parts = last.parts.concat(parts)
    else contents.push({ role, parts })
  }
  messages.forEach((message, index) => {
    switch (message.role) {
      case "system":
        system.push({ text: message.content })
        break
      case "user":
        add(
          "user",
          typeof message.content === "string"
            ? [{ text: message.content }]
            : message.content.map((part) => part.type === "text" ? { text: part.text } : encodeImage(part))
        )
        break
      case "assistant":
        add("model", encodeAssistant(message.content, model))
        break
      case "tool":
        add(
          "user",
          message.content.map((part) => {
            const name = part.toolName ?? toolNameOf(messages, index, part.toolCallId)
            if (name === undefined) {
              throw new EncodeError(
                `the tool result for "${part.toolCallId}" has no \`toolName\` and no earlier assistant tool call ` +
                  "has that id: Gemini needs the function name, set `toolName`"
              )
            }
            return { functionResponse: { name, response: toolResponse(part.result, part.isError) } }
          })
        )
        break
    }
  })
  if (contents.length === 0) throw new EncodeError("Gemini needs at least one user or assistant message")
  return { system, contents }
}

/** A JSON Schema as Gemini's `*JsonSchema` fields take it: without the `$schema` dialect marker. */
const jsonSchema = (schema: Readonly<Record<string, unknown>>, description?: string): Json => {
  const { $schema: _, ...rest } = schema
  return description === undefined || rest.description !== undefined ? rest : { ...rest, description }
}

const encodeToolChoice = (choice: NonNullable<ChatRequest.ChatRequest["toolChoice"]>): Json => {
  switch (choice) {
    case "auto":
      return { mode: "AUTO" }
    case "none":
      return { mode: "NONE" }
    case "required":
      return { mode: "ANY" }
    default:
      return { mode: "ANY", allowedFunctionNames: [choice.name] }
  }
}

const encodeGenerationConfig = (request: ChatRequest.ChatRequest): Json => {
  const config: Json = {}
  if (request.temperature !== undefined) config.temperature = request.temperature
  if (request.topP !== undefined) config.topP = request.topP
  if (request.topK !== undefined) config.topK = request.topK
  if (request.maxTokens !== undefined) config.maxOutputTokens = request.maxTokens
  if (request.stop !== undefined) {
    config.stopSequences = typeof request.stop === "string"
      ? [request.stop]
      : request.stop
  }
  if (request.seed !== undefined) config.seed = request.seed
  if (request.presencePenalty !== undefined) config.presencePenalty = request.presencePenalty
  if (request.frequencyPenalty !== undefined) config.frequencyPenalty = request.frequencyPenalty
  const format = request.responseFormat
  if (format?.type === "json") config.responseMimeType = "application/json"
  if (format?.type === "json-schema") {
    config.responseMimeType = "application/json"
    config.responseJsonSchema = jsonSchema(format.schema, format.description)
  }
  return config
}

/** Body keys that `providerOptions.gemini` extends key by key instead of replacing. */
const nestedOptionKeys: ReadonlySet<string> = new Set(["generationConfig", "toolConfig"])

/**
 * The JSON body of a `generateContent` / `streamGenerateContent` request, or why the request cannot be
 * expressed on Gemini.
 */
export const encodeRequest = (
  request: ChatRequest.ChatRequest,
  options: { readonly model: string; readonly optionKey: string }
): Either.Either<Json, string> => {
  try {
    const { contents, system } = encodeContents(request.messages, options.model)
    const body: Json = { contents }
    if (system.length > 0) body.systemInstruction = { parts: system }
    if (request.tools !== undefined && request.tools.length > 0) {
      body.tools = [{
        functionDeclarations: request.tools.map((tool) => ({
          name: tool.name,
          ...(tool.description === undefined ? {} : { description: tool.description }),
          parametersJsonSchema: jsonSchema(tool.parameters)
        }))
      }]
    }
    if (request.toolChoice !== undefined) {
      body.toolConfig = { functionCallingConfig: encodeToolChoice(request.toolChoice) }
    }
    const generationConfig = encodeGenerationConfig(request)
    if (Object.keys(generationConfig).length > 0) body.generationConfig = generationConfig
    const extra = request.providerOptions?.[options.optionKey]
    for (const [key, value] of Object.entries(extra ?? {})) {
      const current = body[key]
      body[key] = nestedOptionKeys.has(key) && isObject(current) && isObject(value) ? { ...current, ...value } : value
    }
    return Either.right(body)
  } catch (error) {
    if (error instanceof EncodeError) return Either.left(error.message)
    throw error
  }
}

// ---------------------------------------------------------------------------------------------------------------
// response pieces
// ---------------------------------------------------------------------------------------------------------------

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

const count = (u: unknown): number | undefined => typeof u === "number" && Number.isFinite(u) ? u : undefined

/**
 * The unified usage of a `usageMetadata`, or `undefined` when it carries no counts (Vertex sends
 * `{trafficType}` alone on early chunks). Gemini's `candidatesTokenCount` excludes thinking, so
 * `outputTokens` adds `thoughtsTokenCount` (all billed output); `inputTokens` adds the tool-use prompt.
 */
export const usage = (meta: unknown): ChatResponse.Usage | undefined => {
  if (!isObject(meta)) return undefined
  const prompt = count(meta.promptTokenCount)
  const candidates = count(meta.candidatesTokenCount)
  const total = count(meta.totalTokenCount)
  if (prompt === undefined && candidates === undefined && total === undefined) return undefined
  const thoughts = count(meta.thoughtsTokenCount)
  const cached = count(meta.cachedContentTokenCount)
  const inputTokens = (prompt ?? 0) + (count(meta.toolUsePromptTokenCount) ?? 0)
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

/** Why a whole response does not have the `GenerateContentResponse` shape, if it does not. */
export const checkResponse = (json: unknown): string | undefined => {
  const result = validateWire(json)
  return result._tag === "Left" ? ChatRequest.formatIssues(result.left) : undefined
}

// ---------------------------------------------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------------------------------------------

const statusTags: Record<string, Errors.HttpErrorTag> = {
  INVALID_ARGUMENT: "InvalidRequest",
  FAILED_PRECONDITION: "InvalidRequest",
  OUT_OF_RANGE: "InvalidRequest",
  UNIMPLEMENTED: "InvalidRequest",
  UNAUTHENTICATED: "AuthenticationFailed",
  PERMISSION_DENIED: "AuthenticationFailed",
  NOT_FOUND: "NotFound",
  RESOURCE_EXHAUSTED: "RateLimited",
  UNAVAILABLE: "Overloaded",
  INTERNAL: "ServerError",
  UNKNOWN: "ServerError",
  ABORTED: "ServerError",
  CANCELLED: "ServerError",
  DATA_LOSS: "ServerError",
  DEADLINE_EXCEEDED: "Timeout"
}

const authReasons: ReadonlySet<string> = new Set([
  "API_KEY_INVALID",
  "API_KEY_EXPIRED",
  "API_KEY_SERVICE_BLOCKED",
  "API_KEY_HTTP_REFERRER_BLOCKED",
  "API_KEY_IP_ADDRESS_BLOCKED",
  "ACCESS_TOKEN_EXPIRED"
])

const contextLength = /exceeds the maximum number of tokens|input token count.*exceeds/i

const detailOf = (details: ReadonlyArray<unknown>, type: string): Json | undefined =>
  details.find((detail): detail is Json =>
    isObject(detail) && typeof detail["@type"] === "string" && detail["@type"].endsWith(`/google.rpc.${type}`)
  )

/**
 * Whether a `RESOURCE_EXHAUSTED` error names a quota no retry can satisfy soon: a per-day quota
 * (`QuotaFailure` quotaId or `ErrorInfo` quota_limit containing "PerDay"), or a quota whose limit is 0.
 */
const unrecoverableQuota = (details: ReadonlyArray<unknown>): boolean => {
  const failure = detailOf(details, "QuotaFailure")
  const violations = Array.isArray(failure?.violations) ? failure.violations : []
  if (violations.some((violation) => isObject(violation) && str(violation.quotaId)?.includes("PerDay"))) return true
  const metadata = detailOf(details, "ErrorInfo")?.metadata
  return isObject(metadata) &&
    (str(metadata.quota_limit)?.includes("PerDay") === true || metadata.quota_limit_value === "0")
}

/** The `retryDelay` of a `google.rpc.RetryInfo` detail ("34.4s"). */
export const retryDelay = (details: ReadonlyArray<unknown>): Duration.Duration | undefined =>
  Headers.parseGoogleDuration(detailOf(details, "RetryInfo")?.retryDelay)

/**
 * Reads a Google error body `{"error": {code, message, status, details}}`: the `status` name decides the
 * tag, refined by the details (an `API_KEY_INVALID` 400 is `AuthenticationFailed`; a per-day or zero quota
 * is `QuotaExhausted`; a prompt over the window is `ContextLengthExceeded`); `RetryInfo.retryDelay` gives
 * `retryAfter`.
 */
export const classifyError: Errors.ClassifyError = (_status, body) => {
  if (!isObject(body) || !isObject(body.error)) return {}
  const error = body.error
  const message = str(error.message)
  const details = Array.isArray(error.details) ? error.details : []
  const reason = str(detailOf(details, "ErrorInfo")?.reason)
  const status = str(error.status)
  let tag = Errors.lookup(statusTags, status)
  if (reason !== undefined && authReasons.has(reason)) tag = "AuthenticationFailed"
  else if (tag === "RateLimited" && unrecoverableQuota(details)) tag = "QuotaExhausted"
  else if ((tag === "InvalidRequest" || tag === undefined) && message !== undefined && contextLength.test(message)) {
    tag = "ContextLengthExceeded"
  }
  return { tag, message, retryAfter: retryDelay(details) }
}
