/**
 * OpenAI Chat Completions as a `LanguageModel` Layer: OpenAI itself, Azure OpenAI (deployment and `/openai/v1`
 * paths), and any OpenAI-compatible server (vLLM, Ollama, Groq, OpenRouter, ...) through `baseUrl`.
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
import * as HttpOptions from "../internal/httpOptions.js"
import * as LayerOptions from "../internal/layerOptions.js"
import * as OpenAiErrors from "../internal/openai/errors.js"
import * as OpenAiRequest from "../internal/openai/request.js"
import * as OpenAiResponse from "../internal/openai/response.js"
import * as OpenAiStream from "../internal/openai/stream.js"
import * as OptionChecks from "../internal/optionChecks.js"
import * as Service from "../internal/service.js"
import * as LanguageModel from "../LanguageModel.js"

/**
 * The official OpenAI endpoint.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultBaseUrl = "https://api.openai.com/v1"

/**
 * Options shared by every OpenAI-style layer.
 *
 * @since 0.1.0
 * @category models
 */
export interface CommonOptions extends LanguageModel.ProviderOptions {
  /**
   * The provider name in errors, metrics and spans, and the key of `providerOptions` merged into the body
   * (besides `openai`); default `"openai"` (`"azure"` for {@link layerAzure}). Name compatible servers, e.g.
   * `"groq"`.
   */
  readonly name?: string | undefined
  /**
   * The body field for `maxTokens`: `max_completion_tokens` on OpenAI itself (a `baseUrl` on an `openai.com`
   * host; reasoning models require it), `max_tokens` elsewhere, as most compatible servers and older Azure API
   * versions only know that one. Set it for a proxy in front of OpenAI.
   */
  readonly maxTokensField?: MaxTokensField | undefined
}

// OpenAI's own API, at its default URL or another of its hosts (a regional one, e.g. `us.api.openai.com`).
const isOpenAiHost = (baseUrl: string): boolean => {
  if (baseUrl === defaultBaseUrl) return true
  try {
    const host = new URL(baseUrl).hostname
    return host === "openai.com" || host.endsWith(".openai.com")
  } catch {
    return false
  }
}

/**
 * The body field that carries `maxTokens`: OpenAI's reasoning models only accept `max_completion_tokens`.
 *
 * @since 0.2.0
 * @category models
 */
export type MaxTokensField = "max_tokens" | "max_completion_tokens"

/**
 * The settings of the OpenAI layer: key, base URL (any OpenAI-compatible server), organization and project, with
 * the options every provider layer has (model, retry, timeouts, headers...).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends CommonOptions {
  /** Optional for local compatible servers that need no key. */
  readonly apiKey?: Redacted.Redacted | undefined
  /** Default {@link defaultBaseUrl}. */
  readonly baseUrl?: string | undefined
  /** Sent as `openai-organization`. */
  readonly organization?: string | undefined
  /** Sent as `openai-project`. */
  readonly project?: string | undefined
}

/**
 * The settings of the Azure OpenAI layer: the resource endpoint, a deployment and API version (or the v1 path), the
 * key, retry and timeouts.
 *
 * @since 0.1.0
 * @category models
 */
export interface AzureOptions extends CommonOptions {
  /** `https://<resource>.openai.azure.com` */
  readonly endpoint: string
  readonly apiKey?: Redacted.Redacted | undefined
  /** A Microsoft Entra ID bearer token, instead of `apiKey` (give one, not both). */
  readonly token?: Redacted.Redacted | undefined
  /**
   * With a deployment, calls `/openai/deployments/{deployment}/chat/completions?api-version=...`; without,
   * the `/openai/v1/chat/completions` path with the model in the body.
   */
  readonly deployment?: string | undefined
  /** Default {@link defaultAzureApiVersion} on the deployment path; none on the v1 path unless given. */
  readonly apiVersion?: string | undefined
}

/**
 * The Azure OpenAI `api-version` used with a deployment when none is given.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultAzureApiVersion = "2024-10-21"

interface Endpoint {
  readonly provider: string
  readonly pricingProvider: string
  readonly url: string
  readonly headers: Record<string, string>
  readonly secrets: ReadonlyArray<string>
  readonly optionKeys: ReadonlyArray<string>
  readonly maxTokensField: MaxTokensField
  readonly topK: boolean
}

const makeService = (endpoint: Endpoint, options: CommonOptions) =>
  Effect.map(HttpClient.HttpClient, (client) =>
    Service.make(client, {
      provider: endpoint.provider,
      pricingProvider: endpoint.pricingProvider,
      defaultModel: options.model,
      capabilities: { ...LanguageModel.defaultCapabilities, ...options.capabilities },
      secrets: endpoint.secrets,
      classifyError: OpenAiErrors.classifyError,
      chatRequest: (request: ChatRequest.ChatRequest, model: string, { stream }) =>
        Service.postJson(
          endpoint.provider,
          model,
          endpoint.url,
          { ...options.headers, ...endpoint.headers },
          request.topK !== undefined && !endpoint.topK
            ? Either.left("`topK` is not supported")
            : Either.right(OpenAiRequest.encodeRequest(request, {
              model,
              stream,
              maxTokensField: endpoint.maxTokensField,
              topK: endpoint.topK,
              optionKeys: endpoint.optionKeys
            }))
        ),
      decodeChat: OpenAiResponse.decodeResponse,
      streamParts: { sse: (context, requestId) => OpenAiStream.makeDecoder(context, requestId) }
    }, options))

/**
 * A `LanguageModel` for OpenAI or any OpenAI-compatible server. Needs an `HttpClient` (e.g.
 * `NodeHttpClient.layerUndici` or `FetchHttpClient.layer`). Retries are on by default (`Retry.defaults`).
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { OpenAi } from "liter-llm"
 *
 * const OpenAiLive = OpenAi.layer({ apiKey: Redacted.make("sk-..."), model: "gpt-4o-mini" })
 * const Ollama = OpenAi.layer({ name: "ollama", baseUrl: "http://127.0.0.1:11434/v1", model: "llama3.2" })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<LanguageModel.LanguageModel, ConfigError.ConfigError, HttpClient.HttpClient> =>
  makeLayer("OpenAi.layer", options)

const optionNames = OptionChecks.optionNames<Options>({
  ...LayerOptions.sharedOptionNames,
  maxTokensField: true,
  apiKey: true,
  baseUrl: true,
  organization: true,
  project: true
})

const azureOptionNames = OptionChecks.optionNames<AzureOptions>({
  ...LayerOptions.sharedOptionNames,
  maxTokensField: true,
  endpoint: true,
  apiKey: true,
  token: true,
  deployment: true,
  apiVersion: true
})

const makeLayer = (where: string, options: Options) =>
  Layer.effect(
    LanguageModel.LanguageModel,
    Effect.gen(function*() {
      yield* LayerOptions.providerOptions(where, options, optionNames)
      const baseUrl = yield* HttpOptions.baseUrl(where, "baseUrl", options.baseUrl ?? defaultBaseUrl)
      const key = options.apiKey === undefined ? undefined : Redacted.value(options.apiKey)
      yield* LayerOptions.shared(where, options)
      yield* HttpOptions.headerValues(where, [
        ["apiKey", key],
        ["organization", options.organization],
        ["project", options.project]
      ])
      const provider = options.name ?? "openai"
      const headers: Record<string, string> = {}
      if (key !== undefined) headers.authorization = `Bearer ${key}`
      if (options.organization !== undefined) headers["openai-organization"] = options.organization
      if (options.project !== undefined) headers["openai-project"] = options.project
      return yield* makeService({
        provider,
        // A server of its own under a name of its own is an OpenAI-compatible one: its prices are not OpenAI's.
        pricingProvider: options.pricingProvider ??
          (baseUrl !== defaultBaseUrl && options.name !== undefined ? options.name : "openai"),
        url: `${baseUrl}/chat/completions`,
        headers,
        secrets: key === undefined ? [] : [key],
        optionKeys: provider === "openai" ? ["openai"] : ["openai", provider],
        // OpenAI rejects `top_k`; compatible servers (vLLM, Ollama, ...) generally accept it.
        topK: !isOpenAiHost(baseUrl),
        maxTokensField: options.maxTokensField ?? (isOpenAiHost(baseUrl) ? "max_completion_tokens" : "max_tokens")
      }, options)
    })
  )

/**
 * {@link layer} configured from the environment: `OPENAI_API_KEY` (required unless `options.apiKey` is
 * given), `OPENAI_BASE_URL`, `OPENAI_MODEL`, `OPENAI_ORG_ID`; `options` set the rest and win over the environment.
 *
 * @example
 * ```ts
 * import { OpenAi } from "liter-llm"
 *
 * const FromEnv = OpenAi.layerConfig({ retry: false })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Options = {}
): Layer.Layer<LanguageModel.LanguageModel, ConfigError.ConfigError, HttpClient.HttpClient> =>
  // Checked before anything reads it: `null` from a JavaScript caller is the ConfigError `layer` gives.
  OptionChecks.layerChecked(LayerOptions.providerOptions("OpenAi.layerConfig", options, optionNames), () =>
    Service.layerFromEnv(
      { layer: "OpenAi.layerConfig", apiKey: ["OPENAI_API_KEY"], baseUrl: "OPENAI_BASE_URL", model: "OPENAI_MODEL" },
      options,
      (resolved) =>
        makeLayer("OpenAi.layerConfig", resolved),
      Config.map(
        Config.option(Config.nonEmptyString("OPENAI_ORG_ID")),
        (organization): Partial<Options> => Option.isSome(organization) ? { organization: organization.value } : {}
      )
    ))

/**
 * A `LanguageModel` for Azure OpenAI, authenticated by the `api-key` header (or an Entra ID `token`).
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { OpenAi } from "liter-llm"
 *
 * // the deployment path, with api-version
 * const Deployment = OpenAi.layerAzure({
 *   endpoint: "https://my-resource.openai.azure.com",
 *   deployment: "gpt-4o",
 *   apiVersion: "2024-10-21",
 *   apiKey: Redacted.make("...")
 * })
 * // the v1 path: the model (deployment name) goes in the body
 * const V1 = OpenAi.layerAzure({ endpoint: "https://my-resource.openai.azure.com", model: "gpt-4o", apiKey: Redacted.make("...") })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerAzure = (
  options: AzureOptions
): Layer.Layer<LanguageModel.LanguageModel, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.effect(
    LanguageModel.LanguageModel,
    Effect.gen(function*() {
      const where = "OpenAi.layerAzure"
      yield* LayerOptions.providerOptions(where, options, azureOptionNames)
      if (options.endpoint === undefined) {
        return yield* Effect.fail(ConfigError.MissingData(
          ["endpoint"],
          `${where}: endpoint is required: the resource URL, e.g. "https://<resource>.openai.azure.com"`
        ))
      }
      if (options.apiKey !== undefined && options.token !== undefined) {
        return yield* Effect.fail(ConfigError.InvalidData(
          ["token"],
          `${where}: apiKey and token are both given: give one (apiKey for the api-key header, or token for an Entra ID bearer token)`
        ))
      }
      const endpoint = yield* HttpOptions.baseUrl(where, "endpoint", options.endpoint)
      const key = options.apiKey === undefined ? undefined : Redacted.value(options.apiKey)
      const token = options.token === undefined ? undefined : Redacted.value(options.token)
      yield* LayerOptions.shared(where, options)
      yield* OptionChecks.nonEmpty(where, [["deployment", options.deployment], ["apiVersion", options.apiVersion]])
      // A deployment is one segment of the URL's path: `..` (escaped or not) would resolve to another path.
      if (options.deployment === "." || options.deployment === "..") {
        return yield* Effect.fail(ConfigError.InvalidData(
          ["deployment"],
          `${where}: deployment must be a deployment name, got ${JSON.stringify(options.deployment)}`
        ))
      }
      yield* HttpOptions.headerValues(where, [["apiKey", key], ["token", token]])
      const headers: Record<string, string> = {}
      if (key !== undefined) headers["api-key"] = key
      if (token !== undefined) headers.authorization = `Bearer ${token}`
      const deployment = options.deployment
      const url = deployment === undefined
        ? `${endpoint}/openai/v1/chat/completions${
          options.apiVersion === undefined ? "" : `?api-version=${encodeURIComponent(options.apiVersion)}`
        }`
        : `${endpoint}/openai/deployments/${encodeURIComponent(deployment)}/chat/completions?api-version=${
          encodeURIComponent(options.apiVersion ?? defaultAzureApiVersion)
        }`
      const provider = options.name ?? "azure"
      return yield* makeService({
        provider,
        pricingProvider: options.pricingProvider ?? "azure",
        url,
        headers,
        secrets: [key, token].filter((secret) => secret !== undefined),
        optionKeys: provider === "azure" ? ["openai", "azure"] : ["openai", "azure", provider],
        topK: false,
        maxTokensField: options.maxTokensField ?? "max_tokens"
        // On the deployment path the URL names the model; keep the request's name in the body for logs.
      }, { ...options, model: options.model ?? deployment })
    })
  )
