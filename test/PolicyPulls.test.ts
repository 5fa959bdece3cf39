/**
 * Every policy's stream has a pull of its own (see `LanguageModel.toPull`): read either way, a policy gives the
 * same parts and errors and has the same effects (charges, limits, cache entries, breaker counts, latency
 * measures), and nothing runs before the first pull.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Context, Effect, Exit, Layer, Option, Stream } from "effect"
import * as Budget from "../src/Budget.js"
import * as Cache from "../src/Cache.js"
import * as ChatRequest from "../src/ChatRequest.js"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import * as ContextWindow from "../src/ContextWindow.js"
import * as Fallback from "../src/Fallback.js"
import * as Guardrail from "../src/Guardrail.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import * as RateLimit from "../src/RateLimit.js"
import * as Router from "../src/Router.js"
import type * as StreamPart from "../src/StreamPart.js"
import * as TestModel from "../src/testing/TestModel.js"
import { environment, inputTokens, usd } from "./support/budget.js"
import { ask, errors, failure, scripted } from "./support/resilience.js"

type Service = LanguageModel.Service
type Parts = ReadonlyArray<StreamPart.StreamPart>

const pullKey = Symbol.for("liter-llm/LanguageModel/pull")

/** Whether a service's stream reads as a pull of its own, not through `Stream.toPull`. */
const hasPull = (service: Service) => (service.stream as unknown as Record<symbol, unknown>)[pullKey] !== undefined

/**
 * Two readers of a stream: as a `Stream`, and through `LanguageModel.toPull`; `take` stops after that many
 * parts (the stream's scope, or the pull's, then closes).
 */
const readers: ReadonlyArray<
  readonly [
    string,
    (service: Service, request: ChatRequest.ChatRequest, take?: number) => Effect.Effect<Parts, LlmError.LlmError>
  ]
> = [
  ["stream", (service, request, take) => {
    const stream = service.stream(request)
    return Effect.map(Stream.runCollect(take === undefined ? stream : Stream.take(stream, take)), Chunk.toArray)
  }],
  ["pull", (service, request, take) =>
    Effect.scoped(Effect.gen(function*() {
      const pull = yield* LanguageModel.toPull(service, request)
      const parts: Array<StreamPart.StreamPart> = []
      while (take === undefined || parts.length < take) {
        const chunk = yield* Effect.catchAll(pull, (error) =>
          Option.isNone(error) ? Effect.succeed(undefined) : Effect.fail(error.value))
        if (chunk === undefined) {
          break
        }
        for (const part of chunk) {
          parts.push(part)
        }
      }
      return take === undefined ? parts : parts.slice(0, take)
    }))]
]

const request = (content = "hi") => ChatRequest.decode({ ...ask(content), maxTokens: 5 }).pipe(Effect.orDie)

const usage = (input: number, output: number) => ({
  inputTokens: input,
  outputTokens: output,
  totalTokens: input + output
})

const serviceOf = <E>(layer: Layer.Layer<LanguageModel.LanguageModel, E>) =>
  Effect.map(Layer.build(Layer.orDie(layer)), Context.get(LanguageModel.LanguageModel))

/** A model whose stream delivers "Hel", then its connection is cut. */
const cut = LanguageModel.make({
  provider: "cut",
  generate: () => Effect.die("unused"),
  stream: () =>
    Stream.concat(
      Stream.fromIterable<StreamPart.StreamPart>([{ type: "text-delta", text: "Hel" }]),
      Stream.fail(new LlmError.NetworkError({ provider: "cut", message: "cut" }))
    )
})

const textOf = (parts: Parts) => parts.flatMap((part) => part.type === "text-delta" ? [part.text] : []).join("")

for (const [reader, read] of readers) {
  describe(`policies read as a ${reader}`, () => {
    it.scoped("Budget: a stream read whole is charged its usage; one stopped after a part, what it received", () =>
      Effect.gen(function*() {
        const model = yield* scripted([
          { text: "abc", chunks: ["a", "bc"], usage: usage(10, 2) },
          { text: "abcd", chunks: ["ab", "cd"] }
        ], { model: "m" })
        const budget = yield* Effect.orDie(Budget.make({ defaultLimit: { limitUsd: 1000, period: "day" } }))
        const service = budget.wrap(model.service)
        expect(hasPull(service)).toBe(true)
        // A pull made but not yet pulled reserves nothing and calls nobody.
        yield* LanguageModel.toPull(service, yield* request())
        expect(yield* budget.status("default")).toMatchObject({ spentUsd: 0, reservedUsd: 0 })
        expect(yield* model.calls).toBe(0)
        expect(textOf(yield* read(service, yield* request()))).toBe("abc")
        expect(yield* budget.status("default")).toMatchObject({ spentUsd: usd(10, 2), reservedUsd: 0 })
        // The metadata part, then "ab": charged for the two characters received.
        yield* read(service, yield* request(), 2)
        expect(yield* budget.status("default")).toMatchObject({
          spentUsd: usd(10, 2) + usd(inputTokens, 2),
          reservedUsd: 0
        })
      }).pipe(Effect.provide(environment)))

    it.scoped("Budget: a stream over the budget fails on its first pull, the provider not called", () =>
      Effect.gen(function*() {
        const model = yield* scripted([{ text: "abc" }], { model: "m" })
        // 20 USD of estimate against 5: it never fits.
        const budget = yield* Effect.orDie(Budget.make({ defaultLimit: { limitUsd: 5, period: "day" } }))
        const exit = yield* Effect.exit(read(budget.wrap(model.service), yield* request()))
        expect(failure(exit)._tag).toBe("CostLimitExceeded")
        expect(yield* model.calls).toBe(0)
      }).pipe(Effect.provide(environment)))

    it.scoped("RateLimit: a second stream in the window is refused on its first pull", () =>
      Effect.gen(function*() {
        const model = yield* scripted([{ text: "one" }, { text: "two" }])
        const service = yield* serviceOf(
          RateLimit.layer(model.layer, { default: { requests: { limit: 1, window: "1 minute" } } })
        )
        expect(hasPull(service)).toBe(true)
        expect(textOf(yield* read(service, yield* request()))).toBe("one")
        const refused = yield* Effect.exit(read(service, yield* request()))
        expect(failure(refused)._tag).toBe("RateLimitExceeded")
        expect(yield* model.calls).toBe(1)
      }).pipe(Effect.provide(RateLimit.layerMemory)))

    it.scoped("Cache: a whole stream is stored and replayed; one stopped early or failed is not", () =>
      Effect.gen(function*() {
        const model = yield* scripted([
          { text: "cut", chunks: ["c", "ut"] },
          errors.serverError(),
          { text: "whole", chunks: ["who", "le"] },
          { text: "never" }
        ])
        const store = yield* Effect.orDie(Cache.makeMemoryStore())
        const service = yield* serviceOf(Cache.layer(model.layer, { store }))
        expect(hasPull(service)).toBe(true)
        yield* read(service, yield* request(), 2)
        expect(Exit.isFailure(yield* Effect.exit(read(service, yield* request())))).toBe(true)
        expect(textOf(yield* read(service, yield* request()))).toBe("whole")
        const replayed = yield* read(service, yield* request())
        expect(textOf(replayed)).toBe("whole")
        expect(replayed[0]).toMatchObject({ type: "response-metadata", cached: true })
        expect(yield* model.calls).toBe(3)
      }))

    it.scoped("CircuitBreaker: failed streams open it, a consumer that stops early does not count", () =>
      Effect.gen(function*() {
        const model = yield* scripted([
          { text: "abc", chunks: ["a", "bc"] },
          errors.serverError(),
          errors.serverError()
        ])
        const service = yield* serviceOf(
          CircuitBreaker.layer(model.layer, {
            key: "k",
            minimumCalls: 2,
            failureRateThreshold: 1,
            cooldown: "1 minute"
          })
        )
        expect(hasPull(service)).toBe(true)
        yield* read(service, yield* request(), 2)
        expect(yield* CircuitBreaker.state("k")).toMatchObject({ state: "closed", calls: 0 })
        for (let i = 0; i < 2; i++) yield* Effect.exit(read(service, yield* request()))
        expect(yield* CircuitBreaker.state("k")).toMatchObject({ state: "open" })
        const refused = yield* Effect.exit(read(service, yield* request()))
        expect(failure(refused)._tag).toBe("CircuitOpen")
        expect(yield* model.calls).toBe(3)
      }).pipe(Effect.provide(CircuitBreaker.layerMemory)))

    it.scoped("ContextWindow: the provider gets the trimmed request", () =>
      Effect.gen(function*() {
        const model = yield* TestModel.make([{ text: "ok" }], { model: "m" })
        const service = ContextWindow.wrap(model.service, { maxInputTokens: 15 })
        expect(hasPull(service)).toBe(true)
        const long = ChatRequest.decode({
          messages: [{ role: "user", content: "an old question ".repeat(5) }, {
            role: "assistant",
            content: "an old answer"
          }, {
            role: "user",
            content: "hi"
          }]
        }).pipe(Effect.orDie)
        expect(textOf(yield* read(service, yield* long))).toBe("ok")
        const [sent] = yield* model.requests
        expect(sent!.messages.length).toBeLessThan(3)
      }))

    it.scoped("Guardrail: a blocked input fails the first pull; an allowed one is answered", () =>
      Effect.gen(function*() {
        const model = yield* scripted([{ text: "ok" }])
        const service = Guardrail.wrap(model.service, { input: [Guardrail.denyList(["forbidden"])] })
        expect(hasPull(service)).toBe(true)
        const blocked = yield* Effect.exit(read(service, yield* request("a forbidden topic")))
        expect(failure(blocked)._tag).toBe("GuardrailBlocked")
        expect(textOf(yield* read(service, yield* request()))).toBe("ok")
        expect(yield* model.calls).toBe(1)
      }))

    it.scoped("Fallback: a step that fails before its first part moves on; after it, the stream is interrupted", () =>
      Effect.gen(function*() {
        const a = yield* scripted([errors.serverError()], { provider: "a" })
        const b = yield* scripted([{ text: "from b", chunks: ["from", " b"] }], { provider: "b" })
        const service = yield* serviceOf(Fallback.layer([{ provide: a.layer }, { provide: b.layer }]))
        expect(hasPull(service)).toBe(true)
        const parts = yield* read(service, yield* request())
        expect(textOf(parts)).toBe("from b")
        expect([yield* a.calls, yield* b.calls]).toEqual([1, 1])
        // A step cut after its first part: the stream fails with what it delivered, the next step not called.
        const c = yield* scripted([{ text: "never" }], { provider: "c" })
        const chain = yield* serviceOf(Fallback.layer([{ provide: Layer.succeed(LanguageModel.LanguageModel, cut) }, {
          provide: c.layer
        }]))
        const error = failure(yield* Effect.exit(read(chain, yield* request())))
        expect(error).toMatchObject({ _tag: "StreamInterrupted", partial: { text: "Hel" } })
        expect(error.attempts?.map((attempt) => attempt.provider)).toEqual(["cut"])
        expect(yield* c.calls).toBe(0)
      }))

    it.scoped("Router: a deployment's stream, with its model", () =>
      Effect.gen(function*() {
        const a = yield* scripted([{ text: "from a" }], { provider: "a" })
        const b = yield* scripted([{ text: "from b" }], { provider: "b" })
        const service = yield* serviceOf(Router.layer([
          { name: "a", provide: a.layer, priority: 2 },
          { name: "b", provide: b.layer, priority: 1, model: "east" }
        ], { strategy: "priority" }))
        expect(hasPull(service)).toBe(true)
        expect(textOf(yield* read(service, yield* request()))).toBe("from b")
        expect(yield* b.models).toEqual(["east"])
        expect(yield* a.calls).toBe(0)
      }))
  })
}
