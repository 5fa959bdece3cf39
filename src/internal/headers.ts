import * as Duration from "effect/Duration"

/** Response headers with lower-cased names, as `@effect/platform` gives them. */
export type HeaderRecord = Readonly<Record<string, string | undefined>>

const parseNonNegative = (value: string | undefined): number | undefined => {
  if (value === undefined) return undefined
  const trimmed = value.trim()
  // Number("") is 0 and Number(" 1e3") is 1000: accept plain decimal numbers only.
  if (!/^\d+(\.\d+)?$/.test(trimmed)) return undefined
  const n = Number(trimmed)
  return Number.isFinite(n) ? n : undefined
}

const day = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
const month = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
const time = "\\d{2}:\\d{2}:\\d{2}"
/** IMF-fixdate, RFC 850 and asctime, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`. */
const httpDate = new RegExp(
  `^(?:${day}, \\d{2} ${month} \\d{4} ${time} GMT` +
    `|(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), \\d{2}-${month}-\\d{2} ${time} GMT` +
    `|${day} ${month} [ \\d]\\d ${time} \\d{4})$`
)

/**
 * The `Retry-After` family of headers, first valid source wins: `retry-after-ms`, `x-ms-retry-after-ms`,
 * then `retry-after` as seconds or an HTTP-date (relative to `nowMillis`, so a TestClock drives it). Negative,
 * NaN and unparseable values are ignored; a date in the past means "now".
 */
export const retryAfterFromHeaders = (headers: HeaderRecord, nowMillis: number): Duration.Duration | undefined => {
  const ms = parseNonNegative(headers["retry-after-ms"]) ?? parseNonNegative(headers["x-ms-retry-after-ms"])
  if (ms !== undefined) return Duration.millis(ms)
  const raw = headers["retry-after"]
  if (raw === undefined) return undefined
  const seconds = parseNonNegative(raw)
  if (seconds !== undefined) return Duration.seconds(seconds)
  // Only the three HTTP-date forms of RFC 9110: Date.parse alone accepts junk such as "Retry 2099".
  if (!httpDate.test(raw.trim())) return undefined
  const at = Date.parse(raw)
  if (Number.isNaN(at)) return undefined
  return Duration.millis(Math.max(0, at - nowMillis))
}

/** `x-should-retry: true | false`, a provider's own verdict on retrying. */
export const shouldRetryFromHeaders = (headers: HeaderRecord): boolean | undefined => {
  const value = headers["x-should-retry"]?.trim().toLowerCase()
  return value === "true" ? true : value === "false" ? false : undefined
}

const requestIdHeaders = [
  "x-request-id",
  "request-id",
  "apim-request-id",
  "x-goog-request-id",
  "x-debug-trace-id",
  "cf-ray"
]

/** The provider's request id, from the first header that carries one. */
export const requestIdFromHeaders = (headers: HeaderRecord): string | undefined => {
  for (const name of requestIdHeaders) {
    const value = headers[name]
    if (value !== undefined && value !== "") return value
  }
  return undefined
}

/**
 * Google's `"1.5s"` duration strings (e.g. `RetryInfo.retryDelay`).
 */
export const parseGoogleDuration = (value: unknown): Duration.Duration | undefined => {
  if (typeof value !== "string") return undefined
  const match = /^(\d+(?:\.\d+)?)s$/.exec(value.trim())
  return match === null ? undefined : Duration.millis(Math.round(Number(match[1]) * 1000))
}
