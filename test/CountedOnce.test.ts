import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Stream } from "effect"
import * as Budget from "../src/Budget.js"
import * as ChatResponse from "../src/ChatResponse.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmMetrics from "../src/LlmMetrics.js"
import type * as StreamPart from "../src/StreamPart.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { type Built, environment, governed, inputOf, usd } from "./support/governanceStack.js"
import { failure, textOf } from "./support/loopback.js"
import { count, runTo, success } from "./support/resilience.js"

const tenant = "acme"
const question = {
  messages: [{ role: "user" as const, content: "Capital of France?" }],
  maxTokens: 5,
  metadata: { tenant }
}
const questionTokens = inputOf(question.messages)

/** The tenant's metrics and budget: every token and dollar counted so far, and what is still reserved. */
const counted = (context: Built) =>
  Effect.gen(function*() {
    const summary = yield* LlmMetrics.summary
    const status = yield* Budget.status(tenant).pipe(Effect.provide(context))
    const totals = summary.byTenant[tenant]
    return {
      requests: totals?.requests ?? 0,
      inputTokens: totals?.inputTokens ?? 0,
      outputTokens: totals?.outputTokens ?? 0,
      costUsd: totals?.costUsd ?? 0,
      spentUsd: status?.spentUsd,
      reservedUsd: status?.reservedUsd
    }
  })

const generate = (context: Built) => LanguageModel.generate(question).pipe(Effect.provide(context))

const streamed = (context: Built) =>
  Stream.runCollect(LanguageModel.stream(question)).pipe(
    Effect.map(Chunk.toReadonlyArray),
    Effect.provide(context)
  )

const costOfUsagePart = (parts: ReadonlyArray<StreamPart.StreamPart>) =>
  parts.find((part): part is StreamPart.UsagePart => part.type === "usage")?.costUsd

describe("usage and cost are counted exactly once, in the metrics and in the budget", () => {
  it.scoped("(a) a call its provider retries (500, then 200): generate", () =>
    Effect.gen(function*() {
      const { context, primary } = yield* governed(
        [OpenAiMock.error(500), OpenAiMock.completion({ usage: { inputTokens: 18, outputTokens: 5 } })],
        [],
        { primaryRetry: undefined }
      )
      const response = success(yield* runTo(generate(context), [500]))
      expect(yield* count(primary)).toBe(2)
      expect(response.costUsd).toBe(usd(18, 5))
      expect(yield* counted(context)).toEqual({
        requests: 1,
        inputTokens: 18,
        outputTokens: 5,
        costUsd: usd(18, 5),
        spentUsd: usd(18, 5),
        reservedUsd: 0
      })
      expect((yield* LlmMetrics.summary).byTenant[tenant]?.retries).toBe(1)
    }).pipe(Effect.provide(environment)))

  it.scoped("(a) a stream its provider retries before its first part (500, then 200)", () =>
    Effect.gen(function*() {
      const { context, primary } = yield* governed(
        [
          OpenAiMock.error(500),
          OpenAiMock.stream({ deltas: ["Par", "is"], usage: { inputTokens: 18, outputTokens: 2 } })
        ],
        [],
        { primaryRetry: undefined }
      )
      const parts = success(yield* runTo(streamed(context), [500]))
      expect(textOf(parts)).toBe("Paris")
      expect(yield* count(primary)).toBe(2)
      expect(costOfUsagePart(parts)).toBe(usd(18, 2))
      expect(yield* counted(context)).toEqual({
        requests: 1,
        inputTokens: 18,
        outputTokens: 2,
        costUsd: usd(18, 2),
        spentUsd: usd(18, 2),
        reservedUsd: 0
      })
    }).pipe(Effect.provide(environment)))

  it.scoped("(b) a call that falls back (step 1 fails, step 2 answers), generate and stream", () =>
    Effect.gen(function*() {
      const { backup, context, primary } = yield* governed(
        [OpenAiMock.error(500), OpenAiMock.error(503)],
        [
          OpenAiMock.completion({ usage: { inputTokens: 18, outputTokens: 4 } }),
          OpenAiMock.stream({ deltas: ["Par", "is"], usage: { inputTokens: 18, outputTokens: 3 } })
        ],
        { cache: { ttl: "1 hour" } }
      )
      const response = yield* generate(context)
      expect(response).toMatchObject({ provider: "backup", costUsd: usd(18, 4) })
      // A stream asked after a generate would be a cache hit: this one asks for an answer of its own.
      const parts = yield* Stream.runCollect(LanguageModel.stream({ ...question, cache: { noCache: true } })).pipe(
        Effect.map(Chunk.toReadonlyArray),
        Effect.provide(context)
      )
      expect(textOf(parts)).toBe("Paris")
      expect(costOfUsagePart(parts)).toBe(usd(18, 3))
      expect([yield* count(primary), yield* count(backup)]).toEqual([2, 2])
      // Two failed attempts (no usage) and two answers: the tokens of the answers only, once each.
      expect(yield* counted(context)).toEqual({
        requests: 4,
        inputTokens: 36,
        outputTokens: 7,
        costUsd: usd(18, 4) + usd(18, 3),
        spentUsd: usd(18, 4) + usd(18, 3),
        reservedUsd: 0
      })
      const summary = yield* LlmMetrics.summary
      expect(summary.byTenant[tenant]).toMatchObject({ failures: 2, fallbacks: 2, unpricedRequests: 0 })
      expect(summary.byProvider["openai"]).toMatchObject({ inputTokens: 0, outputTokens: 0, costUsd: 0 })
    }).pipe(Effect.provide(environment)))

  it.scoped("(c) a cache hit adds no tokens, no cost and no spend, for generate and for a replayed stream", () =>
    Effect.gen(function*() {
      const { context, primary } = yield* governed([
        OpenAiMock.completion({ text: "Paris.", usage: { inputTokens: 18, outputTokens: 3 } })
      ])
      const first = yield* generate(context)
      const before = yield* counted(context)
      expect(before).toEqual({
        requests: 1,
        inputTokens: 18,
        outputTokens: 3,
        costUsd: usd(18, 3),
        spentUsd: usd(18, 3),
        reservedUsd: 0
      })
      const again = yield* generate(context)
      const replayed = yield* streamed(context)
      expect(yield* count(primary)).toBe(1)
      expect(again).toEqual({ ...first, cached: true, costUsd: 0 })
      expect(textOf(replayed)).toBe(ChatResponse.text(first))
      expect(replayed.filter((part) => part.type === "usage").every((part) => part.costUsd === 0)).toBe(true)
      // Two hits: two more requests in the metrics, nothing else.
      expect(yield* counted(context)).toEqual({ ...before, requests: 3 })
      expect((yield* LlmMetrics.summary).byTenant[tenant]?.cacheHits).toBe(2)
    }).pipe(Effect.provide(environment)))

  it.scoped("(d) a stream the provider cuts after some content is charged once for what was received", () =>
    Effect.gen(function*() {
      const deltas = ["Once upon a time, ", "there was ", "a mock that never ", "finished. "]
      // The role chunk and two deltas, then the connection is destroyed.
      const { backup, context, primary } = yield* governed([OpenAiMock.stream({ deltas }, { cutAfter: 3 })])
      const received: Array<StreamPart.StreamPart> = []
      const exit = yield* LanguageModel.stream(question).pipe(
        Stream.runForEach((part) => Effect.sync(() => received.push(part))),
        Effect.provide(context),
        Effect.exit
      )
      expect(failure(exit)).toMatchObject({ _tag: "StreamInterrupted" })
      const text = textOf(received)
      expect(text).toBe(deltas[0]! + deltas[1]!)
      // Committed: no other step is tried.
      expect([yield* count(primary), yield* count(backup)]).toEqual([1, 0])
      const after = yield* counted(context)
      // The budget: the input estimate and the output received (one token per character), once.
      expect(after).toMatchObject({ spentUsd: usd(questionTokens, text.length), reservedUsd: 0 })
      // The metrics: one call, failed; no usage arrived, so no tokens and no cost are invented.
      expect(after).toMatchObject({ requests: 1, inputTokens: 0, outputTokens: 0, costUsd: 0 })
      expect((yield* LlmMetrics.summary).byTenant[tenant]).toMatchObject({ failures: 1, unpricedRequests: 1 })
    }).pipe(Effect.provide(environment)))

  it.scoped("(d) a stream its consumer stops early is charged once for what was received", () =>
    Effect.gen(function*() {
      const deltas = ["Once upon a time, ", "there was ", "a mock that never ", "finished. "]
      // The role chunk and two deltas, then nothing more until the client goes away.
      const events = OpenAiMock.streamEvents({ deltas, model: "gpt-4o-mini" }).slice(0, 3)
      const { context, primary } = yield* governed([MockProvider.sse(events, { done: false, hang: true })])
      const wanted = deltas[0]! + deltas[1]!
      let text = ""
      const exit = yield* LanguageModel.stream(question).pipe(
        Stream.tap((part) => Effect.sync(() => text += part.type === "text-delta" ? part.text : "")),
        Stream.takeUntil(() => text === wanted),
        Stream.runDrain,
        Effect.provide(context),
        Effect.exit
      )
      expect(Exit.isSuccess(exit)).toBe(true)
      yield* primary.awaitClientClose
      expect(yield* count(primary)).toBe(1)
      const after = yield* counted(context)
      expect(after).toMatchObject({ spentUsd: usd(questionTokens, wanted.length), reservedUsd: 0 })
      expect(after).toMatchObject({ requests: 1, inputTokens: 0, outputTokens: 0, costUsd: 0 })
      // Stopped by its consumer: not a failure of the provider.
      expect((yield* LlmMetrics.summary).byTenant[tenant]).toMatchObject({ failures: 0, unpricedRequests: 1 })
    }).pipe(Effect.provide(environment)))
})
