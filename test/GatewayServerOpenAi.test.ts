import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import OpenAI from "openai"
import * as LlmError from "../src/LlmError.js"
import * as TestModel from "../src/testing/TestModel.js"
import { makeRuntime, serve, tenantKey } from "./support/gateway.js"

const usage = { inputTokens: 9, outputTokens: 2, totalTokens: 11 }
const messages = [{ role: "user" as const, content: "Capital of France?" }]

/** A gateway over a scripted "gpt-4o" route, and an official openai client pointed at it. */
const setup = (
  script: ReadonlyArray<TestModel.Reply>,
  client: { readonly key?: string; readonly maxRetries?: number } = {},
  maxBodyBytes = 1_000_000
) =>
  Effect.gen(function*() {
    const model = yield* TestModel.make(script, { provider: "openai", model: "gpt-4o-2024-08-06" })
    const base = yield* serve(
      makeRuntime({ tenants: [{ id: "acme" }], routes: { "gpt-4o": model.service }, settings: { maxBodyBytes } })
    )
    const openai = new OpenAI({
      apiKey: client.key ?? tenantKey("acme"),
      baseURL: `${base}/v1`,
      maxRetries: client.maxRetries ?? 0,
      timeout: 10_000
    })
    return { openai, model }
  })

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)
const rejection = <A>(f: () => Promise<A>) =>
  Effect.promise(() => f().then(() => expect.fail("expected an error"), (error: unknown) => error))

describe("Gateway server: the official openai SDK", () => {
  it.scopedLive("creates a completion and reads the gateway's headers", () =>
    Effect.gen(function*() {
      const { openai } = yield* setup([{ text: "Paris", usage }])
      const { data, response } = yield* promise(() =>
        openai.chat.completions.create({ model: "gpt-4o", messages }).withResponse()
      )
      expect(data.choices[0]!.message.content).toBe("Paris")
      expect(data.usage?.total_tokens).toBe(11)
      expect(response.headers.get("x-liter-model")).toBe("gpt-4o")
      expect(response.headers.get("x-request-id")).toMatch(/^req_/)
    }))

  it.scopedLive("an answer whose upstream names no id gets the stream's form of one, and empty arguments are `{}`", () =>
    Effect.gen(function*() {
      const { openai } = yield* setup([{
        id: "",
        provider: "openai",
        model: "gpt-4o-2024-08-06",
        content: [{ type: "tool-call", id: "call_1", name: "now", arguments: {}, rawArguments: "" }],
        finishReason: "tool-calls",
        usage
      }])
      const { data, response } = yield* promise(() =>
        openai.chat.completions.create({ model: "gpt-4o", messages }).withResponse()
      )
      expect(data.id).toBe(`chatcmpl-${response.headers.get("x-request-id")}`)
      const call = data.choices[0]!.message.tool_calls![0]!
      expect(call.type === "function" && call.function.arguments).toBe("{}")
    }))

  it.scopedLive("streams with usage, through the SDK's own parser", () =>
    Effect.gen(function*() {
      const { openai } = yield* setup([{ text: "Paris, France", chunks: ["Paris", ", ", "France"], usage }])
      const stream = yield* promise(() =>
        openai.chat.completions.create({
          model: "gpt-4o",
          messages,
          stream: true,
          stream_options: { include_usage: true }
        })
      )
      let text = ""
      let total: number | undefined
      yield* promise(async () => {
        for await (const chunk of stream) {
          text += chunk.choices[0]?.delta.content ?? ""
          if (chunk.usage) total = chunk.usage.total_tokens
        }
      })
      expect(text).toBe("Paris, France")
      expect(total).toBe(11)
    }))

  it.scopedLive("passes tools and response_format through and answers tool calls", () =>
    Effect.gen(function*() {
      const { model, openai } = yield* setup([{
        id: "r1",
        provider: "openai",
        model: "gpt-4o-2024-08-06",
        content: [{
          type: "tool-call",
          id: "call_1",
          name: "weather",
          arguments: { city: "Paris" },
          rawArguments: "{\"city\":\"Paris\"}"
        }],
        finishReason: "tool-calls"
      }, { text: "{\"city\":\"Paris\"}" }])
      const tools = yield* promise(() =>
        openai.chat.completions.create({
          model: "gpt-4o",
          messages,
          tools: [{
            type: "function",
            function: { name: "weather", parameters: { type: "object", properties: { city: { type: "string" } } } }
          }],
          tool_choice: "required"
        })
      )
      expect(tools.choices[0]!.finish_reason).toBe("tool_calls")
      expect(tools.choices[0]!.message.tool_calls?.[0]).toMatchObject({
        id: "call_1",
        function: { name: "weather", arguments: "{\"city\":\"Paris\"}" }
      })
      const structured = yield* promise(() =>
        openai.chat.completions.create({
          model: "gpt-4o",
          messages,
          response_format: {
            type: "json_schema",
            json_schema: { name: "city", schema: { type: "object", properties: { city: { type: "string" } } } }
          }
        })
      )
      expect(JSON.parse(structured.choices[0]!.message.content!)).toEqual({ city: "Paris" })
      const [first, second] = yield* model.requests
      expect(first!.tools?.[0]?.name).toBe("weather")
      expect(first!.toolChoice).toBe("required")
      expect(second!.responseFormat).toMatchObject({ type: "json-schema", name: "city" })
    }))

  it.scopedLive("raises the documented error class for each status", () =>
    Effect.gen(function*() {
      const { openai } = yield* setup(
        [
          new LlmError.RateLimitExceeded({
            provider: "liter-llm",
            tenant: "acme",
            kind: "tokens",
            limit: "1000 per 1 minute",
            retryAfter: Duration.seconds(90),
            message: "acme: token limit reached"
          }),
          new LlmError.Overloaded({ provider: "openai", message: "openai: overloaded" }),
          new LlmError.ServerError({ provider: "openai", status: 500, message: "openai: 500" }),
          new LlmError.Timeout({ provider: "openai", phase: "first-token", message: "openai: no first token" })
        ],
        {},
        5_000
      )
      const badRequest = yield* rejection(() =>
        openai.chat.completions.create({ model: "gpt-4o", messages, temperature: "hot" as never })
      )
      expect(badRequest).toBeInstanceOf(OpenAI.BadRequestError)
      expect((badRequest as { param?: string }).param).toBe("temperature")
      const notFound = yield* rejection(() => openai.chat.completions.create({ model: "gpt-9", messages }))
      expect(notFound).toBeInstanceOf(OpenAI.NotFoundError)
      const tooLarge = yield* rejection(() =>
        openai.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "x".repeat(10_000) }] })
      )
      expect(tooLarge).toBeInstanceOf(OpenAI.APIError)
      expect((tooLarge as { status?: number }).status).toBe(413)
      const limited = yield* rejection(() => openai.chat.completions.create({ model: "gpt-4o", messages }))
      expect(limited).toBeInstanceOf(OpenAI.RateLimitError)
      expect((limited as { headers?: Headers }).headers?.get("retry-after")).toBe("90")
      for (const status of [503, 502, 504]) {
        const failed = yield* rejection(() => openai.chat.completions.create({ model: "gpt-4o", messages }))
        expect(failed).toBeInstanceOf(OpenAI.InternalServerError)
        expect((failed as { status?: number }).status).toBe(status)
      }
      const { openai: unknownKey } = yield* setup([], { key: "lk-unknown" })
      const unauthorized = yield* rejection(() => unknownKey.chat.completions.create({ model: "gpt-4o", messages }))
      expect(unauthorized).toBeInstanceOf(OpenAI.AuthenticationError)
    }))

  it.scopedLive("the SDK's own retries wait the gateway's retry-after-ms, then succeed", () =>
    Effect.gen(function*() {
      const { model, openai } = yield* setup([
        new LlmError.RateLimitExceeded({
          provider: "liter-llm",
          tenant: "acme",
          kind: "requests",
          limit: "1 per 1 second",
          retryAfter: Duration.millis(300),
          message: "acme: request limit reached"
        }),
        { text: "Paris" }
      ], { maxRetries: 1 })
      const start = performance.now()
      const answer = yield* promise(() => openai.chat.completions.create({ model: "gpt-4o", messages }))
      expect(answer.choices[0]!.message.content).toBe("Paris")
      expect(performance.now() - start).toBeGreaterThanOrEqual(300)
      expect(yield* model.requests).toHaveLength(2)
    }))

  it.scopedLive("an upstream's 400 naming a field is a BadRequestError with that param", () =>
    Effect.gen(function*() {
      const body = JSON.stringify({
        error: {
          message: "Invalid 'tools[0].function.name'",
          type: "invalid_request_error",
          param: "tools[0].function.name",
          code: "invalid_value"
        }
      })
      const { openai } = yield* setup([
        new LlmError.InvalidRequest({
          provider: "openai",
          status: 400,
          body,
          message: "openai: Invalid 'tools[0].function.name'"
        })
      ])
      const error = yield* rejection(() => openai.chat.completions.create({ model: "gpt-4o", messages }))
      expect(error).toBeInstanceOf(OpenAI.BadRequestError)
      expect((error as { param?: string }).param).toBe("tools[0].function.name")
    }))

  it.scopedLive("a stream that fails before its first part is an HTTP status the SDK raises by class", () =>
    Effect.gen(function*() {
      const { openai } = yield* setup([
        (request) =>
          Effect.fail(new LlmError.InvalidRequest({ provider: "openai", message: `unused ${request.model}` }))
      ])
      const error = yield* rejection(() => openai.chat.completions.create({ model: "gpt-4o", messages, stream: true }))
      expect(error).toBeInstanceOf(OpenAI.BadRequestError)
    }))
})
