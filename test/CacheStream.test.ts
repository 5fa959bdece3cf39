import { expect, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Layer, Stream } from "effect"
import * as Cache from "../src/Cache.js"
import type * as ChatRequest from "../src/ChatRequest.js"
import type * as ChatResponse from "../src/ChatResponse.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import * as LlmMetrics from "../src/LlmMetrics.js"
import * as StreamPart from "../src/StreamPart.js"
import { describeStores } from "./support/cacheStores.js"
import { ask, failure, scripted } from "./support/resilience.js"

const usage = { inputTokens: 20, outputTokens: 9, totalTokens: 29, reasoningTokens: 4 }

/** A rich answer: reasoning with its signature, text, a tool call, usage and a raw finish reason. */
const rich = (n: number): ChatResponse.ChatResponse => ({
  id: `r-${n}`,
  provider: "test",
  model: "test-model-2025",
  content: [
    { type: "reasoning", text: "Think first.", signature: "sig" },
    { type: "text", text: `Answer ${n}: ` },
    {
      type: "tool-call",
      id: "call-1",
      name: "weather",
      arguments: { city: "Paris" },
      rawArguments: "{\"city\":\"Paris\"}"
    }
  ],
  finishReason: "tool-calls",
  rawFinishReason: "tool_use",
  usage,
  providerMetadata: { region: "eu" }
})

const answers = (count: number) => Array.from({ length: count }, (_, i) => rich(i + 1))

const request = { ...ask("Weather in Paris?"), tools: [{ name: "weather", parameters: { type: "object" } }] }

const parts = (input: ChatRequest.Input = request) =>
  Stream.runCollect(LanguageModel.stream(input)).pipe(Effect.map(Chunk.toArray))
const collect = (input: ChatRequest.Input = request) => StreamPart.collect(LanguageModel.stream(input))

/** A model whose Nth stream emits the parts of `rich(N)`, then fails with `error` when given. */
const streaming = (tail?: LlmError.LlmError) =>
  Effect.sync(() => {
    let calls = 0
    const service = LanguageModel.make({
      provider: "test",
      defaultModel: "test-model",
      generate: () => Effect.die("not used"),
      stream: () =>
        Stream.suspend(() => {
          calls++
          // One part per chunk, as a provider delivers them: a consumer can stop between any two.
          const replayed = Stream.rechunk(Stream.fromIterable(replayOf(rich(calls))), 1)
          return tail === undefined ? replayed : Stream.concat(Stream.take(replayed, 3), Stream.fail(tail))
        })
    })
    return { layer: Layer.succeed(LanguageModel.LanguageModel, service), calls: Effect.sync(() => calls) }
  })

// The parts a provider would stream for a response (no cost: the test model is unpriced).
const replayOf = (response: ChatResponse.ChatResponse): Array<StreamPart.StreamPart> => [
  {
    type: "response-metadata",
    provider: "test",
    id: response.id,
    model: response.model,
    providerMetadata: response.providerMetadata
  },
  { type: "reasoning-delta", text: "Think first." },
  { type: "reasoning-delta", text: "", signature: "sig" },
  { type: "text-delta", text: "Answer " },
  { type: "text-delta", text: `${response.id.slice(2)}: ` },
  { type: "tool-call-start", id: "call-1", name: "weather" },
  { type: "tool-call-delta", id: "call-1", argumentsDelta: "{\"city\":" },
  { type: "tool-call-delta", id: "call-1", argumentsDelta: "\"Paris\"}" },
  {
    type: "tool-call-end",
    id: "call-1",
    name: "weather",
    arguments: { city: "Paris" },
    rawArguments: "{\"city\":\"Paris\"}"
  },
  { type: "usage", usage: response.usage! },
  { type: "finish", finishReason: "tool-calls", rawFinishReason: "tool_use" }
]

describeStores("Cache: streams", (stores) => {
  /** A cached layer over a fresh store. */
  const cacheOver = (inner: Layer.Layer<LanguageModel.LanguageModel>) =>
    Effect.map(stores.make, ({ store }) => Cache.layer(inner, { store }))

  it.scoped("a stream is replayed from the cache: cached metadata, the content, a usage at no cost, the finish", () =>
    Effect.gen(function*() {
      const model = yield* streaming()
      const [first, replayed] = yield* Effect.all([parts(), parts()]).pipe(
        Effect.provide(yield* cacheOver(model.layer))
      )
      expect(yield* model.calls).toBe(1)
      expect(first[0]).not.toHaveProperty("cached")
      expect(replayed.map((part) => part.type)).toEqual([
        "response-metadata",
        "reasoning-delta",
        "text-delta",
        "tool-call-start",
        "tool-call-delta",
        "tool-call-end",
        "usage",
        "finish"
      ])
      expect(replayed[0]).toMatchObject({
        type: "response-metadata",
        cached: true,
        id: "r-1",
        model: "test-model-2025"
      })
      expect(replayed[6]).toEqual({ type: "usage", usage, costUsd: 0 })
      const accumulated = (list: ReadonlyArray<StreamPart.StreamPart>) => {
        const accumulator = new StreamPart.Accumulator()
        for (const part of list) accumulator.add(part)
        return accumulator.done()
      }
      expect(accumulated(replayed)).toEqual({ ...accumulated(first), cached: true, costUsd: 0 })
      expect(accumulated(replayed)).toEqual({ ...rich(1), cached: true, costUsd: 0 })
    }))

  it.scoped("an entry written by generate serves stream, and one written by stream serves generate", () =>
    Effect.gen(function*() {
      const model = yield* scripted(answers(3))
      const [generated, streamed] = yield* Effect.all([LanguageModel.generate(request), collect()]).pipe(
        Effect.provide(yield* cacheOver(model.layer))
      )
      expect(streamed).toEqual({ ...generated, cached: true, costUsd: 0 })

      const streams = yield* streaming()
      const [fromStream, fromGenerate] = yield* Effect.all([collect(), LanguageModel.generate(request)]).pipe(
        Effect.provide(yield* cacheOver(streams.layer))
      )
      expect(fromStream).toEqual(rich(1))
      expect(fromGenerate).toEqual({ ...rich(1), cached: true, costUsd: 0 })
      expect([yield* model.calls, yield* streams.calls]).toEqual([1, 1])
    }))

  it.scoped("an answer stored without usage replays at no cost, as its generate hit does", () =>
    Effect.gen(function*() {
      const { usage: _, ...withoutUsage } = rich(1)
      const model = yield* scripted([withoutUsage])
      const [generated, hit, replayed] = yield* Effect.all([
        LanguageModel.generate(request),
        LanguageModel.generate(request),
        collect()
      ])
        .pipe(Effect.provide(yield* cacheOver(model.layer)))
      expect(generated.costUsd).toBeUndefined()
      expect(hit).toEqual({ ...generated, cached: true, costUsd: 0 })
      expect(replayed).toEqual(hit)
      expect(yield* model.calls).toBe(1)
    }))

  it.scoped("a stream stopped before its finish part is not stored; one read to its finish is", () =>
    Effect.gen(function*() {
      const streams = yield* streaming()
      const ids = yield* Effect.all([
        Stream.runCollect(Stream.take(LanguageModel.stream(request), 4)),
        collect(),
        collect(),
        // Stopping right after the finish part: the whole answer was delivered.
        Stream.runCollect(
          Stream.takeUntil(LanguageModel.stream({ ...request, maxTokens: 5 }), (part) => part.type === "finish")
        ),
        collect({ ...request, maxTokens: 5 })
      ]).pipe(Effect.provide(yield* cacheOver(streams.layer)))
      expect(yield* streams.calls).toBe(3)
      expect([ids[1].id, ids[1].cached, ids[2].id, ids[2].cached, ids[4].id, ids[4].cached]).toEqual([
        "r-2",
        undefined,
        "r-2",
        true,
        "r-3",
        true
      ])
    }))

  it.scoped("a stream that fails is not stored", () =>
    Effect.gen(function*() {
      const streams = yield* streaming(
        new LlmError.StreamInterrupted({
          provider: "test",
          causeTag: "NetworkError",
          partial: { text: "", reasoning: "Think first.", toolCalls: [] },
          message: "reset"
        })
      )
      const exits = yield* Effect.all([Effect.exit(collect()), Effect.exit(collect())]).pipe(
        Effect.provide(yield* cacheOver(streams.layer))
      )
      expect(exits.map((exit) => failure(exit)._tag)).toEqual(["StreamInterrupted", "StreamInterrupted"])
      expect(yield* streams.calls).toBe(2)
    }))

  it.scoped("noStore and noCache hold for streams too", () =>
    Effect.gen(function*() {
      const streams = yield* streaming()
      const responses = yield* Effect.all([
        collect({ ...request, cache: { noStore: true } }),
        collect(),
        collect({ ...request, cache: { noCache: true } }),
        collect()
      ]).pipe(Effect.provide(yield* cacheOver(streams.layer)))
      expect(responses.map((response) => [response.id, response.cached ?? false])).toEqual([
        ["r-1", false],
        ["r-2", false],
        ["r-3", false],
        ["r-3", true]
      ])
    }))

  it.scoped("a replayed stream records a cached stream event at no cost", () =>
    Effect.gen(function*() {
      const model = yield* scripted(answers(2))
      const tenant = { ...request, metadata: { tenant: "t1" } }
      const exit = yield* Effect.exit(
        Effect.all([collect(tenant), collect(tenant)]).pipe(Effect.provide(yield* cacheOver(model.layer)))
      )
      expect(Exit.isSuccess(exit)).toBe(true)
      const summary = yield* LlmMetrics.summary
      expect(summary.byTenant["t1"]).toMatchObject({ requests: 1, cacheHits: 1, costUsd: 0, outputTokens: 0 })
    }).pipe(Effect.provide(LlmMetrics.layerMemory)))
})
