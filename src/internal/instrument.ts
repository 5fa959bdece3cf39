/**
 * Reports calls to the `LlmMetrics` service: one event per provider call (after its retries), with its
 * outcome, usage, duration, time to first token and retry count.
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type * as ChatRequest from "../ChatRequest.js"
import type * as ChatResponse from "../ChatResponse.js"
import type * as LlmError from "../LlmError.js"
import * as LlmMetrics from "../LlmMetrics.js"
import * as StreamPart from "../StreamPart.js"

/** The outcome label of an exit: `"success"`, the error's tag, or `"interrupted"`. */
export const outcomeOf = (exit: Exit.Exit<unknown, LlmError.LlmError>): string => {
  if (Exit.isSuccess(exit)) return "success"
  const failure = Cause.failureOption(exit.cause)
  return Option.isSome(failure) ? failure.value._tag : "interrupted"
}

interface Call {
  readonly provider: string
  readonly model: string
  readonly request: ChatRequest.ChatRequest
}

const record = (
  call: Call,
  fields: Omit<LlmMetrics.CallEvent, "tenant" | "provider" | "model" | "costUsd" | "cached">
) =>
  Effect.flatMap(LlmMetrics.LlmMetrics, (metrics) =>
    metrics.recordCall({
      ...fields,
      tenant: call.request.metadata?.tenant,
      provider: call.provider,
      model: call.model,
      costUsd: undefined,
      cached: false
    }))

/** Reports a `generate` call when it ends; `attempts` is read then. */
export const generate = <E extends LlmError.LlmError, R>(
  call: Call,
  attempts: () => number,
  self: Effect.Effect<ChatResponse.ChatResponse, E, R>
): Effect.Effect<ChatResponse.ChatResponse, E, R> =>
  // Without a metrics layer nothing is measured: the default service would drop it anyway.
  Effect.flatMap(
    LlmMetrics.LlmMetrics,
    (metrics) => metrics === LlmMetrics.noop ? self : measureGenerate(call, attempts, self)
  )

const measureGenerate = <E extends LlmError.LlmError, R>(
  call: Call,
  attempts: () => number,
  self: Effect.Effect<ChatResponse.ChatResponse, E, R>
): Effect.Effect<ChatResponse.ChatResponse, E, R> =>
  Effect.flatMap(
    Clock.currentTimeMillis,
    (start) =>
      Effect.onExit(self, (exit) =>
        Effect.flatMap(Clock.currentTimeMillis, (end) =>
          record(call, {
            operation: "generate",
            outcome: outcomeOf(exit),
            usage: Exit.isSuccess(exit) ? exit.value.usage : undefined,
            durationMs: end - start,
            timeToFirstTokenMs: undefined,
            retries: Math.max(0, attempts() - 1)
          })))
  )

/** Reports a `stream` call when it ends, with its time to first content part. */
export const stream = <R>(
  call: Call,
  attempts: () => number,
  self: Stream.Stream<StreamPart.StreamPart, LlmError.LlmError, R>
): Stream.Stream<StreamPart.StreamPart, LlmError.LlmError, R> =>
  Stream.unwrap(
    Effect.map(
      LlmMetrics.LlmMetrics,
      (metrics) => metrics === LlmMetrics.noop ? self : measureStream(call, attempts, self)
    )
  )

const measureStream = <R>(
  call: Call,
  attempts: () => number,
  self: Stream.Stream<StreamPart.StreamPart, LlmError.LlmError, R>
): Stream.Stream<StreamPart.StreamPart, LlmError.LlmError, R> =>
  Stream.unwrap(Effect.map(Clock.currentTimeMillis, (start) => {
    let firstContentAt: number | undefined
    let usage: ChatResponse.Usage | undefined
    let finished = false
    return self.pipe(
      Stream.mapChunksEffect((chunk) => {
        for (const part of chunk) {
          if (part.type === "usage") usage = part.usage
          else if (part.type === "finish") finished = true
        }
        if (firstContentAt !== undefined || !Chunk.some(chunk, StreamPart.isContent)) return Effect.succeed(chunk)
        return Effect.map(Clock.currentTimeMillis, (now) => {
          firstContentAt = now
          return chunk
        })
      }),
      Stream.ensuringWith((exit) =>
        Effect.flatMap(Clock.currentTimeMillis, (end) =>
          record(call, {
            operation: "stream",
            outcome: Exit.isSuccess(exit) ? (finished ? "success" : "interrupted") : outcomeOf(exit),
            usage,
            durationMs: end - start,
            timeToFirstTokenMs: firstContentAt === undefined ? undefined : firstContentAt - start,
            retries: Math.max(0, attempts() - 1)
          }))
      )
    )
  }))
