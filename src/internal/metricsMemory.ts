import * as Effect from "effect/Effect"
import type * as LlmMetrics from "../LlmMetrics.js"

type MutableTotals = { -readonly [K in keyof LlmMetrics.Totals]: LlmMetrics.Totals[K] }

const zero = (): MutableTotals => ({
  requests: 0,
  failures: 0,
  inputTokens: 0,
  outputTokens: 0,
  cachedInputTokens: 0,
  reasoningTokens: 0,
  costUsd: 0,
  unpricedRequests: 0,
  retries: 0,
  fallbacks: 0,
  cacheHits: 0,
  durationMs: 0
})

/** An empty summary. */
export const empty = (): LlmMetrics.Summary => ({
  total: zero(),
  byProvider: {},
  byModel: {},
  byTenant: {},
  circuitTransitions: []
})

/**
 * A call whose cost is unknown: it has no cost, yet the provider answered it (it reported a usage, succeeded, or
 * delivered content before it ended: a stream cut or stopped before its usage part, which the provider bills).
 * A call that failed before any content (a 400, a refused connection) costs nothing, so it is not one: counting
 * it would send the reader to add a price that is already there.
 */
export const isUnpriced = (event: LlmMetrics.CallEvent): boolean =>
  event.costUsd === undefined &&
  (event.usage !== undefined || event.outcome === "success" || event.timeToFirstTokenMs !== undefined)

const bucket = (map: Record<string, MutableTotals>, key: string): MutableTotals => (map[key] ??= zero())

/** A summary kept in plain maps: the updates are synchronous, so no fiber can observe a half-applied event. */
export const make = (): LlmMetrics.Service => {
  const total = zero()
  const byProvider: Record<string, MutableTotals> = {}
  const byModel: Record<string, MutableTotals> = {}
  const byTenant: Record<string, MutableTotals> = {}
  const circuitTransitions: Array<LlmMetrics.CircuitEvent> = []

  const targets = (
    event: { readonly provider: string; readonly model?: string | undefined; readonly tenant?: string | undefined }
  ) => {
    const out = [total, bucket(byProvider, event.provider)]
    if (event.model !== undefined) out.push(bucket(byModel, event.model))
    if (event.tenant !== undefined) out.push(bucket(byTenant, event.tenant))
    return out
  }

  const copy = (map: Record<string, MutableTotals>) =>
    Object.fromEntries(Object.entries(map).map(([key, totals]) => [key, { ...totals }]))

  return {
    recordCall: (event) =>
      Effect.sync(() => {
        for (const t of targets(event)) {
          t.requests++
          if (event.outcome !== "success" && event.outcome !== "interrupted") t.failures++
          t.inputTokens += event.usage?.inputTokens ?? 0
          t.outputTokens += event.usage?.outputTokens ?? 0
          t.cachedInputTokens += event.usage?.cachedInputTokens ?? 0
          t.reasoningTokens += event.usage?.reasoningTokens ?? 0
          if (event.costUsd !== undefined) t.costUsd += event.costUsd
          else if (isUnpriced(event)) t.unpricedRequests++
          t.retries += event.retries
          if (event.cached) t.cacheHits++
          t.durationMs += event.durationMs
        }
      }),
    recordFallback: (event) =>
      Effect.sync(() => {
        for (const t of targets(event)) t.fallbacks++
      }),
    recordCircuit: (event) => Effect.sync(() => void circuitTransitions.push(event)),
    summary: Effect.sync(() => ({
      total: { ...total },
      byProvider: copy(byProvider),
      byModel: copy(byModel),
      byTenant: copy(byTenant),
      circuitTransitions: [...circuitTransitions]
    }))
  }
}
