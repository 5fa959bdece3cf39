import { describe, expect, it } from "@effect/vitest"
import type OpenAI from "openai"
import { ChatCompletionStream } from "openai/lib/ChatCompletionStream"
import { Stream } from "openai/streaming"
import type * as ChatResponse from "../src/ChatResponse.js"
import * as Wire from "../src/gateway/wire/index.js"

const base: ChatResponse.ChatResponse = {
  id: "upstream-1",
  provider: "anthropic",
  model: "claude-sonnet-4-5",
  content: [],
  finishReason: "stop"
}

const call = (id: string, name: string, args: unknown): ChatResponse.ToolCall => ({
  type: "tool-call",
  id,
  name,
  arguments: args,
  rawArguments: JSON.stringify(args)
})

describe("encodeChatCompletion", () => {
  it("text, reasoning and full usage, typed as the SDK's ChatCompletion", () => {
    const response: ChatResponse.ChatResponse = {
      ...base,
      content: [{ type: "reasoning", text: "Think." }, { type: "text", text: "Paris" }, { type: "text", text: "." }],
      usage: { inputTokens: 20, outputTokens: 8, totalTokens: 28, cachedInputTokens: 4, reasoningTokens: 3 },
      providerMetadata: { systemFingerprint: "fp_1" }
    }
    const completion = Wire.encodeChatCompletion(response, { model: "my-alias", created: 1_700_000_000 })
    // The SDK's own type accepts it (the extension field aside).
    const typed: OpenAI.ChatCompletion = completion as OpenAI.ChatCompletion & typeof completion
    expect(typed).toEqual({
      id: "upstream-1",
      object: "chat.completion",
      created: 1_700_000_000,
      model: "my-alias",
      choices: [{
        index: 0,
        message: { role: "assistant", content: "Paris.", refusal: null, reasoning_content: "Think." },
        logprobs: null,
        finish_reason: "stop"
      }],
      usage: {
        prompt_tokens: 20,
        completion_tokens: 8,
        total_tokens: 28,
        prompt_tokens_details: { cached_tokens: 4 },
        completion_tokens_details: { reasoning_tokens: 3 }
      },
      system_fingerprint: "fp_1"
    })
  })

  it("tool calls only: content null, raw arguments, finish tool_calls (also from a plain stop)", () => {
    const raw = "{\"city\": \"Paris\"}"
    const response: ChatResponse.ChatResponse = {
      ...base,
      content: [
        { type: "tool-call", id: "call_a", name: "get_weather", arguments: { city: "Paris" }, rawArguments: raw },
        call("call_b", "get_time", {})
      ],
      finishReason: "stop"
    }
    const completion = Wire.encodeChatCompletion(response, { model: "m", id: "chatcmpl-9", created: 1 })
    expect(completion.id).toBe("chatcmpl-9")
    expect(completion.choices[0].message).toEqual({
      role: "assistant",
      content: null,
      refusal: null,
      tool_calls: [
        { id: "call_a", type: "function", function: { name: "get_weather", arguments: raw } },
        { id: "call_b", type: "function", function: { name: "get_time", arguments: "{}" } }
      ]
    })
    expect(completion.choices[0].finish_reason).toBe("tool_calls")
    expect(completion.usage).toBeUndefined()
  })

  it("a refusal, with no text: content null", () => {
    const completion = Wire.encodeChatCompletion(
      { ...base, content: [{ type: "refusal", text: "I can't help with that." }], finishReason: "content-filter" },
      { model: "m", created: 1 }
    )
    expect(completion.choices[0].message).toEqual({
      role: "assistant",
      content: null,
      refusal: "I can't help with that."
    })
    expect(completion.choices[0].finish_reason).toBe("content_filter")
  })

  it("legacy functions: the first call as function_call, finish function_call", () => {
    const completion = Wire.encodeChatCompletion(
      { ...base, content: [call("call_a", "get_weather", { city: "Oslo" })], finishReason: "tool-calls" },
      { model: "m", created: 1, legacyFunctions: true }
    )
    expect(completion.choices[0].message.function_call).toEqual({
      name: "get_weather",
      arguments: "{\"city\":\"Oslo\"}"
    })
    expect(completion.choices[0].message.tool_calls).toBeUndefined()
    expect(completion.choices[0].finish_reason).toBe("function_call")
  })

  it("finish reasons: every unified one to an OpenAI one", () => {
    const table: Array<[ChatResponse.FinishReason, string]> = [
      ["stop", "stop"],
      ["length", "length"],
      ["content-filter", "content_filter"],
      ["error", "stop"],
      ["other", "stop"],
      // tool-calls without a call is settled to other by the library: stop
      ["tool-calls", "stop"]
    ]
    for (const [unified, wire] of table) {
      const completion = Wire.encodeChatCompletion({
        ...base,
        content: [{ type: "text", text: "x" }],
        finishReason: unified
      }, {
        model: "m",
        created: 1
      })
      expect([unified, completion.choices[0].finish_reason]).toEqual([unified, wire])
    }
    expect(Wire.finishReason("tool-calls")).toBe("tool_calls")
  })

  it("an empty answer has content \"\", not null", () => {
    expect(Wire.encodeChatCompletion(base, { model: "m", created: 1 }).choices[0].message.content).toBe("")
  })
})

/** The SDK's view of an encoded SSE text: the chunks its stream parser yields. */
const sdkChunks = async (sse: string): Promise<Array<OpenAI.ChatCompletionChunk>> => {
  const stream = Stream.fromSSEResponse<OpenAI.ChatCompletionChunk>(
    new Response(sse, { headers: { "content-type": "text/event-stream" } }),
    new AbortController()
  )
  const chunks: Array<OpenAI.ChatCompletionChunk> = []
  for await (const chunk of stream) chunks.push(chunk)
  return chunks
}

/** The SDK's own accumulator over an encoded SSE text: the completion an SDK user gets. */
const sdkCompletion = (sse: string): Promise<OpenAI.ChatCompletion> => {
  const stream = Stream.fromSSEResponse<OpenAI.ChatCompletionChunk>(new Response(sse), new AbortController())
  return ChatCompletionStream.fromReadableStream(stream.toReadableStream()).finalChatCompletion()
}

const options = { model: "my-alias", id: "chatcmpl-1", created: 1_700_000_000 }

const encode = (parts: ReadonlyArray<Parameters<Wire.ChunkEncoder["part"]>[0]>, includeUsage: boolean): string => {
  const encoder = Wire.makeChunkEncoder({ ...options, includeUsage })
  return parts.map(encoder.part).join("") + encoder.end()
}

describe("makeChunkEncoder", () => {
  it("text, reasoning, usage, finish: the SDK accumulates the same message", async () => {
    const sse = encode([
      { type: "response-metadata", id: "upstream", model: "claude-sonnet-4-5" },
      { type: "reasoning-delta", text: "Thinking" },
      { type: "reasoning-delta", text: " hard." },
      { type: "reasoning-delta", text: "", signature: "sig" },
      { type: "text-delta", text: "Hello" },
      { type: "text-delta", text: ", \"world\"\n" },
      { type: "usage", usage: { inputTokens: 10, outputTokens: 5, totalTokens: 15, cachedInputTokens: 2 } },
      { type: "finish", finishReason: "stop" }
    ], true)
    const chunks = await sdkChunks(sse)
    expect(chunks[0]!.choices[0]!.delta.role).toBe("assistant")
    expect(chunks.filter((chunk) => chunk.choices[0]?.delta.role !== undefined)).toHaveLength(1)
    let reasoning = ""
    for (const chunk of chunks) {
      expect(chunk).toMatchObject({ ...options, object: "chat.completion.chunk" })
      const delta = chunk.choices[0]?.delta as { reasoning_content?: string } | undefined
      reasoning += delta?.reasoning_content ?? ""
    }
    expect(reasoning).toBe("Thinking hard.")
    // the usage chunk is last, with no choices; every other chunk has usage null
    expect(chunks.at(-1)).toMatchObject({
      choices: [],
      usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 }
    })
    expect(chunks.slice(0, -1).every((chunk) => chunk.usage === null)).toBe(true)
    expect(chunks.at(-2)!.choices[0]).toEqual({ index: 0, delta: {}, logprobs: null, finish_reason: "stop" })

    const completion = await sdkCompletion(sse)
    expect(completion.choices[0]!.message.content).toBe("Hello, \"world\"\n")
    expect(completion.choices[0]!.finish_reason).toBe("stop")
    expect(completion.usage).toEqual({
      prompt_tokens: 10,
      completion_tokens: 5,
      total_tokens: 15,
      prompt_tokens_details: { cached_tokens: 2 }
    })
    expect(completion.model).toBe("my-alias")
    expect(sse.endsWith("data: [DONE]\n\n")).toBe(true)
  })

  it("two parallel tool calls interleaved: indexes in order of start, arguments parsed by the SDK", async () => {
    const sse = encode([
      { type: "text-delta", text: "Checking." },
      { type: "tool-call-start", id: "call_a", name: "get_weather" },
      { type: "tool-call-start", id: "call_b", name: "get_time" },
      { type: "tool-call-delta", id: "call_a", argumentsDelta: "{\"city\":" },
      { type: "tool-call-delta", id: "call_b", argumentsDelta: "{\"zone\":\"CET\"}" },
      { type: "tool-call-delta", id: "call_a", argumentsDelta: "\"Paris\"}" },
      {
        type: "tool-call-end",
        id: "call_b",
        name: "get_time",
        arguments: { zone: "CET" },
        rawArguments: "{\"zone\":\"CET\"}"
      },
      {
        type: "tool-call-end",
        id: "call_a",
        name: "get_weather",
        arguments: { city: "Paris" },
        rawArguments: "{\"city\":\"Paris\"}"
      },
      { type: "finish", finishReason: "tool-calls" },
      { type: "usage", usage: { inputTokens: 30, outputTokens: 12, totalTokens: 42 } }
    ], true)
    const chunks = await sdkChunks(sse)
    const starts = chunks.flatMap((chunk) => chunk.choices[0]?.delta.tool_calls ?? []).filter((call) => call.id)
    expect(starts).toEqual([
      { index: 0, id: "call_a", type: "function", function: { name: "get_weather", arguments: "" } },
      { index: 1, id: "call_b", type: "function", function: { name: "get_time", arguments: "" } }
    ])
    const completion = await sdkCompletion(sse)
    const message = completion.choices[0]!.message
    expect(message.content).toBe("Checking.")
    expect(
      message.tool_calls?.map((call) =>
        call.type === "function" && [call.id, call.function.name, JSON.parse(call.function.arguments)]
      )
    )
      .toEqual([["call_a", "get_weather", { city: "Paris" }], ["call_b", "get_time", { zone: "CET" }]])
    expect(completion.choices[0]!.finish_reason).toBe("tool_calls")
    expect(completion.usage?.total_tokens).toBe(42)
  })

  it("a call whose arguments come whole at its end, or with no start at all", async () => {
    const sse = encode([
      { type: "tool-call-start", id: "call_a", name: "f" },
      { type: "tool-call-end", id: "call_a", name: "f", arguments: { a: 1 }, rawArguments: "{\"a\":1}" },
      { type: "tool-call-end", id: "call_b", name: "g", arguments: {}, rawArguments: "{}" },
      { type: "finish", finishReason: "stop" }
    ], false)
    const completion = await sdkCompletion(sse)
    expect(completion.choices[0]!.message.tool_calls?.map((call) => call.type === "function" && call.function)).toEqual(
      [
        { name: "f", arguments: "{\"a\":1}" },
        { name: "g", arguments: "{}" }
      ]
    )
    // a stop that carries tool calls is tool_calls
    expect(completion.choices[0]!.finish_reason).toBe("tool_calls")
  })

  it("a call without arguments (streamed, whole at its end, or none at all) reaches the client as `{}`", async () => {
    const sse = encode([
      { type: "tool-call-start", id: "call_a", name: "now" },
      { type: "tool-call-delta", id: "call_a", argumentsDelta: "" },
      { type: "tool-call-end", id: "call_a", name: "now", arguments: {}, rawArguments: "" },
      { type: "tool-call-end", id: "call_b", name: "today", arguments: {}, rawArguments: " " },
      // Cohere's text for an argument-less call
      { type: "tool-call-end", id: "call_c", name: "tomorrow", arguments: {}, rawArguments: "null" },
      { type: "finish", finishReason: "tool-calls" }
    ], false)
    const completion = await sdkCompletion(sse)
    expect(completion.choices[0]!.message.tool_calls?.map((call) => call.type === "function" && call.function)).toEqual(
      [{ name: "now", arguments: "{}" }, { name: "today", arguments: "{}" }, { name: "tomorrow", arguments: "{}" }]
    )
  })

  it("two calls that share an id stay two calls, each with its own arguments", async () => {
    const call = (city: string) =>
      [
        { type: "tool-call-start", id: "call_dup", name: "weather" },
        { type: "tool-call-delta", id: "call_dup", argumentsDelta: `{"city":"${city}"}` },
        {
          type: "tool-call-end",
          id: "call_dup",
          name: "weather",
          arguments: { city },
          rawArguments: `{"city":"${city}"}`
        }
      ] as const
    const sse = encode([...call("Paris"), ...call("Rome"), { type: "finish", finishReason: "tool-calls" }], false)
    const completion = await sdkCompletion(sse)
    expect(
      completion.choices[0]!.message.tool_calls?.map((call) =>
        call.type === "function" && JSON.parse(call.function.arguments)
      )
    ).toEqual([{ city: "Paris" }, { city: "Rome" }])
  })

  it("without includeUsage: no usage chunk, no usage field", async () => {
    const sse = encode([
      { type: "text-delta", text: "Hi" },
      { type: "usage", usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 } },
      { type: "finish", finishReason: "length" }
    ], false)
    const chunks = await sdkChunks(sse)
    expect(chunks.every((chunk) => chunk.choices.length === 1 && !("usage" in chunk))).toBe(true)
    const completion = await sdkCompletion(sse)
    expect(completion.usage).toBeUndefined()
    expect(completion.choices[0]!.finish_reason).toBe("length")
  })

  it("the usage chunk holds tokens only, as OpenAI's: a priced part's cost is not in it (the request log has it)", () => {
    const sse = encode([
      { type: "text-delta", text: "Hi" },
      { type: "usage", usage: { inputTokens: 10, outputTokens: 4, totalTokens: 14 }, costUsd: 0.0000123 },
      { type: "finish", finishReason: "stop" }
    ], true)
    const frames = sse.split("\n\n").filter((frame) => frame !== "")
    expect(frames.at(-1)).toBe("data: [DONE]")
    expect(JSON.parse(frames.at(-2)!.slice("data: ".length))).toEqual({
      ...options,
      object: "chat.completion.chunk",
      usage: { prompt_tokens: 10, completion_tokens: 4, total_tokens: 14 },
      choices: []
    })
  })

  it("a refusal streams as delta.refusal", async () => {
    const sse = encode(
      [{ type: "refusal-delta", text: "No." }, { type: "finish", finishReason: "content-filter" }],
      false
    )
    const completion = await sdkCompletion(sse)
    expect(completion.choices[0]!.message).toMatchObject({ content: null, refusal: "No." })
    expect(completion.choices[0]!.finish_reason).toBe("content_filter")
  })

  it("end without a finish part still finishes the choice (with the role when nothing came)", async () => {
    const completion = await sdkCompletion(encode([], false))
    expect(completion.choices[0]).toMatchObject({
      finish_reason: "stop",
      message: { role: "assistant", content: null }
    })
  })

  it("legacy functions stream function_call deltas", async () => {
    const encoder = Wire.makeChunkEncoder({ ...options, includeUsage: false, legacyFunctions: true })
    const sse = [
      encoder.part({ type: "tool-call-start", id: "call_a", name: "get_weather" }),
      encoder.part({ type: "tool-call-delta", id: "call_a", argumentsDelta: "{\"city\":" }),
      encoder.part({ type: "tool-call-delta", id: "call_a", argumentsDelta: "\"Oslo\"}" }),
      encoder.part({ type: "finish", finishReason: "tool-calls" }),
      encoder.end()
    ].join("")
    const completion = await sdkCompletion(sse)
    expect(completion.choices[0]!.message.function_call).toEqual({
      name: "get_weather",
      arguments: "{\"city\":\"Oslo\"}"
    })
    expect(completion.choices[0]!.finish_reason).toBe("function_call")
  })

  it("parts that map to nothing give an empty string", () => {
    const encoder = Wire.makeChunkEncoder({ ...options, includeUsage: true })
    expect(encoder.part({ type: "response-metadata", id: "x" })).toBe("")
    expect(encoder.part({ type: "usage", usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 } })).toBe("")
    expect(encoder.part({ type: "reasoning-delta", text: "", signature: "s" })).toBe("")
    expect(encoder.part({ type: "tool-call-delta", id: "unknown", argumentsDelta: "x" })).toBe("")
  })
})
