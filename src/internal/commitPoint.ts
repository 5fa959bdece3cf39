/**
 * The commit point of a stream and its per-attempt deadlines: before the first content part reaches the
 * consumer a failure may be retried; after it, a failure is `StreamInterrupted` carrying what was received.
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as LlmError from "../LlmError.js"
import * as StreamPart from "../StreamPart.js"
import * as Timeout from "../Timeout.js"
import type * as Errors from "./errors.js"
import type * as Streaming from "./streaming.js"

type Pull = Streaming.Pull

/** Whether an attempt has a deadline that {@link deadlines} enforces. */
const hasStreamDeadline = (timeouts: Timeout.Timeouts): boolean =>
  timeouts.firstToken !== undefined || timeouts.idle !== undefined || timeouts.total !== undefined

/** What {@link deadlines} gives an attempt. */
interface Deadlines {
  /** The attempt's pull, failing with the `Timeout` of the first deadline that passes. */
  readonly pull: Pull
  /** The commit point was passed: `idle` now bounds each wait for the next chunk, `firstToken` no longer. */
  readonly commit: Effect.Effect<void>
}

/**
 * The `firstToken`, `total` and `idle` deadlines of one attempt, without a race per pull or a sleep per
 * chunk. A worker fiber pulls the attempt on demand (one pull per pull of the consumer, as before), so a
 * deadline can end the consumer's wait by resuming it with the `Timeout` while the worker's read is
 * abandoned (interrupted with the attempt's scope, which closes the socket). One timer fiber sleeps until
 * `firstToken` / `total`; after the commit point, another bounds each wait for a chunk by `idle`: it is
 * re-armed by moving a deadline, and when it wakes before it (a later wait moved it) it sleeps for the rest,
 * so it fires exactly `idle` after the wait began and never sleeps past a deadline. Both run on Effect's
 * `Clock`. The fibers live in `scope`, the attempt's own.
 *
 * A deadline is the provider's: it passes only while the consumer waits for a chunk. The time the consumer
 * holds a chunk (from its hand-over to the next pull) does not count towards `total` (nor `firstToken`), and a
 * timer that wakes while no one waits sleeps until the next wait: a part that arrived by its deadline is never
 * followed by that deadline's `Timeout`, and a slow consumer never times out a provider that answered in time.
 */
const deadlines = (
  raw: Pull,
  context: Errors.ErrorContext,
  timeouts: Timeout.Timeouts,
  start: number,
  scope: Scope.Scope
): Effect.Effect<Deadlines> =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    const { firstToken, idle, total } = timeouts
    const totalAt = total === undefined ? Infinity : start + Duration.toMillis(total)
    const firstTokenAt = firstToken === undefined ? Infinity : start + Duration.toMillis(firstToken)
    const idleMillis = idle === undefined ? 0 : Duration.toMillis(idle)
    let committed = false
    let expired: LlmError.Timeout | undefined
    // The consumer waiting for a chunk, and the outcome of a pull nobody was waiting for any more.
    let consumer: ((result: Pull) => void) | undefined
    let ready: Exit.Exit<Chunk.Chunk<StreamPart.StreamPart>, Option.Option<LlmError.LlmError>> | undefined
    // The worker: idle (its resume), asked to pull, or pulling.
    let worker: (() => void) | undefined
    let requested = false
    let pulling = false
    // After the commit point: when the current wait times out, and the idle timer when it has nothing to time.
    let idleAt = Infinity
    let idleParked: (() => void) | undefined
    // The time the consumer held chunks, not counted: since when it holds the last one handed over, and before.
    // Only `firstToken` and `total` need it.
    const timesHolding = firstToken !== undefined || total !== undefined
    let heldSince: number | undefined
    let held = 0
    // The `firstToken` / `total` timer while no one waits.
    let phasesParked: (() => void) | undefined

    /** Parks a timer until the consumer waits again: `park` keeps the function that resumes it (`undefined`: gone). */
    const untilWaiting = (park: (resume: (() => void) | undefined) => void): Effect.Effect<void> =>
      Effect.async<void>((resume) => {
        park(() => {
          park(undefined)
          resume(Effect.void)
        })
        return Effect.sync(() => park(undefined))
      })

    const expire = (phase: LlmError.TimeoutPhase, duration: Duration.Duration): Effect.Effect<void> => {
      expired = Timeout.error(context, phase, duration)
      const resume = consumer
      consumer = undefined
      resume?.(Effect.fail(Option.some(expired)))
      return Effect.void
    }

    const work = Effect.forever(Effect.zipRight(
      Effect.async<void>((resume) => {
        if (requested) {
          requested = false
          resume(Effect.void)
          return
        }
        worker = () => {
          worker = undefined
          requested = false
          resume(Effect.void)
        }
        return Effect.sync(() => {
          worker = undefined
        })
      }),
      Effect.suspend(() => {
        pulling = true
        return Effect.flatMap(Effect.exit(raw), (exit) =>
          Effect.sync(() => {
            pulling = false
            const resume = consumer
            consumer = undefined
            if (resume === undefined) ready = exit
            else {
              if (timesHolding) heldSince = clock.unsafeCurrentTimeMillis()
              resume(exit)
            }
          }))
      })
    ))
    yield* Effect.forkIn(work, scope)

    // `firstToken` and `total`: a sleep to the nearer, moved on by the time the consumer held chunks meanwhile.
    const phases = (): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (expired !== undefined) return Effect.void
        if (consumer === undefined) {
          return Effect.zipRight(untilWaiting((resume) => phasesParked = resume), phases())
        }
        const now = clock.unsafeCurrentTimeMillis()
        if (now >= totalAt + held) return expire("total", total!)
        if (!committed && now >= firstTokenAt + held) return expire("first-token", firstToken!)
        const next = committed ? totalAt + held : Math.min(totalAt, firstTokenAt) + held
        return next === Infinity ? Effect.void : Effect.zipRight(Effect.sleep(Duration.millis(next - now)), phases())
      })

    if (firstToken !== undefined || total !== undefined) yield* Effect.forkIn(phases(), scope)

    const idleTimer = (): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (expired !== undefined) return Effect.void
        // Not waiting: nothing to time until the next wait.
        if (consumer === undefined) {
          return Effect.zipRight(untilWaiting((resume) => idleParked = resume), idleTimer())
        }
        const now = clock.unsafeCurrentTimeMillis()
        if (now >= idleAt) return expire("idle", idle!)
        return Effect.zipRight(Effect.sleep(Duration.millis(idleAt - now)), idleTimer())
      })

    const pull: Pull = Effect.suspend(() => {
      if (expired !== undefined) return Effect.fail(Option.some(expired))
      if (heldSince !== undefined) {
        held += clock.unsafeCurrentTimeMillis() - heldSince
        heldSince = undefined
      }
      if (ready !== undefined) {
        const exit = ready
        ready = undefined
        if (timesHolding) heldSince = clock.unsafeCurrentTimeMillis()
        return exit
      }
      return Effect.async<Chunk.Chunk<StreamPart.StreamPart>, Option.Option<LlmError.LlmError>>((resume) => {
        consumer = resume
        phasesParked?.()
        if (committed && idle !== undefined) {
          idleAt = clock.unsafeCurrentTimeMillis() + idleMillis
          idleParked?.()
        }
        if (!pulling) {
          if (worker === undefined) requested = true
          else worker()
        }
        return Effect.sync(() => {
          if (consumer === resume) consumer = undefined
        })
      })
    })

    return {
      pull,
      commit: Effect.suspend(() => {
        committed = true
        return idle === undefined ? Effect.void : Effect.asVoid(Effect.forkIn(idleTimer(), scope))
      })
    }
  })

/**
 * Opening the attempt (its request, up to the response's headers) within the nearer of `firstToken` and `total`,
 * which run from the attempt's start: a server that is slow to answer at all must not escape them, and an answer
 * whose headers come after a deadline passed must fail as that `Timeout`, before any of it is read.
 */
const openWithin = <A>(
  open: Effect.Effect<A, LlmError.LlmError>,
  context: Errors.ErrorContext,
  timeouts: Timeout.Timeouts
): Effect.Effect<A, LlmError.LlmError> => {
  const { firstToken, total } = timeouts
  const [phase, duration] =
    firstToken !== undefined && (total === undefined || Duration.lessThanOrEqualTo(firstToken, total))
      ? ["first-token", firstToken] as const
      : total !== undefined
      ? ["total", total] as const
      : [undefined, undefined] as const
  return phase === undefined ? open : Timeout.within(context, phase, duration)(open)
}

interface Connected {
  readonly head: Array<StreamPart.StreamPart>
  readonly pull: Pull
  readonly ended: boolean
  readonly scope: Scope.CloseableScope
}

/**
 * Pulls one attempt until its first content part (or its end), within the `firstToken` deadline; the
 * attempt's deadlines start here. The attempt's resources live in their own scope, closed here on failure, so
 * a retry starts clean.
 */
const connect = (
  open: Effect.Effect<Pull, LlmError.LlmError, Scope.Scope>,
  context: Errors.ErrorContext,
  timeouts: Timeout.Timeouts,
  parent: Scope.Scope
): Effect.Effect<Connected, LlmError.LlmError> =>
  // A child of the stream's scope: whatever happens, the stream's end closes it.
  Effect.flatMap(Scope.fork(parent, ExecutionStrategy.sequential), (scope) =>
    Effect.gen(function*() {
      const timed = hasStreamDeadline(timeouts)
      const start = timed ? yield* Clock.currentTimeMillis : 0
      const raw = yield* openWithin(Scope.extend(open, scope), context, timeouts)
      // Forked after the attempt is open: the scope interrupts the deadlines' fibers before it closes the attempt.
      const timer = timed ? yield* deadlines(raw, context, timeouts, start, scope) : undefined
      const pull = timer === undefined ? raw : timer.pull
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
        if (committed) {
          if (timer !== undefined) yield* timer.commit
          return { head, pull, ended: false, scope }
        }
      }
    }).pipe(Effect.onExit((exit) => Exit.isSuccess(exit) ? Effect.void : Scope.close(scope, exit))))

/**
 * The commit point. Before the first content part reaches the consumer, a failure is retried with `retry`
 * and nothing of the failed attempt is seen; after it, a failure ends the stream as `StreamInterrupted`
 * carrying what was received, and nothing is retried or spliced. Each attempt is bounded by the `firstToken`
 * (until its first content part) and `total` deadlines of `timeouts`; after the commit point, the `idle`
 * deadline bounds each wait for the next parts (keep-alives produce no part, so they do not reset it).
 *
 * The chunks that reached the consumer are kept by reference: pass `kept`, an array, new for each run of
 * the stream, to read them when it ends. `onContent` is called when the head, with the first content part,
 * is handed to the consumer (the time to first token of a measured stream, without a stage of its own).
 */
export const withCommitPoint = (
  attempt: Stream.Stream<StreamPart.StreamPart, LlmError.LlmError>,
  context: Errors.ErrorContext,
  timeouts: Timeout.Timeouts,
  retry: <A>(effect: Effect.Effect<A, LlmError.LlmError>) => Effect.Effect<A, LlmError.LlmError>,
  kept?: Array<Chunk.Chunk<StreamPart.StreamPart>>,
  onContent?: () => void
): Stream.Stream<StreamPart.StreamPart, LlmError.LlmError> =>
  Stream.unwrapScoped(
    Effect.map(
      committed(Stream.toPull(attempt), context, timeouts, retry, kept, onContent),
      Stream.repeatEffectChunkOption
    )
  )

const end: Pull = Effect.fail(Option.none())

/**
 * The commit point of attempts opened as pulls (`open` runs in each attempt's own scope): connects (retrying
 * as {@link withCommitPoint} does) and gives the pull of what follows, the head first. What
 * {@link withCommitPoint} does, without running each attempt as a stream of its own.
 */
export const committed = (
  open: Effect.Effect<Pull, LlmError.LlmError, Scope.Scope>,
  context: Errors.ErrorContext,
  timeouts: Timeout.Timeouts,
  retry: <A>(effect: Effect.Effect<A, LlmError.LlmError>) => Effect.Effect<A, LlmError.LlmError>,
  kept?: Array<Chunk.Chunk<StreamPart.StreamPart>>,
  onContent?: () => void
): Effect.Effect<Pull, LlmError.LlmError, Scope.Scope> =>
  Effect.gen(function*() {
    const parent = yield* Effect.scope
    const connected = yield* retry(connect(open, context, timeouts, parent))
    // What reached the consumer, kept by reference: the partial response is only built if the stream fails.
    const delivered: Array<Chunk.Chunk<StreamPart.StreamPart>> = kept ?? []
    let head: Chunk.Chunk<StreamPart.StreamPart> | undefined = Chunk.unsafeFromArray(connected.head)
    delivered.push(head)
    if (onContent !== undefined && !connected.ended) onContent()
    // After the head, each chunk is kept, and a failure becomes the `StreamInterrupted` carrying what was kept.
    const rest: Pull = connected.ended ? end : Effect.matchCauseEffect(connected.pull, {
      onFailure: (cause) => {
        // `None` is the end of the attempt.
        const failed = Cause.flipCauseOption(cause)
        return Option.isNone(failed)
          ? end
          : Effect.failCause(Cause.map(failed.value, (error) => Option.some(interrupted(context, error, delivered))))
      },
      onSuccess: (chunk) => {
        delivered.push(chunk)
        return Effect.succeed(chunk)
      }
    })
    return Effect.suspend(() => {
      if (head === undefined) return rest
      const first = head
      head = undefined
      return Effect.succeed(first)
    })
  })

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
