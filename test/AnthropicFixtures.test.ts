/**
 * The Anthropic decoders against real recorded payloads (`../shared/fixtures/anthropic`, see its MANIFEST.md).
 * Expected values are computed from the fixture itself by a deliberately naive reading of its JSON, kept
 * separate from (and much simpler than) the decoder under test, or are quoted from the fixture.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Layer, Redacted, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as ChatResponse from "../src/ChatResponse.js"
import * as AnthropicErrors from "../src/internal/anthropic/errors.js"
import * as AnthropicResponse from "../src/internal/anthropic/response.js"
import * as AnthropicStream from "../src/internal/anthropic/stream.js"
import * as Errors from "../src/internal/errors.js"
import * as Framing from "../src/internal/framing.js"
import * as Streaming from "../src/internal/streaming.js"
import * as LanguageModel from "../src/LanguageModel.js"
import type * as LlmError from "../src/LlmError.js"
import * as Anthropic from "../src/providers/Anthropic.js"
import * as StreamPart from "../src/StreamPart.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import { itDecodesAnyChunking, transcriptOf } from "./support/chunking.js"
import {
  describeFixtures,
  fixturesDir,
  hasFixtures,
  readFixture,
  readFixtureBytes,
  readFixtureHeaders,
  readSiblingHeaders
} from "./support/fixtures.js"
import { secretKey } from "./support/loopback.js"

const context: Errors.ErrorContext = { provider: "anthropic", model: "m", secrets: [] }

const listFixtures = (suffix: string): Array<string> =>
  hasFixtures
    ? fs.readdirSync(path.join(fixturesDir, "anthropic")).filter((f) => f.endsWith(suffix)).sort().map((f) =>
      `anthropic/${f}`
    )
    : []

const parts = (
  chunks: ReadonlyArray<Uint8Array>,
  formatTool?: string
): Stream.Stream<StreamPart.StreamPart, LlmError.LlmError> =>
  Streaming.decode(
    Framing.sse(Stream.fromIterable(chunks).pipe(Stream.rechunk(1))),
    () => AnthropicStream.makeDecoder(context, { requestId: undefined, formatTool, providerMetadata: {} })
  )

const collect = (file: string) => StreamPart.collect(parts([readFixtureBytes(file)]))
const allParts = (file: string) =>
  Effect.map(Stream.runCollect(parts([readFixtureBytes(file)])), (chunk) => Chunk.toArray(chunk))

const transcript = transcriptOf((chunks) => parts(chunks))

/** The parts delivered before a failure, and the failure. */
const failing = (file: string) =>
  Effect.gen(function*() {
    const items = Chunk.toArray(yield* Stream.runCollect(Stream.either(parts([readFixtureBytes(file)]))))
    const failures = items.filter(Either.isLeft).map((item) => item.left)
    expect(failures).toHaveLength(1)
    return { delivered: items.filter(Either.isRight).map((item) => item.right), error: failures[0]! }
  })

// ---------------------------------------------------------------------------------------------------------------
// the naive reading of a fixture
// ---------------------------------------------------------------------------------------------------------------

type Json = any

/** The JSON payloads of an SSE body: every `data:` line (Anthropic sends one per event). */
const ssePayloads = (sse: string): Array<Json> =>
  sse.split("\n").filter((line) => line.startsWith("data:")).map((line) => JSON.parse(line.slice(5)))

/** The stop reason mapping of the spec. */
const finishReasons: Record<string, ChatResponse.FinishReason> = {
  end_turn: "stop",
  stop_sequence: "stop",
  max_tokens: "length",
  tool_use: "tool-calls",
  refusal: "content-filter"
}

/** Anthropic's input_tokens exclude the cache: our input is the whole prompt. */
const expectedUsage = (usage: Json): ChatResponse.Usage => {
  const read = usage.cache_read_input_tokens
  const write = usage.cache_creation_input_tokens
  const input = usage.input_tokens + (read ?? 0) + (write ?? 0)
  return {
    inputTokens: input,
    outputTokens: usage.output_tokens,
    totalTokens: input + usage.output_tokens,
    ...(read === undefined ? {} : { cachedInputTokens: read }),
    ...(write === undefined ? {} : { cacheWriteTokens: write }),
    ...(usage.output_tokens_details?.thinking_tokens === undefined
      ? {}
      : { reasoningTokens: usage.output_tokens_details.thinking_tokens })
  }
}

interface Expected {
  id: string
  model: string
  text: string
  thinking: string
  signature: string | undefined
  toolCalls: Array<{ index: number; id: string; name: string; raw: string }>
  stop: string | undefined
  usage: Json
}

const expectedOfStream = (payloads: ReadonlyArray<Json>): Expected => {
  const out: Expected = {
    id: "",
    model: "",
    text: "",
    thinking: "",
    signature: undefined,
    toolCalls: [],
    stop: undefined,
    usage: {}
  }
  for (const p of payloads) {
    if (p.type === "message_start") {
      out.id = p.message.id
      out.model = p.message.model
      out.usage = { ...p.message.usage }
    }
    if (p.type === "content_block_start" && p.content_block.type === "tool_use") {
      out.toolCalls.push({ index: p.index, id: p.content_block.id, name: p.content_block.name, raw: "" })
    }
    if (p.type === "content_block_delta") {
      if (p.delta.type === "text_delta") out.text += p.delta.text
      if (p.delta.type === "thinking_delta") out.thinking += p.delta.thinking
      if (p.delta.type === "signature_delta") out.signature = p.delta.signature
      if (p.delta.type === "input_json_delta") {
        out.toolCalls.find((c) => c.index === p.index)!.raw += p.delta.partial_json
      }
    }
    if (p.type === "message_delta") {
      out.stop = p.delta.stop_reason
      // cumulative: the later value of a field replaces the earlier one
      out.usage = { ...out.usage, ...p.usage }
    }
  }
  return out
}

const parseOrUndefined = (raw: string): unknown => {
  if (raw === "") return {}
  try {
    return JSON.parse(raw)
  } catch {
    return undefined
  }
}

// ---------------------------------------------------------------------------------------------------------------
// streams
// ---------------------------------------------------------------------------------------------------------------

const errorStreams = ["anthropic/docs-stream-error-event.sse", "anthropic/messages-stream-error-overloaded.sse"]
const streamFixtures = listFixtures(".sse")
const goodStreams = streamFixtures.filter((file) => !errorStreams.includes(file))

describeFixtures("Anthropic stream fixtures", () => {
  it("finds every stream fixture the manifest lists", () => {
    expect(streamFixtures).toHaveLength(11)
    for (const file of errorStreams) expect(streamFixtures).toContain(file)
  })

  for (const file of goodStreams) {
    it.effect(`${file}: decodes to the id, text, reasoning, tool calls, finish and usage it carries`, () =>
      Effect.gen(function*() {
        const want = expectedOfStream(ssePayloads(readFixture(file)))
        const response = yield* collect(file)
        expect(response.id).toBe(want.id)
        expect(response.model).toBe(want.model)
        expect(response.provider).toBe("anthropic")
        expect(ChatResponse.text(response)).toBe(want.text)
        expect(ChatResponse.reasoning(response)).toBe(want.thinking)
        expect(ChatResponse.toolCalls(response)).toEqual(want.toolCalls.map((call) => ({
          type: "tool-call",
          id: call.id,
          name: call.name,
          rawArguments: call.raw,
          arguments: parseOrUndefined(call.raw)
        })))
        expect(want.stop).toBeDefined()
        expect(response.finishReason).toBe(finishReasons[want.stop!])
        expect(response.rawFinishReason).toBe(want.stop)
        expect(response.usage).toEqual(expectedUsage(want.usage))
      }))
  }

  it.effect("messages-stream-basic-ping: \"Hello there!\", ping yields no part, last event has no blank line", () =>
    Effect.gen(function*() {
      const file = "anthropic/messages-stream-basic-ping.sse"
      expect(readFixture(file).endsWith("data: {\"type\":\"message_stop\"}")).toBe(true)
      const all = yield* allParts(file)
      expect(all.map((part) => part.type)).toEqual([
        "response-metadata",
        "usage",
        "text-delta",
        "text-delta",
        "text-delta",
        "usage",
        "finish"
      ])
      const response = yield* collect(file)
      expect(ChatResponse.text(response)).toBe("Hello there!")
      expect(response.usage).toEqual({ inputTokens: 11, outputTokens: 6, totalTokens: 17 })
      expect(response.finishReason).toBe("stop")
    }))

  it.effect("messages-stream-text: usage is replaced by message_delta's totals, never added", () =>
    Effect.gen(function*() {
      const all = yield* allParts("anthropic/messages-stream-text.sse")
      const usages = all.flatMap((part) => part.type === "usage" ? [part.usage] : [])
      // message_start says 17 in / 1 out, message_delta 17 in / 10 out (cumulative)
      expect(usages.map((usage) => [usage.inputTokens, usage.outputTokens])).toEqual([[17, 1], [17, 10]])
      const response = yield* collect("anthropic/messages-stream-text.sse")
      expect(response.usage).toEqual({
        inputTokens: 17,
        outputTokens: 10,
        totalTokens: 27,
        cachedInputTokens: 0,
        cacheWriteTokens: 0
      })
      expect(ChatResponse.text(response)).toBe("- Captain\n- Scoop")
    }))

  it.effect("messages-stream-tool-use-input-json-delta: text then get_weather({location: Paris})", () =>
    Effect.gen(function*() {
      const response = yield* collect("anthropic/messages-stream-tool-use-input-json-delta.sse")
      expect(ChatResponse.text(response)).toBe("I'll check the current weather in Paris for you.")
      expect(ChatResponse.toolCalls(response)).toEqual([{
        type: "tool-call",
        id: "toolu_01NRLabsLyVHZPKxbKvkfSMn",
        name: "get_weather",
        arguments: { location: "Paris" },
        rawArguments: "{\"location\": \"Paris\"}"
      }])
      expect(response.finishReason).toBe("tool-calls")
      expect(response.usage).toEqual({
        inputTokens: 377,
        outputTokens: 65,
        totalTokens: 442,
        cachedInputTokens: 0,
        cacheWriteTokens: 0
      })
    }))

  it.effect("messages-stream-parallel-tool-use-empty-input: two calls with arguments {} and no text", () =>
    Effect.gen(function*() {
      const response = yield* collect("anthropic/messages-stream-parallel-tool-use-empty-input.sse")
      expect(response.content).toEqual([
        {
          type: "tool-call",
          id: "toolu_01LtHJmixrs9NcWQkK8hu8hj",
          name: "pelican_name_generator",
          arguments: {},
          rawArguments: ""
        },
        {
          type: "tool-call",
          id: "toolu_01N8a4jWyf116qKTMqKKmjyt",
          name: "pelican_name_generator",
          arguments: {},
          rawArguments: ""
        }
      ])
      expect(response.finishReason).toBe("tool-calls")
    }))

  it.effect("messages-stream-thinking-signature: one signed reasoning part, then the text", () =>
    Effect.gen(function*() {
      const file = "anthropic/messages-stream-thinking-signature.sse"
      const want = expectedOfStream(ssePayloads(readFixture(file)))
      const response = yield* collect(file)
      expect(response.content.map((part) => part.type)).toEqual(["reasoning", "text"])
      expect(response.content[0]).toEqual({ type: "reasoning", text: want.thinking, signature: want.signature })
      expect(want.signature).toMatch(/^EvoCCkYICxgC/)
      expect(ChatResponse.reasoning(response)).toMatch(/^The user wants two names for a pet pelican/)
      // The signed reasoning goes back as a thinking block on the next turn.
      const back = ChatResponse.toMessage(response)
      expect(back.content[0]).toEqual({ type: "reasoning", text: want.thinking, signature: want.signature })
    }))

  it.effect("messages-stream-max-tokens-incomplete-tool-json: the cut tool call is closed, unparsed, finish length", () =>
    Effect.gen(function*() {
      const file = "anthropic/messages-stream-max-tokens-incomplete-tool-json.sse"
      const payloads = ssePayloads(readFixture(file))
      // the fixture's quirk: the tool_use block (index 1) never gets its content_block_stop
      expect(payloads.filter((p) => p.type === "content_block_stop").map((p) => p.index)).toEqual([0])
      const want = expectedOfStream(payloads)
      const all = yield* allParts(file)
      const ends = all.filter((part) => part.type === "tool-call-end")
      expect(ends).toHaveLength(1)
      // closed at message_delta, before the finish
      expect(all.findIndex((part) => part.type === "tool-call-end")).toBeLessThan(
        all.findIndex((part) => part.type === "finish")
      )
      const response = yield* collect(file)
      const [call] = ChatResponse.toolCalls(response)
      expect(call).toEqual({
        type: "tool-call",
        id: "toolu_01EKqbqmZrGRXy18eN7m9kvY",
        name: "make_file",
        arguments: undefined,
        rawArguments: want.toolCalls[0]!.raw
      })
      expect(call!.rawArguments.startsWith("{\"filename\": \"taxes.txt\", \"lines_of_text\": [")).toBe(true)
      expect(response.finishReason).toBe("length")
      expect(response.usage).toMatchObject({ inputTokens: 450, outputTokens: 124 })
    }))

  it.effect("messages-stream-refusal-stop-details: the explanation as refusal, content-filter, stop_details kept", () =>
    Effect.gen(function*() {
      const file = "anthropic/messages-stream-refusal-stop-details.sse"
      const delta = ssePayloads(readFixture(file)).find((p) => p.type === "message_delta")
      const response = yield* collect(file)
      expect(response.content).toEqual([{ type: "refusal", text: delta.delta.stop_details.explanation }])
      expect(response.finishReason).toBe("content-filter")
      expect(response.rawFinishReason).toBe("refusal")
      expect(response.providerMetadata?.stopDetails).toEqual(delta.delta.stop_details)
      expect((response.providerMetadata?.stopDetails as Json).explanation).toContain("—")
      expect(response.usage).toEqual({
        inputTokens: 97,
        outputTokens: 0,
        totalTokens: 97,
        cachedInputTokens: 0,
        cacheWriteTokens: 0,
        reasoningTokens: 0
      })
    }))

  it.effect("messages-stream-stop-sequence: finish stop, the matched sequence in providerMetadata", () =>
    Effect.gen(function*() {
      const response = yield* collect("anthropic/messages-stream-stop-sequence.sse")
      expect(response.finishReason).toBe("stop")
      expect(response.rawFinishReason).toBe("stop_sequence")
      expect(response.providerMetadata?.stopSequence).toBe("```")
      expect(ChatResponse.text(response)).toBe(
        "\ndef pelican():\n    return \"A large waterbird with a long bill and a throat pouch for catching fish.\"\n"
      )
    }))

  it.effect("messages-stream-max-tokens-2024: older usage shape, finish length", () =>
    Effect.gen(function*() {
      const response = yield* collect("anthropic/messages-stream-max-tokens-2024.sse")
      expect(response.finishReason).toBe("length")
      expect(response.usage).toEqual({ inputTokens: 27, outputTokens: 15, totalTokens: 42 })
      expect(ChatResponse.text(response)).toBe("The phrase \"I think, therefore I am\" (originally in Latin as")
    }))

  for (const file of errorStreams) {
    it.effect(`${file}: the error event fails the stream with Overloaded, nothing delivered`, () =>
      Effect.gen(function*() {
        const event = ssePayloads(readFixture(file))[0]
        expect(event.error.type).toBe("overloaded_error")
        const { delivered, error } = yield* failing(file)
        expect(error._tag).toBe("Overloaded")
        expect(error.message).toContain(event.error.message)
        expect(delivered).toEqual([])
      }))
  }

  it.effect("a json-schema format tool streams its input as text and finishes with stop", () =>
    Effect.gen(function*() {
      const file = "anthropic/messages-stream-tool-use-input-json-delta.sse"
      const response = yield* StreamPart.collect(parts([readFixtureBytes(file)], "get_weather"))
      expect(ChatResponse.toolCalls(response)).toEqual([])
      expect(ChatResponse.text(response)).toBe(
        "I'll check the current weather in Paris for you." + "{\"location\": \"Paris\"}"
      )
      expect(response.finishReason).toBe("stop")
      expect(response.rawFinishReason).toBe("tool_use")
    }))

  itDecodesAnyChunking(streamFixtures, readFixtureBytes, transcript)

  it.scoped("messages-stream-text over loopback with its recorded headers: rate limits and request id", () =>
    Effect.gen(function*() {
      const recorded = readFixtureHeaders("anthropic/messages-stream-text.headers.json")
      const raw = JSON.parse(readFixture("anthropic/messages-stream-text.headers.json")).headers
      const sent: Record<string, string> = {}
      for (const [name, value] of Object.entries(recorded.headers)) {
        if (name.startsWith("anthropic-") || name === "request-id" || name === "content-type") sent[name] = value
      }
      const server = yield* MockProvider.make({
        script: [MockProvider.stream([readFixtureBytes("anthropic/messages-stream-text.sse")], { headers: sent })]
      })
      const response = yield* StreamPart.collect(LanguageModel.stream({ messages: [{ role: "user", content: "?" }] }))
        .pipe(
          Effect.provide(
            Anthropic.layer({ apiKey: Redacted.make(secretKey), baseUrl: server.url, model: "claude-sonnet-4-5" }).pipe(
              Layer.provide(NodeHttpClient.layerUndici)
            )
          )
        )
      expect(response.providerMetadata?.requestId).toBe(raw["request-id"][0])
      expect(response.providerMetadata?.rateLimit).toMatchObject({
        requestsLimit: Number(raw["anthropic-ratelimit-requests-limit"][0]),
        requestsRemaining: Number(raw["anthropic-ratelimit-requests-remaining"][0]),
        requestsReset: raw["anthropic-ratelimit-requests-reset"][0],
        tokensRemaining: Number(raw["anthropic-ratelimit-tokens-remaining"][0]),
        inputTokensRemaining: Number(raw["anthropic-ratelimit-input-tokens-remaining"][0]),
        outputTokensReset: raw["anthropic-ratelimit-output-tokens-reset"][0]
      })
      expect(ChatResponse.text(response)).toBe("- Captain\n- Scoop")
    }))

  it("rateLimit reads all twelve anthropic-ratelimit-* headers of the recording", () => {
    const { headers } = readFixtureHeaders("anthropic/messages-stream-text.headers.json")
    const limits = AnthropicResponse.rateLimit(headers)!
    expect(Object.keys(limits)).toHaveLength(12)
    expect(limits).toMatchObject({
      requestsRemaining: 19999,
      tokensLimit: 2400000,
      tokensReset: "2026-02-17T23:44:11Z"
    })
  })
})

// ---------------------------------------------------------------------------------------------------------------
// non-streaming
// ---------------------------------------------------------------------------------------------------------------

const nonStreamFixtures = listFixtures(".json").filter((file) => path.basename(file).startsWith("messages-nonstream-"))
const call = (formatTool?: string): AnthropicResponse.Call => ({ formatTool, headers: undefined })

describeFixtures("Anthropic non-streaming fixtures", () => {
  it("finds every non-streaming fixture", () => {
    expect(nonStreamFixtures).toHaveLength(2)
  })

  for (const file of nonStreamFixtures) {
    it.effect(`${file}: decodes to the content, finish and usage it carries`, () =>
      Effect.gen(function*() {
        const text = readFixture(file)
        const json = JSON.parse(text)
        const response = yield* AnthropicResponse.decodeResponse(
          json,
          { text, status: 200, requestId: "req_1" },
          context,
          call()
        )
        expect(response.id).toBe(json.id)
        expect(response.model).toBe(json.model)
        expect(ChatResponse.text(response)).toBe(
          json.content.filter((b: Json) => b.type === "text").map((b: Json) => b.text).join("")
        )
        expect(ChatResponse.toolCalls(response)).toEqual(
          json.content.filter((b: Json) => b.type === "tool_use").map((b: Json) => ({
            type: "tool-call",
            id: b.id,
            name: b.name,
            arguments: b.input,
            rawArguments: JSON.stringify(b.input)
          }))
        )
        expect(response.finishReason).toBe(finishReasons[json.stop_reason])
        expect(response.rawFinishReason).toBe(json.stop_reason)
        expect(response.usage).toEqual(expectedUsage(json.usage))
        expect(response.providerMetadata).toEqual({ requestId: "req_1", serviceTier: "standard" })
      }))
  }

  it.effect("messages-nonstream-tool-use-no-input: text, then updateIssueList with arguments {}", () =>
    Effect.gen(function*() {
      const text = readFixture("anthropic/messages-nonstream-tool-use-no-input.json")
      const response = yield* AnthropicResponse.decodeResponse(
        JSON.parse(text),
        { text, status: 200, requestId: undefined },
        context,
        call()
      )
      expect(response.content.map((part) => part.type)).toEqual(["text", "tool-call"])
      expect(ChatResponse.toolCalls(response)).toEqual([{
        type: "tool-call",
        id: "toolu_01LRmxn9vGM1d2DZSDBowdZ1",
        name: "updateIssueList",
        arguments: {},
        rawArguments: "{}"
      }])
      expect(response.finishReason).toBe("tool-calls")
      expect(response.usage).toEqual({
        inputTokens: 602,
        outputTokens: 93,
        totalTokens: 695,
        cachedInputTokens: 0,
        cacheWriteTokens: 0
      })
    }))

  it.effect("messages-nonstream-text: end_turn is stop, 12 in / 29 out", () =>
    Effect.gen(function*() {
      const text = readFixture("anthropic/messages-nonstream-text.json")
      const response = yield* AnthropicResponse.decodeResponse(
        JSON.parse(text),
        { text, status: 200, requestId: undefined },
        context,
        call()
      )
      expect(ChatResponse.text(response)).toMatch(/^Hello! I'm doing well/)
      expect(response.finishReason).toBe("stop")
      expect(response.usage).toMatchObject({ inputTokens: 12, outputTokens: 29, totalTokens: 41 })
    }))
})

// ---------------------------------------------------------------------------------------------------------------
// error bodies
// ---------------------------------------------------------------------------------------------------------------

const errorFixtures = listFixtures(".json").filter((file) =>
  path.basename(file).startsWith("error-") && !file.endsWith(".headers.json")
)

const expectedErrorTags: Record<string, LlmError.Tag> = {
  "anthropic/error-400-invalid-request.json": "InvalidRequest",
  "anthropic/error-401-authentication.json": "AuthenticationFailed",
  "anthropic/error-404-not-found.json": "NotFound",
  "anthropic/error-429-rate-limit.json": "RateLimited",
  "anthropic/error-500-api-error.json": "ServerError",
  "anthropic/error-529-overloaded.json": "Overloaded"
}

describeFixtures("Anthropic error bodies", () => {
  it("every error fixture has an expected tag", () => {
    expect([...errorFixtures].sort()).toEqual(Object.keys(expectedErrorTags).sort())
  })

  for (const file of errorFixtures) {
    it(`${file}: classified as ${expectedErrorTags[file]} with status, message, body and headers`, () => {
      const bodyText = readFixture(file)
      const status = Number(/error-(\d{3})-/.exec(path.basename(file))![1])
      const recorded = readSiblingHeaders(file)
      if (recorded !== undefined) expect(recorded.status).toBe(status)
      const error = Errors.fromResponse(context, AnthropicErrors.classifyError, {
        status,
        headers: recorded?.headers ?? {},
        bodyText
      }, 0)
      expect(error._tag).toBe(expectedErrorTags[file])
      expect(error.status).toBe(status)
      expect(error.provider).toBe("anthropic")
      expect(error.message).toContain(JSON.parse(bodyText).error.message)
      expect(error.body).toBe(bodyText)
      // The recorded values where headers were recorded; none invented where they were not.
      expect(error.requestId).toBe(recorded?.headers["request-id"])
      const shouldRetry = recorded?.headers["x-should-retry"]
      expect(error.shouldRetry).toBe(shouldRetry === undefined ? undefined : shouldRetry === "true")
    })
  }

  it("some error fixtures have a recorded request id to check", () => {
    const checked = errorFixtures.filter((file) => readSiblingHeaders(file)?.headers["request-id"] !== undefined)
    expect(checked.length).toBeGreaterThan(0)
  })

  it("the 401's x-should-retry: false and the 529's x-should-retry: true are kept", () => {
    const read = (name: string) =>
      Errors.fromResponse(context, AnthropicErrors.classifyError, {
        status: readFixtureHeaders(`anthropic/${name}.headers.json`).status,
        headers: readFixtureHeaders(`anthropic/${name}.headers.json`).headers,
        bodyText: readFixture(`anthropic/${name}.json`)
      }, 0)
    expect(read("error-401-authentication")).toMatchObject({
      _tag: "AuthenticationFailed",
      shouldRetry: false,
      requestId: "req_013JyjhVcnhy8mfJkvBTqMNB"
    })
    expect(read("error-529-overloaded")).toMatchObject({
      _tag: "Overloaded",
      shouldRetry: true,
      requestId: "req_01RCc7MbLyQNtGKzBTv8VCep"
    })
  })
})
