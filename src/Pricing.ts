/**
 * What a model costs: prices per million tokens and limits of each model, and the cost in USD of a usage.
 *
 * The default data is `@pydantic/genai-prices` (maintained by Pydantic, covering OpenAI, Azure, Anthropic,
 * Google, Cohere, Groq, Mistral, DeepSeek, ... with tiered and date-bound prices), completed with the maximum
 * output tokens of OpenAI models from `gpt-tokenizer`'s model specs. Users override a model's price, or one
 * deployment's (`"provider/model"`: a self-hosted compatible server, a negotiated price), with {@link layer}.
 *
 * A model the data does not know has **no** cost: `undefined`, counted as unpriced by `LlmMetrics`, never 0.
 * Provider layers put the cost on every response (`ChatResponse.costUsd`) and usage part
 * (`StreamPart.UsagePart.costUsd`), and in every `LlmMetrics` event.
 *
 * @since 0.2.0
 */
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type * as ChatResponse from "./ChatResponse.js"
import * as OptionChecks from "./internal/optionChecks.js"
import * as Data from "./internal/pricingData.js"

/**
 * A model's prices in USD per million tokens, and its limits in tokens.
 *
 * @since 0.2.0
 * @category models
 */
export interface ModelPrice {
  /** USD per million input tokens not read from or written to a prompt cache. */
  readonly inputPerMillion: number
  /** USD per million output tokens (reasoning included). */
  readonly outputPerMillion: number
  /** USD per million input tokens read from the provider's prompt cache; default the input price. */
  readonly cachedInputPerMillion?: number | undefined
  /** USD per million input tokens written to the provider's prompt cache; default the input price. */
  readonly cacheWritePerMillion?: number | undefined
  /** The context window (input and output) in tokens, where known. */
  readonly contextWindow?: number | undefined
  /** The most output tokens one answer may have, where known. */
  readonly maxOutputTokens?: number | undefined
}

/**
 * The service: synchronous lookups, cheap enough for every call (the data's answers are memoized).
 *
 * @since 0.2.0
 * @category models
 */
export interface Service {
  /**
   * The price of a model, at a provider when given (`"openai"`, `"azure"`, `"anthropic"`, `"gemini"`,
   * `"cohere"`, or a compatible server's name). For a model with tiered prices, the base tier.
   */
  readonly price: (model: string, provider?: string) => ModelPrice | undefined
  /**
   * The cost of a usage in USD, or `undefined` when the model has no known price or the usage is not a set of
   * finite, non-negative counts (a provider's bad report). Cached plus cache-write tokens are clamped to
   * `inputTokens`, which includes them.
   */
  readonly cost: (usage: ChatResponse.Usage, model: string, provider?: string) => number | undefined
}

/**
 * User prices, by model name or by `"provider/model"` for one deployment (which wins over the model name).
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  readonly models?: Readonly<Record<string, ModelPrice>> | undefined
  /** Price models absent from `models` from the bundled data (default `true`); `false` prices only `models`. */
  readonly dataset?: boolean | undefined
}

const baseRate = (rate: Data.Rate): number => typeof rate === "number" ? rate : rate.base

const toModelPrice = (entry: Data.Entry): ModelPrice => ({
  inputPerMillion: baseRate(entry.input),
  outputPerMillion: baseRate(entry.output),
  ...(entry.cachedInput === undefined ? {} : { cachedInputPerMillion: baseRate(entry.cachedInput) }),
  ...(entry.cacheWrite === undefined ? {} : { cacheWritePerMillion: baseRate(entry.cacheWrite) }),
  ...(entry.contextWindow === undefined ? {} : { contextWindow: entry.contextWindow }),
  ...(entry.maxOutputTokens === undefined ? {} : { maxOutputTokens: entry.maxOutputTokens })
})

const toEntry = (price: ModelPrice): Data.Entry => ({
  input: price.inputPerMillion,
  output: price.outputPerMillion,
  cachedInput: price.cachedInputPerMillion,
  cacheWrite: price.cacheWritePerMillion,
  contextWindow: price.contextWindow,
  maxOutputTokens: price.maxOutputTokens
})

/** Memoized lookups in the data, per UTC day (date-bound prices change at a date); bounded. */
const memoLimit = 4096

const fromEntries = (own: ReadonlyMap<string, Data.Entry>, dataset: boolean): Service => {
  const memo = new Map<string, Data.Entry | null>()
  let memoDay = ""
  const entry = (model: string, provider: string | undefined): Data.Entry | undefined => {
    const mine = (provider === undefined ? undefined : own.get(`${provider}/${model}`)) ?? own.get(model)
    if (mine !== undefined || !dataset) return mine
    const now = new Date()
    const day = now.toISOString().slice(0, 10)
    if (day !== memoDay || memo.size >= memoLimit) {
      memo.clear()
      memoDay = day
    }
    const key = `${provider ?? ""}\u0000${model}`
    let found = memo.get(key)
    if (found === undefined) {
      found = Data.lookup(model, provider, now) ?? null
      memo.set(key, found)
    }
    return found ?? undefined
  }
  return {
    price: (model, provider) => {
      const found = entry(model, provider)
      return found === undefined ? undefined : toModelPrice(found)
    },
    cost: (usage, model, provider) => {
      const found = entry(model, provider)
      return found === undefined ? undefined : Data.costOf(found, usage)
    }
  }
}

/**
 * Prices from the bundled data only.
 *
 * @example
 * ```ts
 * import { Pricing } from "liter-llm"
 *
 * Pricing.dataset.price("gpt-4o-mini", "openai")?.inputPerMillion // 0.15
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const dataset: Service = fromEntries(new Map(), true)

/**
 * The service tag. Without a layer, {@link dataset} prices every call.
 *
 * @since 0.2.0
 * @category tags
 */
export class Pricing extends Context.Reference<Pricing>()("liter-llm/Pricing", { defaultValue: () => dataset }) {}

const optionNames = OptionChecks.optionNames<Options>({ models: true, dataset: true })

const priceNames = OptionChecks.optionNames<ModelPrice>({
  inputPerMillion: true,
  outputPerMillion: true,
  cachedInputPerMillion: true,
  cacheWritePerMillion: true,
  contextWindow: true,
  maxOutputTokens: true
})

const checkPrice = (key: string, price: ModelPrice): ConfigError.ConfigError | undefined => {
  const keys = OptionChecks.knownOptions("Pricing.layer", price, priceNames, ["models", key])
  if (Either.isLeft(keys)) return keys.left
  const fields = [
    ["inputPerMillion", price.inputPerMillion, true],
    ["outputPerMillion", price.outputPerMillion, true],
    ["cachedInputPerMillion", price.cachedInputPerMillion, false],
    ["cacheWritePerMillion", price.cacheWritePerMillion, false],
    ["contextWindow", price.contextWindow, false],
    ["maxOutputTokens", price.maxOutputTokens, false]
  ] as const
  for (const [name, value, required] of fields) {
    if (value === undefined && !required) continue
    const limit = name === "contextWindow" || name === "maxOutputTokens"
    const valid = typeof value === "number" && Number.isFinite(value) &&
      (limit ? Number.isInteger(value) && value > 0 : value >= 0)
    if (!valid) {
      return ConfigError.InvalidData(
        ["models", key, name],
        `Pricing.layer: models["${key}"].${name} must be ${
          limit ? "a positive integer (tokens)" : "a finite number >= 0 (USD per million tokens)"
        }, got ${OptionChecks.described(value)}`
      )
    }
  }
  if (price.contextWindow !== undefined && price.maxOutputTokens !== undefined) {
    if (price.maxOutputTokens > price.contextWindow) {
      return ConfigError.InvalidData(
        ["models", key, "maxOutputTokens"],
        `Pricing.layer: models["${key}"].maxOutputTokens (${price.maxOutputTokens}) must not be more than its contextWindow (${price.contextWindow})`
      )
    }
  }
  return undefined
}

/**
 * A pricing service from options, or a `ConfigError` naming a bad price (negative, NaN, missing).
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<Service, ConfigError.ConfigError> =>
  Effect.suspend(() => {
    const checked = Either.flatMap(
      OptionChecks.knownOptions("Pricing.layer", options, optionNames),
      () =>
        Either.all([
          OptionChecks.recordOption("Pricing.layer", "models", options.models),
          OptionChecks.booleanOption("Pricing.layer", "dataset", options.dataset)
        ])
    )
    if (Either.isLeft(checked)) return Effect.fail(checked.left)
    const own = new Map<string, Data.Entry>()
    for (const [key, price] of Object.entries(options.models ?? {})) {
      const error = checkPrice(key, price)
      if (error !== undefined) return Effect.fail(error)
      own.set(key, toEntry(price))
    }
    return Effect.succeed(fromEntries(own, options.dataset ?? true))
  })

/**
 * Prices with user overrides: `models` by name, or `"provider/model"` for one deployment; the bundled data
 * for the rest (unless `dataset: false`).
 *
 * @example
 * ```ts
 * import { Pricing } from "liter-llm"
 *
 * const Prices = Pricing.layer({
 *   models: {
 *     "vllm/llama-3.1-70b": { inputPerMillion: 0.2, outputPerMillion: 0.2, contextWindow: 131072 },
 *     "gpt-4o": { inputPerMillion: 2, outputPerMillion: 8 } // a negotiated price
 *   }
 * })
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Pricing, ConfigError.ConfigError> =>
  Layer.effect(Pricing, make(options))

/**
 * The price of a model from the current `Pricing` service.
 *
 * @since 0.2.0
 * @category accessors
 */
export const price = (model: string, provider?: string): Effect.Effect<ModelPrice | undefined> =>
  Effect.map(Pricing, (pricing) => pricing.price(model, provider))

/**
 * The cost in USD of a usage from the current `Pricing` service, or `undefined` when the model is unpriced.
 *
 * @since 0.2.0
 * @category accessors
 */
export const cost = (
  usage: ChatResponse.Usage,
  model: string,
  provider?: string
): Effect.Effect<number | undefined> => Effect.map(Pricing, (pricing) => pricing.cost(usage, model, provider))

/**
 * The cost of a call as the library settles it: the model the caller asked for first (user prices are keyed
 * by it; for Azure it is the deployment name), then the model the provider answered with (a dated snapshot).
 *
 * @since 0.2.0
 * @category utils
 */
export const costOfCall = (
  pricing: Service,
  usage: ChatResponse.Usage | undefined,
  provider: string,
  requestedModel: string,
  responseModel: string | undefined
): number | undefined => {
  if (usage === undefined) return undefined
  return pricing.cost(usage, requestedModel, provider) ??
    (responseModel === undefined || responseModel === requestedModel
      ? undefined
      : pricing.cost(usage, responseModel, provider))
}
