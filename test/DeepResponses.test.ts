/**
 * Responses no provider should send, each a typed `MalformedResponse`, never a defect or a false success: a
 * body nested thousands of levels deep (JSON any provider, or any model's text, may hold; describing the wrong
 * value used to overflow the stack), a redirect the client did not follow, and a usage no count can be.
 */
import { describe, expect, it } from "@effect/vitest"
import type { Layer } from "effect"
import { Effect, Exit, Redacted, Schema, Stream } from "effect"
import * as LanguageModel from "../src/LanguageModel.js"
import * as Anthropic from "../src/providers/Anthropic.js"
import * as Cohere from "../src/providers/Cohere.js"
import * as Gemini from "../src/providers/Gemini.js"
import * as AnthropicMock from "../src/testing/AnthropicMock.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { failure, openAiLayer, overUndici, secretKey } from "./support/loopback.js"

const deep = (levels: number) => "[".repeat(levels) + "]".repeat(levels)
const ask = { messages: [{ role: "user" as const, content: "Hi" }] }
const apiKey = Redacted.make(secretKey)

const layers: ReadonlyArray<
  readonly [string, (server: MockProvider.MockProvider) => Layer.Layer<LanguageModel.LanguageModel>]
> = [
  ["OpenAi", (server) => openAiLayer(server, { retry: false })],
  ["Anthropic", (server) => overUndici(Anthropic.layer({ apiKey, baseUrl: server.url, model: "m", retry: false }))],
  ["Gemini", (server) => overUndici(Gemini.layer({ apiKey, baseUrl: server.url, model: "m", retry: false }))]
]

describe("responses nested thousands deep", () => {
  for (const [name, layerOf] of layers) {
    it.scoped(`${name}: a body nested 10 000 deep is MalformedResponse`, () =>
      Effect.gen(function*() {
        const server = yield* MockProvider.make({ script: [MockProvider.text(deep(10_000))] })
        const exit = yield* Effect.exit(LanguageModel.generate(ask).pipe(Effect.provide(layerOf(server))))
        expect(failure(exit)._tag).toBe("MalformedResponse")
      }))
  }

  it.scoped("generateObject: model text nested 10 000 deep is MalformedResponse", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [OpenAiMock.completion({ text: deep(10_000) })] })
      const exit = yield* Effect.exit(
        LanguageModel.generateObject({ ...ask, schema: Schema.Struct({ a: Schema.String }) }).pipe(
          Effect.provide(openAiLayer(server, { retry: false }))
        )
      )
      expect(Exit.isFailure(exit)).toBe(true)
      expect(failure(exit)._tag).toBe("MalformedResponse")
    }))
})

describe("the key in a 200 body that does not decode", () => {
  // Every 6-character run of the key: none may survive in a message (a cut key escapes the scrubbing).
  const fragments = Array.from({ length: secretKey.length - 5 }, (_, i) => secretKey.slice(i, i + 6))
  const keyLayers = [
    ...layers,
    [
      "Cohere",
      (server: MockProvider.MockProvider) =>
        overUndici(Cohere.layer({ apiKey, baseUrl: server.url, model: "m", retry: false }))
    ] as const
  ]
  for (const [name, layerOf] of keyLayers) {
    it.scoped(`${name}: the message keeps the parser's reason, no part of the key`, () =>
      Effect.gen(function*() {
        // V8 quotes the first 10 characters of such a body in its parse error.
        const bodies = [secretKey, `${secretKey} and more`, `{"id": ${secretKey}}`]
        const server = yield* MockProvider.make({
          script: bodies.map((body) => MockProvider.text(body, { contentType: "application/json" }))
        })
        for (const _ of bodies) {
          const error = failure(yield* Effect.exit(LanguageModel.generate(ask).pipe(Effect.provide(layerOf(server)))))
          expect(error._tag).toBe("MalformedResponse")
          expect(error.message).toMatch(/invalid JSON \(Unexpected token '[s{]'|invalid JSON \(Unexpected/)
          expect(error.body).toContain("<redacted>")
          for (const fragment of fragments) expect(error.message).not.toContain(fragment)
        }
      }))
  }

  it.scoped("OpenAi stream: an event that is the key is MalformedResponse with no part of it in the message", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [MockProvider.stream([`data: ${secretKey}\n\n`], { contentType: "text/event-stream" })]
      })
      const exit = yield* Effect.exit(
        Stream.runDrain(LanguageModel.stream(ask)).pipe(Effect.provide(openAiLayer(server, { retry: false })))
      )
      const error = failure(exit)
      expect(error._tag).toBe("MalformedResponse")
      expect(error.message).toContain("stream event is not JSON (Unexpected token 's'")
      for (const fragment of fragments) expect(error.message).not.toContain(fragment)
    }))

  it.scoped("OpenAi, Anthropic: a wrong value shown cut short is scrubbed first", () =>
    Effect.gen(function*() {
      // The key straddles the 100-character cut of a shown value.
      const straddling = "x".repeat(90) + secretKey
      const server = yield* MockProvider.make({
        script: [
          MockProvider.json({ ...OpenAiMock.completionBody({ text: "ok" }), choices: straddling }),
          MockProvider.json({ ...AnthropicMock.messageBody({ text: "ok" }), content: straddling })
        ]
      })
      const anthropic = overUndici(Anthropic.layer({ apiKey, baseUrl: server.url, model: "m", retry: false }))
      for (const layer of [openAiLayer(server, { retry: false }), anthropic]) {
        const error = failure(yield* Effect.exit(LanguageModel.generate(ask).pipe(Effect.provide(layer))))
        expect(error._tag).toBe("MalformedResponse")
        expect(error.message).toContain(`actual "${"x".repeat(90)}<redac`)
        for (const fragment of fragments) expect(error.message).not.toContain(fragment)
      }
    }))
})

describe("a response that is no 2xx", () => {
  it.scoped("a 302 (a redirect the client did not follow) is MalformedResponse with its status, even with a valid body", () =>
    Effect.gen(function*() {
      const valid = OpenAiMock.completionBody({ text: "ok" })
      const server = yield* MockProvider.make({
        script: [MockProvider.json(valid, { status: 302 }), OpenAiMock.error(302, "moved")]
      })
      for (let i = 0; i < 2; i++) {
        const error = failure(
          yield* Effect.exit(LanguageModel.generate(ask).pipe(Effect.provide(openAiLayer(server, { retry: false }))))
        )
        expect(error).toMatchObject({ _tag: "MalformedResponse", status: 302 })
        expect(error.message).toContain("302")
      }
    }))
})

describe("an error object in a 200 body", () => {
  it.scoped("keeps the response's status, 200, where the object names none", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [
          MockProvider.json({ error: { message: "boom", type: "server_error" } }),
          MockProvider.json({ error: "oops" })
        ]
      })
      for (const message of ["boom", "oops"]) {
        const error = failure(
          yield* Effect.exit(LanguageModel.generate(ask).pipe(Effect.provide(openAiLayer(server, { retry: false }))))
        )
        expect(error).toMatchObject({ _tag: "ServerError", status: 200 })
        expect(error.message).toContain(message)
      }
    }))
})

describe("a usage no count can be", () => {
  it.scoped("a negative, fractional or non-finite count in a response is MalformedResponse naming it (OpenAI, Anthropic)", () =>
    Effect.gen(function*() {
      const openAi = OpenAiMock.completionBody({ text: "ok" })
      const server = yield* MockProvider.make({
        script: [
          MockProvider.json({ ...openAi, usage: { prompt_tokens: -5, completion_tokens: 2, total_tokens: -3 } }),
          // 1e999 parses as Infinity (JSON.stringify would write it as null).
          MockProvider.text(
            JSON.stringify({ ...openAi, usage: { prompt_tokens: 5, completion_tokens: 0 } }).replace(
              "\"completion_tokens\":0",
              "\"completion_tokens\":1e999"
            ),
            { headers: { "content-type": "application/json" } }
          ),
          MockProvider.json({
            ...AnthropicMock.messageBody({ text: "ok" }),
            usage: { input_tokens: 3, output_tokens: -1 }
          }),
          // A fraction, and a count beyond exact integers: no count either (1e300 tokens would price as 1e293 USD).
          MockProvider.json({ ...openAi, usage: { prompt_tokens: 1.5, completion_tokens: 2 } }),
          MockProvider.json({ ...openAi, usage: { prompt_tokens: 1e300, completion_tokens: 2 } })
        ]
      })
      const call = (layer: Layer.Layer<LanguageModel.LanguageModel>) =>
        Effect.exit(LanguageModel.generate(ask).pipe(Effect.provide(layer)))
      const openAiLayerOf = openAiLayer(server, { retry: false })
      const anthropic = overUndici(Anthropic.layer({ apiKey, baseUrl: server.url, model: "m", retry: false }))
      const errors = [
        failure(yield* call(openAiLayerOf)),
        failure(yield* call(openAiLayerOf)),
        failure(yield* call(anthropic)),
        failure(yield* call(openAiLayerOf)),
        failure(yield* call(openAiLayerOf))
      ]
      expect(errors.map((error) => [error._tag, error.status])).toEqual(
        Array.from({ length: 5 }, () => ["MalformedResponse", 200])
      )
      expect(errors[0]!.message).toContain("usage.inputTokens is -5, not a token count")
      expect(errors[1]!.message).toContain("usage.outputTokens is Infinity")
      expect(errors[2]!.message).toContain("usage.outputTokens is -1")
      expect(errors[3]!.message).toContain("usage.inputTokens is 1.5, not a token count")
      expect(errors[4]!.message).toContain("usage.inputTokens is 1e+300, not a token count")
      expect(errors[0]!.body).toContain("-5")
    }))

  it.scoped("Gemini and Cohere: an infinite or non-numeric count is MalformedResponse too, never read as 0", () =>
    Effect.gen(function*() {
      const gemini = (usage: string) =>
        `{"candidates":[{"content":{"role":"model","parts":[{"text":"hello"}]},"finishReason":"STOP"}],` +
        `"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":${usage}},"modelVersion":"gemini-2.0-flash"}`
      const cohere = (usage: string) =>
        `{"id":"c1","finish_reason":"COMPLETE","message":{"role":"assistant","content":[{"type":"text","text":"hello"}]},` +
        `"usage":{"tokens":{"input_tokens":10,"output_tokens":${usage}}}}`
      const json = { headers: { "content-type": "application/json" } }
      const server = yield* MockProvider.make({
        script: [
          MockProvider.text(gemini("1e400"), json),
          MockProvider.text(gemini("\"5\""), json),
          MockProvider.text(cohere("1e400"), json),
          MockProvider.text(cohere("\"5\""), json)
        ]
      })
      const geminiLayer = overUndici(Gemini.layer({ apiKey, baseUrl: server.url, model: "m", retry: false }))
      const cohereLayer = overUndici(Cohere.layer({ apiKey, baseUrl: server.url, model: "m", retry: false }))
      const messages: Array<string> = []
      for (const layer of [geminiLayer, geminiLayer, cohereLayer, cohereLayer]) {
        const error = failure(yield* Effect.exit(LanguageModel.generate(ask).pipe(Effect.provide(layer))))
        expect(error._tag).toBe("MalformedResponse")
        messages.push(error.message)
      }
      expect(messages[0]).toContain("usage.outputTokens is Infinity")
      expect(messages[1]).toContain("usage.outputTokens is NaN")
      expect(messages[2]).toContain("usage.outputTokens is Infinity")
      expect(messages[3]).toContain("usage.outputTokens is NaN")
    }))

  it.scoped("OpenAI stream: a usage chunk whose count is a string ends the stream, not dropped uncounted", () =>
    Effect.gen(function*() {
      const events = OpenAiMock.streamEvents({ deltas: ["Hel", "lo"], usage: null })
      const usage = {
        ...events[0],
        choices: [],
        usage: { prompt_tokens: 10, completion_tokens: "5", total_tokens: 15 }
      }
      const server = yield* MockProvider.make({ script: [MockProvider.sse([...events, usage])] })
      const exit = yield* Effect.exit(
        Stream.runDrain(LanguageModel.stream(ask)).pipe(Effect.provide(openAiLayer(server, { retry: false })))
      )
      expect(failure(exit)).toMatchObject({ _tag: "StreamInterrupted", causeTag: "MalformedResponse" })
    }))

  it.scoped("in a stream, it ends the stream after the content before it: StreamInterrupted caused by it", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [OpenAiMock.stream({ deltas: ["Hel", "lo"], usage: { inputTokens: 4, outputTokens: -2 } })]
      })
      const received: Array<string> = []
      const exit = yield* Effect.exit(
        LanguageModel.stream(ask).pipe(
          Stream.runForEach((part) => Effect.sync(() => part.type === "text-delta" && received.push(part.text))),
          Effect.provide(openAiLayer(server, { retry: false }))
        )
      )
      const error = failure(exit)
      expect(error).toMatchObject({ _tag: "StreamInterrupted", causeTag: "MalformedResponse" })
      expect(error.message).toContain("usage.outputTokens is -2")
      expect(received.join("")).toBe("Hello")
    }))
})
