import * as RateLimiter from "@effect/experimental/RateLimiter"
import { describe, expect, it } from "@effect/vitest"
import { Clock, ConfigError, Duration, Effect, Exit, Layer, Logger, Metric, Schema, Stream } from "effect"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import * as RateLimit from "../src/RateLimit.js"
import * as Redis from "../src/Redis.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { adjustTo, openAiLayer } from "./support/loopback.js"
import { forEachStore } from "./support/rateLimitStores.js"
import { answer, ask, count, failure, runTo, scripted, success } from "./support/resilience.js"

const generate = (layer: Layer.Layer<LanguageModel.LanguageModel, unknown>, extra: Parameters<typeof ask>[1] = {}) =>
  LanguageModel.generate(ask("hi", extra)).pipe(Effect.provide(Layer.orDie(layer)))

const call = (layer: Layer.Layer<LanguageModel.LanguageModel, unknown>, extra: Parameters<typeof ask>[1] = {}) =>
  Effect.exit(generate(layer, extra))

const unavailableCount = (fallback: string) =>
  Effect.map(
    Metric.value(
      Redis.metrics.unavailable.pipe(Metric.tagged("store", "rate-limit"), Metric.tagged("fallback", fallback))
    ),
    (state) => state.count
  )

const millis = (duration: Duration.Duration | undefined) =>
  duration === undefined ? undefined : Duration.toMillis(duration)

/** A refusal of the rate limiter, with its retryAfter in ms. */
const refusal = (exit: Exit.Exit<unknown, LlmError.LlmError | ConfigError.ConfigError>) => {
  const error = failure(exit)
  if (!(error instanceof LlmError.RateLimitExceeded)) throw new Error(`expected RateLimitExceeded, got ${error._tag}`)
  return { error, retryAfter: millis(error.retryAfter) }
}

/** A reply that answers the virtual time at which the call reached the model. */
const stamped = () => Effect.map(Clock.currentTimeMillis, (now) => answer(`${now}`))

const replies = (n: number) => Array.from({ length: n }, () => stamped)

const perMinute = (limit: number, extra: Partial<RateLimit.Limit> = {}): RateLimit.Options => ({
  default: { requests: { limit, window: "1 minute", ...extra } }
})

forEachStore("RateLimit: requests per window", (limiter) => {
  it.effect("a fixed window lets exactly `limit` through, refuses the next until the window has passed", () =>
    Effect.gen(function*() {
      const model = yield* scripted(replies(6))
      const limited = RateLimit.layer(model.layer, perMinute(3))
      for (let i = 0; i < 3; i++) success(yield* call(limited))
      const first = refusal(yield* call(limited))
      expect(first.error).toMatchObject({
        _tag: "RateLimitExceeded",
        provider: "test",
        tenant: "default",
        kind: "requests",
        limit: "3 requests per 1 minute"
      })
      expect(first.retryAfter).toBe(60_000)
      expect(LlmError.fault(first.error)).toBe("policy")
      expect(LlmError.isRetryable(first.error)).toBe(false)
      expect(yield* model.calls).toBe(3)

      yield* adjustTo(59_999)
      expect(refusal(yield* call(limited)).retryAfter).toBe(1)
      yield* adjustTo(60_000)
      for (let i = 0; i < 3; i++) success(yield* call(limited))
      expect(refusal(yield* call(limited)).retryAfter).toBe(60_000)
      expect(yield* model.calls).toBe(6)
    }).pipe(Effect.provide(limiter)))

  it.effect("windows are aligned to the clock: a window opened mid-way still ends at the next multiple", () =>
    Effect.gen(function*() {
      const model = yield* scripted(replies(5))
      const limited = RateLimit.layer(model.layer, perMinute(2))
      yield* adjustTo(30_000)
      success(yield* call(limited))
      success(yield* call(limited))
      // Full in [0, 60 s): the next window opens at 60 s, 30 s from now (not a window after the first call).
      expect(refusal(yield* call(limited)).retryAfter).toBe(30_000)
      yield* adjustTo(59_999)
      expect(refusal(yield* call(limited)).retryAfter).toBe(1)
      yield* adjustTo(60_000)
      success(yield* call(limited))
      success(yield* call(limited))
      expect(refusal(yield* call(limited)).retryAfter).toBe(60_000)
      // A window with no call in it leaves nothing behind: at 180 s the limit is whole again.
      yield* adjustTo(180_000)
      success(yield* call(limited))
      expect(yield* model.calls).toBe(5)
    }).pipe(Effect.provide(limiter)))

  it.effect("a window made longer or shorter (a reload) counts on from the window its counting began in", () =>
    Effect.gen(function*() {
      const model = yield* scripted(replies(8))
      const window = (length: Duration.DurationInput): RateLimit.Options => ({
        default: { requests: { limit: 3, window: length } }
      })
      // At 90 s: minute window 1, [60 s, 120 s).
      yield* adjustTo(90_000)
      success(yield* call(RateLimit.layer(model.layer, window("1 minute"))))
      // The same counter with 2-minute windows: 90 s is in [0, 120 s), which already holds that call.
      const longer = RateLimit.layer(model.layer, window("2 minutes"))
      success(yield* call(longer))
      success(yield* call(longer))
      // Refused until that window ends, 30 s from now: not until a window decades ahead (an index of minutes
      // read as one of 2-minute windows).
      expect(refusal(yield* call(longer)).retryAfter).toBe(30_000)
      // And back to 1-minute windows: the 3 units of [0, 120 s) are carried as 3 per window from 0 s, so
      // [60 s, 120 s) starts empty.
      const shorter = RateLimit.layer(model.layer, window("1 minute"))
      for (let i = 0; i < 3; i++) success(yield* call(shorter))
      expect(refusal(yield* call(shorter)).retryAfter).toBe(30_000)
      expect(yield* model.calls).toBe(6)
    }).pipe(Effect.provide(limiter)))

  it.effect("a limit lowered (a reload) refuses until the current window ends, not for the windows after", () =>
    Effect.gen(function*() {
      const model = yield* scripted(replies(12))
      yield* adjustTo(15_000)
      for (let i = 0; i < 6; i++) success(yield* call(RateLimit.layer(model.layer, perMinute(10))))
      // Six calls counted in [0, 60 s) against a new limit of 2: that window is full, and the next one is whole
      // (not 4 units of debt paid at 2 a window, 2 minutes and 45 s away).
      const lowered = RateLimit.layer(model.layer, perMinute(2))
      expect(refusal(yield* call(lowered)).retryAfter).toBe(45_000)
      yield* adjustTo(60_000)
      for (let i = 0; i < 2; i++) success(yield* call(lowered))
      expect(refusal(yield* call(lowered)).retryAfter).toBe(60_000)
      // Raised again within the window: the 2 counted in it leave 8 of 10.
      const raised = RateLimit.layer(model.layer, perMinute(10))
      for (let i = 0; i < 4; i++) success(yield* call(raised))
      expect(yield* model.calls).toBe(12)
    }).pipe(Effect.provide(limiter)))

  it.effect("a leaky window (@effect/experimental's fixed window) closes early when it is not full", () =>
    Effect.gen(function*() {
      const model = yield* scripted(replies(4))
      const limited = RateLimit.layer(model.layer, perMinute(3, { algorithm: "leaky-window" }))
      success(yield* call(limited))
      // One unit of three keeps the window open 20 s: at 20 s it starts again from zero.
      yield* adjustTo(20_000)
      for (let i = 0; i < 3; i++) success(yield* call(limited))
      expect(refusal(yield* call(limited)).retryAfter).toBe(60_000)
      expect(yield* model.calls).toBe(4)
    }).pipe(Effect.provide(limiter)))

  it.effect("a token bucket gives one request back every window / limit", () =>
    Effect.gen(function*() {
      const model = yield* scripted(replies(3))
      const limited = RateLimit.layer(model.layer, perMinute(2, { window: "10 seconds", algorithm: "token-bucket" }))
      success(yield* call(limited))
      success(yield* call(limited))
      const refused = refusal(yield* call(limited))
      expect(refused.retryAfter).toBe(5_000)
      expect(refused.error.limit).toBe("2 requests per 10 seconds")
      // The limiter answers a whole refill interval per missing unit: it does not count a partial refill.
      yield* adjustTo(4_999)
      expect(refusal(yield* call(limited)).retryAfter).toBe(5_000)
      yield* adjustTo(5_000)
      success(yield* call(limited))
      expect(refusal(yield* call(limited)).retryAfter).toBe(5_000)
      expect(yield* model.calls).toBe(3)
    }).pipe(Effect.provide(limiter)))

  it.effect("onExceeded \"delay\" waits exactly the time the limiter reports, then calls", () =>
    Effect.gen(function*() {
      const model = yield* scripted(replies(3))
      const limited = RateLimit.layer(model.layer, { ...perMinute(2), onExceeded: "delay" })
      const first = success(yield* runTo(Effect.all([generate(limited), generate(limited)]), []))
      expect(first.map((response) => response.content)).toEqual([0, 0].map((at) => [{ type: "text", text: `${at}` }]))
      // The third call sleeps until exactly 60 000 ms (runTo fails on any other wait), and reaches the model then.
      const third = yield* runTo(generate(limited), [60_000])
      expect(success(third).content).toEqual([{ type: "text", text: "60000" }])
      expect(yield* model.calls).toBe(3)
    }).pipe(Effect.provide(limiter)))

  it.effect("tenants count separately; a tenant's own limit replaces the default", () =>
    Effect.gen(function*() {
      const model = yield* scripted(replies(5))
      const limited = RateLimit.layer(model.layer, {
        ...perMinute(1),
        tenants: { vip: { requests: { limit: 2, window: "1 minute" } } }
      })
      success(yield* call(limited, { tenant: "a" }))
      const refused = refusal(yield* call(limited, { tenant: "a" }))
      expect(refused.error).toMatchObject({ tenant: "a", limit: "1 requests per 1 minute" })
      expect(refused.error.message).toContain(`tenant "a"`)
      success(yield* call(limited, { tenant: "b" }))
      success(yield* call(limited, { tenant: "vip" }))
      success(yield* call(limited, { tenant: "vip" }))
      expect(refusal(yield* call(limited, { tenant: "vip" })).error.limit).toBe("2 requests per 1 minute")
      success(yield* call(limited))
      expect(refusal(yield* call(limited)).error.tenant).toBe("default")
      expect(yield* model.calls).toBe(5)
    }).pipe(Effect.provide(limiter)))

  it.effect("a tenant listed without a default is limited, the others are not", () =>
    Effect.gen(function*() {
      const model = yield* scripted(replies(4))
      const limited = RateLimit.layer(model.layer, { tenants: { free: { requests: { limit: 1, window: 1_000 } } } })
      success(yield* call(limited, { tenant: "free" }))
      expect(refusal(yield* call(limited, { tenant: "free" })).error.limit).toBe("1 requests per 1 second")
      for (let i = 0; i < 3; i++) success(yield* call(limited, { tenant: "paid" }))
      expect(yield* model.calls).toBe(4)
    }).pipe(Effect.provide(limiter)))

  it.effect("perModel counts each model separately; without it the models share the tenant's limit", () =>
    Effect.gen(function*() {
      const model = yield* scripted(replies(4))
      const perModel = RateLimit.layer(model.layer, { ...perMinute(1), perModel: true, key: "per-model" })
      success(yield* call(perModel, { model: "m1" }))
      const refused = refusal(yield* call(perModel, { model: "m1" }))
      expect(refused.error).toMatchObject({ model: "m1", tenant: "default" })
      expect(refused.error.message).toContain("on m1")
      success(yield* call(perModel, { model: "m2" }))
      // The service's default model is a model of its own.
      success(yield* call(perModel))

      const shared = RateLimit.layer(model.layer, { ...perMinute(1), key: "shared" })
      success(yield* call(shared, { model: "m1" }))
      expect(refusal(yield* call(shared, { model: "m2" })).error.model).toBe("m2")
      expect(yield* model.calls).toBe(4)
    }).pipe(Effect.provide(limiter)))

  it.effect("layers with the same key share counters; with different keys they do not", () =>
    Effect.gen(function*() {
      const model = yield* scripted(replies(3))
      const one = RateLimit.layer(model.layer, perMinute(1))
      const same = RateLimit.layer(model.layer, perMinute(1))
      const other = RateLimit.layer(model.layer, { ...perMinute(1), key: "other" })
      success(yield* call(one))
      refusal(yield* call(same))
      success(yield* call(other))
      expect(yield* model.calls).toBe(2)
    }).pipe(Effect.provide(limiter)))

  it.effect("generateObject and streams take a request each", () =>
    Effect.gen(function*() {
      const model = yield* scripted([{ text: `{"city":"Paris"}` }, { text: "streamed" }])
      const limited = RateLimit.layer(model.layer, perMinute(2))
      const object = yield* LanguageModel.generateObject({
        messages: [{ role: "user", content: "city?" }],
        schema: Schema.Struct({ city: Schema.String })
      }).pipe(Effect.provide(limited))
      expect(object.value).toEqual({ city: "Paris" })
      const parts = yield* Stream.runCollect(LanguageModel.stream(ask()).pipe(Stream.provideLayer(limited)))
      expect(parts.length).toBeGreaterThan(0)
      const refused = yield* Stream.runCollect(LanguageModel.stream(ask()).pipe(Stream.provideLayer(limited))).pipe(
        Effect.exit
      )
      expect(refusal(refused).retryAfter).toBe(60_000)
      expect(yield* model.calls).toBe(2)
    }).pipe(Effect.provide(limiter)))
})

forEachStore("RateLimit: status", (limiter) => {
  it.effect("reports what is left without taking anything", () =>
    Effect.gen(function*() {
      const model = yield* scripted(replies(2))
      const options = perMinute(3)
      const fresh = yield* RateLimit.status(options, { tenant: "default" })
      expect({ ...fresh.requests, resetAfter: millis(fresh.requests?.resetAfter) }).toEqual({
        limit: 3,
        remaining: 3,
        resetAfter: 0
      })
      const limited = RateLimit.layer(model.layer, options)
      success(yield* call(limited))
      success(yield* call(limited))
      const after = yield* RateLimit.status(options, { tenant: "default" })
      const again = yield* RateLimit.status(options, { tenant: "default" })
      expect(after.requests?.remaining).toBe(1)
      // The end of the aligned window.
      expect(millis(after.requests?.resetAfter)).toBe(60_000)
      expect(again).toEqual(after)
      expect(after.tokens).toBeUndefined()
      expect((yield* RateLimit.status(options, { tenant: "other" })).requests?.remaining).toBe(3)
    }).pipe(Effect.provide(limiter)))
})

forEachStore("RateLimit.make", (limiter) => {
  it.effect("checks its options once: services it wraps share the windows, status reads them", () =>
    Effect.gen(function*() {
      const first = yield* scripted(replies(2))
      const second = yield* scripted(replies(2))
      const acme = { limit: 3, window: "1 minute" as const }
      const options: RateLimit.Options = { tenants: { acme: { requests: acme } } }
      const limits = yield* RateLimit.make(options)
      // Read once: a later change to the object (a config being edited) is not seen by the service.
      acme.limit = 1
      const generateWith = (model: LanguageModel.Service) =>
        Effect.exit(limits.wrap(model).generate(ask("hi", { tenant: "acme" })))
      success(yield* generateWith(first.service))
      success(yield* generateWith(second.service))
      expect((yield* limits.status({ tenant: "acme" })).requests?.remaining).toBe(1)
      success(yield* generateWith(first.service))
      const refused = refusal(yield* generateWith(second.service))
      expect(refused.error).toMatchObject({ tenant: "acme", limit: "3 requests per 1 minute" })
      expect(yield* second.calls).toBe(1)
      // A tenant without limits has nothing to report.
      expect(yield* limits.status({ tenant: "other" })).toEqual({ tenant: "other" })
    }).pipe(Effect.provide(limiter)))

  it.effect("a bad option is a ConfigError naming it", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(RateLimit.make({ default: { requests: { limit: 0, window: "1 minute" } } }))
      expect(ConfigError.isConfigError(error)).toBe(true)
      expect(String(error)).toContain("RateLimit.make: default.requests.limit")
      const huge = yield* Effect.flip(RateLimit.make({ default: { requests: { limit: 2 ** 60, window: "1 minute" } } }))
      expect(String(huge)).toContain("must be a positive integer of at most 9007199254740991 (2^53 - 1")
    }).pipe(Effect.provide(limiter)))
})

describe("RateLimit: store", () => {
  const failing = Layer.succeed(
    RateLimiter.RateLimiterStore,
    RateLimiter.RateLimiterStore.of({
      fixedWindow: () => Effect.fail(new RateLimiter.RateLimitStoreError({ message: "store down" })),
      tokenBucket: () => Effect.fail(new RateLimiter.RateLimitStoreError({ message: "store down" }))
    })
  )
  const onFailing = Effect.provide(RateLimit.layerStore.pipe(Layer.provide(failing)))
  const bucket = perMinute(1, { algorithm: "token-bucket" })

  it.effect("a failing store refuses the call with PolicyUnavailable by default; the provider is not called", () =>
    Effect.gen(function*() {
      const model = yield* scripted(replies(1))
      const error = failure(yield* call(RateLimit.layer(model.layer, bucket)))
      expect(error).toMatchObject({ _tag: "PolicyUnavailable", policy: "rate-limit", reason: "store down" })
      expect(millis(error.retryAfter)).toBe(1_000)
      expect(LlmError.isRetryable(error)).toBe(true)
      expect(yield* model.calls).toBe(0)
    }).pipe(onFailing))

  it.effect("fail-open lets the calls through uncounted, with one warning for the outage", () =>
    Effect.gen(function*() {
      const model = yield* scripted(replies(2))
      const logs: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => logs.push(`${logLevel.label} ${String(message)}`))
      const limited = RateLimit.layer(model.layer, { ...bucket, whenUnavailable: "fail-open" })
      const before = yield* unavailableCount("calls uncounted")
      for (let i = 0; i < 2; i++) {
        success(yield* call(limited).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger))))
      }
      expect(yield* model.calls).toBe(2)
      expect(logs).toEqual(["WARN Redis unavailable for the rate-limit store: calls uncounted until it is back"])
      expect((yield* unavailableCount("calls uncounted")) - before).toBe(2)
    }).pipe(onFailing))

  it.effect("a store without the aligned window refuses a fixed-window limit with a ConfigError", () =>
    Effect.gen(function*() {
      const model = yield* scripted([])
      const exit = yield* Effect.exit(Effect.scoped(Layer.build(RateLimit.layer(model.layer, perMinute(1)))))
      if (Exit.isSuccess(exit) || exit.cause._tag !== "Fail") throw new Error(String(exit))
      expect(ConfigError.isConfigError(exit.cause.error)).toBe(true)
      expect(exit.cause.error.message).toContain(`RateLimit.layer: the limiter's store cannot count "fixed-window"`)
    }).pipe(Effect.provide(RateLimit.layerStore.pipe(Layer.provide(RateLimiter.layerStoreMemory)))))

  it.effect("layerStore counts in the provided store", () =>
    Effect.gen(function*() {
      const model = yield* scripted(replies(2))
      const limited = RateLimit.layer(model.layer, bucket)
      success(yield* call(limited))
      refusal(yield* call(limited))
    }).pipe(Effect.provide(RateLimit.layerStore.pipe(Layer.provide(RateLimiter.layerStoreMemory)))))
})

describe("RateLimit: options", () => {
  const bad: ReadonlyArray<readonly [string, RateLimit.Options, string]> = [
    ["zero limit", perMinute(0), "default.requests.limit must be a positive integer, got 0"],
    ["negative limit", perMinute(-1), "default.requests.limit must be a positive integer, got -1"],
    ["NaN limit", perMinute(Number.NaN), "default.requests.limit must be a positive integer, got NaN"],
    ["fractional limit", perMinute(1.5), "default.requests.limit must be a positive integer, got 1.5"],
    [
      "zero window",
      perMinute(1, { window: 0 }),
      "default.requests.window must be a finite duration of at least 1 millisecond, got 0"
    ],
    [
      "negative window",
      perMinute(1, { window: -5 }),
      "default.requests.window must be a finite duration of at least 1 millisecond, got -5"
    ],
    [
      "NaN window",
      perMinute(1, { window: Number.NaN }),
      "default.requests.window must be a finite duration of at least 1 millisecond, got NaN"
    ],
    [
      "infinite window",
      perMinute(1, { window: Duration.infinity }),
      "default.requests.window must be a finite duration of at least 1 millisecond, got Infinity"
    ],
    [
      "text window",
      perMinute(1, { window: "soon" as Duration.DurationInput }),
      `default.requests.window must be a finite duration of at least 1 millisecond, got "soon"`
    ],
    // Redis counts windows in whole milliseconds: a shorter window would refuse nothing there.
    [
      "window under 1 ms (nanos)",
      perMinute(1, { window: "1 nanos" }),
      `default.requests.window must be a finite duration of at least 1 millisecond, got "1 nanos"`
    ],
    [
      "window under 1 ms (fractional ms)",
      perMinute(1, { window: 0.5 }),
      "default.requests.window must be a finite duration of at least 1 millisecond, got 0.5"
    ],
    [
      "window under 1 ms (Duration)",
      perMinute(1, { window: Duration.micros(999n) }),
      "default.requests.window must be a finite duration of at least 1 millisecond, got 999000ns"
    ],
    [
      "limit given as a string",
      perMinute("10" as unknown as number),
      `default.requests.limit must be a positive integer, got "10"`
    ],
    [
      "defaultOutputTokens given as a string",
      { ...perMinute(1), defaultOutputTokens: "5" as unknown as number },
      `defaultOutputTokens must be a non-negative integer, got "5"`
    ],
    [
      "tenant's token limit",
      { tenants: { acme: { tokens: { limit: 0, window: "1 minute" } } } },
      "tenants.acme.tokens.limit must be a positive integer, got 0"
    ],
    [
      "algorithm",
      perMinute(1, { algorithm: "sliding" as RateLimit.Algorithm }),
      `default.requests.algorithm must be "fixed-window", "leaky-window" or "token-bucket", got "sliding"`
    ],
    ["onExceeded", { ...perMinute(1), onExceeded: "wait" as "delay" }, `onExceeded must be "fail" or "delay"`],
    ["defaultOutputTokens", { ...perMinute(1), defaultOutputTokens: -1 }, "defaultOutputTokens must be a non-negative"],
    ["no limit", {}, "no limit given"],
    ["an unknown option", { ...perMinute(1), perModle: true } as RateLimit.Options, `unknown option "perModle"`],
    [
      "an unknown limit key",
      { default: { requests: { limit: 1, window: "1 minute", algoritm: "token-bucket" } } } as RateLimit.Options,
      `unknown option "default.requests.algoritm"`
    ],
    ["perModel not a boolean", { ...perMinute(1), perModel: "yes" as unknown as boolean }, `perModel must be true`],
    ["tenants null", { ...perMinute(1), tenants: null as unknown as undefined }, "tenants must be an object"],
    // null (from JavaScript) is refused, never read as the default it would replace
    [
      "onExceeded null",
      { ...perMinute(1), onExceeded: null as never },
      `onExceeded must be "fail" or "delay", got null`
    ],
    [
      "whenUnavailable null",
      { ...perMinute(1), whenUnavailable: null as never },
      `whenUnavailable must be "fail-closed" or "fail-open", got null`
    ],
    [
      "defaultOutputTokens null",
      { ...perMinute(1), defaultOutputTokens: null as never },
      "defaultOutputTokens must be a non-negative integer, got null"
    ],
    ["perModel null", { ...perMinute(1), perModel: null as never }, "perModel must be true or false, got null"],
    ["key null", { ...perMinute(1), key: null as never }, "key must be a non-empty string, got null"],
    [
      "algorithm null",
      perMinute(1, { algorithm: null as never }),
      `default.requests.algorithm must be "fixed-window", "leaky-window" or "token-bucket", got null`
    ],
    ["maxDelay without delay", { ...perMinute(1), maxDelay: "1 second" }, "maxDelay applies only with"],
    ["maxDelay negative", { ...perMinute(1), onExceeded: "delay", maxDelay: -1 }, "maxDelay must be a finite"],
    ["empty tenant limits", { tenants: { acme: {} } }, "no limit given"],
    [
      "a tenant name no request can carry",
      { tenants: { "acme ": { requests: { limit: 1, window: "1 minute" } } } },
      "tenants: the tenant id \"acme \" starts or ends with whitespace, so no request can name it"
    ],
    ["blank key", { ...perMinute(1), key: " " }, "key must not be empty"],
    [
      "whenUnavailable",
      { ...perMinute(1), whenUnavailable: "open" as RateLimit.WhenUnavailable },
      `whenUnavailable must be "fail-closed" or "fail-open", got "open"`
    ]
  ]

  for (const [name, options, message] of bad) {
    it.effect(`refuses ${name} with a ConfigError when the layer is built`, () =>
      Effect.gen(function*() {
        const model = yield* scripted([])
        const exit = yield* Effect.exit(Effect.scoped(Layer.build(RateLimit.layer(model.layer, options))))
        expect(Exit.isFailure(exit)).toBe(true)
        if (Exit.isSuccess(exit) || exit.cause._tag !== "Fail") throw new Error(String(exit))
        const error = exit.cause.error
        expect(ConfigError.isConfigError(error)).toBe(true)
        expect(error.message).toContain(`RateLimit.layer: ${message}`)
        const status = yield* Effect.exit(RateLimit.status(options, { tenant: "default" }))
        expect(Exit.isFailure(status)).toBe(true)
      }))
  }
})

forEachStore("RateLimit: over HTTP", (limiter) => {
  it.scoped("a refused call never reaches the provider", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [OpenAiMock.completion({ text: "1" }), OpenAiMock.stream({ deltas: ["2"] }), OpenAiMock.completion()]
      })
      const limited = RateLimit.layer(openAiLayer(server), perMinute(2))
      success(yield* call(limited))
      const parts = yield* Stream.runCollect(LanguageModel.stream(ask()).pipe(Stream.provideLayer(limited)))
      expect(parts.length).toBeGreaterThan(0)
      const refused = refusal(yield* call(limited))
      expect(refused.error).toMatchObject({ provider: "openai", model: "gpt-4o-mini", kind: "requests" })
      expect(refused.retryAfter).toBe(60_000)
      const stream = yield* Stream.runCollect(LanguageModel.stream(ask()).pipe(Stream.provideLayer(limited))).pipe(
        Effect.exit
      )
      expect(refusal(stream).error.kind).toBe("requests")
      expect(yield* count(server)).toBe(2)
    }).pipe(Effect.provide(limiter)))
})
