/**
 * Anthropic Messages (`POST /v1/messages`) as a `LanguageModel` Layer.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type * as ChatRequest from "../ChatRequest.js"
import * as AnthropicErrors from "../internal/anthropic/errors.js"
import * as AnthropicRequest from "../internal/anthropic/request.js"
import * as AnthropicResponse from "../internal/anthropic/response.js"
import * as AnthropicStream from "../internal/anthropic/stream.js"
import * as HttpOptions from "../internal/httpOptions.js"
import * as LayerOptions from "../internal/layerOptions.js"
import * as OptionChecks from "../internal/optionChecks.js"
import * as Service from "../internal/service.js"
import * as LanguageModel from "../LanguageModel.js"

/**
 * The official Anthropic endpoint (the layer appends `/v1/messages`).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultBaseUrl = "https://api.anthropic.com"

/**
 * The `anthropic-version` header sent unless `apiVersion` says otherwise.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultApiVersion = "2023-06-01"

/**
 * The `anthropic-version` header sent by default.
 *
 * @since 0.1.0
 * @category constants
 * @deprecated Use {@link defaultApiVersion}.
 */
export const defaultVersion = defaultApiVersion

/**
 * The `max_tokens` sent when a request sets no `maxTokens`: Anthropic requires the field.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxTokens = 4096

/**
 * The settings of the Anthropic layer: key, base URL, model, API version and `anthropic-version`, beta features and
 * the default `max_tokens`, with the options every provider layer has (retry, timeouts, headers...).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends LanguageModel.ProviderOptions {
  /** Sent as `x-api-key`. */
  readonly apiKey: Redacted.Redacted
  /** Default {@link defaultBaseUrl}; the layer appends `/v1/messages`. */
  readonly baseUrl?: string | undefined
  /** The provider name in errors, metrics and spans; default `"anthropic"`. */
  readonly name?: string | undefined
  /** The model used when a request names none, e.g. `"claude-sonnet-4-5"`. */
  readonly model?: string | undefined
  /** The `anthropic-version` header, default {@link defaultApiVersion}. */
  readonly apiVersion?: string | undefined
  /** @deprecated Use `apiVersion`. */
  readonly version?: string | undefined
  /** Beta features, sent as one `anthropic-beta` header, e.g. `["interleaved-thinking-2025-05-14"]`. */
  readonly betas?: ReadonlyArray<string> | undefined
  /** `max_tokens` when a request sets no `maxTokens`, default {@link defaultMaxTokens}. */
  readonly defaultMaxTokens?: number | undefined
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
  apiVersion: true,
  version: true,
  betas: true,
  defaultMaxTokens: true
})

const make = (where: string, options: Options) =>
  Effect.gen(function*() {
    yield* LayerOptions.providerOptions(where, options, optionNames)
    const url = `${yield* HttpOptions.baseUrl(where, "baseUrl", options.baseUrl ?? defaultBaseUrl)}/v1/messages`
    const maxTokens = (yield* OptionChecks.positiveInt(where, "defaultMaxTokens", options.defaultMaxTokens)) ??
      defaultMaxTokens
    const key = yield* LayerOptions.requiredApiKey(where, options.apiKey, "ANTHROPIC_API_KEY")
    const apiVersion = options.apiVersion ?? options.version ?? defaultApiVersion
    const betas = options.betas === undefined || options.betas.length === 0 ? undefined : options.betas.join(",")
    yield* LayerOptions.shared(where, options)
    yield* OptionChecks.nonEmpty(where, [["apiVersion", apiVersion]])
    yield* HttpOptions.headerValues(where, [["apiKey", key], ["apiVersion", apiVersion], ["betas", betas]])
    const headers: Record<string, string> = {
      ...options.headers,
      "x-api-key": key,
      "anthropic-version": apiVersion,
      ...(betas === undefined ? {} : { "anthropic-beta": betas })
    }
    const endpoint = { provider: options.name ?? "anthropic", url, headers, key, maxTokens }
    return service(yield* HttpClient.HttpClient, endpoint, options)
  })

interface Endpoint {
  readonly provider: string
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly key: string
  readonly maxTokens: number
}

const service = (
  client: HttpClient.HttpClient,
  { headers, key, maxTokens, provider, url }: Endpoint,
  options: Options
): LanguageModel.Service => {
  const capabilities = { ...LanguageModel.defaultCapabilities, ...options.capabilities }

  const formatTool = (request: ChatRequest.ChatRequest) =>
    request.responseFormat?.type === "json-schema" ? request.responseFormat.name : undefined

  return Service.make(client, {
    provider,
    pricingProvider: options.pricingProvider ?? "anthropic",
    defaultModel: options.model,
    capabilities,
    secrets: [key],
    classifyError: AnthropicErrors.classifyError,
    chatRequest: (request, model, { stream }) =>
      Service.postJson(
        provider,
        model,
        url,
        headers,
        AnthropicRequest.encodeRequest(request, { model, stream, defaultMaxTokens: maxTokens })
      ),
    decodeChat: (json, raw, context) =>
      AnthropicResponse.decodeResponse(json, raw, context, {
        formatTool: formatTool(raw.request),
        headers: raw.headers
      }),
    streamParts: {
      sse: (context, requestId, call) =>
        AnthropicStream.makeDecoder(context, {
          requestId,
          formatTool: formatTool(call.request),
          providerMetadata: AnthropicResponse.headerMetadata(requestId, call.headers)
        })
    }
  }, options)
}

/**
 * A `LanguageModel` for the Anthropic Messages API. Needs an `HttpClient` (e.g. `NodeHttpClient.layerUndici` or
 * `FetchHttpClient.layer`). Retries are on by default (`Retry.defaults`); `max_tokens`, which Anthropic requires,
 * defaults to {@link defaultMaxTokens}.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { Anthropic } from "liter-llm"
 *
 * const AnthropicLive = Anthropic.layer({
 *   apiKey: Redacted.make("sk-ant-..."),
 *   model: "claude-sonnet-4-5",
 *   betas: ["interleaved-thinking-2025-05-14"]
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<LanguageModel.LanguageModel, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.effect(LanguageModel.LanguageModel, make("Anthropic.layer", options))

/**
 * {@link layer} configured from the environment: `ANTHROPIC_API_KEY` (required), `ANTHROPIC_BASE_URL`,
 * `ANTHROPIC_MODEL`; `options` set the rest and win over the environment.
 *
 * @example
 * ```ts
 * import { Anthropic } from "liter-llm"
 *
 * const FromEnv = Anthropic.layerConfig({ defaultMaxTokens: 8192 })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: ConfigOptions = {}
): Layer.Layer<LanguageModel.LanguageModel, ConfigError.ConfigError, HttpClient.HttpClient> =>
  // Checked before anything reads it: `null` from a JavaScript caller is the ConfigError `layer` gives.
  OptionChecks.layerChecked(LayerOptions.providerOptions("Anthropic.layerConfig", options, optionNames), () =>
    Service.layerFromEnv(
      {
        layer: "Anthropic.layerConfig",
        apiKey: ["ANTHROPIC_API_KEY"],
        baseUrl: "ANTHROPIC_BASE_URL",
        model: "ANTHROPIC_MODEL"
      },
      options,
      (resolved) =>
        Layer.effect(LanguageModel.LanguageModel, make("Anthropic.layerConfig", resolved))
    ))
