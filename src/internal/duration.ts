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

// A duration string whose amount is written as JavaScript writes a number: `${number} ${unit}`, the type of a
// duration string, includes "1e-7 millis" (what `${ms} millis` gives for a small `ms`), which `Duration.decode`
// cannot read. Its units in milliseconds, as [factor, divisor]: dividing by a power of ten rounds exactly.
const durationText = /^(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s+(nano|micro|milli|second|minute|hour|day|week)s?$/
const unitMillis: Readonly<Record<string, readonly [number, number]>> = {
  nano: [1, 1e6],
  micro: [1, 1e3],
  milli: [1, 1],
  second: [1e3, 1],
  minute: [6e4, 1],
  hour: [3.6e6, 1],
  day: [8.64e7, 1],
  week: [6.048e8, 1]
}

/**
 * A duration option's length in milliseconds, or `undefined` when it is negative in any form, or no duration at
 * all. Unlike {@link decodeNonNegative}, an amount under 1 ns stays positive (a `Duration` holds whole nanoseconds,
 * so it would read as 0), and a string's amount may have an exponent ("1e-7 millis"): a check of a minimum then
 * says the value is under it, not that it is no positive duration.
 */
export const millisOf = (input: Duration.DurationInput): number | undefined => {
  if (isNegative(input)) return undefined
  if (typeof input === "number") return input
  if (typeof input === "string") {
    const match = durationText.exec(input)
    if (match === null) return undefined
    const [factor, divisor] = unitMillis[match[2]!]!
    return (Number(match[1]) * factor) / divisor
  }
  const decoded = decodeNonNegative(input)
  return decoded === undefined ? undefined : Duration.toMillis(decoded)
}

/** How a duration option's value is shown in an error message: a `Duration` formatted, anything else as given. */
export const show = (input: Duration.DurationInput): string =>
  Duration.isDuration(input) ? Duration.format(input) : described(input)
