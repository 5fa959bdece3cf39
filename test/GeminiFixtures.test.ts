/**
 * The Gemini decoders against real recorded payloads (`../shared/fixtures/gemini`, see its MANIFEST.md).
 * Expected values are computed from the fixture itself by a deliberately naive reading of its JSON, kept
 * separate from (and much simpler than) the decoder under test, or written out from reading the fixture.
 */
import { expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Either, Exit, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as ChatResponse from "../src/ChatResponse.js"
import * as Errors from "../src/internal/errors.js"
import * as GeminiErrors from "../src/internal/gemini/errors.js"
import * as GeminiFraming from "../src/internal/gemini/framing.js"
import * as GeminiRequest from "../src/internal/gemini/request.js"
import * as GeminiStream from "../src/internal/gemini/stream.js"
import * as Streaming from "../src/internal/streaming.js"
import type * as LlmError from "../src/LlmError.js"
import * as StreamPart from "../src/StreamPart.js"
import { itDecodesAnyChunking, transcriptOf } from "./support/chunking.js"
import { describeFixtures, fixturesDir, hasFixtures, readFixture, readFixtureBytes } from "./support/fixtures.js"

const context: Errors.ErrorContext = { provider: "gemini", model: "m", secrets: [] }
const utf8 = new TextEncoder()

const listFixtures = (suffix: string): Array<string> =>
  hasFixtures
    ? fs.readdirSync(path.join(fixturesDir, "gemini")).filter((f) => f.endsWith(suffix)).sort().map((f) =>
      `gemini/${f}`
    )
    : []

// ---------------------------------------------------------------------------------------------------------------
// bytes in, parts out
// ---------------------------------------------------------------------------------------------------------------

/** A JSONL recording replayed as the `alt=sse` body it was recorded from (Gemini writes CRLF). */
const jsonlAsSse = (text: string): string =>
  text.split("\n").filter((line) => line.trim() !== "").map((line) => `data: ${line}\r\n\r\n`).join("")

const streamBytes = (file: string): Uint8Array =>
  file.endsWith(".jsonl") ? utf8.encode(jsonlAsSse(readFixture(file))) : readFixtureBytes(file)

const parts = (chunks: ReadonlyArray<Uint8Array>): Stream.Stream<StreamPart.StreamPart, LlmError.LlmError> =>
  Streaming.decode(
    GeminiFraming.frames(Stream.fromIterable(chunks).pipe(Stream.rechunk(1))),
    () => GeminiStream.makeDecoder(context, undefined)
  )

const collect = (chunks: ReadonlyArray<Uint8Array>) => StreamPart.collect(parts(chunks))

const transcript = transcriptOf((chunks) => parts(chunks))

const failing = (chunks: ReadonlyArray<Uint8Array>) =>
  Effect.gen(function*() {
    const items = Chunk.toArray(yield* Stream.runCollect(Stream.either(parts(chunks))))
    const delivered = items.filter(Either.isRight).map((item) => item.right)
    const failures = items.filter(Either.isLeft).map((item) => item.left)
    expect(failures).toHaveLength(1)
    return { delivered, error: failures[0]! }
  })

// ---------------------------------------------------------------------------------------------------------------
// the naive reading of a fixture
// ---------------------------------------------------------------------------------------------------------------

type Json = any

/** The JSON chunks of a stream fixture: `data:` lines, JSONL lines, or the elements of a JSON array. */
const chunksOf = (file: string): Array<Json> => {
  const text = readFixture(file)
  if (file.endsWith(".jsonl")) return text.split("\n").filter((line) => line.trim() !== "").map((l) => JSON.parse(l))
  if (file.endsWith(".json")) return JSON.parse(text)
  return text.split(/\r\n|\r|\n/).filter((line) => line.startsWith("data:")).map((line) => JSON.parse(line.slice(5)))
}

interface Expected {
  id: string | undefined
  model: string | undefined
  text: string
  reasoning: string
  calls: Array<{ name: string; args: Record<string, unknown> }>
  finish: string | undefined
  usage: Json
}

/** What the chunks say: candidate 0; `partialArgs` read as the flat string paths these fixtures use. */
const expectedOf = (chunks: ReadonlyArray<Json>): Expected => {
  const out: Expected = {
    id: undefined,
    model: undefined,
    text: "",
    reasoning: "",
    calls: [],
    finish: undefined,
    usage: undefined
  }
  for (const chunk of chunks) {
    out.id ??= chunk.responseId
    out.model ??= chunk.modelVersion
    if (typeof chunk.usageMetadata?.promptTokenCount === "number") out.usage = chunk.usageMetadata
    const candidate = chunk.candidates?.[0]
    if (candidate === undefined) continue
    if (candidate.finishReason) out.finish = candidate.finishReason
    for (const part of candidate.content?.parts ?? []) {
      if (part.thought) out.reasoning += part.text ?? ""
      else if (typeof part.text === "string") out.text += part.text
      const call = part.functionCall
      if (call?.name) out.calls.push({ name: call.name, args: call.args ?? {} })
      for (const arg of call?.partialArgs ?? []) {
        const args = out.calls[out.calls.length - 1]!.args
        const key = arg.jsonPath.slice(2)
        args[key] = ((args[key] as string | undefined) ?? "") + arg.stringValue
      }
    }
  }
  return out
}

const finishReasons: Record<string, ChatResponse.FinishReason> = {
  STOP: "stop",
  MAX_TOKENS: "length",
  SAFETY: "content-filter",
  RECITATION: "content-filter"
}

/** The unified usage the spec asks for: output counts every billed output token, thoughts included. */
const expectedUsage = (usage: Json): ChatResponse.Usage => ({
  inputTokens: usage.promptTokenCount,
  outputTokens: (usage.candidatesTokenCount ?? 0) + (usage.thoughtsTokenCount ?? 0),
  totalTokens: usage.totalTokenCount,
  ...(usage.cachedContentTokenCount === undefined ? {} : { cachedInputTokens: usage.cachedContentTokenCount }),
  ...(usage.thoughtsTokenCount === undefined ? {} : { reasoningTokens: usage.thoughtsTokenCount })
})

const expectMatches = (response: ChatResponse.ChatResponse, want: Expected) => {
  expect(response.id).toBe(want.id ?? "")
  expect(response.model).toBe(want.model ?? context.model)
  expect(ChatResponse.text(response)).toBe(want.text)
  expect(ChatResponse.reasoning(response)).toBe(want.reasoning)
  const calls = ChatResponse.toolCalls(response)
  expect(calls.map((call) => ({ name: call.name, args: call.arguments }))).toEqual(want.calls)
  for (const call of calls) expect(JSON.parse(call.rawArguments)).toEqual(call.arguments)
  expect(want.finish).toBeDefined()
  expect(response.rawFinishReason).toBe(want.finish)
  expect(response.finishReason).toBe(
    want.finish === "STOP" && want.calls.length > 0 ? "tool-calls" : finishReasons[want.finish!]
  )
  expect(response.usage).toEqual(want.usage === undefined ? undefined : expectedUsage(want.usage))
  if (response.usage !== undefined) {
    expect(response.usage.inputTokens + response.usage.outputTokens).toBe(response.usage.totalTokens)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// streams
// ---------------------------------------------------------------------------------------------------------------

const promptBlocked = "gemini/stream-sse-prompt-blocked.sse"
const midStreamError = "gemini/stream-sse-error-mid-stream.sse"
const jsonArrayFile = "gemini/stream-json-array-thinking.json"
const streamFixtures = [...listFixtures(".sse"), ...listFixtures(".jsonl"), jsonArrayFile]
const goodStreams = streamFixtures.filter((file) => file !== promptBlocked && file !== midStreamError)

describeFixtures("Gemini stream fixtures", () => {
  it("finds every stream fixture the manifest lists", () => {
    expect(streamFixtures).toHaveLength(9)
  })

  for (const file of goodStreams) {
    it.effect(`${file}: decodes to the text, reasoning, calls, finish and usage it carries`, () =>
      Effect.gen(function*() {
        expectMatches(yield* collect([streamBytes(file)]), expectedOf(chunksOf(file)))
      }))
  }

  it.effect("stream-sse-utf8-crlf: CJK text split across CRLF events", () =>
    Effect.gen(function*() {
      const response = yield* collect([streamBytes("gemini/stream-sse-utf8-crlf.sse")])
      expect(ChatResponse.text(response).startsWith("秋风瑟瑟，叶落纷纷，\n西风残照，寒霜渐浓。")).toBe(true)
      expect(response.finishReason).toBe("stop")
      expect(response.providerMetadata?.promptFeedback).toBeDefined()
    }))

  it.effect("stream-sse-thinking-function-call-signature: thoughts, then the call carrying its signature", () =>
    Effect.gen(function*() {
      const file = "gemini/stream-sse-thinking-function-call-signature.sse"
      const signature = chunksOf(file)[2].candidates[0].content.parts[0].thoughtSignature
      const response = yield* collect([streamBytes(file)])
      expect(response.content.map((part) => part.type)).toEqual(["reasoning", "tool-call"])
      expect(response.content[0]).toMatchObject({ type: "reasoning", signature })
      expect(response.content[1]).toEqual({
        type: "tool-call",
        id: "call_0",
        name: "now",
        arguments: {},
        rawArguments: "{}"
      })
      expect(response.finishReason).toBe("tool-calls")
      // 38 prompt + 6 candidates + 168 thoughts = 212
      expect(response.usage).toEqual({ inputTokens: 38, outputTokens: 174, totalTokens: 212, reasoningTokens: 168 })
      // Sent back, the signature lands on the function call part, where Gemini put it.
      const body = GeminiRequest.encodeRequest({
        messages: [{ role: "user", content: "Days until New Year's Eve?" }, ChatResponse.toMessage(response)]
      }, { model: "gemini-2.5-flash", optionKey: "gemini" })
      expect(Either.getOrThrow(body).contents).toEqual([
        { role: "user", parts: [{ text: "Days until New Year's Eve?" }] },
        {
          role: "model",
          parts: [
            { text: ChatResponse.reasoning(response), thought: true },
            { functionCall: { name: "now", args: {} }, thoughtSignature: signature }
          ]
        }
      ])
    }))

  it.effect("stream-partial-args-tool-call: Gemini 3 partialArgs assemble into two getWeather calls", () =>
    Effect.gen(function*() {
      const file = "gemini/stream-partial-args-tool-call.jsonl"
      const all = Chunk.toArray(yield* Stream.runCollect(parts([streamBytes(file)])))
      const response = yield* collect([streamBytes(file)])
      expect(ChatResponse.toolCalls(response)).toEqual([
        {
          type: "tool-call",
          id: "call_0",
          name: "getWeather",
          arguments: { location: "Boston" },
          rawArguments: "{\"location\":\"Boston\"}"
        },
        {
          type: "tool-call",
          id: "call_1",
          name: "getWeather",
          arguments: { location: "San Francisco" },
          rawArguments: "{\"location\":\"San Francisco\"}"
        }
      ])
      // The deltas of each call concatenate to its rawArguments, and come before its end.
      for (const id of ["call_0", "call_1"]) {
        const deltas = all.flatMap((part) => part.type === "tool-call-delta" && part.id === id ? [part] : [])
        expect(deltas.length).toBeGreaterThan(1)
        const end = all.find((part) => part.type === "tool-call-end" && part.id === id)
        expect(deltas.map((part) => part.argumentsDelta).join("")).toBe(
          end?.type === "tool-call-end" && end.rawArguments
        )
      }
      expect(response.finishReason).toBe("tool-calls")
      expect(response.usage).toMatchObject({
        inputTokens: 26,
        outputTokens: 155,
        totalTokens: 181,
        reasoningTokens: 132
      })
    }))

  it.effect("stream-no-args-tool-call-thought: a name-only call, then three streamed read_screen calls", () =>
    Effect.gen(function*() {
      const response = yield* collect([streamBytes("gemini/stream-no-args-tool-call-thought.jsonl")])
      expect(ChatResponse.toolCalls(response).map((call) => [call.id, call.name, call.arguments])).toEqual([
        ["call_0", "read_theme", {}],
        ["call_1", "read_screen", { id: "A" }],
        ["call_2", "read_screen", { id: "B" }],
        ["call_3", "read_screen", { id: "C" }]
      ])
      expect(response.content.map((part) => part.type)).toEqual([
        "reasoning",
        "tool-call",
        "tool-call",
        "tool-call",
        "tool-call"
      ])
      expect(response.content[0]).toMatchObject({ type: "reasoning", signature: expect.stringMatching(/^AY89/) })
    }))

  it.effect("stream-json-array-thinking: the JSON array body, its thought, answer and trailing signature", () =>
    Effect.gen(function*() {
      const elements = chunksOf(jsonArrayFile)
      const response = yield* collect([streamBytes(jsonArrayFile)])
      expect(ChatResponse.text(response)).toBe("Scoop")
      expect(response.content.map((part) => part.type)).toEqual(["reasoning", "text", "reasoning"])
      expect(response.content[2]).toEqual({
        type: "reasoning",
        text: "",
        signature: elements[2].candidates[0].content.parts[0].thoughtSignature
      })
      expect(response.model).toBe("gemini-3.6-flash")
      expect(response.usage).toEqual({ inputTokens: 11, outputTokens: 293, totalTokens: 304, reasoningTokens: 291 })
    }))

  it.effect("stream-sse-recitation-no-content: text, then a last candidate with no content: content-filter", () =>
    Effect.gen(function*() {
      const file = "gemini/stream-sse-recitation-no-content.sse"
      const cited = chunksOf(file).flatMap((chunk) => chunk.candidates[0].citationMetadata?.citationSources ?? [])
      const response = yield* collect([streamBytes(file)])
      expect(ChatResponse.text(response)).toBe("text1text2text3text4text5text6text7text8")
      expect(response.finishReason).toBe("content-filter")
      expect(response.rawFinishReason).toBe("RECITATION")
      const sources = (response.providerMetadata?.citationMetadata as { citationSources: Array<unknown> })
        .citationSources
      // every citation source of every chunk, in order
      expect(cited.length).toBeGreaterThan(5)
      expect(sources).toEqual(cited)
    }))

  it.effect("stream-sse-finish-reason-safety: the text, finish content-filter, the blocked rating kept", () =>
    Effect.gen(function*() {
      const response = yield* collect([streamBytes("gemini/stream-sse-finish-reason-safety.sse")])
      expect(response.finishReason).toBe("content-filter")
      const ratings = response.providerMetadata?.safetyRatings as Array<{ category: string; blocked?: boolean }>
      expect(ratings.find((rating) => rating.blocked)?.category).toBe("HARM_CATEGORY_HARASSMENT")
    }))

  it.effect(`${promptBlocked}: blockReason without candidates fails with ContentFiltered (its EOF lacks a blank line)`, () =>
    Effect.gen(function*() {
      expect(readFixture(promptBlocked).endsWith("}}\r\n")).toBe(true)
      const { delivered, error } = yield* failing([streamBytes(promptBlocked)])
      expect(error._tag).toBe("ContentFiltered")
      expect(error.message).toContain("SAFETY")
      expect(delivered.filter(StreamPart.isContent)).toEqual([])
    }))

  it.effect(`${midStreamError}: the raw JSON error object after two events fails the stream`, () =>
    Effect.gen(function*() {
      const raw = readFixture(midStreamError)
      const errorJson = JSON.parse(raw.slice(raw.indexOf("\n{") + 1))
      expect(errorJson.error.status).toBe("CANCELLED")
      const { delivered, error } = yield* failing([streamBytes(midStreamError)])
      expect(delivered.flatMap((part) => part.type === "text-delta" ? [part.text] : []).join("")).toBe(
        "First Second "
      )
      expect(error).toMatchObject({ _tag: "ServerError", status: 499 })
      expect(error.message).toContain(errorJson.error.message)
      expect(JSON.parse(error.body!)).toEqual(errorJson)
      expect(delivered.some((part) => part.type === "finish")).toBe(false)
    }))

  itDecodesAnyChunking(streamFixtures, streamBytes, transcript)
})

// ---------------------------------------------------------------------------------------------------------------
// non-streaming
// ---------------------------------------------------------------------------------------------------------------

const decode = (file: string) => {
  const text = readFixture(file)
  return GeminiStream.decodeResponse(JSON.parse(text), { text, status: 200, requestId: "req-1" }, context)
}

describeFixtures("Gemini non-streaming fixtures", () => {
  it("finds every non-streaming fixture", () => {
    expect(listFixtures(".json").filter((file) => path.basename(file).startsWith("nonstream-"))).toEqual([
      "gemini/nonstream-parallel-function-calls.json",
      "gemini/nonstream-prompt-blocked.json",
      "gemini/nonstream-safety-blocked-empty-content.json"
    ])
  })

  it.effect("nonstream-parallel-function-calls: three calls in order, ids call_0..2, finish tool-calls", () =>
    Effect.gen(function*() {
      const file = "gemini/nonstream-parallel-function-calls.json"
      const response = yield* decode(file)
      expectMatches(response, expectedOf([JSON.parse(readFixture(file))]))
      expect(ChatResponse.toolCalls(response).map((call) => [call.id, call.name, call.arguments])).toEqual([
        ["call_0", "sum", { y: 1, x: 2 }],
        ["call_1", "multiply", { y: 3, x: 4 }],
        ["call_2", "subtract", { y: 5, x: 6 }]
      ])
      expect(response.usage).toBeUndefined()
      expect(response.providerMetadata?.requestId).toBe("req-1")
    }))

  it.effect("nonstream-safety-blocked-empty-content: no content, finish content-filter, not an error", () =>
    Effect.gen(function*() {
      const file = "gemini/nonstream-safety-blocked-empty-content.json"
      const json = JSON.parse(readFixture(file))
      const response = yield* decode(file)
      expectMatches(response, expectedOf([json]))
      expect(response.content).toEqual([])
      expect(response.finishReason).toBe("content-filter")
      expect(response.usage).toEqual({ inputTokens: 14, outputTokens: 0, totalTokens: 14 })
      expect(response.providerMetadata?.safetyRatings).toEqual(json.candidates[0].safetyRatings)
    }))

  it.effect("nonstream-prompt-blocked: ContentFiltered naming the block reason", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(decode("gemini/nonstream-prompt-blocked.json"))
      expect(Exit.isFailure(exit) && exit.cause._tag === "Fail" && exit.cause.error).toMatchObject({
        _tag: "ContentFiltered",
        status: 200,
        requestId: "req-1",
        message: "gemini: the prompt was blocked (SAFETY)"
      })
    }))

  it.effect("the same body streamed (as one SSE event) and decoded whole gives the same response", () =>
    Effect.gen(function*() {
      for (const file of ["gemini/nonstream-parallel-function-calls.json"]) {
        const text = readFixture(file)
        const whole = yield* GeminiStream.decodeResponse(JSON.parse(text), {
          text,
          status: 200,
          requestId: undefined
        }, context)
        const streamed = yield* collect([utf8.encode(`data: ${JSON.stringify(JSON.parse(text))}\r\n\r\n`)])
        expect({ ...streamed, provider: "gemini" }).toEqual(whole)
      }
    }))
})

// ---------------------------------------------------------------------------------------------------------------
// error bodies
// ---------------------------------------------------------------------------------------------------------------

const expectedErrorTags: Record<string, LlmError.Tag> = {
  "gemini/error-400-api-key-invalid.json": "AuthenticationFailed",
  "gemini/error-403-api-not-enabled.json": "AuthenticationFailed",
  "gemini/error-404-model-not-found.json": "NotFound",
  // per-minute quota, but its limit is 0: waiting cannot help
  "gemini/error-429-quota-exceeded.json": "QuotaExhausted",
  // per-minute quota with a RetryInfo: retry after 34.4 s
  "gemini/error-429-retry-info.json": "RateLimited"
}

describeFixtures("Gemini error bodies", () => {
  const errorFixtures = listFixtures(".json").filter((file) => path.basename(file).startsWith("error-"))

  it("every error fixture has an expected tag", () => {
    expect(errorFixtures).toEqual(Object.keys(expectedErrorTags).sort())
  })

  for (const file of errorFixtures) {
    it(`${file}: classified as ${expectedErrorTags[file]} with status, message and body`, () => {
      const bodyText = readFixture(file)
      const status = Number(/error-(\d{3})-/.exec(path.basename(file))![1])
      const error = Errors.fromResponse(context, GeminiErrors.classifyError, { status, headers: {}, bodyText }, 0)
      expect(error._tag).toBe(expectedErrorTags[file])
      expect(error.status).toBe(status)
      expect(error.provider).toBe("gemini")
      expect(error.message).toBe(`gemini ${status}: ${JSON.parse(bodyText).error.message}`)
      expect(error.body).toBe(bodyText)
    })
  }

  it("error-429-retry-info: RetryInfo.retryDelay \"34.4s\" is retryAfter when no header says otherwise", () => {
    const bodyText = readFixture("gemini/error-429-retry-info.json")
    const fromBody = Errors.fromResponse(context, GeminiErrors.classifyError, { status: 429, headers: {}, bodyText }, 0)
    expect(fromBody.retryAfter && Duration.toMillis(fromBody.retryAfter)).toBe(34_400)
    const fromHeader = Errors.fromResponse(context, GeminiErrors.classifyError, {
      status: 429,
      headers: { "retry-after": "3" },
      bodyText
    }, 0)
    expect(fromHeader.retryAfter && Duration.toMillis(fromHeader.retryAfter)).toBe(3000)
  })

  it("error-400-api-key-invalid: the key its DebugInfo echoes is scrubbed when it is a known secret", () => {
    const bodyText = readFixture("gemini/error-400-api-key-invalid.json")
    expect(bodyText).toContain("key1234")
    const error = Errors.fromResponse({ ...context, secrets: ["key1234-but-longer"] }, GeminiErrors.classifyError, {
      status: 400,
      headers: {},
      bodyText: bodyText.replace("key1234", "key1234-but-longer")
    }, 0)
    expect(error._tag).toBe("AuthenticationFailed")
    expect(error.body).not.toContain("key1234-but-longer")
  })
})
