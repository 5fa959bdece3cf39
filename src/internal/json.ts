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
