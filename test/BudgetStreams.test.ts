import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Layer, Stream } from "effect"
import * as Budget from "../src/Budget.js"
import * as ChatRequest from "../src/ChatRequest.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import * as Retry from "../src/Retry.js"
import type * as StreamPart from "../src/StreamPart.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { inputTokens, makeBudget, usd } from "./support/budget.js"
import { describeStores } from "./support/budgetStores.js"
import { openAiLayer } from "./support/loopback.js"
import { ask, count, failure, runTo, scripted } from "./support/resilience.js"

const usage = (input: number, output: number) => ({
  inputTokens: input,
  outputTokens: output,
  totalTokens: input + output
})

const limit = { defaultLimit: { limitUsd: 1000, period: "day" as const } }

const request = ChatRequest.decode({ ...ask("hi"), maxTokens: 5 }).pipe(Effect.orDie)

/** A model whose stream plays `parts` one chunk each, then fails with `error` when given. */
const playing = (parts: ReadonlyArray<StreamPart.StreamPart>, error?: LlmError.LlmError) =>
  LanguageModel.make({
    provider: "test",
    defaultModel: "m",
    generate: () => Effect.die("unused"),
    stream: () => {
      const played = Stream.rechunk(Stream.fromIterable(parts), 1)
      return error === undefined ? played : Stream.concat(played, Stream.fail(error))
    }
  })

const interrupted = new LlmError.StreamInterrupted({
  provider: "test",
  causeTag: "NetworkError",
  partial: { text: "abcd", reasoning: "", toolCalls: [] },
  message: "cut"
})

describeStores("Budget streams", (env) => {
  describe("Budget: streams", () => {
    it.effect("reconciles at the end from the usage part", () =>
      Effect.gen(function*() {
        const budget = yield* makeBudget(limit)
        const model = yield* scripted([{ text: "abc", chunks: ["a", "bc"], usage: usage(10, 2) }], { model: "m" })
        const parts = yield* Stream.runCollect(budget.wrap(model.service).stream(yield* request))
        expect(Chunk.size(parts)).toBe(5)
        expect(yield* budget.status("default")).toMatchObject({ spentUsd: usd(10, 2), reservedUsd: 0 })
      }).pipe(Effect.provide(env())))

    it.effect("holds the estimate while the stream runs", () =>
      Effect.gen(function*() {
        const budget = yield* makeBudget(limit)
        const model = yield* scripted([{ text: "abc", usage: usage(10, 2) }], { model: "m" })
        const during = yield* budget.wrap(model.service).stream(yield* request).pipe(
          Stream.take(1),
          Stream.mapEffect(() => budget.status("default")),
          Stream.runCollect
        )
        expect(Chunk.toArray(during)).toMatchObject([{ spentUsd: 0, reservedUsd: usd(10, 5) }])
      }).pipe(Effect.provide(env())))

    it.effect("a stream its consumer stops early is charged once for the text received", () =>
      Effect.gen(function*() {
        const budget = yield* makeBudget(limit)
        const model = playing([
          { type: "response-metadata", provider: "test", model: "m" },
          { type: "text-delta", text: "ab" },
          { type: "text-delta", text: "cd" },
          { type: "text-delta", text: "ef" },
          { type: "usage", usage: usage(10, 3) },
          { type: "finish", finishReason: "stop" }
        ])
        // response metadata and two deltas: "abcd", 4 tokens
        yield* Stream.runDrain(Stream.take(budget.wrap(model).stream(yield* request), 3))
        expect(yield* budget.status("default")).toMatchObject({ spentUsd: usd(inputTokens, 4), reservedUsd: 0 })
      }).pipe(Effect.provide(env())))

    it.effect("a stream interrupted after content is charged once for the text received", () =>
      Effect.gen(function*() {
        const budget = yield* makeBudget(limit)
        const model = playing([
          { type: "response-metadata", provider: "test", model: "m" },
          { type: "text-delta", text: "ab" },
          { type: "tool-call-start", id: "1", name: "f" },
          { type: "tool-call-delta", id: "1", argumentsDelta: "{}" }
        ], interrupted)
        const exit = yield* Effect.exit(Stream.runDrain(budget.wrap(model).stream(yield* request)))
        expect(failure(exit)._tag).toBe("StreamInterrupted")
        // "ab" + "f" + "{}": 5 tokens
        expect(yield* budget.status("default")).toMatchObject({ spentUsd: usd(inputTokens, 5), reservedUsd: 0 })
      }).pipe(Effect.provide(env())))

    it.effect("a stream that stopped early after an early usage is charged the larger of the two", () =>
      Effect.gen(function*() {
        const budget = yield* makeBudget(limit)
        const model = playing([
          { type: "usage", usage: usage(10, 1) },
          { type: "text-delta", text: "abc" }
        ], interrupted)
        yield* Effect.exit(Stream.runDrain(budget.wrap(model).stream(yield* request)))
        expect(yield* budget.status("default")).toMatchObject({ spentUsd: usd(inputTokens, 3), reservedUsd: 0 })
      }).pipe(Effect.provide(env())))

    it.effect("a stream that fails before any content is released", () =>
      Effect.gen(function*() {
        const budget = yield* makeBudget(limit)
        const model = playing([{ type: "response-metadata", provider: "test" }], interrupted)
        yield* Effect.exit(Stream.runDrain(budget.wrap(model).stream(yield* request)))
        expect(yield* budget.status("default")).toMatchObject({ spentUsd: 0, reservedUsd: 0 })
      }).pipe(Effect.provide(env())))

    it.effect("a stream whose consumer fails after the finish is charged its usage, once", () =>
      Effect.gen(function*() {
        const budget = yield* makeBudget(limit)
        const model = yield* scripted([{ text: "abc", usage: usage(10, 2) }], { model: "m" })
        const exit = yield* budget.wrap(model.service).stream(yield* request).pipe(
          Stream.runForEach((part) => part.type === "finish" ? Effect.fail("consumer") : Effect.void),
          Effect.exit
        )
        expect(Exit.isFailure(exit)).toBe(true)
        expect(yield* budget.status("default")).toMatchObject({ spentUsd: usd(10, 2), reservedUsd: 0 })
      }).pipe(Effect.provide(env())))

    it.effect("a refused stream never reaches the provider", () =>
      Effect.gen(function*() {
        // 20 USD of estimate: the first call fits in 30, the second not beside the 16 it spent.
        const budget = yield* makeBudget({ defaultLimit: { limitUsd: 30, period: "day" } })
        const model = yield* scripted([{ text: "abc", usage: usage(10, 3) }, { text: "never" }], { model: "m" })
        yield* Stream.runDrain(budget.wrap(model.service).stream(yield* request))
        const exit = yield* Effect.exit(Stream.runDrain(budget.wrap(model.service).stream(yield* request)))
        expect(failure(exit)._tag).toBe("BudgetExceeded")
        expect(yield* model.calls).toBe(1)
      }).pipe(Effect.provide(env())))

    it.effect("a stream whose estimate passes the whole budget is refused as too costly, whatever is spent", () =>
      Effect.gen(function*() {
        const budget = yield* makeBudget({ defaultLimit: { limitUsd: 1, period: "day" } })
        const model = yield* scripted([{ text: "abc" }], { model: "m" })
        const exit = yield* Effect.exit(Stream.runDrain(budget.wrap(model.service).stream(yield* request)))
        expect(failure(exit)).toMatchObject({ _tag: "CostLimitExceeded", limitUsd: 1, estimatedUsd: usd(10, 5) })
        expect(failure(exit).message).toContain("passes tenant \"default\"'s whole budget of")
        expect(yield* model.calls).toBe(0)
      }).pipe(Effect.provide(env())))
  })

  describe("Budget: over HTTP", () => {
    const options = (server: MockProvider.MockProvider, budget: Budget.Options) =>
      Budget.layer(openAiLayer(server, { retry: Retry.policy({ jitter: 0 }) }), budget).pipe(Layer.orDie)

    it.scoped("a call retried by the provider layer (500, then 200) is charged once", () =>
      Effect.gen(function*() {
        const server = yield* MockProvider.make({
          script: [OpenAiMock.error(500), OpenAiMock.completion({ usage: { inputTokens: 12, outputTokens: 3 } })]
        })
        const spent = yield* runTo(
          Effect.gen(function*() {
            yield* LanguageModel.generate({ ...ask("hi"), maxTokens: 5 })
            return yield* Budget.status("default")
          }).pipe(Effect.provide(options(server, limit))),
          [500]
        )
        expect(yield* count(server)).toBe(2)
        expect(Exit.isSuccess(spent) && spent.value).toMatchObject({ spentUsd: usd(12, 3), reservedUsd: 0 })
      }).pipe(Effect.provide(env())))

    it.scoped("a stream over HTTP is reconciled from its priced usage part", () =>
      Effect.gen(function*() {
        const server = yield* MockProvider.make({
          script: [OpenAiMock.stream({ deltas: ["a", "b"], usage: { inputTokens: 9, outputTokens: 2 } })]
        })
        const spent = yield* Effect.gen(function*() {
          yield* Stream.runDrain(LanguageModel.stream({ ...ask("hi"), maxTokens: 5 }))
          return yield* Budget.spent("default")
        }).pipe(Effect.provide(options(server, limit)))
        expect(spent).toBe(usd(9, 2))
      }).pipe(Effect.provide(env())))

    it.scoped("the cost guard refuses before any network call", () =>
      Effect.gen(function*() {
        const server = yield* MockProvider.make({ script: [OpenAiMock.completion()] })
        const exit = yield* LanguageModel.generate({ ...ask("hi"), maxTokens: 5 }).pipe(
          Effect.provide(options(server, { maxRequestCostUsd: 1 })),
          Effect.exit
        )
        expect(failure(exit)).toMatchObject({ _tag: "CostLimitExceeded", limitUsd: 1, estimatedUsd: usd(10, 5) })
        expect(yield* count(server)).toBe(0)
      }).pipe(Effect.provide(env())))
  })
})
