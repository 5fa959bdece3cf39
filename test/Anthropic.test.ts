import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Exit, Layer, Schema } from "effect"
import type * as ChatRequest from "../src/ChatRequest.js"
import * as ChatResponse from "../src/ChatResponse.js"
import * as AnthropicRequest from "../src/internal/anthropic/request.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as Anthropic from "../src/providers/Anthropic.js"
import * as StreamPart from "../src/StreamPart.js"
import * as AnthropicMock from "../src/testing/AnthropicMock.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import { failure, runGenerate, runStream as runGenerateStream, secretKey, textOf } from "./support/loopback.js"
import { anthropic as anthropicLayer } from "./support/providers.js"

const question = { messages: [{ role: "user" as const, content: "Capital of France?" }] }
const ask = LanguageModel.generate(question)

const runScript = (
  script: ReadonlyArray<MockProvider.Reply>,
  wakeups: ReadonlyArray<number>,
  options: Partial<Anthropic.Options> = {}
) => runGenerate((server) => anthropicLayer(server, options), script, wakeups)

const runStream = (
  script: ReadonlyArray<MockProvider.Reply>,
  wakeups: ReadonlyArray<number>,
  options: Partial<Anthropic.Options> = {}
) => runGenerateStream((server) => anthropicLayer(server, options), script, wakeups)

describe("Anthropic request encoding over loopback", () => {
  it.scoped("sends the request Anthropic expects and decodes the answer", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [
          AnthropicMock.message({
            text: "Paris.",
            usage: { inputTokens: 132, outputTokens: 3, cachedInputTokens: 100, cacheWriteTokens: 20 }
          }, {
            headers: {
              "request-id": "req_123",
              "anthropic-ratelimit-requests-remaining": "99",
              "anthropic-ratelimit-requests-reset": "2026-01-01T00:00:00Z",
              "anthropic-ratelimit-tokens-remaining": "12000"
            }
          })
        ]
      })
      const response = yield* ask.pipe(Effect.provide(anthropicLayer(server)))
      const [request] = yield* server.requests
      expect(request?.method).toBe("POST")
      expect(request?.path).toBe("/v1/messages")
      expect(request?.headers["x-api-key"]).toBe(secretKey)
      expect(request?.headers["anthropic-version"]).toBe("2023-06-01")
      expect(request?.headers["anthropic-beta"]).toBeUndefined()
      expect(request?.headers.authorization).toBeUndefined()
      expect(request?.headers["content-type"]).toBe("application/json")
      // max_tokens is required by Anthropic: 4096 when the request sets none
      expect(request?.body).toEqual({
        model: "claude-sonnet-4-5",
        max_tokens: 4096,
        messages: [{ role: "user", content: "Capital of France?" }]
      })
      expect(ChatResponse.text(response)).toBe("Paris.")
      expect(response.provider).toBe("anthropic")
      expect(response.finishReason).toBe("stop")
      expect(response.rawFinishReason).toBe("end_turn")
      // the wire's input_tokens (12) excludes the cache: 12 + 100 read + 20 written
      expect(response.usage).toEqual({
        inputTokens: 132,
        outputTokens: 3,
        totalTokens: 135,
        cachedInputTokens: 100,
        cacheWriteTokens: 20
      })
      expect(response.providerMetadata).toEqual({
        requestId: "req_123",
        rateLimit: { requestsRemaining: 99, requestsReset: "2026-01-01T00:00:00Z", tokensRemaining: 12000 }
      })
    }))

  it.scoped("encodes system, images, thinking, tool calls, tool results, sampling and tools field by field", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [AnthropicMock.message()] })
      yield* LanguageModel.generate({
        model: "claude-opus-4-1",
        messages: [
          { role: "system", content: "Be brief." },
          {
            role: "user",
            content: [
              { type: "text", text: "What are these?" },
              { type: "image", data: "aGk=", mediaType: "image/png" },
              { type: "image", url: "https://example.com/cat.jpg" },
              { type: "image", url: "data:image/jpeg;base64,/9j/4A==" }
            ]
          },
          {
            role: "assistant",
            content: [
              { type: "reasoning", text: "Let me look.", signature: "sig-1" },
              { type: "reasoning", text: "", signature: "redacted_thinking:ENCRYPTED" },
              { type: "reasoning", text: "unsigned reasoning from another provider" },
              { type: "text", text: "Checking." },
              { type: "tool-call", id: "toolu_1", name: "lookup", arguments: { q: "cat" } },
              { type: "tool-call", id: "toolu_2", name: "lookup", arguments: { q: "dog" } }
            ]
          },
          { role: "tool", content: [{ type: "tool-result", toolCallId: "toolu_1", result: "a cat" }] },
          {
            role: "tool",
            content: [{ type: "tool-result", toolCallId: "toolu_2", result: { error: "not found" }, isError: true }]
          },
          { role: "system", content: "Answer in French." },
          { role: "user", content: "Merci" }
        ],
        temperature: 0.2,
        topP: 0.9,
        topK: 40,
        maxTokens: 64,
        stop: "END",
        tools: [{ name: "lookup", description: "Look up", parameters: { type: "object", properties: {} } }],
        toolChoice: "required",
        metadata: { user: "user-1", tenant: "acme" },
        providerOptions: { anthropic: { service_tier: "auto" }, openai: { logprobs: true } }
      }).pipe(Effect.provide(anthropicLayer(server)))
      const [request] = yield* server.requests
      expect(request?.body).toEqual({
        model: "claude-opus-4-1",
        max_tokens: 64,
        system: "Be brief.\n\nAnswer in French.",
        messages: [
          {
            role: "user",
            content: [
              { type: "text", text: "What are these?" },
              { type: "image", source: { type: "base64", media_type: "image/png", data: "aGk=" } },
              { type: "image", source: { type: "url", url: "https://example.com/cat.jpg" } },
              { type: "image", source: { type: "base64", media_type: "image/jpeg", data: "/9j/4A==" } }
            ]
          },
          {
            role: "assistant",
            content: [
              { type: "thinking", thinking: "Let me look.", signature: "sig-1" },
              { type: "redacted_thinking", data: "ENCRYPTED" },
              { type: "text", text: "Checking." },
              { type: "tool_use", id: "toolu_1", name: "lookup", input: { q: "cat" } },
              { type: "tool_use", id: "toolu_2", name: "lookup", input: { q: "dog" } }
            ]
          },
          {
            role: "user",
            content: [
              { type: "tool_result", tool_use_id: "toolu_1", content: "a cat" },
              { type: "tool_result", tool_use_id: "toolu_2", content: "{\"error\":\"not found\"}", is_error: true }
            ]
          },
          { role: "user", content: "Merci" }
        ],
        temperature: 0.2,
        top_p: 0.9,
        top_k: 40,
        stop_sequences: ["END"],
        tools: [{ name: "lookup", description: "Look up", input_schema: { type: "object", properties: {} } }],
        tool_choice: { type: "any" },
        metadata: { user_id: "user-1" },
        service_tier: "auto"
      })
    }))

  it.scoped.each(
    [
      ["auto", { type: "auto" }],
      ["none", { type: "none" }],
      ["required", { type: "any" }],
      [{ type: "tool", name: "lookup" }, { type: "tool", name: "lookup" }]
    ] as const
  )("toolChoice %j is tool_choice %j", ([choice, wire]) =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [AnthropicMock.message()] })
      yield* LanguageModel.generate({
        ...question,
        tools: [{ name: "lookup", parameters: { type: "object" } }],
        toolChoice: choice
      }).pipe(Effect.provide(anthropicLayer(server)))
      const [request] = yield* server.requests
      expect((request?.body as { tool_choice: unknown }).tool_choice).toEqual(wire)
    }))

  it.scoped("headers: anthropic-version and anthropic-beta from the options, extra headers, a trailing slash", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [AnthropicMock.message()] })
      yield* ask.pipe(Effect.provide(anthropicLayer(server, {
        baseUrl: `${server.url}/`,
        version: "2024-01-01",
        betas: ["interleaved-thinking-2025-05-14", "context-1m-2025-08-07"],
        headers: { "x-team": "search" },
        defaultMaxTokens: 1000
      })))
      const [request] = yield* server.requests
      expect(request?.path).toBe("/v1/messages")
      expect(request?.headers["anthropic-version"]).toBe("2024-01-01")
      expect(request?.headers["anthropic-beta"]).toBe("interleaved-thinking-2025-05-14,context-1m-2025-08-07")
      expect(request?.headers["x-team"]).toBe("search")
      expect((request?.body as { max_tokens: number }).max_tokens).toBe(1000)
    }))

  it.scoped("responseFormat json (no JSON mode at Anthropic) adds an instruction to system", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [AnthropicMock.message({ text: "{\"a\":1}" })] })
      yield* LanguageModel.generate({
        messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "JSON please" }],
        responseFormat: { type: "json" }
      }).pipe(Effect.provide(anthropicLayer(server)))
      const [request] = yield* server.requests
      expect((request?.body as { system: string }).system).toBe(`Be brief.\n\n${AnthropicRequest.jsonInstruction}`)
    }))

  it.scoped.each(
    [
      ["seed", { seed: 7 }, "`seed`"],
      ["presencePenalty", { presencePenalty: 0.5 }, "`presencePenalty`"],
      ["frequencyPenalty", { frequencyPenalty: 0.5 }, "`frequencyPenalty`"],
      ["temperature above 1", { temperature: 1.5 }, "between 0 and 1"],
      ["a forced tool with thinking on", {
        tools: [{ name: "lookup", parameters: { type: "object" } }],
        toolChoice: "required",
        providerOptions: { anthropic: { thinking: { type: "enabled", budget_tokens: 2048 } } }
      }, "extended thinking"],
      ["a json-schema format named like a tool", {
        tools: [{ name: "answer", parameters: { type: "object" } }],
        responseFormat: { type: "json-schema", name: "answer", schema: { type: "object" } }
      }, "also the name of a tool"],
      ["a json-schema format with a non-object root", {
        responseFormat: { type: "json-schema", name: "list", schema: { type: "array" } }
      }, "`type: \"object\"`"]
    ] as const
  )("%s fails with InvalidRequest before any network call", ([, extra, says]) =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [AnthropicMock.message()] })
      const exit = yield* LanguageModel.generate({ ...question, ...extra } as ChatRequest.Input).pipe(
        Effect.provide(anthropicLayer(server)),
        Effect.exit
      )
      const error = failure(exit)
      expect(error).toMatchObject({ _tag: "InvalidRequest", provider: "anthropic" })
      expect(error.message).toContain(says)
      expect(yield* server.requests).toHaveLength(0)
    }))

  it.scoped("thinking passes through providerOptions", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [AnthropicMock.message()] })
      yield* LanguageModel.generate({
        ...question,
        maxTokens: 4000,
        providerOptions: { anthropic: { thinking: { type: "enabled", budget_tokens: 2048 } } }
      }).pipe(Effect.provide(anthropicLayer(server)))
      const [request] = yield* server.requests
      expect(request?.body).toMatchObject({ max_tokens: 4000, thinking: { type: "enabled", budget_tokens: 2048 } })
    }))
})

describe("Anthropic conversations", () => {
  it.scoped("round-trips a tool call and its result", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [
          AnthropicMock.message({
            text: "Let me check.",
            toolCalls: [{ id: "toolu_1", name: "weather", input: { city: "Paris" } }]
          }),
          AnthropicMock.message({ text: "21 °C in Paris." })
        ]
      })
      const tools = [{ name: "weather", parameters: { type: "object", properties: { city: { type: "string" } } } }]
      const messages = [{ role: "user" as const, content: "Weather in Paris?" }]
      const layer = anthropicLayer(server)
      const first = yield* LanguageModel.generate({ messages, tools }).pipe(Effect.provide(layer))
      expect(first.finishReason).toBe("tool-calls")
      expect(first.rawFinishReason).toBe("tool_use")
      const [call] = ChatResponse.toolCalls(first)
      expect(call).toEqual({
        type: "tool-call",
        id: "toolu_1",
        name: "weather",
        arguments: { city: "Paris" },
        rawArguments: "{\"city\":\"Paris\"}"
      })
      yield* LanguageModel.generate({
        messages: [...messages, ChatResponse.toMessage(first), {
          role: "tool",
          content: [{ type: "tool-result", toolCallId: call!.id, result: { celsius: 21 } }]
        }],
        tools
      }).pipe(Effect.provide(layer))
      const sent = (yield* server.requests)[1]?.body as { messages: Array<unknown> }
      expect(sent.messages.slice(1)).toEqual([
        {
          role: "assistant",
          content: [
            { type: "text", text: "Let me check." },
            { type: "tool_use", id: "toolu_1", name: "weather", input: { city: "Paris" } }
          ]
        },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_1", content: "{\"celsius\":21}" }] }
      ])
    }))

  it.scoped("thinking and redacted thinking come back as reasoning and go out again as they came", () =>
    Effect.gen(function*() {
      const content = [
        { type: "thinking", thinking: "Pondering.", signature: "EqoBCkgIAR" },
        { type: "redacted_thinking", data: "EmwKAhgBEgy3va3pzix" },
        { type: "text", text: "Done." }
      ]
      const server = yield* MockProvider.make({
        script: [AnthropicMock.message({ content }), AnthropicMock.message()]
      })
      const layer = anthropicLayer(server)
      const first = yield* ask.pipe(Effect.provide(layer))
      expect(first.content).toEqual([
        { type: "reasoning", text: "Pondering.", signature: "EqoBCkgIAR" },
        { type: "reasoning", text: "", signature: "redacted_thinking:EmwKAhgBEgy3va3pzix", redacted: true },
        { type: "text", text: "Done." }
      ])
      yield* LanguageModel.generate({
        messages: [...question.messages, ChatResponse.toMessage(first), { role: "user", content: "And?" }]
      }).pipe(Effect.provide(layer))
      const sent = (yield* server.requests)[1]?.body as { messages: Array<unknown> }
      expect(sent.messages[1]).toEqual({ role: "assistant", content })
    }))
})

describe("Anthropic retries over loopback (TestClock)", () => {
  it.scoped("529 overloaded twice: retried after 0.5 s then 1 s", () =>
    Effect.gen(function*() {
      const { arrivals: times, exit } = yield* runScript(
        [AnthropicMock.error(529), AnthropicMock.error(529), AnthropicMock.message({ text: "ok" })],
        [500, 1500]
      )
      expect(times).toEqual([0, 500, 1500])
      expect(Exit.isSuccess(exit)).toBe(true)
    }))

  it.scoped("three 529s fail with Overloaded carrying status and request id", () =>
    Effect.gen(function*() {
      const { exit } = yield* runScript(
        [1, 2, 3].map(() => AnthropicMock.error(529, "overloaded_error", { headers: { "request-id": "req_9" } })),
        [500, 1500]
      )
      expect(failure(exit)).toMatchObject({ _tag: "Overloaded", status: 529, requestId: "req_9" })
    }))

  it.scoped("rate_limit_error with retry-after: 2 waits 2 s", () =>
    Effect.gen(function*() {
      const { arrivals: times, exit } = yield* runScript(
        [AnthropicMock.error(429, "rate_limit_error", { headers: { "retry-after": "2" } }), AnthropicMock.message()],
        [2000]
      )
      expect(times).toEqual([0, 2000])
      expect(Exit.isSuccess(exit)).toBe(true)
    }))

  it.scoped("x-should-retry: false on a 529 is not retried", () =>
    Effect.gen(function*() {
      const { arrivals: times, exit } = yield* runScript(
        [
          AnthropicMock.error(529, "overloaded_error", { headers: { "x-should-retry": "false" } }),
          AnthropicMock.message()
        ],
        []
      )
      expect(times).toEqual([0])
      expect(failure(exit)).toMatchObject({ _tag: "Overloaded", shouldRetry: false })
    }))

  it.scoped.each(
    [
      [400, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum", "ContextLengthExceeded"],
      [
        400,
        "invalid_request_error",
        "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing.",
        "QuotaExhausted"
      ],
      [400, "invalid_request_error", "messages.0: Input does not match the expected shape.", "InvalidRequest"],
      [413, "request_too_large", "Request exceeds the maximum allowed number of bytes.", "InvalidRequest"],
      [402, "billing_error", "Billing issue", "QuotaExhausted"],
      [403, "permission_error", "Your API key does not have permission", "AuthenticationFailed"],
      [404, "not_found_error", "model: claude-nope", "NotFound"]
    ] as const
  )("%i %s (%s) is %s, never retried", ([status, type, message, tag]) =>
    Effect.gen(function*() {
      const { arrivals: times, exit } = yield* runScript(
        [AnthropicMock.error(status, type, { message }), AnthropicMock.message()],
        []
      )
      expect(times).toEqual([0])
      const error = failure(exit)
      expect(error).toMatchObject({ _tag: tag, status })
      expect(error.message).toContain(message)
    }))

  it.scoped("a 401 that echoes the key never leaks it", () =>
    Effect.gen(function*() {
      const { exit } = yield* runScript(
        [AnthropicMock.error(401, "authentication_error", { message: `invalid x-api-key ${secretKey}` })],
        []
      )
      const error = failure(exit)
      expect(error._tag).toBe("AuthenticationFailed")
      expect(error.message).not.toContain(secretKey)
      expect(error.body).not.toContain(secretKey)
    }))

  it.scoped("an error object in a 200 body is classified by its type and retried", () =>
    Effect.gen(function*() {
      const { arrivals: times, exit } = yield* runScript(
        [MockProvider.json(AnthropicMock.errorBody("overloaded_error", "Overloaded")), AnthropicMock.message()],
        [500]
      )
      expect(times).toEqual([0, 500])
      expect(Exit.isSuccess(exit)).toBe(true)
      const once = yield* runScript(
        [MockProvider.json(AnthropicMock.errorBody("overloaded_error", "Overloaded"))],
        [],
        {
          retry: false
        }
      )
      expect(failure(once.exit)).toMatchObject({ _tag: "Overloaded", provider: "anthropic" })
    }))

  it.scoped("a 200 body of the wrong shape is MalformedResponse naming the path", () =>
    Effect.gen(function*() {
      const { exit } = yield* runScript([MockProvider.json({ id: "msg_1", model: "m", content: "none" })], [])
      const error = failure(exit)
      expect(error._tag).toBe("MalformedResponse")
      expect(error.message).toContain("content")
    }))
})

describe("Anthropic streams over loopback", () => {
  it.scoped("collecting a stream gives the response a non-streaming call gives", () =>
    Effect.gen(function*() {
      const usage = { inputTokens: 25, outputTokens: 9, cachedInputTokens: 5 }
      const server = yield* MockProvider.make({
        script: [
          AnthropicMock.stream({
            thinking: { deltas: ["Hm", "m."], signature: "sig-9" },
            deltas: ["Let me ", "check."],
            toolCalls: [{ id: "toolu_7", name: "weather", argumentChunks: ["{\"city\"", ":\"Paris\"}"] }],
            usage
          }),
          AnthropicMock.message({
            thinking: { text: "Hmm.", signature: "sig-9" },
            text: "Let me check.",
            toolCalls: [{ id: "toolu_7", name: "weather", input: { city: "Paris" } }],
            usage
          })
        ]
      })
      const layer = anthropicLayer(server)
      const request = { ...question, tools: [{ name: "weather", parameters: { type: "object" } }] }
      const streamed = yield* StreamPart.collect(LanguageModel.stream(request)).pipe(Effect.provide(layer))
      const whole = yield* LanguageModel.generate(request).pipe(Effect.provide(layer))
      expect(streamed.content).toEqual(whole.content)
      expect(streamed.content.map((part) => part.type)).toEqual(["reasoning", "text", "tool-call"])
      expect(streamed.finishReason).toBe("tool-calls")
      expect(streamed.usage).toEqual(whole.usage)
      expect(streamed.usage).toEqual({
        inputTokens: 25,
        outputTokens: 9,
        totalTokens: 34,
        cachedInputTokens: 5
      })
      expect({ id: streamed.id, model: streamed.model }).toEqual({ id: whole.id, model: whole.model })
      const [sent] = yield* server.requests
      expect(sent?.body).toMatchObject({ stream: true, max_tokens: 4096 })
    }))

  it.scoped("a 529 before the stream starts is retried after 0.5 s", () =>
    Effect.gen(function*() {
      const { arrivals: times, exit, received } = yield* runStream(
        [AnthropicMock.error(529), AnthropicMock.stream({ deltas: ["Once", " upon"] })],
        [500]
      )
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(times).toEqual([0, 500])
      expect(textOf(received)).toBe("Once upon")
    }))

  it.scoped("an error event before the first token is retried invisibly", () =>
    Effect.gen(function*() {
      const { arrivals: times, exit, received } = yield* runStream(
        [
          // message_start, ping and the text block start arrive, then overloaded_error
          AnthropicMock.stream({ deltas: ["never", "seen"], error: { after: 0 } }),
          MockProvider.stream([AnthropicMock.errorFrame("api_error", "Internal server error")]),
          AnthropicMock.stream({ deltas: ["clean"] })
        ],
        [500, 1500]
      )
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(times).toEqual([0, 500, 1500])
      expect(textOf(received)).toBe("clean")
      expect(received.filter((part) => part.type === "response-metadata")).toHaveLength(1)
      expect(received.map((part) => part.type)).toEqual([
        "response-metadata",
        "usage",
        "text-delta",
        "usage",
        "finish"
      ])
    }))

  it.scoped("an error event after the first token is StreamInterrupted with the text so far, never retried", () =>
    Effect.gen(function*() {
      const { arrivals: times, exit, received } = yield* runStream(
        [
          AnthropicMock.stream({ deltas: ["Once", " upon", " a", " time"], error: { after: 2 } }),
          AnthropicMock.stream({ deltas: ["spliced?"] })
        ],
        []
      )
      const error = failure(exit)
      expect(error._tag).toBe("StreamInterrupted")
      if (error._tag !== "StreamInterrupted") return
      expect(error.causeTag).toBe("Overloaded")
      expect(error.partial.text).toBe("Once upon")
      expect(error.partial.usage).toEqual({ inputTokens: 10, outputTokens: 1, totalTokens: 11 })
      expect(textOf(received)).toBe("Once upon")
      expect(times).toEqual([0])
    }))

  it.scoped("a body that ends before message_delta is a NetworkError, retried before the first token", () =>
    Effect.gen(function*() {
      // message_start, ping and the text block start, then the body ends cleanly
      const truncated = MockProvider.stream(AnthropicMock.streamFrames({ deltas: ["x"] }).slice(0, 3))
      const retried = yield* runStream([truncated, AnthropicMock.stream({ deltas: ["ok"] })], [500])
      expect(Exit.isSuccess(retried.exit)).toBe(true)
      expect(retried.arrivals).toEqual([0, 500])
      expect(textOf(retried.received)).toBe("ok")
      const once = yield* runStream([truncated], [], { retry: false })
      expect(failure(once.exit)).toMatchObject({ _tag: "NetworkError", provider: "anthropic" })
      expect(failure(once.exit).message).toContain("before its stop reason")
    }))
})

describe("Anthropic structured output", () => {
  const City = Schema.Struct({ name: Schema.String, population: Schema.Number }).annotations({ identifier: "City" })
  const citySchema = {
    type: "object",
    required: ["name", "population"],
    properties: { name: { type: "string" }, population: { type: "number" } },
    additionalProperties: false
  }

  it.scoped("generateObject forces a tool named after the schema and reads its input", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [AnthropicMock.message({
          toolCalls: [{ id: "toolu_1", name: "City", input: { name: "Paris", population: 2100000 } }]
        })]
      })
      const { response, value } = yield* LanguageModel.generateObject({
        messages: [{ role: "user", content: "Largest city of France?" }],
        schema: City
      }).pipe(Effect.provide(anthropicLayer(server)))
      expect(value).toEqual({ name: "Paris", population: 2100000 })
      expect(response.content).toEqual([{ type: "text", text: "{\"name\":\"Paris\",\"population\":2100000}" }])
      expect(response.finishReason).toBe("stop")
      expect(response.rawFinishReason).toBe("tool_use")
      const body = (yield* server.requests)[0]?.body as Record<string, unknown>
      expect(body.tools).toEqual([{
        name: "City",
        description: "Give the answer as this tool's input, matching its schema exactly.",
        input_schema: citySchema
      }])
      expect(body.tool_choice).toEqual({ type: "tool", name: "City" })
    }))

  it.scoped("a user tool next to the format keeps its place; the format description is passed", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [
          AnthropicMock.message({ toolCalls: [{ id: "t", name: "City", input: { name: "Lyon", population: 1 } }] })
        ]
      })
      yield* LanguageModel.generateObject({
        messages: [{ role: "user", content: "?" }],
        tools: [{ name: "lookup", parameters: { type: "object" } }],
        schema: City,
        schemaDescription: "A city"
      }).pipe(Effect.provide(anthropicLayer(server)))
      const body = (yield* server.requests)[0]?.body as { tools: Array<{ name: string; description?: string }> }
      expect(body.tools.map((tool) => [tool.name, tool.description])).toEqual([["lookup", undefined], [
        "City",
        "A city"
      ]])
    }))

  it.scoped.each(
    [
      ["a tool input of another shape", {
        toolCalls: [{ id: "t", name: "City", input: { name: "Paris", population: "many" } }]
      }, "{\"name\":\"Paris\",\"population\":\"many\"}"],
      ["plain text instead of the tool", { text: "Paris, about 2.1 million people" }, "Paris, about 2.1 million people"]
    ] as const
  )("generateObject fails with MalformedResponse keeping the raw text: %s", ([, reply, raw]) =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [AnthropicMock.message(reply)] })
      const exit = yield* LanguageModel.generateObject({ messages: [{ role: "user", content: "?" }], schema: City })
        .pipe(Effect.provide(anthropicLayer(server)), Effect.exit)
      const error = failure(exit)
      expect(error._tag).toBe("MalformedResponse")
      expect(error.body).toBe(raw)
      expect(yield* server.requests).toHaveLength(1)
    }))

  it.scoped("streamed json-schema output arrives as text deltas and finishes with stop", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [AnthropicMock.stream({
          deltas: [],
          toolCalls: [{ id: "t", name: "City", argumentChunks: ["{\"name\":\"Pa", "ris\",\"population\":2}"] }]
        })]
      })
      const response = yield* StreamPart.collect(LanguageModel.stream({
        messages: [{ role: "user", content: "?" }],
        responseFormat: { type: "json-schema", name: "City", schema: citySchema }
      })).pipe(Effect.provide(anthropicLayer(server)))
      expect(response.content).toEqual([{ type: "text", text: "{\"name\":\"Paris\",\"population\":2}" }])
      expect(response.finishReason).toBe("stop")
    }))
})

describe("Anthropic configuration", () => {
  it.scoped("layerConfig reads ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL and ANTHROPIC_MODEL", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [AnthropicMock.message(), AnthropicMock.message()] })
      const env = new Map([
        ["ANTHROPIC_API_KEY", secretKey],
        ["ANTHROPIC_BASE_URL", server.url],
        ["ANTHROPIC_MODEL", "claude-from-env"]
      ])
      const provide = (options: Anthropic.ConfigOptions) => (self: typeof ask) =>
        self.pipe(
          Effect.provide(Anthropic.layerConfig(options).pipe(Layer.provide(NodeHttpClient.layerUndici))),
          Effect.withConfigProvider(ConfigProvider.fromMap(env))
        )
      yield* ask.pipe(provide({ betas: ["b1"] }))
      yield* ask.pipe(provide({ model: "claude-from-options" }))
      const [first, second] = yield* server.requests
      expect(first?.path).toBe("/v1/messages")
      expect(first?.headers["x-api-key"]).toBe(secretKey)
      expect(first?.headers["anthropic-beta"]).toBe("b1")
      expect((first?.body as { model: string }).model).toBe("claude-from-env")
      // options win over the environment
      expect((second?.body as { model: string }).model).toBe("claude-from-options")
    }))

  it.effect("layerConfig without ANTHROPIC_API_KEY fails with a ConfigError naming it", () =>
    Effect.gen(function*() {
      const exit = yield* ask.pipe(
        Effect.provide(Anthropic.layerConfig().pipe(Layer.provide(NodeHttpClient.layerUndici))),
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map())),
        Effect.exit
      )
      expect(Exit.isFailure(exit) && String(exit.cause)).toContain("ANTHROPIC_API_KEY")
    }))

  it.scoped("the retry-after of an overloaded 529 is kept on the error when retries are off", () =>
    Effect.gen(function*() {
      const { arrivals: times, exit } = yield* runScript(
        [AnthropicMock.error(529, "overloaded_error", { headers: { "retry-after": "7" } })],
        [],
        { retry: false }
      )
      expect(times).toEqual([0])
      const error = failure(exit)
      expect(error.retryAfter && Duration.toSeconds(error.retryAfter)).toBe(7)
    }))
})
