import type * as HttpClient from "@effect/platform/HttpClient"
import { describe, expect, it } from "@effect/vitest"
import type { Layer } from "effect"
import { Effect, Exit, Logger, LogLevel, Option, Redacted, Tracer } from "effect"
import * as Errors from "../src/internal/errors.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
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
import { failure, openAiLayer, overUndici, secretKey } from "./support/loopback.js"

/** A tracer that keeps every attribute of every span, to search them for the key. */
const recordingTracer = (attributes: Array<string>) =>
  Tracer.make({
    context: (f) => f(),
    span: (name, parent, context, links, startTime, kind) => {
      const map = new Map<string, unknown>()
      const span: Tracer.Span = {
        _tag: "Span",
        name,
        spanId: String(Math.random()),
        traceId: "trace",
        parent,
        context,
        status: { _tag: "Started", startTime },
        attributes: map,
        links: [...links],
        sampled: true,
        kind,
        end: () => {},
        attribute: (key, value) => {
          map.set(key, value)
          attributes.push(`${name} ${key}=${JSON.stringify(value)}`)
        },
        event: (event, _time, eventAttributes) => attributes.push(`${event} ${JSON.stringify(eventAttributes ?? {})}`),
        addLinks: () => {}
      }
      return span
    }
  })

// Retries without waiting, so the live runtime (real spans and logs) never sleeps.
const OpenAiRetryFast = Retry.policy({ base: 0, cap: 0 })

const hi = { messages: [{ role: "user" as const, content: "hi" }] }
const ask = LanguageModel.generate(hi)

const echoKey = `Incorrect API key provided: ${secretKey}. You can find your API key at https://example.invalid.`

const scripts: ReadonlyArray<readonly [string, ReadonlyArray<MockProvider.Reply>]> = [
  ["a 401 that echoes the key", [OpenAiMock.error(401, "invalid_api_key", { message: echoKey })]],
  ["a 500 body that echoes the key, retried", [
    MockProvider.text(`{"error":{"message":"${echoKey}"}}`, { status: 500 }),
    MockProvider.text(`{"error":{"message":"${echoKey}"}}`, { status: 500 }),
    MockProvider.text(`{"error":{"message":"${echoKey}"}}`, { status: 500 })
  ]],
  ["a malformed body that echoes the key", [MockProvider.text(`not json ${secretKey}`)]],
  ["a dropped connection", [MockProvider.disconnect, MockProvider.disconnect, MockProvider.disconnect]]
]

describe("secrets never leak", () => {
  for (const [name, script] of scripts) {
    for (const flavour of ["openai", "azure"] as const) {
      it.live(`${flavour}: ${name}`, () =>
        Effect.gen(function*() {
          const logs: Array<string> = []
          const spans: Array<string> = []
          const server = yield* MockProvider.make({ script })
          const layer = flavour === "openai"
            ? openAiLayer(server, { retry: OpenAiRetryFast })
            : overUndici(OpenAi.layerAzure({
              endpoint: server.url,
              deployment: "d",
              apiKey: Redacted.make(secretKey),
              retry: OpenAiRetryFast
            }))
          const exit = yield* ask.pipe(
            Effect.provide(layer),
            Effect.withSpan("test"),
            Effect.withTracer(recordingTracer(spans)),
            Effect.provide(
              Logger.replace(Logger.defaultLogger, Logger.make((entry) => logs.push(Logger.stringLogger.log(entry))))
            ),
            Logger.withMinimumLogLevel(LogLevel.All),
            Effect.exit
          )
          expect(Exit.isFailure(exit)).toBe(true)
          const error = Exit.isFailure(exit) ? Option.getOrThrow(Exit.causeOption(exit)) : undefined
          const texts = [String(error), JSON.stringify(error), ...logs, ...spans]
          const failure = error?._tag === "Fail" ? error.error : undefined
          texts.push(failure?.message ?? "", failure?.body ?? "", String(failure))
          expect(logs.length + spans.length).toBeGreaterThan(0)
          for (const text of texts) expect(text).not.toContain(secretKey)
          // The provider's echo is kept, with the key scrubbed out of it.
          if (name.includes("echoes")) expect(texts.join("\n")).toContain("<redacted>")
          // The key did reach the provider, in the header it belongs in.
          const [request] = yield* server.requests
          expect(Object.values(request?.headers ?? {}).some((value) => value.includes(secretKey))).toBe(true)
        }).pipe(Effect.scoped))
    }
  }

  it("Redacted keys print as <redacted>", () => {
    const key = Redacted.make(secretKey)
    expect(String(key)).not.toContain(secretKey)
    expect(JSON.stringify({ key })).not.toContain(secretKey)
  })
})

/**
 * A text whose key starts `before` characters short of `limit`, so a cut at `limit` falls inside the key: were the
 * text truncated before it was scrubbed, the first `before` characters of the key would survive the scrubbing.
 */
const straddling = (limit: number, before = Math.floor(secretKey.length / 2)) =>
  `${"x".repeat(limit - before)}${secretKey}${"y".repeat(64)}`

const keyFragment = secretKey.slice(0, Math.floor(secretKey.length / 2))

const noRetry = Retry.policy({ times: 0 })
const keyed = { apiKey: Redacted.make(secretKey), retry: noRetry }

const providers = [
  {
    name: "openai",
    layer: (server: MockProvider.MockProvider) =>
      OpenAi.layer({ ...keyed, baseUrl: `${server.url}/v1`, model: "gpt-4o-mini" }),
    error: (message: string) => OpenAiMock.error(400, null, { message })
  },
  {
    name: "anthropic",
    layer: (server: MockProvider.MockProvider) =>
      Anthropic.layer({ ...keyed, baseUrl: server.url, model: "claude-sonnet-4-5" }),
    error: (message: string) => AnthropicMock.error(400, "invalid_request_error", { message })
  },
  {
    name: "cohere",
    layer: (server: MockProvider.MockProvider) => Cohere.layer({ ...keyed, baseUrl: server.url, model: "command-a" }),
    error: (message: string) => CohereMock.error(400, message)
  },
  {
    name: "gemini",
    layer: (server: MockProvider.MockProvider) =>
      Gemini.layer({ ...keyed, baseUrl: server.url, model: "gemini-2.5-flash" }),
    error: (message: string) => GeminiMock.error(400, { message })
  }
] as const

/** The typed failure of one call (a `generate`, or a collected `stream`) against a one-reply script. */
const failureOf = (
  layerOf: (
    server: MockProvider.MockProvider
  ) => Layer.Layer<LanguageModel.LanguageModel, unknown, HttpClient.HttpClient>,
  reply: MockProvider.Reply,
  call: "generate" | "stream" = "generate"
) =>
  Effect.gen(function*() {
    const server = yield* MockProvider.make({ script: [reply] })
    const layer = overUndici(layerOf(server))
    const program = call === "generate" ? ask : StreamPart.collect(LanguageModel.stream(hi))
    return failure(yield* Effect.exit(program.pipe(Effect.provide(layer))))
  })

const expectScrubbed = (error: LlmError.LlmError) => {
  for (const text of [error.message, error.body ?? "", String(error)]) expect(text).not.toContain(keyFragment)
}

describe("a key echoed into the request id header", () => {
  it.scopedLive("is scrubbed from an answer's requestId and from an error's", () =>
    Effect.gen(function*() {
      const headers = { "x-request-id": `req ${secretKey}` }
      const server = yield* MockProvider.make({
        script: [
          OpenAiMock.completion({ text: "ok" }, { headers }),
          OpenAiMock.error(401, "invalid_api_key", { headers })
        ]
      })
      const layer = openAiLayer(server, { retry: noRetry })
      const answer = yield* ask.pipe(Effect.provide(layer))
      expect(answer.providerMetadata?.requestId).toBe("req <redacted>")
      const error = failure(yield* Effect.exit(ask.pipe(Effect.provide(layer))))
      expect(error.requestId).toBe("req <redacted>")
    }))
})

describe("secrets cut by truncation never leak", () => {
  for (const provider of providers) {
    it.scopedLive(`${provider.name}: a key where the error message is cut`, () =>
      Effect.gen(function*() {
        const error = yield* failureOf(provider.layer, provider.error(straddling(Errors.maxMessageDetail)))
        expect(error.message).toContain("… [truncated]")
        expect(error.message).toContain("<redacted>")
        expectScrubbed(error)
      }))

    it.scopedLive(`${provider.name}: a key where the error body is cut`, () =>
      Effect.gen(function*() {
        const error = yield* failureOf(
          provider.layer,
          MockProvider.text(straddling(LlmError.maxBodyLength), { status: 400 })
        )
        expect(error.body).toMatch(/… \[\d+ more chars\]$/)
        expect(error.body).toContain("<redacted>")
        expectScrubbed(error)
      }))
  }

  it.scopedLive("gemini: a key where the message of an error object in a stream is cut", () =>
    Effect.gen(function*() {
      const error = yield* failureOf(
        providers[3].layer,
        GeminiMock.stream({
          deltas: [],
          error: { code: 500, status: "INTERNAL", message: straddling(Errors.maxMessageDetail) }
        }),
        "stream"
      )
      expect(error.message).toContain("… [truncated]")
      expectScrubbed(error)
    }))

  it.scopedLive("cohere: a key where the message of a failed generation in a stream is cut", () =>
    Effect.gen(function*() {
      const error = yield* failureOf(
        providers[2].layer,
        CohereMock.stream({ deltas: [], error: { after: 0, message: straddling(Errors.maxMessageDetail) } }),
        "stream"
      )
      expect(error.message).toContain("… [truncated]")
      expectScrubbed(error)
    }))
})
