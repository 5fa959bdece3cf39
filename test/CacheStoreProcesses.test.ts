/**
 * Real processes on one Redis: process A's answer for tenant "acme" serves process B's identical question for
 * "acme" from the cache (the provider never sees B), and never B's question for "globex".
 */
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { runWorker } from "./support/processes.js"
import { describeRedis, uniquePrefix } from "./support/redis.js"

interface Answer {
  readonly tenant: string
  readonly text: string
  readonly cached: boolean
}

describeRedis("Cache on Redis across processes", (server) => {
  it.scopedLive(
    "process B is answered from process A's entry for the same tenant, and never for another tenant",
    () =>
      Effect.gen(function*() {
        const mock = yield* MockProvider.make({
          script: [
            OpenAiMock.completion({ text: "Paris, for acme" }),
            OpenAiMock.completion({ text: "Paris, for globex" })
          ]
        })
        const env = { REDIS_URL: server.url, REDIS_KEY_PREFIX: uniquePrefix("procs"), MOCK_URL: mock.url }
        const question = "Capital of France?"
        const a = yield* runWorker<ReadonlyArray<Answer>>("cacheWorker.ts", {
          ...env,
          NAME: "A",
          TENANTS: "acme",
          QUESTION: question
        })
        expect(a).toEqual([{ tenant: "acme", text: "Paris, for acme", cached: false }])
        expect((yield* mock.requests).length).toBe(1)

        const b = yield* runWorker<ReadonlyArray<Answer>>("cacheWorker.ts", {
          ...env,
          NAME: "B",
          TENANTS: "acme,globex",
          QUESTION: question
        })
        expect(b).toEqual([
          { tenant: "acme", text: "Paris, for acme", cached: true },
          { tenant: "globex", text: "Paris, for globex", cached: false }
        ])
        // A's question, then B's for globex: B's for acme never reached the provider
        const prompts = (yield* mock.requests).map((request) =>
          (request.body as { messages: Array<{ content: string }> }).messages[0]!.content
        )
        expect(prompts).toEqual([question, question])
      }),
    60_000
  )
})
