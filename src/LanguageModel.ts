/**
 * The one service every provider implements and every policy wraps. A program calls `generate` / `stream`
 * and chooses the provider by providing a Layer of this service.
 *
 * @since 0.1.0
 */
import type * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as ChatRequest from "./ChatRequest.js"
import * as ChatResponse from "./ChatResponse.js"
import * as Described from "./internal/described.js"
import * as Errors from "./internal/errors.js"
import * as StructuredOutput from "./internal/structuredOutput.js"
import * as LlmError from "./LlmError.js"
import type * as Retry from "./Retry.js"
import type * as StreamPart from "./StreamPart.js"
import type * as Timeout from "./Timeout.js"

/**
 * What a provider supports, so a request using a missing capability fails fast and routers can choose.
 *
 * @since 0.1.0
 * @category models
 */
export interface Capabilities {
  readonly tools: boolean
  readonly vision: boolean
  readonly jsonSchema: boolean
  readonly streamingUsage: boolean
}

/**
 * The options every provider layer takes (`OpenAi.layer`, `Anthropic.layer`, `Cohere.layer`, `Gemini.layer`
 * and their `layerConfig` / Azure variants), beside the provider's own.
 *
 * @example
 * ```ts
 * import { LanguageModel } from "liter-llm"
 *
 * const options: LanguageModel.ProviderOptions = { name: "ollama", model: "llama3.2", retry: false }
 * ```
 *
 * @since 0.2.0
 * @category models
 */
export interface ProviderOptions {
  /** The provider name in errors, metrics and spans (default the provider's own, e.g. `"anthropic"`). */
  readonly name?: string | undefined
  /**
   * The provider whose prices and model limits (`Pricing`) apply to calls: by default the layer's own kind
   * (`"openai"`, `"azure"`, `"anthropic"`, `"gemini"`, `"cohere"`) whatever its `name`, except an OpenAI layer
   * given both a `baseUrl` of its own and a `name` (an OpenAI-compatible server), priced under that name. Set it
   * for a proxy in front of a provider, e.g. `pricingProvider: "openai"`.
   */
  readonly pricingProvider?: string | undefined
  /** The model used when a request names none. */
  readonly model?: string | undefined
  /** Extra headers on every request (never put secrets here: use `apiKey`). */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** The retry policy (default {@link Retry.defaults}); `false` turns retries off. */
  readonly retry?: Retry.Policy | false | undefined
  readonly timeout?: Timeout.Options | undefined
  /** Overrides the capabilities announced for this endpoint (all on by default). */
  readonly capabilities?: Partial<Capabilities> | undefined
}

/**
 * The service. Its methods take validated requests; use the module-level {@link generate} and
 * {@link stream}, which validate plain objects first.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The provider's name, e.g. `"openai"`, used in errors, metrics and spans. */
  readonly provider: string
  /** The model used when a request names none. */
  readonly defaultModel?: string | undefined
  /**
   * The provider whose prices and model limits (`Pricing`) apply to calls, when `provider` names a policy
   * rather than a provider (a fallback chain, a router): that of its first step. Default `provider`.
   */
  readonly pricingProvider?: string | undefined
  readonly capabilities: Capabilities
  readonly generate: (request: ChatRequest.ChatRequest) => Effect.Effect<ChatResponse.ChatResponse, LlmError.LlmError>
  readonly stream: (request: ChatRequest.ChatRequest) => Stream.Stream<StreamPart.StreamPart, LlmError.LlmError>
}

/**
 * A pull of a stream's parts, as `Stream.toPull` gives it: each run yields the next chunk, fails with
 * `Option.none()` at the end and with `Option.some(error)` on a failure.
 *
 * @since 0.2.0
 * @category models
 */
export type Pull = Effect.Effect<Chunk.Chunk<StreamPart.StreamPart>, Option.Option<LlmError.LlmError>>

const pullKey = Symbol.for("liter-llm/LanguageModel/pull")

type Pulling = Service["stream"] & {
  readonly [pullKey]?: (request: ChatRequest.ChatRequest) => Effect.Effect<Pull, never, Scope.Scope>
}

/**
 * A `stream` function that also reads as a pull: `toPull` uses `pull` for it, which must give the same parts,
 * errors and effects as `Stream.toPull(stream(request))` without running a stream. A wrapper that replaces
 * `stream` with a function of its own drops it, so a policy wrapped around a service never loses its effect on
 * the pull.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { LanguageModel } from "liter-llm"
 * declare const inner: LanguageModel.Service
 *
 * const logged: LanguageModel.Service = {
 *   ...inner,
 *   stream: LanguageModel.withPull(
 *     (request) => inner.stream(request),
 *     (request) => LanguageModel.toPull(inner, request)
 *   )
 * }
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const withPull = (
  stream: Service["stream"],
  pull: (request: ChatRequest.ChatRequest) => Effect.Effect<Pull, never, Scope.Scope>
): Service["stream"] => Object.assign((request: ChatRequest.ChatRequest) => stream(request), { [pullKey]: pull })

/**
 * The stream of `service.stream(request)` as a pull in the current scope, for a consumer that writes each chunk
 * somewhere else (a server): the provider's own pull where it has one (see `withPull`), skipping the stream
 * stages; else `Stream.toPull`. Nothing runs until the first pull.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { LanguageModel } from "liter-llm"
 * declare const service: LanguageModel.Service
 *
 * const firstChunk = Effect.scoped(
 *   Effect.flatMap(LanguageModel.toPull(service, { messages: [{ role: "user", content: "Hi" }] }), (pull) => pull)
 * )
 * ```
 *
 * @since 0.2.0
 * @category streaming
 */
export const toPull = (
  service: Pick<Service, "stream">,
  request: ChatRequest.ChatRequest
): Effect.Effect<Pull, never, Scope.Scope> => {
  const pull = (service.stream as Pulling)[pullKey]
  return pull === undefined ? Stream.toPull(service.stream(request)) : pull(request)
}

/**
 * The provider a service's calls are priced at (see `Service.pricingProvider`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { LanguageModel, Pricing } from "liter-llm"
 *
 * const price = Effect.flatMap(LanguageModel.LanguageModel, (service) =>
 *   Pricing.price("gpt-4o-mini", LanguageModel.pricingProvider(service)))
 * ```
 *
 * @since 0.2.0
 * @category utils
 */
export const pricingProvider = (service: Pick<Service, "provider" | "pricingProvider">): string =>
  service.pricingProvider ?? service.provider

/**
 * What a model is assumed to support unless its layer says otherwise.
 *
 * @since 0.1.0
 * @category capabilities
 */
export const defaultCapabilities: Capabilities = { tools: true, vision: true, jsonSchema: true, streamingUsage: true }

/**
 * The capabilities a request needs that `capabilities` lack, by name (`"tools"`, `"JSON schema"`, `"images"`).
 *
 * @since 0.1.0
 * @category capabilities
 */
export const missingCapabilities = (
  capabilities: Capabilities,
  request: ChatRequest.ChatRequest
): ReadonlyArray<string> => {
  const missing: Array<string> = []
  if (!capabilities.tools && (request.tools?.length ?? 0) > 0) missing.push("tools")
  if (!capabilities.jsonSchema && request.responseFormat?.type === "json-schema") missing.push("JSON schema")
  const hasImage = request.messages.some((message) =>
    message.role === "user" && typeof message.content !== "string" &&
    message.content.some((part) => part.type === "image")
  )
  if (!capabilities.vision && hasImage) missing.push("images")
  return missing
}

/**
 * Fails fast with `InvalidRequest` when a request needs a capability the model lacks, before any call.
 *
 * @example
 * ```ts
 * import { LanguageModel } from "liter-llm"
 * declare const request: Parameters<typeof LanguageModel.checkCapabilities>[1]
 *
 * LanguageModel.checkCapabilities({ tools: false, vision: true, jsonSchema: true, streamingUsage: true }, request, {
 *   provider: "ollama"
 * })
 * ```
 *
 * @since 0.1.0
 * @category capabilities
 */
export const checkCapabilities = (
  capabilities: Capabilities,
  request: ChatRequest.ChatRequest,
  context: { readonly provider: string; readonly model?: string | undefined }
): Effect.Effect<void, LlmError.InvalidRequest> => {
  const missing = missingCapabilities(capabilities, request)
  return missing.length === 0 ? Effect.void : Effect.fail(
    new LlmError.InvalidRequest({
      provider: context.provider,
      ...(context.model === undefined ? {} : { model: context.model }),
      message: `${context.provider} does not support ${missing.join(", ")}`
    })
  )
}

/**
 * The service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export class LanguageModel extends Context.Tag("liter-llm/LanguageModel")<LanguageModel, Service>() {}

/**
 * Builds a service from its parts; `capabilities` default to "everything".
 *
 * @example
 * ```ts
 * import { Effect, Layer, Stream } from "effect"
 * import { LanguageModel } from "liter-llm"
 *
 * const Echo = Layer.succeed(LanguageModel.LanguageModel, LanguageModel.make({
 *   provider: "echo",
 *   generate: (request) => Effect.succeed({
 *     id: "1", provider: "echo", model: "echo", finishReason: "stop",
 *     content: [{ type: "text", text: JSON.stringify(request.messages) }]
 *   }),
 *   stream: () => Stream.empty
 * }))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  service: Omit<Service, "capabilities"> & { readonly capabilities?: Partial<Capabilities> | undefined }
): Service => ({
  ...service,
  capabilities: { ...defaultCapabilities, ...service.capabilities }
})

/**
 * Sends a chat request to the provided `LanguageModel`. The plain-object request is validated first: a
 * malformed one fails with `InvalidRequest` before any network call.
 *
 * @example
 * ```ts
 * import { Effect, Redacted } from "effect"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { ChatResponse, LanguageModel, OpenAi } from "liter-llm"
 *
 * const program = LanguageModel.generate({
 *   model: "gpt-4o-mini",
 *   messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Capital of France?" }],
 *   maxTokens: 100
 * }).pipe(Effect.map(ChatResponse.text))
 *
 * program.pipe(
 *   Effect.provide(OpenAi.layer({ apiKey: Redacted.make(process.env.OPENAI_API_KEY!) })),
 *   Effect.provide(NodeHttpClient.layerUndici)
 * )
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const generate = (
  request: ChatRequest.Input
): Effect.Effect<ChatResponse.ChatResponse, LlmError.LlmError, LanguageModel> =>
  Effect.flatMap(
    LanguageModel,
    (model) => Effect.flatMap(ChatRequest.decode(request, model.provider), model.generate)
  )

/**
 * Streams a chat response as typed parts. Failures before the first content part may be retried by the
 * provider layer; after it, the stream fails with `StreamInterrupted`.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { LanguageModel } from "liter-llm"
 *
 * const printed = LanguageModel.stream({ messages: [{ role: "user", content: "Tell a story" }] }).pipe(
 *   Stream.runForEach((part) => part.type === "text-delta" ? Effect.sync(() => process.stdout.write(part.text)) : Effect.void)
 * )
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const stream = (
  request: ChatRequest.Input
): Stream.Stream<StreamPart.StreamPart, LlmError.LlmError, LanguageModel> =>
  Stream.unwrap(
    Effect.flatMap(
      LanguageModel,
      (model) => Effect.map(ChatRequest.decode(request, model.provider), model.stream)
    )
  )

/**
 * A request for structured output: a chat request plus the Effect `Schema` the answer must decode with.
 *
 * @since 0.1.0
 * @category models
 */
export type ObjectRequest<A, I> = Omit<ChatRequest.Input, "responseFormat"> & {
  readonly schema: Schema.Schema<A, I>
  /** The name providers see for the schema; default the schema's `identifier` / `title`, else `"response"`. */
  readonly schemaName?: string | undefined
  readonly schemaDescription?: string | undefined
  /** OpenAI strict mode (default `true`): every property must then be required. */
  readonly strict?: boolean | undefined
}

/**
 * The decoded value and the response it came from (usage, finish reason, ...).
 *
 * @since 0.1.0
 * @category models
 */
export interface ObjectResponse<A> {
  readonly value: A
  readonly response: ChatResponse.ChatResponse
}

/**
 * Asks for JSON matching an Effect `Schema` and decodes the answer with it. The JSON Schema is derived from
 * the Schema and each provider encodes it its own way (OpenAI `json_schema` strict, Anthropic a forced tool,
 * Gemini `responseJsonSchema`, Cohere `response_format`). An answer that is not JSON or does not decode fails
 * with `MalformedResponse` carrying the raw text; an answer the model refused, or the provider's content filter
 * stopped, fails with `ContentFiltered` (the refusal text in `refusal`).
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { LanguageModel } from "liter-llm"
 *
 * const City = Schema.Struct({ name: Schema.String, country: Schema.String, population: Schema.Number })
 *
 * const city = LanguageModel.generateObject({
 *   messages: [{ role: "user", content: "The largest city of France, as JSON." }],
 *   schema: City
 * }).pipe(Effect.map(({ value }) => value.population))
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const generateObject = <A, I>(
  request: ObjectRequest<A, I>
): Effect.Effect<ObjectResponse<A>, LlmError.LlmError, LanguageModel> =>
  Effect.suspend(() => {
    // From JavaScript, anything can arrive: a request that is no object, or a schema that is no Schema, is the
    // caller's error (the chat fields are checked by `generate`), not a throw at the call.
    if (typeof request !== "object" || request === null) {
      return Effect.fail(invalidObjectRequest(`expected a request object, got ${Described.described(request)}`))
    }
    if (!Schema.isSchema(request.schema)) {
      return Effect.fail(
        invalidObjectRequest(`\`schema\` must be an effect/Schema, got ${Described.described(request.schema)}`)
      )
    }
    return objectOf(request)
  })

const invalidObjectRequest = (reason: string) =>
  new LlmError.InvalidRequest({ provider: "liter-llm", message: `generateObject: ${reason}` })

const objectOf = <A, I>(
  request: ObjectRequest<A, I>
): Effect.Effect<ObjectResponse<A>, LlmError.LlmError, LanguageModel> => {
  const { schema, schemaDescription, schemaName: name, strict, ...chat } = request
  // A Schema without a JSON Schema (e.g. a BigInt without annotation) is the caller's error, not a throw.
  const jsonSchema = Effect.try({
    try: () => StructuredOutput.toJsonSchema(schema),
    catch: (cause) => invalidObjectRequest(`the schema has no JSON Schema: ${(cause as Error).message}`)
  })
  const decodeValue = Schema.decodeUnknownEither(schema)
  return Effect.flatMap(jsonSchema, (jsonSchema) =>
    Effect.flatMap(
      generate({
        ...chat,
        responseFormat: {
          type: "json-schema",
          name: name ?? StructuredOutput.schemaName(schema) ?? "response",
          schema: jsonSchema,
          ...(schemaDescription === undefined ? {} : { description: schemaDescription }),
          strict: strict ?? true
        }
      }),
      (response): Effect.Effect<ObjectResponse<A>, LlmError.LlmError> => {
        const refused = StructuredOutput.refusalError(response)
        if (refused !== undefined) return Effect.fail(refused)
        const text = ChatResponse.text(response)
        const malformed = (reason: string) =>
          new LlmError.MalformedResponse({
            provider: response.provider,
            model: response.model,
            body: LlmError.truncateBody(text),
            message: `${response.provider}: the answer does not match the schema: ${reason}`
          })
        let json: unknown
        try {
          json = JSON.parse(StructuredOutput.unfence(text))
        } catch (cause) {
          return Effect.fail(malformed(`not JSON (${Errors.jsonParseReason(cause)})`))
        }
        const decoded = decodeValue(json)
        return decoded._tag === "Right"
          ? Effect.succeed({ value: decoded.right, response })
          : Effect.fail(malformed(ChatRequest.formatIssues(decoded.left)))
      }
    ))
}
