import * as Duration from "effect/Duration"
import { described } from "./described.js"

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

/** How a duration option's value is shown in an error message: a `Duration` formatted, anything else as given. */
export const show = (input: Duration.DurationInput): string =>
  Duration.isDuration(input) ? Duration.format(input) : described(input)
