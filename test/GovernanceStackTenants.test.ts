import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Budget from "../src/Budget.js"
import * as ChatResponse from "../src/ChatResponse.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { type Built, environment, governed, sent, usd } from "./support/governanceStack.js"
import { failure } from "./support/loopback.js"
import { success } from "./support/resilience.js"

const ask = (tenant: string, content: string) => ({
  messages: [{ role: "user" as const, content }],
  maxTokens: 5,
  metadata: { tenant }
})

const call = (context: Built, tenant: string, content: string) =>
  LanguageModel.generate(ask(tenant, content)).pipe(Effect.provide(context), Effect.exit)

/** Answers that each cost usd(10, 5) = 20 USD. */
const answers = (n: number) =>
  Array.from(
    { length: n },
    (_, i) => OpenAiMock.completion({ text: `answer ${i}`, usage: { inputTokens: 10, outputTokens: 5 } })
  )

describe("tenants never see each other's state through the whole stack", () => {
  it.scoped("cache entries: the same question from another tenant goes to the provider", () =>
    Effect.gen(function*() {
      const { context, primary } = yield* governed(answers(2))
      const question = "Capital of France?"
      const first = success(yield* call(context, "alpha", question))
      const other = success(yield* call(context, "beta", question))
      const again = success(yield* call(context, "alpha", question))
      // alpha's entry served alpha's repeat only: beta's identical question reached the provider.
      expect(yield* sent(primary)).toEqual([[question], [question]])
      expect([first.cached, other.cached, again.cached]).toEqual([undefined, undefined, true])
      expect([first, other, again].map(ChatResponse.text)).toEqual(["answer 0", "answer 1", "answer 0"])
    }).pipe(Effect.provide(environment)))

  it.scoped("rate limits: one tenant's exhausted limit leaves the other's untouched", () =>
    Effect.gen(function*() {
      const { context, primary } = yield* governed(answers(4), [], {
        rateLimit: { default: { requests: { limit: 2, window: "1 minute" } } }
      })
      for (const content of ["alpha 1", "alpha 2"]) yield* call(context, "alpha", content)
      expect(failure(yield* call(context, "alpha", "alpha 3"))).toMatchObject({
        _tag: "RateLimitExceeded",
        tenant: "alpha"
      })
      for (const content of ["beta 1", "beta 2"]) yield* call(context, "beta", content)
      expect(failure(yield* call(context, "beta", "beta 3"))).toMatchObject({
        _tag: "RateLimitExceeded",
        tenant: "beta"
      })
      expect(yield* sent(primary)).toEqual([["alpha 1"], ["alpha 2"], ["beta 1"], ["beta 2"]])
    }).pipe(Effect.provide(environment)))

  it.scoped("budgets: one tenant's spent budget neither refuses nor charges the other", () =>
    Effect.gen(function*() {
      // Each call costs 20 USD, estimated at 7 + 10 = 17 USD: two fit in 40 USD, a third does not.
      const { context, primary } = yield* governed(answers(4), [], {
        budget: { defaultLimit: { limitUsd: 40, period: "day" } }
      })
      for (const content of ["alpha 1", "alpha 2"]) yield* call(context, "alpha", content)
      expect(failure(yield* call(context, "alpha", "alpha 3"))).toMatchObject({
        _tag: "BudgetExceeded",
        tenant: "alpha",
        spentUsd: 2 * usd(10, 5)
      })
      const beta = yield* call(context, "beta", "beta 1")
      expect(beta).toMatchObject({ _tag: "Success", value: { costUsd: usd(10, 5) } })
      expect(yield* sent(primary)).toEqual([["alpha 1"], ["alpha 2"], ["beta 1"]])
      const spent = yield* Effect.all([Budget.spent("alpha"), Budget.spent("beta")]).pipe(Effect.provide(context))
      expect(spent).toEqual([2 * usd(10, 5), usd(10, 5)])
    }).pipe(Effect.provide(environment)))
})
