/**
 * The OpenAI chat-completions wire of the gateway: request decoding, response and stream encoding, errors.
 * Pure functions over the public modules of the library.
 *
 * @since 0.2.0
 */

/**
 * @since 0.2.0
 */
export * from "./addresses.js"
/**
 * @since 0.2.0
 */
export * from "./errors.js"
/**
 * @since 0.2.0
 */
export * from "./request.js"
/**
 * @since 0.2.0
 */
export * from "./response.js"
/**
 * @since 0.2.0
 */
export * from "./stream.js"
/**
 * @since 0.2.0
 */
export * from "./WireError.js"
