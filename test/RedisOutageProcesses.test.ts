/**
 * Redis killed in the middle of a run: two real processes, each with every Redis store (breaker, budget, rate
 * limit, cache) in the documented order, call at a steady pace while the test kills Redis, waits, and starts it
 * again on the same port. No call hangs; during the outage each policy does what its documentation says; once
 * Redis is back both processes serve normally again without a restart.
 */
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import type { Call, Kind } from "./processes/outageWorker.js"
import { startWorker } from "./support/processes.js"
import { describeRedis, uniquePrefix } from "./support/redis.js"

/** Generous: a command timing out on a busy machine before the outage would be a refusal of its own. */
const commandTimeoutMs = 1_000
/** Between two call starts in one worker; each kind comes back every 5 paces. */
const paceMs = 60
const beforeMs = 1_500
const outageMs = 3_000
const afterMs = 3_000
/** Redis is gone a little after `stop()` returns: the clients see the closed socket on their next turn. */
const settleMs = 300
/** Reconnection tries at most every 1 s; a restarted Redis is used again within that, plus a turn. */
const recoveryMs = 1_500
/**
 * The longest any call may take. Each store operation is bounded by the command timeout, but Redis killed closes
 * the socket: a command in flight fails at once, and so does every command while disconnected. So no call waits
 * for a timeout: a loopback provider call, and room for a busy machine (the full suite runs beside this test).
 */
const boundMs = 4 * commandTimeoutMs

const promptOf = (request: MockProvider.RecordedRequest): string =>
  (request.body as { messages: Array<{ content: string }> }).messages[0]!.content

/** What each kind of call ends with while Redis is down, as documented per store. */
const duringOutage: Record<Kind, Partial<Call>> = {
  // The cache fails open (a miss), the rate limit then fails closed before the budget or the provider.
  "acme-hit": { outcome: "PolicyUnavailable", policy: "rate-limit" },
  "acme-fresh": { outcome: "PolicyUnavailable", policy: "rate-limit" },
  // Not rate limited: the budget fails closed.
  "metered-fresh": { outcome: "PolicyUnavailable", policy: "budget" },
  // Neither: the cache miss goes to the provider, through the breaker working from memory (a call that overlaps
  // another for the same question joins it, answered as a hit: checked with the provider's requests below).
  "free-hit": { outcome: "success" },
  "free-fail": {}
}

/** While Redis is up (the flaky route aside). */
const normal: Record<Exclude<Kind, "free-fail">, Partial<Call>> = {
  "acme-hit": { outcome: "success", cached: true },
  "acme-fresh": { outcome: "success", cached: false },
  "metered-fresh": { outcome: "success", cached: false },
  "free-hit": { outcome: "success", cached: true }
}

const pick = (call: Call, like: Partial<Call>) =>
  Object.fromEntries(Object.keys(like).map((field) => [field, call[field as keyof Call]]))

describeRedis("Every Redis store across processes while Redis goes away and comes back", (server) => {
  it.scopedLive(
    "no call hangs, each policy degrades as documented, and both processes recover without a restart",
    () =>
      Effect.gen(function*() {
        const mock = yield* MockProvider.make({
          onExhausted: MockProvider.fromRequest((request) =>
            promptOf(request).startsWith("fail")
              ? OpenAiMock.error(500)
              : MockProvider.json(OpenAiMock.completionBody({ text: "ok" }))
          )
        })
        const env = {
          REDIS_URL: server.url,
          REDIS_KEY_PREFIX: uniquePrefix("outage"),
          MOCK_URL: mock.url,
          COMMAND_TIMEOUT_MS: String(commandTimeoutMs),
          PACE_MS: String(paceMs)
        }
        const workers = yield* Effect.all(
          ["A", "B"].map((NAME) => startWorker<ReadonlyArray<Call>>("outageWorker.ts", { ...env, NAME }, 40_000))
        )
        yield* Effect.all(workers.map((worker) => worker.ready), { concurrency: 2 })
        yield* Effect.forEach(workers, (worker) => worker.send("go"))

        yield* Effect.sleep(beforeMs)
        const stopAt = Date.now()
        yield* Effect.promise(() => server.stop())
        const stoppedAt = Date.now()
        yield* Effect.sleep(outageMs)
        const restartAt = Date.now()
        yield* Effect.promise(() => server.start())
        const restartedAt = Date.now()
        yield* Effect.sleep(afterMs)

        yield* Effect.forEach(workers, (worker) => worker.end)
        const reports = yield* Effect.all(workers.map((worker) => worker.done), { concurrency: 2 })
        const requests = yield* mock.requests
        const sent = new Set(requests.map(promptOf))

        for (const [index, calls] of reports.entries()) {
          const name = ["A", "B"][index]!
          // No call hangs: each one ended, within the bound.
          expect(calls.filter((call) => call.endedAt === undefined)).toEqual([])
          expect(calls.filter((call) => call.endedAt! - call.startedAt > boundMs)).toEqual([])
          // Nothing but documented outcomes (no RedisError, no defect), and a refusal says why.
          const documented = ["success", "PolicyUnavailable", "ServerError", "CircuitOpen"]
          expect(calls.filter((call) => !documented.includes(call.outcome))).toEqual([])
          const reasons = calls.flatMap((call) => call.reason === undefined ? [] : [call.reason])
          expect(new Set(reasons)).toEqual(new Set(["not connected"]))

          const before = calls.filter((call) => call.endedAt! < stopAt)
          const outage = calls.filter((call) => call.startedAt >= stoppedAt + settleMs && call.endedAt! <= restartAt)
          const after = calls.filter((call) => call.startedAt >= restartedAt + recoveryMs)
          for (const kind of Object.keys(duringOutage) as Array<Kind>) {
            const of = (phase: ReadonlyArray<Call>) => phase.filter((call) => call.kind === kind)
            expect(of(before).length, `${name} ${kind} before`).toBeGreaterThan(0)
            expect(of(outage).length, `${name} ${kind} during the outage`).toBeGreaterThan(1)
            expect(of(after).length, `${name} ${kind} after`).toBeGreaterThan(1)
            if (kind === "free-fail") continue
            for (const call of of(before)) expect(pick(call, normal[kind]), `${name} before`).toEqual(normal[kind])
            const like = duringOutage[kind]
            for (const call of of(outage)) {
              const at = `${call.startedAt - stoppedAt}..${call.endedAt! - stoppedAt} ms after the stop`
              expect(pick(call, like), `${name} ${call.prompt} during the outage (${at})`).toEqual(like)
            }
            // Redis came back empty: a hit kind may miss first (its entry is gone), then hits again.
            for (const call of of(after)) expect(call.outcome, `${name} ${kind} after`).toBe("success")
            expect(pick(of(after).at(-1)!, normal[kind]), `${name} ${kind} at the end`).toEqual(normal[kind])
          }

          // No call waits for Redis to come back: those of the outage's first half ended before the restart.
          const early = calls.filter((call) =>
            call.startedAt >= stoppedAt + settleMs && call.startedAt <= stoppedAt + outageMs / 2
          )
          expect(early.length).toBeGreaterThan(0)
          expect(early.filter((call) => call.endedAt! > restartAt)).toEqual([])

          // The cache fails open: this process's cached question, asked of the provider only at warm-up while
          // Redis was up, went to the provider again while it was down.
          const question = (from: number, to: number) =>
            requests.filter((request) =>
              promptOf(request) === `free ${name}: capital of Italy?` && request.arrivedAt >= from &&
              request.arrivedAt <= to
            ).length
          const warmedUp = Math.min(...calls.map((call) => call.startedAt))
          expect(question(warmedUp, stopAt)).toBe(0)
          expect(question(stoppedAt, restartAt)).toBeGreaterThan(0)

          // Refused calls never reached the provider; calls let through did (unique prompts only).
          for (const call of calls.filter((call) => !call.kind.endsWith("-hit"))) {
            expect(sent.has(call.prompt), `${call.prompt}: ${call.outcome}`).toBe(
              call.outcome === "success" || call.outcome === "ServerError"
            )
          }

          // The breaker keeps working from memory: this process's own breaker lets 2 failures through during the
          // outage, then refuses, without the other process's state (Redis is gone).
          const failing = outage.filter((call) => call.kind === "free-fail")
          expect(failing.at(-1)!.outcome).toBe("CircuitOpen")
          const failuresSent = requests.filter((request) =>
            promptOf(request).startsWith(`fail ${name} `) && request.arrivedAt >= stopAt &&
            request.arrivedAt <= restartAt
          )
          expect(failuresSent).toHaveLength(2)
        }
      }),
    60_000
  )
})
