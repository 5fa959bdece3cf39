/**
 * The default price data: `@pydantic/genai-prices` (prices per million tokens, with tiers and date-bound
 * prices, and context windows, for every major provider; kept up to date by Pydantic and used by Logfire),
 * completed with `gpt-tokenizer`'s OpenAI model specs for the maximum output tokens genai-prices does not
 * carry. Both are loaded on first use (a synchronous `require` of their CommonJS builds), so importing the
 * library does not parse megabytes of data that a program may never price with.
 */
import { createRequire } from "node:module"
import type * as ChatResponse from "../ChatResponse.js"
import { isNonNegativeFinite } from "./optionChecks.js"

/** USD per million tokens: one price, or a base with thresholds on the request's input tokens (Gemini's > 200k). */
export type Rate = number | {
  readonly base: number
  readonly tiers: ReadonlyArray<{ readonly start: number; readonly price: number }>
}

/** A model's prices and limits as the data holds them. */
export interface Entry {
  readonly input: Rate
  readonly output: Rate
  readonly cachedInput?: Rate | undefined
  readonly cacheWrite?: Rate | undefined
  readonly contextWindow?: number | undefined
  readonly maxOutputTokens?: number | undefined
}

interface GenaiPrices {
  readonly calcPrice: (
    usage: Record<string, number>,
    model: string,
    options: { readonly providerId?: string; readonly timestamp?: Date }
  ) => null | {
    readonly model: { readonly context_window?: number }
    readonly model_price: Record<string, unknown>
  }
  readonly findProvider: (options: { readonly providerId: string }) => { readonly id: string } | undefined
}

interface ModelSpec {
  readonly context_window?: number
  readonly max_output_tokens?: number
}

const require = createRequire(import.meta.url)
let genai: GenaiPrices | undefined
let openAiSpecs: Readonly<Record<string, ModelSpec | undefined>> | undefined

const loadGenai = (): GenaiPrices => (genai ??= require("@pydantic/genai-prices") as GenaiPrices)
const loadSpecs =
  () => (openAiSpecs ??= require("gpt-tokenizer/cjs/models") as Readonly<Record<string, ModelSpec | undefined>>)

/** This library's provider names that genai-prices knows under another id. */
const providerIds: Readonly<Record<string, string>> = { gemini: "google" }

const rate = (value: unknown): Rate | undefined => {
  if (isNonNegativeFinite(value)) return value
  if (typeof value === "object" && value !== null && "base" in value && "tiers" in value) {
    const { base, tiers } = value as { base: unknown; tiers: unknown }
    if (typeof base === "number" && Array.isArray(tiers)) {
      return { base, tiers: tiers as ReadonlyArray<{ start: number; price: number }> }
    }
  }
  return undefined
}

/**
 * The data's entry of a model at a provider, or undefined: a provider the data does not know (a self-hosted
 * compatible server) prices nothing, rather than borrowing another provider's price for a same-named model.
 */
export const lookup = (model: string, provider: string | undefined, at: Date): Entry | undefined => {
  const data = loadGenai()
  const providerId = provider === undefined ? undefined : providerIds[provider] ?? provider
  if (providerId !== undefined && data.findProvider({ providerId }) === undefined) return undefined
  const found = data.calcPrice(
    { input_tokens: 0, output_tokens: 0 },
    model,
    providerId === undefined ? { timestamp: at } : { providerId, timestamp: at }
  )
  if (found === null) return undefined
  const prices = found.model_price
  const input = rate(prices.input_mtok)
  const output = rate(prices.output_mtok)
  if (input === undefined || output === undefined) return undefined
  const spec = providerId === "openai" || providerId === "azure" ? loadSpecs()[model] : undefined
  return {
    input,
    output,
    cachedInput: rate(prices.cache_read_mtok),
    cacheWrite: rate(prices.cache_write_mtok),
    contextWindow: found.model.context_window ?? spec?.context_window,
    maxOutputTokens: spec?.max_output_tokens
  }
}

/** The USD of `tokens` at a rate, the tier chosen by the request's whole input (as the providers bill it). */
export const priceOf = (value: Rate, tokens: number, inputTokens: number): number => {
  if (tokens <= 0) return 0
  if (typeof value === "number") return value * tokens / 1e6
  let price = value.base
  for (const tier of value.tiers) if (inputTokens > tier.start) price = tier.price
  return price * tokens / 1e6
}

const isCount = (value: number | undefined): boolean => value === undefined || isNonNegativeFinite(value)

/**
 * The cost of a usage in USD, or `undefined` for a usage that is not a set of finite, non-negative counts (a
 * provider's bad report is unpriced, never a NaN or negative cost). `inputTokens` includes the cached and
 * cache-write tokens (the unified `Usage`), which are billed at their own rates when the entry has them, else
 * at the input rate; their sum is clamped to `inputTokens` (cached first). `outputTokens` includes reasoning.
 */
export const costOf = (entry: Entry, usage: ChatResponse.Usage): number | undefined => {
  if (![usage.inputTokens, usage.outputTokens, usage.cachedInputTokens, usage.cacheWriteTokens].every(isCount)) {
    return undefined
  }
  const input = usage.inputTokens
  const cached = Math.min(usage.cachedInputTokens ?? 0, input)
  const written = Math.min(usage.cacheWriteTokens ?? 0, input - cached)
  const uncached = input - cached - written
  return withoutFloatNoise(
    priceOf(entry.input, uncached, input) +
      priceOf(entry.cachedInput ?? entry.input, cached, input) +
      priceOf(entry.cacheWrite ?? entry.input, written, input) +
      priceOf(entry.output, usage.outputTokens, input)
  )
}

// Rounded to 15 significant digits, which a double holds exactly: `0.000105`, not `0.00010499999999999999` from
// the products of per-million rates.
const withoutFloatNoise = (usd: number): number => usd === 0 ? 0 : Number(usd.toPrecision(15))
