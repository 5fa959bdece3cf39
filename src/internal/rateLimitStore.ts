/**
 * The counting behind `RateLimit`: a store (the `RateLimiterStore` of `@effect/experimental`, plus the aligned
 * fixed window this library adds) and the limiter over it that every `RateLimit` layer consumes from.
 *
 * Why an aligned window: `@effect/experimental`'s "fixed-window" opens with the first unit and lasts
 * `window × taken / limit`, so a window that is not full leaks, and over an arbitrary stretch of `window` more than
 * `limit` units can get through. The aligned window is `[k × window, (k + 1) × window)` on the callers' clock: at
 * most `limit` units are counted in each, whichever processes take them.
 */
import * as RateLimiter from "@effect/experimental/RateLimiter"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as RateLimit from "../RateLimit.js"
import * as Outage from "./redisOutage.js"

/** The algorithms, as `RateLimit.Algorithm`. */
export type Algorithm = RateLimit.Algorithm

/** One take of units from a counter, as `RateLimit.ConsumeOptions`. */
export type Consume = RateLimit.ConsumeOptions

/** What a take answers (see `RateLimit.Consumed`). */
export type Consumed = RateLimit.Consumed

/** The limiter every `RateLimit` layer counts with, as `RateLimit.LimiterService`. */
export type Limiter = RateLimit.LimiterService

/** The aligned fixed window, an operation a store adds to `RateLimiterStore`. */
export interface AlignedWindow {
  /**
   * Takes `tokens` in the window of `now` (`floor(now / windowMillis)`, or a later one a caller already opened),
   * after the units of earlier windows beyond their `limit` (a debt) are carried over. Without `overflow`, a take
   * that does not fit is refused and nothing is written; zero tokens write nothing either. Answers whether it
   * was taken, the count after it in the window `index`.
   */
  readonly alignedWindow: (options: AlignedTake) => Effect.Effect<AlignedResult, RateLimiter.RateLimitStoreError>
  /**
   * Takes back `tokens` from the counter at `key` if it is exactly as a take left it (`index`, `count`): units
   * taken after it would otherwise move into the window it freed. Answers whether it did.
   */
  readonly alignedGiveBack: (options: AlignedGiveBack) => Effect.Effect<boolean, RateLimiter.RateLimitStoreError>
}

export interface AlignedGiveBack {
  readonly key: string
  readonly tokens: number
  readonly index: number
  readonly count: number
}

export interface AlignedTake {
  readonly key: string
  readonly tokens: number
  readonly limit: number
  readonly windowMillis: number
  readonly now: number
  readonly overflow: boolean
}

export interface AlignedResult {
  readonly taken: boolean
  readonly count: number
  readonly index: number
}

/** A full store: `@effect/experimental`'s operations and the aligned window. */
export type Store = RateLimiter.RateLimiterStore["Type"] & AlignedWindow

/**
 * The state of an aligned counter: its window, the units counted from it on, the length of the windows it was
 * counted in (ms) and the limit it was counted at (each absent in counters written before it was kept, read as the
 * current one).
 */
export interface AlignedState {
  readonly index: number
  readonly count: number
  readonly windowMillis?: number | undefined
  readonly limit?: number | undefined
}

/**
 * A counter's units `windows` windows after its own, counted at `from` units a window, as a count at `to`. At the
 * same limit, what the windows passed did not hold. Another limit (a reload changed it): the units still in the
 * window reached, at most `to` (a lowered limit fills that window, it does not turn the calls counted in it into
 * debt for the windows after), then those counted past that window, at `to` a window from the next on.
 */
export const carriedCount = (count: number, windows: number, from: number, to: number): number => {
  const left = Math.max(0, count - windows * from)
  if (from === to) return left
  const inWindow = Math.min(left, from)
  return Math.min(inWindow, to) + left - inWindow
}

/**
 * The window of a counter, in windows of `windowMillis`: a config whose window changed (a reload) reads a counter
 * counted in windows of another length as the window its counting began in, else an index of minutes read as
 * one of hours would be a window decades ahead, refusing every call until then.
 */
export const alignedIndex = (state: AlignedState, windowMillis: number): number =>
  state.windowMillis === undefined || state.windowMillis === windowMillis
    ? state.index
    : Math.floor(state.index * state.windowMillis / windowMillis)

/**
 * One aligned take on a state (the memory store runs it as is; the Redis script is the same steps in Lua): the
 * answer, and the state to write with how long it matters (ms), if anything is written.
 */
export const alignedStep = (
  state: AlignedState | undefined,
  take: AlignedTake
): { readonly result: AlignedResult; readonly write?: { readonly state: AlignedState; readonly ttl: number } } => {
  let index = Math.floor(take.now / take.windowMillis)
  let count = 0
  if (state !== undefined) {
    const stateIndex = alignedIndex(state, take.windowMillis)
    // A clock behind another caller's counts into the window that caller already opened.
    if (stateIndex >= index) index = stateIndex
    count = carriedCount(state.count, index - stateIndex, state.limit ?? take.limit, take.limit)
  }
  if (take.tokens === 0 || (!take.overflow && count + take.tokens > take.limit)) {
    return { result: { taken: take.tokens === 0, count, index } }
  }
  count += take.tokens
  const ttl = Math.ceil((index + Math.ceil(count / take.limit)) * take.windowMillis - take.now)
  return {
    result: { taken: true, count, index },
    write: { state: { index, count, windowMillis: take.windowMillis, limit: take.limit }, ttl }
  }
}

const exceeded = (key: string, limit: number, retryAfter: Duration.Duration) =>
  new RateLimiter.RateLimitExceeded({ key, retryAfter, limit, remaining: 0 })

/** A take of the aligned window: refused with the time until a window holds it, or delayed to the window that does. */
const consumeAligned = (store: AlignedWindow, options: Consume) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => {
    const { key, limit, tokens } = options
    const windowMillis = Duration.toMillis(options.window)
    // No window can ever hold it: answered as `RateLimiter.consume` does.
    if (tokens > limit) {
      return options.onExceeded === "fail"
        ? Effect.fail(exceeded(key, limit, options.window))
        : Effect.succeed<RateLimiter.ConsumeResult>({
          delay: options.window,
          limit,
          remaining: 0,
          resetAfter: options.window
        })
    }
    const until = (index: number) => Duration.millis(Math.max(0, index * windowMillis - now))
    return Effect.flatMap(
      store.alignedWindow({ key, tokens, limit, windowMillis, now, overflow: options.onExceeded === "delay" }),
      ({ count, index, taken }): Effect.Effect<Consumed, RateLimiter.RateLimitExceeded> => {
        if (!taken) {
          // The first window whose carried debt leaves room for these tokens.
          return Effect.fail(
            exceeded(key, limit, until(index + Math.max(1, Math.ceil((count + tokens - limit) / limit))))
          )
        }
        return Effect.succeed({
          // The window of the last unit taken: later ones when earlier calls overflowed into them.
          delay: tokens === 0 ? Duration.zero : until(index + Math.floor((count - 1) / limit)),
          limit,
          remaining: limit - count,
          resetAfter: count === 0 ? Duration.zero : until(index + Math.ceil(count / limit)),
          ...(tokens === 0 ? {} : { giveBack: Effect.ignore(store.alignedGiveBack({ key, tokens, index, count })) })
        })
      }
    )
  })

const experimental: Record<Exclude<Algorithm, "fixed-window">, "fixed-window" | "token-bucket"> = {
  "leaky-window": "fixed-window",
  "token-bucket": "token-bucket"
}

/**
 * The limiter over a store: the aligned window here, the others through `@effect/experimental`'s `RateLimiter`.
 * Without `aligned` (a `RateLimiterStore` from elsewhere) only those are available.
 */
export const make = (store: RateLimiter.RateLimiterStore["Type"], aligned: AlignedWindow | undefined): Limiter => {
  const limiter = Effect.runSync(Effect.provideService(RateLimiter.make, RateLimiter.RateLimiterStore, store))
  const reporters = new Map<string, Outage.Reporter>()
  return {
    outage: (fallback) => {
      let reporter = reporters.get(fallback)
      if (reporter === undefined) {
        reporter = Outage.reporter("rate-limit", fallback)
        reporters.set(fallback, reporter)
      }
      return reporter
    },
    algorithms: aligned === undefined
      ? ["leaky-window", "token-bucket"]
      : ["fixed-window", "leaky-window", "token-bucket"],
    consume: (options) =>
      options.algorithm === "fixed-window"
        ? aligned === undefined
          ? Effect.fail(new RateLimiter.RateLimitStoreError({ message: "the store has no aligned fixed window" }))
          : consumeAligned(aligned, options)
        : limiter.consume({ ...options, algorithm: experimental[options.algorithm] })
  }
}

/** The aligned window in memory; counters whose time is over are swept as the map grows. */
export const alignedMemory = (): AlignedWindow => {
  const counters = new Map<string, AlignedState & { readonly expiresAt: number }>()
  let sweepAt = 1_024
  const sweep = (now: number) => {
    for (const [key, counter] of counters) if (counter.expiresAt <= now) counters.delete(key)
    sweepAt = Math.max(1_024, counters.size * 2)
  }
  return {
    alignedWindow: (take) =>
      Effect.sync(() => {
        const { result, write } = alignedStep(counters.get(take.key), take)
        if (write !== undefined) {
          counters.set(take.key, { ...write.state, expiresAt: take.now + write.ttl })
          if (counters.size >= sweepAt) sweep(take.now)
        }
        return result
      }),
    alignedGiveBack: (back) =>
      Effect.sync(() => {
        const counter = counters.get(back.key)
        if (counter === undefined || counter.index !== back.index || counter.count !== back.count) return false
        counters.set(back.key, { ...counter, count: back.count - back.tokens })
        return true
      })
  }
}

/** A fresh limiter in memory, with every algorithm. */
export const memory = (): Limiter =>
  make(Effect.runSync(Effect.provide(RateLimiter.RateLimiterStore, RateLimiter.layerStoreMemory)), alignedMemory())
