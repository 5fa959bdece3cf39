/**
 * Helpers for tests that run real HTTP over loopback while a TestClock drives every timer: wait (bounded) for
 * the real event loop to reach a state, then move virtual time explicitly.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { Chunk, Effect, Layer, Redacted } from "effect"
import * as TestClock from "effect/TestClock"
import * as OpenAi from "../../src/providers/OpenAi.js"
import type * as MockProvider from "../../src/testing/MockProvider.js"

/** A distinctive key: tests assert it never leaks. */
export const secretKey = "sk-test-LEAKCHECK-7f3a9c1e5b2d4f60"

const yieldToEventLoop = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

/** Waits, yielding to the real event loop, until `condition` holds; fails after a bounded number of turns. */
export const eventually = (condition: Effect.Effect<boolean>, what: string, turns = 5000): Effect.Effect<void> =>
  Effect.gen(function*() {
    for (let i = 0; i < turns; i++) {
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

/** An OpenAI layer pointed at a mock server, over undici. */
export const openAiLayer = (server: MockProvider.MockProvider, options: Partial<OpenAi.Options> = {}) =>
  OpenAi.layer({ apiKey: Redacted.make(secretKey), baseUrl: `${server.url}/v1`, model: "gpt-4o-mini", ...options })
    .pipe(Layer.provide(NodeHttpClient.layerUndici))
