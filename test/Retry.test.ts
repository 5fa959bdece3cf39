import { describe, expect, it } from "@effect/vitest"
import { Cause, Chunk, Clock, Duration, Effect, Exit, Fiber, Option, Ref } from "effect"
import * as TestClock from "effect/TestClock"
import * as LlmError from "../src/LlmError.js"
import * as Retry from "../src/Retry.js"

// ---------------------------------------------------------------------------------------------------------------
// harness
// ---------------------------------------------------------------------------------------------------------------

/** What one attempt does: succeed, fail with an error, or interrupt itself. */
type Outcome = LlmError.LlmError | "ok" | "interrupt"

/** An outcome per attempt (1-based). */
type Script = (attempt: number) => Outcome

interface Scripted {
  /** The attempt: records its start time, waits `latencyMillis` (virtual), then plays the script. */
  readonly call: Effect.Effect<string, LlmError.LlmError>
  /** The virtual start time of every attempt so far. */
  readonly attempts: Effect.Effect<ReadonlyArray<number>>
}

const scripted = (script: Script, latencyMillis = 0): Effect.Effect<Scripted> =>
  Effect.map(Ref.make<ReadonlyArray<number>>([]), (ref) => ({
    attempts: Ref.get(ref),
    call: Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const previous = yield* Ref.getAndUpdate(ref, (times) => [...times, now])
      if (latencyMillis > 0) yield* Effect.sleep(Duration.millis(latencyMillis))
      const outcome = script(previous.length + 1)
      if (outcome === "ok") return `ok after ${previous.length + 1}`
      if (outcome === "interrupt") return yield* Effect.interrupt
      return yield* Effect.fail(outcome)
    })
  }))

const serverError = (attempt: number) =>
  new LlmError.ServerError({ provider: "test", status: 500, message: `server error ${attempt}` })

const rateLimited = (retryAfter?: Duration.DurationInput) =>
  new LlmError.RateLimited({
    provider: "test",
    status: 429,
    message: "slow down",
    ...(retryAfter === undefined ? {} : { retryAfter: Duration.decode(retryAfter) })
  })

/** Every attempt fails with a distinct `ServerError`. */
const alwaysServerError: Script = serverError

/** Fails once with `error`, then succeeds. */
const onceThenOk = (error: LlmError.LlmError): Script => (attempt) => attempt === 1 ? error : "ok"

/** Moves the TestClock to an absolute virtual time. */
const adjustTo = (millis: number) =>
  Effect.flatMap(TestClock.currentTimeMillis, (now) => TestClock.adjust(Duration.millis(millis - now)))

/**
 * Forks `call` under `Retry.retry(policy)` with `Random.next` fixed to `random` (0: no jitter), and lets the
 * first attempt run.
 */
const start = (
  policy: Retry.Policy,
  script: Script,
  options: { readonly random?: number; readonly latencyMillis?: number } = {}
) =>
  Effect.gen(function*() {
    const { attempts, call } = yield* scripted(script, options.latencyMillis)
    const fiber = yield* call.pipe(
      Retry.retry(policy),
      Effect.withRandomFixed([options.random ?? 0]),
      Effect.fork
    )
    yield* TestClock.adjust(Duration.zero)
    return { attempts, fiber }
  })

/**
 * Runs a retry loop to its end (10 virtual minutes, far past any wait) and returns the attempt times, relative
 * to the start of the loop (so a test may run several loops), and the exit.
 */
const runToEnd = (
  policy: Retry.Policy,
  script: Script,
  options: { readonly random?: number; readonly latencyMillis?: number } = {}
) =>
  Effect.gen(function*() {
    const origin = yield* TestClock.currentTimeMillis
    const { attempts, fiber } = yield* start(policy, script, options)
    yield* TestClock.adjust(Duration.minutes(10))
    const exit = Option.getOrThrowWith(yield* Fiber.poll(fiber), () => new Error("the retry loop is still running"))
    return { attempts: (yield* attempts).map((at) => at - origin), exit }
  })

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isFailure(exit)) {
    const failure = Cause.failureOption(exit.cause)
    if (Option.isSome(failure)) return failure.value
  }
  throw new Error(`expected a failure, got ${String(exit)}`)
}

const isDone = <A, E>(fiber: Fiber.Fiber<A, E>) => Effect.map(Fiber.poll(fiber), Option.isSome)

const pinned = Retry.policy()

// ---------------------------------------------------------------------------------------------------------------
// backoff
// ---------------------------------------------------------------------------------------------------------------

describe("Retry.retry: exponential backoff", () => {
  it.effect("default policy, jitter pinned: attempts at 0, 500 and 1500 ms, then the last error", () =>
    Effect.gen(function*() {
      const { attempts, fiber } = yield* start(pinned, alwaysServerError)
      expect(yield* attempts).toEqual([0])

      yield* adjustTo(499)
      expect(yield* attempts).toEqual([0])
      yield* adjustTo(500)
      expect(yield* attempts).toEqual([0, 500])

      yield* adjustTo(1499)
      expect(yield* attempts).toEqual([0, 500])
      yield* adjustTo(1500)
      expect(yield* attempts).toEqual([0, 500, 1500])

      // 2 retries used up: the loop ends right after the third attempt, with no further wait
      expect(yield* isDone(fiber)).toBe(true)
      expect(Chunk.toReadonlyArray(yield* TestClock.sleeps())).toEqual([])
      const error = failureOf(yield* Fiber.await(fiber))
      expect(error).toBeInstanceOf(LlmError.ServerError)
      expect(error.message).toBe("server error 3")

      yield* adjustTo(60_000)
      expect(yield* attempts).toEqual([0, 500, 1500])
    }))

  it.effect("times 5: 0, 500, 1500, 3500, 7500, 15500 ms (the last wait is the 8 s cap)", () =>
    Effect.gen(function*() {
      const { attempts, exit } = yield* runToEnd(Retry.policy({ times: 5, cap: "8 seconds" }), alwaysServerError)
      expect(attempts).toEqual([0, 500, 1500, 3500, 7500, 15500])
      expect(failureOf(exit).message).toBe("server error 6")
    }))

  it.effect("the wait stops growing at the cap (8 s, then 8 s again instead of 16 s and 32 s)", () =>
    Effect.gen(function*() {
      const { attempts } = yield* runToEnd(Retry.policy({ times: 7 }), alwaysServerError)
      expect(attempts).toEqual([0, 500, 1500, 3500, 7500, 15500, 23500, 31500])
    }))

  it.effect("a smaller cap: 2 s", () =>
    Effect.gen(function*() {
      const { attempts } = yield* runToEnd(Retry.policy({ times: 4, cap: "2 seconds" }), alwaysServerError)
      expect(attempts).toEqual([0, 500, 1500, 3500, 5500])
    }))

  it.effect("a custom base: 100 ms doubling", () =>
    Effect.gen(function*() {
      const { attempts } = yield* runToEnd(Retry.policy({ times: 3, base: "100 millis" }), alwaysServerError)
      expect(attempts).toEqual([0, 100, 300, 700])
    }))

  it.effect("times 0: a single attempt", () =>
    Effect.gen(function*() {
      const { attempts, exit } = yield* runToEnd(Retry.policy({ times: 0 }), alwaysServerError)
      expect(attempts).toEqual([0])
      expect(failureOf(exit).message).toBe("server error 1")
    }))

  it.effect("a success after a retry is returned", () =>
    Effect.gen(function*() {
      const { attempts, exit } = yield* runToEnd(pinned, (attempt) => attempt < 3 ? serverError(attempt) : "ok")
      expect(attempts).toEqual([0, 500, 1500])
      expect(exit).toEqual(Exit.succeed("ok after 3"))
    }))
})

describe("Retry.retry: jitter", () => {
  it.effect("Random.next = 1 takes the full 25 % off every wait: 0, 375, 1125 ms", () =>
    Effect.gen(function*() {
      const { attempts, fiber } = yield* start(pinned, alwaysServerError, { random: 1 })
      yield* adjustTo(374)
      expect(yield* attempts).toEqual([0])
      yield* adjustTo(375)
      expect(yield* attempts).toEqual([0, 375])
      yield* adjustTo(1125)
      expect(yield* attempts).toEqual([0, 375, 1125])
      expect(yield* isDone(fiber)).toBe(true)
    }))

  it.effect("the jitter fraction is the policy's: jitter 0.5 halves the waits at Random.next = 1", () =>
    Effect.gen(function*() {
      const { attempts } = yield* runToEnd(Retry.policy({ jitter: 0.5 }), alwaysServerError, { random: 1 })
      expect(attempts).toEqual([0, 250, 750])
    }))

  it.effect("jitter 0 disables it whatever Random says", () =>
    Effect.gen(function*() {
      const { attempts } = yield* runToEnd(Retry.policy({ jitter: 0 }), alwaysServerError, { random: 1 })
      expect(attempts).toEqual([0, 500, 1500])
    }))
})

// ---------------------------------------------------------------------------------------------------------------
// Retry-After
// ---------------------------------------------------------------------------------------------------------------

describe("Retry.retry: Retry-After", () => {
  it.effect("retryAfter 2 s: the second attempt at exactly 2000 ms, not before", () =>
    Effect.gen(function*() {
      const { attempts, fiber } = yield* start(pinned, onceThenOk(rateLimited(Duration.seconds(2))))
      yield* adjustTo(500)
      expect(yield* attempts).toEqual([0])
      yield* adjustTo(1999)
      expect(yield* attempts).toEqual([0])
      yield* adjustTo(2000)
      expect(yield* attempts).toEqual([0, 2000])
      expect(yield* Fiber.join(fiber)).toBe("ok after 2")
    }))

  it.effect("retryAfter 1.5 s: the second attempt at 1500 ms", () =>
    Effect.gen(function*() {
      const { attempts, fiber } = yield* start(pinned, onceThenOk(rateLimited(Duration.millis(1500))))
      yield* adjustTo(1499)
      expect(yield* attempts).toEqual([0])
      yield* adjustTo(1500)
      expect(yield* attempts).toEqual([0, 1500])
      expect(yield* Fiber.join(fiber)).toBe("ok after 2")
    }))

  it.effect("retryAfter 3600 s: fails at once with the RateLimited, no sleep pending", () =>
    Effect.gen(function*() {
      const { attempts, fiber } = yield* start(pinned, () => rateLimited(Duration.seconds(3600)))
      expect(yield* attempts).toEqual([0])
      expect(yield* TestClock.currentTimeMillis).toBe(0)
      expect(Chunk.toReadonlyArray(yield* TestClock.sleeps())).toEqual([])
      expect(yield* isDone(fiber)).toBe(true)
      const error = failureOf(yield* Fiber.await(fiber))
      expect(error._tag).toBe("RateLimited")
      expect(error.retryAfter === undefined ? undefined : Duration.toMillis(error.retryAfter)).toBe(3_600_000)
    }))

  it.effect("retryAfter equal to maxRetryAfter (60 s) is still honoured", () =>
    Effect.gen(function*() {
      const { attempts, exit } = yield* runToEnd(pinned, onceThenOk(rateLimited(Duration.seconds(60))))
      expect(attempts).toEqual([0, 60_000])
      expect(exit).toEqual(Exit.succeed("ok after 2"))
    }))

  it.effect("retryAfter just above maxRetryAfter stops; the bound is the policy's", () =>
    Effect.gen(function*() {
      const above = yield* runToEnd(pinned, onceThenOk(rateLimited(Duration.millis(60_001))))
      expect(above.attempts).toEqual([0])
      expect(failureOf(above.exit)._tag).toBe("RateLimited")

      const custom = yield* runToEnd(
        Retry.policy({ maxRetryAfter: "5 seconds" }),
        onceThenOk(rateLimited(Duration.seconds(10)))
      )
      expect(custom.attempts).toEqual([0])
    }))

  it.effect("retryAfter 0 waits the minimum backoff (500 ms), not 0", () =>
    Effect.gen(function*() {
      const { attempts, fiber } = yield* start(pinned, onceThenOk(rateLimited(Duration.zero)))
      expect(yield* attempts).toEqual([0])
      yield* adjustTo(499)
      expect(yield* attempts).toEqual([0])
      yield* adjustTo(500)
      expect(yield* attempts).toEqual([0, 500])
      expect(yield* Fiber.join(fiber)).toBe("ok after 2")
    }))

  it.effect("a retryAfter shorter than the backoff waits the backoff", () =>
    Effect.gen(function*() {
      // the second retry's backoff is 1 s; the provider asks for 200 ms
      const script: Script = (attempt) =>
        attempt === 1 ? serverError(1) : attempt === 2 ? rateLimited("200 millis") : "ok"
      const { attempts } = yield* runToEnd(pinned, script)
      expect(attempts).toEqual([0, 500, 1500])
    }))

  it.effect("retryAfter is compared with the jittered backoff", () =>
    Effect.gen(function*() {
      const { attempts } = yield* runToEnd(pinned, onceThenOk(rateLimited("400 millis")), { random: 1 })
      // jittered backoff 375 ms < 400 ms
      expect(attempts).toEqual([0, 400])
    }))
})

// ---------------------------------------------------------------------------------------------------------------
// what is retried
// ---------------------------------------------------------------------------------------------------------------

const partial = { text: "", reasoning: "", toolCalls: [] }

const nonRetryable: ReadonlyArray<LlmError.LlmError> = [
  new LlmError.InvalidRequest({ provider: "test", status: 400, message: "bad" }),
  new LlmError.AuthenticationFailed({ provider: "test", status: 401, message: "no" }),
  new LlmError.AuthenticationFailed({ provider: "test", status: 403, message: "forbidden" }),
  new LlmError.NotFound({ provider: "test", status: 404, message: "missing" }),
  new LlmError.QuotaExhausted({ provider: "test", status: 429, message: "quota" }),
  new LlmError.ContextLengthExceeded({ provider: "test", status: 400, message: "too long" }),
  new LlmError.ContentFiltered({ provider: "test", status: 400, message: "filtered" }),
  new LlmError.MalformedResponse({ provider: "test", message: "garbage" }),
  new LlmError.EmptyResponse({ provider: "test", message: "nothing" }),
  new LlmError.StreamInterrupted({ provider: "test", message: "cut", partial, causeTag: "NetworkError" })
]

const retryable: ReadonlyArray<LlmError.LlmError> = [
  new LlmError.RateLimited({ provider: "test", status: 429, message: "slow" }),
  new LlmError.Overloaded({ provider: "test", status: 529, message: "busy" }),
  new LlmError.ServerError({ provider: "test", status: 500, message: "boom" }),
  new LlmError.Timeout({ provider: "test", phase: "request", message: "late" }),
  new LlmError.NetworkError({ provider: "test", message: "reset" })
]

describe("Retry.retry: what is retried", () => {
  for (const error of nonRetryable) {
    it.effect(`${error._tag} ${error.status ?? ""}: exactly one attempt`, () =>
      Effect.gen(function*() {
        const { attempts, fiber } = yield* start(pinned, () => error)
        expect(yield* isDone(fiber)).toBe(true)
        expect(failureOf(yield* Fiber.await(fiber))).toBe(error)
        yield* adjustTo(60_000)
        expect(yield* attempts).toEqual([0])
      }))
  }

  for (const error of retryable) {
    it.effect(`${error._tag}: retried after 500 ms`, () =>
      Effect.gen(function*() {
        const { attempts, exit } = yield* runToEnd(pinned, onceThenOk(error))
        expect(attempts).toEqual([0, 500])
        expect(exit).toEqual(Exit.succeed("ok after 2"))
      }))
  }

  it.effect("shouldRetry false on a ServerError: one attempt", () =>
    Effect.gen(function*() {
      const error = new LlmError.ServerError({ provider: "test", status: 500, message: "boom", shouldRetry: false })
      const { attempts, exit } = yield* runToEnd(pinned, onceThenOk(error))
      expect(attempts).toEqual([0])
      expect(failureOf(exit)).toBe(error)
    }))

  it.effect("shouldRetry true on an InvalidRequest: retried", () =>
    Effect.gen(function*() {
      const error = new LlmError.InvalidRequest({ provider: "test", status: 400, message: "bad", shouldRetry: true })
      const { attempts, exit } = yield* runToEnd(pinned, onceThenOk(error))
      expect(attempts).toEqual([0, 500])
      expect(exit).toEqual(Exit.succeed("ok after 2"))
    }))

  it.effect("a non-retryable error after retries ends the loop at once", () =>
    Effect.gen(function*() {
      const denied = new LlmError.AuthenticationFailed({ provider: "test", status: 401, message: "no" })
      const { attempts, exit } = yield* runToEnd(
        Retry.policy({ times: 5 }),
        (attempt) => attempt === 1 ? serverError(1) : denied
      )
      expect(attempts).toEqual([0, 500])
      expect(failureOf(exit)).toBe(denied)
    }))
})

// ---------------------------------------------------------------------------------------------------------------
// deadline
// ---------------------------------------------------------------------------------------------------------------

describe("Retry.retry: deadline", () => {
  it.effect("times 10, deadline 2 s: attempts at 0, 500, 1500, then stops (the next wait would end at 3500)", () =>
    Effect.gen(function*() {
      const { attempts, fiber } = yield* start(Retry.policy({ times: 10, deadline: "2 seconds" }), alwaysServerError)
      yield* adjustTo(1500)
      expect(yield* attempts).toEqual([0, 500, 1500])
      expect(yield* isDone(fiber)).toBe(true)
      expect(Chunk.toReadonlyArray(yield* TestClock.sleeps())).toEqual([])
      expect(failureOf(yield* Fiber.await(fiber)).message).toBe("server error 3")
      yield* adjustTo(60_000)
      expect(yield* attempts).toEqual([0, 500, 1500])
    }))

  it.effect("a wait ending exactly at the deadline is allowed, one ending 1 ms after is not", () =>
    Effect.gen(function*() {
      const exact = yield* runToEnd(Retry.policy({ times: 10, deadline: "1500 millis" }), alwaysServerError)
      expect(exact.attempts).toEqual([0, 500, 1500])
      const short = yield* runToEnd(Retry.policy({ times: 10, deadline: "1499 millis" }), alwaysServerError)
      expect(short.attempts).toEqual([0, 500])
      expect(failureOf(short.exit).message).toBe("server error 2")
    }))

  it.effect("the deadline counts from the start of the first attempt, not its failure", () =>
    Effect.gen(function*() {
      // each attempt takes 1 s: fails at 1000, retry at 1500 fails at 2500; 2500 + 1000 > 2000
      const { attempts, exit } = yield* runToEnd(
        Retry.policy({ times: 10, deadline: "2 seconds" }),
        alwaysServerError,
        { latencyMillis: 1000 }
      )
      expect(attempts).toEqual([0, 1500])
      expect(failureOf(exit).message).toBe("server error 2")

      // 1000 + 500 is past a 1.2 s deadline counted from the first attempt's start
      const tight = yield* runToEnd(
        Retry.policy({ times: 10, deadline: "1200 millis" }),
        alwaysServerError,
        { latencyMillis: 1000 }
      )
      expect(tight.attempts).toEqual([0])
    }))
})

// ---------------------------------------------------------------------------------------------------------------
// interruption
// ---------------------------------------------------------------------------------------------------------------

describe("Retry.retry: interruption", () => {
  it.effect("an interrupt during an attempt is never retried", () =>
    Effect.gen(function*() {
      const { attempts, fiber } = yield* start(pinned, alwaysServerError, { latencyMillis: 10_000 })
      yield* adjustTo(1000)
      const exit = yield* Fiber.interrupt(fiber)
      expect(Exit.isInterrupted(exit)).toBe(true)
      yield* adjustTo(60_000)
      expect(yield* attempts).toEqual([0])
    }))

  it.effect("an attempt that interrupts itself is not retried", () =>
    Effect.gen(function*() {
      const { attempts, exit } = yield* runToEnd(pinned, () => "interrupt")
      expect(Exit.isInterrupted(exit)).toBe(true)
      expect(attempts).toEqual([0])
    }))

  it.effect("an interrupt during the backoff wait starts no further attempt", () =>
    Effect.gen(function*() {
      const { attempts, fiber } = yield* start(pinned, alwaysServerError)
      yield* adjustTo(200)
      expect(Exit.isInterrupted(yield* Fiber.interrupt(fiber))).toBe(true)
      yield* adjustTo(60_000)
      expect(yield* attempts).toEqual([0])
    }))
})

// ---------------------------------------------------------------------------------------------------------------
// policy and schedule
// ---------------------------------------------------------------------------------------------------------------

describe("Retry.policy", () => {
  it("the defaults: 2 retries, 0.5 s doubling to 8 s, 25 % jitter, Retry-After up to 60 s, no deadline", () => {
    const policy = Retry.policy()
    expect(policy.times).toBe(2)
    expect(Duration.toMillis(policy.base)).toBe(500)
    expect(Duration.toMillis(policy.cap)).toBe(8000)
    expect(policy.jitter).toBe(0.25)
    expect(Duration.toMillis(policy.maxRetryAfter)).toBe(60_000)
    expect(policy.deadline).toBeUndefined()
  })

  it("overrides decode any DurationInput", () => {
    const policy = Retry.policy({ times: 5, cap: "30 seconds", deadline: "2 minutes", base: 250 })
    expect(policy.times).toBe(5)
    expect(Duration.toMillis(policy.base)).toBe(250)
    expect(Duration.toMillis(policy.cap)).toBe(30_000)
    expect(policy.deadline === undefined ? undefined : Duration.toMillis(policy.deadline)).toBe(120_000)
    expect(policy.jitter).toBe(0.25)
  })

  it("rejects invalid values with an error naming the field", () => {
    expect(() => Retry.policy({ times: -1 })).toThrow(/times/)
    expect(() => Retry.policy({ times: 1.5 })).toThrow(/times/)
    expect(() => Retry.policy({ jitter: 2 })).toThrow(/jitter/)
    expect(() => Retry.policy({ jitter: -0.1 })).toThrow(/jitter/)
    expect(() => Retry.policy({ base: -5 })).toThrow(/base/)
    expect(() => Retry.policy({ cap: Number.NaN })).toThrow(/cap/)
    expect(() => Retry.policy({ maxRetryAfter: -1 })).toThrow(/maxRetryAfter/)
    expect(() => Retry.policy({ deadline: Duration.infinity })).toThrow(/deadline/)
    expect(() => Retry.policy({ cap: Duration.infinity })).toThrow(/cap/)
  })

  it("an infinite duration is a RangeError naming the field, as every other bad value", () => {
    for (const field of ["base", "cap", "maxRetryAfter", "deadline"] as const) {
      for (const input of [Infinity, Duration.infinity]) {
        expect(() => Retry.policy({ [field]: input })).toThrow(RangeError)
        expect(() => Retry.policy({ [field]: input })).toThrow(`\`${field}\` must be a finite, non-negative duration`)
      }
    }
  })

  it("retry, withPolicy and backoff refuse what is no policy (or retry number) with a RangeError where given", () => {
    const notPolicies: ReadonlyArray<unknown> = [{ times: 3 }, null, "x", undefined]
    for (const value of notPolicies) {
      expect(() => Retry.retry(value as Retry.Policy)).toThrow(RangeError)
      expect(() => Retry.withPolicy(value as Retry.Policy)).toThrow(
        /Retry.withPolicy: expected a policy from Retry.policy\(\.\.\.\) or false/
      )
    }
    expect(() => Retry.withPolicy(false)).not.toThrow()
    expect(Retry.isPolicy(Retry.defaults)).toBe(true)
    expect(Retry.isPolicy({ ...Retry.defaults })).toBe(false)
    for (const n of [Number.NaN, -1, 1.5, Infinity]) {
      expect(() => Retry.backoff(Retry.defaults, n)).toThrow(RangeError)
    }
  })

  it("refuses every negative form of a duration, not only negative numbers", () => {
    const negatives: ReadonlyArray<Duration.DurationInput> = ["-1 seconds", " -250 millis", -1n, [-1, 0], [1, -5]]
    for (const input of negatives) {
      for (const field of ["base", "cap", "maxRetryAfter", "deadline"] as const) {
        expect(() => Retry.policy({ [field]: input })).toThrow(
          new RegExp(`\`${field}\` must be a finite, non-negative`)
        )
      }
    }
  })

  it("refuses text that is no duration with an error naming the field", () => {
    expect(() => Retry.policy({ base: "soon" as Duration.DurationInput })).toThrow(
      /`base` must be a finite, non-negative/
    )
  })

  it("refuses null values, a null argument and a misspelt option alike, never reading them as the default", () => {
    const policy = Retry.policy as (options: unknown) => Retry.Policy
    const cases: ReadonlyArray<readonly [options: unknown, message: string]> = [
      [{ times: null }, "Retry.policy: `times` must be a whole number >= 0, got null"],
      [{ times: "3" }, "Retry.policy: `times` must be a whole number >= 0, got \"3\""],
      [{ jitter: null }, "Retry.policy: `jitter` must be a number from 0 to 1, got null"],
      [{ base: null }, "Retry.policy: `base` must be a finite, non-negative duration, got null"],
      [{ deadline: null }, "Retry.policy: `deadline` must be a finite, non-negative duration, got null"],
      [null, "Retry.policy: the options must be an object, got null"],
      [{ time: 3 }, "Retry.policy: unknown option \"time\" (the options are times, base, cap, jitter, maxRetryAfter"]
    ]
    for (const [options, message] of cases) {
      expect(() => policy(options)).toThrow(RangeError)
      expect(() => policy(options)).toThrow(message)
    }
    expect(policy(undefined)).toEqual(Retry.defaults)
  })

  it("backoff is min(cap, base * 2^n)", () => {
    const waits = [0, 1, 2, 3, 4, 5, 6].map((n) => Duration.toMillis(Retry.backoff(Retry.defaults, n)))
    expect(waits).toEqual([500, 1000, 2000, 4000, 8000, 8000, 8000])
  })
})

describe("Retry.schedule", () => {
  it.effect("used directly with Effect.retry: the same waits and the last error", () =>
    Effect.gen(function*() {
      const { attempts, call } = yield* scripted(alwaysServerError)
      const fiber = yield* call.pipe(
        Effect.retry(Retry.schedule(pinned)),
        Effect.withRandomFixed([0]),
        Effect.fork
      )
      yield* adjustTo(499)
      expect(yield* attempts).toEqual([0])
      yield* adjustTo(500)
      expect(yield* attempts).toEqual([0, 500])
      yield* adjustTo(1500)
      expect(yield* attempts).toEqual([0, 500, 1500])
      expect(yield* isDone(fiber)).toBe(true)
      expect(failureOf(yield* Fiber.await(fiber)).message).toBe("server error 3")
    }))
})
