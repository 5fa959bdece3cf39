import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Stream } from "effect"
import * as Cache from "../src/Cache.js"
import * as ChatResponse from "../src/ChatResponse.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import * as Pricing from "../src/Pricing.js"
import * as Retry from "../src/Retry.js"
import * as StreamPart from "../src/StreamPart.js"
import * as TestModel from "../src/testing/TestModel.js"
import { adjustTo, awaitSleepUntil } from "./support/loopback.js"

const ask = (content: string) => LanguageModel.generate({ messages: [{ role: "user", content }] })

describe("TestModel", () => {
  it.effect("answers the script in order and records every request", () =>
    Effect.gen(function*() {
      const model = yield* TestModel.make([
        { text: "one", usage: { inputTokens: 1, outputTokens: 2, totalTokens: 3 } },
        {
          text: "two"
        }
      ])
      const provide = Effect.provideService(LanguageModel.LanguageModel, model.service)
      const first = yield* provide(ask("a"))
      const second = yield* provide(ask("b"))
      expect([ChatResponse.text(first), ChatResponse.text(second)]).toEqual(["one", "two"])
      expect(first.usage).toEqual({ inputTokens: 1, outputTokens: 2, totalTokens: 3 })
      expect(first.provider).toBe("test")
      expect((yield* model.requests).map((request) => request.messages[0]?.content)).toEqual(["a", "b"])
    }))

  it.effect("fails with scripted errors, which Retry retries at TestClock times", () =>
    Effect.gen(function*() {
      const model = yield* TestModel.make([
        new LlmError.RateLimited({ provider: "test", message: "slow down" }),
        { text: "after the retry" }
      ])
      const answer = yield* ask("a").pipe(
        Retry.retry(Retry.policy({ jitter: 0 })),
        Effect.provideService(LanguageModel.LanguageModel, model.service),
        Effect.fork
      )
      yield* awaitSleepUntil(500)
      yield* adjustTo(500)
      const response = yield* answer.await
      expect(Exit.isSuccess(response) && ChatResponse.text(response.value)).toBe("after the retry")
      expect(yield* model.requests).toHaveLength(2)
    }))

  it.effect("an exhausted script is a clear typed error", () =>
    Effect.gen(function*() {
      const exit = yield* ask("a").pipe(Effect.provide(TestModel.layer([])), Effect.exit)
      expect(exit).toMatchObject({ _tag: "Failure", cause: { _tag: "Fail", error: { _tag: "InvalidRequest" } } })
      expect(Exit.isFailure(exit) && String(exit.cause)).toContain("script exhausted")
    }))

  it.effect("a scripted usage no provider could report fails as MalformedResponse, in generate and stream", () =>
    Effect.gen(function*() {
      const impossible = { inputTokens: -1, outputTokens: 2, totalTokens: 1 }
      const model = yield* TestModel.make([
        { text: "a", usage: impossible },
        { text: "b", usage: { inputTokens: 1, outputTokens: 0.5, totalTokens: 1.5 } },
        { text: "c", usage: { inputTokens: 1, outputTokens: 2, totalTokens: 3 } }
      ])
      const provide = Effect.provideService(LanguageModel.LanguageModel, model.service)
      const generated = yield* Effect.flip(provide(ask("a")))
      expect(generated._tag).toBe("MalformedResponse")
      expect(generated.message).toContain("usage.inputTokens is -1")
      const streamed = yield* Effect.flip(Stream.runDrain(
        LanguageModel.stream({ messages: [{ role: "user", content: "b" }] }).pipe(
          Stream.provideService(LanguageModel.LanguageModel, model.service)
        )
      ))
      expect(streamed._tag).toBe("MalformedResponse")
      expect(streamed.message).toContain("usage.outputTokens is 0.5")
      // A usable count still answers.
      expect((yield* provide(ask("c"))).usage?.totalTokens).toBe(3)
    }))

  it.effect("a scripted cost that is no amount, a count that is no number or a missing total fails too", () =>
    Effect.gen(function*() {
      const usage = { inputTokens: 1, outputTokens: 1, totalTokens: 2 }
      const response = (fields: object) =>
        ({
          id: "x",
          provider: "test",
          model: "m",
          content: [{ type: "text" as const, text: "x" }],
          finishReason: "stop" as const,
          usage,
          ...fields
        }) as ChatResponse.ChatResponse
      const replies = [
        response({ costUsd: Number.NaN }),
        response({ costUsd: -1 }),
        response({ costUsd: Number.POSITIVE_INFINITY }),
        response({ usage: { ...usage, inputTokens: "10" } }),
        response({ usage: { inputTokens: 1, outputTokens: 1 } }),
        response({ costUsd: 0 })
      ]
      const model = yield* TestModel.make(replies)
      const provide = Effect.provideService(LanguageModel.LanguageModel, model.service)
      const messages: Array<string> = []
      for (let i = 0; i < 5; i++) {
        const error = yield* Effect.flip(provide(ask("a")))
        expect(error._tag).toBe("MalformedResponse")
        messages.push(error.message)
      }
      expect(messages[0]).toContain("costUsd is NaN, not an amount in USD")
      expect(messages[1]).toContain("costUsd is -1")
      expect(messages[2]).toContain("costUsd is Infinity")
      expect(messages[3]).toContain(`usage.inputTokens is "10", not a token count`)
      expect(messages[4]).toContain("usage.totalTokens is missing")
      // A cost of 0 is an amount.
      expect((yield* provide(ask("a"))).costUsd).toBe(0)
    }))

  it.effect("a scripted reply that is no ChatResponse, or no reply at all, is a clear error", () =>
    Effect.gen(function*() {
      const model = yield* TestModel.make([
        { text: 5 } as unknown as TestModel.Reply,
        { text: "ab", chunks: ["a", 1] } as unknown as TestModel.Reply,
        {
          id: "x",
          provider: "t",
          model: "m",
          content: [],
          finishReason: "stop",
          extra: 1
        } as unknown as TestModel.Reply,
        { id: "x", provider: "t", model: "m", content: [], finishReason: "weird" } as unknown as TestModel.Reply,
        {
          id: "x",
          provider: "t",
          model: "m",
          content: [],
          finishReason: "stop",
          cached: "yes"
        } as unknown as TestModel.Reply,
        {
          id: "x",
          provider: "t",
          model: "m",
          content: [],
          finishReason: "stop",
          usage: null
        } as unknown as TestModel.Reply,
        null as unknown as TestModel.Reply,
        // A function returning a reply itself rather than an Effect of one (JavaScript).
        (() => ({ text: "hi" })) as unknown as TestModel.Reply
      ])
      const provide = Effect.provideService(LanguageModel.LanguageModel, model.service)
      const errors: Array<LlmError.LlmError> = []
      for (let i = 0; i < 8; i++) errors.push(yield* Effect.flip(provide(ask("a"))))
      expect(errors.map((error) => error._tag)).toEqual([
        ...Array.from({ length: 6 }, () => "MalformedResponse"),
        "InvalidRequest",
        "InvalidRequest"
      ])
      expect(errors[0]!.message).toContain("response is no ChatResponse: content.0.text")
      expect(errors[1]!.message).toContain("chunks are not a list of strings")
      expect(errors[2]!.message).toContain("response is no ChatResponse: extra")
      expect(errors[3]!.message).toContain("finishReason")
      expect(errors[4]!.message).toContain("cached")
      expect(errors[5]!.message).toContain("usage")
      expect(errors[6]!.message).toContain("reply 7 of the script is null, not a reply")
      expect(errors[7]!.message).toBe(
        "TestModel: reply 8 of the script is a function that returned {\"text\":\"hi\"}, not an Effect of a " +
          "ChatResponse (e.g. Effect.succeed(response))"
      )
    }))

  it.effect("a function reply sees the request", () =>
    Effect.gen(function*() {
      const response = yield* ask("ping").pipe(
        Effect.provide(TestModel.layer([(request) =>
          Effect.succeed({
            id: "f",
            provider: "test",
            model: request.model ?? "m",
            content: [{ type: "text", text: `echo: ${request.messages[0]?.content}` }],
            finishReason: "stop"
          })]))
      )
      expect(ChatResponse.text(response)).toBe("echo: ping")
    }))

  it.effect("streams its replies as parts that collect back to the response", () =>
    Effect.gen(function*() {
      const reply: ChatResponse.ChatResponse = {
        id: "r1",
        provider: "test",
        model: "test-model",
        content: [{ type: "reasoning", text: "thinking" }, { type: "text", text: "Hi" }, {
          type: "tool-call",
          id: "c1",
          name: "f",
          arguments: { a: 1 },
          rawArguments: "{\"a\":1}"
        }],
        finishReason: "tool-calls",
        usage: { inputTokens: 3, outputTokens: 4, totalTokens: 7 }
      }
      const layer = TestModel.layer([reply])
      const stream = (content: string) => LanguageModel.stream({ messages: [{ role: "user", content }] })
      const collected = yield* StreamPart.collect(stream("a")).pipe(Effect.provide(layer))
      expect(collected).toEqual(reply)
      const parts = yield* stream("b").pipe(
        Stream.runCollect,
        Effect.provide(TestModel.layer([{ text: "Hello world", chunks: ["Hello", " world"] }]))
      )
      expect([...parts].filter((part) => part.type === "text-delta").map((part) => part.text)).toEqual([
        "Hello",
        " world"
      ])
    }))

  it.effect("refuses requests needing a capability it was declared without", () =>
    Effect.gen(function*() {
      const model = yield* TestModel.make([{ text: "unused" }], { capabilities: { tools: false } })
      const exit = yield* LanguageModel.generate({
        messages: [{ role: "user", content: "hi" }],
        tools: [{ name: "f", parameters: {} }]
      }).pipe(Effect.provideService(LanguageModel.LanguageModel, model.service), Effect.exit)
      expect(exit).toMatchObject({ _tag: "Failure", cause: { error: { _tag: "InvalidRequest" } } })
      expect(Exit.isFailure(exit) && String(exit.cause)).toContain("does not support tools")
      expect(yield* model.requests).toHaveLength(0)
    }))

  it.effect("validates requests like any provider", () =>
    Effect.gen(function*() {
      const model = yield* TestModel.make([{ text: "unused" }])
      const exit = yield* LanguageModel.generate({ messages: [] }).pipe(
        Effect.provideService(LanguageModel.LanguageModel, model.service),
        Effect.exit
      )
      expect(Exit.isFailure(exit)).toBe(true)
      expect(yield* model.requests).toHaveLength(0)
    }))
})

describe("TestModel: as a provider layer behaves", () => {
  const usage = { inputTokens: 3, outputTokens: 2, totalTokens: 5 }
  // 1 USD per input token, 2 per output token: 3 + 4 = 7 USD per call.
  const prices = Pricing.layer({ models: { "test/priced": { inputPerMillion: 1e6, outputPerMillion: 2e6 } } })
  const request = { model: "priced", messages: [{ role: "user" as const, content: "hi" }] }

  it.effect("prices responses and usage parts with the current Pricing, at its provider, for the requested model", () =>
    Effect.gen(function*() {
      const model = yield* TestModel.make([{ text: "a", usage }, { text: "b", usage }, { text: "c" }])
      const provide = Effect.provideService(LanguageModel.LanguageModel, model.service)
      expect((yield* provide(LanguageModel.generate(request))).costUsd).toBe(7)
      const parts = yield* Stream.runCollect(
        LanguageModel.stream(request).pipe(Stream.provideService(LanguageModel.LanguageModel, model.service))
      )
      expect([...parts].filter((part) => part.type === "usage")).toEqual([{ type: "usage", usage, costUsd: 7 }])
      // No usage, no cost (never a silent 0)
      expect((yield* provide(LanguageModel.generate(request))).costUsd).toBeUndefined()
    }).pipe(Effect.provide(prices)))

  it.effect("streams one part per chunk, so a consumer that stops early stops the answer there", () =>
    Effect.gen(function*() {
      const model = yield* TestModel.make([{ text: "ab", chunks: ["a", "b"], usage }, { text: "again" }])
      const store = yield* Cache.makeMemoryStore()
      const cached = Cache.layer(Layer.succeed(LanguageModel.LanguageModel, model.service), { store })
      const stream = LanguageModel.stream(request).pipe(Stream.provideLayer(cached))
      const chunks = yield* Stream.runCollect(Stream.chunks(
        LanguageModel.stream(request).pipe(
          Stream.provideService(
            LanguageModel.LanguageModel,
            (yield* TestModel.make([{ text: "xy", chunks: ["x", "y"] }])).service
          )
        )
      ))
      expect([...chunks].map((chunk) => chunk.length)).toEqual([1, 1, 1, 1])
      // Two parts taken: the answer was not complete, so the cache keeps nothing and the next call reaches the model.
      yield* Stream.runDrain(Stream.take(stream, 2))
      const again = yield* LanguageModel.generate(request).pipe(Effect.provide(cached))
      expect(ChatResponse.text(again)).toBe("again")
      expect(yield* model.requests).toHaveLength(2)
    }).pipe(Effect.provide(prices)))
})
