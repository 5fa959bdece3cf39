import { describe, expect, it } from "@effect/vitest"
import type { Layer } from "effect"
import { Effect, Exit, Fiber } from "effect"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import * as Circuit from "../src/internal/circuit.js"
import * as LanguageModel from "../src/LanguageModel.js"
import type * as LlmError from "../src/LlmError.js"
import { adjustTo, awaitSleepUntil } from "./support/loopback.js"
import { after, answer, ask, errors, failure, scripted } from "./support/resilience.js"

const call = (layer: Layer.Layer<LanguageModel.LanguageModel>) =>
  LanguageModel.generate(ask()).pipe(Effect.provide(layer), Effect.exit)

const tagOf = (exit: Exit.Exit<unknown, LlmError.LlmError>) => Exit.isSuccess(exit) ? "success" : failure(exit)._tag

describe("CircuitBreaker: half-open periods", () => {
  it.effect("a probe of an earlier half-open period that ends uncounted does not free a slot of the current one", () =>
    Effect.gen(function*() {
      const model = yield* scripted([
        // X: let through while closed, answers at 40 s with a Retry-After of 5 minutes
        after(40_000, errors.rateLimited("test", "5 minutes")),
        // Y: fails at once and opens the breaker until 30 s
        errors.overloaded(),
        // A: the first period's probe, still running when X reopens the breaker
        after(500_000, answer("A")),
        // C: the second period's probe
        after(500_000, answer("C")),
        answer("D")
      ])
      const guarded = CircuitBreaker.layer(model.layer, {
        key: "k",
        minimumCalls: 1,
        cooldown: "30 seconds",
        probeLease: "10 minutes"
      })
      const x = yield* Effect.fork(call(guarded))
      yield* awaitSleepUntil(40_000)
      expect(tagOf(yield* call(guarded))).toBe("Overloaded")
      yield* adjustTo(30_000)
      const a = yield* Effect.fork(call(guarded))
      yield* awaitSleepUntil(530_000)
      yield* adjustTo(40_000)
      expect(tagOf(yield* Fiber.join(x))).toBe("RateLimited")
      expect(yield* CircuitBreaker.state("k")).toMatchObject({ state: "open", until: 340_000 })
      yield* adjustTo(340_000)
      const c = yield* Effect.fork(call(guarded))
      yield* awaitSleepUntil(840_000)
      yield* Fiber.interrupt(a)
      // C is the only probe allowed in flight: D is refused
      expect(failure(yield* call(guarded))).toMatchObject({ _tag: "CircuitOpen", key: "k" })
      expect(yield* model.calls).toBe(4)
      expect(yield* CircuitBreaker.state("k")).toMatchObject({ state: "half-open" })
      // C's own interrupt does free its slot
      yield* Fiber.interrupt(c)
      expect(tagOf(yield* call(guarded))).toBe("success")
      expect(yield* CircuitBreaker.state("k")).toMatchObject({ state: "closed" })
    }).pipe(Effect.provide(CircuitBreaker.layerMemory)))

  it.effect("a call let through while closed neither closes a half-open breaker nor takes a probe's slot", () =>
    Effect.gen(function*() {
      const model = yield* scripted([
        after(35_000, answer("early")),
        errors.overloaded(),
        after(10_000, answer("probe"))
      ])
      const guarded = CircuitBreaker.layer(model.layer, { key: "k", minimumCalls: 1, cooldown: "30 seconds" })
      const early = yield* Effect.fork(call(guarded))
      yield* awaitSleepUntil(35_000)
      yield* call(guarded)
      yield* adjustTo(30_000)
      const probe = yield* Effect.fork(call(guarded))
      yield* awaitSleepUntil(40_000)
      yield* adjustTo(35_000)
      expect(tagOf(yield* Fiber.join(early))).toBe("success")
      expect(yield* CircuitBreaker.state("k")).toMatchObject({ state: "half-open" })
      yield* adjustTo(40_000)
      expect(tagOf(yield* Fiber.join(probe))).toBe("success")
      expect(yield* CircuitBreaker.state("k")).toMatchObject({ state: "closed" })
    }).pipe(Effect.provide(CircuitBreaker.layerMemory)))
})

describe("CircuitBreaker: probe leases", () => {
  it.effect("a probe that never ends holds its slot only until its lease ends; then another probe starts", () =>
    Effect.gen(function*() {
      const model = yield* scripted([errors.overloaded(), after(3_600_000, answer("lost")), answer("next")])
      const guarded = CircuitBreaker.layer(model.layer, {
        key: "k",
        minimumCalls: 1,
        cooldown: "30 seconds",
        probeLease: "45 seconds"
      })
      yield* call(guarded)
      yield* adjustTo(30_000)
      yield* Effect.fork(call(guarded))
      yield* awaitSleepUntil(3_630_000)
      yield* adjustTo(74_999)
      expect(failure(yield* call(guarded))).toMatchObject({ _tag: "CircuitOpen" })
      expect(yield* CircuitBreaker.isRejecting("k")).toBe(true)
      yield* adjustTo(75_000)
      expect(yield* CircuitBreaker.isRejecting("k")).toBe(false)
      expect(tagOf(yield* call(guarded))).toBe("success")
      expect(yield* CircuitBreaker.state("k")).toMatchObject({ state: "closed" })
      expect(yield* model.calls).toBe(3)
    }).pipe(Effect.provide(CircuitBreaker.layerMemory)))

  it.effect("the lease defaults to 60 seconds", () =>
    Effect.gen(function*() {
      const model = yield* scripted([errors.overloaded(), after(3_600_000, answer("lost")), answer("next")])
      const guarded = CircuitBreaker.layer(model.layer, { key: "k", minimumCalls: 1, cooldown: "30 seconds" })
      yield* call(guarded)
      yield* adjustTo(30_000)
      yield* Effect.fork(call(guarded))
      yield* awaitSleepUntil(3_630_000)
      yield* adjustTo(89_999)
      expect(tagOf(yield* call(guarded))).toBe("CircuitOpen")
      yield* adjustTo(90_000)
      expect(tagOf(yield* call(guarded))).toBe("success")
    }).pipe(Effect.provide(CircuitBreaker.layerMemory)))
})

describe("CircuitBreaker: bucketed window", () => {
  const config: Circuit.Config = {
    failureRateThreshold: 0.5,
    minimumCalls: 5,
    windowMillis: 60_000,
    cooldownMillis: 30_000,
    halfOpenProbes: 1,
    probeLeaseMillis: 60_000
  }

  it("keeps at most one bucket per 1/20 of the window, however many calls", () => {
    let state = Circuit.initial
    let largest = 0
    // 100 000 calls over 10 minutes, one failure in 4: never opens, and the state stays small
    for (let i = 0; i < 100_000; i++) {
      state = Circuit.release(state, { probe: undefined }, i % 4 === 0 ? failed : ok, i * 6, config)
      if (state.state !== "closed") throw new Error(`opened at call ${i}`)
      largest = Math.max(largest, state.buckets.length)
    }
    expect(largest).toBe(Circuit.BUCKETS)
    const now = 99_999 * 6
    // the window holds the calls of the last 20 buckets of 3 s: from 540 000 ms on, 10 000 calls
    expect(Circuit.counts(state as Extract<Circuit.State, { state: "closed" }>, now)).toEqual({
      calls: 10_000,
      failures: 2_500
    })
    expect(Circuit.counts(state as Extract<Circuit.State, { state: "closed" }>, now + 60_000)).toEqual({
      calls: 0,
      failures: 0
    })
  })

  it("an outcome counts for between 19/20 of the window and the whole window", () => {
    const one = Circuit.release(Circuit.initial, { probe: undefined }, failed, 2_999, config)
    const closed = one as Extract<Circuit.State, { state: "closed" }>
    // bucket [0, 3 000): leaves the window at 60 000
    expect(Circuit.counts(closed, 59_999)).toEqual({ calls: 1, failures: 1 })
    expect(Circuit.counts(closed, 60_000)).toEqual({ calls: 0, failures: 0 })
  })

  it.effect("minimumCalls and the failure rate are judged over the whole window of a busy breaker", () =>
    Effect.gen(function*() {
      const script = Array.from({ length: 1_000 }, (_, i) => i % 2 === 0 ? answer("ok") : errors.overloaded())
      const model = yield* scripted([...script, errors.overloaded()])
      const guarded = CircuitBreaker.wrap(model.service, {
        key: "k",
        minimumCalls: 1_001,
        failureRateThreshold: 0.5,
        window: "10 minutes"
      })
      const generate = LanguageModel.generate(ask()).pipe(
        Effect.provideService(LanguageModel.LanguageModel, guarded),
        Effect.exit
      )
      // 1 000 calls over 100 s: they fall in 4 of the window's 30 s buckets
      for (let i = 0; i < 1_000; i++) {
        if (i % 10 === 0) yield* adjustTo(i * 100)
        yield* generate
      }
      expect(yield* CircuitBreaker.state("k")).toMatchObject({ state: "closed", calls: 1_000, failures: 500 })
      // the 1 001st call reaches minimumCalls, with 501 failures: opens
      yield* generate
      expect(yield* CircuitBreaker.state("k")).toMatchObject({ state: "open", until: 99_000 + 30_000 })
    }).pipe(Effect.provide(CircuitBreaker.layerMemory)))
})

describe("CircuitBreaker: options", () => {
  it.effect("an option that cannot work is a typed error on every call, before the provider is called", () =>
    Effect.gen(function*() {
      const model = yield* scripted([answer("never")])
      const cases = [
        [{ failureRateThreshold: 0 }, "failureRateThreshold is 0"],
        [{ failureRateThreshold: 1.5 }, "failureRateThreshold is 1.5"],
        [{ minimumCalls: 0 }, "minimumCalls is 0"],
        [{ halfOpenProbes: 0.5 }, "halfOpenProbes is 0.5"],
        [{ window: 0 }, "window is 0 ms"],
        // time is read in whole milliseconds: a shorter window could not be told from none
        [{ window: "500 micros" }, "window is 0.5 ms; it must be finite and at least 1 ms"],
        [{ probeLease: 0 }, "probeLease is 0 ms"],
        [{ probeLease: "0.5 millis" }, "probeLease is 0.5 ms; it must be finite and at least 1 ms"]
      ] as const
      for (const [options, message] of cases) {
        const error = failure(yield* call(CircuitBreaker.layer(model.layer, { key: "k", ...options })))
        expect(error).toMatchObject({ _tag: "InvalidRequest", provider: "test" })
        expect(error.message).toContain(message)
      }
      expect(yield* model.calls).toBe(0)
    }).pipe(Effect.provide(CircuitBreaker.layerMemory)))
})

describe("CircuitBreaker: options from a JavaScript caller", () => {
  it.effect("null, a missing key, a null or unreadable value, a misspelt option: InvalidRequest naming it", () =>
    Effect.gen(function*() {
      const model = yield* scripted([answer("never")])
      const cases: ReadonlyArray<readonly [options: unknown, message: string]> = [
        [null, "circuit: options must be an object, got null"],
        [{}, "circuit: key is required: the breaker's identity, e.g. \"openai\""],
        [{ key: null }, "circuit: key must be a non-empty string, got null"],
        [{ key: " " }, "circuit: key must be a non-empty string, got \" \""],
        [{ key: "k", window: "soon" }, "circuit \"k\": window must be a duration such as \"30 seconds\", got \"soon\""],
        [{ key: "k", cooldown: null }, "circuit \"k\": cooldown must be a duration such as \"30 seconds\", got null"],
        [{ key: "k", cooldown: "-5 seconds" }, "circuit \"k\": cooldown must be a duration"],
        [{ key: "k", maxOpen: "a day" }, "circuit \"k\": maxOpen must be a duration"],
        [{ key: "k", minimumCalls: null }, "circuit \"k\": minimumCalls is null; it is a whole number >= 1"],
        [{ key: "k", failureRateThreshold: "0.5" }, "circuit \"k\": failureRateThreshold is \"0.5\""],
        [{ key: "k", windw: "1 minute" }, "circuit: unknown option \"windw\" (the options are key, "]
      ]
      for (const [options, message] of cases) {
        const layer = CircuitBreaker.layer(model.layer, options as CircuitBreaker.Options)
        const error = failure(yield* call(layer))
        expect(error).toMatchObject({ _tag: "InvalidRequest", provider: "test" })
        expect(error.message).toContain(message)
      }
      expect(yield* model.calls).toBe(0)
    }).pipe(Effect.provide(CircuitBreaker.layerMemory)))
})

const ok: Circuit.Outcome = { _tag: "Success" }
const failed: Circuit.Outcome = { _tag: "Failure" }
