/**
 * The field schemas the gateway's config sections share: durations, counts, amounts, names, key hashes, and the
 * retry, timeout and circuit-breaker settings of providers and routes, each with the message a bad value gets.
 *
 * @since 0.2.0
 */
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Durations from "../internal/duration.js"
import { either, kindOf, mapping, opt, withMessage, wordOf, written } from "./configMessages.js"
import * as Keys from "./Keys.js"

/**
 * The longest delay a Node timer holds, 2^31 - 1 ms (24.8 days): a longer one fires at once, with a warning, and
 * Node's server refuses a timeout that is not a whole number of ms in its range (a crash at start).
 */
const maxTimerMillis = 2 ** 31 - 1

/**
 * A duration as the file writes it checked: `"30 seconds"`, `"1 minute"`, or a number of milliseconds; at least
 * 1 ms when not 0. A `timer` one ends in a Node timer or the Node server: 1 ms to {@link maxTimerMillis} (or 0 where
 * `allowZero`), rounded up to whole ms, so that what `check-config` accepts the gateway can start with. The
 * duration, or what was expected instead (`example` showing one), for every duration of the file.
 *
 * @since 0.2.0
 * @category fields
 */
export const checkDuration = (
  input: unknown,
  allowZero: boolean,
  timer: boolean,
  example: string
): Either.Either<Duration.Duration, string> => {
  const orZero = allowZero ? "0 or " : ""
  // Read as a number of ms, not a `Duration`: "1e-7 millis" is a positive duration under 1 ms, not no duration
  // (and not 0, which a `Duration` would round it to).
  const ms = typeof input === "string" || typeof input === "number"
    ? Durations.millisOf(input as Duration.DurationInput)
    : undefined
  if (ms === undefined || (!timer && ms === Infinity) || (!allowZero && ms === 0)) {
    return Either.left(`a ${allowZero ? "duration >= 0" : "positive duration"} such as "${example}"`)
  }
  if (ms === 0) return Either.right(Duration.zero)
  if (timer) {
    return ms >= 1 && Math.ceil(ms) <= maxTimerMillis
      ? Either.right(Duration.millis(Math.ceil(ms)))
      : Either.left(`${orZero}a duration from 1 ms to 24.8 days`)
  }
  // Every duration of the file ends in whole milliseconds (timers, store windows, Redis expiries): a shorter one
  // would be 0, which a window, a period or a timeout cannot be.
  return ms >= 1
    ? Either.right(Duration.millis(ms))
    : Either.left(`${orZero}a duration of at least 1 ms, such as "${example}"`)
}

const duration = (allowZero: boolean, timer = false) =>
  // From any value: `checkDuration` says what a wrong kind is (a list: "got a list"), in one line, never showing it.
  Schema.transformOrFail(Schema.Unknown, Schema.DurationFromSelf, {
    strict: true,
    decode: (input, _, ast) =>
      Either.match(checkDuration(input, allowZero, timer, "30 seconds"), {
        onLeft: (expected) =>
          ParseResult.fail(new ParseResult.Type(ast, input, `expected ${expected}, got ${written(input)}`)),
        onRight: ParseResult.succeed
      }),
    encode: (duration) => ParseResult.succeed(Duration.toMillis(duration))
  })

/**
 * A positive duration.
 *
 * @since 0.2.0
 * @category fields
 */
export const DurationInput = duration(false)
/**
 * A duration where 0 means "at once" (a grace period, a hold).
 *
 * @since 0.2.0
 * @category fields
 */
export const DurationOrZero = duration(true)
/**
 * A positive duration that goes to a Node timer or the Node server: 1 ms to 24.8 days, in whole ms.
 *
 * @since 0.2.0
 * @category fields
 */
export const TimerDuration = duration(false, true)
/**
 * A {@link TimerDuration} that may be 0 ("at once").
 *
 * @since 0.2.0
 * @category fields
 */
export const TimerDurationOrZero = duration(true, true)

/**
 * What a {@link Name} refused says, for a list that checks its items itself: what was given, and for a number or
 * `true` / `false` (YAML reads `model: 3.5` or `apiVersion: 2023` as one), how to make it text.
 *
 * @since 0.2.0
 * @category fields
 */
export const nonEmptyProblem = (actual: unknown): string =>
  actual === ""
    ? "expected a non-empty string, got an empty string"
    : typeof actual === "string"
    ? "expected a non-empty string, got only whitespace"
    : typeof actual === "number" || typeof actual === "boolean"
    ? `expected a non-empty string, got ${kindOf(actual)} (quote it to make it text)`
    : `expected a non-empty string, got ${kindOf(actual)}`
/**
 * A string with more than whitespace: the layers refuse a blank model, deployment, API version or service name
 * when the gateway starts (most often a template's unset variable), so the file does here.
 *
 * @since 0.2.0
 * @category fields
 */
export const Name = withMessage(
  Schema.String.pipe(Schema.filter((name) => name.trim() !== "")),
  nonEmptyProblem
)
/**
 * `true` or `false` (YAML's `yes` or a quoted `"true"` is refused, saying what was given).
 *
 * @since 0.2.0
 * @category fields
 */
export const Bool = withMessage(Schema.Boolean, (actual) => `expected true or false, got ${kindOf(actual)}`)
/**
 * An integer > 0.
 *
 * @since 0.2.0
 * @category fields
 */
export const PositiveInt = withMessage(
  Schema.Number.pipe(Schema.int(), Schema.positive()),
  (actual) => `expected a positive integer, got ${kindOf(actual)}`
)
/**
 * An integer >= 0.
 *
 * @since 0.2.0
 * @category fields
 */
export const NonNegativeInt = withMessage(
  Schema.Number.pipe(Schema.int(), Schema.nonNegative()),
  (actual) => `expected an integer >= 0, got ${kindOf(actual)}`
)
/**
 * An amount in USD >= 0.
 *
 * @since 0.2.0
 * @category fields
 */
export const Usd = withMessage(
  Schema.Number.pipe(Schema.finite(), Schema.nonNegative()),
  (actual) => `expected an amount in USD >= 0, got ${kindOf(actual)}`
)
/** A budget's amount: at most what its stores count exactly (2^53 micro-USD, see `Budget`). */
export const BudgetUsd = withMessage(
  Schema.Number.pipe(Schema.finite(), Schema.between(0, Math.floor(Number.MAX_SAFE_INTEGER / 1_000_000))),
  (actual) =>
    `expected an amount in USD from 0 to ${Math.floor(Number.MAX_SAFE_INTEGER / 1_000_000)}, got ${kindOf(actual)}`
)
const Fraction = withMessage(
  Schema.Number.pipe(Schema.between(0, 1)),
  (actual) => `expected a number between 0 and 1, got ${kindOf(actual)}`
)
/**
 * A budget's period: `"day"`, `"month"` (UTC calendar), or a duration checked as every other duration of the file.
 *
 * @since 0.2.0
 * @category fields
 */
export const Period = withMessage(
  Schema.Union(Schema.Literal("day", "month"), DurationInput),
  (actual) =>
    `expected "day", "month" or ${
      Either.getLeft(checkDuration(actual, false, false, "12 hours")).pipe(
        Option.getOrElse(() => "a positive duration such as \"12 hours\"")
      )
    }, got ${wordOf(actual)}`
)
/**
 * The name of an environment variable.
 *
 * @since 0.2.0
 * @category fields
 */
export const EnvName = withMessage(
  Schema.String.pipe(Schema.pattern(/^[A-Za-z_][A-Za-z0-9_]*$/)),
  "expected the NAME of an environment variable, e.g. OPENAI_API_KEY"
)
/**
 * A key hash from `liter-llm hash-key`, its hex digits in either case, decoded in lower case as `hash-key` prints
 * it: the same hash written in two cases is the same key (the lookup compares the digests' bytes).
 *
 * @since 0.2.0
 * @category fields
 */
export const KeyHash = withMessage(
  Schema.String.pipe(
    Schema.pattern(new RegExp(Keys.hashPattern.source, "i")),
    Schema.compose(Schema.Lowercase)
  ),
  "expected a key hash: \"sha256:\" and 64 hex digits, from `liter-llm hash-key`"
)

const secretMessage = (instead: string) => `secrets are never written in the config: ${instead}`

/**
 * Keys and URLs with secrets are never written in the file: the field exists to say so.
 *
 * @since 0.2.0
 * @category fields
 */
export const secretField = (instead: string) => opt(Schema.Unknown.pipe(Schema.filter(() => secretMessage(instead))))

/** The request headers that carry a credential (names in lower case, as HTTP compares them). */
const credentialHeaders: ReadonlySet<string> = new Set([
  "authorization",
  "proxy-authorization",
  "x-api-key",
  "api-key",
  "x-goog-api-key",
  "cookie"
])

type Headers = { readonly [name: string]: string }

/**
 * Headers written in the file, refusing those that carry a credential like {@link secretField} refuses a key:
 * each with its path, the value never shown.
 *
 * @since 0.2.0
 * @category fields
 */
export const withoutSecretHeaders = (instead: string) => <S extends Schema.Schema<Headers, Headers>>(self: S) =>
  Schema.filter<S>((headers) =>
    Object.keys(headers).filter((name) => credentialHeaders.has(name.toLowerCase())).map((name) => ({
      path: [name],
      message: secretMessage(instead)
    }))
  )(self)

/**
 * A provider's or route's retry settings, or `false`.
 *
 * @since 0.2.0
 * @category fields
 */
export const Retry = either(
  Schema.Union(
    Schema.Literal(false),
    Schema.Struct({
      times: opt(NonNegativeInt),
      base: opt(DurationInput),
      cap: opt(DurationInput),
      jitter: opt(Fraction),
      maxRetryAfter: opt(DurationInput),
      deadline: opt(DurationInput)
    })
  ),
  "false or a mapping of retry settings (times, base, cap, ...)"
)

/**
 * A provider's or route's timeouts.
 *
 * @since 0.2.0
 * @category fields
 */
export const Timeout = mapping(
  Schema.Struct({
    request: opt(DurationInput),
    firstToken: opt(DurationInput),
    idle: opt(DurationInput),
    total: opt(DurationInput)
  }),
  "a mapping of timeouts (request, firstToken, idle, total)"
)

/**
 * A provider's circuit breaker settings.
 *
 * @since 0.2.0
 * @category fields
 */
export const CircuitBreaker = mapping(
  Schema.Struct({
    failureRateThreshold: opt(Fraction),
    minimumCalls: opt(PositiveInt),
    window: opt(DurationInput),
    cooldown: opt(DurationInput),
    halfOpenProbes: opt(PositiveInt),
    maxRetryAfter: opt(DurationInput)
  }),
  "a mapping of circuit breaker settings"
)
