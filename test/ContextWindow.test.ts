import { describe, expect, it } from "@effect/vitest"
import { ConfigError, Effect, Exit, Layer, Stream } from "effect"
import type * as ChatRequest from "../src/ChatRequest.js"
import * as ContextWindow from "../src/ContextWindow.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import * as Pricing from "../src/Pricing.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import * as TestModel from "../src/testing/TestModel.js"
import * as Tokenizer from "../src/Tokenizer.js"
import { failure, openAiLayer, textOf } from "./support/loopback.js"

// One token per 3 characters: counts a reader can check by hand.
const withCharCounts = Effect.provideService(Tokenizer.Tokenizer, Tokenizer.charEstimate)
const count = (messages: ReadonlyArray<ChatRequest.Message>, extra: Partial<ChatRequest.ChatRequest> = {}) =>
  Tokenizer.charEstimate.countRequest({ messages, ...extra })

const system = { role: "system", content: "You are terse. ".repeat(4) } as const
const user = (text: string) => ({ role: "user", content: text.repeat(30) }) as const
const assistant = (text: string) => ({ role: "assistant", content: text.repeat(30) }) as const
const toolCall = (id: string) =>
  ({ role: "assistant", content: [{ type: "tool-call", id, name: "lookup", arguments: { q: id } }] }) as const
const toolResult = (id: string, size = 30) =>
  ({ role: "tool", content: [{ type: "tool-result", toolCallId: id, result: "r".repeat(size) }] }) as const

const history: ReadonlyArray<ChatRequest.Message> = [
  system,
  user("a"),
  assistant("b"),
  user("c"),
  assistant("d"),
  user("e"),
  assistant("f"),
  user("latest ")
]

const request = (messages: ReadonlyArray<ChatRequest.Message>, extra: Partial<ChatRequest.ChatRequest> = {}) => ({
  messages,
  ...extra
})

describe("ContextWindow.trim", () => {
  it.effect("passes a request that fits unchanged: the same object", () =>
    Effect.gen(function*() {
      const original = request(history)
      const trimmed = yield* ContextWindow.trim(original, { maxInputTokens: count(history) })
      expect(trimmed).toBe(original)
    }).pipe(withCharCounts))

  it.effect("drops the oldest turns first and keeps every system message, taking the most that fits", () =>
    Effect.gen(function*() {
      const kept = [system, user("e"), assistant("f"), user("latest ")]
      const budget = count(kept)
      // one more turn would not fit: the cut is the latest one possible
      expect(count([system, user("c"), assistant("d"), ...kept.slice(1)])).toBeGreaterThan(budget)
      const trimmed = yield* ContextWindow.trim(request(history), { maxInputTokens: budget })
      expect(trimmed.messages).toEqual(kept)

      const middleSystem = [user("a"), assistant("b"), system, user("c"), user("latest ")]
      const fewer = yield* ContextWindow.trim(request(middleSystem), {
        maxInputTokens: count([system, user("latest ")])
      })
      expect(fewer.messages).toEqual([system, user("latest ")])
    }).pipe(withCharCounts))

  it.effect("never separates a tool call from its results, even where a cut by tokens alone would", () =>
    Effect.gen(function*() {
      const messages = [
        system,
        user("a"),
        toolCall("call_1"),
        toolResult("call_1", 300),
        assistant("b"),
        user("latest ")
      ]
      // Room for the result and what follows, but not for the call: dropping messages one by one would keep
      // the result without its call. The whole turn goes instead.
      const budget = count([system, toolResult("call_1", 300), assistant("b"), user("latest ")])
      expect(count(messages)).toBeGreaterThan(budget)
      const trimmed = yield* ContextWindow.trim(request(messages), { maxInputTokens: budget })
      expect(trimmed.messages).toEqual([system, user("latest ")])

      // A result given after a later user message still goes with its call: no cut between them.
      const across = [system, user("a"), toolCall("call_2"), user("c"), toolResult("call_2"), user("latest ")]
      const cutBetween = [system, user("c"), toolResult("call_2"), user("latest ")]
      const both = yield* ContextWindow.trim(request(across), { maxInputTokens: count(cutBetween) })
      expect(both.messages).toEqual([system, user("latest ")])
    }).pipe(withCharCounts))

  it.effect("keeps the latest user turn with everything after it", () =>
    Effect.gen(function*() {
      const agentLoop = [system, user("a"), assistant("b"), user("go "), toolCall("c1"), toolResult("c1")]
      const kept = agentLoop.slice(3)
      const trimmed = yield* ContextWindow.trim(request(agentLoop), { maxInputTokens: count([system, ...kept]) })
      expect(trimmed.messages).toEqual([system, ...kept])
    }).pipe(withCharCounts))

  it.effect("leaves room for the output: the request's maxTokens, else the option", () =>
    Effect.gen(function*() {
      const window = count(history)
      const full = yield* ContextWindow.trim(request(history), { contextWindow: window })
      expect(full.messages).toHaveLength(history.length)

      const kept = [system, user("e"), assistant("f"), user("latest ")]
      const room = window - count(kept, { maxTokens: 1 })
      const withMax = yield* ContextWindow.trim(request(history, { maxTokens: room }), { contextWindow: window })
      expect(withMax.messages).toEqual(kept)

      const withOption = yield* ContextWindow.trim(request(history), { contextWindow: window, maxOutputTokens: room })
      expect(withOption.messages).toEqual(kept)
      // the request's own maxTokens wins over the option
      const small = yield* ContextWindow.trim(request(history, { maxTokens: 1 }), {
        contextWindow: window + 1,
        maxOutputTokens: room
      })
      expect(small.messages).toHaveLength(history.length)
    }).pipe(withCharCounts))

  it.effect("takes the window and the output room from Pricing, and passes unchanged without a window", () =>
    Effect.gen(function*() {
      const kept = [system, user("e"), assistant("f"), user("latest ")]
      const window = count(kept, { model: "tiny" }) + 50
      const prices = Pricing.layer({
        models: { "tiny": { inputPerMillion: 1, outputPerMillion: 1, contextWindow: window, maxOutputTokens: 50 } }
      })
      const trimmed = yield* ContextWindow.trim(request(history, { model: "tiny" })).pipe(Effect.provide(prices))
      expect(trimmed.messages).toEqual(kept)

      const unknown = request(history, { model: "no-such-model" })
      expect(yield* ContextWindow.trim(unknown, { provider: "openai" })).toBe(unknown)
    }).pipe(withCharCounts))

  it.effect("fails with ContextLengthExceeded and the counts when the kept minimum does not fit", () =>
    Effect.gen(function*() {
      const minimum = count([system, user("latest ")])
      const error = failure(
        yield* Effect.exit(ContextWindow.trim(request(history, { model: "m" }), {
          provider: "p",
          contextWindow: minimum + 9,
          maxOutputTokens: 10
        }))
      )
      expect(error).toBeInstanceOf(LlmError.ContextLengthExceeded)
      expect(error).toMatchObject({ provider: "p", model: "m" })
      expect(error.message).toContain(`needs ${minimum} input tokens`)
      expect(error.message).toContain(`(${count(history)} in all)`)
      expect(error.message).toContain(`${minimum - 1} are available (context window ${minimum + 9} - 10 output`)
    }).pipe(withCharCounts))

  it.effect("refuses bad options with InvalidRequest", () =>
    Effect.gen(function*() {
      const error = failure(yield* Effect.exit(ContextWindow.trim(request(history), { maxInputTokens: -5 })))
      expect(error).toBeInstanceOf(LlmError.InvalidRequest)
      expect(error.message).toContain("maxInputTokens must be a positive integer (tokens), got -5")
    }))
})

describe("ContextWindow: an output bound beyond the window", () => {
  it.effect("maxTokens at or above the window is refused as such, not as an input that does not fit", () =>
    Effect.gen(function*() {
      const refused = yield* Effect.flip(
        ContextWindow.trim(request([user("hi")], { maxTokens: 100_000_000 }), { contextWindow: 128_000 })
      )
      expect(refused).toMatchObject({
        _tag: "ContextLengthExceeded",
        message: "ContextWindow: the request asks for up to 100000000 output tokens (maxTokens), which leaves no " +
          "room for its input in the context window of 128000 tokens"
      })
      // Below the window, the input is trimmed to what is left as before.
      const kept = yield* ContextWindow.trim(request([user("hi")], { maxTokens: 100 }), { contextWindow: 128_000 })
      expect(kept.messages).toHaveLength(1)
    }).pipe(withCharCounts))
})

describe("ContextWindow.layer", () => {
  it.effect("trims every generate and stream before the call, with the provider's default model", () =>
    Effect.gen(function*() {
      const model = yield* TestModel.make([{ text: "one" }, { text: "two", chunks: ["t", "wo"] }], { model: "tiny" })
      const kept = [system, user("e"), assistant("f"), user("latest ")]
      const prices = Pricing.layer({
        models: { "test/tiny": { inputPerMillion: 1, outputPerMillion: 1, contextWindow: count(kept) + 7 } }
      })
      const layer = ContextWindow.layer(Layer.succeed(LanguageModel.LanguageModel, model.service), {
        maxOutputTokens: 7
      })
      // Pricing and Tokenizer are read at call time, as the provider layers read them.
      yield* LanguageModel.generate(request(history)).pipe(Effect.provide(layer), Effect.provide(prices))
      const parts = yield* LanguageModel.stream(request(history)).pipe(
        Stream.runCollect,
        Effect.provide(layer),
        Effect.provide(prices)
      )
      expect(textOf([...parts])).toBe("two")
      const seen = yield* model.requests
      expect(seen.map((request) => request.messages)).toEqual([kept, kept])
    }).pipe(withCharCounts))

  it.effect("checks its options when it is built", () =>
    Effect.gen(function*() {
      const inner = TestModel.layer([])
      for (
        const [options, message] of [
          [{ maxInputTokens: 0 }, "maxInputTokens must be a positive integer (tokens), got 0"],
          [{ contextWindow: 1.5 }, "contextWindow must be a positive integer (tokens), got 1.5"],
          [{ maxOutputTokens: Number.NaN }, "maxOutputTokens must be a positive integer (tokens), got NaN"],
          [{ maxInputTokens: "100" as never }, "maxInputTokens must be a positive integer (tokens), got \"100\""],
          [{ contextWindow: 100, maxOutputTokens: 100 }, "maxOutputTokens (100) must be smaller than contextWindow"],
          [{ maxInputToken: 100 } as ContextWindow.Options, "unknown option \"maxInputToken\""]
        ] as const
      ) {
        const exit = yield* Layer.build(ContextWindow.layer(inner, options)).pipe(Effect.scoped, Effect.exit)
        expect(Exit.isFailure(exit)).toBe(true)
        if (Exit.isFailure(exit) && exit.cause._tag === "Fail") {
          expect(ConfigError.isConfigError(exit.cause.error)).toBe(true)
          expect(String(exit.cause.error)).toContain(`ContextWindow.layer: ${message}`)
        } else {
          expect.fail(`expected a ConfigError for ${JSON.stringify(options)}`)
        }
      }
    }))
})

describe("ContextWindow.layer over HTTP", () => {
  const long = [system, user("a"), assistant("b"), user("Capital of France? ")]

  it.scoped("sends the trimmed history, counted with gpt-4o-mini's own tokenizer", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [OpenAiMock.completion({ text: "Paris" })] })
      const kept = [system, user("Capital of France? ")]
      const budget = Tokenizer.byModel.countRequest({ model: "gpt-4o-mini", messages: kept })
      const layer = ContextWindow.layer(openAiLayer(server, { retry: false }), { maxInputTokens: budget })
      yield* LanguageModel.generate(request(long)).pipe(Effect.provide(layer))
      const [sent] = yield* server.requests
      expect((sent!.body as { messages: ReadonlyArray<unknown> }).messages).toEqual(kept)
    }))

  it.scoped("fails before any network call when even the kept minimum does not fit", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [OpenAiMock.completion(), OpenAiMock.stream()] })
      const layer = ContextWindow.layer(openAiLayer(server, { retry: false }), { maxInputTokens: 20 })
      const generated = failure(yield* Effect.exit(LanguageModel.generate(request(long)).pipe(Effect.provide(layer))))
      const streamed = failure(
        yield* Effect.exit(LanguageModel.stream(request(long)).pipe(Stream.runDrain, Effect.provide(layer)))
      )
      expect(generated).toMatchObject({ _tag: "ContextLengthExceeded", provider: "openai", model: "gpt-4o-mini" })
      expect(streamed._tag).toBe("ContextLengthExceeded")
      expect(yield* server.requests).toHaveLength(0)
    }))
})
