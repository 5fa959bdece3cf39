/**
 * Retries as `Schedule`s: exponential backoff with jitter that honours the provider's Retry-After.
 *
 * Semantics (the defaults, all adjustable with {@link policy}):
 *
 * - up to `times` = 2 retries after the first attempt (3 attempts in all);
 * - retry `n` (from 0) waits `min(cap, base * 2^n)` = `0.5 s * 2^n` capped at 8 s, minus up to 25 % jitter
 *   drawn from Effect's `Random`;
 * - when the error carries a `retryAfter`, the wait is `max(backoff, retryAfter)`, so `retryAfter: 0` still
 *   waits the backoff;
 * - a `retryAfter` above `maxRetryAfter` (60 s) stops at once, so a fallback can take over;
 * - only `LlmError.isRetryable` errors are retried; an interrupt never is;
 * - with a `deadline`, no retry starts whose wait would end past `deadline` after the first attempt began.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import { globalValue } from "effect/GlobalValue"
import * as Random from "effect/Random"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as ScheduleInterval from "effect/ScheduleInterval"
import * as Schema from "effect/Schema"
import * as Durations from "./internal/duration.js"
import * as LlmError from "./LlmError.js"

const NonNegativeDuration = Schema.DurationFromSelf.pipe(
  Schema.filter((d) => Duration.isFinite(d) || "must be a finite duration")
)

/**
 * A retry policy: plain data, usable as a provider layer's `retry` option or with {@link retry}.
 *
 * @since 0.1.0
 * @category models
 */
export class Policy extends Schema.Class<Policy>("liter-llm/Retry/Policy")({
  /** Retries after the first attempt. */
  times: Schema.Int.pipe(Schema.nonNegative()),
  /** The first backoff; retry `n` waits `base * 2^n`. */
  base: NonNegativeDuration,
  /** The largest backoff. */
  cap: NonNegativeDuration,
  /** The fraction of the backoff that jitter may take away, from 0 (none) to 1. */
  jitter: Schema.Number.pipe(Schema.between(0, 1)),
  /** The longest Retry-After honoured; a longer one ends retrying at once. */
  maxRetryAfter: NonNegativeDuration,
  /** A bound on the whole retry loop, from the start of the first attempt. */
  deadline: Schema.optional(NonNegativeDuration)
}) {}

/**
 * The default policy: 2 retries, 0.5 s doubling to 8 s, 25 % jitter, Retry-After honoured up to 60 s.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaults: Policy = new Policy({
  times: 2,
  base: Duration.millis(500),
  cap: Duration.seconds(8),
  jitter: 0.25,
  maxRetryAfter: Duration.seconds(60)
})

/**
 * Options of {@link policy}; durations accept any `Duration.DurationInput` (`"2 seconds"`, `1500`, ...).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly times?: number
  readonly base?: Duration.DurationInput
  readonly cap?: Duration.DurationInput
  readonly jitter?: number
  readonly maxRetryAfter?: Duration.DurationInput
  readonly deadline?: Duration.DurationInput
}

/**
 * A policy from the defaults and the given overrides. Invalid values (negative `times` or durations,
 * `jitter` above 1, `null`, an unknown option, ...) throw a `RangeError` at construction time, with a message
 * naming the field.
 *
 * @example
 * ```ts
 * import { Retry } from "liter-llm"
 *
 * const patient = Retry.policy({ times: 5, cap: "30 seconds", deadline: "2 minutes" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const policy = (options: Options = {}): Policy => {
  // A JavaScript caller may pass `null`, or `null` values: each is refused like any bad value, never read as
  // "the default".
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new RangeError(`Retry.policy: the options must be an object, got ${shown(options)}`)
  }
  const unknown = Object.keys(options).find((key) => !optionNames.includes(key))
  if (unknown !== undefined) {
    throw new RangeError(
      `Retry.policy: unknown option ${JSON.stringify(unknown)} (the options are ${optionNames.join(", ")})`
    )
  }
  const { times, jitter } = options as { readonly times?: unknown; readonly jitter?: unknown }
  if (times !== undefined && !(Number.isSafeInteger(times) && (times as number) >= 0)) {
    throw new RangeError(`Retry.policy: \`times\` must be a whole number >= 0, got ${shown(times)}`)
  }
  if (jitter !== undefined && !(typeof jitter === "number" && jitter >= 0 && jitter <= 1)) {
    throw new RangeError(`Retry.policy: \`jitter\` must be a number from 0 to 1, got ${shown(jitter)}`)
  }
  return new Policy({
    times: options.times ?? defaults.times,
    base: decodeDuration("base", options.base, defaults.base),
    cap: decodeDuration("cap", options.cap, defaults.cap),
    jitter: options.jitter ?? defaults.jitter,
    maxRetryAfter: decodeDuration("maxRetryAfter", options.maxRetryAfter, defaults.maxRetryAfter),
    ...(options.deadline === undefined ? {} : { deadline: decodeDuration("deadline", options.deadline, Duration.zero) })
  })
}

const optionNames: ReadonlyArray<string> = ["times", "base", "cap", "jitter", "maxRetryAfter", "deadline"]

// A value as a message shows it: a number as written, anything else as JSON, else its type.
const shown = (value: unknown): string => Durations.show(value as Duration.DurationInput)

const decodeDuration = (
  name: string,
  input: Duration.DurationInput | undefined,
  fallback: Duration.Duration
): Duration.Duration => {
  if (input === undefined) return fallback
  const decoded = Durations.decodeNonNegative(input)
  if (decoded === undefined || !Duration.isFinite(decoded)) {
    throw new RangeError(
      `Retry.policy: \`${name}\` must be a finite, non-negative duration, got ${Durations.show(input)}`
    )
  }
  return decoded
}

/**
 * Whether a value is a retry policy (from {@link policy}, or {@link defaults}).
 *
 * @example
 * ```ts
 * import { Retry } from "liter-llm"
 *
 * Retry.isPolicy(Retry.policy({ times: 1 })) // true
 * Retry.isPolicy({ times: 1 }) // false: plain options, not a policy
 * ```
 *
 * @since 0.2.0
 * @category guards
 */
export const isPolicy = (u: unknown): u is Policy => u instanceof Policy

// A value given where a policy goes (from JavaScript, JSON, or a cast) that is none: refused where it is given,
// as `policy` refuses a bad option, rather than a defect at the first retry.
const checkPolicy = (where: string, value: unknown, orFalse: boolean): void => {
  if (isPolicy(value) || (orFalse && value === false)) return
  throw new RangeError(
    `${where}: expected a policy from Retry.policy(...)${orFalse ? " or false" : ""}, got ${shown(value)}`
  )
}

/**
 * What the schedule decided for one retry.
 *
 * @since 0.1.0
 * @category models
 */
export interface RetryStep {
  /** 1 for the first retry. */
  readonly retry: number
  readonly delay: Duration.Duration
  readonly error: LlmError.LlmError
}

/**
 * The backoff before retry `n` (from 0), without jitter: `min(cap, base * 2^n)`. A retry number that is not a
 * whole number >= 0 throws a `RangeError`.
 *
 * @since 0.1.0
 * @category utils
 */
export const backoff = (self: Policy, n: number): Duration.Duration => {
  if (!(Number.isSafeInteger(n) && n >= 0)) {
    throw new RangeError(`Retry.backoff: the retry number must be a whole number >= 0, got ${shown(n)}`)
  }
  return Duration.min(self.cap, Duration.times(self.base, 2 ** n))
}

/**
 * The policy as a `Schedule` whose input is the error; each retry it grants is logged at debug level. `startMillis` is when the first attempt began, for
 * the deadline; by default, the time of the first failure.
 *
 * @since 0.1.0
 * @category schedules
 */
export const schedule = (
  self: Policy,
  options: { readonly startMillis?: number } = {}
): Schedule.Schedule<RetryStep, LlmError.LlmError> =>
  Schedule.makeWithState<{ readonly retries: number; readonly start: number }, LlmError.LlmError, RetryStep>(
    { retries: 0, start: options.startMillis ?? -1 },
    (now, error, state) =>
      Effect.gen(function*() {
        const start = state.start < 0 ? now : state.start
        const stop = [state, { retry: state.retries, delay: Duration.zero, error }, ScheduleDecision.done] as const
        if (!LlmError.isRetryable(error) || state.retries >= self.times) return stop
        const retryAfter = error.retryAfter
        if (retryAfter !== undefined && Duration.greaterThan(retryAfter, self.maxRetryAfter)) return stop
        const random = self.jitter === 0 ? 0 : yield* Random.next
        const jittered = Duration.times(backoff(self, state.retries), 1 - self.jitter * random)
        const delay = retryAfter === undefined ? jittered : Duration.max(jittered, retryAfter)
        const delayMillis = Duration.toMillis(delay)
        if (self.deadline !== undefined && now + delayMillis > start + Duration.toMillis(self.deadline)) return stop
        const retries = state.retries + 1
        yield* Effect.logDebug("liter-llm: retrying").pipe(
          Effect.annotateLogs({ retry: retries, delayMs: delayMillis, error: error._tag, provider: error.provider })
        )
        return [
          { retries, start },
          { retry: retries, delay, error },
          ScheduleDecision.continueWith(ScheduleInterval.after(now + delayMillis))
        ] as const
      })
  )

/**
 * Retries an effect that fails with an `LlmError` under a policy. Each retry is logged at debug level with
 * its delay and the error's tag. A value that is no policy (plain options) throws a `RangeError` here.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { LanguageModel, Retry } from "liter-llm"
 *
 * const call = LanguageModel.generate({ messages: [{ role: "user", content: "Hi" }] }).pipe(
 *   Retry.retry(Retry.policy({ times: 4 }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const retry = (self: Policy) => {
  checkPolicy("Retry.retry", self, false)
  // Without a deadline the start of the first attempt plays no part: one schedule serves every call, and a
  // call that succeeds at once (most) builds no schedule driver at all.
  if (self.deadline !== undefined) {
    return <A, E extends LlmError.LlmError, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      Effect.flatMap(Clock.currentTimeMillis, (startMillis) => Effect.retry(effect, schedule(self, { startMillis })))
  }
  const shared = schedule(self)
  return <A, E extends LlmError.LlmError, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.catchAll(effect, (first) => {
      // The schedule sees the first error as if `Effect.retry` had run the first attempt itself.
      let replayed = false
      const again = Effect.suspend(() => {
        if (replayed) return effect
        replayed = true
        return Effect.fail(first)
      })
      return Effect.retry(again, shared)
    })
}

/**
 * A policy that replaces the provider layer's own for calls made within its scope (`undefined`: none). Set
 * with {@link withPolicy}; fallback chains use it so a step's `retry` replaces its provider's policy instead of
 * multiplying with it.
 *
 * @since 0.1.0
 * @category overrides
 */
export const currentOverride: FiberRef.FiberRef<Policy | false | undefined> = globalValue(
  "liter-llm/Retry/currentOverride",
  () => FiberRef.unsafeMake<Policy | false | undefined>(undefined)
)

/**
 * Runs an effect with every provider call inside it using `policy` (or no retries with `false`) instead of
 * the provider layer's own policy. A value that is neither (plain options) throws a `RangeError` here.
 *
 * @example
 * ```ts
 * import { LanguageModel, Retry } from "liter-llm"
 *
 * const once = LanguageModel.generate({ messages: [{ role: "user", content: "Hi" }] }).pipe(Retry.withPolicy(false))
 * ```
 *
 * @since 0.1.0
 * @category overrides
 */
export const withPolicy = (policy: Policy | false) => {
  checkPolicy("Retry.withPolicy", policy, true)
  return <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.locally(effect, currentOverride, policy)
}

/**
 * The effective policy: the override in scope, else `fallback`.
 *
 * @since 0.1.0
 * @category overrides
 */
export const effective = (fallback: Policy | false): Effect.Effect<Policy | false> =>
  Effect.map(FiberRef.get(currentOverride), (override) => override ?? fallback)
