import { describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Exit, Stream } from "effect"
import * as TestClock from "effect/TestClock"
import * as Budget from "../src/Budget.js"
import * as ChatResponse from "../src/ChatResponse.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmMetrics from "../src/LlmMetrics.js"
import * as Pricing from "../src/Pricing.js"
import type * as StreamPart from "../src/StreamPart.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { deniedPhrase, environment, governed, inputOf, model, sent, stores, usd } from "./support/governanceStack.js"
import { failure, textOf } from "./support/loopback.js"
import { count } from "./support/resilience.js"

const ask = (tenant: string, content: string) => ({
  messages: [{ role: "user" as const, content }],
  maxTokens: 5,
  metadata: { tenant }
})

/** A history of 20 messages of 10 characters each after the system prompt: turns alternate user, assistant. */
const system = { role: "system" as const, content: "Be brief." }
const history = Array.from({ length: 19 }, (_, i) => {
  const role = i % 2 === 0 ? "user" as const : "assistant" as const
  return { role, content: `${role === "user" ? "ask" : "say"} ${String(i + 1).padStart(2, "0")} ...` }
})

/** The sum of the costs the provider layers put on responses (and usage parts), in USD. */
const sumOf = (costs: ReadonlyArray<number | undefined>): number => costs.reduce<number>((sum, c) => sum + c!, 0)

describe("the governance stack in the recommended order", () => {
  it.scoped("guards, trims, budgets, caches, falls back and limits two tenants; metrics and budgets add up", () =>
    Effect.gen(function*() {
      // The room alpha's first two calls leave is less than the third one's estimate (see below).
      const alphaLimit = 150
      const { backup, context, primary } = yield* governed(
        [
          OpenAiMock.completion({ text: "Sent.", usage: { inputTokens: 20, outputTokens: 4 } }),
          OpenAiMock.completion({ text: "Noted.", usage: { inputTokens: 99, outputTokens: 5 } }),
          OpenAiMock.completion({ text: "Paris.", usage: { inputTokens: 18, outputTokens: 2 } }),
          OpenAiMock.error(500),
          OpenAiMock.stream({
            deltas: ["Once", " upon a time", ", write to bob@", "example.com", "."],
            usage: { inputTokens: 12, outputTokens: 5 }
          }),
          OpenAiMock.completion({ text: "Rome.", usage: { inputTokens: 17, outputTokens: 2 } })
        ],
        [OpenAiMock.completion({ text: "Madrid.", usage: { inputTokens: 17, outputTokens: 3 } })],
        {
          contextWindow: { maxInputTokens: 100 },
          budget: {
            tenants: { alpha: { limitUsd: alphaLimit, period: "day" } },
            defaultLimit: { limitUsd: 1_000, period: "day" }
          },
          rateLimit: {
            default: { requests: { limit: 100, window: "1 minute" } },
            tenants: { beta: { requests: { limit: 3, window: "1 minute" } } }
          }
        }
      )
      const generate = (request: Parameters<typeof LanguageModel.generate>[0]) =>
        LanguageModel.generate(request).pipe(Effect.provide(context), Effect.exit)
      const costs = { alpha: [] as Array<number | undefined>, beta: [] as Array<number | undefined> }
      const answered = (tenant: keyof typeof costs, exit: Exit.Exit<ChatResponse.ChatResponse, unknown>) => {
        if (Exit.isFailure(exit)) throw new Error(`expected an answer: ${String(exit.cause)}`)
        costs[tenant].push(exit.value.costUsd)
        return exit.value
      }

      // alpha: the input guardrail blocks before anything else runs.
      const blocked = failure(yield* generate(ask("alpha", `Please ${deniedPhrase} and say hi`)))
      expect(blocked).toMatchObject({ _tag: "GuardrailBlocked", stage: "input", guardrail: "deny-list" })
      expect(yield* count(primary)).toBe(0)

      // alpha: an email is redacted before it leaves.
      answered("alpha", yield* generate(ask("alpha", "Write to bob@example.com today")))
      // alpha: a long history is trimmed to the system prompt and the latest turns that fit 100 tokens.
      answered(
        "alpha",
        yield* generate({ messages: [system, ...history], maxTokens: 5, metadata: { tenant: "alpha" } })
      )
      const [redacted, trimmed] = yield* sent(primary)
      expect(redacted).toEqual(["Write to [EMAIL] today"])
      // 9 + 9 × 10 = 99 tokens: one more turn (20) would not fit.
      expect(trimmed).toEqual([system.content, ...history.slice(-9).map((message) => message.content)])

      // alpha: out of budget: refused from its estimate, the provider never called.
      const tooMuch = ask("alpha", "And the next one?")
      const refused = failure(yield* generate(tooMuch))
      expect(refused).toMatchObject({
        _tag: "BudgetExceeded",
        tenant: "alpha",
        limitUsd: alphaLimit,
        spentUsd: sumOf(costs.alpha),
        requestedUsd: usd(inputOf(tooMuch.messages), tooMuch.maxTokens)
      })
      expect(yield* count(primary)).toBe(2)

      // beta: a repeated question is a cache hit: no request, no cost.
      const first = answered("beta", yield* generate(ask("beta", "Capital of France?")))
      const again = answered("beta", yield* generate(ask("beta", "Capital of France?")))
      expect(yield* count(primary)).toBe(3)
      expect(again).toEqual({ ...first, cached: true, costUsd: 0 })
      expect(first.costUsd).toBe(usd(18, 2))

      // beta: the primary fails (500), the backup answers.
      const fellBack = answered("beta", yield* generate(ask("beta", "Capital of Spain?")))
      expect(fellBack).toMatchObject({ provider: "backup", costUsd: usd(17, 3) })
      expect(ChatResponse.text(fellBack)).toBe("Madrid.")
      expect([yield* count(primary), yield* count(backup)]).toEqual([4, 1])

      // beta: a stream through the whole stack, its email redacted on the way out, its usage part priced.
      const parts: ReadonlyArray<StreamPart.StreamPart> = Chunk.toReadonlyArray(
        yield* Stream.runCollect(LanguageModel.stream(ask("beta", "Tell a story"))).pipe(Effect.provide(context))
      )
      expect(textOf(parts)).toBe("Once upon a time, write to [EMAIL].")
      const usagePart = parts.find((part): part is StreamPart.UsagePart => part.type === "usage")
      expect(usagePart?.costUsd).toBe(usd(12, 5))
      costs.beta.push(usagePart?.costUsd)

      // beta: its fourth request in the minute is refused with when to come back; then it passes.
      const italy = ask("beta", "Capital of Italy?")
      const limited = failure(yield* generate(italy))
      expect(limited).toMatchObject({ _tag: "RateLimitExceeded", tenant: "beta", kind: "requests" })
      expect(limited.retryAfter).toEqual(Duration.minutes(1))
      expect(yield* count(primary)).toBe(5)
      yield* TestClock.adjust(limited.retryAfter!)
      expect(ChatResponse.text(answered("beta", yield* generate(italy)))).toBe("Rome.")
      expect(yield* count(primary)).toBe(6)

      // What each tenant spent is what the providers reported, in the metrics and in the budgets alike.
      expect(costs.alpha).toEqual([usd(20, 4), usd(99, 5)])
      expect(costs.beta).toEqual([usd(18, 2), 0, usd(17, 3), usd(12, 5), usd(17, 2)])
      const spent = yield* Effect.all([Budget.spent("alpha"), Budget.spent("beta")]).pipe(Effect.provide(context))
      expect(spent).toEqual([sumOf(costs.alpha), sumOf(costs.beta)])
      const summary = yield* LlmMetrics.summary
      expect(summary.byTenant["alpha"]).toMatchObject({
        requests: 2,
        failures: 0,
        cacheHits: 0,
        costUsd: sumOf(costs.alpha)
      })
      // beta: 4 answers from the providers, 1 hit, 1 failed primary attempt that fell back.
      expect(summary.byTenant["beta"]).toMatchObject({
        requests: 6,
        failures: 1,
        fallbacks: 1,
        cacheHits: 1,
        costUsd: sumOf(costs.beta),
        // The failed attempt got no content: it cost nothing, so it is not an unpriced call.
        unpricedRequests: 0
      })
    }).pipe(Effect.provide(environment)))

  it.scoped("with the bundled prices and tokenizer, the policies above the chain price and fit at its first provider", () =>
    Effect.gen(function*() {
      const { context, primary } = yield* governed(
        [OpenAiMock.completion({ usage: { inputTokens: 14, outputTokens: 6 } })],
        [],
        { contextWindow: {} }
      )
      const response = yield* LanguageModel.generate(ask("gamma", "Capital of France?")).pipe(Effect.provide(context))
      const expected = Pricing.dataset.cost({ inputTokens: 14, outputTokens: 6, totalTokens: 20 }, model, "openai")
      expect(expected).toBeGreaterThan(0)
      expect(response.costUsd).toBe(expected)
      // Budgets count whole micro-USD, rounded to the nearest.
      expect(yield* Budget.spent("gamma").pipe(Effect.provide(context))).toBe(Math.round(expected! * 1e6) / 1e6)
      // gpt-4o-mini's window (from the bundled data) cannot hold this: refused before any request.
      const window = Pricing.dataset.price(model, "openai")!.contextWindow!
      const huge = ask("gamma", "word ".repeat(window + 1))
      const exit = yield* LanguageModel.generate(huge).pipe(Effect.provide(context), Effect.exit)
      expect(failure(exit)).toMatchObject({ _tag: "ContextLengthExceeded" })
      expect(yield* count(primary)).toBe(1)
    }).pipe(Effect.provide(stores)))
})
