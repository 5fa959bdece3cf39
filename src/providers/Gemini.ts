/**
 * Google Gemini (the Generative Language API, `generativelanguage.googleapis.com`) as a `LanguageModel` Layer.
 *
 * Calls `POST {baseUrl}/{apiVersion}/models/{model}:generateContent`, and
 * `:streamGenerateContent?alt=sse` for streams, authenticated by the `x-goog-api-key` header (never the `key=`
 * query parameter: URLs end up in span attributes and logs).
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as ChatRequest from "../ChatRequest.js"
import * as GeminiErrors from "../internal/gemini/errors.js"
import * as GeminiFraming from "../internal/gemini/framing.js"
import * as GeminiRequest from "../internal/gemini/request.js"
import * as GeminiStream from "../internal/gemini/stream.js"
import * as Service from "../internal/service.js"
import * as Streaming from "../internal/streaming.js"
import * as LanguageModel from "../LanguageModel.js"
import type * as Retry from "../Retry.js"
import type * as Timeout from "../Timeout.js"

/**
 * The provider name: in errors, metrics and spans, and the key of `providerOptions` merged into the body.
 *
 * @since 0.1.0
 * @category constants
 */
export const providerName = "gemini"

/**
 * The Generative Language API endpoint.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultBaseUrl = "https://generativelanguage.googleapis.com"

/**
 * The API version in the path (`v1beta` has every feature used here: system instructions, thinking,
 * `responseJsonSchema`, `parametersJsonSchema`).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultApiVersion = "v1beta"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The Gemini API key, sent as `x-goog-api-key`. Optional only for proxies that add it themselves. */
  readonly apiKey?: Redacted.Redacted | undefined
  /** Default {@link defaultBaseUrl}. */
  readonly baseUrl?: string | undefined
  /** Default {@link defaultApiVersion}. */
  readonly apiVersion?: string | undefined
  /** The model used when a request names none, with or without the `models/` prefix. */
  readonly model?: string | undefined
  /** Extra headers on every request (never put secrets here: use `apiKey`). */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** The retry policy (default `Retry.defaults`); `false` turns retries off. */
  readonly retry?: Retry.Policy | false | undefined
  readonly timeout?: Timeout.Options | undefined
  /** Overrides the capabilities announced for this endpoint. */
  readonly capabilities?: Partial<LanguageModel.Capabilities> | undefined
}

/**
 * A `LanguageModel` for Gemini. Needs an `HttpClient` (e.g. `NodeHttpClient.layerUndici` or
 * `FetchHttpClient.layer`). Retries are on by default (`Retry.defaults`), honouring the `RetryInfo.retryDelay`
 * of a 429 body. Thinking and other Gemini-only settings go in `providerOptions.gemini`, e.g.
 * `{ generationConfig: { thinkingConfig: { thinkingBudget: 1024, includeThoughts: true } } }` (its
 * `generationConfig` and `toolConfig` are merged key by key into the generated ones).
 *
 * @example
 * ```ts
 * import { Effect, Redacted } from "effect"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { ChatResponse, Gemini, LanguageModel } from "liter-llm"
 *
 * const GeminiLive = Gemini.layer({ apiKey: Redacted.make("AIza..."), model: "gemini-2.5-flash" })
 *
 * const answer = LanguageModel.generate({ messages: [{ role: "user", content: "Capital of France?" }] }).pipe(
 *   Effect.map(ChatResponse.text),
 *   Effect.provide(GeminiLive),
 *   Effect.provide(NodeHttpClient.layerUndici)
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<LanguageModel.LanguageModel, never, HttpClient.HttpClient> => {
  const base = `${Service.trimSlash(options.baseUrl ?? defaultBaseUrl)}/${options.apiVersion ?? defaultApiVersion}`
  const headers: Record<string, string> = { ...options.headers }
  if (options.apiKey !== undefined) headers["x-goog-api-key"] = Redacted.value(options.apiKey)
  const secrets = options.apiKey === undefined ? [] : [Redacted.value(options.apiKey)]
  const chatRequest = (request: ChatRequest.ChatRequest, model: string, { stream }: { readonly stream: boolean }) =>
    Service.postJson(
      providerName,
      model,
      `${base}/${GeminiRequest.modelPath(model)}:${stream ? "streamGenerateContent?alt=sse" : "generateContent"}`,
      headers,
      GeminiRequest.encodeRequest(request, { model, optionKey: providerName })
    )
  return Layer.effect(
    LanguageModel.LanguageModel,
    Effect.map(HttpClient.HttpClient, (client) =>
      Service.make(client, {
        provider: providerName,
        defaultModel: options.model,
        capabilities: { ...LanguageModel.defaultCapabilities, ...options.capabilities },
        secrets,
        classifyError: GeminiErrors.classifyError,
        chatRequest,
        decodeChat: GeminiStream.decodeResponse,
        streamParts: (body, context, requestId, call) =>
          Streaming.decode(
            GeminiFraming.frames(body, call.headers["content-type"]),
            () => GeminiStream.makeDecoder(context, requestId)
          )
      }, options))
  )
}

/**
 * The API key from the environment: `GEMINI_API_KEY`, else `GOOGLE_API_KEY` (the names Google's SDKs read);
 * without either, one `MissingData` error at `GEMINI_API_KEY` that names both.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Gemini } from "liter-llm"
 *
 * const hasKey = Effect.isSuccess(Gemini.apiKeyConfig)
 * ```
 *
 * @since 0.1.0
 * @category config
 */
export const apiKeyConfig: Config.Config<Redacted.Redacted> = Config.all([
  Config.option(Config.redacted("GEMINI_API_KEY")),
  Config.option(Config.redacted("GOOGLE_API_KEY"))
]).pipe(
  Config.mapOrFail(([gemini, google]) =>
    Option.match(Option.orElse(gemini, () => google), {
      onNone: () =>
        Either.left(
          ConfigError.MissingData(
            ["GEMINI_API_KEY"],
            "Gemini needs an API key: set GEMINI_API_KEY (or GOOGLE_API_KEY), or pass `apiKey`"
          )
        ),
      onSome: Either.right
    })
  )
)

/**
 * {@link layer} configured from the environment: `GEMINI_API_KEY` (else `GOOGLE_API_KEY`; one is required
 * unless `options.apiKey` is given), `GEMINI_BASE_URL`, `GEMINI_MODEL`; `options` set the rest and win over
 * the environment.
 *
 * @example
 * ```ts
 * import { Gemini } from "liter-llm"
 *
 * const FromEnv = Gemini.layerConfig({ timeout: { total: "2 minutes" } })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Options = {}
): Layer.Layer<LanguageModel.LanguageModel, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Service.layerFromEnv({ apiKey: apiKeyConfig, baseUrl: "GEMINI_BASE_URL", model: "GEMINI_MODEL" }, options, layer)
