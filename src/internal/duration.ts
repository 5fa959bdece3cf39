import * as Duration from "effect/Duration"

// Duration.decode turns a negative number, string, bigint or tuple into zero (or a negative part into a
// shorter duration), and throws on text that is no duration: options need every such value refused instead.
const isNegative = (input: Duration.DurationInput): boolean => {
  if (typeof input === "number") return !(input >= 0)
  if (typeof input === "bigint") return input < 0n
  if (typeof input === "string") return /^\s*-/.test(input)
  if (Array.isArray(input)) return input.some((part) => !(part >= 0))
  return false
}

/** A duration option decoded, or `undefined` when it is negative in any form, or no duration at all. */
export const decodeNonNegative = (input: Duration.DurationInput): Duration.Duration | undefined => {
  if (isNegative(input)) return undefined
  try {
    return Duration.decode(input)
  } catch {
    return undefined
  }
}

/**
 * How an option's value is shown in an error message: a string quoted, a number or bigint as written, so that
 * `"5"` (text) and `5` (milliseconds) read differently.
 */
export const show = (input: Duration.DurationInput): string => {
  if (Duration.isDuration(input)) return Duration.format(input)
  if (typeof input === "number") return String(input)
  if (typeof input === "bigint") return `${input}n`
  try {
    const json = JSON.stringify(input)
    if (json !== undefined) return json.length > 80 ? `${json.slice(0, 80)}...` : json
  } catch {
    // A value no JSON can hold (a bigint inside a tuple): named by its type below.
  }
  return typeof input
}
