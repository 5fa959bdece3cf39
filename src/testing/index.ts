/**
 * The testing kit: a scripted `LanguageModel` and a real HTTP mock provider.
 *
 * @since 0.1.0
 */

/**
 * Replies in the Anthropic Messages wire format, for scripting a `MockProvider` that stands in for Anthropic.
 *
 * @since 0.1.0
 */
export * as AnthropicMock from "./AnthropicMock.js"

/**
 * Replies in the Cohere v2 Chat wire format, for scripting a `MockProvider` that stands in for Cohere.
 *
 * @since 0.1.0
 */
export * as CohereMock from "./CohereMock.js"

/**
 * Replies in the Gemini (Generative Language API) wire format, for scripting a `MockProvider` that stands in for
 * `generativelanguage.googleapis.com`.
 *
 * @since 0.1.0
 */
export * as GeminiMock from "./GeminiMock.js"

/**
 * A real HTTP server on loopback that plays a script of replies and faults and records every request, for tests and
 * demos of code that talks to an LLM provider.
 *
 * @since 0.1.0
 */
export * as MockProvider from "./MockProvider.js"

/**
 * A scripted `LanguageModel` for unit tests of code that uses liter-llm.
 *
 * @since 0.1.0
 */
export * as TestModel from "./TestModel.js"

/**
 * Replies in the OpenAI Chat Completions wire format, for scripting a `MockProvider` that stands in for OpenAI, Azure
 * OpenAI or an OpenAI-compatible server.
 *
 * @since 0.1.0
 */
export * as OpenAiMock from "./OpenAiMock.js"
