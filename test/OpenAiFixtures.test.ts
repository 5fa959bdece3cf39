/**
 * The OpenAI / Azure decoders against real recorded payloads (`../shared/fixtures`, see its MANIFEST.md).
 * Expected values are computed from the fixture itself by a deliberately naive reading of its JSON, kept
 * separate from (and much simpler than) the decoder under test.
 */
import { expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as ChatResponse from "../src/ChatResponse.js"
import * as Errors from "../src/internal/errors.js"
import * as Framing from "../src/internal/framing.js"
import * as OpenAiErrors from "../src/internal/openai/errors.js"
import * as OpenAiResponse from "../src/internal/openai/response.js"
import * as OpenAiStream from "../src/internal/openai/stream.js"
import * as Streaming from "../src/internal/streaming.js"
import type * as LlmError from "../src/LlmError.js"
import * as StreamPart from "../src/StreamPart.js"
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

const context: Errors.ErrorContext = { provider: "openai", model: "m", secrets: [] }
const utf8 = new TextEncoder()

// ---------------------------------------------------------------------------------------------------------------
// bytes in, parts out
// ---------------------------------------------------------------------------------------------------------------

const listFixtures = (dir: string, suffix: string): Array<string> =>
  hasFixtures
    ? fs.readdirSync(path.join(fixturesDir, dir)).filter((f) => f.endsWith(suffix)).sort().map((f) => `${dir}/${f}`)
    : []

/** A JSONL recording replayed as the SSE body it was recorded from. */
const jsonlAsSse = (text: string): string =>
  text.split("\n").filter((line) => line.trim() !== "").map((line) => `data: ${line}\n\n`).join("") +
  "data: [DONE]\n\n"

/** The SSE body of a stream fixture, as bytes. */
const streamBytes = (file: string): Uint8Array =>
  file.endsWith(".jsonl") ? utf8.encode(jsonlAsSse(readFixture(file))) : readFixtureBytes(file)

const parts = (chunks: ReadonlyArray<Uint8Array>): Stream.Stream<StreamPart.StreamPart, LlmError.LlmError> =>
  Streaming.decode(
    Framing.sse(Stream.fromIterable(chunks).pipe(Stream.rechunk(1))),
    () => OpenAiStream.makeDecoder(context, undefined)
  )

const collect = (chunks: ReadonlyArray<Uint8Array>) => StreamPart.collect(parts(chunks))

const transcript = transcriptOf((chunks) => parts(chunks))

/** The parts delivered before a failure, and the failure. */
const failing = (chunks: ReadonlyArray<Uint8Array>) =>
  Effect.gen(function*() {
    const items = Chunk.toArray(yield* Stream.runCollect(Stream.either(parts(chunks))))
    const delivered = items.filter(Either.isRight).map((item) => item.right)
    const failures = items.filter(Either.isLeft).map((item) => item.left)
    expect(failures).toHaveLength(1)
    return { delivered, error: failures[0]! }
  })

const textOf = (delivered: ReadonlyArray<StreamPart.StreamPart>): string =>
  delivered.map((part) => part.type === "text-delta" ? part.text : "").join("")

// ---------------------------------------------------------------------------------------------------------------
// the naive reading of a fixture
// ---------------------------------------------------------------------------------------------------------------

type Json = any

/** The JSON payloads of an SSE body: every `data:` line except `[DONE]` (our fixtures have one per event). */
const ssePayloads = (sse: string): Array<Json> =>
  sse.split(/\r\n|\r|\n/)
    .filter((line) => line.startsWith("data:"))
    .map((line) => line.slice(5).trim())
    .filter((data) => data !== "[DONE]")
    .map((data) => JSON.parse(data))

const finishReasons: Record<string, ChatResponse.FinishReason> = {
  stop: "stop",
  length: "length",
  tool_calls: "tool-calls",
  content_filter: "content-filter"
}

const expectedUsage = (usage: Json): ChatResponse.Usage => ({
  inputTokens: usage.prompt_tokens,
  outputTokens: usage.completion_tokens,
  totalTokens: usage.total_tokens,
  ...(typeof usage.prompt_tokens_details?.cached_tokens === "number"
    ? { cachedInputTokens: usage.prompt_tokens_details.cached_tokens }
    : {}),
  ...(typeof usage.completion_tokens_details?.reasoning_tokens === "number"
    ? { reasoningTokens: usage.completion_tokens_details.reasoning_tokens }
    : {})
})

interface Expected {
  id: string
  text: string
  refusal: string
  toolCalls: Array<{ index: number; id: string; name: string; raw: string }>
  finish: string | undefined
  usage: Json
}

/** What a stream says, read from its payloads: choice index 0 only (the unified model has one choice). */
const expectedOfStream = (payloads: ReadonlyArray<Json>): Expected => {
  const out: Expected = { id: "", text: "", refusal: "", toolCalls: [], finish: undefined, usage: undefined }
  for (const payload of payloads) {
    if (out.id === "" && typeof payload.id === "string") out.id = payload.id
    if (payload.usage) out.usage = payload.usage
    for (const choice of payload.choices ?? []) {
      if ((choice.index ?? 0) !== 0) continue
      if (choice.finish_reason) out.finish = choice.finish_reason
      const delta = choice.delta ?? {}
      if (typeof delta.content === "string") out.text += delta.content
      if (typeof delta.refusal === "string") out.refusal += delta.refusal
      for (const call of delta.tool_calls ?? []) {
        let entry = out.toolCalls.find((c) => c.index === call.index)
        if (entry === undefined) {
          entry = { index: call.index, id: call.id, name: call.function.name, raw: "" }
          out.toolCalls.push(entry)
        }
        entry.raw += call.function.arguments ?? ""
      }
    }
  }
  out.toolCalls.sort((a, b) => a.index - b.index)
  return out
}

// ---------------------------------------------------------------------------------------------------------------
// streams
// ---------------------------------------------------------------------------------------------------------------

const quotaStream = "openai/responses-stream-error-insufficient-quota.jsonl"
const docsStream = "azure/docs-async-filter-blocked-stream.txt"

const streamFixtures = [
  ...listFixtures("openai", ".sse"),
  ...listFixtures("azure", ".sse"),
  ...listFixtures("openai", ".jsonl"),
  ...listFixtures("azure", ".jsonl")
]
const goodStreams = streamFixtures.filter((file) => file !== quotaStream)

describeFixtures("OpenAI / Azure stream fixtures", () => {
  it("finds every stream fixture the manifest lists", () => {
    expect(streamFixtures).toHaveLength(11)
    expect(streamFixtures).toContain(quotaStream)
    expect(streamFixtures).toContain("azure/chat-stream-model-router-prompt-filter.jsonl")
  })

  for (const file of goodStreams) {
    it.effect(`${file}: decodes to the text, refusal, tool calls, finish and usage it carries`, () =>
      Effect.gen(function*() {
        const body = new TextDecoder().decode(streamBytes(file))
        const want = expectedOfStream(ssePayloads(body))
        const response = yield* collect([streamBytes(file)])

        expect(response.id).toBe(want.id)
        expect(ChatResponse.text(response)).toBe(want.text)
        expect(ChatResponse.refusal(response)).toBe(want.refusal === "" ? undefined : want.refusal)
        expect(ChatResponse.toolCalls(response)).toEqual(want.toolCalls.map((call) => ({
          type: "tool-call",
          id: call.id,
          name: call.name,
          rawArguments: call.raw,
          arguments: JSON.parse(call.raw)
        })))
        expect(want.finish).toBeDefined()
        expect(response.finishReason).toBe(finishReasons[want.finish!])
        expect(response.rawFinishReason).toBe(want.finish)
        expect(response.usage).toEqual(want.usage === undefined ? undefined : expectedUsage(want.usage))
      }))
  }

  it.effect("chat-stream-text-include-usage: plain text and the usage chunk with choices: []", () =>
    Effect.gen(function*() {
      const response = yield* collect([streamBytes("openai/chat-stream-text-include-usage.sse")])
      expect(response.content.map((part) => part.type)).toEqual(["text"])
      expect(ChatResponse.text(response).length).toBeGreaterThan(50)
      expect(response.finishReason).toBe("stop")
      expect(response.usage).toMatchObject({ inputTokens: 14, outputTokens: 30, totalTokens: 44 })
    }))

  it.effect("chat-stream-length-cached-tokens: finish length, cached_tokens 1280", () =>
    Effect.gen(function*() {
      const response = yield* collect([streamBytes("openai/chat-stream-length-cached-tokens.sse")])
      expect(response.finishReason).toBe("length")
      expect(response.usage?.cachedInputTokens).toBe(1280)
    }))

  it.effect("chat-stream-finish-length: finish length", () =>
    Effect.gen(function*() {
      const response = yield* collect([streamBytes("openai/chat-stream-finish-length.sse")])
      expect(response.finishReason).toBe("length")
      expect(response.rawFinishReason).toBe("length")
    }))

  it.effect("azure model-router jsonl: prompt filter chunk first, reasoning_tokens 64", () =>
    Effect.gen(function*() {
      const file = "azure/chat-stream-model-router-prompt-filter.jsonl"
      const first = JSON.parse(readFixture(file).split("\n")[0]!)
      const response = yield* collect([streamBytes(file)])
      expect(response.usage?.reasoningTokens).toBe(64)
      expect(ChatResponse.text(response)).toBe("Capital of Denmark.")
      expect(response.finishReason).toBe("stop")
      expect(response.providerMetadata?.promptFilterResults).toEqual(first.prompt_filter_results)
    }))

  it.effect("azure content-filter-results .sse: a choice without delta and no usage chunk", () =>
    Effect.gen(function*() {
      const response = yield* collect([streamBytes("azure/chat-stream-content-filter-results.sse")])
      expect(response.usage).toBeUndefined()
      expect(response.finishReason).toBe("stop")
      expect(ChatResponse.text(response).length).toBeGreaterThan(0)
    }))

  it.effect("chat-stream-tool-call-arg-deltas: one tool call assembled from many argument deltas", () =>
    Effect.gen(function*() {
      const file = "openai/chat-stream-tool-call-arg-deltas.sse"
      const all = Chunk.toArray(yield* Stream.runCollect(parts([streamBytes(file)])))
      const calls = ChatResponse.toolCalls(yield* collect([streamBytes(file)]))
      expect(calls).toHaveLength(1)
      expect(calls[0]!.id).toMatch(/^call_/)
      expect(calls[0]!.arguments).toBeTypeOf("object")
      expect(all.filter((part) => part.type === "tool-call-delta").length).toBeGreaterThan(3)
      expect(all.filter((part) => part.type === "tool-call-start")).toHaveLength(1)
    }))

  it.effect("chat-stream-parallel-tool-calls: two tool calls, in index order, arguments parse", () =>
    Effect.gen(function*() {
      const file = "openai/chat-stream-parallel-tool-calls.sse"
      const want = expectedOfStream(ssePayloads(readFixture(file)))
      const response = yield* collect([streamBytes(file)])
      const calls = ChatResponse.toolCalls(response)
      expect(want.toolCalls.map((call) => call.index)).toEqual([0, 1])
      expect(calls.map((call) => call.id)).toEqual(want.toolCalls.map((call) => call.id))
      expect(calls.map((call) => call.name)).toEqual(want.toolCalls.map((call) => call.name))
      expect(new Set(calls.map((call) => call.id)).size).toBe(2)
      for (const call of calls) {
        expect(call.arguments).toEqual(JSON.parse(call.rawArguments))
        expect(call.arguments).toBeTypeOf("object")
      }
      expect(response.finishReason).toBe("tool-calls")
    }))

  for (const file of ["openai/chat-stream-refusal.sse", "openai/chat-stream-refusal-logprobs.sse"]) {
    it.effect(`${file}: the refusal text, and no text`, () =>
      Effect.gen(function*() {
        const want = expectedOfStream(ssePayloads(readFixture(file)))
        const response = yield* collect([streamBytes(file)])
        expect(want.refusal.length).toBeGreaterThan(0)
        expect(ChatResponse.refusal(response)).toBe(want.refusal)
        expect(ChatResponse.text(response)).toBe("")
        expect(response.content.map((part) => part.type)).toEqual(["refusal"])
      }))
  }

  it.effect("chat-stream-n3-multiple-choices: only choice 0 is decoded", () =>
    Effect.gen(function*() {
      const file = "openai/chat-stream-n3-multiple-choices.sse"
      const payloads = ssePayloads(readFixture(file))
      const indices = new Set(payloads.flatMap((payload) => (payload.choices ?? []).map((c: Json) => c.index)))
      expect([...indices].sort()).toEqual([0, 1, 2])
      const response = yield* collect([streamBytes(file)])
      expect(ChatResponse.text(response)).toBe(expectedOfStream(payloads).text)
      // Text of the other choices does not leak in.
      const other = payloads.flatMap((payload) =>
        (payload.choices ?? []).filter((c: Json) => c.index === 1).map((c: Json) => c.delta?.content ?? "")
      ).join("")
      expect(other.length).toBeGreaterThan(0)
      expect(ChatResponse.text(response)).not.toContain(other)
    }))

  it.effect(`${quotaStream}: the error event fails the stream with QuotaExhausted`, () =>
    Effect.gen(function*() {
      const errorEvent = readFixture(quotaStream).split("\n").map((line) => JSON.parse(line)).find((event: Json) =>
        event.type === "error"
      )
      expect(errorEvent.error.code).toBe("insufficient_quota")
      const { delivered, error } = yield* failing([streamBytes(quotaStream)])
      expect(error._tag).toBe("QuotaExhausted")
      expect(error.message).toContain(errorEvent.error.message)
      expect(delivered.filter(StreamPart.isContent)).toEqual([])
    }))

  // -------------------------------------------------------------------------------------------------------------
  // the Azure docs example
  // -------------------------------------------------------------------------------------------------------------

  const docsText = () => readFixture(docsStream)
  /** The docs example minus its two artifacts: the "... " elision line, and the line-wrapped model name. */
  const repairedDocs = (): string => {
    const text = docsText()
    const elision = "\n... \n\n"
    const wrap = "\"gpt-35- \n\nturbo\""
    expect(text.split(elision)).toHaveLength(2)
    expect(text.split(wrap)).toHaveLength(2)
    return text.replace(elision, "\n").replace(wrap, "\"gpt-35-turbo\"")
  }

  it.effect(`${docsStream}: as published, fails with MalformedResponse at its first line that is not SSE`, () =>
    Effect.gen(function*() {
      // The docs' "... " elision line is neither an event nor JSON: the stream fails there rather than skip it.
      const lines = docsText().split("\n")
      const elision = lines.indexOf("... ")
      expect(elision).toBeGreaterThan(0)
      const before = lines.slice(0, elision).filter((line) => line.startsWith("data: ")).map((line) =>
        JSON.parse(line.slice(6))
      )
      const { delivered, error } = yield* failing([utf8.encode(docsText())])
      expect(error._tag).toBe("MalformedResponse")
      expect(error.body).toBe("... ")
      expect(error.message).toContain("a line in the stream is not an event")
      expect(textOf(delivered)).toBe(expectedOfStream(before).text)
      expect(textOf(delivered)).toBe("Hey Jude,")
    }))

  it.effect(`${docsStream}: without its elision line, fails with MalformedResponse at the line-wrapped data line`, () =>
    Effect.gen(function*() {
      const text = docsText().replace("\n... \n\n", "\n")
      const broken = text.split("\n").find((line) => line.startsWith("data: ") && line.includes("\"gpt-35- "))
      expect(broken).toBeDefined()
      const { error } = yield* failing([utf8.encode(text)])
      expect(error._tag).toBe("MalformedResponse")
      expect(error.body).toBe(broken!.slice("data: ".length))
    }))

  /** What every decode of a repaired copy must deliver before its end. */
  const expectRepairedContent = (repaired: string, response: ChatResponse.ChatResponse) => {
    const payloads = ssePayloads(repaired)
    const want = expectedOfStream(payloads)
    expect(ChatResponse.text(response)).toBe(want.text)
    expect(ChatResponse.text(response)).toBe("Hey Jude, better")
    expect(response.model).toBe("gpt-35-turbo")
    const last = payloads[payloads.length - 1]
    expect(last.choices[0].finish_reason).toBe("content_filter")
    expect(response.providerMetadata?.contentFilterResults).toEqual(last.choices[0].content_filter_results)
    expect(response.providerMetadata?.promptFilterResults).toEqual(payloads[0].prompt_filter_results)
  }

  it.effect(`${docsStream}: repaired, decodes to finish content-filter (its "[DONE] " has a trailing space)`, () =>
    Effect.gen(function*() {
      const repaired = repairedDocs()
      expect(repaired).toContain("data: [DONE] ")
      const response = yield* collect([utf8.encode(repaired)])
      expectRepairedContent(repaired, response)
      expect(response.finishReason).toBe("content-filter")
      expect(response.rawFinishReason).toBe("content_filter")
    }))

  // -------------------------------------------------------------------------------------------------------------
  // chunking does not matter
  // -------------------------------------------------------------------------------------------------------------

  itDecodesAnyChunking(streamFixtures, streamBytes, transcript)
})

// ---------------------------------------------------------------------------------------------------------------
// non-streaming
// ---------------------------------------------------------------------------------------------------------------

const nonStreamFixtures = [...listFixtures("openai", ".json"), ...listFixtures("azure", ".json")].filter((file) =>
  path.basename(file).startsWith("chat-nonstream-")
)

describeFixtures("OpenAI / Azure non-streaming fixtures", () => {
  it("finds every non-streaming fixture", () => {
    expect(nonStreamFixtures).toHaveLength(4)
  })

  for (const file of nonStreamFixtures) {
    it.effect(`${file}: decodes to the message, finish and usage it carries`, () =>
      Effect.gen(function*() {
        const text = readFixture(file)
        const json = JSON.parse(text)
        const choice = json.choices[0]
        const message = choice.message
        const response = yield* OpenAiResponse.decodeResponse(
          json,
          { text, status: 200, requestId: undefined },
          context
        )

        expect(response.id).toBe(json.id)
        expect(response.model).toBe(json.model)
        expect(ChatResponse.text(response)).toBe(message.content ?? "")
        expect(ChatResponse.refusal(response)).toBe(message.refusal ?? undefined)
        expect(ChatResponse.toolCalls(response)).toEqual((message.tool_calls ?? []).map((call: Json) => ({
          type: "tool-call",
          id: call.id,
          name: call.function.name,
          rawArguments: call.function.arguments,
          arguments: JSON.parse(call.function.arguments)
        })))
        expect(response.finishReason).toBe(finishReasons[choice.finish_reason])
        expect(response.rawFinishReason).toBe(choice.finish_reason)
        expect(response.usage).toEqual(expectedUsage(json.usage))
        expect(response.providerMetadata?.systemFingerprint).toBe(json.system_fingerprint)
      }))
  }

  it.effect("chat-nonstream-parallel-tool-calls: two tool calls in order", () =>
    Effect.gen(function*() {
      const text = readFixture("openai/chat-nonstream-parallel-tool-calls.json")
      const response = yield* OpenAiResponse.decodeResponse(
        JSON.parse(text),
        { text, status: 200, requestId: undefined },
        context
      )
      expect(ChatResponse.toolCalls(response).map((call) => call.name)).toEqual(["GetWeatherArgs", "get_stock_price"])
      expect(response.finishReason).toBe("tool-calls")
    }))

  it.effect("chat-nonstream-refusal: the refusal and no text", () =>
    Effect.gen(function*() {
      const text = readFixture("openai/chat-nonstream-refusal.json")
      const response = yield* OpenAiResponse.decodeResponse(
        JSON.parse(text),
        { text, status: 200, requestId: undefined },
        context
      )
      expect(response.content).toEqual([{ type: "refusal", text: JSON.parse(text).choices[0].message.refusal }])
    }))

  it.effect("azure chat-nonstream-content-filter-annotations: filter results kept in providerMetadata", () =>
    Effect.gen(function*() {
      const text = readFixture("azure/chat-nonstream-content-filter-annotations.json")
      const json = JSON.parse(text)
      const response = yield* OpenAiResponse.decodeResponse(json, { text, status: 200, requestId: undefined }, context)
      expect(json.prompt_filter_results[0].content_filter_results.jailbreak).toBeDefined()
      expect(response.providerMetadata?.promptFilterResults).toEqual(json.prompt_filter_results)
      expect(response.providerMetadata?.contentFilterResults).toEqual(json.choices[0].content_filter_results)
      expect(ChatResponse.text(response)).toBe("The capital of France is **Paris**.")
    }))
})

// ---------------------------------------------------------------------------------------------------------------
// error bodies
// ---------------------------------------------------------------------------------------------------------------

const errorFixtures = [...listFixtures("openai", ".json"), ...listFixtures("azure", ".json")].filter((file) =>
  path.basename(file).startsWith("error-") && !file.endsWith(".headers.json")
)

const expectedErrorTags: Record<string, LlmError.Tag> = {
  "openai/error-400-unsupported-parameter.json": "InvalidRequest",
  "openai/error-401-invalid-api-key.json": "AuthenticationFailed",
  "openai/error-404-model-not-found.json": "NotFound",
  "openai/error-429-rate-limit-tokens.json": "RateLimited",
  "openai/error-500-server-error.json": "ServerError",
  "azure/error-400-content-filter-prompt.json": "ContentFiltered"
}

describeFixtures("OpenAI / Azure error bodies", () => {
  it("every error fixture has an expected tag", () => {
    expect([...errorFixtures].sort()).toEqual(Object.keys(expectedErrorTags).sort())
  })

  for (const file of errorFixtures) {
    it(`${file}: classified as ${expectedErrorTags[file]} with status, message and body`, () => {
      const bodyText = readFixture(file)
      const status = Number(/error-(\d{3})-/.exec(path.basename(file))![1])
      const recorded = readSiblingHeaders(file)
      if (recorded !== undefined) expect(recorded.status).toBe(status)
      const error = Errors.fromResponse(context, OpenAiErrors.classifyError, {
        status,
        headers: recorded?.headers ?? {},
        bodyText
      }, 0)
      expect(error._tag).toBe(expectedErrorTags[file])
      expect(error.status).toBe(status)
      expect(error.provider).toBe("openai")
      expect(error.message).toContain(JSON.parse(bodyText).error.message)
      expect(error.body).toBe(bodyText)
      // The recorded id where headers were recorded; none invented where they were not.
      expect(error.requestId).toBe(recorded?.headers["x-request-id"])
    })
  }

  it("some error fixtures have a recorded request id to check", () => {
    const checked = errorFixtures.filter((file) => readSiblingHeaders(file)?.headers["x-request-id"] !== undefined)
    expect(checked.length).toBeGreaterThan(0)
  })

  it("error-401-invalid-api-key: the request id comes from the recorded x-request-id header", () => {
    const recorded = readFixtureHeaders("openai/error-401-invalid-api-key.headers.json")
    const raw = JSON.parse(readFixture("openai/error-401-invalid-api-key.headers.json"))
    const requestId = raw.headers["x-request-id"][0]
    expect(requestId).toMatch(/^req_/)
    const error = Errors.fromResponse(context, OpenAiErrors.classifyError, {
      status: 401,
      headers: recorded.headers,
      bodyText: readFixture("openai/error-401-invalid-api-key.json")
    }, 0)
    expect(error._tag).toBe("AuthenticationFailed")
    expect(error.requestId).toBe(requestId)
  })

  it("the 401 key is scrubbed from the error when it is a known secret", () => {
    const bodyText = readFixture("openai/error-401-invalid-api-key.json")
    const echoed = "sk-wrong****-key"
    expect(bodyText).toContain(echoed)
    const error = Errors.fromResponse({ ...context, secrets: [echoed] }, OpenAiErrors.classifyError, {
      status: 401,
      headers: {},
      bodyText
    }, 0)
    expect(error.message).not.toContain(echoed)
    expect(error.body).not.toContain(echoed)
  })
})
