/**
 * Decoding an OpenAI `POST /v1/chat/completions` body into a validated `ChatRequest` and the wire flags the
 * server needs. See `docs/gateway-wire.md` for what is mapped, dropped and refused.
 *
 * @since 0.2.0
 */
import * as ConfigError from "effect/ConfigError"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as ChatRequest from "../../ChatRequest.js"
import * as Errors from "../../internal/errors.js"
import * as Fields from "./fields.js"
import * as Messages from "./messages.js"
import * as WireError from "./WireError.js"

/**
 * How the request decoder treats parameters the gateway does not support: refused, or dropped when listed.
 *
 * @since 0.2.0
 * @category models
 */
export interface DecodeOptions {
  /**
   * Drop parameters the gateway does not support, or that OpenAI does not define, instead of refusing them
   * with a 400: `true` for all of them, or a list of top-level parameter names (e.g. `["n", "logprobs"]`).
   * Dropped names are reported in `DecodedRequest.dropped`. Default: refuse.
   */
  readonly dropUnsupported?: boolean | ReadonlyArray<string> | undefined
}

/**
 * A decoded request: the validated unified request and what the server needs from the wire.
 *
 * @since 0.2.0
 * @category models
 */
export interface DecodedRequest {
  /** The unified request; its `model` is the client's model name (the server may route it to another). */
  readonly request: ChatRequest.ChatRequest
  /** The model name the client asked for. */
  readonly model: string
  /** `stream: true`: answer with SSE chunks. */
  readonly stream: boolean
  /** `stream_options.include_usage: true`: end the stream with a usage chunk. */
  readonly includeUsage: boolean
  /** The client used the legacy `functions` / `function_call` parameters: answer with `function_call`. */
  readonly legacyFunctions: boolean
  /** The parameters dropped by `dropUnsupported`, in body order. */
  readonly dropped: ReadonlyArray<string>
}

/**
 * Parameters refused unless `dropUnsupported` names them: what each asks cannot be honoured. Maps, as every
 * table a client's key looks up: a plain object would find `constructor` or `__proto__` on its prototype.
 */
const unsupportedWhen: ReadonlyMap<string, (value: unknown) => string | undefined> = new Map(Object.entries({
  n: (value) => value === 1 ? undefined : "only `n: 1` is supported (one choice per request)",
  logprobs: (value) => value === false ? undefined : "`logprobs` is not supported",
  top_logprobs: () => "`top_logprobs` is not supported",
  modalities: (value) =>
    Array.isArray(value) && value.every((modality) => modality === "text")
      ? undefined
      : "only the `text` modality is supported",
  audio: () => "audio output is not supported",
  prediction: () => "predicted outputs (`prediction`) are not supported",
  web_search_options: () => "`web_search_options` is not supported",
  moderation: () => "`moderation` is not supported"
}))

/**
 * The known parameters the gateway refuses unless `dropUnsupported` names them (an unknown parameter may be
 * named too): what a config's `dropUnsupported` list is about.
 *
 * @since 0.2.0
 * @category decoding
 */
export const refusedParameters: ReadonlyArray<string> = [
  ...unsupportedWhen.keys(),
  "stream_options.include_obfuscation"
]

/** OpenAI-only parameters passed on in `providerOptions.openai` (sent by OpenAI-wire providers only). */
const passthrough: ReadonlyMap<string, (u: unknown, param: string) => unknown> = new Map(Object.entries({
  logit_bias: Fields.object,
  metadata: Fields.object,
  prompt_cache_key: Fields.string,
  prompt_cache_options: Fields.object,
  prompt_cache_retention: Fields.string,
  reasoning_effort: Fields.string,
  safety_identifier: Fields.string,
  service_tier: Fields.string,
  store: Fields.boolean,
  verbosity: Fields.string
}))

const mapped = new Set([
  "model",
  "messages",
  "tools",
  "functions",
  "tool_choice",
  "parallel_tool_calls",
  "function_call",
  "response_format",
  "temperature",
  "top_p",
  "top_k",
  "max_tokens",
  "max_completion_tokens",
  "stop",
  "seed",
  "user",
  "presence_penalty",
  "frequency_penalty",
  "stream",
  "stream_options"
])

const defaultParameters = { type: "object", properties: {} }

const tool = (u: unknown, at: string, fn: Fields.Json | undefined): ChatRequest.Tool => {
  const json = fn ?? Fields.object(u, at)
  const name = Fields.string(Fields.required(json, "name", `${at}.name`), `${at}.name`)
  const description = json.description ?? undefined
  const parameters = json.parameters ?? undefined
  const strict = json.strict ?? undefined
  return {
    name,
    ...(description === undefined ? {} : { description: Fields.string(description, `${at}.description`) }),
    // OpenAI: "Omitting `parameters` defines a function with an empty parameter list."
    parameters: parameters === undefined ? defaultParameters : Fields.object(parameters, `${at}.parameters`),
    ...(strict === undefined ? {} : { strict: Fields.boolean(strict, `${at}.strict`) })
  }
}

const tools = (u: unknown): Array<ChatRequest.Tool> =>
  Fields.array(u, "tools").map((entry, index) => {
    const at = `tools[${index}]`
    const json = Fields.object(entry, at)
    if (json.type !== "function") {
      throw WireError.unsupported(`${at}.type`, `tools of type ${JSON.stringify(json.type)} are not supported`)
    }
    return tool(
      undefined,
      `${at}.function`,
      Fields.object(Fields.required(json, "function", `${at}.function`), `${at}.function`)
    )
  })

const toolChoice = (u: unknown, param: "tool_choice" | "function_call"): ChatRequest.ChatRequest["toolChoice"] => {
  if (u === "auto" || u === "none" || (u === "required" && param === "tool_choice")) return u
  if (typeof u === "string" || !Fields.isObject(u)) {
    const got = typeof u === "string" ? JSON.stringify(u) : Fields.typeName(u)
    return Fields.fail(
      param,
      `\`${param}\` must be "auto", "none"${
        param === "tool_choice" ? ", \"required\"" : ""
      } or a named function (an object), got ${got}`,
      typeof u === "string" ? undefined : "invalid_type"
    )
  }
  const json = Fields.object(u, param)
  if (param === "function_call") {
    return { type: "tool", name: Fields.string(Fields.required(json, "name", `${param}.name`), `${param}.name`) }
  }
  if (json.type !== "function") {
    throw WireError.unsupported(
      `${param}.type`,
      `\`tool_choice\` of type ${JSON.stringify(json.type)} is not supported`
    )
  }
  const fn = Fields.object(Fields.required(json, "function", `${param}.function`), `${param}.function`)
  return {
    type: "tool",
    name: Fields.string(Fields.required(fn, "name", `${param}.function.name`), `${param}.function.name`)
  }
}

const responseFormat = (u: unknown): ChatRequest.ChatRequest["responseFormat"] => {
  const json = Fields.object(u, "response_format")
  switch (json.type) {
    case "text":
      return { type: "text" }
    case "json_object":
      return { type: "json" }
    case "json_schema": {
      const at = "response_format.json_schema"
      const spec = Fields.object(Fields.required(json, "json_schema", at), at)
      const description = spec.description ?? undefined
      return {
        type: "json-schema",
        name: Fields.string(Fields.required(spec, "name", `${at}.name`), `${at}.name`),
        schema: Fields.object(Fields.required(spec, "schema", `${at}.schema`), `${at}.schema`),
        ...(description === undefined ? {} : { description: Fields.string(description, `${at}.description`) }),
        // OpenAI's default is not strict; the unified default is: keep the client's meaning.
        strict: spec.strict == null ? false : Fields.boolean(spec.strict, `${at}.strict`)
      }
    }
    default:
      return Fields.fail(
        "response_format.type",
        `\`response_format.type\` must be "text", "json_object" or "json_schema", got ${JSON.stringify(json.type)}`
      )
  }
}

const stop = (u: unknown): string | ReadonlyArray<string> =>
  typeof u === "string" ? u : Fields.array(u, "stop").map((entry, index) => Fields.string(entry, `stop[${index}]`))

const validate = Schema.decodeUnknownEither(ChatRequest.ChatRequest, { onExcessProperty: "error", errors: "all" })

/** The wire path of a unified path, so a range error names the parameter the client sent. */
const wirePath = (path: ReadonlyArray<PropertyKey>, names: { maxTokens: string; legacyFunctions: boolean }): string => {
  const [head, index, field] = path
  switch (head) {
    case "messages":
      return `messages[${String(index)}]${field === "content" ? ".content" : ""}`
    case "tools":
      return names.legacyFunctions
        ? `functions[${String(index)}]${field === undefined ? "" : `.${String(field)}`}`
        : `tools${index === undefined ? "" : `[${String(index)}].function`}${
          field === undefined ? "" : `.${String(field)}`
        }`
    case "toolChoice":
      return names.legacyFunctions ? "function_call" : "tool_choice"
    case "responseFormat":
      return index === undefined || index === "type"
        ? "response_format"
        : `response_format.json_schema.${String(index)}`
    case "maxTokens":
      return names.maxTokens
    case "metadata":
      return "user"
    default:
      return String(head).replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`)
  }
}

const decodeBody = (body: unknown, drop: (name: string) => boolean): DecodedRequest => {
  const json = Fields.object(body, "body")
  // Each member on its own, so that the error names it (`metadata`, `tools`, `response_format`...).
  for (const key in json) Fields.shallow(json[key], key)
  const dropped: Array<string> = []
  const openai: Record<string, unknown> = {}
  for (const key in json) {
    if (mapped.has(key)) continue
    const value = json[key]
    const refusal = unsupportedWhen.get(key)
    const getter = passthrough.get(key)
    if (refusal !== undefined) {
      const reason = value === null ? undefined : refusal(value)
      if (reason === undefined) continue
      if (drop(key)) dropped.push(key)
      else throw WireError.unsupported(key, reason)
    } else if (getter !== undefined) {
      if (value !== null) openai[key] = getter(value, key)
    } else if (drop(key)) {
      dropped.push(key)
    } else {
      Fields.fail(key, `unknown parameter \`${key}\``, "unknown_parameter")
    }
  }
  const model = Fields.string(Fields.required(json, "model", "model"), "model")
  if (model === "") Fields.fail("model", "`model` must not be empty")
  const messages = Messages.messages(Fields.required(json, "messages", "messages"))
  const input: Record<string, unknown> = { model, messages }

  if (json.tools != null && json.functions != null) {
    Fields.fail("functions", "give `tools` or the legacy `functions`, not both")
  }
  const legacyFunctions = json.functions != null || json.function_call != null
  if (json.tools != null) input.tools = tools(json.tools)
  if (json.functions != null) {
    input.tools = Fields.array(json.functions, "functions").map((entry, index) =>
      tool(entry, `functions[${index}]`, undefined)
    )
  }
  if (json.tool_choice != null && json.function_call != null) {
    Fields.fail("function_call", "give `tool_choice` or the legacy `function_call`, not both")
  }
  if (json.tool_choice != null) input.toolChoice = toolChoice(json.tool_choice, "tool_choice")
  if (json.function_call != null) input.toolChoice = toolChoice(json.function_call, "function_call")
  if (json.response_format != null) input.responseFormat = responseFormat(json.response_format)
  if (json.parallel_tool_calls != null) {
    input.parallelToolCalls = Fields.boolean(json.parallel_tool_calls, "parallel_tool_calls")
  }

  for (
    const [wire, unified, getter] of [
      ["temperature", "temperature", Fields.number],
      ["top_p", "topP", Fields.number],
      ["top_k", "topK", Fields.integer],
      ["seed", "seed", Fields.integer],
      ["presence_penalty", "presencePenalty", Fields.number],
      ["frequency_penalty", "frequencyPenalty", Fields.number]
    ] as const
  ) {
    if (json[wire] != null) input[unified] = getter(json[wire], wire)
  }
  if (json.max_tokens != null && json.max_completion_tokens != null) {
    Fields.fail("max_tokens", "give `max_completion_tokens` or the deprecated `max_tokens`, not both")
  }
  const maxTokens = json.max_completion_tokens != null ? "max_completion_tokens" : "max_tokens"
  if (json[maxTokens] != null) input.maxTokens = Fields.integer(json[maxTokens], maxTokens)
  if (json.stop != null) input.stop = stop(json.stop)
  if (json.user != null) input.metadata = { user: Fields.string(json.user, "user") }
  if (Object.keys(openai).length > 0) input.providerOptions = { openai }

  const stream = json.stream == null ? false : Fields.boolean(json.stream, "stream")
  let includeUsage = false
  if (json.stream_options != null) {
    if (!stream) Fields.fail("stream_options", "`stream_options` is only allowed with `stream: true`")
    const options = Fields.object(json.stream_options, "stream_options")
    Fields.onlyKeys(options, streamOptionKeys, "stream_options")
    if (options.include_usage != null) {
      includeUsage = Fields.boolean(options.include_usage, "stream_options.include_usage")
    }
    if (
      options.include_obfuscation != null &&
      Fields.boolean(options.include_obfuscation, "stream_options.include_obfuscation")
    ) {
      if (drop("stream_options.include_obfuscation")) dropped.push("stream_options.include_obfuscation")
      else throw WireError.unsupported("stream_options.include_obfuscation", "stream obfuscation is not supported")
    }
  }

  const validated = validate(input)
  if (validated._tag === "Left") {
    // Tidied as the library's own refusals: a union member the value is not the kind of is left out, a wrong
    // value shown cut (an image's data may be megabytes, a prompt is the client's own).
    const issues = Errors.issueList(validated.left) ?? []
    const names = { maxTokens, legacyFunctions }
    const first = issues[0]
    const param = first === undefined ? undefined : wirePath(first.path, names)
    // The unified model's field names a message quotes (`toolChoice`) are the wire's (`tool_choice`).
    const wireWords = (message: string) =>
      message.replace(/`([a-z]+(?:[A-Z][a-z]*)+)`/g, (_, name: string) => `\`${wirePath([name], names)}\``)
    const message = issues.map((issue) => `${wirePath(issue.path, names)}: ${cut(wireWords(issue.message), 300)}`)
      .join("; ")
    Fields.fail(param, message === "" ? "invalid request" : cut(message, 1024))
  }
  const request = withClientJson(Either.getOrThrow(validated), input)
  return { request, model, stream, includeUsage, legacyFunctions, dropped }
}

const cut = (text: string, max: number): string => text.length > max ? `${text.slice(0, max)}...` : text

/**
 * The validated request with the client's own JSON Schema objects (tool parameters, a response schema) in place
 * of the schema's copies: a `Record` is decoded by assignment, where a `__proto__` key sets the copy's prototype
 * instead of being kept.
 */
const withClientJson = (request: ChatRequest.ChatRequest, input: Record<string, unknown>): ChatRequest.ChatRequest => {
  const tools = input.tools as ReadonlyArray<ChatRequest.Tool> | undefined
  const format = input.responseFormat as ChatRequest.ChatRequest["responseFormat"]
  if (tools === undefined && format?.type !== "json-schema") return request
  return {
    ...request,
    ...(tools === undefined || request.tools === undefined ? {} : {
      tools: request.tools.map((tool, index) => ({ ...tool, parameters: tools[index]!.parameters }))
    }),
    ...(format?.type !== "json-schema" || request.responseFormat?.type !== "json-schema" ? {} : {
      responseFormat: { ...request.responseFormat, schema: format.schema }
    })
  }
}

const streamOptionKeys = new Set(["include_usage", "include_obfuscation"])

const dropper = (option: DecodeOptions["dropUnsupported"]): (name: string) => boolean => {
  if (option === true) return () => true
  if (option === undefined || option === false) return () => false
  const names = new Set(option)
  return (name) => names.has(name)
}

/**
 * Decodes an OpenAI chat-completions body. Never throws: a malformed body, or one asking for what the gateway
 * does not support, is a `WireError` (HTTP 400) whose `param` names the path at fault.
 *
 * @example
 * ```ts
 * import { Either } from "effect"
 * import { decodeChatCompletionRequest } from "liter-llm/gateway/wire"
 *
 * const decoded = decodeChatCompletionRequest({
 *   model: "gpt-4o-mini",
 *   messages: [{ role: "user", content: "Hi" }],
 *   max_tokens: 100, // tokens
 *   stream: true,
 *   stream_options: { include_usage: true }
 * }, { dropUnsupported: ["logprobs"] })
 * if (Either.isRight(decoded)) decoded.right.request.maxTokens // 100
 * ```
 *
 * @since 0.2.0
 * @category decoding
 */
export const decodeChatCompletionRequest = (
  body: unknown,
  options: DecodeOptions = {}
): Either.Either<DecodedRequest, WireError.WireError> =>
  Fields.catchWire(() => decodeBody(body, dropper(options.dropUnsupported)))

/**
 * Checks decode options once, at startup: `dropUnsupported` is a boolean or a list of non-empty names.
 *
 * @example
 * ```ts
 * import { checkDecodeOptions } from "liter-llm/gateway/wire"
 *
 * checkDecodeOptions({ dropUnsupported: ["n"] }) // Either.right
 * ```
 *
 * @since 0.2.0
 * @category decoding
 */
export const checkDecodeOptions = (options: DecodeOptions): Either.Either<DecodeOptions, ConfigError.ConfigError> => {
  const drop: unknown = options.dropUnsupported
  if (drop === undefined || typeof drop === "boolean") return Either.right(options)
  if (Array.isArray(drop) && drop.every((name) => typeof name === "string" && name.trim() !== "")) {
    return Either.right(options)
  }
  return Either.left(ConfigError.InvalidData(
    ["dropUnsupported"],
    "dropUnsupported must be true, false or a list of parameter names such as [\"n\", \"logprobs\"]"
  ))
}
