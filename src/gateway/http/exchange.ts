/**
 * One request as the gateway follows it: who asked for what, which provider and model answered after how many
 * attempts, tokens, cost and times. Filled while the request runs (partly by watching the `LlmMetrics` events
 * of the route's calls), then written once, when it ends, as the request log line, the Prometheus samples and
 * the attributes of the request's span.
 *
 * @since 0.2.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as HashMap from "effect/HashMap"
import type * as Tracer from "effect/Tracer"
import type * as ChatResponse from "../../ChatResponse.js"
import type * as LlmError from "../../LlmError.js"
import * as LlmMetrics from "../../LlmMetrics.js"
import type * as Metrics from "../Metrics.js"
import * as Wire from "../wire/errors.js"
import * as Usd from "./usd.js"

/**
 * The mutable record of one request (a plain object: it is touched on the hot path).
 *
 * @since 0.2.0
 * @category models
 */
export interface Exchange {
  readonly requestId: string
  readonly method: string
  readonly path: string
  /** `performance.now()` at arrival, ms. */
  readonly startedAt: number
  tenant: string
  /** The model name the client sent (cut to 256 characters), `""` before one is decoded. */
  route: string
  /** Whether `route` names a route of the config the tenant may use (else it is no metric label). */
  routed: boolean
  stream: boolean
  status: number
  /** `"success"`, an error tag, or `"interrupted"` (the client went away or the server stopped). */
  outcome: string
  /**
   * The error's own message, for the operator's log: a client reads the wire's message, which never carries
   * the gateway's addresses (the library keeps keys out of its messages).
   */
  error: string | undefined
  /**
   * The error's message where it tells content (a guardrail's reason names the denied term, or the text it
   * matched): `error` then says only who blocked what, and this is logged instead with `logContent`.
   */
  errorWithContent: string | undefined
  /** The status the error would have been answered with: a stream that failed after its `200` still has one. */
  errorStatus: number | undefined
  provider: string | undefined
  model: string | undefined
  /** Provider attempts seen (calls and their retries); 0 for a cache hit or a request refused before. */
  attempts: number
  /** Time spent in provider calls (as the library measured them), ms. */
  upstreamMs: number
  /** Time spent receiving the request body from the client, ms: the client's pace, not the gateway's overhead. */
  requestBodyMs: number
  /** When the reading of the body began (`performance.now()`), while it goes on: one cut short counts too. */
  requestBodyStartedAt: number | undefined
  /** When the route was called (`performance.now()`), for a route that reports no provider events. */
  routeStartedAt: number | undefined
  usage: ChatResponse.Usage | undefined
  /** `usage` and `costUsd` were estimated from what a stream delivered, not reported by the provider. */
  usageEstimated: boolean
  costUsd: number | undefined
  cached: boolean
  /** Time to the first content part of a stream, ms from arrival. */
  firstTokenMs: number | undefined
  /** Prompt and answer, kept only when the settings ask for content in the log. */
  prompt: unknown
  answer: string | undefined
  /** When the response is finished (set once), ms from arrival. */
  durationMs: number | undefined
}

/**
 * A fresh record.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (requestId: string, method: string, path: string): Exchange => ({
  requestId,
  method,
  path,
  startedAt: performance.now(),
  tenant: "",
  route: "",
  routed: false,
  stream: false,
  status: 0,
  outcome: "success",
  error: undefined,
  errorWithContent: undefined,
  errorStatus: undefined,
  provider: undefined,
  model: undefined,
  attempts: 0,
  upstreamMs: 0,
  requestBodyMs: 0,
  requestBodyStartedAt: undefined,
  routeStartedAt: undefined,
  usage: undefined,
  usageEstimated: false,
  costUsd: undefined,
  cached: false,
  firstTokenMs: undefined,
  prompt: undefined,
  answer: undefined,
  durationMs: undefined
})

// The `provider` of `Fallback` and `Router` services, and of errors raised before any provider (`"liter-llm"`).
const composites: ReadonlySet<string> = new Set(["fallback", "router", "liter-llm"])

/**
 * Records a failure of the route: its tag as the outcome, its message for the log.
 *
 * @since 0.2.0
 * @category mutations
 */
export const failed = (exchange: Exchange, error: LlmError.LlmError): void => {
  exchange.outcome = error._tag
  if (error._tag === "GuardrailBlocked") {
    exchange.error = `guardrail ${JSON.stringify(error.guardrail)} blocked the ${error.stage}${
      error.partial === undefined ? "" : " mid-stream"
    }`
    exchange.errorWithContent = error.message
  } else {
    exchange.error = error.message
    exchange.errorWithContent = undefined
  }
  exchange.errorStatus = Wire.statusOf(error)
  // An answer an output guardrail blocked was made and paid for: the log and the metrics count it.
  if (error._tag === "GuardrailBlocked" && error.usage !== undefined && exchange.usage === undefined) {
    exchange.usage = error.usage
    exchange.costUsd = error.costUsd
  }
  // Who failed, when no provider answered (a policy's error names the provider of the route it guards); not
  // the name of a fallback chain or router wrapped by that policy, which is no provider.
  if (
    exchange.provider === undefined && error.provider !== undefined && error.provider !== "" &&
    !composites.has(error.provider)
  ) {
    exchange.provider = error.provider
  }
}

/**
 * Time since arrival, ms.
 *
 * @since 0.2.0
 * @category accessors
 */
export const elapsed = (exchange: Exchange): number => performance.now() - exchange.startedAt

/**
 * Counts the time since the route was called as upstream time when no provider event counted any: an answer
 * shared with an identical request in flight (its events were that request's), a model that reports no events,
 * or a client that left while waiting for either.
 *
 * @since 0.2.0
 * @category mutations
 */
export const routeEnded = (exchange: Exchange): void => {
  if (exchange.attempts === 0 && !exchange.cached && exchange.routeStartedAt !== undefined) {
    exchange.upstreamMs = performance.now() - exchange.routeStartedAt
  }
}

/**
 * The time the gateway added: total minus the provider calls and the receiving of the request body, ms, never
 * below 0.
 *
 * @since 0.2.0
 * @category accessors
 */
export const overheadMs = (exchange: Exchange, totalMs: number): number =>
  Math.max(0, totalMs - exchange.upstreamMs - exchange.requestBodyMs)

/**
 * A `LlmMetrics` service for one request: it forwards every event to `outer` (the application's own) and keeps
 * the attempts, the provider and model that answered and the upstream time on `exchange`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const observer = (exchange: Exchange, outer: LlmMetrics.Service): LlmMetrics.Service => {
  let answered = false
  return {
    recordCall: (event) => {
      if (event.cached) {
        exchange.cached = true
        // Waiting for an identical call in flight is time at the provider, not the gateway's overhead.
        if (event.joined === true) exchange.upstreamMs += event.durationMs
      } else {
        exchange.attempts += 1 + event.retries
        exchange.upstreamMs += event.durationMs
      }
      // The provider that answered; until one does, the last one called (a failure, or a call the client left),
      // unless a stream already delivered content: its own metadata named who answered.
      if (!answered && (event.outcome === "success" || exchange.firstTokenMs === undefined)) {
        answered = event.outcome === "success"
        exchange.provider = event.provider
        exchange.model = event.model
      }
      return outer === LlmMetrics.noop ? Effect.void : outer.recordCall(event)
    },
    recordFallback: outer.recordFallback,
    recordCircuit: outer.recordCircuit,
    summary: outer.summary
  }
}

const round = (ms: number): number => Math.round(ms * 100) / 100

/**
 * The fields of the request log line: ids, route, who answered, outcome, tokens, cost, durations; the prompt and
 * the answer only when `logContent`. Never a key.
 *
 * @since 0.2.0
 * @category accessors
 */
export const logFields = (exchange: Exchange, logContent: boolean): Record<string, unknown> => {
  const durationMs = exchange.durationMs ?? elapsed(exchange)
  return {
    requestId: exchange.requestId,
    method: exchange.method,
    path: exchange.path,
    tenant: exchange.tenant,
    route: exchange.route,
    stream: exchange.stream,
    status: exchange.status,
    outcome: exchange.outcome,
    provider: exchange.provider ?? null,
    model: exchange.model ?? null,
    attempts: exchange.attempts,
    cached: exchange.cached,
    inputTokens: exchange.usage?.inputTokens ?? null,
    outputTokens: exchange.usage?.outputTokens ?? null,
    costUsd: exchange.costUsd === undefined ? null : Usd.round(exchange.costUsd),
    durationMs: round(durationMs),
    upstreamMs: round(exchange.upstreamMs),
    requestBodyMs: round(exchange.requestBodyMs),
    overheadMs: round(overheadMs(exchange, durationMs)),
    timeToFirstTokenMs: exchange.firstTokenMs === undefined ? null : round(exchange.firstTokenMs),
    ...(exchange.usageEstimated ? { usageEstimated: true } : {}),
    ...(exchange.error === undefined
      ? {}
      : { error: logContent && exchange.errorWithContent !== undefined ? exchange.errorWithContent : exchange.error }),
    ...(logContent ? { prompt: exchange.prompt ?? null, answer: exchange.answer ?? null } : {})
  }
}

/**
 * Writes what the request became: the log line (one structured entry through Effect's `Logger`), the Prometheus
 * samples of a chat request, and the `gen_ai.*` attributes on its span, which it ends.
 *
 * @since 0.2.0
 * @category finishing
 */
export const finish = (
  exchange: Exchange,
  options: {
    readonly logContent: boolean
    readonly metrics: Metrics.GatewayMetrics | undefined
    readonly span: Tracer.Span | undefined
  }
): Effect.Effect<void> =>
  Effect.suspend(() => {
    exchange.durationMs ??= elapsed(exchange)
    // A body still arriving when the request ended (Node timed it out, the server stopped): the client's time too.
    if (exchange.requestBodyStartedAt !== undefined) {
      exchange.requestBodyMs = exchange.startedAt + exchange.durationMs - exchange.requestBodyStartedAt
      exchange.requestBodyStartedAt = undefined
    }
    const fields = logFields(exchange, options.logContent)
    // Every chat request, those refused before a route too (a bad key, a malformed body), so the metrics show
    // clients sending bad requests.
    if (options.metrics !== undefined) {
      options.metrics.record({
        tenant: exchange.tenant,
        // A name that is no route of the tenant's is the client's choice: one label for all of them, as OpenTelemetry
        // does for values outside a known set, so clients cannot grow the metrics without bound.
        route: exchange.routed ? exchange.route : "_OTHER",
        status: exchange.status,
        outcome: exchange.outcome,
        stream: exchange.stream,
        // A hit spent no tokens (its answer's usage is the stored call's).
        inputTokens: exchange.cached ? undefined : exchange.usage?.inputTokens,
        outputTokens: exchange.cached ? undefined : exchange.usage?.outputTokens,
        costUsd: exchange.cached ? 0 : exchange.costUsd,
        cached: exchange.cached,
        durationMs: exchange.durationMs,
        overheadMs: overheadMs(exchange, exchange.durationMs),
        timeToFirstTokenMs: exchange.firstTokenMs
      })
    }
    // A 5xx answer, or a stream that failed after its `200` with a 5xx-class error: logged as an error, and its
    // span ends with an error status and `error.type`, as OpenTelemetry's HTTP server spans do (a 4xx is the
    // client's failure: the span ends as a success).
    const serverError = exchange.status >= 500 || (exchange.status < 400 && (exchange.errorStatus ?? 0) >= 500)
    const span = options.span
    if (span !== undefined) {
      if (serverError) span.attribute("error.type", exchange.outcome)
      span.attribute("http.response.status_code", exchange.status)
      span.attribute("liter_llm.request_id", exchange.requestId)
      if (exchange.tenant !== "") span.attribute("liter_llm.tenant", exchange.tenant)
      if (exchange.route !== "") span.attribute("gen_ai.request.model", exchange.route)
      if (exchange.provider !== undefined) span.attribute("gen_ai.provider.name", exchange.provider)
      if (exchange.model !== undefined) span.attribute("gen_ai.response.model", exchange.model)
      if (exchange.usage !== undefined && !exchange.cached) {
        span.attribute("gen_ai.usage.input_tokens", exchange.usage.inputTokens)
        span.attribute("gen_ai.usage.output_tokens", exchange.usage.outputTokens)
      }
      span.attribute("liter_llm.outcome", exchange.outcome)
      span.attribute("liter_llm.attempts", exchange.attempts)
      span.attribute("liter_llm.cached", exchange.cached)
    }
    const logged = withAnnotations(
      serverError ? Effect.logError("gateway request") : Effect.logInfo("gateway request"),
      fields
    )
    if (span === undefined) return logged
    const ended = Effect.flatMap(Clock.currentTimeNanos, (now) =>
      Effect.sync(() =>
        span.end(now, serverError ? Exit.fail(new ServerErrorAnswer(exchange.status, exchange.error)) : Exit.void)
      ))
    return Effect.zipRight(logged, ended)
  })

/** What a span that ended with a 5xx answer failed with: the status and the error's own message. */
class ServerErrorAnswer extends Error {
  constructor(status: number, message: string | undefined) {
    super(message ?? `answered ${status}`)
    this.name = `HTTP ${status}`
  }
}

// `Effect.annotateLogs` without its bracket (two copies of the fiber's refs) and with one batch of map updates
// instead of one copy per field: this runs in the request's finalizer, which nothing interrupts, so putting
// the fiber's annotations back after the log needs no guard.
const withAnnotations = (log: Effect.Effect<void>, fields: Record<string, unknown>): Effect.Effect<void> =>
  Effect.flatMap(FiberRef.get(FiberRef.currentLogAnnotations), (previous) =>
    Effect.zipRight(
      FiberRef.set(
        FiberRef.currentLogAnnotations,
        HashMap.mutate(previous, (annotations) => {
          for (const key in fields) HashMap.set(annotations, key, fields[key])
        })
      ),
      Effect.zipRight(log, FiberRef.set(FiberRef.currentLogAnnotations, previous))
    ))
