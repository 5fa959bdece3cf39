import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Schema, Stream } from "effect"
import * as ChatResponse from "../src/ChatResponse.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import * as StreamPart from "../src/StreamPart.js"
import * as AnthropicMock from "../src/testing/AnthropicMock.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { failure, type LayerOf, openAiLayer } from "./support/loopback.js"
import { anthropic as anthropicLayer } from "./support/providers.js"

const question = { messages: [{ role: "user" as const, content: "How do I pick a lock?" }] }

const City = Schema.Struct({ name: Schema.String })

const sorry = "I'm sorry, I can't help with that."

/** Runs `program` against a mock server scripted with `script`. */
const against = <A>(
  layerOf: LayerOf,
  script: ReadonlyArray<MockProvider.Reply>,
  program: Effect.Effect<A, LlmError.LlmError, LanguageModel.LanguageModel>
) =>
  Effect.gen(function*() {
    const server = yield* MockProvider.make({ script })
    return yield* Effect.exit(program.pipe(Effect.provide(layerOf(server))))
  })

const objectExit = (layerOf: LayerOf, reply: MockProvider.Reply) =>
  against(layerOf, [reply], LanguageModel.generateObject({ ...question, schema: City }))

const streamedParts = (layerOf: LayerOf, reply: MockProvider.Reply) =>
  Effect.map(
    against(layerOf, [reply], Stream.runCollect(LanguageModel.stream(question))),
    (exit) => Exit.map(exit, Chunk.toReadonlyArray)
  )

const collected = (parts: ReadonlyArray<StreamPart.StreamPart>) => {
  const accumulator = new StreamPart.Accumulator()
  for (const part of parts) accumulator.add(part)
  return accumulator.done()
}

/** Anthropic's refusal: no content block, `stop_reason: "refusal"` and its `stop_details`. */
const explanation = "This request was blocked as it seems to violate the usage policy."
const stopDetails = { type: "refusal", category: "cyber", explanation }

describe("refusals", () => {
  it.scoped("OpenAI: generateObject of a refused answer is ContentFiltered carrying the refusal", () =>
    Effect.gen(function*() {
      const exit = yield* objectExit(openAiLayer, OpenAiMock.completion({ text: null, refusal: sorry }))
      const error = failure(exit)
      expect(error).toBeInstanceOf(LlmError.ContentFiltered)
      expect(error).toMatchObject({ _tag: "ContentFiltered", provider: "openai", refusal: sorry, body: sorry })
      expect(error.message).toBe(`openai: the model refused: ${sorry}`)
      expect(LlmError.isRetryable(error)).toBe(false)
    }))

  it.scoped("OpenAI: a streamed refusal arrives as refusal deltas and collects to what a whole answer has", () =>
    Effect.gen(function*() {
      const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
        id: "chatcmpl-refusal",
        model: "gpt-4o-mini",
        choices: [{ index: 0, delta, finish_reason: finish }]
      })
      const parts = yield* streamedParts(
        openAiLayer,
        MockProvider.sse([
          chunk({ role: "assistant", content: null, refusal: "" }),
          chunk({ refusal: "I'm sorry, " }),
          chunk({ refusal: "I can't help with that." }),
          chunk({}, "stop")
        ])
      )
      const received = Exit.isSuccess(parts) ? parts.value : []
      expect(received.filter((part) => part.type === "refusal-delta").map((part) => part.type)).toEqual([
        "refusal-delta",
        "refusal-delta"
      ])
      const whole = yield* against(
        openAiLayer,
        [OpenAiMock.completion({ text: null, refusal: sorry })],
        LanguageModel.generate(question)
      )
      expect(Exit.isSuccess(whole)).toBe(true)
      expect(collected(received).content).toEqual(Exit.isSuccess(whole) ? whole.value.content : undefined)
      expect(ChatResponse.refusal(collected(received))).toBe(sorry)
    }))

  it.scoped("OpenAI: an empty refusal field is no refusal", () =>
    Effect.gen(function*() {
      const exit = yield* against(
        openAiLayer,
        [OpenAiMock.completion({ text: "{\"name\":\"Paris\"}", refusal: "" })],
        LanguageModel.generateObject({ ...question, schema: City })
      )
      expect(Exit.isSuccess(exit)).toBe(true)
      if (Exit.isSuccess(exit)) {
        expect(exit.value.value).toEqual({ name: "Paris" })
        expect(ChatResponse.refusal(exit.value.response)).toBeUndefined()
      }
    }))

  it.scoped("OpenAI: an answer cut by the content filter is ContentFiltered, not a JSON error", () =>
    Effect.gen(function*() {
      const exit = yield* objectExit(
        openAiLayer,
        OpenAiMock.completion({ text: "{\"name\":\"Par", finishReason: "content_filter" })
      )
      const error = failure(exit)
      expect(error._tag).toBe("ContentFiltered")
      expect(error).not.toHaveProperty("refusal")
      expect(error.message).toContain("content_filter")
      expect(error.body).toBe("{\"name\":\"Par")
    }))

  it.scoped("Anthropic: a refusal's explanation is the response's refusal, whole and streamed", () =>
    Effect.gen(function*() {
      const whole = yield* against(
        anthropicLayer,
        [MockProvider.json({
          ...AnthropicMock.messageBody({ content: [], stopReason: "refusal" }),
          stop_details: stopDetails
        })],
        LanguageModel.generate(question)
      )
      expect(Exit.isSuccess(whole)).toBe(true)
      const response = Exit.isSuccess(whole) ? whole.value : undefined
      expect(response?.content).toEqual([{ type: "refusal", text: explanation }])
      expect(response?.finishReason).toBe("content-filter")
      expect(response?.providerMetadata?.stopDetails).toEqual(stopDetails)

      const [start, ping] = AnthropicMock.streamFrames({ deltas: [] })
      const parts = yield* streamedParts(
        anthropicLayer,
        MockProvider.stream([
          start!,
          ping!,
          AnthropicMock.frame({
            type: "message_delta",
            delta: { stop_reason: "refusal", stop_sequence: null, stop_details: stopDetails },
            usage: { output_tokens: 0 }
          }),
          AnthropicMock.frame({ type: "message_stop" })
        ])
      )
      expect(Exit.isSuccess(parts)).toBe(true)
      const received = Exit.isSuccess(parts) ? parts.value : []
      expect(received.filter((part) => part.type === "refusal-delta")).toEqual([
        { type: "refusal-delta", text: explanation }
      ])
      expect(collected(received).content).toEqual(response?.content)
    }))

  it.scoped("Anthropic: generateObject of a refusal is ContentFiltered with the explanation, or without one", () =>
    Effect.gen(function*() {
      const explained = failure(
        yield* objectExit(
          anthropicLayer,
          MockProvider.json({
            ...AnthropicMock.messageBody({ content: [], stopReason: "refusal" }),
            stop_details: stopDetails
          })
        )
      )
      expect(explained).toMatchObject({ _tag: "ContentFiltered", provider: "anthropic", refusal: explanation })
      const bare = failure(
        yield* objectExit(anthropicLayer, AnthropicMock.message({ content: [], stopReason: "refusal" }))
      )
      expect(bare._tag).toBe("ContentFiltered")
      expect(bare).not.toHaveProperty("refusal")
    }))
})
