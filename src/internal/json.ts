/** Type guards for reading provider JSON by hand (per-token paths where a Schema would cost too much). */

/** A JSON object. */
export type Json = Record<string, unknown>

/** A non-array object. */
export const isObject = (u: unknown): u is Json => typeof u === "object" && u !== null && !Array.isArray(u)

/** A string with at least one character. */
export const nonEmpty = (u: unknown): u is string => typeof u === "string" && u !== ""

/** The string itself when it has at least one character, else `undefined`. */
export const stringOf = (u: unknown): string | undefined => typeof u === "string" && u !== "" ? u : undefined

/** The number itself when it is finite, else `undefined`. */
export const numberOf = (u: unknown): number | undefined => typeof u === "number" && Number.isFinite(u) ? u : undefined

/**
 * A token count as a provider reported it: `undefined` when absent (`null` too), the number as given, and `NaN`
 * for anything else (a string): the usage check then refuses it as a malformed response, where reading it as
 * absent would count it as 0.
 */
export const countOf = (u: unknown): number | undefined =>
  u === undefined || u === null ? undefined : typeof u === "number" ? u : Number.NaN
