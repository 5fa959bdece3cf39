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
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as ChatRequest from "../ChatRequest.js"
import * as GeminiErrors from "../internal/gemini/errors.js"
import * as GeminiFraming from "../internal/gemini/framing.js"
import * as GeminiRequest from "../internal/gemini/request.js"
import * as GeminiStream from "../internal/gemini/stream.js"
import * as HttpOptions from "../internal/httpOptions.js"
import * as LayerOptions from "../internal/layerOptions.js"
import * as OptionChecks from "../internal/optionChecks.js"
import * as Service from "../internal/service.js"
import * as Streaming from "../internal/streaming.js"
import * as LanguageModel from "../LanguageModel.js"

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
 * The settings of the Gemini layer: key, base URL, API version and model, with the options every provider layer has
 * (retry, timeouts, headers...).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends LanguageModel.ProviderOptions {
  /** The Gemini API key, sent as `x-goog-api-key`. Optional only for proxies that add it themselves. */
  readonly apiKey?: Redacted.Redacted | undefined
  /** Default {@link defaultBaseUrl}. */
  readonly baseUrl?: string | undefined
  /** The API version in the path, default {@link defaultApiVersion}. */
  readonly apiVersion?: string | undefined
  /** The provider name in errors, metrics and spans; default {@link providerName}. */
  readonly name?: string | undefined
  /** The model used when a request names none, with or without the `models/` prefix. */
  readonly model?: string | undefined
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
): Layer.Layer<LanguageModel.LanguageModel, ConfigError.ConfigError, HttpClient.HttpClient> =>
  makeLayer("Gemini.layer", options)

const optionNames = OptionChecks.optionNames<Options>({
  ...LayerOptions.sharedOptionNames,
  apiKey: true,
  baseUrl: true,
  apiVersion: true
})

const makeLayer = (where: string, options: Options) =>
  Layer.effect(
    LanguageModel.LanguageModel,
    Effect.gen(function*() {
      yield* LayerOptions.providerOptions(where, options, optionNames)
      const baseUrl = yield* HttpOptions.baseUrl(where, "baseUrl", options.baseUrl ?? defaultBaseUrl)
      const apiVersion = yield* LayerOptions.pathSegment(where, "apiVersion", options.apiVersion ?? defaultApiVersion)
      const key = options.apiKey === undefined ? undefined : Redacted.value(options.apiKey)
      yield* LayerOptions.shared(where, options)
      yield* HttpOptions.headerValues(where, [["apiKey", key]])
      const provider = options.name ?? providerName
      const headers: Record<string, string> = { ...options.headers }
      if (key !== undefined) headers["x-goog-api-key"] = key
      const chatRequest = (
        request: ChatRequest.ChatRequest,
        model: string,
        { stream }: { readonly stream: boolean }
      ) =>
        Service.postJson(
          provider,
          model,
          `${baseUrl}/${apiVersion}/${GeminiRequest.modelPath(model)}:${
            stream ? "streamGenerateContent?alt=sse" : "generateContent"
          }`,
          headers,
          GeminiRequest.encodeRequest(request, { model, optionKey: providerName })
        )
      return Service.make(yield* HttpClient.HttpClient, {
        provider,
        pricingProvider: options.pricingProvider ?? providerName,
        defaultModel: options.model,
        capabilities: { ...LanguageModel.defaultCapabilities, ...options.capabilities },
        secrets: key === undefined ? [] : [key],
        classifyError: GeminiErrors.classifyError,
        chatRequest,
        decodeChat: GeminiStream.decodeResponse,
        streamParts: (body, context, requestId, call, priced) =>
          Streaming.decode(
            GeminiFraming.frames(body, call.headers["content-type"]),
            () => priced(GeminiStream.makeDecoder(context, requestId))
          )
      }, options)
    })
  )

const apiKeyNames = ["GEMINI_API_KEY", "GOOGLE_API_KEY"] as const

/**
 * The API key from the environment: `GEMINI_API_KEY`, else `GOOGLE_API_KEY` (the names Google's SDKs read),
 * trimmed, a blank one counting as unset; without either, one `MissingData` error at `GEMINI_API_KEY` whose
 * message names both and says what to do.
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
export const apiKeyConfig: Config.Config<Redacted.Redacted> = LayerOptions.apiKeyConfig(
  "Gemini.layerConfig",
  apiKeyNames
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
  // Checked before anything reads it: `null` from a JavaScript caller is the ConfigError `layer` gives.
  OptionChecks.layerChecked(LayerOptions.providerOptions("Gemini.layerConfig", options, optionNames), () =>
    Service.layerFromEnv(
      { layer: "Gemini.layerConfig", apiKey: apiKeyNames, baseUrl: "GEMINI_BASE_URL", model: "GEMINI_MODEL" },
      options,
      (resolved) =>
        makeLayer("Gemini.layerConfig", resolved)
    ))
