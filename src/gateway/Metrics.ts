/**
 * The gateway's Prometheus metrics, through `prom-client`: requests, tokens, cost, latency and cache hits, as
 * the server sees each request. Labels are the tenant id, the route (the model name a client sent), the status
 * and the error tag: never a key, a prompt or an answer.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricState from "effect/MetricState"
import * as Prometheus from "prom-client"
import * as Outage from "../internal/redisOutage.js"

/**
 * One request as the server saw it when it ended.
 *
 * @since 0.2.0
 * @category models
 */
export interface RequestRecord {
  readonly tenant: string
  /** The model name the client sent (a configured route), `""` before one is known. */
  readonly route: string
  readonly status: number
  /** `"success"`, an `LlmError` / `WireError` tag, or `"interrupted"`. */
  readonly outcome: string
  readonly stream: boolean
  readonly inputTokens: number | undefined
  readonly outputTokens: number | undefined
  /** USD; undefined when the answer could not be priced. */
  readonly costUsd: number | undefined
  readonly cached: boolean
  /** Total time in the gateway, ms. */
  readonly durationMs: number
  /** Time the gateway added (total minus the upstream calls), ms. */
  readonly overheadMs: number
  /** Time to the first content part of a stream, ms. */
  readonly timeToFirstTokenMs: number | undefined
}

/**
 * The metrics of one server, on their own registry.
 *
 * @since 0.2.0
 * @category models
 */
export interface GatewayMetrics {
  readonly registry: Prometheus.Registry
  readonly record: (request: RequestRecord) => void
  /** The exposition text and its content type. */
  readonly scrape: () => Promise<{ readonly contentType: string; readonly text: string }>
}

// Seconds, from 1 ms to 2 minutes: LLM calls span four orders of magnitude.
const latencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]
const overheadBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]

/**
 * Fresh metrics on a fresh registry (`liter_llm_gateway_*`), with Node's process metrics when
 * `processMetrics` is set.
 *
 * @example
 * ```ts
 * import { Metrics } from "liter-llm/gateway"
 *
 * const metrics = Metrics.make()
 * // GET /metrics answers `await metrics.scrape()`
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (options: { readonly processMetrics?: boolean | undefined } = {}): GatewayMetrics => {
  const registry = new Prometheus.Registry()
  if (options.processMetrics === true) Prometheus.collectDefaultMetrics({ register: registry })
  const requests = new Prometheus.Counter({
    name: "liter_llm_gateway_requests_total",
    help: "API requests, each one the request log has a line for: chat completions by tenant, route, HTTP status " +
      "and outcome (success or error tag); the other /v1 requests (models, usage, unknown paths) under route _OTHER.",
    labelNames: ["tenant", "route", "status", "outcome", "stream"] as const,
    registers: [registry]
  })
  const tokens = new Prometheus.Counter({
    name: "liter_llm_gateway_tokens_total",
    help: "Tokens reported by the providers, by tenant, route and kind (input or output).",
    labelNames: ["tenant", "route", "kind"] as const,
    registers: [registry]
  })
  // Summed in whole nano-USD, written in USD at each scrape: float sums of costs show noise
  // (0.00008999999999999999 for 0.00003 + 0.00006), which the log and the headers, rounded, do not.
  const costNanos = new Map<string, { readonly tenant: string; readonly route: string; nanos: number }>()
  new Prometheus.Counter({
    name: "liter_llm_gateway_cost_usd_total",
    help: "Cost of the answers in USD, by tenant and route (cache hits cost 0).",
    collect() {
      this.reset()
      for (const { nanos, route, tenant } of costNanos.values()) this.inc({ tenant, route }, nanos / 1e9)
    },
    labelNames: ["tenant", "route"] as const,
    registers: [registry]
  })
  const cacheHits = new Prometheus.Counter({
    name: "liter_llm_gateway_cache_hits_total",
    help: "Requests answered from the cache, by tenant and route.",
    labelNames: ["tenant", "route"] as const,
    registers: [registry]
  })
  const duration = new Prometheus.Histogram({
    name: "liter_llm_gateway_request_duration_seconds",
    help: "Time from the request to the end of its answer, in seconds, by route and stream.",
    labelNames: ["route", "stream"] as const,
    buckets: latencyBuckets,
    registers: [registry]
  })
  const overhead = new Prometheus.Histogram({
    name: "liter_llm_gateway_overhead_seconds",
    help: "Time the gateway added to a request (total minus upstream calls), in seconds.",
    labelNames: ["stream"] as const,
    buckets: overheadBuckets,
    registers: [registry]
  })
  const firstToken = new Prometheus.Histogram({
    name: "liter_llm_gateway_time_to_first_token_seconds",
    help: "Time to the first content part of a stream, in seconds, by route.",
    labelNames: ["route"] as const,
    buckets: latencyBuckets,
    registers: [registry]
  })
  // The library's own count (`Redis.metrics.unavailable`, an Effect metric of this process), read at each scrape.
  new Prometheus.Counter({
    name: "liter_llm_gateway_redis_unavailable_total",
    help: "Store operations served without Redis because it failed, by store (rate-limit, budget, cache, " +
      "circuit) and what the store did instead (fallback): the process's liter_llm.redis.unavailable.",
    labelNames: ["store", "fallback"] as const,
    registers: [registry],
    collect() {
      this.reset()
      for (const pair of Effect.runSync(Metric.snapshot)) {
        const state = pair.metricState
        if (pair.metricKey.name !== Outage.unavailableName || !MetricState.isCounterState(state)) continue
        const tag = (key: string) => pair.metricKey.tags.find((label) => label.key === key)?.value ?? ""
        this.inc({ store: tag("store"), fallback: tag("fallback") }, Number(state.count))
      }
    }
  })
  return {
    registry,
    record: (r) => {
      const stream = r.stream ? "true" : "false"
      requests.inc({ tenant: r.tenant, route: r.route, status: String(r.status), outcome: r.outcome, stream })
      if (r.inputTokens !== undefined) tokens.inc({ tenant: r.tenant, route: r.route, kind: "input" }, r.inputTokens)
      if (r.outputTokens !== undefined) {
        tokens.inc({ tenant: r.tenant, route: r.route, kind: "output" }, r.outputTokens)
      }
      if (r.costUsd !== undefined) {
        const key = `${r.tenant}\u0000${r.route}`
        const total = costNanos.get(key)
        const nanos = Math.round(r.costUsd * 1e9)
        if (total === undefined) costNanos.set(key, { tenant: r.tenant, route: r.route, nanos })
        else total.nanos += nanos
      }
      if (r.cached) cacheHits.inc({ tenant: r.tenant, route: r.route })
      duration.observe({ route: r.route, stream }, r.durationMs / 1000)
      overhead.observe({ stream }, Math.max(0, r.overheadMs) / 1000)
      if (r.timeToFirstTokenMs !== undefined) firstToken.observe({ route: r.route }, r.timeToFirstTokenMs / 1000)
    },
    scrape: async () => ({ contentType: registry.contentType, text: await registry.metrics() })
  }
}
