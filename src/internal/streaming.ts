/**
 * Provider-neutral streaming: frames -> parts through an adapter's decoder, per-attempt deadlines, and the
 * commit point (retry before the first content part, `StreamInterrupted` after it).
 */
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as ChatResponse from "../ChatResponse.js"
import * as LlmError from "../LlmError.js"
import * as StreamPart from "../StreamPart.js"
import * as Timeout from "../Timeout.js"
import * as Errors from "./errors.js"
import { isObject, type Json } from "./json.js"

/**
 * An adapter's stateful decoder for one streamed response. `frame` appends the parts of one frame to `out`
 * and returns an error to end the stream with (an error event inside a 200 stream); `end` runs at the end of
 * the body. Plain functions rather than Effects: this is the per-token hot path.
 */
export interface Decoder<F> {
  readonly frame: (frame: F, out: Array<StreamPart.StreamPart>) => LlmError.LlmError | undefined
  readonly end: (out: Array<StreamPart.StreamPart>) => LlmError.LlmError | undefined
}

/** Whether an event's data is the `[DONE]` sentinel; some servers (Azure's docs show it) pad it with spaces. */
export const isDone = (data: string): boolean => data.length <= 16 && data.trim() === "[DONE]"

/** The JSON object an event carries, or the `MalformedResponse` of one that carries anything else. */
export const parseEvent = (
  context: Errors.ErrorContext,
  data: string,
  requestId: string | undefined
): Json | LlmError.MalformedResponse => {
  let json: unknown
  try {
    json = JSON.parse(data)
  } catch (cause) {
    return Errors.malformed(context, `stream event is not JSON (${(cause as Error).message})`, data, { requestId })
  }
  return isObject(json) ? json : Errors.malformed(context, "stream event is not an object", data, { requestId })
}

/** Runs a decoder over a stream of frames, failing the stream at the first error it returns. */
export const decode = <F, E, R>(
  frames: Stream.Stream<F, E, R>,
  makeDecoder: () => Decoder<F>
): Stream.Stream<StreamPart.StreamPart, E | LlmError.LlmError, R> =>
  Stream.suspend(() => {
    const decoder = makeDecoder()
    // The `finish` part bears out the content, as a whole response's finish reason does.
    let toolCallEnded = false
    const settleFinish = (out: Array<StreamPart.StreamPart>) => {
      for (let i = 0; i < out.length; i++) {
        const part = out[i]!
        if (part.type === "tool-call-end") toolCallEnded = true
        else if (part.type === "finish") {
          const finishReason = ChatResponse.finishReasonFor(part.finishReason, toolCallEnded)
          if (finishReason !== part.finishReason) out[i] = { ...part, finishReason }
        }
      }
    }
    const emit = (
      out: Array<StreamPart.StreamPart>,
      error: LlmError.LlmError | undefined,
      next: Channel.Channel<
        Chunk.Chunk<StreamPart.StreamPart>,
        Chunk.Chunk<F>,
        E | LlmError.LlmError,
        E,
        unknown,
        unknown
      >
    ) => {
      settleFinish(out)
      const written = out.length === 0 ? Channel.void : Channel.write(Chunk.unsafeFromArray(out))
      return Channel.zipRight(written, error === undefined ? next : Channel.fail(error))
    }
    const loop: Channel.Channel<
      Chunk.Chunk<StreamPart.StreamPart>,
      Chunk.Chunk<F>,
      E | LlmError.LlmError,
      E,
      unknown,
      unknown
    > = Channel.readWithCause({
      onInput: (frames: Chunk.Chunk<F>) => {
        const out: Array<StreamPart.StreamPart> = []
        let error: LlmError.LlmError | undefined
        for (const frame of frames) {
          error = decoder.frame(frame, out)
          if (error !== undefined) break
        }
        return emit(out, error, loop)
      },
      onFailure: Channel.failCause,
      onDone: () => {
        const out: Array<StreamPart.StreamPart> = []
        return emit(out, decoder.end(out), Channel.void)
      }
    })
    return Stream.pipeThroughChannel(frames, loop)
  })

/** Bounds one attempt, from its request to its last part, by the `total` deadline. */
export const withTotalDeadline = (
  parts: Stream.Stream<StreamPart.StreamPart, LlmError.LlmError>,
  context: Errors.ErrorContext,
  total: Duration.Duration | undefined
): Stream.Stream<StreamPart.StreamPart, LlmError.LlmError> =>
  total === undefined
    ? parts
    : Stream.interruptWhen(parts, Effect.flatMap(Effect.sleep(total), () => Timeout.error(context, "total", total)))

interface Connected {
  readonly head: ReadonlyArray<StreamPart.StreamPart>
  readonly pull: Effect.Effect<Chunk.Chunk<StreamPart.StreamPart>, Option.Option<LlmError.LlmError>>
  readonly ended: boolean
  readonly scope: Scope.CloseableScope
}

/**
 * Pulls one attempt until its first content part (or its end), within the `firstToken` deadline. The
 * attempt's resources live in their own scope, closed here on failure, so a retry starts clean.
 */
const connect = (
  attempt: Stream.Stream<StreamPart.StreamPart, LlmError.LlmError>,
  context: Errors.ErrorContext,
  firstToken: Duration.Duration | undefined,
  parent: Scope.Scope
): Effect.Effect<Connected, LlmError.LlmError> =>
  // A child of the stream's scope: whatever happens, the stream's end closes it.
  Effect.flatMap(Scope.fork(parent, ExecutionStrategy.sequential), (scope) =>
    Effect.gen(function*() {
      const pull = yield* Scope.extend(Stream.toPull(attempt), scope)
      const head: Array<StreamPart.StreamPart> = []
      while (true) {
        const chunk = yield* Effect.either(pull)
        if (chunk._tag === "Left") {
          if (Option.isNone(chunk.left)) return { head, pull, ended: true, scope }
          return yield* Effect.fail(chunk.left.value)
        }
        let committed = false
        for (const part of chunk.right) {
          head.push(part)
          if (!committed && StreamPart.isContent(part)) committed = true
        }
        if (committed) return { head, pull, ended: false, scope }
      }
    }).pipe(
      Timeout.within(context, "first-token", firstToken),
      Effect.onExit((exit) => Exit.isSuccess(exit) ? Effect.void : Scope.close(scope, exit))
    ))

/**
 * The commit point. Before the first content part reaches the consumer, a failure is retried with `retry`
 * and nothing of the failed attempt is seen; after it, a failure ends the stream as `StreamInterrupted`
 * carrying what was received, and nothing is retried or spliced. After it too, the `idle` deadline bounds
 * the gap between parts (keep-alives produce no part, so they do not reset it).
 *
 * The chunks that reached the consumer are kept by reference: pass `kept`, an array, new for each run of
 * the stream, to read them when it ends.
 */
export const withCommitPoint = (
  attempt: Stream.Stream<StreamPart.StreamPart, LlmError.LlmError>,
  context: Errors.ErrorContext,
  timeouts: Timeout.Timeouts,
  retry: <A>(effect: Effect.Effect<A, LlmError.LlmError>) => Effect.Effect<A, LlmError.LlmError>,
  kept?: Array<Chunk.Chunk<StreamPart.StreamPart>>
): Stream.Stream<StreamPart.StreamPart, LlmError.LlmError> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const parent = yield* Effect.scope
    const connected = yield* retry(connect(attempt, context, timeouts.firstToken, parent))
    // What reached the consumer, kept by reference: the partial response is only built if the stream fails.
    const delivered: Array<Chunk.Chunk<StreamPart.StreamPart>> = kept ?? []
    const track = (chunk: Chunk.Chunk<StreamPart.StreamPart>) => {
      delivered.push(chunk)
      return chunk
    }
    const head = Stream.fromChunk(track(Chunk.unsafeFromArray([...connected.head])))
    if (connected.ended) return head
    const idle = timeouts.idle
    const pulled = Stream.repeatEffectChunkOption(connected.pull)
    const rest = (idle === undefined ? pulled : Stream.timeoutFail(pulled, () =>
      Timeout.error(context, "idle", idle), idle))
      .pipe(
        Stream.mapChunks(track),
        Stream.mapError((cause) => interrupted(context, cause, delivered))
      )
    return Stream.concat(head, rest)
  }))

const partialOf = (
  context: Errors.ErrorContext,
  delivered: ReadonlyArray<Chunk.Chunk<StreamPart.StreamPart>>
): LlmError.PartialResponse => {
  const accumulator = new StreamPart.Accumulator(context.provider, context.model)
  for (const chunk of delivered) {
    for (const part of chunk) accumulator.add(part)
  }
  return accumulator.partial()
}

const interrupted = (
  context: Errors.ErrorContext,
  cause: LlmError.LlmError,
  delivered: ReadonlyArray<Chunk.Chunk<StreamPart.StreamPart>>
): LlmError.LlmError =>
  cause._tag === "StreamInterrupted" ? cause : new LlmError.StreamInterrupted({
    provider: context.provider,
    ...(context.model === undefined ? {} : { model: context.model }),
    ...(cause.status === undefined ? {} : { status: cause.status }),
    ...(cause.requestId === undefined ? {} : { requestId: cause.requestId }),
    ...(cause.body === undefined ? {} : { body: cause.body }),
    partial: partialOf(context, delivered),
    causeTag: cause._tag,
    message: `${context.provider}: stream interrupted after content was delivered: ${cause.message}`
  })
