/**
 * Whose end a stream's end is. A stream's finalizers see the exit of the whole pipeline, its consumer included:
 * a consumer that fails on the `finish` part ends the stream with its own error, which says nothing of the
 * provider. Only the stream's own failures are the provider's; a consumer that stops (by taking enough, failing
 * or being interrupted) after the finish part leaves a success, before it a call stopped early.
 */
import type * as Cause from "effect/Cause"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import type * as LlmError from "../LlmError.js"

/**
 * A stream run as its provider is accountable for it: success when the provider delivered its whole answer,
 * the stream's own failure (an error or a defect), or an interruption when the consumer stopped before that.
 */
export type End = Exit.Exit<void, LlmError.LlmError>

// A consumer that stopped early is not a fiber of ours to name.
const stoppedEarly: End = Exit.interrupt(FiberId.none)

/** One run of a stream, watched for its own failure (a consumer's error never passes where it is read). */
export interface Watcher {
  /** Notes the stream's own failure, seen where it is read. */
  readonly fail: (cause: Cause.Cause<LlmError.LlmError>) => void
  readonly end: (finished: boolean) => End
}

/** A {@link Watcher} for one run. */
export const makeWatcher = (): Watcher => {
  let failure: Cause.Cause<LlmError.LlmError> | undefined
  return {
    fail: (cause) => {
      failure = cause
    },
    end: (finished) => failure !== undefined ? Exit.failCause(failure) : finished ? Exit.void : stoppedEarly
  }
}
