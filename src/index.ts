/**
 * liter-llm: production-safe LLM provider calls for Effect.
 *
 * @since 0.1.0
 */

/**
 * Spending limits in USD per tenant and period, around any `LanguageModel` Layer.
 *
 * @since 0.2.0
 */
export * as Budget from "./Budget.js"

/**
 * An exact-match response cache around any `LanguageModel` Layer, always partitioned by tenant.
 *
 * @since 0.2.0
 */
export * as Cache from "./Cache.js"

/**
 * The provider-neutral chat request.
 *
 * @since 0.1.0
 */
export * as ChatRequest from "./ChatRequest.js"

/**
 * The unified response every provider is decoded into.
 *
 * @since 0.1.0
 */
export * as ChatResponse from "./ChatResponse.js"

/**
 * A circuit breaker per provider or deployment key, around any `LanguageModel` Layer.
 *
 * @since 0.1.0
 */
export * as CircuitBreaker from "./CircuitBreaker.js"

/**
 * Fits a request's history into the model's context window before the call, around any `LanguageModel` Layer.
 *
 * @since 0.2.0
 */
export * as ContextWindow from "./ContextWindow.js"

/**
 * Fallback chains.
 *
 * @since 0.1.0
 */
export * as Fallback from "./Fallback.js"

/**
 * Checks on what goes to a model and what comes back, around any `LanguageModel` Layer.
 *
 * @since 0.2.0
 */
export * as Guardrail from "./Guardrail.js"

/**
 * The one service every provider implements and every policy wraps.
 *
 * @since 0.1.0
 */
export * as LanguageModel from "./LanguageModel.js"

/**
 * One tagged error union for every failure of an LLM call, grouped in three fault domains.
 *
 * @since 0.1.0
 */
export * as LlmError from "./LlmError.js"

/**
 * The metrics service.
 *
 * @since 0.1.0
 */
export * as LlmMetrics from "./LlmMetrics.js"

/**
 * What a model costs.
 *
 * @since 0.2.0
 */
export * as Pricing from "./Pricing.js"

/**
 * Anthropic Messages (`POST /v1/messages`) as a `LanguageModel` Layer.
 *
 * @since 0.1.0
 */
export * as Anthropic from "./providers/Anthropic.js"

/**
 * Cohere Chat v2 (`POST /v2/chat`) as a `LanguageModel` Layer.
 *
 * @since 0.1.0
 */
export * as Cohere from "./providers/Cohere.js"

/**
 * Google Gemini (the Generative Language API, `generativelanguage.googleapis.com`) as a `LanguageModel` Layer.
 *
 * @since 0.1.0
 */
export * as Gemini from "./providers/Gemini.js"

/**
 * OpenAI Chat Completions as a `LanguageModel` Layer.
 *
 * @since 0.1.0
 */
export * as OpenAi from "./providers/OpenAi.js"

/**
 * Requests per window and tokens per window, per tenant (and optionally per model), around any `LanguageModel` Layer.
 *
 * @since 0.2.0
 */
export * as RateLimit from "./RateLimit.js"

/**
 * One Redis connection for every store that shares state across processes (circuit breakers now; rate limits, budgets
 * and the cache each add theirs).
 *
 * @since 0.2.0
 */
export * as Redis from "./Redis.js"

/**
 * Retries as `Schedule`s.
 *
 * @since 0.1.0
 */
export * as Retry from "./Retry.js"

/**
 * A `LanguageModel` over several deployments (of one model family, or interchangeable models), choosing one per call.
 *
 * @since 0.1.0
 */
export * as Router from "./Router.js"

/**
 * The typed parts of a streamed response, and the accumulator that turns them into the same `ChatResponse` a non-
 * streaming call returns.
 *
 * @since 0.1.0
 */
export * as StreamPart from "./StreamPart.js"

/**
 * Deadlines of a provider call, each failing with `LlmError.Timeout` naming its phase.
 *
 * @since 0.1.0
 */
export * as Timeout from "./Timeout.js"

/**
 * Counts the input tokens of a request, for the policies that must know them before the call (`Budget`, `RateLimit`,
 * `ContextWindow`).
 *
 * @since 0.2.0
 */
export * as Tokenizer from "./Tokenizer.js"

/**
 * An `HttpClient` straight over an undici `Dispatcher`.
 *
 * @since 0.2.0
 */
export * as UndiciClient from "./UndiciClient.js"
