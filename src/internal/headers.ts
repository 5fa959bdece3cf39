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

const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
const day = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
const month = `(${months.join("|")})`
const time = "(\\d{2}):(\\d{2}):(\\d{2})"
// The three HTTP-date forms of RFC 9110 section 5.6.7, each capturing day, month, year and time.
const imfFixdate = new RegExp(`^${day}, (\\d{2}) ${month} (\\d{4}) ${time} GMT$`)
const rfc850 = new RegExp(
  `^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-${month}-(\\d{2}) ${time} GMT$`
)
const asctime = new RegExp(`^${day} ${month} ([ \\d]\\d) ${time} (\\d{4})$`)

/**
 * An HTTP-date as epoch milliseconds, or `undefined`. All three forms are UTC (RFC 9110), so the fields are
 * read by hand and given to `Date.UTC`: `Date.parse` reads the asctime form, which has no zone, in the host's
 * time zone, and accepts text that is no HTTP-date at all.
 */
export const parseHttpDate = (value: string, nowMillis: number): number | undefined => {
  let fields: [day: string, month: string, year: number, hour: string, minute: string, second: string] | undefined
  const imf = imfFixdate.exec(value)
  if (imf !== null) fields = [imf[1]!, imf[2]!, Number(imf[3]), imf[4]!, imf[5]!, imf[6]!]
  const old = rfc850.exec(value)
  if (old !== null) {
    // A two-digit year more than 50 years ahead is the most recent past year with those digits (RFC 9110).
    const thisYear = new Date(nowMillis).getUTCFullYear()
    let year = Math.floor(thisYear / 100) * 100 + Number(old[3])
    if (year > thisYear + 50) year -= 100
    fields = [old[1]!, old[2]!, year, old[4]!, old[5]!, old[6]!]
  }
  const asc = asctime.exec(value)
  if (asc !== null) fields = [asc[2]!.trim(), asc[1]!, Number(asc[6]), asc[3]!, asc[4]!, asc[5]!]
  if (fields === undefined) return undefined
  const [dayOfMonth, monthName, year, hour, minute, second] = fields
  const monthIndex = months.indexOf(monthName)
  const [d, h, m, s] = [Number(dayOfMonth), Number(hour), Number(minute), Number(second)]
  // Date.UTC rolls "31 Feb" or "25:00" over into another date: refuse instead (60 s is a leap second).
  if (h > 23 || m > 59 || s > 60 || new Date(Date.UTC(year, monthIndex, d)).getUTCDate() !== d) return undefined
  return Date.UTC(year, monthIndex, d, h, m, s)
}

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
  const at = parseHttpDate(raw.trim(), nowMillis)
  return at === undefined ? undefined : Duration.millis(Math.max(0, at - nowMillis))
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
