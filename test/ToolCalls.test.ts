import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import * as ChatResponse from "../src/ChatResponse.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as StreamPart from "../src/StreamPart.js"
import * as AnthropicMock from "../src/testing/AnthropicMock.js"
import * as CohereMock from "../src/testing/CohereMock.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { type LayerOf, openAiLayer } from "./support/loopback.js"
import { cohere as cohereLayer } from "./support/providers.js"
import { anthropic as anthropicLayer } from "./support/providers.js"

const question = { messages: [{ role: "user" as const, content: "Read both files" }] }

/** An OpenAI `chat.completion.chunk` with one choice. */
const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
  id: "chatcmpl-tools",
  object: "chat.completion.chunk",
  created: 0,
  model: "llama3.1",
  choices: [{ index: 0, delta, finish_reason: finish }]
})

/** The parts a stream delivers over loopback, and the response they collect to. */
const streamed = (layerOf: LayerOf, reply: MockProvider.Reply) =>
  Effect.gen(function*() {
    const server = yield* MockProvider.make({ script: [reply] })
    const parts = Chunk.toReadonlyArray(
      yield* Stream.runCollect(LanguageModel.stream(question)).pipe(Effect.provide(layerOf(server)))
    )
    const accumulator = new StreamPart.Accumulator()
    for (const part of parts) accumulator.add(part)
    return { parts, response: accumulator.done() }
  })

/** The response of one `generate` over loopback. */
const generated = (layerOf: LayerOf, reply: MockProvider.Reply) =>
  Effect.gen(function*() {
    const server = yield* MockProvider.make({ script: [reply] })
    return yield* LanguageModel.generate(question).pipe(Effect.provide(layerOf(server)))
  })

const calls = (response: ChatResponse.ChatResponse) =>
  ChatResponse.toolCalls(response).map(({ arguments: args, id, name, rawArguments }) => ({
    id,
    name,
    arguments: args,
    rawArguments
  }))

const readA = { id: "call_aa11", name: "read_file", arguments: { path: "a.rs" }, rawArguments: "{\"path\":\"a.rs\"}" }
const readB = { id: "call_bb22", name: "read_file", arguments: { path: "b.rs" }, rawArguments: "{\"path\":\"b.rs\"}" }

const finishOf = (parts: ReadonlyArray<StreamPart.StreamPart>) => parts.find((part) => part.type === "finish")

describe("parallel tool calls in streams", () => {
  it.scoped("OpenAI-compatible: a new id at an index already in use starts a new call", () =>
    Effect.gen(function*() {
      const { parts, response } = yield* streamed(
        openAiLayer,
        MockProvider.sse([
          chunk({ role: "assistant", content: "" }),
          chunk({
            tool_calls: [{
              index: 0,
              id: "call_aa11",
              type: "function",
              function: { name: "read_file", arguments: "" }
            }]
          }),
          chunk({ tool_calls: [{ index: 0, function: { arguments: "{\"path\":" } }] }),
          chunk({ tool_calls: [{ index: 0, function: { arguments: "\"a.rs\"}" } }] }),
          chunk({
            tool_calls: [{
              index: 0,
              id: "call_bb22",
              type: "function",
              function: { name: "read_file", arguments: "{\"path\":\"b.rs\"}" }
            }]
          }),
          chunk({}, "tool_calls")
        ])
      )
      expect(calls(response)).toEqual([readA, readB])
      expect(parts.filter((part) => part.type === "tool-call-start").map((part) => part.id)).toEqual([
        "call_aa11",
        "call_bb22"
      ])
      expect(response.finishReason).toBe("tool-calls")
    }))

  it.scoped("OpenAI-compatible: without any index, an id starts a call and pieces without one continue it", () =>
    Effect.gen(function*() {
      const { response } = yield* streamed(
        openAiLayer,
        MockProvider.sse([
          chunk({ tool_calls: [{ id: "call_aa11", function: { name: "read_file", arguments: "{\"path\"" } }] }),
          chunk({ tool_calls: [{ function: { arguments: ":\"a.rs\"}" } }] }),
          chunk({ tool_calls: [{ id: "call_bb22", function: { name: "read_file", arguments: "{\"path\":" } }] }),
          chunk({ tool_calls: [{ function: { arguments: "\"b.rs\"}" } }] }),
          chunk({}, "tool_calls")
        ])
      )
      expect(calls(response)).toEqual([readA, readB])
    }))

  it.scoped("OpenAI-compatible: without index nor id, a piece that names a function again starts a new call", () =>
    Effect.gen(function*() {
      const { response } = yield* streamed(
        openAiLayer,
        MockProvider.sse([
          chunk({
            tool_calls: [
              { function: { name: "read_file", arguments: "{\"path\":\"a.rs\"}" } },
              { function: { name: "read_file", arguments: "{\"path\":\"b.rs\"}" } }
            ]
          }),
          chunk({}, "tool_calls")
        ])
      )
      expect(calls(response).map(({ arguments: args, name }) => ({ name, arguments: args }))).toEqual([
        { name: "read_file", arguments: { path: "a.rs" } },
        { name: "read_file", arguments: { path: "b.rs" } }
      ])
      const ids = calls(response).map((call) => call.id)
      expect(new Set(ids).size).toBe(2)
    }))

  it.scoped("Cohere: a tool-call-start with a new id at an index still open starts a new call", () =>
    Effect.gen(function*() {
      const start = (id: string) =>
        CohereMock.frame({
          type: "tool-call-start",
          index: 0,
          delta: { message: { tool_calls: { id, type: "function", function: { name: "read_file", arguments: "" } } } }
        })
      const piece = (args: string) =>
        CohereMock.frame({
          type: "tool-call-delta",
          index: 0,
          delta: { message: { tool_calls: { function: { arguments: args } } } }
        })
      const { response } = yield* streamed(
        cohereLayer,
        MockProvider.stream([
          CohereMock.frame({ type: "message-start", id: "cohere-1", delta: { message: { role: "assistant" } } }),
          start("call_aa11"),
          piece("{\"path\":\"a.rs\"}"),
          start("call_bb22"),
          piece("{\"path\":\"b.rs\"}"),
          CohereMock.frame({ type: "tool-call-end", index: 0 }),
          CohereMock.frame({ type: "message-end", delta: { finish_reason: "TOOL_CALL" } }),
          CohereMock.done
        ])
      )
      expect(calls(response)).toEqual([readA, readB])
    }))

  it.scoped("Anthropic: a content block starting at an index still open closes the block before it", () =>
    Effect.gen(function*() {
      // Every block at index 0, and the first one never stopped.
      const frames = AnthropicMock.streamFrames({
        deltas: [],
        toolCalls: [
          { id: "call_aa11", name: "read_file", argumentChunks: ["{\"path\":\"a.rs\"}"] },
          { id: "call_bb22", name: "read_file", argumentChunks: ["{\"path\":\"b.rs\"}"] }
        ]
      }).map((frame) => frame.replace("\"index\":1", "\"index\":0"))
      const firstStop = frames.findIndex((frame) => frame.includes("content_block_stop"))
      const reindexed = frames.filter((_, i) => i !== firstStop)
      const { response } = yield* streamed(anthropicLayer, MockProvider.stream(reindexed))
      expect(calls(response)).toEqual([readA, readB])
    }))
})

/** A whole completion whose message is `message` (shapes the builder does not make). */
const completionWith = (message: Record<string, unknown>, finish: string) => {
  const body = OpenAiMock.completionBody({ text: null, finishReason: finish })
  const [choice] = body.choices as Array<Record<string, unknown>>
  return MockProvider.json({
    ...body,
    choices: [{ ...choice, message: { role: "assistant", content: null, ...message } }]
  })
}

const weather = { name: "get_weather", arguments: { city: "Paris" }, rawArguments: "{\"city\":\"Paris\"}" }

describe("tool calls in whole answers", () => {
  it.scoped("calls without an id get the ids a stream would give them", () =>
    Effect.gen(function*() {
      const response = yield* generated(
        openAiLayer,
        completionWith({
          tool_calls: [
            { type: "function", function: { name: "read_file", arguments: "{\"path\":\"a.rs\"}" } },
            { type: "function", function: { name: "read_file", arguments: "{\"path\":\"b.rs\"}" } }
          ]
        }, "tool_calls")
      )
      expect(calls(response)).toEqual([{ ...readA, id: "call_0" }, { ...readB, id: "call_1" }])
    }))
})

describe("two calls that share an id", () => {
  const same = (index: number, path: string) => ({
    index,
    id: "call_same",
    type: "function",
    function: { name: "read_file", arguments: `{"path":"${path}"}` }
  })

  it.scoped("the later gets <id>_<position>, in a whole answer and in a stream alike, each with its arguments", () =>
    Effect.gen(function*() {
      const whole = yield* generated(
        openAiLayer,
        completionWith({ tool_calls: [same(0, "a.rs"), same(1, "b.rs")] }, "tool_calls")
      )
      const { parts, response } = yield* streamed(
        openAiLayer,
        MockProvider.sse([
          chunk({ role: "assistant", content: "" }),
          chunk({ tool_calls: [same(0, "a.rs")] }),
          chunk({ tool_calls: [same(1, "b.rs")] }),
          chunk({}, "tool_calls")
        ])
      )
      const expected = [{ ...readA, id: "call_same" }, { ...readB, id: "call_same_1" }]
      expect(calls(whole)).toEqual(expected)
      expect(calls(response)).toEqual(expected)
      expect(parts.filter((part) => part.type === "tool-call-start").map((part) => part.id)).toEqual([
        "call_same",
        "call_same_1"
      ])
    }))
})

describe("legacy function_call answers", () => {
  it.scoped("a whole answer's function_call is a tool call", () =>
    Effect.gen(function*() {
      const response = yield* generated(
        openAiLayer,
        completionWith({ function_call: { name: "get_weather", arguments: "{\"city\":\"Paris\"}" } }, "function_call")
      )
      expect(calls(response)).toEqual([{ id: "call_0", ...weather }])
      expect(response.finishReason).toBe("tool-calls")
      expect(response.rawFinishReason).toBe("function_call")
    }))

  it.scoped("a streamed function_call, name then argument pieces, is the same tool call", () =>
    Effect.gen(function*() {
      const { parts, response } = yield* streamed(
        openAiLayer,
        MockProvider.sse([
          chunk({ role: "assistant", content: null, function_call: { name: "get_weather", arguments: "" } }),
          chunk({ function_call: { arguments: "{\"city\"" } }),
          chunk({ function_call: { arguments: ":\"Paris\"}" } }),
          chunk({}, "function_call")
        ])
      )
      expect(calls(response)).toEqual([{ id: "call_0", ...weather }])
      expect(finishOf(parts)).toEqual({ type: "finish", finishReason: "tool-calls", rawFinishReason: "function_call" })
    }))
})

describe("the finish reason agrees with the content", () => {
  it.scoped("tool_calls without any tool call is other in a whole response, the raw value kept", () =>
    Effect.gen(function*() {
      const response = yield* generated(
        openAiLayer,
        OpenAiMock.completion({ text: "Done.", finishReason: "tool_calls" })
      )
      expect(response.finishReason).toBe("other")
      expect(response.rawFinishReason).toBe("tool_calls")
      expect(ChatResponse.text(response)).toBe("Done.")
    }))

  it.scoped("tool_calls without any tool call is other in a stream's finish part and its collected response", () =>
    Effect.gen(function*() {
      const { parts, response } = yield* streamed(
        openAiLayer,
        OpenAiMock.stream({ deltas: ["Done."], finishReason: "tool_calls" })
      )
      expect(finishOf(parts)).toEqual({ type: "finish", finishReason: "other", rawFinishReason: "tool_calls" })
      expect(response.finishReason).toBe("other")
    }))

  it.scoped("Anthropic tool_use without a tool_use block is other too", () =>
    Effect.gen(function*() {
      const response = yield* generated(anthropicLayer, AnthropicMock.message({ text: "Hm.", stopReason: "tool_use" }))
      expect(response.finishReason).toBe("other")
      expect(response.rawFinishReason).toBe("tool_use")
      const { parts } = yield* streamed(
        anthropicLayer,
        AnthropicMock.stream({ deltas: ["Hm."], stopReason: "tool_use" })
      )
      expect(finishOf(parts)).toEqual({ type: "finish", finishReason: "other", rawFinishReason: "tool_use" })
    }))

  it.scoped("tool calls with a plain stop finish are tool-calls, whole and streamed", () =>
    Effect.gen(function*() {
      const response = yield* generated(
        openAiLayer,
        OpenAiMock.completion({
          toolCalls: [{ id: "call_1", name: "get_weather", arguments: { city: "Paris" } }],
          finishReason: "stop"
        })
      )
      expect(response.finishReason).toBe("tool-calls")
      expect(response.rawFinishReason).toBe("stop")
      const { parts, response: collected } = yield* streamed(
        openAiLayer,
        OpenAiMock.stream({
          deltas: [],
          toolCalls: [{ id: "call_1", name: "get_weather", argumentChunks: ["{\"city\":\"Paris\"}"] }],
          finishReason: "stop"
        })
      )
      expect(finishOf(parts)).toEqual({ type: "finish", finishReason: "tool-calls", rawFinishReason: "stop" })
      expect(collected.content).toEqual(response.content)
    }))

  it.effect("the accumulator applies the same rule to parts from any source", () =>
    Effect.sync(() => {
      const accumulator = new StreamPart.Accumulator("scripted", "m")
      accumulator.add({ type: "text-delta", text: "No tools needed." })
      accumulator.add({ type: "finish", finishReason: "tool-calls", rawFinishReason: "tool_calls" })
      expect(accumulator.done().finishReason).toBe("other")
    }))
})
