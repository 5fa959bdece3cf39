/**
 * Two real processes on one Redis spend one tenant's budget at once: 200 concurrent calls in all against a budget
 * that fits exactly N of them. Exactly N reach the provider, and spent never passes the limit.
 */
import { expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Budget from "../src/Budget.js"
import * as Redis from "../src/Redis.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { inputTokens, usd } from "./support/budget.js"
import { runWorker as runProcess } from "./support/processes.js"
import { describeRedis, uniquePrefix } from "./support/redis.js"

interface Report {
  readonly outcomes: ReadonlyArray<string>
  /** spent + reserved of the tenant, read from the store as each admitted call reached the provider. */
  readonly seen: ReadonlyArray<number>
}

/** Runs the worker in its own Node process (killed after 60 s) and returns what it printed. */
const runWorker = (env: Record<string, string>) => runProcess<Report>("budgetWorker.ts", env, 60_000)

/** Every call: 10 input tokens at 1 USD and 5 output tokens at 2 USD, estimated and charged alike. */
const cost = usd(inputTokens, 5)
const fits = 37
const limitUsd = fits * cost

describeRedis("Budget on Redis across processes", (server) => {
  it.scopedLive(
    "two processes, 100 concurrent calls each, one budget of exactly N calls: N reach the provider, never more",
    () =>
      Effect.gen(function*() {
        const mock = yield* MockProvider.make({
          onExhausted: OpenAiMock.completion({ usage: { inputTokens: 10, outputTokens: 5 } })
        })
        const prefix = uniquePrefix("procs")
        const env = {
          REDIS_URL: server.url,
          REDIS_KEY_PREFIX: prefix,
          MOCK_URL: mock.url,
          CALLS: "100",
          PROCESSES: "2",
          LIMIT_USD: String(limitUsd)
        }
        const reports = yield* Effect.all([runWorker({ ...env, NAME: "A" }), runWorker({ ...env, NAME: "B" })], {
          concurrency: 2
        })
        const outcomes = reports.flatMap((report) => report.outcomes)
        expect(outcomes).toHaveLength(200)
        expect(outcomes.filter((tag) => tag === "success")).toHaveLength(fits)
        expect(new Set(outcomes.filter((tag) => tag !== "success"))).toEqual(new Set(["BudgetExceeded"]))
        expect(yield* mock.requests).toHaveLength(fits)
        const seen = reports.flatMap((report) => report.seen)
        expect(seen).toHaveLength(fits)
        expect(Math.max(...seen)).toBeLessThanOrEqual(limitUsd)
        const spent = yield* Effect.flatMap(
          Budget.make({ tenants: { shared: { limitUsd, period: "day" } } }),
          (budget) => budget.status("shared")
        ).pipe(
          Effect.provide(Budget.layerRedis().pipe(Layer.provide(Redis.layer({ url: server.url, keyPrefix: prefix })))),
          Effect.orDie
        )
        expect(spent).toMatchObject({ spentUsd: limitUsd, reservedUsd: 0, remainingUsd: 0 })
      }),
    120_000
  )
})
