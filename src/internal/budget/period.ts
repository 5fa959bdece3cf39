/**
 * Budget periods: calendar days and months in UTC, and rolling windows kept in time buckets, and the checks of
 * the options that name them.
 */
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Durations from "../duration.js"
import * as OptionChecks from "../optionChecks.js"

/** A period as the options give it: a calendar period in UTC, or the length of a rolling window. */
export type PeriodInput = "day" | "month" | Duration.DurationInput

/** A period checked. */
export type Period =
  | { readonly _tag: "Calendar"; readonly unit: "day" | "month"; readonly id: string }
  | {
    readonly _tag: "Rolling"
    readonly windowMillis: number
    readonly bucketMillis: number
    readonly id: string
  }

/** How many buckets a rolling window is counted in. */
export const bucketsPerWindow = 60

/** Where one operation stands in a period at `now` (see `Store`). */
export interface Position {
  /** Start (epoch ms) of the bucket a charge made now goes to. */
  readonly bucket: number
  /** Buckets starting before this no longer count (and may be dropped). */
  readonly since: number
  /** When the bucket of `bucket` stops counting: a shared store may expire its keys then. */
  readonly until: number
}

const startOfDay = (now: number): number => now - (((now % 86_400_000) + 86_400_000) % 86_400_000)

const startOfMonth = (now: number): number => {
  const date = new Date(now)
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1)
}

const nextMonth = (start: number): number => {
  const date = new Date(start)
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1)
}

/** The position of `now` in a period. */
export const position = (period: Period, now: number): Position => {
  if (period._tag === "Calendar") {
    const start = period.unit === "day" ? startOfDay(now) : startOfMonth(now)
    const end = period.unit === "day" ? start + 86_400_000 : nextMonth(start)
    return { bucket: start, since: start, until: end }
  }
  const { bucketMillis, windowMillis } = period
  const bucket = now - (((now % bucketMillis) + bucketMillis) % bucketMillis)
  // A bucket counts until its end is a whole window old: spend counts for at least `window`, at most one
  // bucket longer (the safe side for a budget).
  return { bucket, since: now - windowMillis - bucketMillis + 1, until: bucket + bucketMillis + windowMillis }
}

/**
 * When the period lets spend go: the next calendar start, or when the oldest counted bucket of a rolling window
 * leaves it (`undefined` when no spend is counted).
 */
export const resetsAt = (period: Period, now: number, oldestBucket: number | undefined): number | undefined => {
  if (period._tag === "Calendar") return position(period, now).until
  return oldestBucket === undefined ? undefined : oldestBucket + period.bucketMillis + period.windowMillis
}

const invalid = (path: ReadonlyArray<string>, message: string) =>
  Either.left(ConfigError.InvalidData([...path], `Budget.layer: ${message}`))

/** A period option checked: `"day"`, `"month"`, or a positive duration. */
export const decodePeriod = (
  input: PeriodInput,
  path: ReadonlyArray<string>
): Either.Either<Period, ConfigError.ConfigError> => {
  if (input === "day" || input === "month") return Either.right({ _tag: "Calendar", unit: input, id: input })
  const decoded = Durations.decodeNonNegative(input)
  const millis = decoded === undefined ? undefined : Duration.toMillis(decoded)
  if (millis === undefined || !Number.isFinite(millis) || millis < 1) {
    return invalid(
      path,
      `${path.join(".")} must be "day", "month" or a rolling window of at least 1 millisecond, got ${
        Durations.show(input)
      }`
    )
  }
  const windowMillis = Math.round(millis)
  const bucketMillis = Math.max(1, Math.floor(windowMillis / bucketsPerWindow))
  return Either.right({ _tag: "Rolling", windowMillis, bucketMillis, id: `window:${windowMillis}` })
}

/** An amount option checked: a finite number of USD, at least 0. */
export const decodeUsd = (
  value: number | undefined,
  path: ReadonlyArray<string>
): Either.Either<number | undefined, ConfigError.ConfigError> =>
  value === undefined || (OptionChecks.isNonNegativeFinite(value) && value <= maxUsd)
    ? Either.right(value)
    : invalid(
      path,
      OptionChecks.isNonNegativeFinite(value)
        ? `${path.join(".")} must be at most ${maxUsd} USD (amounts are counted in whole micro-USD, exact up to ` +
          `2^53 of them), got ${value}`
        : `${path.join(".")} must be a finite number of USD >= 0, got ${OptionChecks.described(value)}`
    )

/** The most USD a store counts exactly: 2^53 micro-USD, about 9 billion USD. */
const maxUsd = Math.floor(Number.MAX_SAFE_INTEGER / 1_000_000)
