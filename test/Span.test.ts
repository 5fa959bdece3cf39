import { describe, expect, it } from "@effect/vitest"
import type { Tracer } from "effect"
import { Deferred, Effect, Exit, Fiber, Option } from "effect"
import * as Span from "../src/internal/span.js"
import { type RecordedSpan, recordingTracer } from "./support/observe.js"

const currentName = Effect.map(
  Effect.option(Effect.currentSpan),
  Option.match({
    onNone: () => "none",
    onSome: (span) => span.name
  })
)

const parentName = (span: Tracer.AnySpan): string =>
  span._tag === "Span" && Option.isSome(span.parent) && span.parent.value._tag === "Span"
    ? span.parent.value.name
    : "none"

describe("the hot path's spans (internal/span.ts)", () => {
  it.effect("a span is the parent of the spans inside it, and the span before it is current again after", () => {
    const spans: Array<RecordedSpan> = []
    return Effect.gen(function*() {
      const inner = yield* Effect.currentSpan.pipe(Span.withSpan("inner"), Span.withSpan("outer"))
      expect(inner.name).toBe("inner")
      expect(parentName(inner)).toBe("outer")
      expect(yield* currentName).toBe("request")
      expect(spans.map((span) => [span.name, span.exit?._tag])).toEqual([
        ["request", undefined],
        ["outer", "Success"],
        ["inner", "Success"]
      ])
    }).pipe(Effect.withSpan("request"), Effect.withTracer(recordingTracer(spans)))
  })

  it.effect("a failure ends the span with it and is passed on; the span before it is current again", () => {
    const spans: Array<RecordedSpan> = []
    return Effect.gen(function*() {
      const exit = yield* Effect.exit(Effect.fail("boom").pipe(Span.withSpan("step", { attributes: { n: 1 } })))
      expect(exit).toStrictEqual(Exit.fail("boom"))
      expect(yield* currentName).toBe("request")
      const step = spans.find((span) => span.name === "step")!
      expect(step.exit).toStrictEqual(Exit.fail("boom"))
      expect(step.attributes.get("n")).toBe(1)
    }).pipe(Effect.withSpan("request"), Effect.withTracer(recordingTracer(spans)))
  })

  it.effect("an interrupted effect ends its span too", () => {
    const spans: Array<RecordedSpan> = []
    return Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      const fiber = yield* Effect.fork(
        Effect.zipRight(Deferred.succeed(started, undefined), Effect.never).pipe(Span.withSpan("waiting"))
      )
      yield* Deferred.await(started)
      yield* Fiber.interrupt(fiber)
      const waiting = spans.find((span) => span.name === "waiting")!
      expect(waiting.exit !== undefined && Exit.isInterrupted(waiting.exit)).toBe(true)
    }).pipe(Effect.withTracer(recordingTracer(spans)))
  })

  it.effect("fn: each call is a span of its own, with the call's arguments", () => {
    const spans: Array<RecordedSpan> = []
    const double = Span.fn("double")(function*(n: number) {
      const name = yield* currentName
      return `${name}:${n * 2}`
    })
    return Effect.gen(function*() {
      expect(yield* double(2)).toBe("double:4")
      expect(yield* double(5)).toBe("double:10")
      expect(spans.map((span) => span.name)).toEqual(["double", "double"])
    }).pipe(Effect.withTracer(recordingTracer(spans)))
  })

  it.effect("with tracing disabled, no span reaches the tracer", () => {
    const spans: Array<RecordedSpan> = []
    return Effect.gen(function*() {
      expect(yield* Effect.as(Effect.void.pipe(Span.withSpan("step")), "done")).toBe("done")
      expect(spans).toEqual([])
    }).pipe(Effect.withTracerEnabled(false), Effect.withTracer(recordingTracer(spans)))
  })
})
