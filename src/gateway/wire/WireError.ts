/**
 * The error of a request body the gateway cannot accept, in the fields of OpenAI's error JSON.
 *
 * @since 0.2.0
 */
import * as Schema from "effect/Schema"

/**
 * A request body refused before any call: malformed (`code: "invalid_value"`, `"invalid_type"`,
 * `"missing_required_parameter"`), naming a parameter the gateway does not support (`"unsupported_parameter"`,
 * `"unsupported_value"`) or one OpenAI does not define (`"unknown_parameter"`). `param` is the path in the
 * body, OpenAI style (`messages[2].content`). Always HTTP 400.
 *
 * @example
 * ```ts
 * import { WireError } from "liter-llm/gateway/wire"
 *
 * const error = new WireError({ message: "`n` must be 1", param: "n", code: "unsupported_value" })
 * ```
 *
 * @since 0.2.0
 * @category errors
 */
export class WireError extends Schema.TaggedError<WireError>()("WireError", {
  message: Schema.String,
  /** The path of the parameter at fault, e.g. `"messages[2].content"`; absent when the body as a whole is. */
  param: Schema.optional(Schema.String),
  code: Schema.String
}) {
  /** HTTP status: always 400 (a request body the gateway cannot accept). */
  get status(): 400 {
    return 400
  }
}

/**
 * A `400 invalid_request_error` naming the parameter at fault.
 *
 * @since 0.2.0
 * @category constructors
 */
export const invalid = (param: string | undefined, message: string, code = "invalid_value"): WireError =>
  new WireError(param === undefined ? { message, code } : { message, param, code })

/**
 * A parameter the gateway does not support (or not with this value).
 *
 * @since 0.2.0
 * @category constructors
 */
export const unsupported = (param: string, message: string): WireError =>
  new WireError({ message, param, code: "unsupported_parameter" })

/**
 * Whether a value is a {@link WireError}.
 *
 * @since 0.2.0
 * @category predicates
 */
export const isWireError = (u: unknown): u is WireError => u instanceof WireError
