import type * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as Chunk from "effect/Chunk"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as ChatRequest from "../ChatRequest.js"
import * as ChatResponse from "../ChatResponse.js"
import * as LanguageModel from "../LanguageModel.js"
import * as LlmError from "../LlmError.js"
import * as Pricing from "../Pricing.js"
import * as Retry from "../Retry.js"
import type * as StreamPart from "../StreamPart.js"
import * as Timeout from "../Timeout.js"
import * as CommitPoint from "./commitPoint.js"
import * as Errors from "./errors.js"
import type * as Framing from "./framing.js"
import type * as Headers from "./headers.js"
import * as Http from "./http.js"
import * as Instrument from "./instrument.js"
import * as LayerOptions from "./layerOptions.js"
import * as Span from "./span.js"
import * as Streaming from "./streaming.js"

/**
 * What a provider adapter knows: its wire format. Retries, deadlines, spans and validation are added by
 * {@link make}, the same for every provider.
 */
export interface Adapter {
  readonly provider: string
  /** The provider whose prices apply to calls (`LanguageModel.ProviderOptions.pricingProvider`). */
  readonly pricingProvider: string
  /**
   * The usage a call is priced at, for a provider that bills other counts than those it reports as `usage`
   * (Cohere's `billed_units`), read from the response's provider metadata. Absent: `usage` itself.
   */
  readonly billedUsage?: Streaming.BilledUsage | undefined
  readonly defaultModel: string | undefined
  readonly capabilities: LanguageModel.Capabilities
  /** Secret values to scrub from anything an error keeps. */
  readonly secrets: ReadonlyArray<string>
  readonly classifyError: Errors.ClassifyError
  /** The HTTP request of a chat call. */
  readonly chatRequest: (
    request: ChatRequest.ChatRequest,
    model: string,
    options: { readonly stream: boolean }
  ) => Effect.Effect<HttpClientRequest.HttpClientRequest, LlmError.LlmError>
  /**
   * Decodes a streamed body (already mapped to `LlmError`s) into parts: the decoder of an SSE body, which is
   * then checked, framed and decoded in one stage, or a function of the checked body for any other framing.
   */
  readonly streamParts:
    | {
      readonly sse: (
        context: Errors.ErrorContext,
        requestId: string | undefined,
        call: Call
      ) => Streaming.Decoder<Framing.Frame>
    }
    | ((
      body: Stream.Stream<Uint8Array, LlmError.LlmError>,
      context: Errors.ErrorContext,
      requestId: string | undefined,
      call: Call,
      /** Wraps the stream's decoder so its usage parts carry their cost (see `Streaming.pricedDecoder`). */
      priced: <F>(decoder: Streaming.Decoder<F>) => Streaming.Decoder<F>
    ) => Stream.Stream<StreamPart.StreamPart, LlmError.LlmError>)
  /** Decodes a non-streaming response body. */
  readonly decodeChat: (
    json: unknown,
    raw: {
      readonly text: string
      readonly status: number
      readonly requestId: string | undefined
    } & Call,
    context: Errors.ErrorContext
  ) => Effect.Effect<ChatResponse.ChatResponse, LlmError.LlmError>
}

/** The call a response belongs to: what an adapter may need besides the body (e.g. rate-limit headers). */
export interface Call {
  readonly request: ChatRequest.ChatRequest
  readonly headers: Headers.HeaderRecord
}

/** The options every provider layer takes (defined in the public `LanguageModel` module). */
export type Options = LanguageModel.ProviderOptions

/** The `gen_ai.*` attributes of a request (OpenTelemetry GenAI semantic conventions). */
const requestAttributes = (provider: string, model: string, request: ChatRequest.ChatRequest) => ({
  "gen_ai.operation.name": "chat",
  "gen_ai.provider.name": provider,
  "gen_ai.system": provider,
  "gen_ai.request.model": model,
  ...(request.maxTokens === undefined ? {} : { "gen_ai.request.max_tokens": request.maxTokens }),
  ...(request.temperature === undefined ? {} : { "gen_ai.request.temperature": request.temperature })
})

const retrying = (policy: Retry.Policy | false) =>
  policy === false ? <A, E, R>(self: Effect.Effect<A, E, R>) => self : Retry.retry(policy)

/** Builds the `LanguageModel` service of an adapter. */
export const make = (client: HttpClient.HttpClient, adapter: Adapter, options: Options): LanguageModel.Service => {
  const timeouts = Timeout.make(options.timeout)
  const policy = options.retry === undefined ? Retry.defaults : options.retry
  // Built once per layer; a call runs under another policy only inside `Retry.withPolicy`.
  const layerRetrying = retrying(policy)
  const retryingFor = (effective: Retry.Policy | false) => effective === policy ? layerRetrying : retrying(effective)

  const resolve = (request: ChatRequest.ChatRequest): Effect.Effect<Errors.ErrorContext, LlmError.InvalidRequest> => {
    const model = request.model ?? adapter.defaultModel
    const context = { provider: adapter.provider, model, secrets: adapter.secrets }
    if (model === undefined) {
      return Effect.fail(
        new LlmError.InvalidRequest({
          provider: adapter.provider,
          message: `${adapter.provider}: no model: set \`model\` on the request or a default model on the layer`
        })
      )
    }
    return Effect.as(LanguageModel.checkCapabilities(adapter.capabilities, request, context), context)
  }

  // Request values are `unknown` (tool arguments, results, schemas): one that JSON cannot encode (a BigInt, a
  // cycle) makes the encoder throw, which is the caller's error, not a defect.
  const encode = (request: ChatRequest.ChatRequest, model: string, stream: boolean) => {
    try {
      return adapter.chatRequest(request, model, { stream })
    } catch (cause) {
      return Effect.fail(
        new LlmError.InvalidRequest({
          provider: adapter.provider,
          model,
          message: `${adapter.provider}: the request cannot be encoded as JSON: ${(cause as Error).message}`
        })
      )
    }
  }

  // Everything refused here is refused before the wire: no provider call, so no span, no metrics event and no
  // breaker outcome. The request is encoded once; retries resend the same bytes.
  const prepare = (request: ChatRequest.ChatRequest, stream: boolean) =>
    Effect.flatMap(
      resolve(request),
      (context) => Effect.map(encode(request, context.model!, stream), (http) => ({ context, http }))
    )

  const generate = (request: ChatRequest.ChatRequest) =>
    Effect.flatMap(prepare(request, false), (prepared) =>
      Effect.flatMap(Retry.effective(policy), (effective) => {
        const { context, http } = prepared
        const model = context.model!
        const priced = (pricing: Pricing.Service) => (response: ChatResponse.ChatResponse) => {
          const usage = response.usage === undefined || adapter.billedUsage === undefined
            ? response.usage
            : adapter.billedUsage(response.usage, response.providerMetadata)
          const costUsd = Pricing.costOfCall(pricing, usage, adapter.pricingProvider, model, response.model)
          return costUsd === undefined ? response : { ...response, costUsd }
        }
        let attempts = 0
        const attempt = Effect.suspend(() => {
          attempts++
          return Http.sendJson(client, context, adapter.classifyError, http, timeouts.request).pipe(
            Effect.flatMap(({ json, ok, text }) =>
              adapter.decodeChat(json, {
                text,
                status: ok.response.status,
                requestId: ok.requestId,
                request,
                headers: ok.headers
              }, context).pipe(Effect.flatMap((response) => {
                const impossible = response.usage === undefined ? undefined : Errors.impossibleUsage(response.usage)
                return impossible === undefined ?
                  Effect.succeed(ChatResponse.withSettledFinishReason(response)) :
                  Effect.fail(
                    Errors.malformed(context, impossible, text, { status: ok.response.status, requestId: ok.requestId })
                  )
              }))
            ),
            Effect.flatMap((response) => Effect.map(Pricing.Pricing, (pricing) => priced(pricing)(response))),
            Timeout.within(context, "total", timeouts.total)
          )
        })
        return Instrument.generate(
          { provider: adapter.provider, model, request },
          () => attempts,
          retryingFor(effective)(attempt)
        ).pipe(
          Effect.tap((response) => Effect.annotateCurrentSpan(Instrument.responseAttributes(response))),
          Span.withSpan(`chat ${model}`, {
            kind: "client",
            attributes: requestAttributes(adapter.provider, model, request)
          })
        )
      }))

  // The stream as a pull (see `LanguageModel.toPull`): a failure to prepare the request is its first pull's.
  const streamPull = (request: ChatRequest.ChatRequest): Effect.Effect<Streaming.Pull, never, Scope.Scope> =>
    Effect.matchEffect(prepare(request, true), {
      onFailure: (error) => Effect.succeed(Effect.fail(Option.some<LlmError.LlmError>(error))),
      onSuccess: ({ context, http }) => pullOf(request, context, http)
    })

  const pullOf = (
    request: ChatRequest.ChatRequest,
    context: Errors.ErrorContext,
    http: HttpClientRequest.HttpClientRequest
  ) =>
    Effect.gen(function*() {
      const effective = yield* Retry.effective(policy)
      const model = context.model!
      // One span for the whole stream, parent of each attempt's HTTP span. Not `Stream.withSpan`, which
      // re-provides the span on every pull (measurable per token).
      const pricing = yield* Pricing.Pricing
      const priced = <F>(decoder: Streaming.Decoder<F>) =>
        Streaming.pricedDecoder(
          decoder,
          (usage, responseModel) => Pricing.costOfCall(pricing, usage, adapter.pricingProvider, model, responseModel),
          (reason, usage) => Errors.malformed(context, reason, JSON.stringify(usage)),
          adapter.billedUsage
        )
      const span = yield* Effect.makeSpanScoped(`chat ${model}`, {
        kind: "client",
        captureStackTrace: false,
        attributes: { ...requestAttributes(adapter.provider, model, request), "gen_ai.request.stream": true }
      })
      let attempts = 0
      // One attempt, opened as a pull in its own scope (the commit point's): an SSE body read from this
      // library's undici client is decoded straight from the socket's buffer, with no stream stage per attempt.
      const open = Effect.suspend(() => {
        attempts++
        return Http.send(client, context, adapter.classifyError, http, timeouts.request)
      }).pipe(
        Effect.flatMap((ok) => {
          const info: Streaming.BodyInfo = {
            status: ok.response.status,
            contentType: ok.headers["content-type"],
            requestId: ok.requestId,
            classify: adapter.classifyError
          }
          const call = { request, headers: ok.headers }
          const { streamParts } = adapter
          if (typeof streamParts === "function") {
            const body = Streaming.checkBody(Http.bodyStream(context, ok), context, info)
            return Stream.toPull(streamParts(body, context, ok.requestId, call, priced))
          }
          const decoder = () => priced(streamParts.sse(context, ok.requestId, call))
          const node = Http.nodeBody(context, ok)
          return node === undefined
            ? Stream.toPull(Streaming.decodeSse(Http.bodyStream(context, ok), decoder, { context, info }))
            : Streaming.ssePull(node.body, node.error, decoder, { context, info })
        }),
        Effect.withParentSpan(span)
      )
      // What reached the consumer, kept by the commit point anyway: read once at the end for the span and metrics.
      const delivered: Array<Chunk.Chunk<StreamPart.StreamPart>> = []
      const clock = yield* Effect.clock
      let firstContentAt: number | undefined
      const parts = CommitPoint.committed(
        open,
        context,
        timeouts,
        retryingFor(effective),
        delivered,
        () => {
          firstContentAt = clock.unsafeCurrentTimeMillis()
        }
      )
      return yield* Instrument.pull(
        { provider: adapter.provider, model, request },
        span,
        () => attempts,
        parts,
        delivered,
        () => firstContentAt
      )
    })

  const stream = (request: ChatRequest.ChatRequest) =>
    Stream.unwrapScoped(Effect.map(streamPull(request), Stream.repeatEffectChunkOption))

  return LanguageModel.make({
    provider: adapter.provider,
    pricingProvider: adapter.pricingProvider,
    defaultModel: adapter.defaultModel,
    capabilities: adapter.capabilities,
    generate,
    stream: LanguageModel.withPull(stream, streamPull)
  })
}

/** The options that are set, so spreading them does not erase values read from the environment. */
export const definedOnly = <A extends object>(options: A): Partial<A> =>
  Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<A>

/**
 * The POST of an encoded body, or `InvalidRequest` when the encoder refused the request (a feature the
 * provider cannot express), before any network call.
 */
export const postJson = (
  provider: string,
  model: string,
  url: string,
  headers: Readonly<Record<string, string>>,
  body: Either.Either<unknown, string>
): Effect.Effect<HttpClientRequest.HttpClientRequest, LlmError.InvalidRequest> =>
  Either.isLeft(body)
    ? Effect.fail(new LlmError.InvalidRequest({ provider, model, message: `${provider}: ${body.left}` }))
    : Effect.map(
      Effect.try({
        try: () => JSON.stringify(body.right),
        catch: (cause) =>
          new LlmError.InvalidRequest({
            provider,
            model,
            message: `${provider}: the request cannot be encoded as JSON: ${(cause as Error).message}`
          })
      }),
      (text) =>
        HttpClientRequest.post(url).pipe(
          HttpClientRequest.setHeaders(headers),
          HttpClientRequest.bodyText(text, "application/json")
        )
    )

/** Where a provider's `layerConfig` reads its settings. */
export interface EnvNames {
  /** The function a user called, named in every error message, e.g. `"OpenAi.layerConfig"`. */
  readonly layer: string
  /** The API key variables, the first one set wins (several where the official SDKs read several). */
  readonly apiKey: readonly [string, ...Array<string>]
  readonly baseUrl: string
  readonly model: string
}

/**
 * A provider layer configured from the environment: key, base URL and model read with `Config`; every option
 * given wins over the environment, and its variable is then not read at all. A missing key or a bad base URL
 * is a `ConfigError` naming the variable.
 */
export const layerFromEnv = <
  O extends {
    readonly apiKey?: Redacted.Redacted | undefined
    readonly baseUrl?: string | undefined
    readonly model?: string | undefined
  },
  E,
  R
>(
  names: EnvNames,
  options: O,
  layer: (options: O & { readonly apiKey: Redacted.Redacted }) => Layer.Layer<LanguageModel.LanguageModel, E, R>,
  extra: Config.Config<Partial<O>> = Config.succeed({})
): Layer.Layer<LanguageModel.LanguageModel, E | ConfigError.ConfigError, R> =>
  Layer.unwrapEffect(
    Effect.map(
      Config.all({
        apiKey: options.apiKey === undefined
          ? LayerOptions.apiKeyConfig(names.layer, names.apiKey)
          : Config.succeed(options.apiKey),
        baseUrl: options.baseUrl === undefined
          ? LayerOptions.baseUrlEnv(names.layer, names.baseUrl)
          : Config.succeed(Option.none()),
        model: options.model === undefined ? LayerOptions.optionalEnv(names.model) : Config.succeed(Option.none()),
        extra
      }),
      (env) =>
        layer(
          {
            ...(Option.isSome(env.baseUrl) ? { baseUrl: env.baseUrl.value } : {}),
            ...(Option.isSome(env.model) ? { model: env.model.value } : {}),
            ...env.extra,
            ...definedOnly(options),
            apiKey: env.apiKey
          } as O & { readonly apiKey: Redacted.Redacted }
        )
    )
  )
