/**
 * The provider-neutral chat request. Users pass plain objects; `decode` validates them so that a malformed
 * request fails with `InvalidRequest` before any network call.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Durations from "./internal/duration.js"
import * as Errors from "./internal/errors.js"
import * as Text from "./internal/text.js"
import * as LlmError from "./LlmError.js"

/**
 * A text part of a message's content.
 *
 * @since 0.1.0
 * @category parts
 */
export const TextPart = Schema.Struct({
  type: Schema.Literal("text"),
  text: Schema.String
})

/**
 * Why an image's base64 `data` and `mediaType` cannot be sent, or `undefined`: a `mediaType` that is no media
 * type (`type/subtype`), or `data` that is empty or not base64. A provider would refuse either, after the upload.
 *
 * @example
 * ```ts
 * import { ChatRequest } from "liter-llm"
 *
 * ChatRequest.imageDataIssue("image/png", "iVBORw0KGgo=") // undefined
 * ChatRequest.imageDataIssue("png", "iVBORw0KGgo=") // "media type \"png\" is not one (type/subtype, such as \"image/png\")"
 * ```
 *
 * @since 0.2.0
 * @category parts
 */
export const imageDataIssue = (mediaType: string, data: string): string | undefined => {
  if (!Text.mediaTypePattern.test(mediaType)) {
    return `media type ${JSON.stringify(mediaType.slice(0, 100))} is not one (type/subtype, such as "image/png")`
  }
  // Empty data is no image: a provider would refuse it, after the upload of the rest.
  if (data === "") return "data is empty"
  if (data.length % 4 === 1 || !Text.base64Pattern.test(data)) {
    return "data is not base64 (the characters A-Z, a-z, 0-9, + and /, with = padding at the end)"
  }
  return undefined
}

/**
 * An image, by URL or as base64 `data` with its `mediaType`. `url` is an absolute URL (`https:`, `gs:`, a File
 * API URI, a data URL); a data URL must be base64 (`data:image/png;base64,...`), checked as `data` and `mediaType`
 * are (see {@link imageDataIssue}).
 *
 * @since 0.1.0
 * @category parts
 */
export const ImagePart = Schema.Struct({
  type: Schema.Literal("image"),
  url: Schema.optional(Schema.String),
  data: Schema.optional(Schema.String),
  mediaType: Schema.optional(Schema.String),
  detail: Schema.optional(Schema.Literal("auto", "low", "high"))
}).pipe(Schema.filter((part) => {
  if ((part.url === undefined) === (part.data === undefined)) {
    return "an image part needs exactly one of `url` or `data`"
  }
  if (part.data !== undefined) {
    if (part.mediaType === undefined) return "an image part with `data` needs its `mediaType` (e.g. \"image/png\")"
    const issue = imageDataIssue(part.mediaType, part.data)
    if (issue !== undefined) return `an image part's ${issue}`
  }
  if (part.url !== undefined && !Text.isAbsoluteUrl(part.url)) {
    return `an image part's url ${
      JSON.stringify(Errors.truncate(part.url, 100))
    } is not an absolute URL (such as "https://...")`
  }
  const dataUrl = part.url === undefined ? null : Text.base64DataUrl.exec(part.url)
  if (dataUrl !== null) {
    const issue = imageDataIssue(dataUrl[1]!, dataUrl[2]!)
    if (issue !== undefined) return `an image part's data URL: its ${issue}`
  } else if (part.url !== undefined && /^data:/i.test(part.url)) {
    // Providers read images from base64 data URLs only: another would be sent on for the provider to refuse.
    return "an image part's data URL is not base64 (data:<media type>;base64,...)"
  }
  return true
}))

/**
 * Reasoning returned earlier by a model, sent back so the provider can continue it (Anthropic thinking
 * blocks need their `signature`).
 *
 * @since 0.1.0
 * @category parts
 */
export const ReasoningPart = Schema.Struct({
  type: Schema.Literal("reasoning"),
  text: Schema.String,
  signature: Schema.optional(Schema.String)
})

/**
 * A tool call the assistant made; `arguments` is the parsed JSON value.
 *
 * @since 0.1.0
 * @category parts
 */
export const ToolCallPart = Schema.Struct({
  type: Schema.Literal("tool-call"),
  id: Schema.String,
  name: Schema.String,
  arguments: Schema.Unknown
})

/**
 * The result of a tool call, matched to it by `toolCallId`. A string `result` is sent as is, anything else
 * as JSON.
 *
 * @since 0.1.0
 * @category parts
 */
export const ToolResultPart = Schema.Struct({
  type: Schema.Literal("tool-result"),
  toolCallId: Schema.String,
  toolName: Schema.optional(Schema.String),
  result: Schema.Unknown,
  isError: Schema.optional(Schema.Boolean)
})

/**
 * The system prompt: instructions for the model, as text.
 *
 * @since 0.1.0
 * @category messages
 */
export const SystemMessage = Schema.Struct({
  role: Schema.Literal("system"),
  content: Schema.String
})

/**
 * A user turn: text, or parts (text and images).
 *
 * @since 0.1.0
 * @category messages
 */
export const UserMessage = Schema.Struct({
  role: Schema.Literal("user"),
  content: Schema.Union(Schema.String, Schema.Array(Schema.Union(TextPart, ImagePart)))
})

/**
 * An earlier answer of the model in the history: text, reasoning and tool calls.
 *
 * @since 0.1.0
 * @category messages
 */
export const AssistantMessage = Schema.Struct({
  role: Schema.Literal("assistant"),
  content: Schema.Union(Schema.String, Schema.Array(Schema.Union(TextPart, ReasoningPart, ToolCallPart)))
})

/**
 * The results of tool calls, each naming the call it answers.
 *
 * @since 0.1.0
 * @category messages
 */
export const ToolMessage = Schema.Struct({
  role: Schema.Literal("tool"),
  content: Schema.Array(ToolResultPart).pipe(Schema.minItems(1))
})

/**
 * One message of the conversation: system, user, assistant or tool.
 *
 * @since 0.1.0
 * @category messages
 */
export const Message = Schema.Union(SystemMessage, UserMessage, AssistantMessage, ToolMessage)

/**
 * One message of the conversation: system, user, assistant or tool.
 *
 * @since 0.1.0
 * @category messages
 */
export type Message = typeof Message.Type

/**
 * A function the model may call. `parameters` is a JSON Schema object.
 *
 * @since 0.1.0
 * @category tools
 */
export const Tool = Schema.Struct({
  name: Schema.String.pipe(
    Schema.pattern(/^[a-zA-Z0-9_-]{1,64}$/, {
      message: () => "a tool name is 1 to 64 letters, digits, `_` or `-`"
    })
  ),
  description: Schema.optional(Schema.String),
  parameters: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  strict: Schema.optional(Schema.Boolean)
})

/**
 * A function the model may call: its name, description and JSON Schema parameters.
 *
 * @since 0.1.0
 * @category tools
 */
export type Tool = typeof Tool.Type

/**
 * `"auto"` (the model decides), `"none"`, `"required"` (some tool), or one named tool.
 *
 * @since 0.1.0
 * @category tools
 */
export const ToolChoice = Schema.Union(
  Schema.Literal("auto", "none", "required"),
  Schema.Struct({ type: Schema.Literal("tool"), name: Schema.String })
)

/**
 * Plain text, any JSON object, or JSON matching a JSON Schema.
 *
 * @since 0.1.0
 * @category models
 */
export const ResponseFormat = Schema.Union(
  Schema.Struct({ type: Schema.Literal("text") }),
  Schema.Struct({ type: Schema.Literal("json") }),
  Schema.Struct({
    type: Schema.Literal("json-schema"),
    name: Schema.String,
    schema: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
    description: Schema.optional(Schema.String),
    strict: Schema.optional(Schema.Boolean)
  })
)

/** The longest tenant id: it becomes part of store keys (Redis) and a metric label on every call. */
const maxTenantLength = 256

/**
 * What is wrong with a tenant id, as the end of a sentence about it (`a tenant id is empty or blank`), or
 * `undefined` for a valid one: 1 to 256 characters (code points), without whitespace at its start or end and
 * without control characters or invisible formatting characters (bidirectional controls, the zero-width space,
 * the word joiner, the byte order mark). An empty or padded id would be a tenant of its own ("" apart from
 * "default", " acme" apart from "acme") that no one meant, one with an invisible character looks like another in
 * logs and dashboards, and a long one becomes long store keys and metric labels.
 *
 * @example
 * ```ts
 * import { ChatRequest } from "liter-llm"
 *
 * ChatRequest.tenantIssue("acme") // undefined
 * ChatRequest.tenantIssue(" acme") // "starts or ends with whitespace"
 * ChatRequest.tenantIssue("ac\nme") // "contains a control character (such as a line break or a tab)"
 * ```
 *
 * @since 0.2.0
 * @category tenants
 */
export const tenantIssue = (tenant: string): string | undefined => Text.labelIssue(tenant, maxTenantLength)

const tenantMessage = (tenant: string): string | true => {
  const issue = tenantIssue(tenant)
  if (issue === undefined) return true
  if (tenant.trim() === "") return `a tenant id ${issue} (leave metadata.tenant out for the default tenant)`
  // A long id is not shown: it would be most of the message.
  if (Text.characters(tenant) > maxTenantLength) return `a tenant id ${issue}`
  return `a tenant id ${issue}: ${Text.escapedJson(tenant)}`
}

/**
 * Who the call is made for: `tenant` partitions budgets, rate limits, caches and metrics; `user` is passed to
 * providers that accept an end-user id. A tenant id is 1 to 256 characters, without whitespace at its start or
 * end, without control characters and without invisible formatting characters (see {@link tenantIssue}); leave
 * it out for {@link defaultTenant}.
 *
 * @since 0.1.0
 * @category models
 */
export const Metadata = Schema.Struct({
  tenant: Schema.optional(Schema.String.pipe(Schema.filter(tenantMessage))),
  user: Schema.optional(Schema.String)
})

/**
 * How long a cached answer is kept: milliseconds (what a JSON request carries), a duration string such as
 * `"5 minutes"`, or a `Duration`. Finite and not negative; `0` keeps nothing.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { ChatRequest } from "liter-llm"
 *
 * Schema.decodeUnknownSync(ChatRequest.CacheTtl)(300_000) // 5 minutes, in ms
 * Schema.decodeUnknownSync(ChatRequest.CacheTtl)("5 minutes")
 * ```
 *
 * @since 0.2.0
 * @category cache
 */
export const CacheTtl = Schema.Union(
  Schema.Number.pipe(Schema.nonNegative(), Schema.finite()),
  Schema.String.pipe(Schema.filter((text) => {
    const duration = Durations.decodeNonNegative(text as Duration.DurationInput)
    return duration !== undefined && Duration.isFinite(duration)
  })),
  Schema.DurationFromSelf.pipe(Schema.filter((duration) => Duration.isFinite(duration)))
).annotations({
  message: () => ({
    message: "a TTL is finite: milliseconds (not negative), a duration such as \"5 minutes\", or a Duration",
    override: true
  })
})

/**
 * Per-request controls of the `Cache` policy. They are never sent to a provider and are not part of the cache
 * key: the same request with other controls reads and writes the same entry.
 *
 * @example
 * ```ts
 * import { LanguageModel } from "liter-llm"
 *
 * const fresh = LanguageModel.generate({
 *   messages: [{ role: "user", content: "Today's headline?" }],
 *   cache: { noCache: true, ttl: "5 minutes" } // skip the lookup, keep the answer for 5 minutes
 * })
 * ```
 *
 * @since 0.2.0
 * @category cache
 */
export const CacheControl = Schema.Struct({
  /** Skip the lookup (and joining an identical call in flight): always ask the provider. */
  noCache: Schema.optional(Schema.Boolean),
  /** Do not store this answer. */
  noStore: Schema.optional(Schema.Boolean),
  /** This entry's TTL instead of the layer's (ms, a duration string, or a `Duration`). */
  ttl: Schema.optional(CacheTtl)
})

const between = (min: number, max: number) => Schema.Number.pipe(Schema.between(min, max))

// An integer that a number holds exactly: `1e20` (and Infinity) is refused as too large, not as "not an integer".
const Integer = Schema.Number.pipe(
  Schema.filter((n) =>
    Number.isSafeInteger(n) ||
    (Number.isInteger(n) || n === Infinity || n === -Infinity
      ? `Expected an integer of at most ${Number.MAX_SAFE_INTEGER} in magnitude, actual ${n}`
      : `Expected an integer, actual ${n}`)
  )
)

/**
 * The request schema.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ChatRequest = Schema.Struct({
  /** The model; when absent, the provider layer's default model. Not blank: `" "` names no model. */
  model: Schema.optional(
    Schema.String.pipe(Schema.filter((model) => model.trim() !== "" || "a model name must not be empty or blank"))
  ),
  messages: Schema.Array(Message).pipe(Schema.minItems(1, { message: () => "`messages` needs at least one message" })),
  tools: Schema.optional(Schema.Array(Tool)),
  toolChoice: Schema.optional(ToolChoice),
  /**
   * `false`: at most one tool call per answer (OpenAI `parallel_tool_calls`, Anthropic
   * `disable_parallel_tool_use`); absent or `true`: the provider's default, which allows several. Sent only with
   * `tools`; Gemini and Cohere have no such setting and ignore it.
   */
  parallelToolCalls: Schema.optional(Schema.Boolean),
  temperature: Schema.optional(between(0, 2)),
  topP: Schema.optional(between(0, 1)),
  topK: Schema.optional(Integer.pipe(Schema.positive())),
  maxTokens: Schema.optional(Integer.pipe(Schema.positive())),
  stop: Schema.optional(Schema.Union(Schema.String, Schema.Array(Schema.String))),
  seed: Schema.optional(Integer),
  presencePenalty: Schema.optional(between(-2, 2)),
  frequencyPenalty: Schema.optional(between(-2, 2)),
  responseFormat: Schema.optional(ResponseFormat),
  metadata: Schema.optional(Metadata),
  /** Controls of the `Cache` policy; never sent to a provider. */
  cache: Schema.optional(CacheControl),
  /** Fields only one provider has, keyed by provider name, merged into that provider's wire body. */
  providerOptions: Schema.optional(
    Schema.Record({ key: Schema.String, value: Schema.Record({ key: Schema.String, value: Schema.Unknown }) })
  )
}).pipe(Schema.filter((request) => {
  const names = new Set((request.tools ?? []).map((tool) => tool.name))
  if (names.size !== (request.tools ?? []).length) {
    return { path: ["tools"], message: "tool names must be unique" }
  }
  const choice = request.toolChoice
  if (choice !== undefined && choice !== "auto" && choice !== "none" && names.size === 0) {
    return { path: ["toolChoice"], message: "`toolChoice` requires `tools`" }
  }
  if (typeof choice === "object" && !names.has(choice.name)) {
    return { path: ["toolChoice", "name"], message: `no tool named "${choice.name}" in \`tools\`` }
  }
  return true
}))

/**
 * A validated request.
 *
 * @since 0.1.0
 * @category models
 */
export type ChatRequest = typeof ChatRequest.Type

/**
 * The plain-object form users write.
 *
 * @since 0.1.0
 * @category models
 */
export type Input = typeof ChatRequest.Encoded

const decodeUnknown = Schema.decodeUnknownEither(ChatRequest, { onExcessProperty: "error", errors: "all" })

/**
 * Renders a parse error as one line per problem, `path: message`. A union member the value is not the kind of
 * (`Expected string` for an array) is left out when another member took it, and each wrong value shown is cut
 * to 100 characters.
 *
 * @since 0.1.0
 * @category utils
 */
export const formatIssues = (error: ParseResult.ParseError): string => Errors.describeIssues(error)

/**
 * Validates a request. Unknown fields are rejected rather than silently dropped, so a typo such as
 * `max_tokens` is reported.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ChatRequest } from "liter-llm"
 *
 * const request = ChatRequest.decode({ messages: [{ role: "user", content: "Hi" }], maxTokens: 100 })
 * // Effect<ChatRequest, LlmError.InvalidRequest>
 * ```
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = (input: unknown, provider = "liter-llm"): Effect.Effect<ChatRequest, LlmError.InvalidRequest> => {
  const result = decodeUnknown(input)
  return result._tag === "Right" ? Effect.succeed(result.right) : Effect.fail(
    new LlmError.InvalidRequest({
      provider,
      message: Errors.truncate(`Invalid request: ${formatIssues(result.left)}`, Errors.maxMessageDetail)
    })
  )
}

/**
 * The text of a message's content, ignoring non-text parts.
 *
 * @since 0.1.0
 * @category utils
 */
export const messageText = (message: Message): string => {
  if (typeof message.content === "string") return message.content
  let text = ""
  for (const part of message.content) {
    if (part.type === "text") text += part.text
  }
  return text
}

/**
 * The tenant key of calls whose request names none (`metadata.tenant` absent): budgets, limits, caches and
 * metrics of such calls are kept under this key.
 *
 * @since 0.2.0
 * @category tenants
 */
export const defaultTenant = "default"

/**
 * The tenant a call is made for: `metadata.tenant`, else {@link defaultTenant}. Always a string: a request that
 * was not decoded may carry another value (`tenant: 123`), which counts as the default tenant here and is
 * refused by {@link decode}.
 *
 * @example
 * ```ts
 * import { ChatRequest } from "liter-llm"
 * declare const request: ChatRequest.ChatRequest
 *
 * const tenant = ChatRequest.tenantOf(request) // "default" unless `metadata.tenant` is set
 * ```
 *
 * @since 0.2.0
 * @category tenants
 */
export const tenantOf = (
  request: { readonly metadata?: { readonly tenant?: string | undefined } | undefined }
): string => {
  const tenant: unknown = request.metadata?.tenant
  return typeof tenant === "string" ? tenant : defaultTenant
}
