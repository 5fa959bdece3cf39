/**
 * The metrics service: every provider call, fallback step and circuit transition is reported to it. It is a
 * `Context.Reference` whose default does nothing, so recording costs nothing until a program provides a
 * Layer: {@link layerMemory} (a queryable summary per tenant, provider and model), {@link layerEffectMetrics}
 * (Effect `Metric`s named after the OpenTelemetry GenAI conventions), or {@link layer} (both).
 *
 * Nothing secret is ever recorded: labels are the provider name, model, tenant id and error tag.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as MetricLabel from "effect/MetricLabel"
import type * as ChatResponse from "./ChatResponse.js"
import * as EffectMetrics from "./internal/effectMetrics.js"
import * as Memory from "./internal/metricsMemory.js"

/**
 * How a call ended, for its provider: `"success"`, the `_tag` of its error, `"defect"` (it died), or
 * `"interrupted"` (e.g. a consumer that stopped reading a stream before its finish part). A stream consumer's own
 * error is never an outcome.
 *
 * @since 0.1.0
 * @category models
 */
export type Outcome = string

/**
 * One call to one provider, after its retries.
 *
 * @since 0.1.0
 * @category models
 */
export interface CallEvent {
  readonly operation: "generate" | "stream"
  readonly tenant: string | undefined
  readonly provider: string
  readonly model: string
  readonly outcome: Outcome
  /** Usage reported by the provider (for an interrupted stream: what had arrived). */
  readonly usage: ChatResponse.Usage | undefined
  /**
   * Cost of the call in USD from `Pricing` and the usage, else undefined: a model with no price (the call is then
   * unpriced, see {@link Totals}), or no usage (a failed call, a stream stopped before its usage part).
   */
  readonly costUsd: number | undefined
  readonly durationMs: number
  /** Streams only: from the call's start to its first content part. */
  readonly timeToFirstTokenMs: number | undefined
  /** Attempts after the first. */
  readonly retries: number
  /** The answer came from a cache, not the provider. */
  readonly cached: boolean
  /**
   * A cache hit that waited for an identical call in flight and shares its answer (`Cache` coalescing): its
   * `durationMs` is mostly that call's time at the provider, not a lookup.
   */
  readonly joined?: boolean | undefined
}

/**
 * A fallback chain moved on from one step to the next.
 *
 * @since 0.1.0
 * @category models
 */
export interface FallbackEvent {
  readonly tenant: string | undefined
  /** The step that failed (0-based) and what it was. */
  readonly fromStep: number
  readonly provider: string
  readonly model: string | undefined
  readonly error: string
  readonly durationMs: number
}

/**
 * A circuit breaker changed state.
 *
 * @since 0.1.0
 * @category models
 */
export interface CircuitEvent {
  readonly key: string
  readonly from: "closed" | "open" | "half-open"
  readonly to: "closed" | "open" | "half-open"
  readonly at: number
}

/**
 * Totals of a set of calls.
 *
 * @since 0.1.0
 * @category models
 */
export interface Totals {
  readonly requests: number
  readonly failures: number
  readonly inputTokens: number
  readonly outputTokens: number
  readonly cachedInputTokens: number
  readonly reasoningTokens: number
  /** Sum of the known costs; see `unpricedRequests` for calls whose cost was unknown. */
  readonly costUsd: number
  /**
   * Calls answered with no known cost: a usage the price data cannot price (a model missing from it), or an
   * answer or content without a usage (a stream cut or stopped before its usage part). Calls that failed before
   * any content are not counted: they cost nothing.
   */
  readonly unpricedRequests: number
  readonly retries: number
  readonly fallbacks: number
  readonly cacheHits: number
  readonly durationMs: number
}

/**
 * The in-memory summary.
 *
 * @since 0.1.0
 * @category models
 */
export interface Summary {
  readonly total: Totals
  readonly byProvider: Readonly<Record<string, Totals>>
  readonly byModel: Readonly<Record<string, Totals>>
  readonly byTenant: Readonly<Record<string, Totals>>
  readonly circuitTransitions: ReadonlyArray<CircuitEvent>
}

/**
 * The metrics service: records each call, fallback and breaker transition, and answers a summary.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly recordCall: (event: CallEvent) => Effect.Effect<void>
  readonly recordFallback: (event: FallbackEvent) => Effect.Effect<void>
  readonly recordCircuit: (event: CircuitEvent) => Effect.Effect<void>
  /** The summary so far; empty unless {@link layerMemory} (or {@link layer}) is provided. */
  readonly summary: Effect.Effect<Summary>
}

/**
 * A service that records nothing (the default).
 *
 * @since 0.1.0
 * @category constructors
 */
export const noop: Service = {
  recordCall: () => Effect.void,
  recordFallback: () => Effect.void,
  recordCircuit: () => Effect.void,
  summary: Effect.sync(() => Memory.empty())
}

/**
 * The service reference; its default records nothing.
 *
 * @since 0.1.0
 * @category tags
 */
export class LlmMetrics extends Context.Reference<LlmMetrics>()("liter-llm/LlmMetrics", {
  defaultValue: () => noop
}) {}

/**
 * A service keeping a summary in memory.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory: Effect.Effect<Service> = Effect.sync(() => Memory.make())

/**
 * Keeps totals per tenant, provider and model in memory, read with {@link summary}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { LanguageModel, LlmMetrics } from "liter-llm"
 *
 * const program = Effect.gen(function*() {
 *   yield* LanguageModel.generate({ messages: [{ role: "user", content: "Hi" }], metadata: { tenant: "acme" } })
 *   const summary = yield* LlmMetrics.summary
 *   return summary.byTenant["acme"]?.outputTokens
 * }).pipe(Effect.provide(LlmMetrics.layerMemory))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<LlmMetrics> = Layer.effect(LlmMetrics, makeMemory)

/**
 * A service updating Effect `Metric`s named after the OpenTelemetry GenAI conventions:
 * `gen_ai.client.operation.duration` (s), `gen_ai.client.token.usage` (by `gen_ai.token.type`),
 * `gen_ai.client.operation.time_to_first_chunk` (s), and the counters `liter_llm.requests`, `liter_llm.retries`,
 * `liter_llm.fallbacks`, `liter_llm.circuit.transitions`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeEffectMetrics: Effect.Effect<Service> = Effect.sync(() => EffectMetrics.make(noop.summary))

/**
 * Records into Effect `Metric`s (export them with `@effect/opentelemetry` or read them with `Metric.value`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerEffectMetrics: Layer.Layer<LlmMetrics> = Layer.effect(LlmMetrics, makeEffectMetrics)

/**
 * Both at once: the in-memory summary and the Effect `Metric`s.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<LlmMetrics> = Layer.effect(
  LlmMetrics,
  Effect.sync(() => {
    const memory = Memory.make()
    const metrics = EffectMetrics.make(memory.summary)
    return {
      recordCall: (event) => Effect.zipRight(memory.recordCall(event), metrics.recordCall(event)),
      recordFallback: (event) => Effect.zipRight(memory.recordFallback(event), metrics.recordFallback(event)),
      recordCircuit: (event) => Effect.zipRight(memory.recordCircuit(event), metrics.recordCircuit(event)),
      summary: memory.summary
    } satisfies Service
  })
)

/**
 * The Effect metrics {@link layerEffectMetrics} updates, to read back with `Metric.value` (with the labels of
 * {@link callLabels}) or to export.
 *
 * @since 0.1.0
 * @category metrics
 */
export const metrics = {
  operationDuration: EffectMetrics.operationDuration,
  tokenUsage: EffectMetrics.tokenUsage,
  timeToFirstChunk: EffectMetrics.timeToFirstToken,
  requests: EffectMetrics.requests,
  retries: EffectMetrics.retries,
  fallbacks: EffectMetrics.fallbacks,
  circuitTransitions: EffectMetrics.circuitTransitions
} as const

/**
 * The metric labels of a call event, as {@link layerEffectMetrics} attaches them.
 *
 * @example
 * ```ts
 * import { Effect, Metric } from "effect"
 * import { LlmMetrics } from "liter-llm"
 * declare const event: LlmMetrics.CallEvent
 *
 * const count = Metric.value(Metric.taggedWithLabels(LlmMetrics.metrics.requests, LlmMetrics.callLabels(event)))
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const callLabels = (event: CallEvent): ReadonlyArray<MetricLabel.MetricLabel> =>
  EffectMetrics.labelsOf(EffectMetrics.callTags(event))

/**
 * The summary of the provided metrics service.
 *
 * @since 0.1.0
 * @category accessors
 */
export const summary: Effect.Effect<Summary> = Effect.flatMap(LlmMetrics, (metrics) => metrics.summary)
