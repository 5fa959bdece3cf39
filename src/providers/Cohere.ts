/**
 * Cohere Chat v2 (`POST /v2/chat`) as a `LanguageModel` Layer.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type * as ChatRequest from "../ChatRequest.js"
import * as CohereErrors from "../internal/cohere/errors.js"
import * as CohereRequest from "../internal/cohere/request.js"
import * as CohereResponse from "../internal/cohere/response.js"
import * as CohereStream from "../internal/cohere/stream.js"
import * as HttpOptions from "../internal/httpOptions.js"
import * as LayerOptions from "../internal/layerOptions.js"
import * as OptionChecks from "../internal/optionChecks.js"
import * as Service from "../internal/service.js"
import * as LanguageModel from "../LanguageModel.js"

/**
 * The official Cohere endpoint (the layer appends `/v2/chat`).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultBaseUrl = "https://api.cohere.com"

/**
 * The provider name in errors, metrics and spans, and the key of `providerOptions` merged into the body.
 *
 * @since 0.1.0
 * @category constants
 */
export const providerName = "cohere"

/**
 * The settings of the Cohere layer: key, base URL, model and client name, with the options every provider layer has
 * (retry, timeouts, headers...).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends LanguageModel.ProviderOptions {
  /** Sent as `authorization: Bearer <key>`. */
  readonly apiKey: Redacted.Redacted
  /** Default {@link defaultBaseUrl}; the layer appends `/v2/chat`. */
  readonly baseUrl?: string | undefined
  /** The provider name in errors, metrics and spans; default {@link providerName}. */
  readonly name?: string | undefined
  /** The model used when a request names none, e.g. `"command-a-03-2025"`. */
  readonly model?: string | undefined
  /**
   * Overrides the capabilities announced. All are on by default; images need a vision model (e.g.
   * `command-a-vision-07-2025`), so set `{ vision: false }` for a text-only default model to fail fast.
   */
  readonly capabilities?: Partial<LanguageModel.Capabilities> | undefined
  /** Sent as `X-Client-Name`, Cohere's name for the calling project. */
  readonly clientName?: string | undefined
}

/**
 * The options of {@link layerConfig}: those of {@link layer}, `apiKey` optional (read from the environment).
 *
 * @since 0.1.0
 * @category models
 */
export type ConfigOptions = Omit<Options, "apiKey"> & { readonly apiKey?: Redacted.Redacted | undefined }

const optionNames = OptionChecks.optionNames<Options>({
  ...LayerOptions.sharedOptionNames,
  apiKey: true,
  baseUrl: true,
  clientName: true
})

const make = (where: string, options: Options) =>
  Effect.gen(function*() {
    yield* LayerOptions.providerOptions(where, options, optionNames)
    const url = `${yield* HttpOptions.baseUrl(where, "baseUrl", options.baseUrl ?? defaultBaseUrl)}/v2/chat`
    const key = yield* LayerOptions.requiredApiKey(where, options.apiKey, "COHERE_API_KEY")
    yield* LayerOptions.shared(where, options)
    yield* HttpOptions.headerValues(where, [["apiKey", key], ["clientName", options.clientName]])
    const headers: Record<string, string> = {
      ...options.headers,
      ...(options.clientName === undefined ? {} : { "x-client-name": options.clientName }),
      authorization: `Bearer ${key}`
    }
    return service(yield* HttpClient.HttpClient, { provider: options.name ?? providerName, url, headers, key }, options)
  })

interface Endpoint {
  readonly provider: string
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly key: string
}

const service = (
  client: HttpClient.HttpClient,
  { headers, key, provider, url }: Endpoint,
  options: Options
): LanguageModel.Service => {
  const capabilities = { ...LanguageModel.defaultCapabilities, ...options.capabilities }

  return Service.make(client, {
    provider,
    pricingProvider: options.pricingProvider ?? providerName,
    // Priced at `billed_units`: `usage` counts Cohere's own system prompt, which it does not charge for.
    billedUsage: CohereResponse.billedUsage,
    defaultModel: options.model,
    capabilities,
    secrets: [key],
    classifyError: CohereErrors.classifyError,
    chatRequest: (request: ChatRequest.ChatRequest, model, { stream }) =>
      Service.postJson(provider, model, url, headers, CohereRequest.encodeRequest(request, { model, stream })),
    decodeChat: (json, raw, context) => CohereResponse.decodeResponse(json, raw, context, raw),
    streamParts: {
      sse: (context, requestId, call) =>
        CohereStream.makeDecoder(context, {
          requestId,
          providerMetadata: CohereResponse.headerMetadata(requestId, call.headers)
        })
    }
  }, options)
}

/**
 * A `LanguageModel` for the Cohere v2 Chat API. Needs an `HttpClient` (e.g. `NodeHttpClient.layerUndici` or
 * `FetchHttpClient.layer`). Retries are on by default (`Retry.defaults`). Cohere-only fields (`thinking`,
 * `documents`, `citation_options`, `safety_mode`, ...) go in `providerOptions.cohere`.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { Cohere, LanguageModel } from "liter-llm"
 *
 * const CohereLive = Cohere.layer({ apiKey: Redacted.make("..."), model: "command-a-03-2025" })
 *
 * const answer = LanguageModel.generate({
 *   model: "command-a-reasoning-08-2025",
 *   messages: [{ role: "user", content: "Why is the sky blue?" }],
 *   providerOptions: { cohere: { thinking: { type: "enabled", token_budget: 2048 } } }
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<LanguageModel.LanguageModel, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.effect(LanguageModel.LanguageModel, make("Cohere.layer", options))

/**
 * {@link layer} configured from the environment: `COHERE_API_KEY` (required; `CO_API_KEY`, the official SDKs'
 * name, is read when it is absent), `COHERE_BASE_URL`, `COHERE_MODEL`; `options` set the rest and win over the
 * environment.
 *
 * @example
 * ```ts
 * import { Cohere } from "liter-llm"
 *
 * const FromEnv = Cohere.layerConfig({ clientName: "search-service" })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: ConfigOptions = {}
): Layer.Layer<LanguageModel.LanguageModel, ConfigError.ConfigError, HttpClient.HttpClient> =>
  // Checked before anything reads it: `null` from a JavaScript caller is the ConfigError `layer` gives.
  OptionChecks.layerChecked(LayerOptions.providerOptions("Cohere.layerConfig", options, optionNames), () =>
    Service.layerFromEnv(
      {
        layer: "Cohere.layerConfig",
        apiKey: ["COHERE_API_KEY", "CO_API_KEY"],
        baseUrl: "COHERE_BASE_URL",
        model: "COHERE_MODEL"
      },
      options,
      (resolved) =>
        Layer.effect(LanguageModel.LanguageModel, make("Cohere.layerConfig", resolved))
    ))
