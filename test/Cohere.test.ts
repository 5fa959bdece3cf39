import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Layer, Schema } from "effect"
import type * as ChatRequest from "../src/ChatRequest.js"
import * as ChatResponse from "../src/ChatResponse.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as Pricing from "../src/Pricing.js"
import * as Cohere from "../src/providers/Cohere.js"
import * as StreamPart from "../src/StreamPart.js"
import * as CohereMock from "../src/testing/CohereMock.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import { failure, runGenerate, runStream as runGenerateStream, secretKey, textOf } from "./support/loopback.js"
import { cohere as cohereLayer } from "./support/providers.js"

const question = { messages: [{ role: "user" as const, content: "Capital of France?" }] }
const ask = LanguageModel.generate(question)

const runScript = (
  script: ReadonlyArray<MockProvider.Reply>,
  wakeups: ReadonlyArray<number>,
  options: Partial<Cohere.Options> = {}
) => runGenerate((server) => cohereLayer(server, options), script, wakeups)

const runStream = (
  script: ReadonlyArray<MockProvider.Reply>,
  wakeups: ReadonlyArray<number>,
  options: Partial<Cohere.Options> = {}
) => runGenerateStream((server) => cohereLayer(server, options), script, wakeups)

describe("Cohere request encoding over loopback", () => {
  it.scoped("sends the request Cohere expects and decodes the answer", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [CohereMock.chat({
          id: "gen-1",
          text: "Paris.",
          usage: {
            inputTokens: 120,
            outputTokens: 3,
            billedInputTokens: 12,
            billedOutputTokens: 3,
            cachedInputTokens: 100
          }
        }, {
          headers: {
            "x-debug-trace-id": "trace-123",
            "x-trial-endpoint-call-limit": "40",
            "x-trial-endpoint-call-remaining": "39"
          }
        })]
      })
      const response = yield* ask.pipe(Effect.provide(cohereLayer(server)))
      const [request] = yield* server.requests
      expect(request?.method).toBe("POST")
      expect(request?.path).toBe("/v2/chat")
      expect(request?.headers.authorization).toBe(`Bearer ${secretKey}`)
      expect(request?.headers["content-type"]).toBe("application/json")
      expect(request?.headers["x-client-name"]).toBeUndefined()
      expect(request?.body).toEqual({
        model: "command-a-03-2025",
        messages: [{ role: "user", content: "Capital of France?" }]
      })
      expect(response).toEqual({
        id: "gen-1",
        provider: "cohere",
        model: "command-a-03-2025",
        content: [{ type: "text", text: "Paris." }],
        finishReason: "stop",
        rawFinishReason: "COMPLETE",
        usage: { inputTokens: 120, outputTokens: 3, totalTokens: 123, cachedInputTokens: 100 },
        // Priced by the bundled data at what Cohere bills (`billed_units`): 12 input tokens, not the 120 it counts
        // with its own system prompt.
        costUsd: Pricing.dataset.cost(
          { inputTokens: 12, outputTokens: 3, totalTokens: 15 },
          "command-a-03-2025",
          "cohere"
        ),
        providerMetadata: {
          requestId: "trace-123",
          rateLimit: { trialEndpointCallLimit: 40, trialEndpointCallRemaining: 39 },
          billedUnits: { input_tokens: 12, output_tokens: 3 }
        }
      })
    }))

  it.scoped("encodes system, images, tool calls, tool results, sampling, tools and format field by field", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [CohereMock.chat({ text: "{}" })] })
      yield* LanguageModel.generate({
        model: "command-a-vision-07-2025",
        messages: [
          { role: "system", content: "Be brief." },
          {
            role: "user",
            content: [
              { type: "text", text: "What are these?" },
              { type: "image", data: "aGk=", mediaType: "image/png" },
              { type: "image", url: "https://example.com/cat.jpg", detail: "low" }
            ]
          },
          {
            role: "assistant",
            content: [
              { type: "reasoning", text: "I will look both up." },
              { type: "tool-call", id: "lookup_1", name: "lookup", arguments: { q: "cat" } },
              { type: "tool-call", id: "lookup_2", name: "lookup", arguments: { q: "dog" } }
            ]
          },
          {
            role: "tool",
            content: [
              { type: "tool-result", toolCallId: "lookup_1", result: "a cat" },
              { type: "tool-result", toolCallId: "lookup_2", result: { found: false }, isError: true }
            ]
          },
          { role: "assistant", content: [{ type: "reasoning", text: "thinking" }, { type: "text", text: "Both." }] },
          { role: "user", content: "Thanks" }
        ],
        temperature: 0.2,
        topP: 0.9,
        topK: 40,
        maxTokens: 64,
        stop: "END",
        seed: 7,
        presencePenalty: 0.1,
        frequencyPenalty: 0.3,
        tools: [{ name: "lookup", description: "Look up", parameters: { type: "object", properties: {} } }],
        toolChoice: "required",
        responseFormat: { type: "json-schema", name: "answer", schema: { type: "object" } },
        metadata: { user: "user-1", tenant: "acme" },
        providerOptions: {
          cohere: { thinking: { type: "enabled", token_budget: 2048 }, safety_mode: "STRICT" },
          openai: { logprobs: true }
        }
      }).pipe(Effect.provide(cohereLayer(server)))
      const [request] = yield* server.requests
      expect(request?.body).toEqual({
        model: "command-a-vision-07-2025",
        messages: [
          { role: "system", content: "Be brief." },
          {
            role: "user",
            content: [
              { type: "text", text: "What are these?" },
              { type: "image_url", image_url: { url: "data:image/png;base64,aGk=" } },
              { type: "image_url", image_url: { url: "https://example.com/cat.jpg", detail: "low" } }
            ]
          },
          {
            role: "assistant",
            tool_plan: "I will look both up.",
            tool_calls: [
              { id: "lookup_1", type: "function", function: { name: "lookup", arguments: "{\"q\":\"cat\"}" } },
              { id: "lookup_2", type: "function", function: { name: "lookup", arguments: "{\"q\":\"dog\"}" } }
            ]
          },
          { role: "tool", tool_call_id: "lookup_1", content: "a cat" },
          {
            role: "tool",
            tool_call_id: "lookup_2",
            content: [{ type: "document", document: { data: "{\"error\":{\"found\":false}}" } }]
          },
          // reasoning without tool calls is not sent back
          { role: "assistant", content: "Both." },
          { role: "user", content: "Thanks" }
        ],
        temperature: 0.2,
        p: 0.9,
        k: 40,
        max_tokens: 64,
        stop_sequences: ["END"],
        seed: 7,
        presence_penalty: 0.1,
        frequency_penalty: 0.3,
        tools: [{
          type: "function",
          function: { name: "lookup", description: "Look up", parameters: { type: "object", properties: {} } }
        }],
        tool_choice: "REQUIRED",
        response_format: { type: "json_object", json_schema: { type: "object" } },
        thinking: { type: "enabled", token_budget: 2048 },
        safety_mode: "STRICT"
      })
    }))

  it.scoped.each(
    [
      ["auto", undefined],
      ["none", "NONE"],
      ["required", "REQUIRED"]
    ] as const
  )("toolChoice %s is tool_choice %s", ([choice, wire]) =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [CohereMock.chat()] })
      yield* LanguageModel.generate({
        ...question,
        tools: [{ name: "lookup", parameters: { type: "object" } }],
        toolChoice: choice
      }).pipe(Effect.provide(cohereLayer(server)))
      const [request] = yield* server.requests
      expect((request?.body as { tool_choice?: unknown }).tool_choice).toBe(wire)
    }))

  it.scoped.each(
    [
      ["json", { type: "json_object" }],
      ["text", { type: "text" }]
    ] as const
  )("responseFormat %s is response_format %j", ([type, wire]) =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [CohereMock.chat({ text: "{\"a\":1}" })] })
      yield* LanguageModel.generate({ ...question, responseFormat: { type } }).pipe(Effect.provide(cohereLayer(server)))
      const [request] = yield* server.requests
      expect((request?.body as { response_format: unknown }).response_format).toEqual(wire)
    }))

  it.scoped("strict tools become strict_tools: true", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [CohereMock.chat()] })
      yield* LanguageModel.generate({
        ...question,
        tools: [
          { name: "a", parameters: { type: "object" }, strict: true },
          { name: "b", parameters: { type: "object" } }
        ]
      }).pipe(Effect.provide(cohereLayer(server)))
      const [request] = yield* server.requests
      expect((request?.body as { strict_tools?: boolean }).strict_tools).toBe(true)
    }))

  it.scoped.each(
    [
      ["a named tool choice", {
        tools: [{ name: "lookup", parameters: { type: "object" } }],
        toolChoice: { type: "tool", name: "lookup" }
      }, "cannot force a named tool"],
      ["a negative presencePenalty", { presencePenalty: -0.5 }, "`presencePenalty` between 0 and 1"],
      ["a frequencyPenalty above 1", { frequencyPenalty: 1.5 }, "`frequencyPenalty` between 0 and 1"],
      ["tools disagreeing on strict", {
        tools: [
          { name: "a", parameters: { type: "object" }, strict: true },
          { name: "b", parameters: { type: "object" }, strict: false }
        ]
      }, "`strict_tools`"]
    ] as const
  )("%s fails with InvalidRequest before any network call", ([, extra, says]) =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [CohereMock.chat()] })
      const exit = yield* LanguageModel.generate({ ...question, ...extra } as ChatRequest.Input)
        .pipe(Effect.provide(cohereLayer(server)), Effect.exit)
      const error = failure(exit)
      expect(error).toMatchObject({ _tag: "InvalidRequest", provider: "cohere" })
      expect(error.message).toContain(says)
      expect(yield* server.requests).toHaveLength(0)
    }))

  it.scoped("a base URL with a trailing slash, extra headers and the client name", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [CohereMock.chat()] })
      yield* ask.pipe(Effect.provide(cohereLayer(server, {
        baseUrl: `${server.url}/`,
        headers: { "x-team": "search" },
        clientName: "my-app"
      })))
      const [request] = yield* server.requests
      expect(request?.path).toBe("/v2/chat")
      expect(request?.headers["x-team"]).toBe("search")
      expect(request?.headers["x-client-name"]).toBe("my-app")
    }))
})

describe("Cohere conversations", () => {
  it.scoped("round-trips a tool plan, a tool call and its result", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [
          CohereMock.chat({
            toolPlan: "I will check the weather.",
            toolCalls: [{ id: "weather_1", name: "weather", arguments: { city: "Paris" } }]
          }),
          CohereMock.chat({ text: "21 °C in Paris." })
        ]
      })
      const tools = [{ name: "weather", parameters: { type: "object", properties: { city: { type: "string" } } } }]
      const messages = [{ role: "user" as const, content: "Weather in Paris?" }]
      const layer = cohereLayer(server)
      const first = yield* LanguageModel.generate({ messages, tools }).pipe(Effect.provide(layer))
      expect(first.finishReason).toBe("tool-calls")
      expect(first.rawFinishReason).toBe("TOOL_CALL")
      expect(first.content).toEqual([
        { type: "reasoning", text: "I will check the weather." },
        {
          type: "tool-call",
          id: "weather_1",
          name: "weather",
          arguments: { city: "Paris" },
          rawArguments: "{\"city\":\"Paris\"}"
        }
      ])
      const second = yield* LanguageModel.generate({
        messages: [...messages, ChatResponse.toMessage(first), {
          role: "tool",
          content: [{ type: "tool-result", toolCallId: "weather_1", result: { celsius: 21 } }]
        }],
        tools
      }).pipe(Effect.provide(layer))
      expect(ChatResponse.text(second)).toBe("21 °C in Paris.")
      const sent = (yield* server.requests)[1]?.body as { messages: Array<unknown> }
      expect(sent.messages.slice(1)).toEqual([
        {
          role: "assistant",
          tool_plan: "I will check the weather.",
          tool_calls: [{
            id: "weather_1",
            type: "function",
            function: { name: "weather", arguments: "{\"city\":\"Paris\"}" }
          }]
        },
        {
          role: "tool",
          tool_call_id: "weather_1",
          content: [{ type: "document", document: { data: "{\"celsius\":21}" } }]
        }
      ])
    }))
})

describe("Cohere retries over loopback (TestClock)", () => {
  it.scoped("the trial key's per-minute 429 is RateLimited, retried after 0.5 s then 1 s", () =>
    Effect.gen(function*() {
      const trial = "You are using a Trial key, which is limited to 40 API calls / minute. You can continue to use " +
        "the Trial key for free or upgrade to a Production key with higher rate limits."
      const { arrivals: times, exit } = yield* runScript(
        [CohereMock.error(429, trial), CohereMock.error(429, trial), CohereMock.chat({ text: "ok" })],
        [500, 1500]
      )
      expect(times).toEqual([0, 500, 1500])
      expect(Exit.isSuccess(exit)).toBe(true)
    }))

  it.scoped("a 429 with retry-after: 2 waits 2 s each time, and the message is kept when it fails", () =>
    Effect.gen(function*() {
      const slow = () => CohereMock.error(429, "slow down", { headers: { "retry-after": "2" } })
      const { arrivals: times, exit } = yield* runScript([slow(), slow(), slow()], [2000, 4000])
      expect(times).toEqual([0, 2000, 4000])
      expect(failure(exit)).toMatchObject({ _tag: "RateLimited", status: 429, message: "cohere 429: slow down" })
    }))

  it.scoped.each(
    [
      [503, "Overloaded"],
      [500, "ServerError"],
      [504, "ServerError"]
    ] as const
  )("%i (%s) is retried after 0.5 s then 1 s, then fails with it", ([status, tag]) =>
    Effect.gen(function*() {
      const { arrivals: times, exit } = yield* runScript([1, 2, 3].map(() => CohereMock.error(status)), [500, 1500])
      expect(times).toEqual([0, 500, 1500])
      expect(failure(exit)).toMatchObject({ _tag: tag, status })
    }))

  it.scoped.each(
    [
      [
        429,
        "You are using a Trial key, which is limited to 1000 API calls / month. You can continue to use the Trial " +
        "key for free or upgrade to a Production key.",
        "QuotaExhausted"
      ],
      [
        400,
        "too many tokens: size limit exceeded by 11 tokens. Try using shorter or fewer inputs, or setting " +
        "prompt_truncation='AUTO'.",
        "ContextLengthExceeded"
      ],
      [
        400,
        "blocked input: please adjust your prompt and try again, as it may be a potential violation of our Usage Policy",
        "ContentFiltered"
      ],
      [
        400,
        "invalid request: message must be at least 1 token long or tool results must be specified.",
        "InvalidRequest"
      ],
      [401, "invalid api token", "AuthenticationFailed"],
      [402, "Please add a payment method", "QuotaExhausted"],
      [
        404,
        "model 'nope' not found, make sure the correct model ID was used and that you have access to the model.",
        "NotFound"
      ],
      [422, "unprocessable entity", "InvalidRequest"]
    ] as const
  )("%i %s is %s, never retried", ([status, message, tag]) =>
    Effect.gen(function*() {
      const { arrivals: times, exit } = yield* runScript([CohereMock.error(status, message), CohereMock.chat()], [])
      expect(times).toEqual([0])
      const error = failure(exit)
      expect(error).toMatchObject({ _tag: tag, status, message: `cohere ${status}: ${message}` })
      expect(JSON.parse(error.body!)).toEqual({ id: "mock-error-id", message })
    }))

  it.scoped("a 401 that echoes the key never leaks it", () =>
    Effect.gen(function*() {
      const { exit } = yield* runScript([CohereMock.error(401, `invalid api token ${secretKey}`)], [])
      const error = failure(exit)
      expect(error._tag).toBe("AuthenticationFailed")
      expect(error.message).not.toContain(secretKey)
      expect(error.body).not.toContain(secretKey)
    }))

  it.scoped("a 200 with finish_reason ERROR is a ServerError, retried after 0.5 s", () =>
    Effect.gen(function*() {
      const { arrivals: times, exit } = yield* runScript(
        [CohereMock.chat({ text: "half an ans", finishReason: "ERROR" }), CohereMock.chat({ text: "Paris." })],
        [500]
      )
      expect(times).toEqual([0, 500])
      expect(Exit.isSuccess(exit) && ChatResponse.text(exit.value)).toBe("Paris.")
    }))

  it.scoped("a 200 with finish_reason TIMEOUT is a Timeout, and fails with it once retries are spent", () =>
    Effect.gen(function*() {
      const { arrivals: times, exit } = yield* runScript(
        [1, 2, 3].map(() => CohereMock.chat({ finishReason: "TIMEOUT" })),
        [500, 1500]
      )
      expect(times).toEqual([0, 500, 1500])
      expect(failure(exit)).toMatchObject({ _tag: "Timeout", provider: "cohere" })
    }))

  it.scoped("a 200 body of the wrong shape is MalformedResponse naming the path", () =>
    Effect.gen(function*() {
      const { exit } = yield* runScript([MockProvider.json({ id: "x", message: { content: "none" } })], [])
      const error = failure(exit)
      expect(error._tag).toBe("MalformedResponse")
      expect(error.message).toContain("message.content")
      expect(error.body).toBe("{\"id\":\"x\",\"message\":{\"content\":\"none\"}}")
    }))
})

describe("Cohere streams over loopback", () => {
  it.scoped("collecting a stream gives the response a non-streaming call gives", () =>
    Effect.gen(function*() {
      const usage = {
        inputTokens: 20,
        outputTokens: 9,
        billedInputTokens: 4,
        billedOutputTokens: 9,
        cachedInputTokens: 16
      }
      const citation = { start: 0, end: 5, text: "Let m", sources: [], type: "TEXT_CONTENT" }
      const server = yield* MockProvider.make({
        script: [
          CohereMock.stream({
            thinking: ["Hm", "m."],
            deltas: ["Let me ", "check."],
            citations: [citation],
            toolCalls: [{ id: "weather_7", name: "weather", argumentChunks: ["{\"city\"", ":\"Paris\"}"] }],
            usage
          }),
          CohereMock.chat({
            thinking: "Hmm.",
            text: "Let me check.",
            citations: [citation],
            toolCalls: [{ id: "weather_7", name: "weather", arguments: { city: "Paris" } }],
            usage
          })
        ]
      })
      const layer = cohereLayer(server)
      const request = { ...question, tools: [{ name: "weather", parameters: { type: "object" } }] }
      const streamed = yield* StreamPart.collect(LanguageModel.stream(request)).pipe(Effect.provide(layer))
      const whole = yield* LanguageModel.generate(request).pipe(Effect.provide(layer))
      expect(streamed.content).toEqual(whole.content)
      expect(streamed.content.map((part) => part.type)).toEqual(["reasoning", "text", "tool-call"])
      expect(streamed.finishReason).toBe("tool-calls")
      expect(streamed.rawFinishReason).toBe("TOOL_CALL")
      expect(streamed.usage).toEqual(whole.usage)
      expect(streamed.usage).toEqual({ inputTokens: 20, outputTokens: 9, totalTokens: 29, cachedInputTokens: 16 })
      // both priced at the billed units
      const billed = Pricing.dataset.cost(
        { inputTokens: 4, outputTokens: 9, totalTokens: 13 },
        "command-a-03-2025",
        "cohere"
      )
      expect(billed).toBeGreaterThan(0)
      expect([streamed.costUsd, whole.costUsd]).toEqual([billed, billed])
      expect(streamed.providerMetadata).toEqual(whole.providerMetadata)
      expect(streamed.providerMetadata).toEqual({
        billedUnits: { input_tokens: 4, output_tokens: 9 },
        citations: [citation]
      })
      expect({ id: streamed.id, model: streamed.model }).toEqual({ id: whole.id, model: whole.model })
      const [sent] = yield* server.requests
      expect(sent?.path).toBe("/v2/chat")
      expect(sent?.body).toEqual({
        model: "command-a-03-2025",
        messages: question.messages,
        tools: [{ type: "function", function: { name: "weather", parameters: { type: "object" } } }],
        stream: true
      })
    }))

  it.scoped("a 503 before the stream starts is retried after 0.5 s", () =>
    Effect.gen(function*() {
      const { arrivals: times, exit, received } = yield* runStream(
        [CohereMock.error(503), CohereMock.stream({ deltas: ["Once", " upon"] })],
        [500]
      )
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(times).toEqual([0, 500])
      expect(textOf(received)).toBe("Once upon")
    }))

  it.scoped("a finish_reason ERROR before the first token is retried invisibly", () =>
    Effect.gen(function*() {
      const { arrivals: times, exit, received } = yield* runStream(
        [
          // message-start and the text content-start arrive, then message-end with ERROR
          CohereMock.stream({ deltas: ["never", "seen"], error: { after: 0 } }),
          MockProvider.stream([CohereMock.errorFrame("internal error"), CohereMock.done]),
          CohereMock.stream({ deltas: ["clean"] })
        ],
        [500, 1500]
      )
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(times).toEqual([0, 500, 1500])
      expect(textOf(received)).toBe("clean")
      expect(received.map((part) => part.type)).toEqual([
        "response-metadata",
        "text-delta",
        "response-metadata",
        "usage",
        "finish"
      ])
    }))

  it.scoped("a finish_reason ERROR after the first token is StreamInterrupted with the text so far, never retried", () =>
    Effect.gen(function*() {
      const { arrivals: times, exit, received } = yield* runStream(
        [
          CohereMock.stream({
            deltas: ["Once", " upon", " a", " time"],
            error: { after: 2, message: "model crashed" }
          }),
          CohereMock.stream({ deltas: ["spliced?"] })
        ],
        []
      )
      const error = failure(exit)
      expect(error._tag).toBe("StreamInterrupted")
      if (error._tag !== "StreamInterrupted") return
      expect(error.causeTag).toBe("ServerError")
      expect(error.message).toContain("model crashed")
      expect(error.partial.text).toBe("Once upon")
      expect(textOf(received)).toBe("Once upon")
      expect(times).toEqual([0])
    }))

  it.scoped("a stream cut before message-end is a NetworkError, retried before the first token", () =>
    Effect.gen(function*() {
      const { arrivals: times, exit, received } = yield* runStream(
        // message-start and content-start only, then the connection drops
        [CohereMock.stream({ deltas: ["x"] }, { cutAfter: 2 }), CohereMock.stream({ deltas: ["ok"] })],
        [500]
      )
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(times).toEqual([0, 500])
      expect(textOf(received)).toBe("ok")
    }))

  it.scoped("a stream cut after the first token is StreamInterrupted, never retried", () =>
    Effect.gen(function*() {
      const { arrivals: times, exit } = yield* runStream(
        [CohereMock.stream({ deltas: ["Once", " upon", " a"] }, { cutAfter: 4 }), CohereMock.stream()],
        []
      )
      const error = failure(exit)
      expect(error).toMatchObject({ _tag: "StreamInterrupted", causeTag: "NetworkError" })
      if (error._tag === "StreamInterrupted") expect(error.partial.text).toBe("Once upon")
      expect(times).toEqual([0])
    }))
})

describe("Cohere structured output", () => {
  const City = Schema.Struct({ name: Schema.String, population: Schema.Number }).annotations({ identifier: "City" })

  it.scoped("generateObject sends response_format json_object with the schema and decodes the text", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [CohereMock.chat({ text: "{\"name\":\"Paris\",\"population\":2100000}" })]
      })
      const { response, value } = yield* LanguageModel.generateObject({
        messages: [{ role: "user", content: "Largest city of France?" }],
        schema: City
      }).pipe(Effect.provide(cohereLayer(server)))
      expect(value).toEqual({ name: "Paris", population: 2100000 })
      expect(response.finishReason).toBe("stop")
      const body = (yield* server.requests)[0]?.body as Record<string, unknown>
      expect(body.response_format).toEqual({
        type: "json_object",
        json_schema: {
          type: "object",
          required: ["name", "population"],
          properties: { name: { type: "string" }, population: { type: "number" } },
          additionalProperties: false
        }
      })
    }))

  it.scoped.each([
    ["text that is not JSON", "Paris, about 2.1 million people"],
    ["JSON of another shape", "{\"name\":\"Paris\",\"population\":\"many\"}"]
  ])("generateObject fails with MalformedResponse keeping the raw text: %s", ([, text]) =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [CohereMock.chat({ text })] })
      const exit = yield* LanguageModel.generateObject({ messages: [{ role: "user", content: "?" }], schema: City })
        .pipe(Effect.provide(cohereLayer(server)), Effect.exit)
      const error = failure(exit)
      expect(error).toMatchObject({ _tag: "MalformedResponse", provider: "cohere", body: text })
      expect(yield* server.requests).toHaveLength(1)
    }))
})

describe("Cohere configuration", () => {
  const viaEnv =
    (env: ReadonlyArray<readonly [string, string]>, options: Cohere.ConfigOptions = {}) => (self: typeof ask) =>
      self.pipe(
        Effect.provide(Cohere.layerConfig(options).pipe(Layer.provide(NodeHttpClient.layerUndici))),
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map(env)))
      )

  it.scoped("layerConfig reads COHERE_API_KEY, COHERE_BASE_URL and COHERE_MODEL; options win", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [CohereMock.chat(), CohereMock.chat()] })
      const env = [
        ["COHERE_API_KEY", secretKey],
        ["COHERE_BASE_URL", server.url],
        ["COHERE_MODEL", "command-from-env"]
      ] as const
      yield* ask.pipe(viaEnv(env, { clientName: "env-test" }))
      yield* ask.pipe(viaEnv(env, { model: "command-from-options" }))
      const [first, second] = yield* server.requests
      expect(first?.path).toBe("/v2/chat")
      expect(first?.headers.authorization).toBe(`Bearer ${secretKey}`)
      expect(first?.headers["x-client-name"]).toBe("env-test")
      expect((first?.body as { model: string }).model).toBe("command-from-env")
      expect((second?.body as { model: string }).model).toBe("command-from-options")
    }))

  it.scoped("layerConfig falls back to CO_API_KEY", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [CohereMock.chat()] })
      yield* ask.pipe(viaEnv([["CO_API_KEY", "co-fallback-key-123"], ["COHERE_BASE_URL", server.url], [
        "COHERE_MODEL",
        "m"
      ]]))
      const [request] = yield* server.requests
      expect(request?.headers.authorization).toBe("Bearer co-fallback-key-123")
    }))

  it.effect("layerConfig without any key fails with a ConfigError naming COHERE_API_KEY", () =>
    Effect.gen(function*() {
      const exit = yield* ask.pipe(viaEnv([]), Effect.exit)
      expect(Exit.isFailure(exit) && String(exit.cause)).toContain("COHERE_API_KEY")
    }))

  it.scoped("capabilities can be narrowed: vision off refuses images before any network call", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [CohereMock.chat()] })
      const exit = yield* LanguageModel.generate({
        messages: [{ role: "user", content: [{ type: "image", url: "https://example.com/a.png" }] }]
      }).pipe(Effect.provide(cohereLayer(server, { capabilities: { vision: false } })), Effect.exit)
      expect(failure(exit)).toMatchObject({ _tag: "InvalidRequest", provider: "cohere" })
      expect(yield* server.requests).toHaveLength(0)
    }))
})
