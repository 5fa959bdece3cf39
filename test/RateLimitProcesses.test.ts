/**
 * Two real processes on one Redis share one tenant's limit of R requests per window: calling concurrently across
 * several windows, together they get at most R requests per window to the provider, and every refused call has a
 * `retryAfter`.
 */
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { startWorker as startProcess } from "./support/processes.js"
import { describeRedis, uniquePrefix } from "./support/redis.js"

interface Outcomes {
  readonly through: number
  readonly refused: number
  readonly refusedWithoutRetryAfter: number
  readonly others: ReadonlyArray<string>
}

/** A worker in its own Node process (killed after 60 s), started; it prints `ready` once connected. */
const startWorker = (env: Record<string, string>) => startProcess<Outcomes>("rateLimitWorker.ts", env, 60_000)

const limit = 5
const windowMillis = 1_000

describeRedis("RateLimit on Redis across processes", (server) => {
  it.scopedLive(
    `two processes calling at once get at most ${limit} requests per window to the provider, in total`,
    () =>
      Effect.gen(function*() {
        const mock = yield* MockProvider.make({
          script: Array.from({ length: 40 }, () => OpenAiMock.completion({ text: "ok" }))
        })
        const env = {
          REDIS_URL: server.url,
          REDIS_KEY_PREFIX: uniquePrefix("procs"),
          MOCK_URL: mock.url,
          LIMIT: String(limit),
          WINDOW_MS: String(windowMillis),
          CONCURRENCY: "4"
        }
        const workers = yield* Effect.all([startWorker({ ...env, NAME: "A" }), startWorker({ ...env, NAME: "B" })])
        yield* Effect.all(workers.map((worker) => worker.ready), { concurrency: 2 })
        // Both loaded and connected: they start on the next window boundary but one, and call for 2.5 windows.
        const startAt = (Math.floor(Date.now() / windowMillis) + 2) * windowMillis
        const line = JSON.stringify({ startAt, endAt: startAt + 2.5 * windowMillis })
        yield* Effect.all(workers.map((worker) => Effect.zipRight(worker.send(line), worker.end)))
        const [a, b] = yield* Effect.all([workers[0]!.done, workers[1]!.done], { concurrency: 2 })
        // Each request by the window that let it through: the time its prompt carries (`from A at <ms>`).
        const sent = (yield* mock.requests).flatMap((request) => {
          const content = (request.body as { messages: Array<{ content: string }> }).messages[0]!.content
          const match = /^from [AB] at (\d+)$/.exec(content)
          return match === null ? [] : [{ at: Number(match[1]), arrivedAt: request.arrivedAt }]
        })
        const perWindow = new Map<number, number>()
        for (const { arrivedAt, at } of sent) {
          expect(arrivedAt).toBeGreaterThanOrEqual(at)
          const window = Math.floor(at / windowMillis)
          perWindow.set(window, (perWindow.get(window) ?? 0) + 1)
        }
        for (const count of perWindow.values()) expect(count).toBeLessThanOrEqual(limit)
        // Under this pressure the windows are used to the full: three (the last one half), R each.
        const first = startAt / windowMillis
        expect([...perWindow.entries()].sort()).toEqual([[first, limit], [first + 1, limit], [first + 2, limit]])
        expect(a.through + b.through).toBe(sent.length)
        expect(a.refused + b.refused).toBeGreaterThan(0)
        expect([a.refusedWithoutRetryAfter, b.refusedWithoutRetryAfter]).toEqual([0, 0])
        expect([...a.others, ...b.others]).toEqual([])
      }),
    60_000
  )
})
