/**
 * liter-llm: production-safe LLM provider calls for Effect.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as Anthropic from "./providers/Anthropic.js"

/**
 * @since 0.1.0
 */
export * as ChatRequest from "./ChatRequest.js"

/**
 * @since 0.1.0
 */
export * as CircuitBreaker from "./CircuitBreaker.js"

/**
 * @since 0.1.0
 */
export * as ChatResponse from "./ChatResponse.js"

/**
 * @since 0.1.0
 */
export * as Cohere from "./providers/Cohere.js"

/**
 * @since 0.1.0
 */
export * as Fallback from "./Fallback.js"

/**
 * @since 0.1.0
 */
export * as Gemini from "./providers/Gemini.js"

/**
 * @since 0.1.0
 */
export * as LanguageModel from "./LanguageModel.js"

/**
 * @since 0.1.0
 */
export * as LlmError from "./LlmError.js"

/**
 * @since 0.1.0
 */
export * as LlmMetrics from "./LlmMetrics.js"

/**
 * @since 0.1.0
 */
export * as OpenAi from "./providers/OpenAi.js"

/**
 * @since 0.1.0
 */
export * as Retry from "./Retry.js"

/**
 * @since 0.1.0
 */
export * as Router from "./Router.js"

/**
 * @since 0.1.0
 */
export * as StreamPart from "./StreamPart.js"

/**
 * @since 0.1.0
 */
export * as Timeout from "./Timeout.js"
