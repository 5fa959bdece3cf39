/**
 * The Vercel AI SDK's OpenAI-compatible provider against a gateway loaded from a YAML config, in front of mock
 * providers: text, streams, a tool call, and errors surfacing as the SDK's `APICallError` with the status.
 */
import { createOpenAICompatible } from "@ai-sdk/openai-compatible"
import { describe, expect, it } from "@effect/vitest"
import { APICallError, generateText, jsonSchema, streamText, tool } from "ai"
import { Effect } from "effect"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { fromYaml, yamlConfig } from "./clients/gateway.js"
import { acme, globex } from "./support/gatewayConfig.js"

const setup = (scripts: { readonly a?: Array<MockProvider.Reply>; readonly b?: Array<MockProvider.Reply> }) =>
  Effect.gen(function*() {
    const a = yield* MockProvider.make({ script: scripts.a ?? [] })
    const b = yield* MockProvider.make({ script: scripts.b ?? [] })
    const base = yield* fromYaml(yamlConfig(a, b))
    const provider = (key: string) =>
      createOpenAICompatible({ name: "liter", baseURL: `${base}/v1`, apiKey: key, includeUsage: true })
    return { a, b, provider }
  })

const promise = <A>(f: () => PromiseLike<A>) => Effect.promise(async () => await f())

describe("Gateway clients: the Vercel AI SDK", () => {
  it.scopedLive("generateText through a fallback: the first provider fails, the second answers", () =>
    Effect.gen(function*() {
      const { a, b, provider } = yield* setup({
        a: [OpenAiMock.error(503, "overloaded")],
        b: [OpenAiMock.completion({ text: "Paris.", usage: { inputTokens: 7, outputTokens: 2 } })]
      })
      const result = yield* promise(() =>
        generateText({ model: provider(acme.key)("smart"), prompt: "Capital of France?", maxRetries: 0 })
      )
      expect(result.text).toBe("Paris.")
      expect(result.usage.inputTokens).toBe(7)
      expect(result.usage.outputTokens).toBe(2)
      expect(result.response.headers?.["x-liter-provider"]).toBe("b")
      expect(result.response.headers?.["x-liter-attempts"]).toBe("2")
      expect(result.response.headers?.["x-request-id"]).toMatch(/^req_[0-9a-f]{32}$/)
      expect((yield* a.requests).length).toBe(1)
      expect(OpenAiMock.requestedModel((yield* b.requests)[0]!)).toBe("model-b")
    }))

  it.scopedLive("streamText: the deltas in order, the usage of the final chunk, the gateway's headers", () =>
    Effect.gen(function*() {
      const { provider } = yield* setup({
        b: [OpenAiMock.stream({ deltas: ["Par", "is", ", ", "France"], usage: { inputTokens: 7, outputTokens: 4 } })]
      })
      const result = streamText({
        model: provider(globex.key)("small"),
        prompt: "Capital of France?",
        maxRetries: 0,
        onError: () => {}
      })
      const deltas: Array<string> = []
      yield* promise(async () => {
        for await (const delta of result.textStream) deltas.push(delta)
      })
      expect(deltas.join("")).toBe("Paris, France")
      expect(deltas.length).toBeGreaterThan(1)
      const usage = yield* promise(() => result.usage)
      expect(usage.outputTokens).toBe(4)
      const response = yield* promise(() => result.response)
      expect(response.headers?.["x-liter-provider"]).toBe("b")
      expect(response.headers?.["content-type"]).toMatch(/^text\/event-stream/)
    }))

  it.scopedLive("a tool call: the tool reaches the provider, its call comes back with parsed input", () =>
    Effect.gen(function*() {
      const { b, provider } = yield* setup({
        b: [OpenAiMock.completion({ toolCalls: [{ id: "call_1", name: "weather", arguments: { city: "Paris" } }] })]
      })
      const result = yield* promise(() =>
        generateText({
          model: provider(acme.key)("small"),
          prompt: "Weather in Paris?",
          maxRetries: 0,
          tools: {
            weather: tool({
              description: "The weather in a city",
              inputSchema: jsonSchema<{ city: string }>({
                type: "object",
                properties: { city: { type: "string" } },
                required: ["city"]
              })
            })
          },
          toolChoice: "required"
        })
      )
      expect(result.finishReason).toBe("tool-calls")
      expect(result.toolCalls).toMatchObject([{ toolCallId: "call_1", toolName: "weather", input: { city: "Paris" } }])
      const sent = (yield* b.requests)[0]!.body as {
        tools: Array<{ function: { name: string } }>
        tool_choice: unknown
      }
      expect(sent.tools[0]!.function.name).toBe("weather")
      expect(sent.tool_choice).toBe("required")
    }))

  it.scopedLive("errors are APICallErrors with the gateway's status: a route the key may not use, an upstream outage", () =>
    Effect.gen(function*() {
      const { b, provider } = yield* setup({ b: [OpenAiMock.error(503, "overloaded")] })
      const rejection = (key: string, model: string) =>
        promise(() =>
          generateText({ model: provider(key)(model), prompt: "hi", maxRetries: 0 }).then(
            () => expect.fail("expected an error"),
            (error: unknown) => error
          )
        )
      const forbidden = yield* rejection(globex.key, "smart")
      expect(APICallError.isInstance(forbidden)).toBe(true)
      expect((forbidden as APICallError).statusCode).toBe(404)
      expect((forbidden as APICallError).isRetryable).toBe(false)
      expect((forbidden as APICallError).responseBody).toContain("model_not_found")
      const unauthorized = yield* rejection("sk-liter-not-a-key-0123456789", "small")
      expect((unauthorized as APICallError).statusCode).toBe(401)
      const overloaded = yield* rejection(globex.key, "small")
      expect((overloaded as APICallError).statusCode).toBe(503)
      expect((overloaded as APICallError).isRetryable).toBe(true)
      expect((overloaded as APICallError).responseHeaders?.["x-request-id"]).toMatch(/^req_/)
      // only the upstream call reached a provider
      expect((yield* b.requests).length).toBe(1)
    }))
})
