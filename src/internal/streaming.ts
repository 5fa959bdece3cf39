/**
 * Provider-neutral streaming: the body check, and frames -> parts through an adapter's decoder (the commit
 * point and deadlines are in `commitPoint.ts`).
 */
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Readable } from "node:stream"
import * as ChatResponse from "../ChatResponse.js"
import type * as LanguageModel from "../LanguageModel.js"
import type * as LlmError from "../LlmError.js"
import * as StreamPart from "../StreamPart.js"
import * as Errors from "./errors.js"
import * as Framing from "./framing.js"
import { isObject, type Json } from "./json.js"
import * as NodeBody from "./nodeBody.js"
import { type BodyInfo, makeBodyCheck } from "./rawBody.js"

export { type BodyInfo, checkBody, makeRawLines, maxRawBody, rawLineError, type RawLines } from "./rawBody.js"

/**
 * An adapter's stateful decoder for one streamed response. `frame` appends the parts of one frame to `out`
 * and returns an error to end the stream with (an error event inside a 200 stream); `end` runs at the end of
 * the body. Plain functions rather than Effects: this is the per-token hot path.
 */
export interface Decoder<F> {
  readonly frame: (frame: F, out: Array<StreamPart.StreamPart>) => LlmError.LlmError | undefined
  readonly end: (out: Array<StreamPart.StreamPart>) => LlmError.LlmError | undefined
  /**
   * Whether the stream's own end marker has come (`[DONE]`, `message_stop`): the stream then ends at once, with
   * `end`'s parts, without waiting for the server to close the body (one that keeps it open would hold the
   * stream, and its last parts, forever). Absent for a format without an end marker.
   */
  readonly ended?: (() => boolean) | undefined
}

/** The usage a call is priced at, given the usage it reports and its provider metadata (see `Service.Adapter`). */
export type BilledUsage = (
  usage: ChatResponse.Usage,
  providerMetadata: Readonly<Record<string, unknown>> | undefined
) => ChatResponse.Usage

/**
 * A decoder whose usage parts carry their cost (`costUsd`), priced by the model the caller asked for, else the
 * model the provider named in its response metadata. One look at each part a frame produced: no stage of its own.
 * A usage no count can be (`Errors.impossibleUsage`) ends the stream with the `malformed` error, before it.
 * With `billedUsage`, a usage is priced at what it gives for the provider metadata the stream sent before it.
 */
export const pricedDecoder = <F>(
  decoder: Decoder<F>,
  costOf: (usage: ChatResponse.Usage, responseModel: string | undefined) => number | undefined,
  malformed: (reason: string, usage: ChatResponse.Usage) => LlmError.LlmError,
  billedUsage?: BilledUsage
): Decoder<F> => {
  let responseModel: string | undefined
  let providerMetadata: Record<string, unknown> | undefined
  const price = (out: Array<StreamPart.StreamPart>, from: number): LlmError.LlmError | undefined => {
    for (let i = from; i < out.length; i++) {
      const part = out[i]!
      if (part.type === "response-metadata") {
        if (part.model !== undefined && part.model !== "") responseModel = part.model
        if (billedUsage !== undefined && part.providerMetadata !== undefined) {
          providerMetadata = { ...providerMetadata, ...part.providerMetadata }
        }
      } else if (part.type === "usage") {
        const impossible = Errors.impossibleUsage(part.usage)
        if (impossible !== undefined) {
          out.length = i
          return malformed(impossible, part.usage)
        }
        if (part.costUsd !== undefined) continue
        const costUsd = costOf(
          billedUsage === undefined ? part.usage : billedUsage(part.usage, providerMetadata),
          responseModel
        )
        if (costUsd !== undefined) out[i] = { ...part, costUsd }
      }
    }
    return undefined
  }
  return {
    frame: (frame, out) => {
      const from = out.length
      const error = decoder.frame(frame, out)
      return price(out, from) ?? error
    },
    end: (out) => {
      const from = out.length
      const error = decoder.end(out)
      return price(out, from) ?? error
    },
    ended: decoder.ended
  }
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
    return Errors.malformed(context, `stream event is not JSON (${Errors.jsonParseReason(cause)})`, data, { requestId })
  }
  return isObject(json) ? json : Errors.malformed(context, "stream event is not an object", data, { requestId })
}

/**
 * Settles each `finish` part against the tool calls before it in the stream: the finish reason bears out the
 * content, as a whole response's does. One per stream, applied to each read's parts in order.
 */
const makeFinishSettler = () => {
  let toolCallEnded = false
  return (out: Array<StreamPart.StreamPart>) => {
    for (let i = 0; i < out.length; i++) {
      const part = out[i]!
      if (part.type === "tool-call-end") toolCallEnded = true
      else if (part.type === "finish") {
        const finishReason = ChatResponse.finishReasonFor(part.finishReason, toolCallEnded)
        if (finishReason !== part.finishReason) out[i] = { ...part, finishReason }
      }
    }
  }
}

type Decoding<I, E> = Channel.Channel<
  Chunk.Chunk<StreamPart.StreamPart>,
  Chunk.Chunk<I>,
  E | LlmError.LlmError,
  E,
  unknown,
  unknown
>

/**
 * The channel of a decoding stage: `step` decodes one input into `out` and returns an error to end the stream
 * with; `finish` runs at the end of the input. The parts of a read and the error it ends with are written in
 * one step, and a `finish` part is settled against the tool calls that came before it.
 */
const decoding = <I, E>(
  step: (input: I, out: Array<StreamPart.StreamPart>) => LlmError.LlmError | undefined,
  finish: (out: Array<StreamPart.StreamPart>) => LlmError.LlmError | undefined,
  ended: (() => boolean) | undefined
): Decoding<I, E> => {
  const settleFinish = makeFinishSettler()
  const emit = (out: Array<StreamPart.StreamPart>, error: LlmError.LlmError | undefined, next: Decoding<I, E>) => {
    settleFinish(out)
    const written = out.length === 0 ? Channel.void : Channel.write(Chunk.unsafeFromArray(out))
    return Channel.zipRight(written, error === undefined ? next : Channel.fail(error))
  }
  const loop: Decoding<I, E> = Channel.readWithCause({
    onInput: (inputs: Chunk.Chunk<I>) => {
      const out: Array<StreamPart.StreamPart> = []
      let error: LlmError.LlmError | undefined
      for (const input of inputs) {
        error = step(input, out)
        if (error !== undefined) break
        // The end marker: the rest of the body is not waited for (reading stops, which releases it).
        if (ended?.() === true) return emit(out, finish(out), Channel.void)
      }
      return emit(out, error, loop)
    },
    onFailure: Channel.failCause,
    onDone: () => {
      const out: Array<StreamPart.StreamPart> = []
      return emit(out, finish(out), Channel.void)
    }
  })
  return loop
}

/** Runs a decoder over a stream of frames, failing the stream at the first error it returns. */
export const decode = <F, E, R>(
  frames: Stream.Stream<F, E, R>,
  makeDecoder: () => Decoder<F>
): Stream.Stream<StreamPart.StreamPart, E | LlmError.LlmError, R> =>
  Stream.suspend(() => {
    const decoder = makeDecoder()
    return Stream.pipeThroughChannel(frames, decoding<F, E>(decoder.frame, decoder.end, decoder.ended))
  })

/** Whether a part from `from` on in `parts` is content. */
const contentFrom = (parts: ReadonlyArray<StreamPart.StreamPart>, from: number): boolean => {
  for (let i = from; i < parts.length; i++) if (StreamPart.isContent(parts[i]!)) return true
  return false
}

/**
 * The step and finish of an SSE body's decoding: framing, the optional body check and the decoder.
 *
 * With `holdAfterFirstContent`, the frames that follow the stream's first content part in the same read are
 * framed but not decoded: `paused` is then true, and `resume` decodes them. A read that brings a burst of
 * tokens (a fast model, a proxy that buffers) would otherwise hold the first token back until the whole burst
 * is decoded, and the first token is what a caller waits for.
 */
const sseSteps = (
  makeDecoder: () => Decoder<Framing.Frame>,
  check: { readonly context: Errors.ErrorContext; readonly info: BodyInfo } | undefined,
  holdAfterFirstContent = false
) => {
  const decoder = makeDecoder()
  // The framer calls back while it is fed: `out` and `error` are those of the read being decoded.
  let out: Array<StreamPart.StreamPart> = []
  let error: LlmError.LlmError | undefined
  let awaitingContent = holdAfterFirstContent
  let held: Array<Framing.Frame> | undefined
  const framer = Framing.makeSseFramer((frame) => {
    if (error !== undefined) return
    if (held !== undefined) {
      held.push(frame)
      return
    }
    const from = out.length
    error = decoder.frame(frame, out)
    if (awaitingContent && contentFrom(out, from)) {
      awaitingContent = false
      held = []
    }
  })
  const paused = (): boolean => held !== undefined
  const resume = (into: Array<StreamPart.StreamPart>) => {
    out = into
    const frames = held ?? []
    held = undefined
    for (const frame of frames) {
      if (error !== undefined) break
      error = decoder.frame(frame, out)
    }
    return error
  }
  let head = check === undefined ? undefined : makeBodyCheck(check.context, check.info)
  const feedAll = (pieces: ReadonlyArray<Uint8Array> | LlmError.LlmError) => {
    if (!Array.isArray(pieces)) return pieces as LlmError.LlmError
    for (const piece of pieces as ReadonlyArray<Uint8Array>) framer.feed(piece)
    return error
  }
  const step = (piece: Uint8Array, into: Array<StreamPart.StreamPart>) => {
    out = into
    if (head === undefined) {
      framer.feed(piece)
      return error
    }
    const checked = head.push(piece)
    if (checked === undefined) return undefined
    // Checked once: from here on the body goes straight to the framer.
    head = undefined
    return feedAll(checked)
  }
  const finish = (into: Array<StreamPart.StreamPart>) => {
    if (resume(into) !== undefined) return error
    const failed = head === undefined ? undefined : feedAll(head.end())
    if (failed !== undefined) return failed
    framer.end()
    return error ?? decoder.end(into)
  }
  return { step, finish, ended: decoder.ended, paused, resume }
}

/**
 * Frames an SSE body and runs a decoder over its events in one stage: the same parts and errors as
 * `decode(Framing.sse(bytes), makeDecoder)`, without a stage (and a chunk of frames) between the two on every
 * read. Events after the one that ends the stream are not decoded. Given `check`, the body's first bytes are
 * checked in the same stage, as {@link checkBody} does.
 */
export const decodeSse = <E, R>(
  bytes: Stream.Stream<Uint8Array, E, R>,
  makeDecoder: () => Decoder<Framing.Frame>,
  check?: { readonly context: Errors.ErrorContext; readonly info: BodyInfo }
): Stream.Stream<StreamPart.StreamPart, E | LlmError.LlmError, R> =>
  Stream.suspend(() => {
    const { ended, finish, step } = sseSteps(makeDecoder, check)
    return Stream.pipeThroughChannel(bytes, decoding<Uint8Array, E>(step, finish, ended))
  })

/** How long a body whose end marker came may take to end before its connection is closed, ms. */
const completeGraceMillis = 5_000

/** A pull of parts (see `LanguageModel.Pull`). */
export type Pull = LanguageModel.Pull

/**
 * A pull opened by `open` in `scope` on the first pull, as a stream starts when first read. `open` gives a failing
 * pull when it cannot open: every pull then fails, nothing is opened twice.
 */
export const lazyPull = (open: Effect.Effect<Pull, never, Scope.Scope>, scope: Scope.Scope): Pull => {
  let current: Pull | undefined
  const first = Effect.flatMap(Scope.extend(open, scope), (pull) => {
    current = pull
    return pull
  })
  return Effect.suspend(() => current ?? first)
}

/**
 * {@link decodeSse} read straight from a Node `Readable` as a pull, with no stream stage at all: each pull
 * decodes every piece the socket has buffered in one synchronous loop and waits for `readable` only when there
 * is nothing to read, except that the pull that reaches the stream's first content part returns with it (the
 * rest of its read is decoded on the next pull). The same parts and errors as `decodeSse`; a read's parts come
 * before the error it ends with. The body is destroyed when the scope closes before it ended (a retry, a
 * consumer that stops).
 */
export const ssePull = (
  body: Readable,
  bodyError: (cause: unknown) => LlmError.LlmError,
  makeDecoder: () => Decoder<Framing.Frame>,
  check?: { readonly context: Errors.ErrorContext; readonly info: BodyInfo }
): Effect.Effect<Pull, never, Scope.Scope> =>
  Effect.suspend(() => {
    const { ended, finish, paused, resume, step } = sseSteps(makeDecoder, check, true)
    const settleFinish = makeFinishSettler()
    const reader = NodeBody.make(body)
    let done = false
    let pending: LlmError.LlmError | undefined
    const end = Option.none<LlmError.LlmError>()
    const pull: Pull = Effect.suspend(() => {
      if (pending !== undefined) {
        const error = pending
        pending = undefined
        return Effect.fail(Option.some(error))
      }
      if (done) return Effect.fail(end)
      const out: Array<StreamPart.StreamPart> = []
      // The frames read with the first content part come first (see `sseSteps`).
      let error = paused() ? resume(out) : undefined
      if (error === undefined && ended?.() === true) {
        done = true
        error = finish(out)
      }
      let piece: Uint8Array | null
      while (!done && error === undefined && (piece = body.read() as Uint8Array | null) !== null) {
        error = step(piece, out)
        // The end marker: the rest of the body is not waited for (the scope's end releases it).
        if (error === undefined && ended?.() === true) {
          done = true
          error = finish(out)
          break
        }
        // The first content part goes out now, the rest of its read on the next pull.
        if (paused()) break
      }
      if (error === undefined && out.length === 0 && !done) {
        const failure = reader.failure()
        if (failure !== undefined) error = bodyError(failure.cause)
        else if (reader.ended()) {
          done = true
          error = finish(out)
        } else return Effect.zipRight(reader.wait, pull)
      }
      settleFinish(out)
      if (error !== undefined) {
        done = true
        if (out.length === 0) return Effect.fail(Option.some(error))
        pending = error
      }
      return out.length === 0 ? Effect.fail(end) : Effect.succeed(Chunk.unsafeFromArray(out))
    })
    // Added to the scope directly: `Effect.addFinalizer` captures and restores the fiber's context. A body whose
    // end marker came is left to end on its own, so its connection is kept (see `NodeBody.releaseComplete`).
    const release = Effect.suspend(() =>
      ended?.() === true ? reader.releaseComplete(completeGraceMillis) : reader.release
    )
    return Effect.flatMap(Effect.scope, (scope) => Effect.as(Scope.addFinalizer(scope, release), pull))
  })
