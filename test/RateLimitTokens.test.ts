import { expect, it } from "@effect/vitest"
import type { Exit } from "effect"
import { Duration, Effect, Layer, Ref, Stream } from "effect"
import * as ChatRequest from "../src/ChatRequest.js"
import type * as ChatResponse from "../src/ChatResponse.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import * as RateLimit from "../src/RateLimit.js"
import type * as StreamPart from "../src/StreamPart.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import * as Tokenizer from "../src/Tokenizer.js"
import { openAiLayer } from "./support/loopback.js"
import { forEachStore } from "./support/rateLimitStores.js"
import { answer, count, failure, runTo, scripted, success } from "./support/resilience.js"

/** One token per character, so that every estimate in these tests is exact and visible. */
const perChar: Tokenizer.Service = {
  countText: (text) => text.length,
  countRequest: (request) =>
    request.messages.reduce(
      (sum, message) => sum + (typeof message.content === "string" ? message.content.length : 0),
      0
    ),
  isExact: () => true
}

const withChars = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.provideService(effect, Tokenizer.Tokenizer, perChar)

const options: RateLimit.Options = { default: { tokens: { limit: 100, window: "1 minute" } } }

/** A request of `input` tokens (characters). */
const asking = (input: number, maxTokens?: number) => ({
  messages: [{ role: "user" as const, content: "x".repeat(input) }],
  ...(maxTokens === undefined ? {} : { maxTokens })
})

const usage = (totalTokens: number): ChatResponse.Usage => ({ inputTokens: 0, outputTokens: totalTokens, totalTokens })

const generate = (layer: Layer.Layer<LanguageModel.LanguageModel, unknown>, input: number, maxTokens?: number) =>
  LanguageModel.generate(asking(input, maxTokens)).pipe(Effect.provide(Layer.orDie(layer)))

const tokensLeft = (opts: RateLimit.Options = options) =>
  Effect.map(RateLimit.status(opts, { tenant: "default" }), (status) => status.tokens?.remaining)

/** A reply that records the tokens left while the call is at the provider. */
const probing = (seen: Ref.Ref<Array<number | undefined>>, response: ChatResponse.ChatResponse, opts = options) => () =>
  Effect.as(
    Effect.flatMap(Effect.orDie(tokensLeft(opts)), (left) => Ref.update(seen, (all) => [...all, left])),
    response
  )

const refusal = (exit: Exit.Exit<unknown, unknown>) => {
  const error = failure(exit as Exit.Exit<unknown, LlmError.LlmError>)
  if (!(error instanceof LlmError.RateLimitExceeded)) throw new Error(`expected RateLimitExceeded, got ${error._tag}`)
  return error
}

forEachStore("RateLimit: tokens of generate", (limiter) => {
  it.effect("takes the estimate (input + maxTokens) before the call, the usage beyond it after", () =>
    Effect.gen(function*() {
      const seen = yield* Ref.make<Array<number | undefined>>([])
      const model = yield* scripted([probing(seen, answer("ok", { usage: usage(50) })), answer("never")])
      const limited = RateLimit.layer(model.layer, options)
      success(yield* Effect.exit(generate(limited, 20, 10)))
      expect(yield* Ref.get(seen)).toEqual([70])
      expect(yield* tokensLeft()).toBe(50)

      // 50 taken in the window [0, 60 s) of 100 tokens: the next 60 fit in the next window.
      const refused = refusal(yield* Effect.exit(generate(limited, 50, 10)))
      expect(refused).toMatchObject({ kind: "tokens", tenant: "default", limit: "100 tokens per 1 minute" })
      expect(refused.retryAfter && Duration.toMillis(refused.retryAfter)).toBe(60_000)
      expect(yield* model.calls).toBe(1)
    }).pipe(withChars, Effect.provide(limiter)))

  it.effect("keeps the estimate when the call used less (the limiter has no refund)", () =>
    Effect.gen(function*() {
      const model = yield* scripted([answer("ok", { usage: usage(5) })])
      success(yield* Effect.exit(generate(RateLimit.layer(model.layer, options), 20, 10)))
      expect(yield* tokensLeft()).toBe(70)
    }).pipe(withChars, Effect.provide(limiter)))

  it.effect("without usage, counts the input estimate plus the output text", () =>
    Effect.gen(function*() {
      const model = yield* scripted([answer("y".repeat(40))])
      success(yield* Effect.exit(generate(RateLimit.layer(model.layer, options), 20, 5)))
      expect(yield* tokensLeft()).toBe(40)
    }).pipe(withChars, Effect.provide(limiter)))

  it.effect("without maxTokens, estimates defaultOutputTokens (0 unless set) for the output", () =>
    Effect.gen(function*() {
      const seen = yield* Ref.make<Array<number | undefined>>([])
      const withDefault = { ...options, defaultOutputTokens: 15, key: "with-default" }
      const model = yield* scripted([
        probing(seen, answer("")),
        probing(seen, answer(""), withDefault)
      ])
      success(yield* Effect.exit(generate(RateLimit.layer(model.layer, options), 20)))
      success(yield* Effect.exit(generate(RateLimit.layer(model.layer, withDefault), 20)))
      expect(yield* Ref.get(seen)).toEqual([80, 65])
    }).pipe(withChars, Effect.provide(limiter)))

  it.effect("a use far beyond the limit is all taken, so the next calls wait for it to be paid off", () =>
    Effect.gen(function*() {
      const model = yield* scripted([answer("ok", { usage: usage(250) })])
      const limited = RateLimit.layer(model.layer, options)
      success(yield* Effect.exit(generate(limited, 20, 10)))
      // 250 tokens in windows of 100: the debt fills [0, 60 s) and [60 s, 120 s), and 50 of [120 s, 180 s), where
      // the next 30 fit.
      const refused = refusal(yield* Effect.exit(generate(limited, 20, 10)))
      expect(refused.retryAfter && Duration.toMillis(refused.retryAfter)).toBe(120_000)
      const status = yield* RateLimit.status(options, { tenant: "default" })
      expect(status.tokens?.remaining).toBe(0)
      expect(status.tokens && Duration.toMillis(status.tokens.resetAfter)).toBe(180_000)
      expect(yield* model.calls).toBe(1)
    }).pipe(withChars, Effect.provide(limiter)))

  it.effect("an estimate above the limit is refused as not retryable, in delay mode too, and never sent", () =>
    Effect.gen(function*() {
      const model = yield* scripted([answer("never")])
      for (const onExceeded of ["fail", "delay"] as const) {
        const refused = refusal(
          yield* Effect.exit(generate(RateLimit.layer(model.layer, { ...options, onExceeded }), 90, 20))
        )
        expect(refused.retryAfter).toBeUndefined()
        // No window will ever hold it: marked so, so that an SDK behind the gateway is told not to try again
        // (`x-should-retry: false`), where a full window's refusal leaves retrying to the client.
        expect(refused.shouldRetry).toBe(false)
        expect(LlmError.isRetryable(refused)).toBe(false)
        expect(refused.message).toContain(
          "the estimate of 110 tokens is more than the limit of 100 tokens per 1 minute"
        )
      }
      expect(yield* model.calls).toBe(0)
      expect(yield* tokensLeft()).toBe(100)
    }).pipe(withChars, Effect.provide(limiter)))

  it.effect("in delay mode, waits for the window that holds the estimate", () =>
    Effect.gen(function*() {
      const model = yield* scripted([answer("1", { usage: usage(100) }), answer("2", { usage: usage(30) })])
      const limited = RateLimit.layer(model.layer, { ...options, onExceeded: "delay" })
      success(yield* Effect.exit(generate(limited, 20, 10)))
      success(yield* runTo(generate(limited, 20, 10), [60_000]))
      expect(yield* model.calls).toBe(2)
    }).pipe(withChars, Effect.provide(limiter)))

  it.effect("a cached answer takes only its estimate", () =>
    Effect.gen(function*() {
      const model = yield* scripted([{ ...answer("ok", { usage: usage(90) }), cached: true }])
      success(yield* Effect.exit(generate(RateLimit.layer(model.layer, options), 20, 10)))
      expect(yield* tokensLeft()).toBe(70)
    }).pipe(withChars, Effect.provide(limiter)))

  it.effect("requests and tokens together: a refusal by tokens still counts the request", () =>
    Effect.gen(function*() {
      const both: RateLimit.Options = {
        default: { requests: { limit: 5, window: "1 minute" }, tokens: { limit: 100, window: "1 minute" } }
      }
      const model = yield* scripted([answer("ok", { usage: usage(30) })])
      const limited = RateLimit.layer(model.layer, both)
      success(yield* Effect.exit(generate(limited, 20, 10)))
      expect(refusal(yield* Effect.exit(generate(limited, 70, 10))).kind).toBe("tokens")
      const status = yield* RateLimit.status(both, { tenant: "default" })
      expect([status.requests?.remaining, status.tokens?.remaining]).toEqual([3, 70])
    }).pipe(withChars, Effect.provide(limiter)))
})

/** A streaming model: one part per chunk, then optionally a failure; counts its calls. */
const streaming = (parts: ReadonlyArray<StreamPart.StreamPart>, failWith?: LlmError.LlmError) =>
  Effect.map(Ref.make(0), (calls) => ({
    calls: Ref.get(calls),
    layer: Layer.succeed(
      LanguageModel.LanguageModel,
      LanguageModel.make({
        provider: "test",
        defaultModel: "test-model",
        generate: () => Effect.die("not used"),
        stream: () =>
          Stream.unwrap(Effect.as(
            Ref.update(calls, (n) => n + 1),
            Stream.concat(
              Stream.rechunk(Stream.fromIterable(parts), 1),
              failWith === undefined ? Stream.empty : Stream.fail(failWith)
            )
          ))
      })
    )
  }))

const delta = (text: string): StreamPart.StreamPart => ({ type: "text-delta", text })
const usagePart = (total: number): StreamPart.StreamPart => ({ type: "usage", usage: usage(total) })
const finish: StreamPart.StreamPart = { type: "finish", finishReason: "stop" }

const streamOf = (layer: Layer.Layer<LanguageModel.LanguageModel, unknown>, input: number, maxTokens?: number) =>
  LanguageModel.stream(asking(input, maxTokens)).pipe(Stream.provideLayer(Layer.orDie(layer)))

forEachStore("RateLimit: calls the budget inside refuses", (limiter) => {
  it.effect("a call refused by the budget before any provider call gives its units back, called or streamed", () =>
    Effect.gen(function*() {
      const both: RateLimit.Options = {
        default: { requests: { limit: 2, window: "1 minute" }, tokens: { limit: 100, window: "1 minute" } }
      }
      const costly = new LlmError.CostLimitExceeded({
        provider: "test",
        message: "over the cost guard",
        tenant: "default",
        limitUsd: 0.5,
        estimatedUsd: 0.6
      })
      const spent = new LlmError.BudgetExceeded({
        provider: "test",
        message: "over the budget",
        tenant: "default",
        limitUsd: 1,
        spentUsd: 1,
        reservedUsd: 0,
        requestedUsd: 0.1
      })
      const model = yield* scripted([costly, spent, costly, answer("ok", { usage: usage(30) }), answer("ok")])
      const limited = Layer.orDie(RateLimit.layer(model.layer, both))
      const left = Effect.map(
        Effect.orDie(RateLimit.status(both, { tenant: "default" })),
        (status) => [status.requests?.remaining, status.tokens?.remaining]
      )
      expect(failure(yield* Effect.exit(generate(limited, 20, 10)))._tag).toBe("CostLimitExceeded")
      expect(failure(yield* Effect.exit(generate(limited, 20, 10)))._tag).toBe("BudgetExceeded")
      const streamed = yield* Effect.exit(
        Stream.runDrain(LanguageModel.stream(asking(20, 10))).pipe(Effect.provide(limited))
      )
      expect(failure(streamed)._tag).toBe("CostLimitExceeded")
      // Three refused calls, none of them counted: the limits are whole, and two calls of 2 per minute still go.
      expect(yield* left).toEqual([2, 100])
      success(yield* Effect.exit(generate(limited, 20, 10)))
      success(yield* Effect.exit(generate(limited, 20, 10)))
      expect(yield* left).toEqual([0, 40])
    }).pipe(withChars, Effect.provide(limiter)))
})

forEachStore("RateLimit: tokens of streams", (limiter) => {
  it.effect("settles from the usage part when the stream ends", () =>
    Effect.gen(function*() {
      const model = yield* streaming([delta("hello"), usagePart(70), finish])
      yield* Stream.runDrain(streamOf(RateLimit.layer(model.layer, options), 20, 10))
      expect(yield* tokensLeft()).toBe(30)
    }).pipe(withChars, Effect.provide(limiter)))

  it.effect("a consumer that stops early is charged the text it received", () =>
    Effect.gen(function*() {
      const model = yield* streaming([
        delta("a".repeat(10)),
        delta("b".repeat(10)),
        delta("c".repeat(10)),
        usagePart(500)
      ])
      const taken = yield* Stream.runCollect(Stream.take(streamOf(RateLimit.layer(model.layer, options), 20, 5), 2))
      expect(taken.length).toBe(2)
      // 20 input + 20 received = 40, beyond the estimate of 25
      expect(yield* tokensLeft()).toBe(60)
    }).pipe(withChars, Effect.provide(limiter)))

  it.effect("a stream that fails after content is charged the text it received", () =>
    Effect.gen(function*() {
      const cut = new LlmError.NetworkError({ provider: "test", message: "reset" })
      const model = yield* streaming([delta("a".repeat(30))], cut)
      const exit = yield* Effect.exit(Stream.runDrain(streamOf(RateLimit.layer(model.layer, options), 20)))
      expect(failure(exit)._tag).toBe("NetworkError")
      expect(yield* tokensLeft()).toBe(50)
    }).pipe(withChars, Effect.provide(limiter)))

  it.effect("a replayed cached stream takes only its estimate", () =>
    Effect.gen(function*() {
      const model = yield* streaming([{ type: "response-metadata", cached: true }, delta("hi"), usagePart(90)])
      yield* Stream.runDrain(streamOf(RateLimit.layer(model.layer, options), 20, 10))
      expect(yield* tokensLeft()).toBe(70)
    }).pipe(withChars, Effect.provide(limiter)))

  it.effect("a refused stream fails before any part and never starts the provider's stream", () =>
    Effect.gen(function*() {
      const model = yield* streaming([delta("hi"), usagePart(80)])
      const limited = RateLimit.layer(model.layer, options)
      yield* Stream.runDrain(streamOf(limited, 20, 10))
      const parts: Array<StreamPart.StreamPart> = []
      const exit = yield* Effect.exit(
        Stream.runForEach(streamOf(limited, 20, 10), (part) => Effect.sync(() => parts.push(part)))
      )
      expect(refusal(exit)).toMatchObject({ kind: "tokens", limit: "100 tokens per 1 minute" })
      expect(parts).toEqual([])
      expect(yield* model.calls).toBe(1)
    }).pipe(withChars, Effect.provide(limiter)))
})

forEachStore("RateLimit: tokens over HTTP", (limiter) => {
  it.scoped("takes the request's real token count before, the provider's usage after", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [OpenAiMock.stream({ deltas: ["Hel", "lo"], usage: { inputTokens: 300, outputTokens: 200 } })]
      })
      const big: RateLimit.Options = { default: { tokens: { limit: 1_000, window: "1 minute" } } }
      const request = { messages: [{ role: "user" as const, content: "Say hello" }], maxTokens: 20 }
      const estimate =
        (yield* Tokenizer.countRequest(yield* ChatRequest.decode({ ...request, model: "gpt-4o-mini" }))) +
        20
      expect(estimate).toBeLessThan(500)
      const limited = RateLimit.layer(openAiLayer(server), big)
      const parts = yield* Stream.runCollect(
        LanguageModel.stream(request).pipe(Stream.provideLayer(Layer.orDie(limited)))
      )
      expect(parts.length).toBeGreaterThan(0)
      expect(yield* tokensLeft(big)).toBe(500)
      // The next request's estimate does not fit in what is left: refused before any HTTP request.
      const refused = yield* Effect.exit(
        LanguageModel.generate({ ...request, maxTokens: 600 }).pipe(Effect.provide(Layer.orDie(limited)))
      )
      expect(refusal(refused)).toMatchObject({ kind: "tokens", provider: "openai", limit: "1000 tokens per 1 minute" })
      expect(yield* count(server)).toBe(1)
    }).pipe(Effect.provide(limiter)))
})
