import { describe, expect, it } from "@effect/vitest"
import * as Metrics from "../src/gateway/Metrics.js"

const request = (costUsd: number | undefined, cached = false): Metrics.RequestRecord => ({
  tenant: "acme",
  route: "gpt-4o-mini",
  status: 200,
  outcome: "success",
  stream: false,
  inputTokens: 10,
  outputTokens: 5,
  costUsd,
  cached,
  durationMs: 12,
  overheadMs: 1,
  timeToFirstTokenMs: undefined
})

const costLine = (text: string) => text.split("\n").find((line) => line.startsWith("liter_llm_gateway_cost_usd_total{"))

describe("Gateway metrics", () => {
  it("the cost counter is the sum of the costs, without float noise; a hit costs 0", async () => {
    const metrics = Metrics.make()
    metrics.record(request(0.1))
    metrics.record(request(0, true))
    metrics.record(request(undefined))
    metrics.record(request(0.2))
    // 0.1 + 0.2 in floats is 0.30000000000000004.
    expect(costLine((await metrics.scrape()).text)).toBe(
      "liter_llm_gateway_cost_usd_total{tenant=\"acme\",route=\"gpt-4o-mini\"} 0.3"
    )
    metrics.record(request(0.000105))
    expect(costLine((await metrics.scrape()).text)).toBe(
      "liter_llm_gateway_cost_usd_total{tenant=\"acme\",route=\"gpt-4o-mini\"} 0.300105"
    )
  })

  it("a tenant whose answers were all cache hits has a cost of 0", async () => {
    const metrics = Metrics.make()
    metrics.record(request(0, true))
    expect(costLine((await metrics.scrape()).text)).toBe(
      "liter_llm_gateway_cost_usd_total{tenant=\"acme\",route=\"gpt-4o-mini\"} 0"
    )
  })
})
