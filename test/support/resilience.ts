/**
 * Helpers shared by the fallback, circuit breaker, router and metrics tests: scripted models as Layers with a
 * request count, typed failures, canned errors, and running an effect while moving the TestClock to exact times.
 */
import { Chunk, Duration, Effect, Exit, Fiber, Layer, Option } from "effect"
import * as TestClock from "effect/TestClock"
import type * as ChatResponse from "../../src/ChatResponse.js"
import type * as CircuitBreaker from "../../src/CircuitBreaker.js"
import * as LanguageModel from "../../src/LanguageModel.js"
import * as LlmError from "../../src/LlmError.js"
import type * as MockProvider from "../../src/testing/MockProvider.js"
import * as TestModel from "../../src/testing/TestModel.js"
import { adjustTo, awaitSleepUntil, eventually, failure } from "./loopback.js"

/** A scripted model as a Layer that keeps its script across builds, and how many requests reached it. */
export interface Scripted {
  readonly layer: Layer.Layer<LanguageModel.LanguageModel>
  readonly service: LanguageModel.Service
  readonly calls: Effect.Effect<number>
  readonly models: Effect.Effect<ReadonlyArray<string | undefined>>
}

export const scripted = (
  script: ReadonlyArray<TestModel.Reply>,
  options: TestModel.Options = {}
): Effect.Effect<Scripted> =>
  Effect.map(TestModel.make(script, options), (model) => ({
    layer: Layer.succeed(LanguageModel.LanguageModel, model.service),
    service: model.service,
    calls: Effect.map(model.requests, (requests) => requests.length),
    models: Effect.map(model.requests, (requests) => requests.map((request) => request.model))
  }))

/** How many requests a mock server received. */
export const count = (server: MockProvider.MockProvider): Effect.Effect<number> =>
  Effect.map(server.requests, (requests) => requests.length)

export { failure } from "./loopback.js"

/** The value of an exit (throws on failure). */
export const success = <A>(exit: Exit.Exit<A, unknown>): A => {
  if (Exit.isFailure(exit)) throw new Error(`expected a success: ${String(exit.cause)}`)
  return exit.value
}

/**
 * The TestClock sleeps due within 5 virtual minutes. Farther ones are deadlines (the 10-minute default request
 * timeout): the TestClock keeps a sleep that was interrupted before its time, so those linger after each call.
 */
const pendingWaits = Effect.zipWith(
  TestClock.currentTimeMillis,
  TestClock.sleeps(),
  (now, sleeps) => Chunk.toArray(sleeps).filter((at) => at < now + 300_000)
)

/**
 * Forks `effect`, then for each wakeup waits until some fiber sleeps until exactly that virtual time and moves
 * the TestClock there. Afterwards the effect must end without any further sleep: a wait that is off by a
 * millisecond, or one that should not happen at all, fails the test at once instead of hanging it.
 */
export const runTo = <A, E, R>(effect: Effect.Effect<A, E, R>, wakeups: ReadonlyArray<number>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    for (const at of wakeups) {
      yield* awaitSleepUntil(at)
      yield* adjustTo(at)
    }
    yield* eventually(
      Effect.zipWith(fiber.poll, pendingWaits, (exit, sleeps) => Option.isSome(exit) || sleeps.length > 0),
      "the effect to end (or to sleep)"
    )
    const exit = yield* fiber.poll
    if (Option.isSome(exit)) return exit.value
    const sleeps = yield* pendingWaits
    yield* Fiber.interrupt(fiber)
    return yield* Effect.dieMessage(`unexpected TestClock sleep until ${sleeps.join(", ")} ms`)
  })

/** A text response, for scripted function replies. */
export const answer = (
  text: string,
  options: { readonly provider?: string; readonly model?: string; readonly usage?: ChatResponse.Usage } = {}
): ChatResponse.ChatResponse => ({
  id: `r-${text}`,
  provider: options.provider ?? "test",
  model: options.model ?? "test-model",
  content: [{ type: "text", text }],
  finishReason: "stop",
  ...(options.usage === undefined ? {} : { usage: options.usage })
})

/** A reply that answers `text` after `millis` of virtual time. */
export const after = (millis: number, reply: ChatResponse.ChatResponse | LlmError.LlmError): TestModel.Reply => () =>
  Effect.zipRight(
    Effect.sleep(Duration.millis(millis)),
    LlmError.isLlmError(reply) ? Effect.fail(reply) : Effect.succeed(reply)
  )

/** Canned errors, as a provider would report them. */
export const errors = {
  overloaded: (provider = "test") =>
    new LlmError.Overloaded({ provider, status: 503, message: `${provider} overloaded` }),
  serverError: (provider = "test") => new LlmError.ServerError({ provider, status: 500, message: `${provider} 500` }),
  invalid: (provider = "test") => new LlmError.InvalidRequest({ provider, status: 400, message: `${provider} 400` }),
  contextLength: (provider = "test") =>
    new LlmError.ContextLengthExceeded({ provider, status: 400, message: `${provider}: prompt too long` }),
  malformed: (provider = "test") =>
    new LlmError.MalformedResponse({ provider, status: 200, body: "<html>", message: `${provider}: not JSON` }),
  rateLimited: (provider = "test", retryAfter?: Duration.DurationInput) =>
    new LlmError.RateLimited({
      provider,
      status: 429,
      message: `${provider} 429`,
      ...(retryAfter === undefined ? {} : { retryAfter: Duration.decode(retryAfter) })
    })
}

/** A one-message request. */
export const ask = (content = "hi", extra: Partial<{ readonly model: string; readonly tenant: string }> = {}) => ({
  messages: [{ role: "user" as const, content }],
  ...(extra.model === undefined ? {} : { model: extra.model }),
  ...(extra.tenant === undefined ? {} : { metadata: { tenant: extra.tenant } })
})

/** `"success"` or the `_tag` of an exit's typed error. */
export const tagOf = (exit: Exit.Exit<unknown, LlmError.LlmError>) =>
  Exit.isSuccess(exit) ? "success" : failure(exit)._tag

/** The view of a closed breaker. */
export const closed = (key: string, calls: number, failures: number): CircuitBreaker.StateView => ({
  key,
  state: "closed",
  until: undefined,
  calls,
  failures
})

/** The view of an open (or half-open) breaker until `until`. */
export const opened = (key: string, until: number, state: "open" | "half-open" = "open"): CircuitBreaker.StateView => ({
  key,
  state,
  until,
  calls: 0,
  failures: 0
})
