/**
 * The testing kit: a scripted `LanguageModel` and a real HTTP mock provider.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as AnthropicMock from "./AnthropicMock.js"

/**
 * @since 0.1.0
 */
export * as CohereMock from "./CohereMock.js"

/**
 * @since 0.1.0
 */
export * as GeminiMock from "./GeminiMock.js"

/**
 * @since 0.1.0
 */
export * as MockProvider from "./MockProvider.js"

/**
 * @since 0.1.0
 */
export * as TestModel from "./TestModel.js"

/**
 * @since 0.1.0
 */
export * as OpenAiMock from "./OpenAiMock.js"
