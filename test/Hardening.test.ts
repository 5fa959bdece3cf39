/**
 * Regressions: hostile or unusual input must end in a typed error, and policies must not get stuck.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Cause, ConfigProvider, Duration, Effect, Exit, Fiber, Layer, Redacted, Schema, TestClock } from "effect"
import * as Budget from "../src/Budget.js"
import type * as ChatRequest from "../src/ChatRequest.js"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import * as Errors from "../src/internal/errors.js"
import * as OpenAiErrors from "../src/internal/openai/errors.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import * as Anthropic from "../src/providers/Anthropic.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as RateLimit from "../src/RateLimit.js"
import * as Router from "../src/Router.js"
import * as StreamPart from "../src/StreamPart.js"
import * as AnthropicMock from "../src/testing/AnthropicMock.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import * as Tokenizer from "../src/Tokenizer.js"
import { awaitSleepUntil, openAiLayer, secretKey } from "./support/loopback.js"
import { ask, failure, scripted } from "./support/resilience.js"

describe("hostile input is a typed error, never a defect", () => {
  it("an error code naming an Object member (constructor, __proto__) maps by status", () => {
    for (const code of ["constructor", "__proto__", "toString", "hasOwnProperty"]) {
      const error = Errors.fromResponse(
        { provider: "openai", secrets: [] },
        OpenAiErrors.classifyError,
        { status: 400, headers: {}, bodyText: JSON.stringify({ error: { message: "bad", code } }) },
        0
      )
      expect(error._tag).toBe("InvalidRequest")
      expect(error.status).toBe(400)
    }
  })

  it.scoped("a request holding a value JSON cannot encode fails with InvalidRequest before any call", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [OpenAiMock.completion()] })
      const exit = yield* LanguageModel.generate({
        messages: [
          { role: "user", content: "hi" },
          { role: "assistant", content: [{ type: "tool-call", id: "c1", name: "f", arguments: { n: 1n } }] }
        ]
      }).pipe(Effect.provide(openAiLayer(server)), Effect.exit)
      expect(failure(exit)._tag).toBe("InvalidRequest")
      expect(failure(exit).message).toContain("JSON")
      expect(yield* server.requests).toHaveLength(0)
    }))

  it.scoped("tool-call arguments nested 5 000 deep: counted without a defect, InvalidRequest through the policies that estimate", () =>
    Effect.gen(function*() {
      const deep = JSON.parse("[".repeat(5_000) + "]".repeat(5_000)) as unknown
      const request: ChatRequest.ChatRequest = {
        model: "gpt-4o",
        messages: [
          { role: "user", content: "hi" },
          { role: "assistant", content: [{ type: "tool-call", id: "c1", name: "f", arguments: deep }] }
        ]
      }
      // The estimate every budget, rate limit and context window takes: a number, never a stack overflow.
      expect(Tokenizer.byModel.countRequest(request, "gpt-4o")).toBeGreaterThan(0)
      const server = yield* MockProvider.make({ script: [OpenAiMock.completion()] })
      const governed = Budget.layer(
        RateLimit.layer(openAiLayer(server), { default: { tokens: { limit: 1_000_000, window: "1 minute" } } }),
        { defaultLimit: { limitUsd: 100, period: "day" } }
      ).pipe(Layer.provide([Budget.layerMemory, RateLimit.layerMemory]))
      const exit = yield* LanguageModel.generate(request).pipe(Effect.provide(governed), Effect.exit)
      expect(failure(exit)._tag).toBe("InvalidRequest")
      expect(yield* server.requests).toHaveLength(0)
    }))

  it.effect("generateObject with a Schema that has no JSON Schema fails, it does not throw", () =>
    Effect.gen(function*() {
      const model = yield* scripted([{ text: "{}" }])
      const exit = yield* Effect.suspend(() =>
        LanguageModel.generateObject({ ...ask("?"), schema: Schema.Struct({ n: Schema.BigIntFromSelf }) })
      ).pipe(Effect.provide(model.layer), Effect.exit)
      expect(failure(exit)._tag).toBe("InvalidRequest")
      expect(yield* model.calls).toBe(0)
    }))

  it.effect("generateObject of a request that is no object, or of a schema that is no Schema, fails at once", () =>
    Effect.gen(function*() {
      const model = yield* scripted([{ text: "{}" }])
      const messageOf = (request: unknown) => {
        // Called as JavaScript would: the call itself must not throw.
        const effect = LanguageModel.generateObject(request as LanguageModel.ObjectRequest<unknown, unknown>)
        return effect.pipe(Effect.provide(model.layer), Effect.flip, Effect.map((error) => [error._tag, error.message]))
      }
      expect(yield* messageOf(null)).toEqual([
        "InvalidRequest",
        "generateObject: expected a request object, got null"
      ])
      expect(yield* messageOf(ask("?"))).toEqual([
        "InvalidRequest",
        "generateObject: `schema` must be an effect/Schema, got undefined"
      ])
      expect(yield* messageOf({ ...ask("?"), schema: { type: "object" } })).toEqual([
        "InvalidRequest",
        "generateObject: `schema` must be an effect/Schema, got {\"type\":\"object\"}"
      ])
      expect(yield* model.calls).toBe(0)
    }))

  it.effect("OpenAi.layerConfig takes apiKey from options without OPENAI_API_KEY", () =>
    Effect.gen(function*() {
      const layer = OpenAi.layerConfig({ apiKey: Redacted.make(secretKey), baseUrl: "http://127.0.0.1:9/v1" })
      const built = yield* Layer.build(layer.pipe(Layer.provide(NodeHttpClient.layerUndici))).pipe(
        Effect.scoped,
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map())),
        Effect.exit
      )
      expect(Exit.isSuccess(built)).toBe(true)
    }))
})

const messageStart = AnthropicMock.frame({
  type: "message_start",
  message: {
    id: "msg_1",
    type: "message",
    role: "assistant",
    model: "claude",
    content: [],
    usage: { input_tokens: 5, output_tokens: 1 }
  }
})

describe("streams and whole responses agree", () => {
  it.scoped("Anthropic redacted thinking streamed is marked redacted, as in a whole response", () =>
    Effect.gen(function*() {
      const frame = AnthropicMock.frame
      const server = yield* MockProvider.make({
        script: [MockProvider.stream([
          messageStart,
          frame({ type: "content_block_start", index: 0, content_block: { type: "thinking", thinking: "" } }),
          frame({ type: "content_block_delta", index: 0, delta: { type: "thinking_delta", thinking: "hmm" } }),
          frame({ type: "content_block_delta", index: 0, delta: { type: "signature_delta", signature: "sig" } }),
          frame({ type: "content_block_stop", index: 0 }),
          frame({ type: "content_block_start", index: 1, content_block: { type: "redacted_thinking", data: "ENC" } }),
          frame({ type: "content_block_stop", index: 1 }),
          frame({ type: "content_block_start", index: 2, content_block: { type: "text", text: "" } }),
          frame({ type: "content_block_delta", index: 2, delta: { type: "text_delta", text: "Hi" } }),
          frame({ type: "content_block_stop", index: 2 }),
          frame({ type: "message_delta", delta: { stop_reason: "end_turn" }, usage: { output_tokens: 7 } }),
          frame({ type: "message_stop" })
        ])]
      })
      const response = yield* StreamPart.collect(LanguageModel.stream(ask())).pipe(
        Effect.provide(
          Anthropic.layer({ apiKey: Redacted.make(secretKey), baseUrl: server.url, model: "claude" }).pipe(
            Layer.provide(NodeHttpClient.layerUndici)
          )
        )
      )
      expect(response.content).toEqual([
        { type: "reasoning", text: "hmm", signature: "sig" },
        { type: "reasoning", text: "", signature: "redacted_thinking:ENC", redacted: true },
        { type: "text", text: "Hi" }
      ])
    }))
})

describe("invalid streams are typed errors, not silent losses", () => {
  it.scoped("Anthropic tool arguments for a content block never started: MalformedResponse, not a dropped call", () =>
    Effect.gen(function*() {
      const frame = AnthropicMock.frame
      const server = yield* MockProvider.make({
        script: [MockProvider.stream([
          messageStart,
          frame({
            type: "content_block_delta",
            index: 3,
            delta: { type: "input_json_delta", partial_json: "{\"a\":1}" }
          }),
          frame({ type: "message_delta", delta: { stop_reason: "tool_use" }, usage: { output_tokens: 7 } }),
          frame({ type: "message_stop" })
        ])]
      })
      const exit = yield* StreamPart.collect(LanguageModel.stream(ask())).pipe(
        Effect.provide(
          Anthropic.layer({ apiKey: Redacted.make(secretKey), baseUrl: server.url, model: "claude", retry: false })
            .pipe(Layer.provide(NodeHttpClient.layerUndici))
        ),
        Effect.exit
      )
      expect(Exit.isFailure(exit) && Cause.failureOption(exit.cause)).toMatchObject({
        value: {
          _tag: "MalformedResponse",
          message: expect.stringContaining("content block 3, which was never started")
        }
      })
    }))
})

describe("policies do not get stuck", () => {
  it.effect("a huge Retry-After opens the breaker for at most maxOpen, and its refusals are typed", () =>
    Effect.gen(function*() {
      const model = yield* scripted([
        new LlmError.RateLimited({ provider: "p", message: "come back never", retryAfter: Duration.millis(9e15) }),
        { text: "unused" }
      ])
      const layer = CircuitBreaker.layer(model.layer, { key: "huge", maxOpen: "1 hour" })
      yield* LanguageModel.generate(ask()).pipe(Effect.provide(layer), Effect.exit)
      const state = yield* CircuitBreaker.state("huge")
      expect(state).toMatchObject({ state: "open", until: 3_600_000 })
      const refused = yield* LanguageModel.generate(ask()).pipe(Effect.provide(layer), Effect.exit)
      expect(failure(refused)).toMatchObject({ _tag: "CircuitOpen", until: 3_600_000 })
    }).pipe(Effect.provide(CircuitBreaker.layerMemory)))

  it.effect("an interrupt while a slow store takes the probe permit does not leave it taken", () =>
    Effect.gen(function*() {
      const memory = CircuitBreaker.makeMemoryStore()
      // A store that commits, then takes 5 ms to answer, as a network store would.
      const slow: CircuitBreaker.Store = {
        get: memory.get,
        modify: (key, f) => Effect.zipLeft(memory.modify(key, f), Effect.sleep("5 millis"))
      }
      const model = yield* scripted([new LlmError.Overloaded({ provider: "p", message: "busy" }), { text: "ok" }])
      const layer = CircuitBreaker.layer(model.layer, { key: "slow", minimumCalls: 1, cooldown: "1 second" })
      const call = LanguageModel.generate(ask()).pipe(Effect.provide(layer))
      const registry = Layer.succeed(CircuitBreaker.Registry, CircuitBreaker.makeRegistry(slow))
      yield* Effect.gen(function*() {
        // 1: fails, the breaker opens until 1 s (+ the store's delays)
        const first = yield* Effect.fork(call)
        yield* TestClock.adjust("10 millis")
        expect(failure(yield* Fiber.await(first))._tag).toBe("Overloaded")
        yield* TestClock.adjust("2 seconds")
        // 2: takes the half-open probe permit, and is interrupted while the store answers
        const probe = yield* Effect.fork(call)
        yield* awaitSleepUntil(2015)
        yield* Fiber.interruptFork(probe)
        yield* TestClock.adjust("10 millis")
        yield* Fiber.await(probe)
        expect((yield* CircuitBreaker.state("slow")).state).toBe("half-open")
        // 3: the slot was given back, so this call probes, succeeds and closes the breaker
        const next = yield* Effect.fork(call)
        yield* TestClock.adjust("20 millis")
        expect(Exit.isSuccess(yield* Fiber.await(next))).toBe(true)
        expect((yield* CircuitBreaker.state("slow")).state).toBe("closed")
      }).pipe(Effect.provide(registry))
    }))

  it.effect("weights: a negative one is a typed error on every call; a zero one takes no traffic", () =>
    Effect.gen(function*() {
      const a = yield* scripted(Array.from({ length: 5 }, () => ({ text: "a" })), { provider: "a" })
      const b = yield* scripted(Array.from({ length: 5 }, () => ({ text: "b" })), { provider: "b" })
      const negative = Router.layer([{ name: "a", provide: a.layer, weight: -1 }, { name: "b", provide: b.layer }], {
        strategy: "weighted"
      })
      const exit = yield* LanguageModel.generate(ask()).pipe(Effect.provide(negative), Effect.exit)
      expect(failure(exit)).toMatchObject({ _tag: "InvalidRequest", provider: "router" })
      expect(failure(exit).message).toContain("weight -1")
      const zero = Router.layer([{ name: "a", provide: a.layer, weight: 0 }, { name: "b", provide: b.layer }], {
        strategy: "weighted"
      })
      // random 0 would pick the first deployment if zero weights counted
      yield* LanguageModel.generate(ask()).pipe(Effect.provide(zero), Effect.withRandomFixed([0]))
      yield* LanguageModel.generate(ask()).pipe(Effect.provide(zero), Effect.withRandomFixed([0.99]))
      expect([yield* a.calls, yield* b.calls]).toEqual([0, 2])
    }))

  it.effect("least-latency does not keep choosing a deployment that always fails", () =>
    Effect.gen(function*() {
      const bad = yield* scripted(
        Array.from({ length: 10 }, () => new LlmError.ServerError({ provider: "bad", message: "500" })),
        { provider: "bad" }
      )
      const good = yield* scripted(Array.from({ length: 10 }, () => ({ text: "ok" })), { provider: "good" })
      const router = Router.layer([
        { name: "bad", provide: bad.layer },
        { name: "good", provide: good.layer }
      ], { strategy: "least-latency" })
      yield* Effect.forEach(Array.from({ length: 6 }), () => LanguageModel.generate(ask()).pipe(Effect.exit), {
        discard: true
      }).pipe(Effect.provide(router))
      // each is tried once while unmeasured; afterwards the failing one ranks last
      expect(yield* bad.calls).toBe(1)
      expect(yield* good.calls).toBe(5)
    }))
})
