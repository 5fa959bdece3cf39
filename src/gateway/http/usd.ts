/**
 * Amounts in USD as the gateway shows them (the usage endpoint, the `x-liter-cost-usd` header, the request log):
 * rounded to 12 significant digits, so that an amount computed in floating point (a price times tokens, a limit
 * minus a spend) reads `0.00009`, not `0.00008999999999999997`. Twelve digits keep a micro-USD exact up to a
 * million USD, and the cost of a single token in full, however small.
 *
 * @since 0.2.0
 */

const significantDigits = 12

/**
 * The amount rounded to 12 significant digits, still a number (JSON writes it without the float noise).
 *
 * @since 0.2.0
 * @category rounding
 */
export const round = (usd: number): number => Number(usd.toPrecision(significantDigits))

// Never in exponent notation, which `String` uses below 1e-6 (`1.5e-7`): a header reads as a plain decimal.
const decimal = new Intl.NumberFormat("en-US", { maximumSignificantDigits: significantDigits, useGrouping: false })

/**
 * The amount rounded as {@link round} does, as a plain decimal: `0.00000015`, `20`, `0`.
 *
 * @since 0.2.0
 * @category formatting
 */
export const text = (usd: number): string => {
  const rounded = round(usd)
  // `String` gives the same digits (the shortest that read back, at most 12 here) about ten times faster than
  // the formatter, which is left for the amounts it would write with an exponent.
  const shown = String(rounded)
  return shown.includes("e") ? decimal.format(rounded) : shown
}
