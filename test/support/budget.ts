/**
 * Round prices and a counting tokenizer for budget tests, so every estimate and charge is an exact number:
 * model "m" costs 1 USD per input token and 2 USD per output token, every request counts 10 input tokens, and a
 * text counts one token per character.
 */
import { Effect, Layer } from "effect"
import * as Budget from "../../src/Budget.js"
import * as Pricing from "../../src/Pricing.js"
import * as Tokenizer from "../../src/Tokenizer.js"

export const inputTokens = 10

const price = { inputPerMillion: 1_000_000, outputPerMillion: 2_000_000 }

/** The prices of the test models. */
export const prices = Pricing.layer({
  dataset: false,
  models: {
    m: price,
    "gpt-4o-mini": price,
    capped: { ...price, maxOutputTokens: 7 },
    windowed: { ...price, contextWindow: 25 },
    unbounded: price
  }
}).pipe(Layer.orDie)

/** 10 tokens per request, one per character of a text. */
export const tokenizer: Tokenizer.Service = {
  countText: (text) => text.length,
  countRequest: () => inputTokens,
  isExact: () => true
}

/** Prices, tokenizer and the given store. */
export const environmentWith = (store: Layer.Layer<Budget.BudgetStore>) =>
  Layer.mergeAll(prices, Layer.succeed(Tokenizer.Tokenizer, tokenizer), store)

/** Prices, tokenizer and a fresh store. */
export const environment = environmentWith(Budget.layerMemory)

/** USD of a call with these tokens of model "m". */
export const usd = (input: number, output: number): number => input + 2 * output

/** A budget service made from options, in the test's environment. */
export const makeBudget = (options: Budget.Options) => Effect.orDie(Budget.make(options))
