import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Schema, Stream } from "effect"
import type * as ChatRequest from "../src/ChatRequest.js"
import type * as ChatResponse from "../src/ChatResponse.js"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import * as Fallback from "../src/Fallback.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as Router from "../src/Router.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { adjustTo, arrivals, openAiLayer } from "./support/loopback.js"
import { ask, count, errors, failure, runTo, scripted, success } from "./support/resilience.js"

/** A script answering `provider` many times. */
const always = (provider: string) => Array.from({ length: 20 }, () => ({ text: provider }))

const generate = (request: ChatRequest.Input = ask()) => LanguageModel.generate(request)

const providerOf = (exit: Exit.Exit<ChatResponse.ChatResponse, unknown>) =>
  Exit.isSuccess(exit) ? exit.value.provider : "failed"

describe("Router strategies", () => {
  it.scoped("priority: the lowest priority wins, then declaration order; a deployment's model is used", () =>
    Effect.gen(function*() {
      const a = yield* scripted(always("a"), { provider: "a" })
      const b = yield* scripted(always("b"), { provider: "b" })
      const c = yield* scripted(always("c"), { provider: "c" })
      const router = yield* Layer.build(Router.layer([
        { name: "a", provide: a.layer, priority: 2 },
        { name: "b", provide: b.layer, priority: 1, model: "gpt-4o-east" },
        { name: "c", provide: c.layer, priority: 1 }
      ], { strategy: "priority" }))
      for (let i = 0; i < 3; i++) expect((yield* generate().pipe(Effect.provide(router))).provider).toBe("b")
      expect([yield* a.calls, yield* b.calls, yield* c.calls]).toEqual([0, 3, 0])
      expect(yield* b.models).toEqual(["gpt-4o-east", "gpt-4o-east", "gpt-4o-east"])
      // an unset priority is 0
      const unset = yield* Layer.build(Router.layer([
        { name: "a", provide: a.layer },
        { name: "c", provide: c.layer, priority: -1 }
      ], { strategy: "priority" }))
      expect((yield* generate().pipe(Effect.provide(unset))).provider).toBe("c")
    }))

  it.scoped("weighted: Effect's Random picks by the cumulative weights", () =>
    Effect.gen(function*() {
      const a = yield* scripted(always("a"), { provider: "a" })
      const b = yield* scripted(always("b"), { provider: "b" })
      const c = yield* scripted(always("c"), { provider: "c" })
      const threeToOne = yield* Layer.build(Router.layer([
        { name: "a", provide: a.layer, weight: 3 },
        { name: "b", provide: b.layer, weight: 1 }
      ], { strategy: "weighted" }))
      const picks: Array<string> = []
      // 3:1 splits [0, 1) at 0.75
      for (const random of [0, 0.5, 0.7499, 0.75, 0.9, 0.9999]) {
        picks.push((yield* generate().pipe(Effect.provide(threeToOne), Effect.withRandomFixed([random]))).provider)
      }
      expect(picks).toEqual(["a", "a", "a", "b", "b", "b"])
      // unset weights are 1: thirds
      const even = yield* Layer.build(Router.layer([
        { name: "a", provide: a.layer },
        { name: "b", provide: b.layer },
        { name: "c", provide: c.layer }
      ], { strategy: "weighted" }))
      const thirds: Array<string> = []
      for (const random of [0.3, 0.5, 0.7]) {
        thirds.push((yield* generate().pipe(Effect.provide(even), Effect.withRandomFixed([random]))).provider)
      }
      expect(thirds).toEqual(["a", "b", "c"])
    }))

  it.scoped("least-latency: unmeasured first, then the lowest moving average of call durations", () =>
    Effect.gen(function*() {
      const slow = yield* MockProvider.make({
        onExhausted: OpenAiMock.completion({ text: "slow" }, { delay: "2 seconds" })
      })
      const fast = yield* MockProvider.make({
        script: [
          OpenAiMock.completion({ text: "fast" }, { delay: "500 millis" }),
          OpenAiMock.completion({ text: "fast" }, { delay: "4 seconds" }),
          OpenAiMock.completion({ text: "fast" }, { delay: "4 seconds" })
        ]
      })
      const router = yield* Layer.build(Router.layer([
        { name: "slow", provide: openAiLayer(slow, { name: "slow" }) },
        { name: "fast", provide: openAiLayer(fast, { name: "fast" }) }
      ], { strategy: "least-latency" }))
      const providers: Array<string> = []
      // each call ends at the given virtual time
      for (const end of [2_000, 2_500, 6_500, 10_500, 12_500]) {
        providers.push(providerOf(yield* runTo(generate().pipe(Effect.provide(router)), [end])))
      }
      // slow: 2000. fast: 500, then 0.3 * 4000 + 0.7 * 500 = 1550 (still faster), then 2285 (slower)
      expect(providers).toEqual(["slow", "fast", "fast", "fast", "slow"])
      expect(yield* arrivals(slow)).toEqual([0, 10_500])
      expect(yield* arrivals(fast)).toEqual([2_000, 2_500, 6_500])
    }))

  it.scoped("least-latency: a stream is measured by its time to first token, not its duration", () =>
    Effect.gen(function*() {
      // "early": first token at 2 s, but the stream lasts 5 s; "late": everything at 3 s
      const early = yield* MockProvider.make({
        onExhausted: OpenAiMock.stream({ deltas: ["early"] }, { chunkDelay: "1 second" })
      })
      const late = yield* MockProvider.make({
        onExhausted: OpenAiMock.stream({ deltas: ["late"] }, { delay: "3 seconds" })
      })
      const router = yield* Layer.build(Router.layer([
        { name: "early", provide: openAiLayer(early, { name: "early" }) },
        { name: "late", provide: openAiLayer(late, { name: "late" }) }
      ], { strategy: "least-latency" }))
      const streamText = LanguageModel.stream(ask()).pipe(
        Stream.runFold("", (text, part) => part.type === "text-delta" ? text + part.text : text),
        Effect.provide(router)
      )
      const texts: Array<string> = []
      for (const wakeups of [[1_000, 2_000, 3_000, 4_000, 5_000], [8_000], [9_000, 10_000, 11_000, 12_000, 13_000]]) {
        texts.push(success(yield* runTo(streamText, wakeups)))
      }
      // early: TTFT 2 s (duration 5 s); late: TTFT 3 s (duration 3 s)
      expect(texts).toEqual(["early", "late", "early"])
      expect(yield* arrivals(early)).toEqual([0, 8_000])
      expect(yield* arrivals(late)).toEqual([5_000])
    }))
})

describe("Router eligibility", () => {
  const City = Schema.Struct({ name: Schema.String })

  it.scoped("a request needing tools or a JSON schema skips a deployment without them", () =>
    Effect.gen(function*() {
      const plain = yield* scripted(always("{\"name\":\"plain\"}"), {
        provider: "plain",
        capabilities: { tools: false, jsonSchema: false }
      })
      const full = yield* scripted(always("{\"name\":\"full\"}"), { provider: "full" })
      const router = yield* Layer.build(Router.layer([
        { name: "plain", provide: plain.layer },
        { name: "full", provide: full.layer, priority: 1 }
      ], { strategy: "priority" }))
      const provide = Effect.provide(router)
      expect((yield* provide(generate())).provider).toBe("plain")
      const withTools = yield* provide(LanguageModel.generate({
        ...ask(),
        tools: [{ name: "lookup", parameters: { type: "object", properties: {} } }]
      }))
      expect(withTools.provider).toBe("full")
      const { value } = yield* provide(LanguageModel.generateObject({ ...ask(), schema: City }))
      expect(value).toEqual({ name: "full" })
      expect([yield* plain.calls, yield* full.calls]).toEqual([1, 2])
    }))

  it.scoped("a request estimated larger than a deployment's context window skips it", () =>
    Effect.gen(function*() {
      const small = yield* scripted(always("small"), { provider: "small" })
      const large = yield* scripted(always("large"), { provider: "large" })
      const router = yield* Layer.build(Router.layer([
        { name: "small", provide: small.layer, contextWindow: 100 },
        { name: "large", provide: large.layer, contextWindow: 1_000, priority: 1 }
      ], { strategy: "priority" }))
      const route = (chars: number, maxTokens?: number) =>
        generate({ ...ask("x".repeat(chars)), ...(maxTokens === undefined ? {} : { maxTokens }) }).pipe(
          Effect.provide(router),
          Effect.exit
        )
      // 4 characters per token, plus the output budget
      expect(providerOf(yield* route(400))).toBe("small")
      expect(providerOf(yield* route(401))).toBe("large")
      expect(providerOf(yield* route(396, 1))).toBe("small")
      expect(providerOf(yield* route(396, 2))).toBe("large")
      const tooLarge = failure(yield* route(4_001))
      // only the windows rule the deployments out: a fallback chain can move on to a larger one
      expect(tooLarge).toMatchObject({ _tag: "ContextLengthExceeded", provider: "router" })
      expect(tooLarge.message).toContain("~1001 tokens")
      expect([yield* small.calls, yield* large.calls]).toEqual([2, 2])
    }))

  it.scoped("no eligible deployment is InvalidRequest before any call", () =>
    Effect.gen(function*() {
      const a = yield* scripted(always("a"), { provider: "a", capabilities: { tools: false } })
      const b = yield* scripted(always("b"), { provider: "b", capabilities: { tools: false } })
      const exit = yield* LanguageModel.generate({ ...ask(), tools: [{ name: "f", parameters: {} }] }).pipe(
        Effect.provide(Router.layer([{ name: "a", provide: a.layer }, { name: "b", provide: b.layer }], {
          strategy: "weighted"
        })),
        Effect.exit
      )
      expect(failure(exit)).toMatchObject({ _tag: "InvalidRequest", provider: "router" })
      expect([yield* a.calls, yield* b.calls]).toEqual([0, 0])
    }))
})

describe("Router and circuit breakers", () => {
  it.scoped("an open deployment is skipped without being called, and used again after its cooldown", () =>
    Effect.gen(function*() {
      const a = yield* scripted([errors.overloaded("a"), { text: "a is back" }], { provider: "a" })
      const b = yield* scripted(always("b"), { provider: "b" })
      const router = yield* Layer.build(Router.layer([
        { name: "a", provide: a.layer, circuit: { minimumCalls: 1, cooldown: "30 seconds" } },
        { name: "b", provide: b.layer, priority: 1 }
      ], { strategy: "priority", name: "east" }))
      const route = generate().pipe(Effect.provide(router), Effect.exit)
      // the router does not fall back by itself: the chosen deployment's error is the answer
      expect(failure(yield* route)).toMatchObject({ _tag: "Overloaded", provider: "a" })
      expect(yield* CircuitBreaker.state("east/a")).toMatchObject({ state: "open", until: 30_000 })
      expect(providerOf(yield* route)).toBe("b")
      yield* adjustTo(29_999)
      expect(providerOf(yield* route)).toBe("b")
      expect(yield* a.calls).toBe(1)
      yield* adjustTo(30_000)
      expect(providerOf(yield* route)).toBe("a")
      expect(yield* CircuitBreaker.state("east/a")).toMatchObject({ state: "closed" })
      expect([yield* a.calls, yield* b.calls]).toEqual([2, 2])
    }).pipe(Effect.provide(CircuitBreaker.layerMemory)))

  it.scoped("when every deployment is open, the call fails with the first one's CircuitOpen, calling nobody", () =>
    Effect.gen(function*() {
      const a = yield* scripted([errors.overloaded("a")], { provider: "a" })
      const b = yield* scripted([errors.serverError("b")], { provider: "b" })
      const router = yield* Layer.build(Router.layer([
        { name: "a", provide: a.layer, circuit: { minimumCalls: 1, cooldown: "30 seconds" } },
        { name: "b", provide: b.layer, circuit: { key: "b-key", minimumCalls: 1, cooldown: "10 seconds" } }
      ], { strategy: "priority", name: "east" }))
      const route = generate().pipe(Effect.provide(router), Effect.exit)
      expect(failure(yield* route)._tag).toBe("Overloaded")
      yield* adjustTo(1_000)
      expect(failure(yield* route)._tag).toBe("ServerError")
      expect(yield* CircuitBreaker.state("b-key")).toMatchObject({ state: "open", until: 11_000 })
      expect(failure(yield* route)).toMatchObject({ _tag: "CircuitOpen", key: "east/a", until: 30_000 })
      expect([yield* a.calls, yield* b.calls]).toEqual([1, 1])
    }).pipe(Effect.provide(CircuitBreaker.layerMemory)))

  it.scoped("a router is a step of a fallback chain", () =>
    Effect.gen(function*() {
      const a = yield* scripted([errors.overloaded("a")], { provider: "a" })
      const b = yield* scripted([errors.serverError("b"), { text: "b" }], { provider: "b" })
      const c = yield* scripted(always("c"), { provider: "c" })
      const chain = yield* Layer.build(Fallback.layer([
        {
          provide: Router.layer([
            { name: "a", provide: a.layer, circuit: { minimumCalls: 1 } },
            { name: "b", provide: b.layer, priority: 1 }
          ], { strategy: "priority" })
        },
        { provide: c.layer }
      ]))
      const providers: Array<string> = []
      for (let i = 0; i < 3; i++) providers.push(providerOf(yield* generate().pipe(Effect.provide(chain), Effect.exit)))
      // a fails (and opens) -> c; a is skipped, b fails -> c; b answers
      expect(providers).toEqual(["c", "c", "b"])
      expect([yield* a.calls, yield* b.calls, yield* c.calls]).toEqual([1, 2, 2])
    }).pipe(Effect.provide(CircuitBreaker.layerMemory)))

  it.scoped("the router's breakers also guard streams", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [OpenAiMock.error(500)] })
      const b = yield* scripted(always("b"), { provider: "b" })
      const router = yield* Layer.build(Router.layer([
        { name: "openai", provide: openAiLayer(server, { retry: false }), circuit: { minimumCalls: 1 } },
        { name: "b", provide: b.layer, priority: 1 }
      ], { strategy: "priority" }))
      const stream = LanguageModel.stream(ask()).pipe(Stream.runDrain, Effect.provide(router), Effect.exit)
      expect(failure(yield* stream)._tag).toBe("ServerError")
      expect(Exit.isSuccess(yield* stream)).toBe(true)
      expect([yield* count(server), yield* b.calls]).toEqual([1, 1])
    }).pipe(Effect.provide(CircuitBreaker.layerMemory)))
})
