import { describe, expect, it } from "@effect/vitest"
import { Cause, ConfigError, Deferred, Duration, Effect, Exit, Fiber, Layer, Ref, Schema, Stream } from "effect"
import * as TestClock from "effect/TestClock"
import * as Budget from "../src/Budget.js"
import * as ChatRequest from "../src/ChatRequest.js"
import type * as ChatResponse from "../src/ChatResponse.js"
import * as Fallback from "../src/Fallback.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import { environment, environmentWith, inputTokens, makeBudget, usd } from "./support/budget.js"
import { describeStores } from "./support/budgetStores.js"
import { adjustTo } from "./support/loopback.js"
import { answer, ask, errors, failure, scripted } from "./support/resilience.js"

const request = (content = "hi", extra: { readonly tenant?: string; readonly model?: string } = {}) =>
  ChatRequest.decode({ ...ask(content, extra), maxTokens: 5 }).pipe(Effect.orDie)

const usage = (input: number, output: number): ChatResponse.Usage => ({
  inputTokens: input,
  outputTokens: output,
  totalTokens: input + output
})

/** The estimate of a request with maxTokens 5: 10 input tokens at 1 USD, 5 output tokens at 2 USD. */
const estimate = usd(inputTokens, 5)

const generate = (service: LanguageModel.Service, content = "hi", extra: { readonly tenant?: string } = {}) =>
  Effect.flatMap(request(content, extra), (r) => Effect.exit(service.generate(r)))

const configError = (options: Budget.Options) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(Budget.make(options))
    if (Exit.isSuccess(exit) || exit.cause._tag !== "Fail") throw new Error(`expected a ConfigError: ${exit}`)
    expect(ConfigError.isConfigError(exit.cause.error)).toBe(true)
    return String(exit.cause.error)
  })

describe("Budget: options", () => {
  it.effect("refuses bad options at construction with a ConfigError naming them", () =>
    Effect.gen(function*() {
      expect(yield* configError({ defaultLimit: { limitUsd: -1, period: "day" } })).toContain(
        "defaultLimit.limitUsd must be a finite number of USD >= 0, got -1"
      )
      expect(yield* configError({ tenants: { a: { limitUsd: NaN, period: "day" } } })).toContain(
        "tenants.a.limitUsd"
      )
      // Past 2^53 micro-USD a store's sums are no longer exact (1e308 of them are Infinity).
      expect(yield* configError({ defaultLimit: { limitUsd: 1e308, period: "day" } })).toContain(
        "defaultLimit.limitUsd must be at most 9007199254 USD (amounts are counted in whole micro-USD, exact up to " +
          "2^53 of them), got 1e+308"
      )
      expect(yield* configError({ maxRequestCostUsd: 1e10 })).toContain("maxRequestCostUsd must be at most")
      yield* Budget.make({ defaultLimit: { limitUsd: 9_007_199_254, period: "day" } })
      expect(yield* configError({ defaultLimit: { limitUsd: 1, period: 0 } })).toContain(
        "defaultLimit.period must be \"day\", \"month\" or a rolling window of at least 1 millisecond, got 0"
      )
      // Under a millisecond, as RateLimit windows: the message says the floor
      expect(yield* configError({ defaultLimit: { limitUsd: 1, period: 0.5 } })).toContain(
        "a rolling window of at least 1 millisecond, got 0.5"
      )
      expect(yield* configError({ defaultLimit: { limitUsd: 1, period: "1 nanos" } })).toContain(
        "a rolling window of at least 1 millisecond, got \"1 nanos\""
      )
      // A string where a number goes is shown quoted: "5" is visibly not the number 5
      expect(yield* configError({ defaultLimit: { limitUsd: "5" as unknown as number, period: "day" } })).toContain(
        "defaultLimit.limitUsd must be a finite number of USD >= 0, got \"5\""
      )
      expect(yield* configError({ maxRequestCostUsd: "0.5" as unknown as number })).toContain(
        "maxRequestCostUsd must be a finite number of USD >= 0, got \"0.5\""
      )
      expect(yield* configError({ tenants: { a: "5" as never } })).toContain(
        "tenants.a must be { limitUsd, period }, got \"5\""
      )
      expect(yield* configError({ maxRequestCostUsd: 1, unpricedModels: "1" as "allow" })).toContain(
        "unpricedModels must be \"refuse\" or \"allow\", got \"1\""
      )
      expect(yield* configError({ defaultLimit: { limitUsd: 1, period: "weekly" as "day" } })).toContain("weekly")
      // A tenant name no request can carry (ChatRequest.tenantIssue): its limit would never apply.
      const limit = { limitUsd: 1, period: "day" } as const
      expect(yield* configError({ tenants: { "a\u200bb": limit } })).toContain(
        "Budget.layer: tenants: the tenant id \"a\\u200bb\" contains an invisible formatting character"
      )
      expect(yield* configError({ tenants: { [" ".repeat(3)]: limit } })).toContain("is empty or blank")
      expect(yield* configError({ tenants: { ["t".repeat(300)]: limit } })).toContain(
        "tenants: a tenant id has 300 characters, more than the 256 allowed"
      )
      expect(yield* configError({ maxRequestCostUsd: -0.5 })).toContain("maxRequestCostUsd")
      expect(yield* configError({ maxRequestCostUsd: 1, reservationTimeout: "0 millis" })).toContain(
        "reservationTimeout"
      )
      // null (from JavaScript) is refused, never read as the default it would replace
      expect(yield* configError({ maxRequestCostUsd: 1, unpricedModels: null as never })).toContain(
        "unpricedModels must be \"refuse\" or \"allow\", got null"
      )
      expect(yield* configError({ maxRequestCostUsd: 1, reservationTimeout: null as never })).toContain(
        "reservationTimeout must be a positive, finite duration, got null"
      )
      // A budget that enforces nothing, a misspelt option, or no options at all (from JavaScript)
      expect(yield* configError({ defaultLimt: { limitUsd: 1, period: "day" } } as Budget.Options)).toContain(
        `unknown option "defaultLimt" (the options are tenants, defaultLimit, maxRequestCostUsd`
      )
      expect(yield* configError({ defaultLimit: { limitUsd: 1, period: "day", perod: "x" } } as Budget.Options))
        .toContain(`unknown option "defaultLimit.perod"`)
      expect(yield* configError(undefined as unknown as Budget.Options)).toContain(
        "Budget.layer: options must be an object, got undefined"
      )
      expect(yield* configError({ tenants: null } as unknown as Budget.Options)).toContain(
        "tenants must be an object of named entries, got null"
      )
      // through the layer too, before any call
      const model = yield* scripted([{ text: "never" }])
      const exit = yield* Effect.exit(
        Layer.build(Budget.layer(model.layer, { defaultLimit: { limitUsd: Infinity, period: "day" } }))
      ).pipe(Effect.scoped)
      expect(Exit.isFailure(exit)).toBe(true)
      expect(yield* model.calls).toBe(0)
      // A layer that enforces nothing
      for (const nothing of [{}, { tenants: {} }]) {
        const built = yield* Effect.exit(Layer.build(Budget.layer(model.layer, nothing))).pipe(Effect.scoped)
        expect(Exit.isFailure(built) && String(Cause.squash(built.cause))).toContain(
          "Budget.layer: no limit given: set defaultLimit, limits in tenants, or maxRequestCostUsd"
        )
      }
    }).pipe(Effect.provide(environment)))
})

describeStores("Budget", (env) => {
  describe("Budget: reserve and reconcile", () => {
    it.effect("holds the estimate during the call, then refunds down to the actual cost", () =>
      Effect.gen(function*() {
        const budget = yield* makeBudget({ defaultLimit: { limitUsd: 100, period: "day" } })
        const during: Array<Budget.Status | undefined> = []
        const model = yield* scripted([(r) =>
          Effect.as(
            Effect.flatMap(budget.status(ChatRequest.tenantOf(r)), (status) => Effect.sync(() => during.push(status))),
            answer("ok", { model: "m", usage: usage(10, 3) })
          )], { model: "m" })
        const exit = yield* generate(budget.wrap(model.service))
        expect(Exit.isSuccess(exit)).toBe(true)
        expect(during).toMatchObject([{ spentUsd: 0, reservedUsd: estimate, remainingUsd: 100 - estimate }])
        expect(yield* budget.status("default")).toMatchObject({ spentUsd: usd(10, 3), reservedUsd: 0 })
      }).pipe(Effect.provide(env())))

    it.effect("what remains is counted in micro-USD, as the store counts: 100 - 99.9 is 0.1", () =>
      Effect.gen(function*() {
        const budget = yield* makeBudget({ defaultLimit: { limitUsd: 100, period: "day" } })
        const model = yield* scripted([{ ...answer("ok", { model: "m", usage: usage(10, 3) }), costUsd: 99.9 }], {
          model: "m"
        })
        expect(Exit.isSuccess(yield* generate(budget.wrap(model.service)))).toBe(true)
        // in plain doubles, 0.09999999999999432
        expect(yield* budget.status("default")).toMatchObject({ spentUsd: 99.9, remainingUsd: 0.1 })
      }).pipe(Effect.provide(env())))

    it.effect("charges the difference when the actual cost passes the estimate, preferring the response's costUsd", () =>
      Effect.gen(function*() {
        const budget = yield* makeBudget({ defaultLimit: { limitUsd: 100, period: "day" } })
        const model = yield* scripted([{ ...answer("ok", { model: "m", usage: usage(10, 3) }), costUsd: 27 }], {
          model: "m"
        })
        yield* generate(budget.wrap(model.service))
        expect(yield* budget.status("default")).toMatchObject({ spentUsd: 27, reservedUsd: 0, remainingUsd: 73 })
      }).pipe(Effect.provide(env())))

    it.effect("without usage, charges the input estimate plus the answer's text counted", () =>
      Effect.gen(function*() {
        const budget = yield* makeBudget({ defaultLimit: { limitUsd: 100, period: "day" } })
        const model = yield* scripted([{ text: "abc" }], { model: "m" })
        yield* generate(budget.wrap(model.service))
        expect(yield* budget.status("default")).toMatchObject({ spentUsd: usd(inputTokens, 3), reservedUsd: 0 })
      }).pipe(Effect.provide(env())))

    it.effect("releases the reservation when the call fails: a failed call costs nothing", () =>
      Effect.gen(function*() {
        const budget = yield* makeBudget({ defaultLimit: { limitUsd: estimate, period: "day" } })
        const model = yield* scripted([errors.serverError(), { text: "ok", usage: usage(10, 5) }], { model: "m" })
        const wrapped = budget.wrap(model.service)
        expect(failure(yield* generate(wrapped))._tag).toBe("ServerError")
        expect(yield* budget.status("default")).toMatchObject({ spentUsd: 0, reservedUsd: 0 })
        // the whole budget is still there for the next call
        expect(Exit.isSuccess(yield* generate(wrapped))).toBe(true)
        expect(yield* budget.status("default")).toMatchObject({ spentUsd: estimate, remainingUsd: 0 })
      }).pipe(Effect.provide(env())))

    it.effect("releases the reservation when the call is interrupted", () =>
      Effect.gen(function*() {
        const budget = yield* makeBudget({ defaultLimit: { limitUsd: 100, period: "day" } })
        const started = yield* Deferred.make<void>()
        const inner = LanguageModel.make({
          provider: "test",
          defaultModel: "m",
          generate: () => Effect.zipRight(Deferred.succeed(started, undefined), Effect.never),
          stream: () => Stream.die("unused")
        })
        const fiber = yield* Effect.fork(generate(budget.wrap(inner)))
        yield* Deferred.await(started)
        expect(yield* budget.status("default")).toMatchObject({ reservedUsd: estimate })
        yield* Fiber.interrupt(fiber)
        expect(yield* budget.status("default")).toMatchObject({ spentUsd: 0, reservedUsd: 0 })
      }).pipe(Effect.provide(env())))

    it.effect("a reservation never settled (its process died) stops holding budget after reservationTimeout", () =>
      Effect.gen(function*() {
        const budget = yield* makeBudget({
          defaultLimit: { limitUsd: 100, period: "month" },
          reservationTimeout: "10 minutes"
        })
        const inner = LanguageModel.make({
          provider: "test",
          defaultModel: "m",
          generate: () => Effect.never,
          stream: () => Stream.die("unused")
        })
        const fiber = yield* Effect.fork(generate(budget.wrap(inner)))
        yield* Effect.yieldNow()
        yield* adjustTo(599_999)
        expect(yield* budget.status("default")).toMatchObject({ reservedUsd: estimate })
        yield* adjustTo(600_000)
        expect(yield* budget.status("default")).toMatchObject({ reservedUsd: 0, remainingUsd: 100 })
        yield* Fiber.interrupt(fiber)
      }).pipe(Effect.provide(env())))

    it.effect("counts one charge for a Fallback chain inside the budget: the answering step's cost", () =>
      Effect.gen(function*() {
        const first = yield* scripted([errors.overloaded()], { model: "m" })
        const second = yield* scripted([{ text: "ok", usage: usage(10, 2) }], { model: "m" })
        const layer = Budget.layer(
          Fallback.layer([{ provide: first.layer, retry: false }, { provide: second.layer, retry: false }]),
          { defaultLimit: { limitUsd: 100, period: "day" } }
        )
        const spent = yield* Effect.gen(function*() {
          yield* LanguageModel.generate({ ...ask("hi"), maxTokens: 5 })
          return yield* Budget.status("default")
        }).pipe(Effect.provide(layer))
        expect([yield* first.calls, yield* second.calls]).toEqual([1, 1])
        expect(spent).toMatchObject({ spentUsd: usd(10, 2), reservedUsd: 0 })
      }).pipe(Effect.provide(env())))

    it.effect("generateObject goes through the budget", () =>
      Effect.gen(function*() {
        const model = yield* scripted([{ text: "{\"a\":1}", usage: usage(10, 1) }], { model: "m" })
        const layer = Budget.layer(model.layer, { defaultLimit: { limitUsd: 100, period: "day" } })
        const spent = yield* Effect.gen(function*() {
          yield* LanguageModel.generateObject({
            ...ask("hi"),
            maxTokens: 5,
            schema: Schema.Struct({ a: Schema.Number })
          })
          return yield* Budget.spent("default")
        }).pipe(Effect.provide(layer))
        expect(spent).toBe(usd(10, 1))
      }).pipe(Effect.provide(env())))
  })

  describe("Budget: tenants", () => {
    it.effect("tenants have their own limits, others the default; an exhausted tenant does not block another", () =>
      Effect.gen(function*() {
        yield* adjustTo(Date.UTC(2026, 10, 30, 12))
        const budget = yield* makeBudget({
          tenants: { a: { limitUsd: estimate, period: "day" } },
          defaultLimit: { limitUsd: 2 * estimate, period: "day" }
        })
        const replies = Array.from({ length: 4 }, () => ({ text: "ok", usage: usage(10, 5) }))
        const model = yield* scripted(replies, { model: "m" })
        const wrapped = budget.wrap(model.service)
        expect(Exit.isSuccess(yield* generate(wrapped, "1", { tenant: "a" }))).toBe(true)
        const refused = failure(yield* generate(wrapped, "2", { tenant: "a" }))
        expect(refused).toBeInstanceOf(LlmError.BudgetExceeded)
        expect(refused).toMatchObject({
          tenant: "a",
          limitUsd: estimate,
          spentUsd: estimate,
          reservedUsd: 0,
          requestedUsd: estimate,
          resetsAt: Date.UTC(2026, 11, 1),
          provider: "test",
          model: "m"
        })
        expect(refused.message).toContain("tenant \"a\"")
        expect(LlmError.isRetryable(refused)).toBe(false)
        expect(LlmError.fault(refused)).toBe("policy")
        // "b" has the default limit, untouched by "a"
        expect(Exit.isSuccess(yield* generate(wrapped, "3", { tenant: "b" }))).toBe(true)
        expect(Exit.isSuccess(yield* generate(wrapped, "4", { tenant: "b" }))).toBe(true)
        expect(yield* model.calls).toBe(3)
        expect(yield* budget.status("a")).toMatchObject({ spentUsd: estimate, remainingUsd: 0 })
        expect(yield* budget.status("b")).toMatchObject({ spentUsd: 2 * estimate, remainingUsd: 0 })
        expect(yield* budget.status("c")).toMatchObject({ spentUsd: 0, remainingUsd: 2 * estimate })
      }).pipe(Effect.provide(env())))

    it.effect("a tenant without a limit and no default is unlimited and untracked", () =>
      Effect.gen(function*() {
        const model = yield* scripted([{ text: "1" }, { text: "2" }], { model: "no-price-at-all" })
        const layer = Budget.layer(model.layer, { tenants: { a: { limitUsd: 0, period: "day" } } })
        const result = yield* Effect.gen(function*() {
          yield* LanguageModel.generate(ask("1", { tenant: "free" }))
          yield* LanguageModel.generate(ask("2", { tenant: "free" }))
          return [yield* Budget.status("free"), yield* Budget.spent("free"), yield* Budget.remaining("free")]
        }).pipe(Effect.provide(layer))
        expect(result).toEqual([undefined, 0, Infinity])
        expect(yield* model.calls).toBe(2)
      }).pipe(Effect.provide(env())))
  })

  describe("Budget: refusals", () => {
    it.effect("refused only by calls in flight: retryable after 1 s, no resetsAt; refused by spend: until the period ends", () =>
      Effect.gen(function*() {
        yield* adjustTo(Date.UTC(2026, 10, 30, 23, 50))
        // room for 2.5 estimates; each call costs usd(10, 1) = 12 against its estimate of 20
        const budget = yield* makeBudget({ defaultLimit: { limitUsd: 2.5 * estimate, period: "day" } })
        const gate = yield* Deferred.make<void>()
        const allIn = yield* Deferred.make<void>()
        const reached = yield* Ref.make(0)
        const inner = LanguageModel.make({
          provider: "test",
          defaultModel: "m",
          generate: () =>
            Effect.gen(function*() {
              if ((yield* Ref.updateAndGet(reached, (n) => n + 1)) === 2) yield* Deferred.succeed(allIn, undefined)
              yield* Deferred.await(gate)
              return answer("ok", { model: "m", usage: usage(10, 1) })
            }),
          stream: () => Stream.die("unused")
        })
        const wrapped = budget.wrap(inner)
        const inFlight = yield* Effect.fork(Effect.all([generate(wrapped, "1"), generate(wrapped, "2")], {
          concurrency: "unbounded"
        }))
        yield* Deferred.await(allIn)
        // nothing spent: the estimate fits beside the spend, only the two reservations are in the way
        const held = failure(yield* generate(wrapped, "3"))
        if (!(held instanceof LlmError.BudgetExceeded)) throw new Error(`expected BudgetExceeded: ${held._tag}`)
        expect(held).toMatchObject({
          spentUsd: 0,
          reservedUsd: 2 * estimate,
          requestedUsd: estimate,
          shouldRetry: true
        })
        expect(held.resetsAt).toBeUndefined()
        expect(held.retryAfter).toEqual(Duration.seconds(1))
        expect(LlmError.isRetryable(held)).toBe(true)
        expect(held.message).toContain("calls in flight")
        // the calls in flight end; a retry after the hint fits
        yield* Deferred.succeed(gate, undefined)
        yield* Fiber.join(inFlight)
        yield* TestClock.adjust(held.retryAfter!)
        expect(Exit.isSuccess(yield* generate(wrapped, "3"))).toBe(true)
        // 36 spent: 36 + 20 passes 50 whatever is reserved, so only the next period helps
        const spent = failure(yield* generate(wrapped, "4"))
        if (!(spent instanceof LlmError.BudgetExceeded)) throw new Error(`expected BudgetExceeded: ${spent._tag}`)
        expect(spent).toMatchObject({ spentUsd: 3 * usd(10, 1), reservedUsd: 0, resetsAt: Date.UTC(2026, 11, 1) })
        expect(spent.retryAfter).toBeUndefined()
        expect(spent.shouldRetry).toBeUndefined()
        expect(LlmError.isRetryable(spent)).toBe(false)
      }).pipe(Effect.provide(env())))
  })

  describe("Budget: no overshoot", () => {
    it.effect("200 concurrent calls against a budget of exactly N: N reach the provider, never more", () =>
      Effect.gen(function*() {
        const fits = 7
        const limit = fits * estimate
        const budget = yield* makeBudget({ defaultLimit: { limitUsd: limit, period: "day" } })
        const gate = yield* Deferred.make<void>()
        const reached = yield* Ref.make(0)
        const allIn = yield* Deferred.make<void>()
        const seen: Array<number> = []
        const inner = LanguageModel.make({
          provider: "test",
          defaultModel: "m",
          generate: () =>
            Effect.gen(function*() {
              const n = yield* Ref.updateAndGet(reached, (k) => k + 1)
              if (n === fits) yield* Deferred.succeed(allIn, undefined)
              const status = (yield* budget.status("default"))!
              seen.push(status.spentUsd + status.reservedUsd)
              yield* Deferred.await(gate)
              // actual costs differ from the estimate: 1, 2, 3 output tokens in turn
              return answer(`${n}`, { model: "m", usage: usage(10, 1 + (n % 3)) })
            }),
          stream: () => Stream.die("unused")
        })
        const wrapped = budget.wrap(inner)
        const fiber = yield* Effect.fork(
          Effect.all(Array.from({ length: 200 }, (_, i) => generate(wrapped, `${i}`)), { concurrency: "unbounded" })
        )
        // the admitted calls hold their reservations at the gate: the budget is full, nothing spent yet
        yield* Deferred.await(allIn)
        expect(yield* budget.status("default")).toMatchObject({ spentUsd: 0, reservedUsd: limit, remainingUsd: 0 })
        yield* Deferred.succeed(gate, undefined)
        const exits = yield* Fiber.join(fiber)
        expect(yield* Ref.get(reached)).toBe(fits)
        expect(exits.filter(Exit.isSuccess)).toHaveLength(fits)
        expect(new Set(exits.filter(Exit.isFailure).map((exit) => failure(exit)._tag))).toEqual(
          new Set(["BudgetExceeded"])
        )
        expect(seen).toHaveLength(fits)
        expect(Math.max(...seen)).toBeLessThanOrEqual(limit)
        const actual = Array.from({ length: fits }, (_, i) => usd(10, 1 + ((i + 1) % 3))).reduce((a, b) => a + b, 0)
        expect(yield* budget.status("default")).toMatchObject({ spentUsd: actual, reservedUsd: 0 })
      }).pipe(Effect.provide(env())))
  })
})

describe("Budget: estimates", () => {
  it.effect("output at maxTokens, else the model's maxOutputTokens, else its context window minus the input", () =>
    Effect.gen(function*() {
      const budget = yield* makeBudget({ maxRequestCostUsd: 0 })
      const model = yield* scripted([])
      const wrapped = budget.wrap(model.service)
      const estimated = (input: ChatRequest.Input) =>
        Effect.map(
          Effect.flatMap(ChatRequest.decode(input), (r) => Effect.exit(wrapped.generate(r))),
          (exit) => (failure(exit) as LlmError.CostLimitExceeded).estimatedUsd
        )
      expect(yield* estimated({ ...ask("hi", { model: "capped" }), maxTokens: 3 })).toBe(usd(10, 3))
      expect(yield* estimated(ask("hi", { model: "capped" }))).toBe(usd(10, 7))
      expect(yield* estimated(ask("hi", { model: "windowed" }))).toBe(usd(10, 25 - 10))
      const unbounded = failure(
        yield* Effect.exit(Effect.flatMap(ChatRequest.decode(ask("hi", { model: "unbounded" })), wrapped.generate))
      )
      expect(unbounded._tag).toBe("InvalidRequest")
      expect(unbounded.message).toContain("set maxTokens")
      expect(yield* model.calls).toBe(0)
    }).pipe(Effect.provide(environment)))

  it.effect("a model without a price is refused, naming it and how to price it; unpricedModels: allow lets it by", () =>
    Effect.gen(function*() {
      const refuse = yield* makeBudget({ defaultLimit: { limitUsd: 100, period: "day" } })
      const model = yield* scripted([{ text: "ok" }], { model: "mystery" })
      const refused = failure(yield* generate(refuse.wrap(model.service)))
      expect(refused._tag).toBe("InvalidRequest")
      expect(refused.message).toContain("model \"mystery\" has no known price")
      expect(refused.message).toContain(
        "give it a price (pricing models \"mystery\": inputPerMillion, outputPerMillion)"
      )
      expect(yield* model.calls).toBe(0)
      const allow = yield* makeBudget({ defaultLimit: { limitUsd: 100, period: "day" }, unpricedModels: "allow" })
      expect(Exit.isSuccess(yield* generate(allow.wrap(model.service)))).toBe(true)
      expect(yield* allow.status("default")).toMatchObject({ spentUsd: 0, reservedUsd: 0 })
    }).pipe(Effect.provide(environment)))
})

describe("Budget: cost guard", () => {
  it.effect("refuses one request whose estimate passes maxRequestCostUsd, before the provider", () =>
    Effect.gen(function*() {
      const budget = yield* makeBudget({ maxRequestCostUsd: estimate - 1 })
      const model = yield* scripted([{ text: "ok", usage: usage(10, 1) }], { model: "m" })
      const wrapped = budget.wrap(model.service)
      const refused = failure(yield* generate(wrapped, "hi", { tenant: "a" }))
      expect(refused).toBeInstanceOf(LlmError.CostLimitExceeded)
      expect(refused).toMatchObject({ tenant: "a", limitUsd: estimate - 1, estimatedUsd: estimate })
      expect(yield* model.calls).toBe(0)
      // a cheaper request passes
      const cheap = yield* ChatRequest.decode({ ...ask("hi"), maxTokens: 4 })
      expect(Exit.isSuccess(yield* Effect.exit(wrapped.generate(cheap)))).toBe(true)
      // an unpriced model cannot be checked: refused, without an estimate
      const unpriced = yield* scripted([{ text: "ok" }], { model: "mystery" })
      const unknown = failure(yield* generate(budget.wrap(unpriced.service)))
      expect(unknown._tag).toBe("CostLimitExceeded")
      expect((unknown as LlmError.CostLimitExceeded).estimatedUsd).toBeUndefined()
      expect(unknown.message).toContain("\"mystery\" has no known price")
    }).pipe(Effect.provide(environment)))
})

describe("Budget: the memory store", () => {
  it.effect("forgets tenants whose periods have passed", () =>
    Effect.gen(function*() {
      const store = Budget.makeMemoryStore()
      const budget = yield* makeBudget({ defaultLimit: { limitUsd: 1000, period: "day" } }).pipe(
        Effect.provide(Budget.layerStore(store))
      )
      const model = yield* scripted(Array.from({ length: 50 }, () => ({ text: "ok", usage: usage(1, 1) })), {
        model: "m"
      })
      const wrapped = budget.wrap(model.service)
      for (let i = 0; i < 50; i++) yield* generate(wrapped, "hi", { tenant: `t${i}` })
      expect(yield* store.size).toBe(50)
      yield* TestClock.adjust("1 day")
      yield* generate(wrapped, "hi", { tenant: "t0" }).pipe(Effect.exit)
      expect(yield* store.size).toBe(1)
    }).pipe(Effect.provide(environment)))
})

describe("Budget: nested layers", () => {
  it.effect("a daily cap around a monthly one: both apply, each charges a call once, the outer is the one read", () =>
    Effect.gen(function*() {
      // each call costs usd(10, 1) = 12 and is estimated at usd(10, 5) = 20
      const model = yield* scripted(
        [1, 2, 3].map(() => ({ text: "ok", usage: usage(10, 1) })),
        { model: "m" }
      )
      const Monthly = Budget.layer(model.layer, { defaultLimit: { limitUsd: 1000, period: "month" } })
      const Daily = Budget.layer(Monthly, { defaultLimit: { limitUsd: 40, period: "day" } })
      const calls = yield* Effect.gen(function*() {
        const service = yield* LanguageModel.LanguageModel
        const exits = []
        for (let i = 0; i < 3; i++) exits.push(yield* generate(service, "hi", { tenant: "a" }))
        return { exits, daily: yield* Budget.status("a") }
      }).pipe(Effect.provide(Daily))
      // 12 spent, then 12 + 20 = 32 fits 40, then 24 + 20 = 44 does not: the daily cap refuses the third
      expect(calls.exits.map((exit) => exit._tag)).toEqual(["Success", "Success", "Failure"])
      expect(failure(calls.exits[2]!)).toBeInstanceOf(LlmError.BudgetExceeded)
      expect(yield* model.calls).toBe(2)
      expect(calls.daily).toMatchObject({ limitUsd: 40, spentUsd: 24, reservedUsd: 0 })
      // the monthly budget (the same store, its own period) was charged once per call too
      const monthly = yield* makeBudget({ defaultLimit: { limitUsd: 1000, period: "month" } })
      expect(yield* monthly.status("a")).toMatchObject({ spentUsd: 24 })
    }).pipe(Effect.provide(environment)))
})

describe("Budget: a store that cannot answer", () => {
  // A shared store that is down: every operation it is asked fails (as the Redis store does while Redis is away).
  const down = new Budget.StoreUnavailable({ reason: "not connected", retryAfterMillis: 1000 })
  const unavailableStore: Budget.Store = {
    reserve: () => Effect.fail(down),
    settle: () => Effect.succeed(undefined),
    release: () => Effect.succeed(undefined),
    read: () => Effect.fail(down)
  }

  it.effect("a call is refused as a call; a read of the budget fails as a read, with the same fields", () =>
    Effect.gen(function*() {
      const budget = yield* makeBudget({ defaultLimit: { limitUsd: 100, period: "day" } })
      const model = yield* scripted([{ text: "never" }], { model: "m" })
      const refused = failure(yield* generate(budget.wrap(model.service), "hi", { tenant: "t" }))
      expect(refused).toBeInstanceOf(LlmError.PolicyUnavailable)
      expect(refused.message).toBe(
        "Budget: the budget store cannot answer (not connected), so tenant \"t\"'s call is refused before reaching the provider; retry after 1000 ms"
      )
      expect(yield* model.calls).toBe(0)
      const read =
        "Budget: the budget store cannot answer (not connected), so tenant \"t\"'s budget cannot be read; retry after 1000 ms"
      const readings: ReadonlyArray<Effect.Effect<unknown, LlmError.PolicyUnavailable, Budget.Budget>> = [
        Budget.status("t"),
        Budget.spent("t"),
        Budget.remaining("t")
      ]
      for (const reading of readings) {
        const error = failure(yield* Effect.exit(reading.pipe(Effect.provideService(Budget.Budget, budget))))
        expect(error).toBeInstanceOf(LlmError.PolicyUnavailable)
        expect(error).toMatchObject({ policy: "budget", reason: "not connected", message: read })
        expect(Duration.toMillis((error as LlmError.PolicyUnavailable).retryAfter!)).toBe(1000)
        expect(LlmError.isRetryable(error)).toBe(true)
      }
    }).pipe(Effect.provide(environmentWith(Budget.layerStore(unavailableStore)))))
})
