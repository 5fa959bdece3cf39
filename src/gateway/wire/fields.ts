/**
 * Reading an untrusted JSON body field by field. A check that fails throws a `WireError` naming the field's
 * path; `catchWire` turns it back into a value at the edge, so the public functions never throw.
 *
 * @since 0.2.0
 */
import * as Either from "effect/Either"
import * as WireError from "./WireError.js"

/**
 * A JSON object.
 *
 * @since 0.2.0
 * @category models
 */
export type Json = Record<string, unknown>

/**
 * A non-array object.
 *
 * @since 0.2.0
 * @category predicates
 */
export const isObject = (u: unknown): u is Json => typeof u === "object" && u !== null && !Array.isArray(u)

/**
 * Stops decoding with a `WireError` at `param`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const fail = (param: string | undefined, message: string, code?: string): never => {
  throw WireError.invalid(param, message, code)
}

/**
 * Runs a decoder whose checks throw `WireError`s, as an `Either` (other exceptions are bugs and propagate).
 *
 * @since 0.2.0
 * @category combinators
 */
export const catchWire = <A>(run: () => A): Either.Either<A, WireError.WireError> => {
  try {
    return Either.right(run())
  } catch (error) {
    if (error instanceof WireError.WireError) return Either.left(error)
    throw error
  }
}

/**
 * What kind of JSON value `u` is, with its article, for a message: `"a number"`, `"an object"`, `"null"`.
 *
 * @since 0.2.0
 * @category getters
 */
export const typeName = (u: unknown): string =>
  u === null ? "null" : Array.isArray(u) ? "an array" : `${/^[aeiou]/.test(typeof u) ? "an" : "a"} ${typeof u}`

/**
 * The value as an object, or a `WireError`.
 *
 * @since 0.2.0
 * @category getters
 */
export const object = (u: unknown, param: string): Json =>
  isObject(u) ? u : fail(param, `\`${param}\` must be an object, got ${typeName(u)}`, "invalid_type")

/**
 * The value as an array, or a `WireError`.
 *
 * @since 0.2.0
 * @category getters
 */
export const array = (u: unknown, param: string): ReadonlyArray<unknown> =>
  Array.isArray(u) ? u : fail(param, `\`${param}\` must be an array, got ${typeName(u)}`, "invalid_type")

/**
 * Message content: a string, or the array of its parts; else a `WireError` naming both.
 *
 * @since 0.2.0
 * @category getters
 */
export const content = (u: unknown, param: string): string | ReadonlyArray<unknown> =>
  typeof u === "string" || Array.isArray(u)
    ? u
    : fail(param, `\`${param}\` must be a string or an array of parts, got ${typeName(u)}`, "invalid_type")

/**
 * The value as a string, or a `WireError`.
 *
 * @since 0.2.0
 * @category getters
 */
export const string = (u: unknown, param: string): string =>
  typeof u === "string" ? u : fail(param, `\`${param}\` must be a string, got ${typeName(u)}`, "invalid_type")

/** A number the client cannot have meant: JSON.parse reads `1e999` as Infinity. */
const numberName = (u: number): string =>
  Number.isNaN(u)
    ? "NaN"
    : Number.isFinite(u)
    ? String(u)
    : `${u < 0 ? "-" : ""}Infinity (a number too large to represent)`

/**
 * The value as a finite number, or a `WireError`.
 *
 * @since 0.2.0
 * @category getters
 */
export const number = (u: unknown, param: string): number =>
  typeof u !== "number"
    ? fail(param, `\`${param}\` must be a number, got ${typeName(u)}`, "invalid_type")
    : Number.isFinite(u)
    ? u
    : fail(param, `\`${param}\` must be a finite number, got ${numberName(u)}`)

/**
 * The value as an integer, or a `WireError`.
 *
 * @since 0.2.0
 * @category getters
 */
export const integer = (u: unknown, param: string): number =>
  typeof u !== "number"
    ? fail(param, `\`${param}\` must be a number, got ${typeName(u)}`, "invalid_type")
    : Number.isSafeInteger(u)
    ? u
    : Number.isInteger(u) || (!Number.isNaN(u) && !Number.isFinite(u))
    ? fail(param, `\`${param}\` is too large: at most ${Number.MAX_SAFE_INTEGER} in magnitude, got ${numberName(u)}`)
    : fail(param, `\`${param}\` must be an integer, got ${numberName(u)}`)

/**
 * The value as a boolean, or a `WireError`.
 *
 * @since 0.2.0
 * @category getters
 */
export const boolean = (u: unknown, param: string): boolean =>
  typeof u === "boolean" ? u : fail(param, `\`${param}\` must be a boolean, got ${typeName(u)}`, "invalid_type")

/**
 * A required field, or a `WireError` saying it is missing.
 *
 * @since 0.2.0
 * @category getters
 */
export const required = (json: Json, key: string, param: string): unknown => {
  const value = json[key]
  return value === undefined || value === null
    ? fail(param, `\`${param}\` is required`, "missing_required_parameter")
    : value
}

/**
 * Refuses a key outside `allowed` (OpenAI refuses unknown fields too).
 *
 * @since 0.2.0
 * @category checks
 */
export const onlyKeys = (json: Json, allowed: ReadonlySet<string>, at: string): void => {
  for (const key in json) {
    if (!allowed.has(key)) {
      fail(`${at}.${key}`, `unknown parameter \`${at}.${key}\``, "unknown_parameter")
    }
  }
}

/**
 * The text of a content given as a string or an array of `{type:"text"}` parts (joined with new lines).
 *
 * @since 0.2.0
 * @category getters
 */
export const textContent = (u: unknown, param: string): string => {
  const parts = content(u, param)
  if (typeof parts === "string") return parts
  let text = ""
  for (let index = 0; index < parts.length; index++) {
    const at = `${param}[${index}]`
    const part = object(parts[index], at)
    if (part.type !== "text") {
      fail(`${at}.type`, `\`${at}.type\` must be "text" here, got ${JSON.stringify(part.type)}`)
    }
    text += (index === 0 ? "" : "\n") + string(part.text, `${at}.text`)
  }
  return text
}

/**
 * How deep a request's JSON may nest: far beyond any tool schema or argument a model reads (OpenAI's structured
 * outputs allow 10 levels), and far below what recursive code (schema checks, encoders, the tokenizer) can walk
 * without overflowing the stack.
 *
 * @since 0.2.0
 * @category checks
 */
export const maxDepth = 64

/**
 * Refuses a value nested more than {@link maxDepth} levels deep, naming `param`: a `WireError` (400), where the
 * value would otherwise fail deep inside the call as a stack overflow. Walked with a loop of its own, so a body
 * of any depth is measured without recursion.
 *
 * @since 0.2.0
 * @category checks
 */
export const shallow = (u: unknown, param: string): void => {
  const pending: Array<object> = []
  const depths: Array<number> = []
  const visit = (value: unknown, depth: number) => {
    if (typeof value !== "object" || value === null) return
    if (depth >= maxDepth) fail(param, `\`${param}\` is nested more than ${maxDepth} levels deep`, "nested_too_deeply")
    pending.push(value)
    depths.push(depth)
  }
  visit(u, 0)
  while (pending.length > 0) {
    const value = pending.pop()!
    const depth = depths.pop()! + 1
    if (Array.isArray(value)) { for (const child of value) visit(child, depth) }
    else for (const key in value) visit((value as Json)[key], depth)
  }
}
