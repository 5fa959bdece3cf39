/**
 * Two real processes on one Redis: A's calls fail until its breaker opens; B, started afterwards, is refused
 * with `CircuitOpen` without calling the provider.
 */
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { runWorker as runProcess } from "./support/processes.js"
import { describeRedis, uniquePrefix } from "./support/redis.js"

/** Runs the breaker worker in its own Node process and returns the outcomes it printed. */
const runWorker = (env: Record<string, string>) => runProcess<ReadonlyArray<string>>("circuitWorker.ts", env)

describeRedis("CircuitBreaker on Redis across processes", (server) => {
  it.scopedLive(
    "a breaker process A opened makes process B refuse without calling the provider",
    () =>
      Effect.gen(function*() {
        const mock = yield* MockProvider.make({
          script: [OpenAiMock.error(500), OpenAiMock.error(500), OpenAiMock.completion({ text: "never" })]
        })
        const env = { REDIS_URL: server.url, REDIS_KEY_PREFIX: uniquePrefix("procs"), MOCK_URL: mock.url }
        expect(yield* runWorker({ ...env, NAME: "A", CALLS: "3" })).toEqual([
          "ServerError",
          "ServerError",
          "CircuitOpen"
        ])
        expect(yield* runWorker({ ...env, NAME: "B", CALLS: "2" })).toEqual(["CircuitOpen", "CircuitOpen"])
        const prompts = (yield* mock.requests).map((request) =>
          (request.body as { messages: Array<{ content: string }> }).messages[0]!.content
        )
        expect(prompts).toEqual(["from A", "from A"])
      }),
    60_000
  )
})
