import { describe, expect, it } from "@effect/vitest"
import type { Layer } from "effect"
import { Effect, ExecutionPlan, Exit, Schema, Stream } from "effect"
import * as ChatResponse from "../src/ChatResponse.js"
import * as Fallback from "../src/Fallback.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import * as Retry from "../src/Retry.js"
import type * as StreamPart from "../src/StreamPart.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { arrivals, openAiLayer, textOf } from "./support/loopback.js"
import { after, ask, count, errors, failure, runTo, scripted, success } from "./support/resilience.js"

const generate = (content = "hi") => LanguageModel.generate(ask(content))

/** Streams through a layer, keeping every part the consumer saw. */
const streamThrough = (layer: Layer.Layer<LanguageModel.LanguageModel>) =>
  Effect.gen(function*() {
    const received: Array<StreamPart.StreamPart> = []
    const exit = yield* LanguageModel.stream(ask("Tell a story")).pipe(
      Stream.runForEach((part) => Effect.sync(() => received.push(part))),
      Effect.provide(layer),
      Effect.exit
    )
    return { exit, received }
  })

describe("Fallback order and predicates", () => {
  it.effect("tries the steps in order while the errors are retryable", () =>
    Effect.gen(function*() {
      const a = yield* scripted([errors.overloaded("a")], { provider: "a" })
      const b = yield* scripted([errors.serverError("b")], { provider: "b" })
      const c = yield* scripted([{ text: "from c" }], { provider: "c" })
      const d = yield* scripted([{ text: "from d" }], { provider: "d" })
      const response = yield* generate().pipe(
        Effect.provide(Fallback.layer([{ provide: a.layer }, { provide: b.layer }, { provide: c.layer }, {
          provide: d.layer
        }]))
      )
      expect(ChatResponse.text(response)).toBe("from c")
      expect(response.provider).toBe("c")
      expect([yield* a.calls, yield* b.calls, yield* c.calls, yield* d.calls]).toEqual([1, 1, 1, 0])
    }))

  it.effect("moves on from RateLimited, Timeout, NetworkError and CircuitOpen by default", () =>
    Effect.gen(function*() {
      const movers: ReadonlyArray<LlmError.LlmError> = [
        errors.rateLimited("a"),
        new LlmError.Timeout({ provider: "a", phase: "request", message: "late" }),
        new LlmError.NetworkError({ provider: "a", message: "reset" }),
        new LlmError.CircuitOpen({ provider: "a", key: "a", until: 30_000, message: "open" })
      ]
      for (const error of movers) {
        const a = yield* scripted([error], { provider: "a" })
        const b = yield* scripted([{ text: "b" }], { provider: "b" })
        const response = yield* generate().pipe(
          Effect.provide(Fallback.layer([{ provide: a.layer }, { provide: b.layer }]))
        )
        expect([error._tag, response.provider, yield* b.calls]).toEqual([error._tag, "b", 1])
      }
    }))

  it.effect("a caller fault (400, 401, quota, content filter) and a non-retryable 5xx do not move on", () =>
    Effect.gen(function*() {
      const stoppers: ReadonlyArray<LlmError.LlmError> = [
        errors.invalid("a"),
        new LlmError.AuthenticationFailed({ provider: "a", status: 401, message: "no" }),
        new LlmError.QuotaExhausted({ provider: "a", status: 429, message: "quota" }),
        new LlmError.ContentFiltered({ provider: "a", status: 400, message: "filtered" }),
        new LlmError.ServerError({ provider: "a", status: 500, shouldRetry: false, message: "x-should-retry: false" }),
        errors.malformed("a")
      ]
      for (const error of stoppers) {
        const a = yield* scripted([error], { provider: "a" })
        const b = yield* scripted([{ text: "b" }], { provider: "b" })
        const exit = yield* generate().pipe(
          Effect.provide(Fallback.layer([{ provide: a.layer }, { provide: b.layer }])),
          Effect.exit
        )
        expect([failure(exit)._tag, yield* b.calls]).toEqual([error._tag, 0])
      }
    }))

  it.scoped("a real 400 from the first provider is returned, the second is never called", () =>
    Effect.gen(function*() {
      const first = yield* MockProvider.make({ script: [OpenAiMock.error(400, "invalid_value")] })
      const second = yield* MockProvider.make({ script: [OpenAiMock.completion({ text: "unused" })] })
      const exit = yield* generate().pipe(
        Effect.provide(Fallback.layer([
          { provide: openAiLayer(first, { name: "alpha" }) },
          { provide: openAiLayer(second, { name: "beta" }) }
        ])),
        Effect.exit
      )
      const error = failure(exit)
      expect(error).toMatchObject({ _tag: "InvalidRequest", provider: "alpha", status: 400 })
      expect(error.attempts).toEqual([
        { step: 0, provider: "alpha", model: "gpt-4o-mini", outcome: "InvalidRequest", durationMs: 0 }
      ])
      expect([yield* count(first), yield* count(second)]).toEqual([1, 0])
    }))

  it.effect.each(
    [
      ["a larger next window", 8_000, 128_000, true],
      ["an equal next window", 8_000, 8_000, false],
      ["a smaller next window", 128_000, 8_000, false],
      ["no window on the failed step", undefined, 32_000, true],
      ["no window on the next step", 8_000, undefined, false]
    ] as const
  )("ContextLengthExceeded with %s", ([, previous, next, moves]) =>
    Effect.gen(function*() {
      const a = yield* scripted([errors.contextLength("a")], { provider: "a" })
      const b = yield* scripted([{ text: "b" }], { provider: "b" })
      const exit = yield* generate().pipe(
        Effect.provide(Fallback.layer([
          { provide: a.layer, contextWindow: previous },
          { provide: b.layer, contextWindow: next }
        ])),
        Effect.exit
      )
      expect(yield* b.calls).toBe(moves ? 1 : 0)
      if (moves) expect(success(exit).provider).toBe("b")
      else expect(failure(exit)._tag).toBe("ContextLengthExceeded")
    }))

  it.effect("the larger window is compared with the step just failed, not the first", () =>
    Effect.gen(function*() {
      const a = yield* scripted([errors.contextLength("a")], { provider: "a" })
      const b = yield* scripted([errors.contextLength("b")], { provider: "b" })
      const c = yield* scripted([{ text: "c" }], { provider: "c" })
      // 8k -> 32k moves on; 32k -> 16k does not, although 16k is larger than the first step's 8k
      const exit = yield* generate().pipe(
        Effect.provide(Fallback.layer([
          { provide: a.layer, contextWindow: 8_000 },
          { provide: b.layer, contextWindow: 32_000 },
          { provide: c.layer, contextWindow: 16_000 }
        ])),
        Effect.exit
      )
      expect(failure(exit)).toMatchObject({ _tag: "ContextLengthExceeded", provider: "b" })
      expect([yield* a.calls, yield* b.calls, yield* c.calls]).toEqual([1, 1, 0])
    }))

  it.effect("a custom `when` decides alone: it may move on from a 400 and refuse a 503", () =>
    Effect.gen(function*() {
      const a = yield* scripted([errors.invalid("a"), errors.overloaded("a")], { provider: "a" })
      const b = yield* scripted([{ text: "b" }, { text: "unused" }], { provider: "b" })
      const seen: Array<string> = []
      const layer = Fallback.layer([{ provide: a.layer }, {
        provide: b.layer,
        when: (error) => {
          seen.push(error._tag)
          return error._tag === "InvalidRequest"
        }
      }])
      const first = yield* generate().pipe(Effect.provide(layer))
      expect(first.provider).toBe("b")
      const second = yield* generate().pipe(Effect.provide(layer), Effect.exit)
      expect(failure(second)._tag).toBe("Overloaded")
      expect(seen).toEqual(["InvalidRequest", "Overloaded"])
      expect([yield* a.calls, yield* b.calls]).toEqual([2, 1])
    }))
})

describe("Fallback eligibility", () => {
  it.effect("a step lacking a capability the request needs is skipped, not called", () =>
    Effect.gen(function*() {
      const noTools = yield* scripted([{ text: "never" }], { provider: "plain", capabilities: { tools: false } })
      const tools = yield* scripted([{ text: "with tools" }], { provider: "tools" })
      const response = yield* LanguageModel.generate({ ...ask("weather?"), tools: [{ name: "w", parameters: {} }] })
        .pipe(Effect.provide(Fallback.layer([{ provide: noTools.layer }, { provide: tools.layer }])))
      expect(ChatResponse.text(response)).toBe("with tools")
      expect(yield* noTools.calls).toBe(0)
      // without tools, the first step serves as usual
      const plain = yield* scripted([{ text: "plain" }], { provider: "plain", capabilities: { tools: false } })
      const other = yield* scripted([], { provider: "tools" })
      expect(ChatResponse.text(
        yield* generate().pipe(
          Effect.provide(Fallback.layer([{ provide: plain.layer }, { provide: other.layer }]))
        )
      )).toBe("plain")
    }))

  it.effect("no step able to serve the request is InvalidRequest before any call", () =>
    Effect.gen(function*() {
      const a = yield* scripted([{ text: "a" }], { provider: "a", capabilities: { vision: false } })
      const b = yield* scripted([{ text: "b" }], { provider: "b", capabilities: { vision: false } })
      const exit = yield* LanguageModel.generate({
        messages: [{ role: "user", content: [{ type: "image", url: "https://example.invalid/cat.png" }] }]
      }).pipe(Effect.provide(Fallback.layer([{ provide: a.layer }, { provide: b.layer }])), Effect.exit)
      expect(failure(exit)).toMatchObject({ _tag: "InvalidRequest" })
      expect(failure(exit).message).toContain("images")
      expect((yield* a.calls) + (yield* b.calls)).toBe(0)
    }))

  it.effect("a context overflow skips a step no larger than the failed one to reach a larger window", () =>
    Effect.gen(function*() {
      const small = yield* scripted([errors.contextLength("small")], { provider: "small" })
      const sameSize = yield* scripted([{ text: "never" }], { provider: "same" })
      const large = yield* scripted([{ text: "from the large model" }], { provider: "large" })
      const response = yield* generate().pipe(Effect.provide(Fallback.layer([
        { provide: small.layer, contextWindow: 8_000 },
        { provide: sameSize.layer, contextWindow: 8_000 },
        { provide: large.layer, contextWindow: 128_000 }
      ])))
      expect(ChatResponse.text(response)).toBe("from the large model")
      expect(yield* sameSize.calls).toBe(0)
    }))
})

describe("Fallback retries per step", () => {
  it.scoped("a step's retry replaces its provider layer's own policy, at exact times", () =>
    Effect.gen(function*() {
      const alpha = yield* MockProvider.make({ onExhausted: OpenAiMock.error(503) })
      const beta = yield* MockProvider.make({ script: [OpenAiMock.error(503), OpenAiMock.completion({ text: "no" })] })
      const gamma = yield* MockProvider.make({
        script: [OpenAiMock.error(500), OpenAiMock.completion({ text: "from gamma" })]
      })
      const exit = yield* runTo(
        generate().pipe(
          Effect.provide(Fallback.layer([
            // the layer would make 6 attempts; the step allows 2
            {
              provide: openAiLayer(alpha, { name: "alpha", retry: Retry.policy({ times: 5, jitter: 0 }) }),
              retry: Retry.policy({ times: 1, jitter: 0 })
            },
            // the layer retries by default; the step allows one attempt
            { provide: openAiLayer(beta, { name: "beta" }), retry: false },
            // no step policy: the layer's own (one retry after 2 s) applies
            {
              provide: openAiLayer(gamma, {
                name: "gamma",
                retry: Retry.policy({ times: 1, base: "2 seconds", jitter: 0 })
              })
            }
          ]))
        ),
        [500, 2500]
      )
      expect(ChatResponse.text(success(exit))).toBe("from gamma")
      expect(yield* arrivals(alpha)).toEqual([0, 500])
      expect(yield* arrivals(beta)).toEqual([500])
      expect(yield* arrivals(gamma)).toEqual([500, 2500])
    }))

  it.scoped("a step's retry also governs its stream before the first token", () =>
    Effect.gen(function*() {
      const alpha = yield* MockProvider.make({ onExhausted: OpenAiMock.error(503) })
      const beta = yield* MockProvider.make({ script: [OpenAiMock.stream({ deltas: ["ok"] })] })
      const { exit, received } = yield* streamThrough(Fallback.layer([
        { provide: openAiLayer(alpha, { name: "alpha" }), retry: false },
        { provide: openAiLayer(beta, { name: "beta" }) }
      ]))
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(textOf(received)).toBe("ok")
      expect([yield* count(alpha), yield* count(beta)]).toEqual([1, 1])
    }))
})

describe("Fallback nesting and errors", () => {
  it.effect("a chain without steps, a step that is no layer or a bad or unknown option (from JavaScript), fails each call clearly", () =>
    Effect.gen(function*() {
      const a = yield* scripted([{ text: "never" }], { provider: "a" })
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        [[], "fallback: the chain has no steps"],
        [null, "fallback: the chain has no steps"],
        [[null], "fallback: step 0 has no layer to provide (give it as { provide: layer })"],
        [[{ provide: a.layer }, {}], "fallback: step 1 has no layer to provide (give it as { provide: layer })"],
        [
          [{ provide: a.layer, retry: { times: 3 } }],
          "fallback: step 0's retry must be a policy from Retry.policy(...) or false"
        ],
        [
          [{ provide: a.layer, retry: null }],
          "fallback: step 0's retry must be a policy from Retry.policy(...) or false"
        ],
        [
          [{ provide: a.layer, contextWindow: -5 }],
          "fallback: step 0's contextWindow must be a whole number of tokens > 0"
        ],
        [
          [{ provide: a.layer, modle: "x" }],
          "fallback: step 0 has an unknown option \"modle\" (known: provide, model, retry, when, contextWindow)"
        ],
        [[{ provide: a.layer, model: "" }], "fallback: step 0's model must be a non-empty model name"],
        [[{ provide: a.layer, model: 5 }], "fallback: step 0's model must be a non-empty model name"],
        [
          [{ provide: a.layer }, { provide: a.layer, when: "nope" }],
          "fallback: step 1's when must be a function of the previous step's error"
        ]
      ]
      for (const [steps, message] of cases) {
        const chain = Fallback.layer(steps as [{ readonly provide: Layer.Layer<LanguageModel.LanguageModel> }])
        const called = failure(yield* Effect.exit(LanguageModel.generate(ask("hi")).pipe(Effect.provide(chain))))
        const streamed = failure(
          yield* Effect.exit(Stream.runDrain(LanguageModel.stream(ask("hi"))).pipe(Effect.provide(chain)))
        )
        for (const error of [called, streamed]) expect(error).toMatchObject({ _tag: "InvalidRequest", message })
      }
      expect(yield* a.calls).toBe(0)
    }))

  it.effect("Fallback.make over malformed built steps (from JavaScript) fails each call clearly, never throws", () =>
    Effect.gen(function*() {
      const a = yield* scripted([{ text: "never" }], { provider: "a" })
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        [undefined, "fallback: the chain has no steps"],
        [[], "fallback: the chain has no steps"],
        [[null], "fallback: step 0 is not a built step (give it as { service, step })"],
        [[{ service: a.service, step: null }], "fallback: step 0 is not a built step (give it as { service, step })"],
        [
          [{ service: a.service, step: { provide: a.layer, when: 1 } }],
          "fallback: step 0's when must be a function of the previous step's error"
        ]
      ]
      for (const [steps, message] of cases) {
        const chain = Fallback.make(steps as Parameters<typeof Fallback.make>[0])
        const called = failure(yield* Effect.exit(chain.generate({ messages: [{ role: "user", content: "hi" }] })))
        expect(called).toMatchObject({ _tag: "InvalidRequest", message })
      }
      expect(yield* a.calls).toBe(0)
    }))

  it.effect("a chain is a step of another chain", () =>
    Effect.gen(function*() {
      const a = yield* scripted([errors.overloaded("a")], { provider: "a" })
      const b = yield* scripted([errors.serverError("b")], { provider: "b" })
      const c = yield* scripted([{ text: "from c" }], { provider: "c" })
      const inner = Fallback.layer([{ provide: a.layer }, { provide: b.layer }])
      const response = yield* generate().pipe(
        Effect.provide(Fallback.layer([{ provide: inner }, { provide: c.layer }]))
      )
      expect(ChatResponse.text(response)).toBe("from c")
      expect([yield* a.calls, yield* b.calls, yield* c.calls]).toEqual([1, 1, 1])
    }))

  it.effect("a nested chain's non-retryable error stops the outer chain too", () =>
    Effect.gen(function*() {
      const a = yield* scripted([errors.overloaded("a")], { provider: "a" })
      const b = yield* scripted([errors.invalid("b")], { provider: "b" })
      const c = yield* scripted([{ text: "unused" }], { provider: "c" })
      const inner = Fallback.layer([{ provide: a.layer }, { provide: b.layer }])
      const exit = yield* generate().pipe(
        Effect.provide(Fallback.layer([{ provide: inner }, { provide: c.layer }])),
        Effect.exit
      )
      const error = failure(exit)
      expect(error).toMatchObject({ _tag: "InvalidRequest", provider: "b" })
      expect(error.attempts).toEqual([
        { step: 0, provider: "fallback", model: "test-model", outcome: "InvalidRequest", durationMs: 0 }
      ])
      expect(yield* c.calls).toBe(0)
    }))

  it.scoped("an outer step's retry reaches the providers inside a nested chain", () =>
    Effect.gen(function*() {
      const alpha = yield* MockProvider.make({ onExhausted: OpenAiMock.error(503) })
      const beta = yield* MockProvider.make({ script: [OpenAiMock.completion({ text: "from beta" })] })
      const inner = Fallback.layer([
        { provide: openAiLayer(alpha, { name: "alpha" }) },
        { provide: openAiLayer(beta, { name: "beta" }) }
      ])
      const exit = yield* runTo(generate().pipe(Effect.provide(Fallback.layer([{ provide: inner, retry: false }]))), [])
      expect(ChatResponse.text(success(exit))).toBe("from beta")
      expect([yield* count(alpha), yield* count(beta)]).toEqual([1, 1])
    }))

  it.effect("the final error keeps its tag and fields and carries every attempt", () =>
    Effect.gen(function*() {
      const a = yield* scripted([after(2_000, errors.overloaded("a"))], { provider: "a" })
      const b = yield* scripted([after(3_000, errors.serverError("b"))], { provider: "b" })
      const exit = yield* runTo(
        generate().pipe(
          Effect.provide(Fallback.layer([{ provide: a.layer }, { provide: b.layer, model: "b-large" }])),
          Effect.flatMap(() => Effect.dieMessage("expected the chain to fail")),
          Effect.catchTag("ServerError", (error) => Effect.succeed(error))
        ),
        [2_000, 5_000]
      )
      const error = success(exit)
      expect(error).toBeInstanceOf(LlmError.ServerError)
      expect(error).toMatchObject({ _tag: "ServerError", provider: "b", status: 500, message: "b 500" })
      expect(LlmError.isRetryable(error)).toBe(true)
      expect(error.attempts).toEqual([
        { step: 0, provider: "a", model: "test-model", outcome: "Overloaded", durationMs: 2_000 },
        { step: 1, provider: "b", model: "b-large", outcome: "ServerError", durationMs: 3_000 }
      ])
      // the step's model is what the provider was asked for
      expect(yield* b.models).toEqual(["b-large"])
    }))

  it.effect("the chain's effect and stream can be run twice: each run reports only its own attempts", () =>
    Effect.gen(function*() {
      const a = yield* scripted(Array.from({ length: 4 }, () => errors.overloaded("a")), { provider: "a" })
      const b = yield* scripted(Array.from({ length: 4 }, () => errors.invalid("b")), { provider: "b" })
      const service = yield* LanguageModel.LanguageModel.pipe(
        Effect.provide(Fallback.layer([{ provide: a.layer }, { provide: b.layer }]))
      )
      const request = { messages: [{ role: "user" as const, content: "hi" }] }
      const call = service.generate(request)
      const first = failure(yield* Effect.exit(call))
      const second = failure(yield* Effect.exit(call))
      expect(first.attempts?.map((attempt) => attempt.step)).toEqual([0, 1])
      // soft, so a failure here still reports the stream's case below
      expect.soft(second.attempts?.map((attempt) => attempt.step)).toEqual([0, 1])
      const stream = service.stream(request)
      yield* Effect.exit(Stream.runDrain(stream))
      const again = failure(yield* Effect.exit(Stream.runDrain(stream)))
      expect(again.attempts?.map((attempt) => attempt.step)).toEqual([0, 1])
      expect([yield* a.calls, yield* b.calls]).toEqual([4, 4])
    }))

  it.effect("a success leaves no attempts behind for the next call", () =>
    Effect.gen(function*() {
      const a = yield* scripted([errors.overloaded("a"), errors.overloaded("a")], { provider: "a" })
      const b = yield* scripted([{ text: "b" }, errors.invalid("b")], { provider: "b" })
      const layer = Fallback.layer([{ provide: a.layer }, { provide: b.layer }])
      yield* generate().pipe(Effect.provide(layer))
      const error = failure(yield* generate().pipe(Effect.provide(layer), Effect.exit))
      expect(error.attempts?.map((attempt) => attempt.step)).toEqual([0, 1])
    }))
})

describe("Fallback streams and the commit point", () => {
  it.scoped("a stream failing before its first token hands over invisibly", () =>
    Effect.gen(function*() {
      // the role chunk (a response-metadata part, no content), then the connection drops
      const alpha = yield* MockProvider.make({ script: [OpenAiMock.stream({ deltas: ["never"] }, { cutAfter: 1 })] })
      const beta = yield* MockProvider.make({
        script: [OpenAiMock.stream({ deltas: ["Once", " upon"], usage: { inputTokens: 7, outputTokens: 2 } })]
      })
      const { exit, received } = yield* streamThrough(Fallback.layer([
        { provide: openAiLayer(alpha, { name: "alpha" }), retry: false },
        { provide: openAiLayer(beta, { name: "beta" }) }
      ]))
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(received.map((part) => part.type)).toEqual([
        "response-metadata",
        "text-delta",
        "text-delta",
        "usage",
        "finish"
      ])
      expect(received[0]).toMatchObject({ type: "response-metadata", provider: "beta" })
      expect(textOf(received)).toBe("Once upon")
      expect([yield* count(alpha), yield* count(beta)]).toEqual([1, 1])
    }))

  it.effect("a scripted stream error before any part moves on too", () =>
    Effect.gen(function*() {
      const a = yield* scripted([errors.overloaded("a")], { provider: "a" })
      const b = yield* scripted([{ text: "Hello world", chunks: ["Hello", " world"] }], { provider: "b" })
      const { exit, received } = yield* streamThrough(Fallback.layer([{ provide: a.layer }, { provide: b.layer }]))
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(received.filter((part) => part.type === "response-metadata")).toEqual([
        { type: "response-metadata", provider: "b", id: "test-1", model: "test-model" }
      ])
      expect(textOf(received)).toBe("Hello world")
    }))

  it.scoped("a stream failing after its first token is StreamInterrupted and the next step is never called", () =>
    Effect.gen(function*() {
      // role, "One", " two", then the connection drops
      const alpha = yield* MockProvider.make({
        script: [OpenAiMock.stream({ deltas: ["One", " two", " three"] }, { cutAfter: 3 })]
      })
      const beta = yield* MockProvider.make({ script: [OpenAiMock.stream({ deltas: ["spliced"] })] })
      const { exit, received } = yield* streamThrough(Fallback.layer([
        { provide: openAiLayer(alpha, { name: "alpha" }) },
        { provide: openAiLayer(beta, { name: "beta" }) }
      ]))
      const error = failure(exit)
      expect(error).toMatchObject({ _tag: "StreamInterrupted", provider: "alpha", causeTag: "NetworkError" })
      if (error._tag === "StreamInterrupted") expect(error.partial.text).toBe("One two")
      expect(error.attempts).toEqual([
        { step: 0, provider: "alpha", model: "gpt-4o-mini", outcome: "StreamInterrupted", durationMs: 0 }
      ])
      expect(textOf(received)).toBe("One two")
      expect(received.filter((part) => part.type === "response-metadata")).toHaveLength(1)
      expect([yield* count(alpha), yield* count(beta)]).toEqual([1, 0])
    }))

  it.scoped("after the first token not even a `when` accepting everything splices another step in", () =>
    Effect.gen(function*() {
      const alpha = yield* MockProvider.make({
        script: [OpenAiMock.stream({ deltas: ["One", " two", " three"] }, { cutAfter: 3 })]
      })
      const beta = yield* MockProvider.make({ script: [OpenAiMock.stream({ deltas: ["spliced"] })] })
      const { exit, received } = yield* streamThrough(Fallback.layer([
        { provide: openAiLayer(alpha, { name: "alpha" }) },
        { provide: openAiLayer(beta, { name: "beta" }), when: () => true }
      ]))
      expect({
        outcome: Exit.isSuccess(exit) ? "success" : failure(exit)._tag,
        text: textOf(received),
        betaCalls: yield* count(beta)
      }).toEqual({ outcome: "StreamInterrupted", text: "One two", betaCalls: 0 })
    }))
})

describe("Fallback with structured output", () => {
  const City = Schema.Struct({ name: Schema.String, population: Schema.Number })

  it.scoped("generateObject goes through the chain and decodes the answer of the step that served it", () =>
    Effect.gen(function*() {
      const alpha = yield* MockProvider.make({ script: [OpenAiMock.error(503)] })
      const beta = yield* MockProvider.make({
        script: [OpenAiMock.completion({ text: "{\"name\":\"Paris\",\"population\":2100000}" })]
      })
      const { response, value } = yield* LanguageModel.generateObject({
        messages: [{ role: "user", content: "Largest city of France?" }],
        schema: City
      }).pipe(
        Effect.provide(Fallback.layer([
          { provide: openAiLayer(alpha, { name: "alpha" }), retry: false },
          { provide: openAiLayer(beta, { name: "beta" }) }
        ]))
      )
      expect(value).toEqual({ name: "Paris", population: 2100000 })
      expect(response.provider).toBe("beta")
      const formats = [...(yield* alpha.requests), ...(yield* beta.requests)].map((request) =>
        (request.body as { response_format?: { type: string } }).response_format?.type
      )
      expect(formats).toEqual(["json_schema", "json_schema"])
    }))
})

describe("effect/ExecutionPlan", () => {
  const run = (
    via: "fallback" | "plan",
    first: ReadonlyArray<MockProvider.Reply>,
    second: ReadonlyArray<MockProvider.Reply>
  ) =>
    Effect.gen(function*() {
      const alpha = yield* MockProvider.make({ script: first })
      const beta = yield* MockProvider.make({ script: second })
      const stepA = openAiLayer(alpha, { name: "alpha", retry: false })
      const stepB = openAiLayer(beta, { name: "beta", retry: false })
      const call = generate()
      const exit = yield* via === "fallback"
        ? call.pipe(Effect.provide(Fallback.layer([{ provide: stepA }, { provide: stepB }])), Effect.exit)
        : Effect.withExecutionPlan(
          call,
          ExecutionPlan.make({ provide: stepA }, {
            provide: stepB,
            while: (error: LlmError.LlmError) => LlmError.isRetryable(error)
          })
        ).pipe(Effect.exit)
      return {
        outcome: Exit.isSuccess(exit) ? ChatResponse.text(exit.value) : failure(exit)._tag,
        counts: [yield* count(alpha), yield* count(beta)]
      }
    })

  it.scoped("a two-step plan behaves like Fallback.layer for generate", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [ReadonlyArray<MockProvider.Reply>, ReadonlyArray<MockProvider.Reply>]> = [
        [[OpenAiMock.error(503)], [OpenAiMock.completion({ text: "from beta" })]],
        [[OpenAiMock.error(400)], [OpenAiMock.completion({ text: "unused" })]],
        [[OpenAiMock.completion({ text: "from alpha" })], [OpenAiMock.completion({ text: "unused" })]],
        [[OpenAiMock.error(500)], [OpenAiMock.error(502)]]
      ]
      const results = []
      for (const [first, second] of cases) {
        const fallback = yield* run("fallback", first, second)
        const plan = yield* run("plan", first, second)
        expect(plan).toEqual(fallback)
        results.push(fallback)
      }
      expect(results).toEqual([
        { outcome: "from beta", counts: [1, 1] },
        { outcome: "InvalidRequest", counts: [1, 0] },
        { outcome: "from alpha", counts: [1, 0] },
        { outcome: "ServerError", counts: [1, 1] }
      ])
    }))
})
