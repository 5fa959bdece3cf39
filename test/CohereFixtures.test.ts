/**
 * The Cohere v2 Chat decoders against real recorded payloads (`../shared/fixtures/cohere`, see its MANIFEST.md).
 * Expected values are computed from the fixture itself by a deliberately naive reading of its JSON, kept
 * separate from (and much simpler than) the decoder under test, or are quoted from the fixture.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Layer, Redacted, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as ChatResponse from "../src/ChatResponse.js"
import * as CohereErrors from "../src/internal/cohere/errors.js"
import * as CohereResponse from "../src/internal/cohere/response.js"
import * as CohereStream from "../src/internal/cohere/stream.js"
import * as Errors from "../src/internal/errors.js"
import * as Framing from "../src/internal/framing.js"
import * as Streaming from "../src/internal/streaming.js"
import * as LanguageModel from "../src/LanguageModel.js"
import type * as LlmError from "../src/LlmError.js"
import * as Cohere from "../src/providers/Cohere.js"
import * as StreamPart from "../src/StreamPart.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import { itDecodesAnyChunking, transcriptOf } from "./support/chunking.js"
import {
  describeFixtures,
  fixturesDir,
  hasFixtures,
  readFixture,
  readFixtureBytes,
  readFixtureHeaders
} from "./support/fixtures.js"
import { secretKey } from "./support/loopback.js"

const context: Errors.ErrorContext = { provider: "cohere", model: "command-a-03-2025", secrets: [] }
const utf8 = new TextEncoder()

type Json = any

const allFixtures = (): Array<string> =>
  hasFixtures ? fs.readdirSync(path.join(fixturesDir, "cohere")).sort().map((f) => `cohere/${f}`) : []

const jsonlLines = (file: string): Array<string> => readFixture(file).split("\n").filter((line) => line.trim() !== "")

/** A JSONL recording replayed as the SSE body it was recorded from (MANIFEST: `event: <type>` from the JSON). */
const jsonlAsSse = (file: string, options: { readonly named?: boolean; readonly done?: boolean } = {}): string =>
  jsonlLines(file).map((line) =>
    `${options.named === false ? "" : `event: ${JSON.parse(line).type}\n`}data: ${line}\n\n`
  ).join("") + (options.done === false ? "" : "data: [DONE]\n\n")

/** The SSE body of a stream fixture, as bytes. */
const streamBytes = (file: string): Uint8Array =>
  file.endsWith(".jsonl") ? utf8.encode(jsonlAsSse(file)) : readFixtureBytes(file)

const parts = (chunks: ReadonlyArray<Uint8Array>): Stream.Stream<StreamPart.StreamPart, LlmError.LlmError> =>
  Streaming.decode(
    Framing.sse(Stream.fromIterable(chunks).pipe(Stream.rechunk(1))),
    () => CohereStream.makeDecoder(context, { requestId: undefined, providerMetadata: {} })
  )

const collect = (bytes: Uint8Array) => StreamPart.collect(parts([bytes]))
const allParts = (bytes: Uint8Array) => Effect.map(Stream.runCollect(parts([bytes])), Chunk.toArray)

const transcript = transcriptOf((chunks) => parts(chunks))

// ---------------------------------------------------------------------------------------------------------------
// the naive reading of a fixture
// ---------------------------------------------------------------------------------------------------------------

/** The JSON payloads of a stream fixture: every `data:` line except `[DONE]` (one per event in our fixtures). */
const payloadsOf = (file: string): Array<Json> =>
  file.endsWith(".jsonl")
    ? jsonlLines(file).map((line) => JSON.parse(line))
    : readFixture(file).split("\n").filter((line) => line.startsWith("data:")).map((line) => line.slice(5).trim())
      .filter((data) => data !== "[DONE]").map((data) => JSON.parse(data))

const finishReasons: Record<string, ChatResponse.FinishReason> = {
  COMPLETE: "stop",
  STOP_SEQUENCE: "stop",
  MAX_TOKENS: "length",
  TOOL_CALL: "tool-calls"
}

const expectedUsage = (usage: Json): ChatResponse.Usage => ({
  inputTokens: usage.tokens.input_tokens,
  outputTokens: usage.tokens.output_tokens,
  totalTokens: usage.tokens.input_tokens + usage.tokens.output_tokens,
  ...(usage.cached_tokens === undefined ? {} : { cachedInputTokens: usage.cached_tokens })
})

interface Expected {
  id: string
  text: string
  reasoning: string
  toolCalls: Array<{ index: number; id: string; name: string; raw: string }>
  finish: string
  usage: Json
}

const expectedOfStream = (payloads: ReadonlyArray<Json>): Expected => {
  const out: Expected = { id: "", text: "", reasoning: "", toolCalls: [], finish: "", usage: undefined }
  for (const payload of payloads) {
    const message = payload.delta?.message ?? {}
    switch (payload.type) {
      case "message-start":
        out.id = payload.id
        break
      case "content-start":
      case "content-delta":
        out.text += message.content.text ?? ""
        out.reasoning += message.content.thinking ?? ""
        break
      case "tool-plan-delta":
        out.reasoning += message.tool_plan
        break
      case "tool-call-start":
        out.toolCalls.push({
          index: payload.index,
          id: message.tool_calls.id,
          name: message.tool_calls.function.name,
          raw: message.tool_calls.function.arguments
        })
        break
      case "tool-call-delta":
        out.toolCalls.find((call) => call.index === payload.index)!.raw += message.tool_calls.function.arguments
        break
      case "message-end":
        out.finish = payload.delta.finish_reason
        out.usage = payload.delta.usage
        break
    }
  }
  return out
}

const streamFixtures = allFixtures().filter((file) => file.endsWith(".sse") || file.endsWith(".jsonl"))
const nonStreamFixtures = allFixtures().filter((file) => path.basename(file).startsWith("chat-v2-nonstream-"))

// ---------------------------------------------------------------------------------------------------------------
// streams
// ---------------------------------------------------------------------------------------------------------------

describeFixtures("Cohere stream fixtures", () => {
  it("finds every Cohere fixture the manifest lists", () => {
    expect(allFixtures()).toHaveLength(11)
    expect(streamFixtures).toHaveLength(5)
    expect(nonStreamFixtures).toHaveLength(4)
  })

  for (const file of streamFixtures) {
    it.effect(`${file}: decodes to the id, text, reasoning, tool calls, finish and usage it carries`, () =>
      Effect.gen(function*() {
        const want = expectedOfStream(payloadsOf(file))
        const response = yield* collect(streamBytes(file))
        expect(response.id).toBe(want.id)
        expect(response.provider).toBe("cohere")
        expect(response.model).toBe(context.model)
        expect(ChatResponse.text(response)).toBe(want.text)
        expect(ChatResponse.reasoning(response)).toBe(want.reasoning)
        expect(ChatResponse.toolCalls(response)).toEqual(want.toolCalls.map((call) => ({
          type: "tool-call",
          id: call.id,
          name: call.name,
          rawArguments: call.raw,
          arguments: call.raw === "" ? {} : JSON.parse(call.raw)
        })))
        expect(response.finishReason).toBe(finishReasons[want.finish])
        expect(response.rawFinishReason).toBe(want.finish)
        expect(response.usage).toEqual(expectedUsage(want.usage))
        expect(response.providerMetadata?.billedUnits).toEqual(want.usage.billed_units)
      }))
  }

  it.effect("chat-v2-stream-tool-plan-tool-call.sse: the plan as reasoning, then Person({name, age})", () =>
    Effect.gen(function*() {
      const file = "cohere/chat-v2-stream-tool-plan-tool-call.sse"
      const response = yield* collect(streamBytes(file))
      expect(response.content.map((part) => part.type)).toEqual(["reasoning", "tool-call"])
      expect(ChatResponse.reasoning(response)).toBe(
        "I will use the Person tool to create a person with the name Erick and age 27, and then relay this " +
          "information to the user."
      )
      const [call] = ChatResponse.toolCalls(response)
      expect(call).toMatchObject({ id: "Person_2fnrphbsnr66", name: "Person", arguments: { name: "Erick", age: 27 } })
      // The arguments arrive in tiny fragments, newlines included.
      expect(call!.rawArguments).toBe("{\n    \"name\": \"Erick\",\n    \"age\": 27\n}")
      expect(response.finishReason).toBe("tool-calls")
      expect(response.usage).toEqual({ inputTokens: 906, outputTokens: 77, totalTokens: 983 })
      expect(response.providerMetadata?.billedUnits).toEqual({ input_tokens: 23, output_tokens: 41 })
    }))

  it.effect("chat-v2-stream-tool-plan-tool-call.sse: parts in order, one start/end per call, finish last", () =>
    Effect.gen(function*() {
      const file = "cohere/chat-v2-stream-tool-plan-tool-call.sse"
      const count = (type: string) => payloadsOf(file).filter((payload) => payload.type === type).length
      const all = yield* allParts(streamBytes(file))
      expect(all[0]).toEqual({
        type: "response-metadata",
        provider: "cohere",
        id: "35c028fc-0223-47b6-8fae-ebd3255e9a63",
        model: context.model
      })
      expect(all.filter((part) => part.type === "tool-call-start")).toEqual([
        { type: "tool-call-start", id: "Person_2fnrphbsnr66", name: "Person" }
      ])
      // one part per event: the start carries arguments "", which makes no delta
      expect(all.filter((part) => part.type === "tool-call-delta")).toHaveLength(count("tool-call-delta"))
      expect(all.filter((part) => part.type === "tool-call-end")).toHaveLength(count("tool-call-end"))
      expect(all.filter((part) => part.type === "reasoning-delta")).toHaveLength(count("tool-plan-delta"))
      expect(all.map((part) => part.type).slice(-2)).toEqual(["usage", "finish"])
    }))

  it.effect("chat-v2-stream-empty-tool-call-args.jsonl: a start with arguments \"\" then an end is a call with {}", () =>
    Effect.gen(function*() {
      const response = yield* collect(streamBytes("cohere/chat-v2-stream-empty-tool-call-args.jsonl"))
      expect(ChatResponse.toolCalls(response)).toEqual([{
        type: "tool-call",
        id: "currentTime_y46ar19t5gvw",
        name: "currentTime",
        arguments: {},
        rawArguments: ""
      }])
      expect(response.usage?.cachedInputTokens).toBe(704)
    }))

  it.effect("chat-v2-stream-reasoning.jsonl: the thinking block, then the text block", () =>
    Effect.gen(function*() {
      const response = yield* collect(streamBytes("cohere/chat-v2-stream-reasoning.jsonl"))
      expect(response.content.map((part) => part.type)).toEqual(["reasoning", "text"])
      expect(ChatResponse.text(response)).toBe("The answer to 2 + 2 is 4.")
      expect(ChatResponse.reasoning(response)).toMatch(/^The user is asking for the sum of 2 and 2\./)
      expect(response.finishReason).toBe("stop")
      expect(response.usage).toEqual({
        inputTokens: 1394,
        outputTokens: 54,
        totalTokens: 1448,
        cachedInputTokens: 1360
      })
    }))

  it.effect("chat-v2-stream-two-tool-calls.jsonl: two calls in index order after the plan", () =>
    Effect.gen(function*() {
      const response = yield* collect(streamBytes("cohere/chat-v2-stream-two-tool-calls.jsonl"))
      expect(ChatResponse.toolCalls(response).map(({ arguments: args, id, name }) => ({ id, name, args }))).toEqual([
        { id: "weather_e8p4pn45zt0t", name: "weather", args: { location: "San Francisco" } },
        { id: "cityAttractions_pyxssbwnq9fq", name: "cityAttractions", args: { city: "San Francisco" } }
      ])
      expect(ChatResponse.reasoning(response)).toContain("cityAttractions tool")
    }))

  it.effect("chat-v2-stream-text.sse: its trailing un-named data: [DONE] is accepted, and nothing after it is read", () =>
    Effect.gen(function*() {
      const file = "cohere/chat-v2-stream-text.sse"
      const text = readFixture(file)
      expect(text.endsWith("\n\ndata: [DONE]\n\n")).toBe(true)
      const whole = yield* allParts(streamBytes(file))
      const withJunk = yield* allParts(utf8.encode(`${text}event: content-delta\ndata: not json\n\n`))
      expect(withJunk).toEqual(whole)
      expect(ChatResponse.text(yield* collect(streamBytes(file)))).toMatch(/^Hi there! You're Pickle Rick\?/)
    }))

  for (const file of streamFixtures.filter((file) => file.endsWith(".jsonl"))) {
    it.effect(`${file}: without event names and without [DONE], decodes the same`, () =>
      Effect.gen(function*() {
        const named = yield* allParts(streamBytes(file))
        const bare = yield* allParts(utf8.encode(jsonlAsSse(file, { named: false, done: false })))
        expect(bare).toEqual(named)
      }))
  }

  it.effect("a stream cut before message-end fails with NetworkError after the parts it had", () =>
    Effect.gen(function*() {
      const file = "cohere/chat-v2-stream-reasoning.jsonl"
      const lines = jsonlLines(file).filter((line) => JSON.parse(line).type !== "message-end")
      const body = lines.map((line) => `event: ${JSON.parse(line).type}\ndata: ${line}\n\n`).join("")
      const items = Chunk.toArray(yield* Stream.runCollect(Stream.either(parts([utf8.encode(body)]))))
      const failures = items.filter(Either.isLeft).map((item) => item.left)
      expect(failures.map((error) => error._tag)).toEqual(["NetworkError"])
      const delivered = items.filter(Either.isRight).map((item) => item.right)
      expect(delivered.map((part) => part.type === "text-delta" ? part.text : "").join("")).toBe(
        "The answer to 2 + 2 is 4."
      )
      expect(delivered.some((part) => part.type === "finish")).toBe(false)
    }))

  it.effect("the message-end of a fixture turned into finish_reason ERROR fails with ServerError, its error kept", () =>
    Effect.gen(function*() {
      const body = readFixture("cohere/chat-v2-stream-text.sse").replace(
        "\"finish_reason\":\"COMPLETE\"",
        "\"error\":\"upstream failure\",\"finish_reason\":\"ERROR\""
      )
      const items = Chunk.toArray(yield* Stream.runCollect(Stream.either(parts([utf8.encode(body)]))))
      const failures = items.filter(Either.isLeft).map((item) => item.left)
      expect(failures).toHaveLength(1)
      expect(failures[0]).toMatchObject({ _tag: "ServerError", provider: "cohere" })
      expect(failures[0]!.message).toContain("upstream failure")
      expect(failures[0]!.body).toContain("\"finish_reason\":\"ERROR\"")
    }))

  itDecodesAnyChunking(streamFixtures, streamBytes, transcript)
})

// ---------------------------------------------------------------------------------------------------------------
// recorded headers
// ---------------------------------------------------------------------------------------------------------------

describeFixtures("Cohere recorded headers", () => {
  const headersFile = "cohere/chat-v2-stream-tool-plan-tool-call.headers.json"

  it("rateLimit reads the x-trial-endpoint-call-* and x-endpoint-monthly-call-limit headers", () => {
    const raw = JSON.parse(readFixture(headersFile)).headers
    const { headers } = readFixtureHeaders(headersFile)
    expect(CohereResponse.headerMetadata(undefined, headers)).toEqual({
      requestId: raw["x-debug-trace-id"][0],
      rateLimit: {
        trialEndpointCallLimit: Number(raw["x-trial-endpoint-call-limit"][0]),
        trialEndpointCallRemaining: Number(raw["x-trial-endpoint-call-remaining"][0]),
        endpointMonthlyCallLimit: Number(raw["x-endpoint-monthly-call-limit"][0])
      }
    })
  })

  it.scoped("the tool-plan stream over loopback with its recorded headers: rate limits and trace id", () =>
    Effect.gen(function*() {
      const recorded = readFixtureHeaders(headersFile)
      expect(recorded.status).toBe(200)
      const sent: Record<string, string> = {}
      for (const [name, value] of Object.entries(recorded.headers)) {
        if (name !== "transfer-encoding") sent[name] = value
      }
      const server = yield* MockProvider.make({
        script: [MockProvider.stream([readFixtureBytes("cohere/chat-v2-stream-tool-plan-tool-call.sse")], {
          headers: sent
        })]
      })
      const response = yield* StreamPart.collect(LanguageModel.stream({ messages: [{ role: "user", content: "?" }] }))
        .pipe(
          Effect.provide(
            Cohere.layer({ apiKey: Redacted.make(secretKey), baseUrl: server.url, model: "command-r-plus" }).pipe(
              Layer.provide(NodeHttpClient.layerUndici)
            )
          )
        )
      expect(response.providerMetadata).toEqual({
        requestId: recorded.headers["x-debug-trace-id"],
        rateLimit: { trialEndpointCallLimit: 40, trialEndpointCallRemaining: 31, endpointMonthlyCallLimit: 1000 },
        billedUnits: { input_tokens: 23, output_tokens: 41 }
      })
      expect(response.model).toBe("command-r-plus")
      expect(ChatResponse.toolCalls(response)[0]?.arguments).toEqual({ name: "Erick", age: 27 })
    }))
})

// ---------------------------------------------------------------------------------------------------------------
// non-streaming
// ---------------------------------------------------------------------------------------------------------------

const decodeFixture = (file: string) => {
  const text = readFixture(file)
  return CohereResponse.decodeResponse(JSON.parse(text), { text, status: 200, requestId: undefined }, context, {
    headers: undefined
  })
}

describeFixtures("Cohere non-streaming fixtures", () => {
  for (const file of nonStreamFixtures) {
    it.effect(`${file}: decodes to the message, finish, usage and billed units it carries`, () =>
      Effect.gen(function*() {
        const json = JSON.parse(readFixture(file))
        const items: Array<Json> = json.message.content ?? []
        const response = yield* decodeFixture(file)
        expect(response.id).toBe(json.id)
        expect(ChatResponse.text(response)).toBe(items.map((item) => item.text ?? "").join(""))
        expect(ChatResponse.reasoning(response)).toBe(
          items.map((item) => item.thinking ?? "").join("") + (json.message.tool_plan ?? "")
        )
        expect(ChatResponse.toolCalls(response)).toEqual((json.message.tool_calls ?? []).map((call: Json) => ({
          type: "tool-call",
          id: call.id,
          name: call.function.name,
          rawArguments: call.function.arguments,
          arguments: JSON.parse(call.function.arguments) ?? {}
        })))
        expect(response.finishReason).toBe(finishReasons[json.finish_reason])
        expect(response.rawFinishReason).toBe(json.finish_reason)
        expect(response.usage).toEqual(expectedUsage(json.usage))
        expect(response.providerMetadata?.billedUnits).toEqual(json.usage.billed_units)
      }))
  }

  it.effect("chat-v2-nonstream-null-args: arguments \"null\" decode to {} and keep the raw text", () =>
    Effect.gen(function*() {
      const response = yield* decodeFixture("cohere/chat-v2-nonstream-null-args.json")
      expect(response.content).toEqual([
        { type: "reasoning", text: "I will use the currentTime tool to find the current time." },
        { type: "tool-call", id: "currentTime_tf4dywn8wgnk", name: "currentTime", arguments: {}, rawArguments: "null" }
      ])
      expect(response.finishReason).toBe("tool-calls")
      // `toMessage` then sends `{}` back, not `null`
      expect(ChatResponse.toMessage(response).content[1]).toMatchObject({ type: "tool-call", arguments: {} })
    }))

  it.effect("chat-v2-nonstream-thinking-tool-call: the thinking block as reasoning, then get_the_weather", () =>
    Effect.gen(function*() {
      const response = yield* decodeFixture("cohere/chat-v2-nonstream-thinking-tool-call.json")
      expect(response.content.map((part) => part.type)).toEqual(["reasoning", "tool-call"])
      expect(ChatResponse.reasoning(response)).toMatch(/^Okay, the user is asking for the weather/)
      expect(ChatResponse.toolCalls(response)[0]).toMatchObject({
        id: "get_the_weather_r8d0r2e0kw9s",
        name: "get_the_weather",
        arguments: { location: "Osaka" }
      })
      expect(response.usage).toEqual({
        inputTokens: 1494,
        outputTokens: 330,
        totalTokens: 1824,
        cachedInputTokens: 1008
      })
    }))

  it.effect("chat-v2-nonstream-citations: the citations kept in providerMetadata, offsets into the text", () =>
    Effect.gen(function*() {
      const json = JSON.parse(readFixture("cohere/chat-v2-nonstream-citations.json"))
      const response = yield* decodeFixture("cohere/chat-v2-nonstream-citations.json")
      const citations = response.providerMetadata?.citations as Array<Json>
      expect(citations).toEqual(json.message.citations)
      expect(citations).toHaveLength(3)
      const text = ChatResponse.text(response)
      for (const citation of citations) expect(text.slice(citation.start, citation.end)).toBe(citation.text)
      expect(response.finishReason).toBe("stop")
    }))

  it.effect("chat-v2-nonstream-max-tokens: finish length with the text cut short", () =>
    Effect.gen(function*() {
      const response = yield* decodeFixture("cohere/chat-v2-nonstream-max-tokens.json")
      expect(response.content).toEqual([{ type: "text", text: "**The History of" }])
      expect(response.finishReason).toBe("length")
      expect(response.rawFinishReason).toBe("MAX_TOKENS")
      expect(response.usage).toEqual({ inputTokens: 506, outputTokens: 5, totalTokens: 511, cachedInputTokens: 448 })
    }))

  it.effect("a fixture turned into finish_reason ERROR fails with ServerError; TIMEOUT with Timeout", () =>
    Effect.gen(function*() {
      const text = readFixture("cohere/chat-v2-nonstream-max-tokens.json")
      for (const [reason, tag] of [["ERROR", "ServerError"], ["TIMEOUT", "Timeout"]] as const) {
        const changed = text.replace("\"MAX_TOKENS\"", `"${reason}"`)
        const error = yield* Effect.flip(
          CohereResponse.decodeResponse(
            JSON.parse(changed),
            { text: changed, status: 200, requestId: "req_1" },
            context,
            {
              headers: undefined
            }
          )
        )
        expect(error).toMatchObject({ _tag: tag, provider: "cohere", requestId: "req_1", body: changed })
        expect(error.message).toContain(`finish_reason ${reason}`)
      }
    }))
})

// ---------------------------------------------------------------------------------------------------------------
// error bodies
// ---------------------------------------------------------------------------------------------------------------

describeFixtures("Cohere error bodies", () => {
  it("error-404-model-not-found: NotFound with Cohere's message and the body", () => {
    const bodyText = readFixture("cohere/error-404-model-not-found.json")
    const error = Errors.fromResponse(context, CohereErrors.classifyError, { status: 404, headers: {}, bodyText }, 0)
    expect(error._tag).toBe("NotFound")
    expect(error.status).toBe(404)
    expect(error.provider).toBe("cohere")
    expect(error.message).toBe(`cohere 404: ${JSON.parse(bodyText).message}`)
    expect(error.body).toBe(bodyText)
  })
})
