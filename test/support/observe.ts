/**
 * Observers for tests: a tracer that keeps every span, a metrics service that keeps every call event (and a
 * summary of them), and a logger that keeps every line.
 */
import { Effect, Layer, Logger, Tracer } from "effect"
import type * as Exit from "effect/Exit"
import * as LlmMetrics from "../../src/LlmMetrics.js"

/** A span as the recording tracer keeps it: its attributes, and its exit once it has ended. */
export interface RecordedSpan {
  readonly name: string
  readonly attributes: Map<string, unknown>
  exit: Exit.Exit<unknown, unknown> | undefined
}

/** A tracer that keeps every span with its attributes and the exit it ended with. */
export const recordingTracer = (spans: Array<RecordedSpan>) =>
  Tracer.make({
    context: (f) => f(),
    span: (name, parent, context, links, startTime, kind) => {
      const recorded: RecordedSpan = { name, attributes: new Map(), exit: undefined }
      spans.push(recorded)
      const span: Tracer.Span = {
        _tag: "Span",
        name,
        spanId: String(spans.length),
        traceId: "trace",
        parent,
        context,
        status: { _tag: "Started", startTime },
        attributes: recorded.attributes,
        links: [...links],
        sampled: true,
        kind,
        end: (endTime, exit) => {
          recorded.exit = exit
          ;(span as { status: Tracer.SpanStatus }).status = { _tag: "Ended", startTime, endTime, exit }
        },
        attribute: (key, value) => void recorded.attributes.set(key, value),
        event: () => {},
        addLinks: () => {}
      }
      return span
    }
  })

/** A fresh in-memory metrics service that also keeps every call event, in order. */
export const recordingMetrics = Effect.map(LlmMetrics.makeMemory, (memory) => {
  const events: Array<LlmMetrics.CallEvent> = []
  const service: LlmMetrics.Service = {
    ...memory,
    recordCall: (event) => Effect.zipRight(Effect.sync(() => events.push(event)), memory.recordCall(event))
  }
  return { events, summary: memory.summary, layer: Layer.succeed(LlmMetrics.LlmMetrics, service) }
})

/** Runs `effect` with a logger that appends each line to `lines`, as `<LEVEL> <message>` (e.g. `WARN ...`). */
export const withLogs = <A, E, R>(lines: Array<string>, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  effect.pipe(
    Effect.provide(Logger.replace(
      Logger.defaultLogger,
      Logger.make(({ logLevel, message }) => {
        lines.push(`${logLevel.label} ${Array.isArray(message) ? message.join(" ") : String(message)}`)
      })
    ))
  )
