/** Type guards for reading provider JSON by hand (per-token paths where a Schema would cost too much). */

/** A JSON object. */
export type Json = Record<string, unknown>

/** A non-array object. */
export const isObject = (u: unknown): u is Json => typeof u === "object" && u !== null && !Array.isArray(u)

/** A string with at least one character. */
export const nonEmpty = (u: unknown): u is string => typeof u === "string" && u !== ""
