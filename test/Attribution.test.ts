/**
 * Who a call's end is attributed to: only the provider's own failures count against it, in metrics, in breakers
 * and in spans; a consumer's failure, and a request refused before it is sent, never do.
 */
import { NodeHttpClient } from "@effect/platform-node"
import * as HttpClient from "@effect/platform/HttpClient"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Layer, Redacted, Stream } from "effect"
import * as Cause from "effect/Cause"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import * as Fallback from "../src/Fallback.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import * as LlmMetrics from "../src/LlmMetrics.js"
import * as Pricing from "../src/Pricing.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import type * as StreamPart from "../src/StreamPart.js"
import * as AnthropicMock from "../src/testing/AnthropicMock.js"
import * as CohereMock from "../src/testing/CohereMock.js"
import * as GeminiMock from "../src/testing/GeminiMock.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { failure, openAiLayer, overUndici, secretKey } from "./support/loopback.js"
import { type RecordedSpan, recordingMetrics, recordingTracer } from "./support/observe.js"
import * as Providers from "./support/providers.js"
import { ask, errors, scripted } from "./support/resilience.js"

const key = Redacted.make(secretKey)

/** Each provider: its layer over a mock, and a whole and a streamed reply saying the same. */
const providers = [
  {
    name: "openai",
    // the mock streams its own id
    id: "chatcmpl-mock",
    layer: (server: MockProvider.MockProvider) => openAiLayer(server, { retry: false }),
    whole: (o: Said) => OpenAiMock.completion(o),
    streamed: (o: Said) => OpenAiMock.stream(o)
  },
  {
    name: "anthropic",
    id: "anthropic-response-id",
    layer: (server: MockProvider.MockProvider) => Providers.anthropic(server, { retry: false }),
    whole: (o: Said) => AnthropicMock.message(o),
    streamed: (o: Said) => AnthropicMock.stream(o)
  },
  {
    name: "cohere",
    id: "cohere-response-id",
    layer: (server: MockProvider.MockProvider) => Providers.cohere(server, { retry: false }),
    whole: (o: Said) => CohereMock.chat(o),
    streamed: (o: Said) => CohereMock.stream(o)
  },
  {
    name: "gemini",
    id: "gemini-response-id",
    layer: (server: MockProvider.MockProvider) => Providers.gemini(server, { retry: false }),
    whole: (o: Said) => GeminiMock.response(o),
    streamed: (o: Said) => GeminiMock.stream(o)
  }
] as const

interface Said {
  readonly id: string
  readonly model: string
  readonly usage: { readonly inputTokens: number; readonly outputTokens: number }
}

const withHttp = overUndici

/** Reads a stream to its end, failing with `error` (or dying with it) at the first part of type `at`. */
const consumeFailing = <E>(at: StreamPart.StreamPart["type"], error: E, how: "fail" | "die" = "fail") =>
  Stream.runForEach(
    LanguageModel.stream(ask()),
    (part): Effect.Effect<void, E> =>
      part.type !== at ? Effect.void : how === "fail" ? Effect.fail(error) : Effect.die(error)
  )

const event = (
  fields: Partial<LlmMetrics.CallEvent> & Pick<LlmMetrics.CallEvent, "outcome">
): LlmMetrics.CallEvent => ({
  operation: "stream",
  tenant: undefined,
  provider: "openai",
  model: "gpt-4o-mini",
  usage: undefined,
  costUsd: undefined,
  durationMs: 0,
  timeToFirstTokenMs: 0,
  retries: 0,
  cached: false,
  ...fields
})

const usage = (input: number, output: number) => ({
  inputTokens: input,
  outputTokens: output,
  totalTokens: input + output
})

const streamSpan = (spans: ReadonlyArray<RecordedSpan>) => {
  const chat = spans.filter((span) => span.name.startsWith("chat "))
  expect(chat).toHaveLength(1)
  return chat[0]!
}

describe("a stream consumer's own failure", () => {
  const consumers = [
    [
      "an LlmError of another call",
      new LlmError.RateLimited({ provider: "other", message: "429", retryAfter: Duration.seconds(600) }),
      "fail"
    ],
    ["a plain string", "my own bug", "fail"],
    ["a defect", new Error("my own bug"), "die"]
  ] as const

  for (const [what, error, how] of consumers) {
    it.scoped(`after the finish part, ${what}, is a success: metrics, breaker and span`, () =>
      Effect.gen(function*() {
        const server = yield* MockProvider.make({
          script: [
            OpenAiMock.stream({ deltas: ["a", "b"], usage: { inputTokens: 7, outputTokens: 2 } }),
            OpenAiMock.completion()
          ]
        })
        const metrics = yield* recordingMetrics
        const spans: Array<RecordedSpan> = []
        const guarded = CircuitBreaker.layer(openAiLayer(server, { retry: false }), { key: "k", minimumCalls: 1 })
        const exit = yield* consumeFailing("finish", error, how).pipe(
          Effect.provide(guarded),
          Effect.provide(metrics.layer),
          Effect.withTracer(recordingTracer(spans)),
          Effect.exit
        )
        // the consumer gets its own failure back
        expect(Exit.isFailure(exit) && Cause.squash(exit.cause)).toBe(error)
        expect(metrics.events).toEqual([
          event({
            outcome: "success",
            usage: usage(7, 2),
            costUsd: Pricing.dataset.cost(usage(7, 2), "gpt-4o-mini", "openai")
          })
        ])
        expect((yield* metrics.summary).total).toMatchObject({ requests: 1, failures: 0 })
        expect(yield* CircuitBreaker.state("k")).toMatchObject({ state: "closed", calls: 1, failures: 0 })
        expect(Exit.isSuccess(streamSpan(spans).exit!)).toBe(true)
        // the provider's breaker let the next call through
        yield* LanguageModel.generate(ask()).pipe(Effect.provide(guarded))
        expect(yield* server.requests).toHaveLength(2)
      }).pipe(Effect.provide(CircuitBreaker.layerMemory)))
  }

  it.scoped("before the finish part is a call stopped early: interrupted, not a failure, and no breaker outcome", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [OpenAiMock.stream({ deltas: ["a", "b", "c"], usage: null }, { hang: true, done: false })]
      })
      const metrics = yield* recordingMetrics
      const spans: Array<RecordedSpan> = []
      const guarded = CircuitBreaker.layer(openAiLayer(server, { retry: false }), { key: "k", minimumCalls: 1 })
      const exit = yield* consumeFailing("text-delta", errors.overloaded("other")).pipe(
        Effect.provide(guarded),
        Effect.provide(metrics.layer),
        Effect.withTracer(recordingTracer(spans)),
        Effect.exit
      )
      expect(failure(exit)).toMatchObject({ _tag: "Overloaded", provider: "other" })
      expect(metrics.events).toEqual([event({ outcome: "interrupted" })])
      expect((yield* metrics.summary).total).toMatchObject({ requests: 1, failures: 0 })
      expect(yield* CircuitBreaker.state("k")).toMatchObject({ state: "closed", calls: 0, failures: 0 })
      const ended = streamSpan(spans).exit!
      expect(Exit.isFailure(ended) && Cause.isInterruptedOnly(ended.cause)).toBe(true)
    }).pipe(Effect.provide(CircuitBreaker.layerMemory)))

  it.scoped("does not hide the provider's own failure after content", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [OpenAiMock.stream({ deltas: ["a", "b", "c"] }, { cutAfter: 2 })]
      })
      const metrics = yield* recordingMetrics
      const guarded = CircuitBreaker.layer(openAiLayer(server, { retry: false }), { key: "k", minimumCalls: 1 })
      const exit = yield* LanguageModel.stream(ask()).pipe(
        Stream.runDrain,
        Effect.provide(guarded),
        Effect.provide(metrics.layer),
        Effect.exit
      )
      expect(failure(exit)._tag).toBe("StreamInterrupted")
      expect(metrics.events.map((e) => e.outcome)).toEqual(["StreamInterrupted"])
      expect(yield* CircuitBreaker.state("k")).toMatchObject({ state: "open" })
    }).pipe(Effect.provide(CircuitBreaker.layerMemory)))

  it.effect("never moves a fallback chain on", () =>
    Effect.gen(function*() {
      const fallbacks: Array<LlmMetrics.FallbackEvent> = []
      const a = yield* scripted([{ text: "a" }], { provider: "a" })
      const b = yield* scripted([{ text: "b" }], { provider: "b" })
      const chain = Fallback.layer([{ provide: a.layer }, { provide: b.layer }])
      const exit = yield* consumeFailing("finish", errors.overloaded("other")).pipe(
        Effect.provide(chain),
        Effect.provide(Layer.succeed(LlmMetrics.LlmMetrics, {
          ...LlmMetrics.noop,
          recordFallback: (e) => Effect.sync(() => void fallbacks.push(e))
        })),
        Effect.exit
      )
      expect(failure(exit).provider).toBe("other")
      expect([yield* a.calls, yield* b.calls, fallbacks.length]).toEqual([1, 0, 0])
    }))
})

describe("defects and refusals", () => {
  /** A transport whose middleware has a bug: the request goes out, then the call dies. */
  const buggyHttp = Layer.effect(
    HttpClient.HttpClient,
    Effect.map(HttpClient.HttpClient, (client) => HttpClient.tap(client, () => Effect.die(new Error("middleware bug"))))
  ).pipe(Layer.provide(NodeHttpClient.layerUndici))

  it.scoped("a call that dies is a failure, recorded as a defect, for generate and stream", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [OpenAiMock.completion(), OpenAiMock.stream()] })
      const metrics = yield* recordingMetrics
      const layer = OpenAi.layer({ apiKey: key, baseUrl: `${server.url}/v1`, model: "gpt-4o-mini" }).pipe(
        Layer.provide(buggyHttp),
        Layer.orDie
      )
      const exits: Array<Exit.Exit<unknown, LlmError.LlmError>> = [
        yield* LanguageModel.generate(ask()).pipe(Effect.provide(layer), Effect.provide(metrics.layer), Effect.exit),
        yield* LanguageModel.stream(ask()).pipe(
          Stream.runDrain,
          Effect.provide(layer),
          Effect.provide(metrics.layer),
          Effect.exit
        )
      ]
      for (const exit of exits) expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
      expect(metrics.events).toEqual([
        event({ operation: "generate", outcome: "defect", timeToFirstTokenMs: undefined }),
        event({ outcome: "defect", timeToFirstTokenMs: undefined })
      ])
      expect((yield* metrics.summary).total).toMatchObject({ requests: 2, failures: 2 })
      // the request did go out: this is a call, not a refusal
      expect(yield* server.requests).toHaveLength(2)
    }))

  // A value JSON cannot encode, in every provider's encoder.
  const unencodable = {
    messages: [
      { role: "user" as const, content: "hi" },
      {
        role: "assistant" as const,
        content: [{ type: "tool-call" as const, id: "c1", name: "f", arguments: { n: 1n } }]
      }
    ]
  }

  for (const provider of providers) {
    it.scoped(`${provider.name}: a request refused before the wire is no provider call (no event, span or outcome)`, () =>
      Effect.gen(function*() {
        const server = yield* MockProvider.make({ script: [] })
        const metrics = yield* recordingMetrics
        const spans: Array<RecordedSpan> = []
        const guarded = CircuitBreaker.layer(provider.layer(server), { key: "k", minimumCalls: 1 })
        const run = <A>(effect: Effect.Effect<A, LlmError.LlmError, LanguageModel.LanguageModel>) =>
          effect.pipe(
            Effect.provide(guarded),
            Effect.provide(metrics.layer),
            Effect.withTracer(recordingTracer(spans)),
            Effect.exit
          )
        const exits: Array<Exit.Exit<unknown, LlmError.LlmError>> = [
          yield* run(LanguageModel.generate(unencodable)),
          yield* run(Stream.runDrain(LanguageModel.stream(unencodable)))
        ]
        for (const exit of exits) expect(failure(exit)._tag).toBe("InvalidRequest")
        expect(yield* server.requests).toHaveLength(0)
        expect(metrics.events).toEqual([])
        expect(spans.filter((span) => span.name.startsWith("chat "))).toEqual([])
        expect(yield* CircuitBreaker.state("k")).toMatchObject({ state: "closed", calls: 0, failures: 0 })
      }).pipe(Effect.provide(CircuitBreaker.layerMemory)))
  }

  it.scoped("a feature the provider refuses (Azure topK) is no provider call either", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [] })
      const metrics = yield* recordingMetrics
      const azure = withHttp(OpenAi.layerAzure({ endpoint: server.url, deployment: "d", apiKey: key }))
      for (
        const call of [
          LanguageModel.generate({ ...ask(), topK: 40 }),
          Stream.runDrain(LanguageModel.stream({ ...ask(), topK: 40 }))
        ]
      ) {
        const exit = yield* call.pipe(Effect.provide(azure), Effect.provide(metrics.layer), Effect.exit)
        expect(failure(exit)).toMatchObject({ _tag: "InvalidRequest", provider: "azure" })
      }
      expect(yield* server.requests).toHaveLength(0)
      expect(metrics.events).toEqual([])
      expect((yield* metrics.summary).total.requests).toBe(0)
    }))
})

describe("stream spans", () => {
  for (const provider of providers) {
    it.scoped(`${provider.name}: a stream's span carries the response attributes a generate span does`, () =>
      Effect.gen(function*() {
        const said = {
          id: provider.id,
          model: `${provider.name}-served-model`,
          usage: { inputTokens: 13, outputTokens: 5 }
        }
        const server = yield* MockProvider.make({ script: [provider.whole(said), provider.streamed(said)] })
        const layer = provider.layer(server)
        const spans: Array<RecordedSpan> = []
        const traced = <A, E>(effect: Effect.Effect<A, E, LanguageModel.LanguageModel>) =>
          effect.pipe(Effect.provide(layer), Effect.withTracer(recordingTracer(spans)))
        yield* traced(LanguageModel.generate(ask()))
        yield* traced(Stream.runDrain(LanguageModel.stream(ask())))
        const [generated, streamed] = spans.filter((span) => span.name.startsWith("chat "))
        const response = (span: RecordedSpan | undefined) =>
          Object.fromEntries(
            [...span!.attributes].filter(([name]) =>
              name.startsWith("gen_ai.response.") || name.startsWith("gen_ai.usage.")
            )
          )
        expect(response(streamed)).toEqual(response(generated))
        expect(response(streamed)).toEqual({
          "gen_ai.response.id": said.id,
          // Cohere does not say which model answered: the model called
          "gen_ai.response.model": provider.name === "cohere" ? "command-a-03-2025" : said.model,
          "gen_ai.response.finish_reasons": ["stop"],
          "gen_ai.usage.input_tokens": 13,
          "gen_ai.usage.output_tokens": 5
        })
        expect(streamed!.attributes.get("gen_ai.request.stream")).toBe(true)
      }))
  }

  it.scoped("a stream cut after content ends its span with the failure and what had arrived", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [OpenAiMock.stream({ deltas: ["a", "b", "c"] }, { cutAfter: 2 })]
      })
      const spans: Array<RecordedSpan> = []
      yield* LanguageModel.stream(ask()).pipe(
        Stream.runDrain,
        Effect.provide(openAiLayer(server, { retry: false })),
        Effect.withTracer(recordingTracer(spans)),
        Effect.exit
      )
      const span = streamSpan(spans)
      expect(Object.fromEntries(span.attributes)).toMatchObject({ "gen_ai.response.id": "chatcmpl-mock" })
      expect(span.attributes.has("gen_ai.response.finish_reasons")).toBe(false)
      expect(span.exit && Exit.isFailure(span.exit) && failure(span.exit as Exit.Exit<never, LlmError.LlmError>)._tag)
        .toBe("StreamInterrupted")
    }))
})
