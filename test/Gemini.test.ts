import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, ConfigProvider, Duration, Effect, Exit, Layer, Redacted, Schema, Stream } from "effect"
import type * as ChatRequest from "../src/ChatRequest.js"
import * as ChatResponse from "../src/ChatResponse.js"
import type * as Errors from "../src/internal/errors.js"
import * as GeminiFraming from "../src/internal/gemini/framing.js"
import * as GeminiRequest from "../src/internal/gemini/request.js"
import * as GeminiStream from "../src/internal/gemini/stream.js"
import * as Streaming from "../src/internal/streaming.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as Pricing from "../src/Pricing.js"
import * as Gemini from "../src/providers/Gemini.js"
import * as StreamPart from "../src/StreamPart.js"
import * as GeminiMock from "../src/testing/GeminiMock.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import { failure, runGenerate, runStream as runGenerateStream, secretKey, textOf } from "./support/loopback.js"
import { gemini as geminiLayer } from "./support/providers.js"

const ask = LanguageModel.generate({ messages: [{ role: "user", content: "Capital of France?" }] })
const tell = LanguageModel.stream({ messages: [{ role: "user", content: "Tell a story" }] })

const sent = (server: MockProvider.MockProvider, index = 0) =>
  Effect.map(server.requests, (requests) => requests[index]?.body as Record<string, any>)

const runScript = (
  script: ReadonlyArray<MockProvider.Reply>,
  wakeups: ReadonlyArray<number>,
  options: Partial<Gemini.Options> = {}
) => runGenerate((server) => geminiLayer(server, options), script, wakeups)

const runStream = (
  script: ReadonlyArray<MockProvider.Reply>,
  wakeups: ReadonlyArray<number>,
  options: Partial<Gemini.Options> = {}
) => runGenerateStream((server) => geminiLayer(server, options), script, wakeups)

describe("Gemini over loopback", () => {
  it.scoped("sends the request Gemini expects and decodes the answer", () =>
    Effect.gen(function*() {
      const { arrivals: times, exit, requests } = yield* runScript([
        GeminiMock.response({
          text: "Paris.",
          reasoning: "The capital is Paris.",
          id: "resp-1",
          model: "gemini-2.5-flash-001",
          usage: { inputTokens: 12, outputTokens: 23, reasoningTokens: 20, cachedInputTokens: 4 }
        }, { headers: { "x-goog-request-id": "req_123" } })
      ], [])
      expect(times).toEqual([0])
      const request = requests[0]!
      expect(request.method).toBe("POST")
      expect(request.path).toBe("/v1beta/models/gemini-2.5-flash:generateContent")
      expect(request.path).not.toContain("key=")
      expect(request.headers["x-goog-api-key"]).toBe(secretKey)
      expect(request.headers.authorization).toBeUndefined()
      expect(request.headers["content-type"]).toBe("application/json")
      expect(request.body).toEqual({ contents: [{ role: "user", parts: [{ text: "Capital of France?" }] }] })
      const response = Exit.isSuccess(exit) ? exit.value : undefined
      expect(response).toMatchObject({
        id: "resp-1",
        provider: "gemini",
        model: "gemini-2.5-flash-001",
        finishReason: "stop",
        rawFinishReason: "STOP",
        content: [{ type: "reasoning", text: "The capital is Paris." }, { type: "text", text: "Paris." }]
      })
      // output counts the 20 thought tokens Gemini's candidatesTokenCount leaves out
      expect(response?.usage).toEqual({
        inputTokens: 12,
        outputTokens: 23,
        totalTokens: 35,
        cachedInputTokens: 4,
        reasoningTokens: 20
      })
      expect(response?.providerMetadata?.requestId).toBe("req_123")
    }))

  it.scoped("encodes system, images, sampling, tools, tool choice, format and options field by field", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [GeminiMock.response({ text: "{}" })] })
      yield* LanguageModel.generate({
        model: "models/gemini-2.5-pro",
        messages: [
          { role: "system", content: "Be brief." },
          {
            role: "user",
            content: [
              { type: "text", text: "What is this?" },
              { type: "image", data: "aGk=", mediaType: "image/png" },
              { type: "image", url: "https://example.com/cat.JPG?size=2", detail: "high" },
              { type: "image", url: "gs://bucket/scan", mediaType: "image/webp" },
              { type: "image", url: "data:image/gif;base64,R0lG" }
            ]
          }
        ],
        temperature: 0.2,
        topP: 0.9,
        topK: 40,
        maxTokens: 64,
        stop: "END",
        seed: 7,
        presencePenalty: 0.5,
        frequencyPenalty: -0.5,
        tools: [{
          name: "lookup",
          description: "Look up",
          parameters: {
            $schema: "http://json-schema.org/draft-07/schema#",
            type: "object",
            properties: { q: { type: "string" } },
            required: ["q"],
            additionalProperties: false
          }
        }],
        toolChoice: { type: "tool", name: "lookup" },
        responseFormat: { type: "json-schema", name: "answer", description: "The answer", schema: { type: "object" } },
        metadata: { user: "user-1", tenant: "acme" },
        providerOptions: {
          gemini: {
            generationConfig: { thinkingConfig: { thinkingBudget: 1024, includeThoughts: true } },
            safetySettings: [{ category: "HARM_CATEGORY_HARASSMENT", threshold: "BLOCK_NONE" }]
          },
          openai: { ignored: true }
        }
      }).pipe(Effect.provide(geminiLayer(server)))
      const [request] = yield* server.requests
      expect(request?.path).toBe("/v1beta/models/gemini-2.5-pro:generateContent")
      expect(request?.body).toEqual({
        systemInstruction: { parts: [{ text: "Be brief." }] },
        contents: [{
          role: "user",
          parts: [
            { text: "What is this?" },
            { inlineData: { mimeType: "image/png", data: "aGk=" } },
            {
              fileData: { mimeType: "image/jpeg", fileUri: "https://example.com/cat.JPG?size=2" },
              mediaResolution: { level: "MEDIA_RESOLUTION_HIGH" }
            },
            { fileData: { mimeType: "image/webp", fileUri: "gs://bucket/scan" } },
            { inlineData: { mimeType: "image/gif", data: "R0lG" } }
          ]
        }],
        tools: [{
          functionDeclarations: [{
            name: "lookup",
            description: "Look up",
            parametersJsonSchema: {
              type: "object",
              properties: { q: { type: "string" } },
              required: ["q"],
              additionalProperties: false
            }
          }]
        }],
        toolConfig: { functionCallingConfig: { mode: "ANY", allowedFunctionNames: ["lookup"] } },
        generationConfig: {
          temperature: 0.2,
          topP: 0.9,
          topK: 40,
          maxOutputTokens: 64,
          stopSequences: ["END"],
          seed: 7,
          presencePenalty: 0.5,
          frequencyPenalty: -0.5,
          responseMimeType: "application/json",
          responseJsonSchema: { type: "object", description: "The answer" },
          thinkingConfig: { thinkingBudget: 1024, includeThoughts: true }
        },
        safetySettings: [{ category: "HARM_CATEGORY_HARASSMENT", threshold: "BLOCK_NONE" }]
      })
    }))

  it.scoped("tool choices map to AUTO, NONE and ANY; json mode to responseMimeType only", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ onExhausted: GeminiMock.response() })
      const tools = [{ name: "f", parameters: { type: "object" } }]
      for (const toolChoice of ["auto", "none", "required"] as const) {
        yield* LanguageModel.generate({ messages: [{ role: "user", content: "hi" }], tools, toolChoice }).pipe(
          Effect.provide(geminiLayer(server))
        )
      }
      yield* LanguageModel.generate({ messages: [{ role: "user", content: "hi" }], responseFormat: { type: "json" } })
        .pipe(Effect.provide(geminiLayer(server)))
      const bodies = (yield* server.requests).map((request) => request.body as Record<string, any>)
      expect(bodies.slice(0, 3).map((body) => body.toolConfig.functionCallingConfig)).toEqual([
        { mode: "AUTO" },
        { mode: "NONE" },
        { mode: "ANY" }
      ])
      expect(bodies[3]?.generationConfig).toEqual({ responseMimeType: "application/json" })
    }))

  it.scoped("round-trips a function call, its thought signature and its result", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [
          GeminiMock.response({
            reasoning: "I should check the weather.",
            functionCalls: [
              { name: "weather", arguments: { city: "Paris" }, signature: "sig-1" },
              { name: "weather", arguments: { city: "Lyon" } }
            ]
          }),
          GeminiMock.response({ text: "21 °C in Paris, 19 °C in Lyon." })
        ]
      })
      const tools = [{ name: "weather", parameters: { type: "object", properties: { city: { type: "string" } } } }]
      const messages = [{ role: "user" as const, content: "Weather in Paris and Lyon?" }]
      const layer = geminiLayer(server, { model: "gemini-3-pro-preview" })
      const first = yield* LanguageModel.generate({ messages, tools }).pipe(Effect.provide(layer))
      expect(first.finishReason).toBe("tool-calls")
      const calls = ChatResponse.toolCalls(first)
      expect(calls.map((call) => [call.id, call.name, call.arguments, call.rawArguments])).toEqual([
        ["call_0", "weather", { city: "Paris" }, "{\"city\":\"Paris\"}"],
        ["call_1", "weather", { city: "Lyon" }, "{\"city\":\"Lyon\"}"]
      ])
      const second = yield* LanguageModel.generate({
        messages: [...messages, ChatResponse.toMessage(first), {
          role: "tool",
          content: [
            { type: "tool-result", toolCallId: "call_0", result: { celsius: 21 } },
            { type: "tool-result", toolCallId: "call_1", toolName: "weather", result: "19 °C" },
            { type: "tool-result", toolCallId: "call_1", result: "boom", isError: true }
          ]
        }, { role: "user", content: "Thanks!" }],
        tools
      }).pipe(Effect.provide(layer))
      expect(ChatResponse.text(second)).toBe("21 °C in Paris, 19 °C in Lyon.")
      expect((yield* sent(server, 1)).contents.slice(1)).toEqual([
        {
          role: "model",
          parts: [
            { text: "I should check the weather.", thought: true },
            { functionCall: { name: "weather", args: { city: "Paris" } }, thoughtSignature: "sig-1" },
            // Gemini 3 signs only the first call of a parallel step
            { functionCall: { name: "weather", args: { city: "Lyon" } } }
          ]
        },
        {
          role: "user",
          parts: [
            { functionResponse: { name: "weather", response: { celsius: 21 } } },
            { functionResponse: { name: "weather", response: { result: "19 °C" } } },
            { functionResponse: { name: "weather", response: { error: "boom" } } },
            { text: "Thanks!" }
          ]
        }
      ])
    }))

  it.scoped("a Gemini 3 function call replayed without a signature carries Google's skip placeholder", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ onExhausted: GeminiMock.response() })
      const messages: Array<ChatRequest.Input["messages"][number]> = [
        { role: "user", content: "hi" },
        { role: "assistant", content: [{ type: "tool-call", id: "c1", name: "f", arguments: {} }] },
        { role: "tool", content: [{ type: "tool-result", toolCallId: "c1", result: "ok" }] }
      ]
      for (const model of ["gemini-3-flash-preview", "gemini-2.5-flash"]) {
        yield* LanguageModel.generate({ model, messages }).pipe(Effect.provide(geminiLayer(server)))
      }
      const [gemini3, gemini25] = yield* server.requests
      expect((gemini3?.body as any).contents[1].parts).toEqual([
        { functionCall: { name: "f", args: {} }, thoughtSignature: GeminiRequest.skipSignature }
      ])
      expect((gemini25?.body as any).contents[1].parts).toEqual([{ functionCall: { name: "f", args: {} } }])
    }))

  it.scoped.each(
    [
      [
        "a tool result whose call is unknown",
        { role: "tool", content: [{ type: "tool-result", toolCallId: "nope", result: 1 }] },
        "toolName"
      ],
      [
        "an image URL whose type cannot be inferred",
        { role: "user", content: [{ type: "image", url: "https://example.com/photo" }] },
        "mediaType"
      ],
      [
        "tool call arguments that are not an object",
        { role: "assistant", content: [{ type: "tool-call", id: "c", name: "f", arguments: [1, 2] }] },
        "JSON object"
      ]
    ] as const
  )("%s fails with InvalidRequest before any network call", ([, message, mentions]) =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make()
      const exit = yield* LanguageModel.generate({
        messages: [{ role: "user", content: "hi" }, message as ChatRequest.Input["messages"][number]]
      }).pipe(Effect.provide(geminiLayer(server)), Effect.exit)
      expect(failure(exit)).toMatchObject({ _tag: "InvalidRequest", provider: "gemini" })
      expect(failure(exit).message).toContain(mentions)
      expect(yield* server.requests).toHaveLength(0)
    }))

  it.scoped.each(["../../../admin/delete", "models/../x", "./gemini-2.5-flash", "a//b"])(
    "the model %j, which a URL would resolve to another path, fails with InvalidRequest before any network call",
    (model) =>
      Effect.gen(function*() {
        const server = yield* MockProvider.make()
        const exit = yield* LanguageModel.generate({ model, messages: [{ role: "user", content: "hi" }] }).pipe(
          Effect.provide(geminiLayer(server)),
          Effect.exit
        )
        expect(failure(exit)).toMatchObject({ _tag: "InvalidRequest", provider: "gemini" })
        expect(failure(exit).message).toContain("is no model name")
        expect(yield* server.requests).toHaveLength(0)
      })
  )

  it.scoped("a safety-blocked candidate is an empty response with finish content-filter", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [MockProvider.json({ candidates: [{ content: {}, finishReason: "SAFETY" }] })]
      })
      const response = yield* ask.pipe(Effect.provide(geminiLayer(server)))
      expect(response.content).toEqual([])
      expect(response.finishReason).toBe("content-filter")
    }))

  it.scoped("no candidates is EmptyResponse; a wrong shape is MalformedResponse naming the path", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [MockProvider.json({ candidates: [] }), MockProvider.json({ candidates: "none" })]
      })
      const empty = yield* Effect.exit(ask.pipe(Effect.provide(geminiLayer(server))))
      expect(failure(empty)._tag).toBe("EmptyResponse")
      const wrong = yield* Effect.exit(ask.pipe(Effect.provide(geminiLayer(server))))
      expect(failure(wrong)).toMatchObject({ _tag: "MalformedResponse", body: "{\"candidates\":\"none\"}" })
      expect(failure(wrong).message).toContain("candidates")
    }))
})

describe("Gemini retries over loopback (TestClock)", () => {
  it.scoped("503 UNAVAILABLE is Overloaded: retried at 0.5 s and 1.5 s", () =>
    Effect.gen(function*() {
      const { arrivals: times, exit } = yield* runScript(
        [GeminiMock.error(503), GeminiMock.error(503), GeminiMock.response({ text: "ok" })],
        [500, 1500]
      )
      expect(times).toEqual([0, 500, 1500])
      expect(Exit.isSuccess(exit)).toBe(true)
    }))

  it.scoped.each([["1.5s", 1500], ["32s", 32_000]] as const)(
    "a 429 with RetryInfo.retryDelay %s is retried at exactly %i ms",
    ([delay, at]) =>
      Effect.gen(function*() {
        const { arrivals: times, exit } = yield* runScript(
          [GeminiMock.error(429, { retryDelay: delay, quotaPerDay: false }), GeminiMock.response({ text: "ok" })],
          [at]
        )
        expect(times).toEqual([0, at])
        expect(Exit.isSuccess(exit)).toBe(true)
      })
  )

  it.scoped("a Retry-After header wins over the body's retryDelay", () =>
    Effect.gen(function*() {
      const { arrivals: times } = yield* runScript(
        [GeminiMock.error(429, { retryDelay: "30s" }, { headers: { "retry-after": "2" } }), GeminiMock.response()],
        [2000]
      )
      expect(times).toEqual([0, 2000])
    }))

  it.scoped("a retryDelay beyond the policy's maxRetryAfter fails at once, carrying it", () =>
    Effect.gen(function*() {
      const { arrivals: times, exit } = yield* runScript([GeminiMock.error(429, { retryDelay: "90s" })], [])
      expect(times).toEqual([0])
      const error = failure(exit)
      expect(error._tag).toBe("RateLimited")
      expect(error.retryAfter && Duration.toMillis(error.retryAfter)).toBe(90_000)
    }))

  it.scoped("a per-day quota is QuotaExhausted and not retried", () =>
    Effect.gen(function*() {
      const { arrivals: times, exit } = yield* runScript(
        [GeminiMock.error(429, { quotaPerDay: true, retryDelay: "1s" }), GeminiMock.response()],
        []
      )
      expect(times).toEqual([0])
      expect(failure(exit)).toMatchObject({ _tag: "QuotaExhausted", status: 429 })
    }))

  it.scoped.each(
    [
      [400, {}, "InvalidRequest"],
      [400, { reason: "API_KEY_INVALID", message: "API key not valid." }, "AuthenticationFailed"],
      [
        400,
        { message: "The input token count (2000000) exceeds the maximum number of tokens allowed (1048576)." },
        "ContextLengthExceeded"
      ],
      [403, {}, "AuthenticationFailed"],
      [404, {}, "NotFound"]
    ] as const
  )("%i %j is never retried (%s)", ([status, options, tag]) =>
    Effect.gen(function*() {
      const { arrivals: times, exit } = yield* runScript([GeminiMock.error(status, options), GeminiMock.response()], [])
      expect(times).toEqual([0])
      expect(failure(exit)._tag).toBe(tag)
    }))

  it.scoped("500 INTERNAL is ServerError and 504 DEADLINE_EXCEEDED is Timeout: both retried", () =>
    Effect.gen(function*() {
      const { arrivals: times, exit } = yield* runScript(
        [GeminiMock.error(500), GeminiMock.error(504), GeminiMock.error(500)],
        [500, 1500]
      )
      expect(times).toEqual([0, 500, 1500])
      expect(failure(exit)).toMatchObject({ _tag: "ServerError", status: 500 })
    }))

  it.scoped("a key echoed in an error body never reaches the error", () =>
    Effect.gen(function*() {
      const { exit } = yield* runScript([GeminiMock.error(400, { message: `API key not valid: ${secretKey}` })], [])
      const error = failure(exit)
      expect(JSON.stringify({ ...error, message: error.message })).not.toContain(secretKey)
    }))
})

describe("Gemini streaming over loopback", () => {
  it.scoped("streams over alt=sse with CRLF events: reasoning, text, calls, usage, finish", () =>
    Effect.gen(function*() {
      const { exit, received, requests } = yield* runStream(
        [
          GeminiMock.stream({
            reasoning: ["Thinking..."],
            deltas: ["Once", " upon"],
            functionCalls: [{ name: "fetch", arguments: { url: "x" } }],
            usage: { inputTokens: 7, outputTokens: 7, reasoningTokens: 3 }
          })
        ],
        [],
        { apiVersion: "v1alpha" }
      )
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(requests[0]?.path).toBe("/v1alpha/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
      expect(requests[0]?.headers["x-goog-api-key"]).toBe(secretKey)
      expect(received.map((part) => part.type)).toEqual([
        "response-metadata",
        "reasoning-delta",
        "text-delta",
        "text-delta",
        "tool-call-start",
        "tool-call-delta",
        "tool-call-end",
        "usage",
        "finish"
      ])
      expect(textOf(received)).toBe("Once upon")
      const usage = { inputTokens: 7, outputTokens: 7, totalTokens: 14, reasoningTokens: 3 }
      expect(received.at(-2)).toEqual({
        type: "usage",
        usage,
        costUsd: Pricing.dataset.cost(usage, "gemini-2.5-flash", "gemini")
      })
      expect(received.at(-1)).toEqual({ type: "finish", finishReason: "tool-calls", rawFinishReason: "STOP" })
    }))

  it.scoped("collecting a stream gives the response a non-streaming call gives", () =>
    Effect.gen(function*() {
      const options = {
        reasoning: "Hmm.",
        text: "Let me check.",
        functionCalls: [{ name: "weather", arguments: { city: "Paris" }, signature: "sig" }],
        usage: { inputTokens: 20, outputTokens: 9 }
      }
      const server = yield* MockProvider.make({
        script: [
          GeminiMock.stream({
            reasoning: [options.reasoning],
            deltas: [options.text],
            functionCalls: options.functionCalls,
            usage: options.usage
          }),
          GeminiMock.response(options)
        ]
      })
      const layer = geminiLayer(server)
      const streamed = yield* StreamPart.collect(tell).pipe(Effect.provide(layer))
      const whole = yield* ask.pipe(Effect.provide(layer))
      expect(streamed).toEqual(whole)
      // the call's signature travels in a signature-only reasoning part just before it
      expect(whole.content).toEqual([
        { type: "reasoning", text: "Hmm." },
        { type: "text", text: "Let me check." },
        { type: "reasoning", text: "", signature: "sig" },
        {
          type: "tool-call",
          id: "call_0",
          name: "weather",
          arguments: { city: "Paris" },
          rawArguments: "{\"city\":\"Paris\"}"
        }
      ])
    }))

  it.scoped("the JSON-array body (no alt=sse, application/json) decodes too", () =>
    Effect.gen(function*() {
      const { exit, received } = yield* runStream([GeminiMock.jsonArray({ deltas: ["Hel", "lo"] })], [])
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(textOf(received)).toBe("Hello")
      expect(received.at(-1)).toMatchObject({ type: "finish", finishReason: "stop" })
    }))

  it.scoped("a 503 before the stream starts is retried at exactly 0.5 s, invisibly", () =>
    Effect.gen(function*() {
      const { arrivals: times, exit, received } = yield* runStream(
        [GeminiMock.error(503), GeminiMock.stream({ deltas: ["Once", " upon"] })],
        [500]
      )
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(times).toEqual([0, 500])
      expect(textOf(received)).toBe("Once upon")
      expect(received.filter((part) => part.type === "response-metadata")).toHaveLength(1)
    }))

  it.scoped("a raw JSON error object in a 200 stream before the first token is retried", () =>
    Effect.gen(function*() {
      const { arrivals: times, exit, received } = yield* runStream([
        GeminiMock.stream({
          deltas: [],
          error: { code: 503, status: "UNAVAILABLE", message: "The model is overloaded." }
        }),
        GeminiMock.stream({ deltas: ["clean"] })
      ], [500])
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(times).toEqual([0, 500])
      expect(textOf(received)).toBe("clean")
    }))

  it.scoped("a 429 error object in a 200 stream carries its retryDelay: retried at exactly 1.5 s", () =>
    Effect.gen(function*() {
      const error = { code: 429, message: "Resource exhausted.", status: "RESOURCE_EXHAUSTED", retryDelay: "1.5s" }
      expect(JSON.parse(GeminiMock.streamErrorText(error)).error.details).toEqual([
        { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "1.5s" }
      ])
      const { arrivals: times, exit } = yield* runStream([
        GeminiMock.stream({ deltas: [], error }),
        GeminiMock.stream()
      ], [1500])
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(times).toEqual([0, 1500])
    }))

  it.scoped("an error object after the first token is StreamInterrupted with the partial text, never retried", () =>
    Effect.gen(function*() {
      const { arrivals: times, exit, received } = yield* runStream([
        GeminiMock.stream({
          deltas: ["One", " two", " three"],
          error: { code: 503, status: "UNAVAILABLE", message: "The model is overloaded." }
        }),
        GeminiMock.stream({ deltas: ["spliced?"] })
      ], [])
      const error = failure(exit)
      expect(error._tag).toBe("StreamInterrupted")
      if (error._tag !== "StreamInterrupted") return
      expect(error.partial.text).toBe("One two three")
      expect(error.causeTag).toBe("Overloaded")
      expect(error.status).toBe(503)
      expect(error.message).toContain("The model is overloaded.")
      expect(textOf(received)).toBe("One two three")
      expect(times).toEqual([0])
    }))

  it.scoped("a cut after two content chunks is StreamInterrupted(NetworkError) with exactly that text", () =>
    Effect.gen(function*() {
      const { arrivals: times, exit } = yield* runStream([
        GeminiMock.stream({ deltas: ["a", "b", "c", "d"] }, { cutAfter: 2 }),
        GeminiMock.stream()
      ], [])
      const error = failure(exit)
      if (error._tag !== "StreamInterrupted") throw new Error(error._tag)
      expect(error.partial.text).toBe("ab")
      expect(error.causeTag).toBe("NetworkError")
      expect(times).toEqual([0])
    }))

  it.scoped("a blocked prompt in a stream is ContentFiltered and not retried", () =>
    Effect.gen(function*() {
      const { arrivals: times, exit } = yield* runStream([
        MockProvider.stream([
          `data: ${JSON.stringify({ promptFeedback: { blockReason: "PROHIBITED_CONTENT" } })}\r\n\r\n`
        ]),
        GeminiMock.stream()
      ], [])
      expect(failure(exit)).toMatchObject({ _tag: "ContentFiltered", provider: "gemini" })
      expect(failure(exit).message).toContain("PROHIBITED_CONTENT")
      expect(times).toEqual([0])
    }))

  it.scoped("a stream that ends without a finish reason: retried before content, StreamInterrupted after", () =>
    Effect.gen(function*() {
      const metadataOnly = { modelVersion: "gemini-2.5-flash", responseId: "r", usageMetadata: { promptTokenCount: 3 } }
      const { arrivals: times, exit, received } = yield* runStream([
        MockProvider.stream([`data: ${JSON.stringify(metadataOnly)}\r\n\r\n`]),
        MockProvider.stream([`data: ${JSON.stringify(GeminiMock.streamEvents({ usage: null })[0])}\r\n\r\n`]),
        GeminiMock.stream({ deltas: ["never"] })
      ], [500])
      expect(times).toEqual([0, 500])
      expect(textOf(received)).toBe("Hello")
      expect(failure(exit)).toMatchObject({ _tag: "StreamInterrupted", causeTag: "NetworkError" })
    }))
})

describe("Gemini structured output", () => {
  const City = Schema.Struct({ name: Schema.String, population: Schema.Number }).annotations({ identifier: "City" })

  it.scoped("generateObject sends responseJsonSchema with application/json and decodes the answer", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [GeminiMock.response({ text: "{\"name\":\"Paris\",\"population\":2100000}" })]
      })
      const { response, value } = yield* LanguageModel.generateObject({
        messages: [{ role: "user", content: "Largest city of France?" }],
        schema: City,
        schemaDescription: "A city"
      }).pipe(Effect.provide(geminiLayer(server)))
      expect(value).toEqual({ name: "Paris", population: 2100000 })
      expect(response.finishReason).toBe("stop")
      expect((yield* sent(server)).generationConfig).toEqual({
        responseMimeType: "application/json",
        responseJsonSchema: {
          type: "object",
          required: ["name", "population"],
          properties: { name: { type: "string" }, population: { type: "number" } },
          additionalProperties: false,
          description: "A city"
        }
      })
    }))

  it.scoped("generateObject fails with MalformedResponse keeping the raw text", () =>
    Effect.gen(function*() {
      const text = "{\"name\":\"Paris\",\"population\":\"many\"}"
      const server = yield* MockProvider.make({ script: [GeminiMock.response({ text })] })
      const exit = yield* LanguageModel.generateObject({ messages: [{ role: "user", content: "?" }], schema: City })
        .pipe(Effect.provide(geminiLayer(server)), Effect.exit)
      expect(failure(exit)).toMatchObject({ _tag: "MalformedResponse", body: text, provider: "gemini" })
      expect(yield* server.requests).toHaveLength(1)
    }))
})

describe("Gemini configuration", () => {
  it.scoped("layerConfig reads GEMINI_API_KEY, GEMINI_BASE_URL and GEMINI_MODEL", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ onExhausted: GeminiMock.response() })
      const run = (env: Map<string, string>, options: Gemini.Options = {}) =>
        ask.pipe(
          Effect.provide(Gemini.layerConfig(options).pipe(Layer.provide(NodeHttpClient.layerUndici))),
          Effect.withConfigProvider(ConfigProvider.fromMap(env))
        )
      yield* run(
        new Map([
          ["GEMINI_API_KEY", secretKey],
          ["GOOGLE_API_KEY", "google-key-not-used"],
          ["GEMINI_BASE_URL", `${server.url}/`],
          ["GEMINI_MODEL", "gemini-from-env"]
        ]),
        { headers: { "x-team": "search" } }
      )
      yield* run(new Map([["GOOGLE_API_KEY", "google-key-used"], ["GEMINI_BASE_URL", server.url]]), {
        model: "models/gemini-option"
      })
      yield* run(new Map([["GEMINI_BASE_URL", server.url], ["GEMINI_MODEL", "m"]]), {
        apiKey: Redacted.make("option-key")
      })
      const [fromGemini, fromGoogle, fromOption] = yield* server.requests
      expect(fromGemini?.path).toBe("/v1beta/models/gemini-from-env:generateContent")
      expect(fromGemini?.headers["x-goog-api-key"]).toBe(secretKey)
      expect(fromGemini?.headers["x-team"]).toBe("search")
      expect(fromGoogle?.path).toBe("/v1beta/models/gemini-option:generateContent")
      expect(fromGoogle?.headers["x-goog-api-key"]).toBe("google-key-used")
      expect(fromOption?.headers["x-goog-api-key"]).toBe("option-key")
    }))

  it.effect("layerConfig without any key fails with a ConfigError naming both variables", () =>
    Effect.gen(function*() {
      const exit = yield* ask.pipe(
        Effect.provide(Gemini.layerConfig().pipe(Layer.provide(NodeHttpClient.layerUndici))),
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map())),
        Effect.exit
      )
      expect(Exit.isFailure(exit)).toBe(true)
      expect(String(Exit.isFailure(exit) && exit.cause)).toContain("GEMINI_API_KEY (or GOOGLE_API_KEY)")
    }))
})

describe("Gemini decoder units", () => {
  const context: Errors.ErrorContext = { provider: "gemini", model: "m", secrets: [] }
  const decodeText = (chunks: ReadonlyArray<string>) =>
    Streaming.decode(
      GeminiFraming.frames(Stream.fromIterable(chunks.map((chunk) => new TextEncoder().encode(chunk)))),
      () => GeminiStream.makeDecoder(context, undefined)
    ).pipe(Stream.either, Stream.runCollect, Effect.map(Chunk.toArray))

  const event = (json: unknown) => `data: ${JSON.stringify(json)}\r\n\r\n`
  const call = (functionCall: unknown, finishReason?: string) =>
    event({ candidates: [{ content: { parts: [{ functionCall }] }, ...(finishReason ? { finishReason } : {}) }] })

  it.effect("partialArgs with nested paths, arrays, numbers, booleans and null", () =>
    Effect.gen(function*() {
      const items = yield* decodeText([
        call({ name: "recipe", willContinue: true }),
        call({ partialArgs: [], willContinue: true }),
        call({
          partialArgs: [{ jsonPath: "$.recipe.name", stringValue: "Las", willContinue: true }],
          willContinue: true
        }),
        call({ partialArgs: [{ jsonPath: "$.recipe.name", stringValue: "agna" }], willContinue: true }),
        call({
          partialArgs: [{ jsonPath: "$.recipe.items[0].qty", numberValue: 2 }, {
            jsonPath: "$.recipe.items[1].ok",
            boolValue: true
          }],
          willContinue: true
        }),
        call({ partialArgs: [{ jsonPath: "$.note", nullValue: null }], willContinue: true }),
        call({}, "STOP")
      ])
      const parts = items.flatMap((item) => item._tag === "Right" ? [item.right] : [])
      const expected = { recipe: { name: "Lasagna", items: [{ qty: 2 }, { ok: true }] }, note: null }
      const deltas = parts.flatMap((part) => part.type === "tool-call-delta" ? [part.argumentsDelta] : [])
      expect(deltas.join("")).toBe(JSON.stringify(expected))
      expect(deltas.slice(0, 2)).toEqual(["{", "\"recipe\":{\"name\":\"Las"])
      expect(parts.find((part) => part.type === "tool-call-end")).toMatchObject({ arguments: expected })
    }))

  it.effect("a __proto__ path segment stays an own property", () =>
    Effect.gen(function*() {
      const items = yield* decodeText([
        call({ name: "f", willContinue: true }),
        call({ partialArgs: [{ jsonPath: "$.__proto__.polluted", stringValue: "yes" }] }, "STOP")
      ])
      const end = items.flatMap((item) =>
        item._tag === "Right" && item.right.type === "tool-call-end" ? [item.right] : []
      )
      expect(end[0]?.rawArguments).toBe("{\"__proto__\":{\"polluted\":\"yes\"}}")
      expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    }))

  it.effect("a JSON-array body cut inside an element is MalformedResponse; junk outside elements too", () =>
    Effect.gen(function*() {
      const element = JSON.stringify(GeminiMock.streamEvents({ deltas: ["hi"] })[0])
      for (const body of [`[${element}\n,\r\n{"candidates": [`, `[${element}\n, oops ]`]) {
        const items = yield* decodeText([body])
        const last = items.at(-1)
        expect(last?._tag === "Left" && last.left._tag).toBe("MalformedResponse")
      }
    }))

  it.effect("an SSE body whose first bytes are blank lines and a BOM still frames as SSE", () =>
    Effect.gen(function*() {
      const events = GeminiMock.streamEvents({ deltas: ["x", "y"] }).map(event)
      const items = yield* decodeText(["\uFEFF", "\r\n", ...events])
      const parts = items.map((item) => {
        if (item._tag === "Left") throw new Error(`unexpected failure: ${item.left.message}`)
        return item.right
      })
      expect(textOf(parts)).toBe("xy")
      expect(parts.at(-1)).toMatchObject({ type: "finish", finishReason: "stop" })
      // The same parts as the body without the prefix.
      expect(items).toEqual(yield* decodeText(events))
    }))

  it("an error object in a stream is tagged by its status name, else its code", () => {
    const tagOf = (error: unknown) =>
      GeminiStream.errorObject(context, { error } as Record<string, unknown>, undefined)._tag
    expect(tagOf({ code: 503, status: "UNAVAILABLE", message: "overloaded" })).toBe("Overloaded")
    expect(tagOf({ code: 500, status: "INTERNAL", message: "boom" })).toBe("ServerError")
    expect(tagOf({ code: 429, status: "RESOURCE_EXHAUSTED", message: "slow" })).toBe("RateLimited")
    expect(tagOf({ code: 504, status: "DEADLINE_EXCEEDED", message: "late" })).toBe("Timeout")
    expect(tagOf({ code: 503, message: "no status name" })).toBe("Overloaded")
    expect(tagOf({ message: "nothing" })).toBe("ServerError")
  })
})
