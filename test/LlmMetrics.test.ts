import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Metric, Stream } from "effect"
import type * as MetricState from "effect/MetricState"
import * as Budget from "../src/Budget.js"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import * as Fallback from "../src/Fallback.js"
import * as Guardrail from "../src/Guardrail.js"
import * as EffectMetrics from "../src/internal/effectMetrics.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmMetrics from "../src/LlmMetrics.js"
import * as Pricing from "../src/Pricing.js"
import * as RateLimit from "../src/RateLimit.js"
import * as Retry from "../src/Retry.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { adjustTo, openAiLayer, secretKey } from "./support/loopback.js"
import { type RecordedSpan, recordingMetrics, recordingTracer } from "./support/observe.js"
import { after, ask, errors, failure, runTo, scripted, success } from "./support/resilience.js"

// Retries without jitter, so every wait is exact.
const exact = Retry.policy({ jitter: 0 })

/** One provider call as the metrics should see it. */
interface Expected {
  readonly provider: string
  readonly model: string
  readonly tenant?: string
  readonly outcome: string
  readonly input?: number
  readonly output?: number
  readonly cached?: number
  readonly retries?: number
  readonly durationMs?: number
  /** Content reached the consumer (a stream stopped before its usage part). */
  readonly delivered?: boolean
}

/** One fallback step taken, as the metrics should see it. */
interface ExpectedFallback {
  readonly provider: string
  readonly model: string
  readonly tenant?: string
}

/** The totals of the expected calls and fallbacks matching `where`. */
const totalsOf = (
  calls: ReadonlyArray<Expected>,
  fallbacks: ReadonlyArray<ExpectedFallback>,
  where: (event: { readonly provider: string; readonly model: string; readonly tenant?: string }) => boolean
): LlmMetrics.Totals => {
  const mine = calls.filter(where)
  const sum = (f: (call: Expected) => number) => mine.reduce((total, call) => total + f(call), 0)
  return {
    requests: mine.length,
    failures: mine.filter((call) => call.outcome !== "success" && call.outcome !== "interrupted").length,
    inputTokens: sum((call) => call.input ?? 0),
    outputTokens: sum((call) => call.output ?? 0),
    cachedInputTokens: sum((call) => call.cached ?? 0),
    reasoningTokens: 0,
    costUsd: 0,
    // These providers are unpriced: every call answered (a usage, a success, content delivered) is unpriced; a
    // call that failed before any content is not.
    unpricedRequests:
      mine.filter((call) => call.outcome === "success" || call.input !== undefined || call.delivered === true).length,
    retries: sum((call) => call.retries ?? 0),
    fallbacks: fallbacks.filter(where).length,
    cacheHits: 0,
    durationMs: sum((call) => call.durationMs ?? 0)
  }
}

const byKey = (
  calls: ReadonlyArray<Expected>,
  fallbacks: ReadonlyArray<ExpectedFallback>,
  key: (event: ExpectedFallback) => string | undefined
): Record<string, LlmMetrics.Totals> => {
  const keys = new Set([...calls, ...fallbacks].flatMap((event) => key(event) ?? []))
  return Object.fromEntries([...keys].map((k) => [k, totalsOf(calls, fallbacks, (event) => key(event) === k)]))
}

/** The metric tags of a call, built the way the library builds them. */
const tagsOf = (
  call: { readonly provider: string; readonly model: string; readonly tenant?: string; outcome: string }
) =>
  EffectMetrics.callTags({
    operation: "generate",
    tenant: call.tenant,
    provider: call.provider,
    model: call.model,
    outcome: call.outcome,
    usage: undefined,
    costUsd: undefined,
    durationMs: 0,
    timeToFirstTokenMs: undefined,
    retries: 0,
    cached: false
  })

const counter = (metric: Metric.Metric.Counter<number>, tags: Record<string, string>) =>
  Effect.map(
    Metric.value(Metric.taggedWithLabels(metric, EffectMetrics.labelsOf(tags))),
    (state: MetricState.MetricState.Counter<number>) => state.count
  )

const histogram = (metric: Metric.Metric.Histogram<number>, tags: Record<string, string>) =>
  Effect.map(
    Metric.value(Metric.taggedWithLabels(metric, EffectMetrics.labelsOf(tags))),
    (state: MetricState.MetricState.Histogram) => ({ count: state.count, sum: state.sum })
  )

const drain = (request: ReturnType<typeof ask>) => LanguageModel.stream(request).pipe(Stream.runDrain)

describe("LlmMetrics.layerMemory", () => {
  it.scoped("totals count every provider call exactly once: successes, retries, fallbacks and streams", () =>
    Effect.gen(function*() {
      const alpha = yield* MockProvider.make({
        script: [
          // 1: a retried generate
          OpenAiMock.error(503),
          OpenAiMock.completion({ usage: { inputTokens: 12, outputTokens: 3 } }),
          // 2: a generate that falls back to beta
          OpenAiMock.error(500),
          // 4: a stream that falls back to beta before its first token
          OpenAiMock.error(503),
          // 5: a stream the consumer stops reading after two parts
          OpenAiMock.stream({ deltas: ["a", "b", "c"], usage: null }, { hang: true, done: false })
        ]
      })
      const beta = yield* MockProvider.make({
        script: [
          OpenAiMock.completion({ usage: { inputTokens: 20, outputTokens: 7, cachedInputTokens: 4 } }),
          OpenAiMock.stream({ deltas: ["x", "y"], usage: { inputTokens: 8, outputTokens: 2 } }),
          OpenAiMock.stream({ deltas: ["x", "y", "z"], usage: { inputTokens: 9, outputTokens: 3 } }),
          OpenAiMock.error(400)
        ]
      })
      const alphaLayer = openAiLayer(alpha, { name: "alpha", retry: exact })
      const betaLayer = openAiLayer(beta, { name: "beta", model: "beta-model", retry: exact })
      const chain = Fallback.layer([{ provide: alphaLayer, retry: false }, { provide: betaLayer }])

      // 1
      success(
        yield* runTo(LanguageModel.generate(ask("1", { tenant: "acme" })).pipe(Effect.provide(alphaLayer)), [500])
      )
      // 2
      yield* LanguageModel.generate(ask("2", { tenant: "acme" })).pipe(Effect.provide(chain))
      // 3
      yield* drain(ask("3", { tenant: "globex" })).pipe(Effect.provide(betaLayer))
      // 4
      yield* drain(ask("4", { tenant: "globex" })).pipe(Effect.provide(chain))
      // 5
      const taken = yield* LanguageModel.stream(ask("5", { tenant: "acme", model: "gpt-4o" })).pipe(
        Stream.take(2),
        Stream.runCollect,
        Effect.provide(alphaLayer)
      )
      expect([...taken].map((part) => part.type)).toEqual(["response-metadata", "text-delta"])
      // 6
      const rejected = yield* LanguageModel.generate(ask("6")).pipe(Effect.provide(betaLayer), Effect.exit)
      expect(failure(rejected)._tag).toBe("InvalidRequest")

      const calls: ReadonlyArray<Expected> = [
        {
          provider: "alpha",
          model: "gpt-4o-mini",
          tenant: "acme",
          outcome: "success",
          input: 12,
          output: 3,
          retries: 1,
          durationMs: 500
        },
        { provider: "alpha", model: "gpt-4o-mini", tenant: "acme", outcome: "ServerError" },
        { provider: "beta", model: "beta-model", tenant: "acme", outcome: "success", input: 20, output: 7, cached: 4 },
        { provider: "beta", model: "beta-model", tenant: "globex", outcome: "success", input: 8, output: 2 },
        { provider: "alpha", model: "gpt-4o-mini", tenant: "globex", outcome: "Overloaded" },
        { provider: "beta", model: "beta-model", tenant: "globex", outcome: "success", input: 9, output: 3 },
        { provider: "alpha", model: "gpt-4o", tenant: "acme", outcome: "interrupted", delivered: true },
        { provider: "beta", model: "beta-model", outcome: "InvalidRequest" }
      ]
      const fallbacks: ReadonlyArray<ExpectedFallback> = [
        { provider: "alpha", model: "gpt-4o-mini", tenant: "acme" },
        { provider: "alpha", model: "gpt-4o-mini", tenant: "globex" }
      ]
      const summary = yield* LlmMetrics.summary
      expect(summary.total).toEqual(totalsOf(calls, fallbacks, () => true))
      // the same, written out, so the table above cannot drift unnoticed
      expect(summary.total).toMatchObject({
        requests: 8,
        failures: 3,
        inputTokens: 49,
        outputTokens: 15,
        cachedInputTokens: 4,
        retries: 1,
        fallbacks: 2,
        durationMs: 500,
        unpricedRequests: 5
      })
      expect(summary.byProvider).toEqual(byKey(calls, fallbacks, (event) => event.provider))
      expect(summary.byModel).toEqual(byKey(calls, fallbacks, (event) => event.model))
      expect(summary.byTenant).toEqual(byKey(calls, fallbacks, (event) => event.tenant))
      expect(Object.keys(summary.byTenant).sort()).toEqual(["acme", "globex"])
      expect(summary.circuitTransitions).toEqual([])
    }).pipe(Effect.provide(LlmMetrics.layerMemory)))

  it.scoped("unpricedRequests counts the answered calls without a cost, not the failures before any content", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [
          OpenAiMock.error(400),
          OpenAiMock.completion({ usage: { inputTokens: 10, outputTokens: 5 } }),
          // a stream its consumer stops before any usage arrives: billed, at a cost the event cannot know
          OpenAiMock.stream({ deltas: ["a", "b", "c"], usage: null }, { hang: true, done: false }),
          // a model missing from the prices
          OpenAiMock.completion({ usage: { inputTokens: 10, outputTokens: 5 } })
        ]
      })
      const priced = Pricing.layer({
        models: { "gpt-4o-mini": { inputPerMillion: 1, outputPerMillion: 2 } },
        dataset: false
      })
      const summary = yield* Effect.gen(function*() {
        expect(failure(yield* Effect.exit(LanguageModel.generate(ask("1"))))._tag).toBe("InvalidRequest")
        yield* LanguageModel.generate(ask("2"))
        yield* LanguageModel.stream(ask("3")).pipe(Stream.take(2), Stream.runDrain)
        yield* LanguageModel.generate(ask("4", { model: "unlisted-model" }))
        return yield* LlmMetrics.summary
      }).pipe(Effect.provide(Layer.mergeAll(openAiLayer(server), priced, LlmMetrics.layerMemory)))
      expect(summary.total).toMatchObject({ requests: 4, failures: 1, unpricedRequests: 2 })
      expect(summary.total.costUsd).toBeCloseTo(0.00002, 12)
      // The 400 cost nothing and is not unpriced; the stopped stream is.
      expect(summary.byModel["gpt-4o-mini"]).toMatchObject({ requests: 3, unpricedRequests: 1 })
      expect(summary.byModel["unlisted-model"]).toMatchObject({ requests: 1, unpricedRequests: 1 })
    }))

  it.scoped("a policy's refusal is not a provider call: no event (budget, rate limit, guardrail, store down)", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [
          OpenAiMock.completion({ usage: { inputTokens: 10, outputTokens: 5 } }),
          OpenAiMock.completion({ text: "the password is x", usage: { inputTokens: 10, outputTokens: 5 } })
        ]
      })
      const provider = Layer.merge(
        openAiLayer(server),
        Pricing.layer({ models: { "gpt-4o-mini": { inputPerMillion: 1, outputPerMillion: 2 } }, dataset: false })
      )
      const down = new Budget.StoreUnavailable({ reason: "not connected", retryAfterMillis: 1000 })
      const closed = Budget.layerStore({
        reserve: () => Effect.fail(down),
        settle: () => Effect.succeed(undefined),
        release: () => Effect.succeed(undefined),
        read: () => Effect.fail(down)
      })
      const refusedBy = (layer: Layer.Layer<LanguageModel.LanguageModel, unknown>, content = "hi") =>
        LanguageModel.generate({ ...ask(content), maxTokens: 5 }).pipe(
          Effect.provide(layer),
          Effect.flip,
          Effect.map((error) => (error as { readonly _tag: string })._tag)
        )
      const tags = [
        yield* refusedBy(Budget.layer(provider, { maxRequestCostUsd: 1e-9 })),
        yield* refusedBy(
          Budget.layer(provider, { defaultLimit: { limitUsd: 1, period: "day" } }).pipe(
            Layer.provide(closed)
          )
        ),
        yield* refusedBy(Guardrail.layer(provider, { input: [Guardrail.denyList(["password"])] }), "my password")
      ]
      // A rate limit of one call: the first reaches the provider (one event), the second is refused.
      const limited = RateLimit.layer(provider, { default: { requests: { limit: 1, window: "1 minute" } } }).pipe(
        Layer.provide(RateLimit.layerMemory)
      )
      const once = yield* Layer.build(limited)
      yield* LanguageModel.generate(ask("1")).pipe(Effect.provide(once))
      tags.push(
        yield* LanguageModel.generate(ask("2")).pipe(Effect.provide(once), Effect.flip, Effect.map((e) => e._tag))
      )
      // An output guardrail blocks after the provider answered: that call is recorded, as the provider ended it.
      tags.push(
        yield* refusedBy(Guardrail.layer(provider, { output: [Guardrail.denyList(["password"])] }))
      )
      expect(tags).toEqual([
        "CostLimitExceeded",
        "PolicyUnavailable",
        "GuardrailBlocked",
        "RateLimitExceeded",
        "GuardrailBlocked"
      ])
      const summary = yield* LlmMetrics.summary
      expect(summary.total).toMatchObject({ requests: 2, failures: 0 })
      expect(yield* server.requests).toHaveLength(2)
    }).pipe(Effect.provide(LlmMetrics.layerMemory)))

  it.scoped("a stream the consumer stops reading is recorded once, as interrupted, not as a failure", () =>
    Effect.gen(function*() {
      const { events, layer: spy, summary } = yield* recordingMetrics
      const server = yield* MockProvider.make({
        script: [OpenAiMock.stream({ deltas: ["a", "b", "c"], usage: null }, { hang: true, done: false })]
      })
      const parts = yield* LanguageModel.stream(ask("hi", { tenant: "acme" })).pipe(
        Stream.take(2),
        Stream.runCollect,
        Effect.provide(openAiLayer(server)),
        Effect.provide(spy)
      )
      expect(parts.length).toBe(2)
      expect(events).toEqual([{
        operation: "stream",
        tenant: "acme",
        provider: "openai",
        model: "gpt-4o-mini",
        outcome: "interrupted",
        usage: undefined,
        costUsd: undefined,
        durationMs: 0,
        timeToFirstTokenMs: 0,
        retries: 0,
        cached: false
      }])
      const { total } = yield* summary
      expect({ requests: total.requests, failures: total.failures }).toEqual({ requests: 1, failures: 0 })
    }))

  it.scoped("a stream's time to first token runs from the call to its first content part, a retry before it included", () =>
    Effect.gen(function*() {
      const { events, layer: spy } = yield* recordingMetrics
      const server = yield* MockProvider.make({
        script: [
          OpenAiMock.error(429, "rate_limit_exceeded", { headers: { "retry-after": "2" } }),
          OpenAiMock.stream({ deltas: ["a", "b"] })
        ]
      })
      const exit = yield* runTo(
        LanguageModel.stream(ask("hi", { tenant: "acme" })).pipe(
          Stream.runCollect,
          Effect.provide(openAiLayer(server)),
          Effect.provide(spy),
          Effect.withRandomFixed([0.5])
        ),
        [2_000]
      )
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(events).toHaveLength(1)
      expect(events[0]).toMatchObject({ operation: "stream", outcome: "success", retries: 1 })
      expect(events[0]!.timeToFirstTokenMs).toBe(2_000)
    }))

  it.effect("a fallback is recorded once per step moved on from, with the failed step's details", () =>
    Effect.gen(function*() {
      const events: Array<LlmMetrics.FallbackEvent> = []
      const spy = Layer.succeed(LlmMetrics.LlmMetrics, {
        ...LlmMetrics.noop,
        recordFallback: (event) => Effect.sync(() => void events.push(event))
      })
      const a = yield* scripted([after(1_500, errors.overloaded("a"))], { provider: "a" })
      const b = yield* scripted([errors.rateLimited("b")], { provider: "b" })
      const c = yield* scripted([{ text: "c" }], { provider: "c" })
      const chain = Fallback.layer([{ provide: a.layer }, { provide: b.layer, model: "b-model" }, { provide: c.layer }])
      const exit = yield* runTo(
        LanguageModel.generate(ask("hi", { tenant: "acme" })).pipe(Effect.provide(chain), Effect.provide(spy)),
        [1_500]
      )
      expect(success(exit).provider).toBe("c")
      expect(events).toEqual([
        { tenant: "acme", fromStep: 0, provider: "a", model: "test-model", error: "Overloaded", durationMs: 1_500 },
        { tenant: "acme", fromStep: 1, provider: "b", model: "b-model", error: "RateLimited", durationMs: 0 }
      ])
    }))
})

describe("LlmMetrics.layerEffectMetrics", () => {
  it.scoped("counters and histograms read back from the Metric registry", () =>
    Effect.gen(function*() {
      // Effect metrics are global per name and labels: this test's provider, model and tenant are unique.
      const main = yield* MockProvider.make({
        script: [
          OpenAiMock.error(503),
          OpenAiMock.completion({ usage: { inputTokens: 12, outputTokens: 3 } }),
          OpenAiMock.completion({ usage: { inputTokens: 30, outputTokens: 7 } }),
          OpenAiMock.error(400),
          OpenAiMock.stream({ deltas: ["x", "y"], usage: { inputTokens: 5, outputTokens: 2 } }, { delay: "1 second" }),
          OpenAiMock.error(503)
        ]
      })
      const backup = yield* MockProvider.make({
        script: [OpenAiMock.completion({ usage: { inputTokens: 1, outputTokens: 1 } })]
      })
      const provider = "effect-metrics-main"
      const model = "effect-metrics-model"
      const tenant = "effect-metrics-tenant"
      const mainLayer = openAiLayer(main, { name: provider, model, retry: exact })
      const backupLayer = openAiLayer(backup, { name: "effect-metrics-backup", model, retry: exact })
      const request = ask("hi", { tenant })

      success(yield* runTo(LanguageModel.generate(request).pipe(Effect.provide(mainLayer)), [500]))
      yield* LanguageModel.generate(request).pipe(Effect.provide(mainLayer))
      yield* LanguageModel.generate(request).pipe(Effect.provide(mainLayer), Effect.exit)
      success(yield* runTo(drain(request).pipe(Effect.provide(mainLayer)), [1_500]))
      yield* LanguageModel.generate(request).pipe(
        Effect.provide(Fallback.layer([{ provide: mainLayer, retry: false }, { provide: backupLayer }]))
      )

      const ok = tagsOf({ provider, model, tenant, outcome: "success" })
      expect(ok).toEqual({
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.system": provider,
        "gen_ai.request.model": model,
        "liter_llm.tenant": tenant
      })
      expect(yield* counter(EffectMetrics.requests, ok)).toBe(3)
      expect(yield* counter(EffectMetrics.requests, tagsOf({ provider, model, tenant, outcome: "InvalidRequest" })))
        .toBe(1)
      expect(yield* counter(EffectMetrics.requests, tagsOf({ provider, model, tenant, outcome: "Overloaded" })))
        .toBe(1)
      expect(
        yield* counter(
          EffectMetrics.requests,
          tagsOf({ provider: "effect-metrics-backup", model, tenant, outcome: "success" })
        )
      ).toBe(1)
      expect(yield* counter(EffectMetrics.retries, ok)).toBe(1)
      expect(yield* histogram(EffectMetrics.tokenUsage, { ...ok, "gen_ai.token.type": "input" })).toEqual({
        count: 3,
        sum: 12 + 30 + 5
      })
      expect(yield* histogram(EffectMetrics.tokenUsage, { ...ok, "gen_ai.token.type": "output" })).toEqual({
        count: 3,
        sum: 3 + 7 + 2
      })
      // 0.5 s (the retried call) + 0 s + 1 s (the stream, all of it at 1 s)
      expect(yield* histogram(EffectMetrics.operationDuration, ok)).toEqual({ count: 3, sum: 1.5 })
      expect(yield* histogram(EffectMetrics.timeToFirstToken, ok)).toEqual({ count: 1, sum: 1 })
      expect(
        yield* histogram(
          EffectMetrics.operationDuration,
          tagsOf({ provider, model, tenant, outcome: "InvalidRequest" })
        )
      ).toEqual({ count: 1, sum: 0 })
      expect(
        yield* counter(EffectMetrics.fallbacks, {
          "gen_ai.provider.name": provider,
          "gen_ai.system": provider,
          "error.type": "Overloaded",
          "liter_llm.tenant": tenant
        })
      ).toBe(1)
      // the summary is not kept by this layer
      expect((yield* LlmMetrics.summary).total.requests).toBe(0)
    }).pipe(Effect.provide(LlmMetrics.layerEffectMetrics)))

  it.effect("circuit transitions are counted per key and target state", () =>
    Effect.gen(function*() {
      const model = yield* scripted([errors.overloaded(), { text: "ok" }])
      const guarded = CircuitBreaker.layer(model.layer, { key: "effect-metrics-circuit", minimumCalls: 1 })
      yield* LanguageModel.generate(ask()).pipe(Effect.provide(guarded), Effect.exit)
      yield* adjustTo(30_000)
      yield* LanguageModel.generate(ask()).pipe(Effect.provide(guarded))
      const transitions = (state: string) =>
        counter(EffectMetrics.circuitTransitions, { "liter_llm.circuit": "effect-metrics-circuit", state })
      expect([yield* transitions("open"), yield* transitions("half-open"), yield* transitions("closed")]).toEqual([
        1,
        1,
        1
      ])
    }).pipe(Effect.provide(Layer.merge(LlmMetrics.layerEffectMetrics, CircuitBreaker.layerMemory))))
})

describe("LlmMetrics.layer", () => {
  it.scoped("updates both the summary and the Effect metrics", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [OpenAiMock.completion({ usage: { inputTokens: 21, outputTokens: 4 } }), OpenAiMock.error(500)]
      })
      const layer = openAiLayer(server, { name: "both-provider", model: "both-model", retry: false })
      const guarded = CircuitBreaker.layer(layer, { key: "both-circuit", minimumCalls: 1 })
      yield* LanguageModel.generate(ask()).pipe(Effect.provide(guarded))
      yield* LanguageModel.generate(ask()).pipe(Effect.provide(guarded), Effect.exit)
      const summary = yield* LlmMetrics.summary
      expect(summary.byModel["both-model"]).toMatchObject({
        requests: 2,
        failures: 1,
        inputTokens: 21,
        outputTokens: 4
      })
      expect(summary.circuitTransitions).toEqual([{ key: "both-circuit", from: "closed", to: "open", at: 0 }])
      const ok = tagsOf({ provider: "both-provider", model: "both-model", outcome: "success" })
      expect(yield* counter(EffectMetrics.requests, ok)).toBe(1)
      expect(
        yield* counter(
          EffectMetrics.requests,
          tagsOf({ provider: "both-provider", model: "both-model", outcome: "ServerError" })
        )
      ).toBe(1)
      expect(yield* histogram(EffectMetrics.tokenUsage, { ...ok, "gen_ai.token.type": "input" })).toEqual({
        count: 1,
        sum: 21
      })
      expect(
        yield* counter(EffectMetrics.circuitTransitions, { "liter_llm.circuit": "both-circuit", state: "open" })
      ).toBe(1)
    }).pipe(Effect.provide(Layer.merge(LlmMetrics.layer, CircuitBreaker.layerMemory))))
})

describe("spans and secrets", () => {
  it.scoped("a provider call runs in a `chat <model>` span with GenAI attributes, and nothing holds the key", () =>
    Effect.gen(function*() {
      const spans: Array<RecordedSpan> = []
      const echo = `Incorrect API key provided: ${secretKey}.`
      const server = yield* MockProvider.make({
        script: [
          OpenAiMock.completion({ id: "chatcmpl-span", usage: { inputTokens: 17, outputTokens: 6 } }),
          OpenAiMock.stream({ deltas: ["a"], usage: { inputTokens: 3, outputTokens: 1 } }),
          OpenAiMock.error(401, "invalid_api_key", { message: echo })
        ]
      })
      const layer = openAiLayer(server)
      const traced = <A, E, R>(effect: Effect.Effect<A, E, R>) => effect.pipe(Effect.withTracer(recordingTracer(spans)))
      yield* traced(
        LanguageModel.generate({ ...ask("hi", { model: "span-model", tenant: "span-tenant" }), maxTokens: 50 }).pipe(
          Effect.provide(layer)
        )
      )
      yield* traced(drain(ask("hi", { model: "span-stream-model" })).pipe(Effect.provide(layer)))
      yield* traced(
        LanguageModel.generate(ask("hi", { model: "span-401-model" })).pipe(Effect.provide(layer), Effect.exit)
      )

      const chat = spans.find((span) => span.name === "chat span-model")
      expect(chat).toBeDefined()
      expect(Object.fromEntries(chat!.attributes)).toMatchObject({
        "gen_ai.operation.name": "chat",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "span-model",
        "gen_ai.request.max_tokens": 50,
        "gen_ai.response.id": "chatcmpl-span",
        "gen_ai.usage.input_tokens": 17,
        "gen_ai.usage.output_tokens": 6
      })
      const stream = spans.find((span) => span.name === "chat span-stream-model")
      expect(stream && Object.fromEntries(stream.attributes)).toMatchObject({
        "gen_ai.system": "openai",
        "gen_ai.request.model": "span-stream-model",
        "gen_ai.request.stream": true
      })
      expect(spans.some((span) => span.name === "chat span-401-model")).toBe(true)
      const recorded = JSON.stringify(spans.map((span) => [span.name, [...span.attributes]]))
      expect(recorded).not.toContain(secretKey)
      // every metric label of every metric in the registry, and the summary
      const labels = (yield* Metric.snapshot).flatMap((pair) =>
        pair.metricKey.tags.map((tag) => `${pair.metricKey.name} ${tag.key}=${tag.value}`)
      )
      expect(labels.some((label) => label.includes("span-model"))).toBe(true)
      for (const label of labels) expect(label).not.toContain(secretKey)
      expect(JSON.stringify(yield* LlmMetrics.summary)).not.toContain(secretKey)
      // the key did go out, in its header
      expect((yield* server.requests).every((request) => request.headers.authorization === `Bearer ${secretKey}`))
        .toBe(true)
    }).pipe(Effect.provide(LlmMetrics.layer)))
})
