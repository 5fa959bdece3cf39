/**
 * Reports calls to the `LlmMetrics` service and settles their spans: one event per provider call (after its
 * retries), with its outcome, usage, duration, time to first token and retry count.
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import type * as Tracer from "effect/Tracer"
import type * as ChatRequest from "../ChatRequest.js"
import type * as ChatResponse from "../ChatResponse.js"
import type * as LlmError from "../LlmError.js"
import * as LlmMetrics from "../LlmMetrics.js"
import type * as StreamPart from "../StreamPart.js"
import * as Attribution from "./attribution.js"
import * as Streaming from "./streaming.js"

/** The outcome label of an exit: `"success"`, the error's tag, `"defect"`, or `"interrupted"`. */
export const outcomeOf = (exit: Exit.Exit<unknown, LlmError.LlmError>): string => {
  if (Exit.isSuccess(exit)) return "success"
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure)) return failure.value._tag
  return Cause.isDie(exit.cause) ? "defect" : "interrupted"
}

/** What a response tells about itself: all of it for `generate`, what was delivered for a stream. */
export interface ResponseFacts {
  readonly id?: string | undefined
  readonly model?: string | undefined
  readonly finishReason?: ChatResponse.FinishReason | undefined
  readonly usage?: ChatResponse.Usage | undefined
  /** The cost the last usage part carried. */
  readonly costUsd?: number | undefined
}

/** The `gen_ai.*` attributes of a response (OpenTelemetry GenAI semantic conventions), those known. */
export const responseAttributes = (response: ResponseFacts): Record<string, unknown> => ({
  ...(response.id === undefined || response.id === "" ? {} : { "gen_ai.response.id": response.id }),
  ...(response.model === undefined || response.model === "" ? {} : { "gen_ai.response.model": response.model }),
  ...(response.finishReason === undefined ? {} : { "gen_ai.response.finish_reasons": [response.finishReason] }),
  ...(response.usage === undefined ? {} : {
    "gen_ai.usage.input_tokens": response.usage.inputTokens,
    "gen_ai.usage.output_tokens": response.usage.outputTokens
  })
})

/**
 * The facts of the parts a stream delivered, read once when it ends. The metadata comes first and the usage and
 * finish last, so the scans from either end stop after a few parts (a stream without usage is read once).
 */
export const factsOf = (delivered: ReadonlyArray<Chunk.Chunk<StreamPart.StreamPart>>): ResponseFacts => {
  let id: string | undefined
  let model: string | undefined
  forward: for (const chunk of delivered) {
    for (const part of chunk) {
      if (part.type !== "response-metadata") continue
      if (id === undefined && part.id !== undefined && part.id !== "") id = part.id
      if (model === undefined && part.model !== undefined && part.model !== "") model = part.model
      if (id !== undefined && model !== undefined) break forward
    }
  }
  let finishReason: ChatResponse.FinishReason | undefined
  let usage: ChatResponse.Usage | undefined
  let costUsd: number | undefined
  backward: for (let c = delivered.length - 1; c >= 0; c--) {
    const parts = Chunk.toReadonlyArray(delivered[c]!)
    for (let p = parts.length - 1; p >= 0; p--) {
      const part = parts[p]!
      if (finishReason === undefined && part.type === "finish") finishReason = part.finishReason
      else if (usage === undefined && part.type === "usage") {
        usage = part.usage
        costUsd = part.costUsd
      }
      if (finishReason !== undefined && usage !== undefined) break backward
    }
  }
  return { id, model, finishReason, usage, costUsd }
}

interface Call {
  readonly provider: string
  readonly model: string
  readonly request: ChatRequest.ChatRequest
}

const record = (
  metrics: LlmMetrics.Service,
  call: Call,
  fields: Omit<LlmMetrics.CallEvent, "tenant" | "provider" | "model" | "cached">
) =>
  metrics.recordCall({
    ...fields,
    tenant: call.request.metadata?.tenant,
    provider: call.provider,
    model: call.model,
    cached: false
  })

/** Reports a `generate` call when it ends; `attempts` is read then. */
export const generate = <E extends LlmError.LlmError, R>(
  call: Call,
  attempts: () => number,
  self: Effect.Effect<ChatResponse.ChatResponse, E, R>
): Effect.Effect<ChatResponse.ChatResponse, E, R> =>
  // Without a metrics layer nothing is measured: the default service would drop it anyway.
  Effect.flatMap(
    LlmMetrics.LlmMetrics,
    (metrics) => metrics === LlmMetrics.noop ? self : measureGenerate(metrics, call, attempts, self)
  )

const measureGenerate = <E extends LlmError.LlmError, R>(
  metrics: LlmMetrics.Service,
  call: Call,
  attempts: () => number,
  self: Effect.Effect<ChatResponse.ChatResponse, E, R>
): Effect.Effect<ChatResponse.ChatResponse, E, R> =>
  // The clock read synchronously, as in `measureStream`: a gateway measures every call.
  Effect.clockWith((clock) => {
    const start = clock.unsafeCurrentTimeMillis()
    return Effect.onExit(self, (exit) =>
      record(metrics, call, {
        operation: "generate",
        outcome: outcomeOf(exit),
        usage: Exit.isSuccess(exit) ? exit.value.usage : undefined,
        costUsd: Exit.isSuccess(exit) ? exit.value.costUsd : undefined,
        durationMs: clock.unsafeCurrentTimeMillis() - start,
        timeToFirstTokenMs: undefined,
        retries: Math.max(0, attempts() - 1)
      }))
  })

/**
 * Reports a `stream` call and ends its span when the stream ends, with what the provider is accountable for
 * (see `Attribution`), the response attributes of the parts in `delivered` (what reached the consumer, kept by
 * the commit point), and its time to first content part (`firstContentAt`, epoch ms on the stream's clock, as
 * the commit point noted it). Runs in the stream's scope.
 */
export const pull = (
  call: Call,
  span: Tracer.Span,
  attempts: () => number,
  open: Effect.Effect<Streaming.Pull, LlmError.LlmError, Scope.Scope>,
  delivered: ReadonlyArray<Chunk.Chunk<StreamPart.StreamPart>>,
  firstContentAt: () => number | undefined
): Effect.Effect<Streaming.Pull, never, Scope.Scope> =>
  // The finalizer is in place before `open` runs (at the first pull), so a consumer that stops while the stream
  // connects is reported too. Without a metrics layer only the span is settled: plain functions in one
  // finalizer, no generator and no clock reads at the start (measured at ≈ 80 µs per stream on the default path).
  Effect.flatMap(LlmMetrics.LlmMetrics, (metrics) =>
    Effect.clockWith((clock) =>
      Effect.flatMap(Effect.scope, (scope) => {
        const watcher = Attribution.makeWatcher()
        const finalizer = metrics === LlmMetrics.noop
          ? Effect.sync(() => {
            endSpan(span, watcher, delivered, clock.unsafeCurrentTimeNanos())
          })
          : measured(metrics, call, span, attempts, watcher, delivered, firstContentAt, clock)
        // Settled once: when the stream ends or fails (its last pull), else when the consumer stops (the scope
        // closes). A caller that answers a failure at once (a gateway's error status) has the call's event,
        // its retries included, before it answers.
        let settled = false
        const settle = Effect.suspend(() => {
          if (settled) return Effect.void
          settled = true
          return finalizer
        })
        // The stream's own failures (not its end) are the provider's.
        const watch = (cause: Cause.Cause<Option.Option<LlmError.LlmError>>) => {
          const failed = Cause.flipCauseOption(cause)
          if (Option.isSome(failed)) watcher.fail(failed.value)
          return Effect.zipRight(settle, Effect.failCause(cause))
        }
        const opened = Effect.matchCauseEffect(open, {
          onFailure: (cause) => {
            watcher.fail(cause)
            return Effect.succeed(Effect.zipRight(settle, Effect.failCause(Cause.map(cause, Option.some))))
          },
          onSuccess: (pull) => Effect.succeed(Effect.catchAllCause(pull, watch))
        })
        // Added to the scope directly: `Effect.addFinalizer`'s capture and restore of the fiber's context cost
        // more than the rest of this stage.
        return Effect.as(Scope.addFinalizer(scope, settle), Streaming.lazyPull(opened, scope))
      })
    ))

/** Sets the response attributes of what was delivered on `span` and ends it with the provider's end. */
const endSpan = (
  span: Tracer.Span,
  watcher: Attribution.Watcher,
  delivered: ReadonlyArray<Chunk.Chunk<StreamPart.StreamPart>>,
  now: bigint
): { readonly facts: ResponseFacts; readonly end: Attribution.End } => {
  const facts = factsOf(delivered)
  const end = watcher.end(facts.finishReason !== undefined)
  for (const [key, value] of Object.entries(responseAttributes(facts))) span.attribute(key, value)
  // Ended here, before the scope ends it with the consumer's exit.
  span.end(now, end)
  return { facts, end }
}

/** The finalizer of a measured stream: its span ended and its event recorded; the clock is read at the start. */
const measured = (
  metrics: LlmMetrics.Service,
  call: Call,
  span: Tracer.Span,
  attempts: () => number,
  watcher: Attribution.Watcher,
  delivered: ReadonlyArray<Chunk.Chunk<StreamPart.StreamPart>>,
  firstContentAt: () => number | undefined,
  clock: Clock.Clock
): Effect.Effect<void> => {
  const start = clock.unsafeCurrentTimeMillis()
  return Effect.suspend(() => {
    const { end, facts } = endSpan(span, watcher, delivered, clock.unsafeCurrentTimeNanos())
    const firstContent = firstContentAt()
    return record(metrics, call, {
      operation: "stream",
      outcome: outcomeOf(end),
      usage: facts.usage,
      costUsd: facts.costUsd,
      durationMs: clock.unsafeCurrentTimeMillis() - start,
      timeToFirstTokenMs: firstContent === undefined ? undefined : firstContent - start,
      retries: Math.max(0, attempts() - 1)
    })
  })
}
