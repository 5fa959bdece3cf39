/**
 * Fits a request's history into the model's context window before the call, around any `LanguageModel` Layer.
 *
 * - **What is kept**: every system message, and the latest user message with everything after it (the turn
 *   being answered, its tool calls and results). Older turns are dropped oldest first, a whole turn at a time
 *   (a user message and what follows it up to the next one), so an assistant tool call always goes with its
 *   tool results and the history still starts with a user message, as Anthropic and Gemini require.
 * - **The budget** (input tokens): the window minus the room left for the output, and at most `maxInputTokens`
 *   when given. The window is `contextWindow`, else the model's from `Pricing`; the output room is the
 *   request's `maxTokens`, else `maxOutputTokens`, else the model's `maxOutputTokens` from `Pricing`, else 0.
 * - **No window known** (no option, and `Pricing` has none for the model at this provider) and no
 *   `maxInputTokens`: the request passes unchanged; the provider's own `ContextLengthExceeded` still applies.
 * - **Counts** come from the `Tokenizer` service: exact for OpenAI models, an estimate that errs high for others.
 * - A request that fits is passed on as it is (the same object). When even the kept minimum does not fit, the
 *   call fails with `LlmError.ContextLengthExceeded` before any network call, its message giving the counts.
 *
 * @since 0.2.0
 */
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Layer from "effect/Layer"
import type * as ChatRequest from "./ChatRequest.js"
import * as Trim from "./internal/contextWindow.js"
import * as OptionChecks from "./internal/optionChecks.js"
import * as PolicyLayer from "./internal/policyLayer.js"
import * as PolicyStream from "./internal/policyStream.js"
import * as Span from "./internal/span.js"
import * as LanguageModel from "./LanguageModel.js"
import * as LlmError from "./LlmError.js"
import * as Pricing from "./Pricing.js"
import * as Tokenizer from "./Tokenizer.js"

/**
 * The window a request must fit in (tokens): the model's context window or an input limit, and the room kept for the
 * answer.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /** The most input tokens a request may have; with a known window, the smaller bound applies. */
  readonly maxInputTokens?: number | undefined
  /** The model's context window in tokens (input and output); default the model's from `Pricing`. */
  readonly contextWindow?: number | undefined
  /**
   * Output tokens to leave room for when a request sets no `maxTokens`; default the model's maximum output from
   * `Pricing`, else 0 (the provider then caps the answer at what is left).
   */
  readonly maxOutputTokens?: number | undefined
}

/**
 * Options of {@link trim} used outside a layer, where no provider service says who is called.
 *
 * @since 0.2.0
 * @category models
 */
export interface TrimOptions extends Options {
  /** The provider, for the `Pricing` lookup and the error (default `"liter-llm"`, which `Pricing` prices nothing at). */
  readonly provider?: string | undefined
  /** The model when the request names none. */
  readonly model?: string | undefined
}

const limits = ["maxInputTokens", "contextWindow", "maxOutputTokens"] as const

/** What is wrong with the options, as the option's name and a message, or undefined. */
const problem = (options: Options): readonly [string, string] | undefined => {
  for (const name of limits) {
    const value = options[name]
    if (value !== undefined && !(Number.isSafeInteger(value) && value > 0)) {
      return [name, `${name} must be a positive integer (tokens), got ${OptionChecks.described(value)}`]
    }
  }
  if (
    options.contextWindow !== undefined && options.maxOutputTokens !== undefined &&
    options.maxOutputTokens >= options.contextWindow
  ) {
    return [
      "maxOutputTokens",
      `maxOutputTokens (${options.maxOutputTokens}) must be smaller than contextWindow (${options.contextWindow}): no room would be left for the input`
    ]
  }
  return undefined
}

/**
 * The options checked, or a `ConfigError` naming the bad one (what {@link layer} runs when it is built).
 *
 * @since 0.2.0
 * @category constructors
 */
export const validate = (options: Options): Effect.Effect<Options, ConfigError.ConfigError> => {
  const keys = OptionChecks.knownOptions("ContextWindow.layer", options, limits)
  if (Either.isLeft(keys)) return Effect.fail(keys.left)
  const found = problem(options)
  return found === undefined
    ? Effect.succeed(options)
    : Effect.fail(ConfigError.InvalidData([found[0]], `ContextWindow.layer: ${found[1]}`))
}

/** The input budget and how it was reached, or undefined when nothing bounds the input. */
const budgetOf = (
  request: ChatRequest.ChatRequest,
  options: Options,
  price: Pricing.ModelPrice | undefined
) => {
  const window = options.contextWindow ?? price?.contextWindow
  const output = request.maxTokens ?? options.maxOutputTokens ?? price?.maxOutputTokens ?? 0
  const fromWindow = window === undefined ? Infinity : window - output
  const budget = Math.min(options.maxInputTokens ?? Infinity, fromWindow)
  return budget === Infinity ? undefined : { budget, window, output }
}

const trimWith = (
  request: ChatRequest.ChatRequest,
  options: Options,
  provider: string,
  model: string | undefined,
  pricedAt: string = provider
): Effect.Effect<ChatRequest.ChatRequest, LlmError.ContextLengthExceeded> =>
  Effect.gen(function*() {
    const pricing = yield* Pricing.Pricing
    const tokenizer = yield* Tokenizer.Tokenizer
    const limit = budgetOf(request, options, model === undefined ? undefined : pricing.price(model, pricedAt))
    if (limit === undefined) return request
    // Output asked for beyond the whole window: no trimming can help, and the request's own bound is the cause.
    if (limit.window !== undefined && request.maxTokens !== undefined && request.maxTokens >= limit.window) {
      return yield* new LlmError.ContextLengthExceeded({
        provider,
        ...(model === undefined ? {} : { model }),
        message: `ContextWindow: the request asks for up to ${request.maxTokens} output tokens (maxTokens), ` +
          `which leaves no room for its input in the context window of ${limit.window} tokens`
      })
    }
    const result = Trim.trim(request, limit.budget, (candidate) => tokenizer.countRequest(candidate, model))
    if (result._tag === "Fits") return result.request
    const bounds = [
      ...(limit.window === undefined ? [] : [`context window ${limit.window} - ${limit.output} output tokens`]),
      ...(options.maxInputTokens === undefined ? [] : [`maxInputTokens ${options.maxInputTokens}`])
    ]
    return yield* new LlmError.ContextLengthExceeded({
      provider,
      ...(model === undefined ? {} : { model }),
      message: `ContextWindow: the request needs ${result.minimumTokens} input tokens with only the system ` +
        `messages and the latest turn kept (${result.originalTokens} in all), but ${
          Math.max(0, limit.budget)
        } are available (${bounds.join(", ")})`
    })
  })

/**
 * The request trimmed to fit its model's context window: the same object when it fits, a copy without its
 * oldest turns otherwise, or `ContextLengthExceeded` when even the system messages and the latest turn do not
 * fit. Tokens from the `Tokenizer` service, windows from `Pricing` (see the module's description). Bad options
 * fail with `InvalidRequest`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ChatRequest, ContextWindow } from "liter-llm"
 *
 * const fitted = ChatRequest.decode({
 *   model: "gpt-4o-mini",
 *   messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }],
 *   maxTokens: 500 // tokens left for the answer
 * }).pipe(Effect.flatMap((request) => ContextWindow.trim(request, { provider: "openai", maxInputTokens: 4_000 })))
 * ```
 *
 * @since 0.2.0
 * @category trimming
 */
export const trim: (
  request: ChatRequest.ChatRequest,
  options?: TrimOptions
) => Effect.Effect<ChatRequest.ChatRequest, LlmError.ContextLengthExceeded | LlmError.InvalidRequest> = Effect.fn(
  "ContextWindow.trim"
)(function*(request: ChatRequest.ChatRequest, options: TrimOptions = {}) {
  const provider = options.provider ?? "liter-llm"
  const found = problem(options)
  if (found !== undefined) {
    return yield* new LlmError.InvalidRequest({ provider, message: `ContextWindow.trim: ${found[1]}` })
  }
  return yield* trimWith(request, options, provider, request.model ?? options.model)
})

/**
 * Wraps a service so that every request is trimmed before it is sent (options assumed valid: see
 * {@link validate}).
 *
 * @since 0.2.0
 * @category constructors
 */
export const wrap = (service: LanguageModel.Service, options: Options): LanguageModel.Service => {
  const fit = Span.fn("ContextWindow.trim")(function*(request: ChatRequest.ChatRequest) {
    return yield* trimWith(
      request,
      options,
      service.provider,
      request.model ?? service.defaultModel,
      LanguageModel.pricingProvider(service)
    )
  })
  return {
    ...service,
    generate: (request) => Effect.flatMap(fit(request), service.generate),
    stream: PolicyStream.make((request) =>
      Effect.map(fit(request), (fitted) => PolicyStream.readFrom({ service, request: fitted }))
    )
  }
}

/**
 * Wraps a `LanguageModel` Layer so that each request (`generate`, `generateObject` and `stream`) is trimmed to
 * its model's context window before the call. Bad options fail the layer with a `ConfigError`.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { ContextWindow, OpenAi } from "liter-llm"
 *
 * // gpt-4o-mini: a 128,000-token window from Pricing; 1,000 tokens kept for answers without `maxTokens`
 * const Fitted = ContextWindow.layer(OpenAi.layer({ apiKey: Redacted.make("sk-...") }), { maxOutputTokens: 1_000 })
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = <A, E, R>(
  model: Layer.Layer<A | LanguageModel.LanguageModel, E, R>,
  options: Options
): Layer.Layer<A | LanguageModel.LanguageModel, E | ConfigError.ConfigError, R> =>
  PolicyLayer.around(
    model,
    Effect.zipWith(validate(options), LanguageModel.LanguageModel, (valid, service) => wrap(service, valid))
  )
