/**
 * The governance policies composed in the recommended order around two OpenAI mock servers, for tests of the
 * whole stack: Guardrail → ContextWindow → Cache → RateLimit → Budget → Fallback (the primary behind a
 * CircuitBreaker, then a backup) → provider layers. Round prices and a tokenizer counting one token per
 * character make every estimate, limit and charge an exact number.
 */
import { type Context, Effect, Layer } from "effect"
import * as Budget from "../../src/Budget.js"
import * as Cache from "../../src/Cache.js"
import type * as ChatRequest from "../../src/ChatRequest.js"
import * as CircuitBreaker from "../../src/CircuitBreaker.js"
import * as ContextWindow from "../../src/ContextWindow.js"
import * as Fallback from "../../src/Fallback.js"
import * as Guardrail from "../../src/Guardrail.js"
import type * as LanguageModel from "../../src/LanguageModel.js"
import * as LlmMetrics from "../../src/LlmMetrics.js"
import * as Pricing from "../../src/Pricing.js"
import * as RateLimit from "../../src/RateLimit.js"
import * as Retry from "../../src/Retry.js"
import * as MockProvider from "../../src/testing/MockProvider.js"
import * as Tokenizer from "../../src/Tokenizer.js"
import { openAiLayer } from "./loopback.js"

/** The model both providers serve: 1 USD per input token, 2 USD per output token. */
export const model = "gpt-4o-mini"

/** USD of a call with these tokens. */
export const usd = (input: number, output: number): number => input + 2 * output

const prices = Pricing.layer({
  dataset: false,
  models: { [model]: { inputPerMillion: 1_000_000, outputPerMillion: 2_000_000 } }
})

const textOf = (message: ChatRequest.Message): string =>
  typeof message.content === "string"
    ? message.content
    : message.content.map((part) => part.type === "text" ? part.text : "").join("")

/** One token per character: of a text, and of the messages of a request (no framing). */
export const tokenizer: Tokenizer.Service = {
  countText: (text) => text.length,
  countRequest: (request) => request.messages.reduce((sum, message) => sum + textOf(message).length, 0),
  isExact: () => true
}

/** The input tokens (characters) of plain messages, as {@link tokenizer} counts them. */
export const inputOf = (messages: ReadonlyArray<{ readonly content: string }>): number =>
  messages.reduce((sum, message) => sum + message.content.length, 0)

/** Retries without jitter, so every wait is exact (the first after 500 ms). */
export const exactRetry = Retry.policy({ jitter: 0 })

/** The phrase the input deny-list blocks. */
export const deniedPhrase = "ignore previous instructions"

/** The options of each policy; each field replaces the default of its policy. */
export interface StackOptions {
  readonly guardrail: Guardrail.Options
  readonly contextWindow: ContextWindow.Options
  readonly cache: Cache.Options
  readonly rateLimit: RateLimit.Options
  readonly budget: Budget.Options
  /**
   * The primary step's retry policy in the chain: default one attempt, so a failure moves on at once;
   * `undefined` keeps the provider layer's own ({@link exactRetry}).
   */
  readonly primaryRetry: Retry.Policy | false | undefined
}

const defaults: StackOptions = {
  guardrail: { input: [Guardrail.denyList([deniedPhrase]), Guardrail.redactPii()], output: [Guardrail.redactPii()] },
  contextWindow: { maxInputTokens: 1_000 },
  cache: {},
  rateLimit: { default: { requests: { limit: 100, window: "1 minute" } } },
  budget: { defaultLimit: { limitUsd: 10_000, period: "day" } },
  primaryRetry: false
}

/**
 * The stack over `primary` (provider `"openai"`, behind a breaker keyed `"primary"`) and `backup` (provider
 * `"backup"`), both answering with {@link model}; the layer also provides the `Budget` service.
 */
export const stack = (
  primary: MockProvider.MockProvider,
  backup: MockProvider.MockProvider,
  options: Partial<StackOptions> = {}
): Layer.Layer<LanguageModel.LanguageModel | Budget.Budget> => {
  const o = { ...defaults, ...options }
  const chain = Fallback.layer([
    {
      provide: CircuitBreaker.layer(openAiLayer(primary, { retry: exactRetry }), { key: "primary" }),
      retry: o.primaryRetry
    },
    { provide: openAiLayer(backup, { name: "backup", retry: exactRetry }) }
  ])
  const governed = Guardrail.layer(
    ContextWindow.layer(
      Cache.layer(RateLimit.layer(Budget.layer(chain, o.budget), o.rateLimit), o.cache),
      o.contextWindow
    ),
    o.guardrail
  )
  // The options are the test's own: a bad one is a bug in the test.
  return Layer.orDie(governed)
}

/** What a built stack provides: the governed `LanguageModel` and the `Budget` service. */
export type Built = Context.Context<LanguageModel.LanguageModel | Budget.Budget>

/** Two mock servers scripted with these replies, and the stack over them built in the current scope. */
export const governed = (
  primaryScript: ReadonlyArray<MockProvider.Reply>,
  backupScript: ReadonlyArray<MockProvider.Reply> = [],
  options: Partial<StackOptions> = {}
) =>
  Effect.gen(function*() {
    const primary = yield* MockProvider.make({ script: primaryScript })
    const backup = yield* MockProvider.make({ script: backupScript })
    const context: Built = yield* Layer.build(stack(primary, backup, options))
    return { primary, backup, context }
  })

/** Fresh stores for every policy and an in-memory metrics summary: with the bundled prices and tokenizer. */
export const stores = Layer.mergeAll(
  Budget.layerMemory,
  RateLimit.layerMemory,
  CircuitBreaker.layerMemory,
  LlmMetrics.layerMemory
)

/** {@link stores} with the round prices and the one-token-per-character tokenizer. */
export const environment = Layer.mergeAll(
  Layer.orDie(prices),
  Layer.succeed(Tokenizer.Tokenizer, tokenizer),
  stores
)

/** The text of each message a mock request carried. */
export const sentMessages = (request: MockProvider.RecordedRequest): ReadonlyArray<string> =>
  (request.body as { readonly messages: ReadonlyArray<{ readonly content: string }> }).messages.map(
    (message) => message.content
  )

/** The contents of every request a mock received, in order. */
export const sent = (server: MockProvider.MockProvider) =>
  Effect.map(server.requests, (requests) => requests.map(sentMessages))
