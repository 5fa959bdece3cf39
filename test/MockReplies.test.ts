/**
 * The provider reply builders of the testing kit, played by a real `MockProvider` to the provider layers over
 * HTTP: what a test scripts (model, usage) is what the call reports, and a call past the end of the script fails
 * at once.
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import { describe, expect, it } from "@effect/vitest"
import type { Layer } from "effect"
import { Effect, Exit, Redacted } from "effect"
import type * as ChatResponse from "../src/ChatResponse.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as Anthropic from "../src/providers/Anthropic.js"
import * as Cohere from "../src/providers/Cohere.js"
import * as Gemini from "../src/providers/Gemini.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as Retry from "../src/Retry.js"
import * as StreamPart from "../src/StreamPart.js"
import * as AnthropicMock from "../src/testing/AnthropicMock.js"
import * as CohereMock from "../src/testing/CohereMock.js"
import * as GeminiMock from "../src/testing/GeminiMock.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { failure, overUndici, secretKey } from "./support/loopback.js"

type Usage = Omit<ChatResponse.Usage, "totalTokens">

interface ProviderCase {
  readonly name: string
  /** A layer that retries at once (no backoff), so a retried reply shows up as extra requests. */
  readonly layer: (
    server: MockProvider.MockProvider
  ) => Layer.Layer<LanguageModel.LanguageModel, unknown, HttpClient.HttpClient>
  readonly reply: (options: { readonly usage?: Usage; readonly model?: string }) => MockProvider.Reply
  readonly stream: (options: { readonly usage?: Usage; readonly model?: string }) => MockProvider.Reply
  /** Every usage field the provider's wire format can carry. */
  readonly usage: Usage
  /** Whether the wire carries a model at all (Cohere's does not: the call reports the one it asked for). */
  readonly echoesModel: boolean
}

const keyed = { apiKey: Redacted.make(secretKey), retry: Retry.policy({ base: 0, cap: 0 }) }

const cases: ReadonlyArray<ProviderCase> = [
  {
    name: "OpenAI",
    layer: (server) => OpenAi.layer({ ...keyed, baseUrl: `${server.url}/v1`, model: "gpt-4o-mini" }),
    reply: (options) => OpenAiMock.completion(options),
    stream: (options) => OpenAiMock.stream(options),
    usage: { inputTokens: 40, outputTokens: 12, cachedInputTokens: 16, reasoningTokens: 8 },
    echoesModel: true
  },
  {
    name: "Azure (deployment path)",
    layer: (server) => OpenAi.layerAzure({ ...keyed, endpoint: server.url, deployment: "gpt-4o-mini" }),
    reply: (options) => OpenAiMock.completion(options),
    stream: (options) => OpenAiMock.stream(options),
    usage: { inputTokens: 40, outputTokens: 12, cachedInputTokens: 16 },
    echoesModel: true
  },
  {
    name: "Anthropic",
    layer: (server) => Anthropic.layer({ ...keyed, baseUrl: server.url, model: "claude-sonnet-4-5" }),
    reply: (options) => AnthropicMock.message(options),
    stream: (options) => AnthropicMock.stream(options),
    usage: { inputTokens: 150, outputTokens: 12, cachedInputTokens: 100, cacheWriteTokens: 20, reasoningTokens: 5 },
    echoesModel: true
  },
  {
    name: "Cohere",
    layer: (server) => Cohere.layer({ ...keyed, baseUrl: server.url, model: "command-a-03-2025" }),
    reply: (options) => CohereMock.chat(options),
    stream: (options) => CohereMock.stream(options),
    usage: { inputTokens: 40, outputTokens: 12, cachedInputTokens: 16 },
    echoesModel: false
  },
  {
    name: "Gemini",
    layer: (server) => Gemini.layer({ ...keyed, baseUrl: server.url, model: "gemini-2.5-flash" }),
    reply: (options) => GeminiMock.response(options),
    stream: (options) => GeminiMock.stream(options),
    usage: { inputTokens: 40, outputTokens: 32, cachedInputTokens: 16, reasoningTokens: 20 },
    echoesModel: true
  }
]

const question = { messages: [{ role: "user" as const, content: "Capital of France?" }] }

/** The response of one `generate` and of one collected `stream` (the mock gets the replies in that order). */
const generateAndStream = (
  testCase: ProviderCase,
  script: ReadonlyArray<MockProvider.Reply>,
  request: Parameters<typeof LanguageModel.generate>[0] = question
) =>
  Effect.gen(function*() {
    const server = yield* MockProvider.make({ script })
    const layer = overUndici(testCase.layer(server))
    const whole = yield* LanguageModel.generate(request).pipe(Effect.provide(layer))
    const streamed = yield* StreamPart.collect(LanguageModel.stream(request)).pipe(Effect.provide(layer))
    return { whole, streamed }
  })

describe.each(cases)("$name replies", (testCase) => {
  it.scopedLive("answer with the requested model", () =>
    Effect.gen(function*() {
      const { streamed, whole } = yield* generateAndStream(
        testCase,
        [testCase.reply({}), testCase.stream({})],
        { ...question, model: "model-the-test-asked-for" }
      )
      // Azure's deployment path names the model; the request's model then goes in the body.
      expect(whole.model).toBe("model-the-test-asked-for")
      expect(streamed.model).toBe("model-the-test-asked-for")
    }))

  // Cohere's wire carries no model: there is no scripted model to report.
  if (testCase.echoesModel) {
    it.scopedLive("answer with the scripted model when the script names one", () =>
      Effect.gen(function*() {
        const { streamed, whole } = yield* generateAndStream(testCase, [
          testCase.reply({ model: "scripted-model-2025" }),
          testCase.stream({ model: "scripted-model-2025" })
        ])
        expect(whole.model).toBe("scripted-model-2025")
        expect(streamed.model).toBe("scripted-model-2025")
      }))
  }

  it.scopedLive("report the scripted usage under the same names", () =>
    Effect.gen(function*() {
      const { streamed, whole } = yield* generateAndStream(testCase, [
        testCase.reply({ usage: testCase.usage }),
        testCase.stream({ usage: testCase.usage })
      ])
      const expected = {
        ...testCase.usage,
        totalTokens: testCase.usage.inputTokens + testCase.usage.outputTokens
      }
      expect(whole.usage).toEqual(expected)
      expect(streamed.usage).toEqual(expected)
    }))

  it.scopedLive("fail at once, not retried, once the script is exhausted", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [testCase.reply({})] })
      const layer = overUndici(testCase.layer(server))
      yield* LanguageModel.generate(question).pipe(Effect.provide(layer))

      const generated = yield* Effect.exit(LanguageModel.generate(question).pipe(Effect.provide(layer)))
      const streamed = yield* Effect.exit(
        StreamPart.collect(LanguageModel.stream(question)).pipe(Effect.provide(layer))
      )
      for (const [exit, received] of [[generated, 2], [streamed, 3]] as const) {
        expect(Exit.isFailure(exit)).toBe(true)
        const error = failure(exit)
        expect(error._tag).toBe("InvalidRequest")
        expect(error.message).toContain(`MockProvider: script exhausted: request ${received} has no scripted reply`)
      }
      // One request per call: the exhausted script's answer was not retried.
      const requests = yield* server.requests
      expect(requests).toHaveLength(3)
    }))
})
