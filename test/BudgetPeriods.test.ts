import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import type * as Budget from "../src/Budget.js"
import * as ChatRequest from "../src/ChatRequest.js"
import type * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import { makeBudget, usd } from "./support/budget.js"
import { describeStores } from "./support/budgetStores.js"
import { adjustTo } from "./support/loopback.js"
import { ask, failure, scripted } from "./support/resilience.js"

const usage = { inputTokens: 10, outputTokens: 5, totalTokens: 15 }
const cost = usd(10, 5)

/** A budget of exactly one call per period, and a model that answers every call at that cost. */
const oneCallPer = (period: Budget.Limit["period"]) =>
  Effect.gen(function*() {
    const budget = yield* makeBudget({ defaultLimit: { limitUsd: cost, period } })
    const model = yield* scripted(Array.from({ length: 10 }, () => ({ text: "ok", usage })), { model: "m" })
    return { budget, service: budget.wrap(model.service) }
  })

const call = (service: LanguageModel.Service) =>
  Effect.flatMap(
    ChatRequest.decode({ ...ask("hi"), maxTokens: 5 }).pipe(Effect.orDie),
    (request) => Effect.exit(service.generate(request))
  )

const refusedUntil = (exit: Exit.Exit<unknown, LlmError.LlmError>) => {
  const error = failure(exit)
  if (!(error instanceof LlmError.BudgetExceeded)) throw new Error(`expected BudgetExceeded: ${error._tag}`)
  return error.resetsAt
}

describeStores("Budget periods", (env) => {
  describe("Budget: periods", () => {
    it.effect("a day resets at UTC midnight", () =>
      Effect.gen(function*() {
        yield* adjustTo(Date.UTC(2026, 10, 30, 23))
        const { budget, service } = yield* oneCallPer("day")
        expect(Exit.isSuccess(yield* call(service))).toBe(true)
        yield* adjustTo(Date.UTC(2026, 11, 1) - 1)
        expect(refusedUntil(yield* call(service))).toBe(Date.UTC(2026, 11, 1))
        expect(yield* budget.status("default")).toMatchObject({ spentUsd: cost, resetsAt: Date.UTC(2026, 11, 1) })
        yield* adjustTo(Date.UTC(2026, 11, 1))
        expect(yield* budget.status("default")).toMatchObject({ spentUsd: 0, resetsAt: Date.UTC(2026, 11, 2) })
        expect(Exit.isSuccess(yield* call(service))).toBe(true)
      }).pipe(Effect.provide(env())))

    it.effect("a month resets on the 1st at UTC midnight", () =>
      Effect.gen(function*() {
        yield* adjustTo(Date.UTC(2027, 1, 3, 8))
        const { service } = yield* oneCallPer("month")
        expect(Exit.isSuccess(yield* call(service))).toBe(true)
        yield* adjustTo(Date.UTC(2027, 1, 28, 23, 59, 59, 999))
        expect(refusedUntil(yield* call(service))).toBe(Date.UTC(2027, 2, 1))
        yield* adjustTo(Date.UTC(2027, 2, 1))
        expect(Exit.isSuccess(yield* call(service))).toBe(true)
        expect(refusedUntil(yield* call(service))).toBe(Date.UTC(2027, 3, 1))
      }).pipe(Effect.provide(env())))

    it.effect("a rolling window lets spend go when its bucket leaves the window (1 hour in 1-minute buckets)", () =>
      Effect.gen(function*() {
        // spent at 0 and at 30 s: both in the bucket [0, 60 s), which counts until 60 s + 1 hour
        const budget = yield* makeBudget({ defaultLimit: { limitUsd: 2 * cost, period: "1 hour" } })
        const model = yield* scripted(Array.from({ length: 10 }, () => ({ text: "ok", usage })), { model: "m" })
        const service = budget.wrap(model.service)
        expect(Exit.isSuccess(yield* call(service))).toBe(true)
        yield* adjustTo(30_000)
        expect(Exit.isSuccess(yield* call(service))).toBe(true)
        yield* adjustTo(3_600_000)
        const leaves = 60_000 + 3_600_000
        expect(refusedUntil(yield* call(service))).toBe(leaves)
        yield* adjustTo(leaves - 1)
        expect(yield* budget.status("default")).toMatchObject({ spentUsd: 2 * cost, resetsAt: leaves })
        yield* adjustTo(leaves)
        expect(yield* budget.status("default")).toMatchObject({ spentUsd: 0, resetsAt: undefined })
        expect(Exit.isSuccess(yield* call(service))).toBe(true)
        // spend of a later bucket leaves with its own bucket
        expect(yield* budget.status("default")).toMatchObject({ spentUsd: cost, resetsAt: leaves + 60_000 + 3_600_000 })
      }).pipe(Effect.provide(env())))
  })
})
