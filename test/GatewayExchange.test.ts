/**
 * What a request's record makes of the library's call events and of a cache hit: the time spent waiting for an
 * identical call in flight is the provider's, not the gateway's overhead, and a hit spent no tokens.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Logger } from "effect"
import * as Exchange from "../src/gateway/http/exchange.js"
import type * as Metrics from "../src/gateway/Metrics.js"
import * as LlmError from "../src/LlmError.js"
import * as LlmMetrics from "../src/LlmMetrics.js"

const hit = (joined: boolean, durationMs: number): LlmMetrics.CallEvent => ({
  operation: "generate",
  tenant: "acme",
  provider: "openai",
  model: "gpt-4o",
  outcome: "success",
  usage: undefined,
  costUsd: 0,
  durationMs,
  timeToFirstTokenMs: undefined,
  retries: 0,
  cached: true,
  ...(joined ? { joined } : {})
})

describe("Gateway exchange", () => {
  it.effect("a hit that joined a call in flight counts its wait as upstream time; a stored hit does not", () =>
    Effect.gen(function*() {
      const joined = Exchange.make("req_1", "POST", "/v1/chat/completions")
      yield* Exchange.observer(joined, LlmMetrics.noop).recordCall(hit(true, 900))
      expect([joined.cached, joined.upstreamMs, joined.attempts]).toEqual([true, 900, 0])
      expect(Exchange.overheadMs(joined, 905)).toBe(5)

      const stored = Exchange.make("req_2", "POST", "/v1/chat/completions")
      yield* Exchange.observer(stored, LlmMetrics.noop).recordCall(hit(false, 2))
      expect([stored.cached, stored.upstreamMs]).toEqual([true, 0])
    }))

  it("the overhead is the total less the provider calls and the time the request body took to arrive", () => {
    const exchange = Exchange.make("req_3", "POST", "/v1/chat/completions")
    exchange.upstreamMs = 400
    exchange.requestBodyMs = 300
    expect(Exchange.overheadMs(exchange, 702)).toBe(2)
    expect(Exchange.logFields(exchange, false)).toMatchObject({ upstreamMs: 400, requestBodyMs: 300 })
  })

  it.effect("a hit records no tokens in the metrics and costs 0; a paid answer records its tokens and cost", () =>
    Effect.gen(function*() {
      const records: Array<Metrics.RequestRecord> = []
      const metrics = { record: (record: Metrics.RequestRecord) => records.push(record) } as never
      const usage = { inputTokens: 11, outputTokens: 7, totalTokens: 18 }
      for (const cached of [true, false]) {
        const exchange = Exchange.make("req", "POST", "/v1/chat/completions")
        Object.assign(exchange, { status: 200, usage, cached, costUsd: cached ? 0 : 0.025 })
        yield* Exchange.finish(exchange, { logContent: false, metrics, span: undefined }).pipe(
          Effect.provide(Logger.remove(Logger.defaultLogger))
        )
      }
      expect(records.map((record) => [record.cached, record.inputTokens, record.outputTokens, record.costUsd]))
        .toEqual([[true, undefined, undefined, 0], [false, 11, 7, 0.025]])
    }))

  it("a failure names the provider that failed, never a composite or the library itself", () => {
    const providerAfter = (provider: string) => {
      const exchange = Exchange.make("req", "GET", "/v1/usage")
      Exchange.failed(
        exchange,
        new LlmError.PolicyUnavailable({ provider, policy: "budget", reason: "Redis down", message: "unavailable" })
      )
      return exchange.provider
    }
    expect(providerAfter("openai")).toBe("openai")
    for (const composite of ["fallback", "router", "liter-llm"]) expect(providerAfter(composite)).toBeUndefined()
  })
})
