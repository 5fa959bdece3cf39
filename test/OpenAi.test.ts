import { HttpClient, HttpClientError } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Exit, Layer, Redacted, Schema, Stream } from "effect"
import * as ChatResponse from "../src/ChatResponse.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as Retry from "../src/Retry.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { failure, openAiLayer, runGenerate, secretKey } from "./support/loopback.js"

const ask = LanguageModel.generate({ messages: [{ role: "user", content: "Capital of France?" }] })

const rateLimited = (headers: Record<string, string>) => OpenAiMock.error(429, "rate_limit_exceeded", { headers })

const runScript = (
  script: ReadonlyArray<MockProvider.Reply>,
  wakeups: ReadonlyArray<number>,
  options: Partial<OpenAi.Options> = {}
) => runGenerate((server) => openAiLayer(server, options), script, wakeups)

describe("OpenAi over loopback", () => {
  it.scoped("sends the request OpenAI expects and decodes the answer", () =>
    Effect.gen(function*() {
      const { arrivals: times, exit, requests } = yield* runScript([
        OpenAiMock.completion({ text: "Paris.", usage: { inputTokens: 12, outputTokens: 3, cachedInputTokens: 4 } }, {
          headers: { "x-request-id": "req_123" }
        })
      ], [])
      expect(times).toEqual([0])
      const request = requests[0]!
      expect(request.method).toBe("POST")
      expect(request.path).toBe("/v1/chat/completions")
      expect(request.headers.authorization).toBe(`Bearer ${secretKey}`)
      expect(request.headers["content-type"]).toBe("application/json")
      expect(request.body).toEqual({
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: "Capital of France?" }]
      })
      expect(Exit.isSuccess(exit)).toBe(true)
      const response = Exit.isSuccess(exit) ? exit.value : undefined
      expect(response && ChatResponse.text(response)).toBe("Paris.")
      expect(response?.finishReason).toBe("stop")
      expect(response?.provider).toBe("openai")
      expect(response?.usage).toEqual({ inputTokens: 12, outputTokens: 3, totalTokens: 15, cachedInputTokens: 4 })
      expect(response?.providerMetadata?.requestId).toBe("req_123")
    }))

  it.scoped("reasoning of compatible servers: message.reasoning_content, else message.reasoning, as in their deltas", () =>
    Effect.gen(function*() {
      const answer = (message: Record<string, unknown>) =>
        MockProvider.json({ id: "x", model: "m", choices: [{ index: 0, message, finish_reason: "stop" }] })
      const { exit } = yield* runScript([
        answer({ role: "assistant", content: "42", reasoning: "thinking..." })
      ], [])
      expect(Exit.isSuccess(exit) && exit.value.content).toEqual([
        { type: "reasoning", text: "thinking..." },
        { type: "text", text: "42" }
      ])
      const both = yield* runScript([
        answer({ role: "assistant", content: "42", reasoning_content: "first", reasoning: "second" })
      ], [])
      expect(Exit.isSuccess(both.exit) && both.exit.value.content[0]).toEqual({ type: "reasoning", text: "first" })
    }))

  it.scoped("content as a list of parts (Mistral's reasoning models): thinking is reasoning, text is text", () =>
    Effect.gen(function*() {
      const listed = [
        { type: "thinking", thinking: [{ type: "text", text: "Count the " }, { type: "text", text: "r's." }] },
        { type: "text", text: "Three." },
        // The ids of cited sources: no text.
        { type: "reference", reference_ids: [1] }
      ]
      const answer = (content: unknown) =>
        MockProvider.json({ id: "x", model: "m", choices: [{ index: 0, message: { content }, finish_reason: "stop" }] })
      const { exit } = yield* runScript([answer(listed)], [])
      expect(Exit.isSuccess(exit) && exit.value.content).toEqual([
        { type: "reasoning", text: "Count the " },
        { type: "reasoning", text: "r's." },
        { type: "text", text: "Three." }
      ])
      // The same as stream deltas, in order.
      const events = [
        { id: "x", model: "m", choices: [{ index: 0, delta: { content: listed.slice(0, 1) } }] },
        { id: "x", model: "m", choices: [{ index: 0, delta: { content: listed.slice(1) }, finish_reason: "stop" }] }
      ]
      const server = yield* MockProvider.make({ script: [MockProvider.sse(events)] })
      const parts = yield* Stream.runCollect(LanguageModel.stream({ messages: [{ role: "user", content: "?" }] })).pipe(
        Effect.provide(openAiLayer(server))
      )
      expect([...parts].filter((part) => part.type.endsWith("-delta"))).toEqual([
        { type: "reasoning-delta", text: "Count the " },
        { type: "reasoning-delta", text: "r's." },
        { type: "text-delta", text: "Three." }
      ])
      // A part of another type would be lost: the answer is refused, saying which.
      const odd = yield* runScript([answer([{ type: "text", text: "a" }, { type: "image_url", image_url: "x" }])], [])
      expect(failure(odd.exit).message).toContain(
        "malformed response: message.content[1] is a part of type \"image_url\", neither text nor thinking"
      )
    }))

  it.scoped("an id or model that a compatible server sends as null is absent: the id \"\", the layer's model", () =>
    Effect.gen(function*() {
      const { exit } = yield* runScript([
        MockProvider.json({
          id: null,
          model: null,
          choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }]
        })
      ], [])
      expect(Exit.isSuccess(exit) && [exit.value.id, exit.value.model]).toEqual(["", "gpt-4o-mini"])
    }))

  it.scoped("encodes sampling, tools and response format field by field", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [OpenAiMock.completion({ text: "{}" })] })
      yield* LanguageModel.generate({
        model: "gpt-4.1",
        messages: [
          { role: "system", content: "Be brief." },
          {
            role: "user",
            content: [{ type: "text", text: "What is this?" }, {
              type: "image",
              data: "aGk=",
              mediaType: "image/png"
            }]
          }
        ],
        temperature: 0.2,
        topP: 0.9,
        maxTokens: 64,
        stop: ["END"],
        seed: 7,
        tools: [{ name: "lookup", description: "Look up", parameters: { type: "object", properties: {} } }],
        toolChoice: { type: "tool", name: "lookup" },
        responseFormat: { type: "json-schema", name: "answer", schema: { type: "object" } },
        metadata: { user: "user-1", tenant: "acme" },
        providerOptions: { openai: { logprobs: true }, anthropic: { ignored: true } }
      }).pipe(Effect.provide(openAiLayer(server)))
      const [request] = yield* server.requests
      expect(request?.body).toEqual({
        model: "gpt-4.1",
        messages: [
          { role: "system", content: "Be brief." },
          {
            role: "user",
            content: [
              { type: "text", text: "What is this?" },
              { type: "image_url", image_url: { url: "data:image/png;base64,aGk=" } }
            ]
          }
        ],
        temperature: 0.2,
        top_p: 0.9,
        max_tokens: 64,
        stop: ["END"],
        seed: 7,
        tools: [{
          type: "function",
          function: { name: "lookup", description: "Look up", parameters: { type: "object", properties: {} } }
        }],
        tool_choice: { type: "function", function: { name: "lookup" } },
        response_format: {
          type: "json_schema",
          json_schema: { name: "answer", schema: { type: "object" }, strict: true }
        },
        user: "user-1",
        logprobs: true
      })
    }))

  it.scoped("round-trips a tool call and its result", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [
          OpenAiMock.completion({ toolCalls: [{ id: "call_1", name: "weather", arguments: { city: "Paris" } }] }),
          OpenAiMock.completion({ text: "21 °C in Paris." })
        ]
      })
      const tools = [{ name: "weather", parameters: { type: "object", properties: { city: { type: "string" } } } }]
      const messages = [{ role: "user" as const, content: "Weather in Paris?" }]
      const layer = openAiLayer(server)
      const first = yield* LanguageModel.generate({ messages, tools }).pipe(Effect.provide(layer))
      expect(first.finishReason).toBe("tool-calls")
      const [call] = ChatResponse.toolCalls(first)
      expect(call).toEqual({
        type: "tool-call",
        id: "call_1",
        name: "weather",
        arguments: { city: "Paris" },
        rawArguments: "{\"city\":\"Paris\"}"
      })
      const second = yield* LanguageModel.generate({
        messages: [...messages, ChatResponse.toMessage(first), {
          role: "tool",
          content: [{ type: "tool-result", toolCallId: call!.id, result: { celsius: 21 } }]
        }],
        tools
      }).pipe(Effect.provide(layer))
      expect(ChatResponse.text(second)).toBe("21 °C in Paris.")
      const sent = (yield* server.requests)[1]?.body as { messages: Array<unknown> }
      expect(sent.messages.slice(1)).toEqual([
        {
          role: "assistant",
          content: null,
          tool_calls: [{
            id: "call_1",
            type: "function",
            function: { name: "weather", arguments: "{\"city\":\"Paris\"}" }
          }]
        },
        { role: "tool", tool_call_id: "call_1", content: "{\"celsius\":21}" }
      ])
    }))
})

describe("OpenAi retries over loopback (TestClock)", () => {
  it.scoped("default delays: 0.5 s then 1 s, then the error", () =>
    Effect.gen(function*() {
      const { arrivals: times, exit } = yield* runScript(
        [OpenAiMock.error(500), OpenAiMock.error(502), OpenAiMock.error(500)],
        [500, 1500]
      )
      expect(times).toEqual([0, 500, 1500])
      const error = failure(exit)
      expect(error._tag).toBe("ServerError")
      expect(error.status).toBe(500)
    }))

  it.scoped("retry-after: 2 waits 2 s", () =>
    Effect.gen(function*() {
      const { arrivals: times, exit } = yield* runScript(
        [rateLimited({ "retry-after": "2" }), OpenAiMock.completion({ text: "ok" })],
        [2000]
      )
      expect(times).toEqual([0, 2000])
      expect(Exit.isSuccess(exit)).toBe(true)
    }))

  it.scoped("retry-after-ms: 1500 waits 1.5 s", () =>
    Effect.gen(function*() {
      const { arrivals: times } = yield* runScript(
        [rateLimited({ "retry-after-ms": "1500", "retry-after": "9" }), OpenAiMock.completion()],
        [1500]
      )
      expect(times).toEqual([0, 1500])
    }))

  it.scoped("an HTTP-date 3 s ahead waits 3 s", () =>
    Effect.gen(function*() {
      // The TestClock starts at the epoch, so "3 s ahead" is 00:00:03 GMT on 1 January 1970.
      const { arrivals: times } = yield* runScript(
        [rateLimited({ "retry-after": new Date(3000).toUTCString() }), OpenAiMock.completion()],
        [3000]
      )
      expect(times).toEqual([0, 3000])
    }))

  it.scoped("retry-after: 3600 fails at once with RateLimited carrying it", () =>
    Effect.gen(function*() {
      const { arrivals: times, exit } = yield* runScript([rateLimited({ "retry-after": "3600" })], [])
      expect(times).toEqual([0])
      const error = failure(exit)
      expect(error._tag).toBe("RateLimited")
      expect(error.retryAfter && Duration.toSeconds(error.retryAfter)).toBe(3600)
    }))

  it.scoped("retry-after: 0 still waits the minimum backoff", () =>
    Effect.gen(function*() {
      const { arrivals: times } = yield* runScript(
        [rateLimited({ "retry-after": "0" }), OpenAiMock.completion()],
        [500]
      )
      expect(times).toEqual([0, 500])
    }))

  it.scoped.each(
    [
      [400, "InvalidRequest"],
      [401, "AuthenticationFailed"],
      [404, "NotFound"]
    ] as const
  )("%i is never retried (%s)", ([status, tag]) =>
    Effect.gen(function*() {
      const { arrivals: times, exit } = yield* runScript([OpenAiMock.error(status), OpenAiMock.completion()], [])
      expect(times).toEqual([0])
      expect(failure(exit)._tag).toBe(tag)
    }))

  it.scoped("x-should-retry: false on a 500 is not retried", () =>
    Effect.gen(function*() {
      const { arrivals: times, exit } = yield* runScript(
        [OpenAiMock.error(500, null, { headers: { "x-should-retry": "false" } }), OpenAiMock.completion()],
        []
      )
      expect(times).toEqual([0])
      expect(failure(exit)).toMatchObject({ _tag: "ServerError", shouldRetry: false })
    }))

  it.scoped("insufficient_quota is QuotaExhausted and not retried", () =>
    Effect.gen(function*() {
      const { arrivals: times, exit } = yield* runScript(
        [OpenAiMock.error(429, "insufficient_quota", { message: "You exceeded your current quota" })],
        []
      )
      expect(times).toEqual([0])
      expect(failure(exit)).toMatchObject({ _tag: "QuotaExhausted", status: 429 })
      expect(failure(exit).message).toContain("You exceeded your current quota")
    }))

  it.scoped("a deadline stops retrying", () =>
    Effect.gen(function*() {
      const { arrivals: times, exit } = yield* runScript(
        [OpenAiMock.error(503), OpenAiMock.error(503), OpenAiMock.error(503), OpenAiMock.completion()],
        [500, 1500],
        { retry: Retry.policy({ times: 10, deadline: "2 seconds" }) }
      )
      // the third retry would wait 2 s more, ending at 3.5 s, past the 2 s deadline
      expect(times).toEqual([0, 500, 1500])
      expect(failure(exit)._tag).toBe("Overloaded")
    }))

  it.scoped("a dropped connection is a NetworkError and is retried", () =>
    Effect.gen(function*() {
      const { arrivals: times, exit } = yield* runScript([MockProvider.disconnect, OpenAiMock.completion()], [500])
      expect(times).toEqual([0, 500])
      expect(Exit.isSuccess(exit)).toBe(true)
    }))

  it.scoped("retry: false makes one attempt", () =>
    Effect.gen(function*() {
      const { arrivals: times, exit } = yield* runScript([OpenAiMock.error(503), OpenAiMock.completion()], [], {
        retry: false
      })
      expect(times).toEqual([0])
      expect(failure(exit)._tag).toBe("Overloaded")
    }))
})

describe("OpenAi failures over loopback", () => {
  it.scoped("a body that is not JSON is MalformedResponse with the raw text", () =>
    Effect.gen(function*() {
      const { exit } = yield* runScript([MockProvider.text("<html>bad gateway</html>", { status: 200 })], [])
      const error = failure(exit)
      expect(error._tag).toBe("MalformedResponse")
      expect(error.body).toBe("<html>bad gateway</html>")
      expect(error.message).toContain("invalid JSON")
    }))

  it.scoped("JSON of the wrong shape is MalformedResponse naming the path", () =>
    Effect.gen(function*() {
      const { exit } = yield* runScript([MockProvider.json({ id: "x", choices: "none" })], [])
      const error = failure(exit)
      expect(error._tag).toBe("MalformedResponse")
      // The kind of value expected, not the whole schema of a choice (hundreds of characters).
      expect(error.message).toContain("choices: Expected an array, actual \"none\"")
      expect(error.message.length).toBeLessThan(200)
      expect(error.body).toBe("{\"id\":\"x\",\"choices\":\"none\"}")
    }))

  it.scoped("no choices is EmptyResponse", () =>
    Effect.gen(function*() {
      const { arrivals: times, exit } = yield* runScript([MockProvider.json({ id: "x", model: "m", choices: [] })], [])
      expect(failure(exit)._tag).toBe("EmptyResponse")
      expect(times).toEqual([0])
    }))

  it.scoped("a request timeout fires at exactly the deadline", () =>
    Effect.gen(function*() {
      const { exit, requests } = yield* runScript(
        [OpenAiMock.completion({}, { delay: "30 seconds" })],
        [10_000],
        { retry: false, timeout: { request: "10 seconds" } }
      )
      expect(requests).toHaveLength(1)
      expect(failure(exit)).toMatchObject({ _tag: "Timeout", phase: "request" })
    }))

  it.scoped("a request without any model fails before any network call", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make()
      const exit = yield* Effect.exit(ask.pipe(Effect.provide(openAiLayer(server, { model: undefined }))))
      expect(failure(exit)._tag).toBe("InvalidRequest")
      expect(yield* server.requests).toHaveLength(0)
    }))

  it.scoped("a malformed request fails with InvalidRequest before any network call", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make()
      const exit = yield* Effect.exit(
        LanguageModel.generate({ messages: [], temperature: 5 }).pipe(Effect.provide(openAiLayer(server)))
      )
      const error = failure(exit)
      expect(error._tag).toBe("InvalidRequest")
      expect(error.message).toContain("messages")
      expect(error.message).toContain("temperature")
      expect(yield* server.requests).toHaveLength(0)
    }))
})

describe("OpenAi structured output", () => {
  const City = Schema.Struct({ name: Schema.String, population: Schema.Number }).annotations({ identifier: "City" })

  it.scoped("generateObject sends a strict json_schema and decodes the answer", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [OpenAiMock.completion({ text: "{\"name\":\"Paris\",\"population\":2100000}" })]
      })
      const { response, value } = yield* LanguageModel.generateObject({
        messages: [{ role: "user", content: "Largest city of France?" }],
        schema: City
      }).pipe(Effect.provide(openAiLayer(server)))
      expect(value).toEqual({ name: "Paris", population: 2100000 })
      expect(response.usage?.inputTokens).toBe(10)
      const body = (yield* server.requests)[0]?.body as { response_format: unknown }
      expect(body.response_format).toEqual({
        type: "json_schema",
        json_schema: {
          name: "City",
          strict: true,
          schema: {
            type: "object",
            required: ["name", "population"],
            properties: { name: { type: "string" }, population: { type: "number" } },
            additionalProperties: false
          }
        }
      })
    }))

  it.scoped.each([
    ["text that is not JSON", "Paris, about 2.1 million people"],
    ["JSON of another shape", "{\"name\":\"Paris\",\"population\":\"many\"}"]
  ])("generateObject fails with MalformedResponse keeping the raw text: %s", ([, text]) =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [OpenAiMock.completion({ text })] })
      const exit = yield* LanguageModel.generateObject({ messages: [{ role: "user", content: "?" }], schema: City })
        .pipe(
          Effect.provide(openAiLayer(server)),
          Effect.exit
        )
      const error = failure(exit)
      expect(error._tag).toBe("MalformedResponse")
      expect(error.body).toBe(text)
      expect(yield* server.requests).toHaveLength(1)
    }))

  it.scoped("generateObject accepts JSON fenced in markdown", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [OpenAiMock.completion({ text: "```json\n{\"name\":\"Lyon\",\"population\":520000}\n```" })]
      })
      const { value } = yield* LanguageModel.generateObject({
        messages: [{ role: "user", content: "?" }],
        schema: City
      })
        .pipe(Effect.provide(openAiLayer(server)))
      expect(value.name).toBe("Lyon")
    }))
})

describe("OpenAi configuration", () => {
  it.scoped("topK goes to compatible servers as top_k, and is refused where unsupported", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [OpenAiMock.completion()] })
      yield* LanguageModel.generate({ messages: [{ role: "user", content: "hi" }], topK: 40 }).pipe(
        Effect.provide(openAiLayer(server, { name: "vllm" }))
      )
      expect((yield* server.requests)[0]?.body).toMatchObject({ top_k: 40 })
      const azure = OpenAi.layerAzure({ endpoint: server.url, deployment: "d", apiKey: Redacted.make(secretKey) })
      const exit = yield* LanguageModel.generate({ messages: [{ role: "user", content: "hi" }], topK: 40 }).pipe(
        Effect.provide(azure.pipe(Layer.provide(NodeHttpClient.layerUndici))),
        Effect.exit
      )
      expect(failure(exit)).toMatchObject({ _tag: "InvalidRequest", provider: "azure" })
      expect(yield* server.requests).toHaveLength(1)
    }))

  it.effect("maxTokens is max_completion_tokens on any openai.com host, max_tokens on other servers", () =>
    Effect.gen(function*() {
      const fieldsAt = (baseUrl: string) => {
        let body: Record<string, unknown> = {}
        // Keeps the request's body, and answers nothing: the call fails, after being encoded.
        const client = HttpClient.make((request) => {
          if (request.body._tag === "Uint8Array") body = JSON.parse(new TextDecoder().decode(request.body.body))
          return Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport" }))
        })
        const layer = OpenAi.layer({ baseUrl, apiKey: Redacted.make(secretKey), model: "gpt-4o", retry: false })
        return LanguageModel.generate({ messages: [{ role: "user", content: "hi" }], maxTokens: 5 }).pipe(
          Effect.provide(layer.pipe(Layer.provide(Layer.succeed(HttpClient.HttpClient, client)))),
          Effect.exit,
          Effect.map(() => Object.keys(body).filter((key) => key.startsWith("max_")))
        )
      }
      expect(yield* fieldsAt("https://api.openai.com/v1")).toEqual(["max_completion_tokens"])
      expect(yield* fieldsAt("https://us.api.openai.com/v1")).toEqual(["max_completion_tokens"])
      expect(yield* fieldsAt("http://127.0.0.1:8000/v1")).toEqual(["max_tokens"])
      expect(yield* fieldsAt("https://api.notopenai.com/v1")).toEqual(["max_tokens"])
    }))

  it.scoped("layerConfig reads OPENAI_API_KEY, OPENAI_BASE_URL, OPENAI_MODEL and OPENAI_ORG_ID", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [OpenAiMock.completion()] })
      const env = new Map([
        ["OPENAI_API_KEY", secretKey],
        ["OPENAI_BASE_URL", `${server.url}/v1`],
        ["OPENAI_MODEL", "gpt-from-env"],
        ["OPENAI_ORG_ID", "org-123"]
      ])
      yield* ask.pipe(
        Effect.provide(
          OpenAi.layerConfig({ headers: { "x-team": "search" } }).pipe(Layer.provide(NodeHttpClient.layerUndici))
        ),
        Effect.withConfigProvider(ConfigProvider.fromMap(env))
      )
      const [request] = yield* server.requests
      expect(request?.path).toBe("/v1/chat/completions")
      expect(request?.headers.authorization).toBe(`Bearer ${secretKey}`)
      expect(request?.headers["openai-organization"]).toBe("org-123")
      expect(request?.headers["x-team"]).toBe("search")
      expect((request?.body as { model: string }).model).toBe("gpt-from-env")
    }))

  it.effect("layerConfig without OPENAI_API_KEY fails with a ConfigError naming it", () =>
    Effect.gen(function*() {
      const exit = yield* ask.pipe(
        Effect.provide(OpenAi.layerConfig().pipe(Layer.provide(NodeHttpClient.layerUndici))),
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map())),
        Effect.exit
      )
      expect(Exit.isFailure(exit) && String(exit.cause)).toContain("OPENAI_API_KEY")
    }))
})

describe("Azure OpenAI URL and header shapes", () => {
  const azure = (server: MockProvider.MockProvider, options: Partial<OpenAi.AzureOptions>) =>
    OpenAi.layerAzure({ endpoint: server.url, apiKey: Redacted.make(secretKey), ...options }).pipe(
      Layer.provide(NodeHttpClient.layerUndici)
    )

  it.scoped("deployment path with api-version and the api-key header", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [OpenAiMock.completion({ text: "hi" })] })
      const response = yield* ask.pipe(
        Effect.provide(azure(server, { deployment: "gpt-4o", apiVersion: "2024-10-21" }))
      )
      const [request] = yield* server.requests
      expect(request?.path).toBe("/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21")
      expect(request?.headers["api-key"]).toBe(secretKey)
      expect(request?.headers.authorization).toBeUndefined()
      expect(response.provider).toBe("azure")
    }))

  it.scoped("v1 path with the model in the body", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [OpenAiMock.completion({ text: "hi" })] })
      yield* ask.pipe(Effect.provide(azure(server, { model: "my-gpt-4o" })))
      const [request] = yield* server.requests
      expect(request?.path).toBe("/openai/v1/chat/completions")
      expect(request?.headers["api-key"]).toBe(secretKey)
      expect((request?.body as { model: string }).model).toBe("my-gpt-4o")
    }))

  it.scoped("a content-filter 400 is ContentFiltered", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [MockProvider.error(400, {
          error: {
            message: "The response was filtered",
            code: "content_filter",
            status: 400,
            innererror: { code: "ResponsibleAIPolicyViolation" }
          }
        })]
      })
      const exit = yield* Effect.exit(ask.pipe(Effect.provide(azure(server, { deployment: "gpt-4o" }))))
      expect(failure(exit)).toMatchObject({ _tag: "ContentFiltered", status: 400, provider: "azure" })
    }))
})
