/**
 * liter-llm: production-safe LLM provider calls for Effect.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as Budget from "./Budget.js"
export * as Cache from "./Cache.js"
export * as ChatRequest from "./ChatRequest.js"
export * as ChatResponse from "./ChatResponse.js"
export * as CircuitBreaker from "./CircuitBreaker.js"
export * as ContextWindow from "./ContextWindow.js"
export * as Fallback from "./Fallback.js"
export * as Guardrail from "./Guardrail.js"
export * as LanguageModel from "./LanguageModel.js"
export * as LlmError from "./LlmError.js"
export * as LlmMetrics from "./LlmMetrics.js"
export * as Pricing from "./Pricing.js"
export * as Anthropic from "./providers/Anthropic.js"
export * as Cohere from "./providers/Cohere.js"
export * as Gemini from "./providers/Gemini.js"
export * as OpenAi from "./providers/OpenAi.js"
export * as RateLimit from "./RateLimit.js"
export * as Redis from "./Redis.js"
export * as Retry from "./Retry.js"
export * as Router from "./Router.js"
export * as StreamPart from "./StreamPart.js"
export * as Timeout from "./Timeout.js"
export * as Tokenizer from "./Tokenizer.js"
export * as UndiciClient from "./UndiciClient.js"
