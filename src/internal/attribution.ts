/**
 * Whose end a stream's end is. A stream's finalizers see the exit of the whole pipeline, its consumer included:
 * a consumer that fails on the `finish` part ends the stream with its own error, which says nothing of the
 * provider. Only the stream's own failures are the provider's; a consumer that stops (by taking enough, failing
 * or being interrupted) after the finish part leaves a success, before it a call stopped early.
 */
import type * as Cause from "effect/Cause"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Stream from "effect/Stream"
import type * as LlmError from "../LlmError.js"
import type * as StreamPart from "../StreamPart.js"

/**
 * A stream run as its provider is accountable for it: success when the provider delivered its whole answer,
 * the stream's own failure (an error or a defect), or an interruption when the consumer stopped before that.
 */
export type End = Exit.Exit<void, LlmError.LlmError>

/** One run of a stream, watched for its own failure. */
export interface Watched<R> {
  readonly stream: Stream.Stream<StreamPart.StreamPart, LlmError.LlmError, R>
  /** How the run ended for its provider, given whether its finish part went by; read once it has ended. */
  readonly end: (finished: boolean) => End
}

// A consumer that stopped early is not a fiber of ours to name.
const stoppedEarly: End = Exit.interrupt(FiberId.none)

/**
 * Watches a stream for its own failure. Create one per run. A consumer's error is raised downstream and never
 * passes through here; the catch costs nothing per part.
 */
export const watch = <R>(self: Stream.Stream<StreamPart.StreamPart, LlmError.LlmError, R>): Watched<R> => {
  const watcher = makeWatcher()
  return { stream: watcher.watch(self), end: watcher.end }
}

/** A {@link watch} made before the stream it watches exists: `watch` it once built. */
export interface Watcher {
  readonly watch: <R>(
    self: Stream.Stream<StreamPart.StreamPart, LlmError.LlmError, R>
  ) => Stream.Stream<StreamPart.StreamPart, LlmError.LlmError, R>
  /** Notes a failure of the stream seen elsewhere (a pull of it). */
  readonly fail: (cause: Cause.Cause<LlmError.LlmError>) => void
  readonly end: (finished: boolean) => End
}

/** A {@link Watcher} for one run. */
export const makeWatcher = (): Watcher => {
  let failure: Cause.Cause<LlmError.LlmError> | undefined
  return {
    watch: (self) =>
      Stream.catchAllCause(self, (cause) => {
        failure = cause
        return Stream.failCause(cause)
      }),
    fail: (cause) => {
      failure = cause
    },
    end: (finished) => failure !== undefined ? Exit.failCause(failure) : finished ? Exit.void : stoppedEarly
  }
}
