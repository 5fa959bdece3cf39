/**
 * Helpers for tests that run real HTTP over loopback while a TestClock drives every timer: wait (bounded) for
 * the real event loop to reach a state, then move virtual time explicitly.
 */
import { NodeHttpClient } from "@effect/platform-node"
import type * as HttpClient from "@effect/platform/HttpClient"
import { Chunk, ConfigError, Effect, Exit, Fiber, Layer, Redacted, Stream } from "effect"
import * as TestClock from "effect/TestClock"
import * as LanguageModel from "../../src/LanguageModel.js"
import type * as LlmError from "../../src/LlmError.js"
import * as OpenAi from "../../src/providers/OpenAi.js"
import type * as StreamPart from "../../src/StreamPart.js"
import * as MockProvider from "../../src/testing/MockProvider.js"
import * as UndiciClient from "../../src/UndiciClient.js"

/** A distinctive key: tests assert it never leaks. */
export const secretKey = "sk-test-LEAKCHECK-7f3a9c1e5b2d4f60"

const yieldToEventLoop = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

/**
 * Waits, yielding to the real event loop, until `condition` holds. Bounded in real time, not in turns: socket
 * and zlib work finishes on its own schedule, slower on a loaded machine. This polls, it never sleeps.
 */
export const eventually = (condition: Effect.Effect<boolean>, what: string, budgetMs = 10_000): Effect.Effect<void> =>
  Effect.gen(function*() {
    const start = performance.now()
    while (performance.now() - start < budgetMs) {
      if (yield* condition) return
      yield* yieldToEventLoop
    }
    return yield* Effect.dieMessage(`timed out waiting for: ${what}`)
  })

/** Waits until some fiber sleeps on the TestClock until exactly `millis` (virtual). */
export const awaitSleepUntil = (millis: number) =>
  eventually(
    Effect.map(TestClock.sleeps(), (sleeps) => Chunk.some(sleeps, (at) => at === millis)),
    `a TestClock sleep until ${millis} ms`
  )

/** Waits until the mock server has received `count` requests. */
export const awaitRequests = (server: MockProvider.MockProvider, count: number) =>
  eventually(Effect.map(server.requests, (requests) => requests.length >= count), `${count} requests`)

/** Moves the TestClock to an absolute virtual time. */
export const adjustTo = (millis: number) =>
  Effect.flatMap(TestClock.currentTimeMillis, (now) => TestClock.adjust(millis - now))

/** The arrival times (virtual ms) of the mock's requests. */
export const arrivals = (server: MockProvider.MockProvider) =>
  Effect.map(server.requests, (requests) => requests.map((request) => request.arrivedAt))

/**
 * A provider layer over undici for a test whose options are valid by construction (a mock's URL): an invalid
 * option is a bug in the test, so its `ConfigError` is a defect rather than part of the error type.
 */
export const overUndici = <E>(
  layer: Layer.Layer<LanguageModel.LanguageModel, E, HttpClient.HttpClient>,
  client: Layer.Layer<HttpClient.HttpClient> = NodeHttpClient.layerUndici
): Layer.Layer<LanguageModel.LanguageModel> => layer.pipe(Layer.provide(client), Layer.orDie)

/**
 * The undici clients a suite that depends on how bodies are read runs over: the platform's, and this library's
 * own (`UndiciClient`, which the gateway uses, reading SSE bodies straight from the socket).
 */
export const undiciClients: ReadonlyArray<readonly [string, Layer.Layer<HttpClient.HttpClient>]> = [
  ["NodeHttpClient.layerUndici", NodeHttpClient.layerUndici],
  ["UndiciClient.layer", UndiciClient.layer()]
]

/** An OpenAI layer pointed at a mock server, over undici (the platform's client unless `client` is given). */
export const openAiLayer = (
  server: MockProvider.MockProvider,
  options: Partial<OpenAi.Options> = {},
  client?: Layer.Layer<HttpClient.HttpClient>
) =>
  overUndici(
    OpenAi.layer({ apiKey: Redacted.make(secretKey), baseUrl: `${server.url}/v1`, model: "gpt-4o-mini", ...options }),
    client
  )

/**
 * The typed `LlmError` of an exit (throws on success, on a defect or interrupt, or on a layer's `ConfigError`).
 */
export const failure = (
  exit: Exit.Exit<unknown, LlmError.LlmError | ConfigError.ConfigError>
): LlmError.LlmError => {
  if (Exit.isSuccess(exit) || exit.cause._tag !== "Fail" || ConfigError.isConfigError(exit.cause.error)) {
    throw new Error(`expected a typed LlmError: ${String(exit)}`)
  }
  return exit.cause.error
}

/** The text of the `text-delta` parts. */
export const textOf = (parts: ReadonlyArray<StreamPart.StreamPart>): string =>
  parts.flatMap((part) => part.type === "text-delta" ? [part.text] : []).join("")

/** A layer of the provider under test, pointed at a mock server. */
export type LayerOf = (server: MockProvider.MockProvider) => Layer.Layer<LanguageModel.LanguageModel>

/**
 * Runs `program` against a scripted mock, moving the TestClock to each expected time only once some fiber
 * (a retry wait, a deadline, or the mock's own delay) sleeps until exactly that time, so a test fails if any
 * wait is off by a millisecond. Jitter is pinned.
 */
const runAgainst = <A>(
  layerOf: LayerOf,
  script: ReadonlyArray<MockProvider.Reply>,
  wakeups: ReadonlyArray<number>,
  program: Effect.Effect<A, LlmError.LlmError, LanguageModel.LanguageModel>
) =>
  Effect.gen(function*() {
    const server = yield* MockProvider.make({ script })
    const fiber = yield* Effect.fork(program.pipe(Effect.provide(layerOf(server))))
    for (const at of wakeups) {
      yield* awaitSleepUntil(at)
      yield* adjustTo(at)
    }
    const exit = yield* Fiber.await(fiber)
    return { exit, arrivals: yield* arrivals(server), requests: yield* server.requests }
  }).pipe(Effect.withRandomFixed([0]))

/** {@link runAgainst} for one `generate` call ("Capital of France?"). */
export const runGenerate = (
  layerOf: LayerOf,
  script: ReadonlyArray<MockProvider.Reply>,
  wakeups: ReadonlyArray<number>
) =>
  runAgainst(
    layerOf,
    script,
    wakeups,
    LanguageModel.generate({ messages: [{ role: "user", content: "Capital of France?" }] })
  )

/** {@link runAgainst} for one stream ("Tell a story"), keeping every part the consumer saw. */
export const runStream = (
  layerOf: LayerOf,
  script: ReadonlyArray<MockProvider.Reply>,
  wakeups: ReadonlyArray<number>
) =>
  Effect.suspend(() => {
    const received: Array<StreamPart.StreamPart> = []
    const program = LanguageModel.stream({ messages: [{ role: "user", content: "Tell a story" }] }).pipe(
      Stream.runForEach((part) => Effect.sync(() => received.push(part)))
    )
    return Effect.map(runAgainst(layerOf, script, wakeups, program), (run) => ({ ...run, received }))
  })
