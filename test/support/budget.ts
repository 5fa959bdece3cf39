/**
 * Round prices and a counting tokenizer for budget tests, so every estimate and charge is an exact number:
 * model "m" costs 1 USD per input token and 2 USD per output token, every request counts 10 input tokens, and a
 * text counts one token per character.
 */
import { describe } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Budget from "../../src/Budget.js"
import * as Pricing from "../../src/Pricing.js"
import * as Redis from "../../src/Redis.js"
import * as Tokenizer from "../../src/Tokenizer.js"
import { describeRedis, uniquePrefix } from "./redis.js"

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

/** A Redis store over a connection of its own to `url`, on a key prefix no other test uses. */
export const redisStore = (url: string, options: Budget.RedisStoreOptions & { readonly keyPrefix?: string } = {}) =>
  Budget.layerRedis(options).pipe(
    Layer.provide(Redis.layer({ url, keyPrefix: options.keyPrefix ?? uniquePrefix("budget") })),
    Layer.orDie
  )

/** Suites run once per store: in memory, and in Redis on a real server (skipped with a message without one). */
export const describeStores = (
  name: string,
  suites: (environment: () => Layer.Layer<Pricing.Pricing | Tokenizer.Tokenizer | Budget.BudgetStore>) => void
): void => {
  describe(`${name} (memory store)`, () => suites(() => environment))
  describeRedis(`${name} (Redis store)`, (server) => suites(() => environmentWith(redisStore(server.url))))
}

/** USD of a call with these tokens of model "m". */
export const usd = (input: number, output: number): number => input + 2 * output

/** A budget service made from options, in the test's environment. */
export const makeBudget = (options: Budget.Options) => Effect.orDie(Budget.make(options))
