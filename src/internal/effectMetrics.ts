import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricLabel from "effect/MetricLabel"
import type * as LlmMetrics from "../LlmMetrics.js"

// Bucket boundaries recommended by the OpenTelemetry GenAI semantic conventions.
const durationBoundaries = MetricBoundaries.fromIterable([
  0.01,
  0.02,
  0.04,
  0.08,
  0.16,
  0.32,
  0.64,
  1.28,
  2.56,
  5.12,
  10.24,
  20.48,
  40.96,
  81.92
])
const tokenBoundaries = MetricBoundaries.fromIterable([
  1,
  4,
  16,
  64,
  256,
  1024,
  4096,
  16384,
  65536,
  262144,
  1048576,
  4194304,
  16777216,
  67108864
])

/** The metrics, exported so programs and tests can read them back with `Metric.value`. */
export const operationDuration = Metric.histogram(
  "gen_ai.client.operation.duration",
  durationBoundaries,
  "GenAI operation duration (s)"
)
export const tokenUsage = Metric.histogram("gen_ai.client.token.usage", tokenBoundaries, "Tokens used per call")
export const timeToFirstToken = Metric.histogram(
  "gen_ai.client.operation.time_to_first_chunk",
  durationBoundaries,
  "Time to the first streamed token (s)"
)
export const requests = Metric.counter("liter_llm.requests", { description: "Provider calls, by outcome" })
export const retries = Metric.counter("liter_llm.retries", { description: "Retries of provider calls" })
export const fallbacks = Metric.counter("liter_llm.fallbacks", { description: "Fallback chain steps taken" })
export const circuitTransitions = Metric.counter("liter_llm.circuit.transitions", {
  description: "Circuit breaker state changes"
})

/** The attributes of a call, as metric tags (never a secret: names, model, tenant id, error tag). */
export const callTags = (event: LlmMetrics.CallEvent): Record<string, string> => ({
  "gen_ai.operation.name": "chat",
  // `gen_ai.system` is the older name of `gen_ai.provider.name`; both, until exporters settle on the new one.
  "gen_ai.provider.name": event.provider,
  "gen_ai.system": event.provider,
  "gen_ai.request.model": event.model,
  ...(event.tenant === undefined ? {} : { "liter_llm.tenant": event.tenant }),
  ...(event.outcome === "success" ? {} : { "error.type": event.outcome })
})

/** A service updating the Effect metrics above; `summary` is delegated. */
export const make = (summary: Effect.Effect<LlmMetrics.Summary>): LlmMetrics.Service => ({
  recordCall: (event) =>
    Effect.gen(function*() {
      const tags = callTags(event)
      yield* Metric.update(Metric.taggedWithLabels(operationDuration, labelsOf(tags)), event.durationMs / 1000)
      yield* Metric.increment(Metric.taggedWithLabels(requests, labelsOf(tags)))
      if (event.retries > 0) {
        yield* Metric.incrementBy(Metric.taggedWithLabels(retries, labelsOf(tags)), event.retries)
      }
      if (event.usage !== undefined) {
        yield* Metric.update(
          Metric.taggedWithLabels(tokenUsage, labelsOf({ ...tags, "gen_ai.token.type": "input" })),
          event.usage.inputTokens
        )
        yield* Metric.update(
          Metric.taggedWithLabels(tokenUsage, labelsOf({ ...tags, "gen_ai.token.type": "output" })),
          event.usage.outputTokens
        )
      }
      if (event.timeToFirstTokenMs !== undefined) {
        yield* Metric.update(Metric.taggedWithLabels(timeToFirstToken, labelsOf(tags)), event.timeToFirstTokenMs / 1000)
      }
    }),
  recordFallback: (event) =>
    Metric.increment(Metric.taggedWithLabels(
      fallbacks,
      labelsOf({
        "gen_ai.provider.name": event.provider,
        "gen_ai.system": event.provider,
        "error.type": event.error,
        ...(event.tenant === undefined ? {} : { "liter_llm.tenant": event.tenant })
      })
    )),
  recordCircuit: (event) =>
    Metric.increment(
      Metric.taggedWithLabels(circuitTransitions, labelsOf({ "liter_llm.circuit": event.key, state: event.to }))
    ),
  summary
})

/** Tags as metric labels. */
export const labelsOf = (tags: Record<string, string>): Array<MetricLabel.MetricLabel> =>
  Object.entries(tags).map(([key, value]) => MetricLabel.make(key, value))
