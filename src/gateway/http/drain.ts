/**
 * Graceful shutdown: the requests in flight, so that a stopping server can let them finish within a grace
 * period and then interrupt the rest (which aborts their upstream calls and runs the policies' finalizers:
 * a budget charges what was received).
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Http from "node:http"
import * as Respond from "./respond.js"

/**
 * The requests in flight of one server.
 *
 * @since 0.2.0
 * @category models
 */
export interface Tracker {
  /** Each request in flight, with the Node response it answers on (the platform's `HttpApp` has none). */
  readonly inFlight: Map<Fiber.RuntimeFiber<unknown, unknown>, Http.ServerResponse | undefined>
  /** Set once shutdown begins: answers then say `connection: close`. */
  draining: boolean
  /** Opened when no request is in flight any more. */
  readonly idle: Effect.Latch
  /**
   * Answers not sent yet, their handling done or not: one ended behind another on its connection (HTTP/1.1
   * pipelining) waits in Node's queue, and a shutdown that closed the connection then would lose it. See
   * {@link unsent}.
   */
  unsent: number
  /** Opened when every answer is sent (or its connection gone). */
  readonly allSent: Effect.Latch
}

/**
 * A fresh tracker of the requests in flight.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (): Tracker => ({
  inFlight: new Map(),
  draining: false,
  idle: Effect.unsafeMakeLatch(false),
  unsent: 0,
  allSent: Effect.unsafeMakeLatch(true)
})

/**
 * Counts an answer as not sent until the returned function is called (once its response closes, or its
 * connection does: a response queued on a closed connection never closes). Calling it more than once counts once.
 *
 * @since 0.2.0
 * @category tracking
 */
export const unsent = (tracker: Tracker): () => void => {
  tracker.unsent++
  tracker.allSent.unsafeClose()
  let counted = true
  return () => {
    if (!counted) return
    counted = false
    if (--tracker.unsent === 0) tracker.allSent.unsafeOpen()
  }
}

/**
 * Runs a request's handling as one tracked fiber.
 *
 * @since 0.2.0
 * @category tracking
 */
export const track = <A, E, R>(
  tracker: Tracker,
  self: Effect.Effect<A, E, R>,
  response?: Http.ServerResponse
): Effect.Effect<A, E, R> =>
  Effect.withFiberRuntime((fiber) => {
    tracker.inFlight.set(fiber, response)
    return Effect.ensuring(
      self,
      Effect.sync(() => {
        tracker.inFlight.delete(fiber)
        if (tracker.inFlight.size === 0) tracker.idle.unsafeOpen()
      })
    )
  })

/**
 * Stops accepting connections, waits up to `graceMs` for the requests in flight, interrupts those left and
 * closes every connection.
 *
 * @since 0.2.0
 * @category shutdown
 */
export const drain = (tracker: Tracker, server: Http.Server, graceMs: number): Effect.Effect<void> =>
  Effect.gen(function*() {
    tracker.draining = true
    yield* Effect.logInfo("gateway: shutting down").pipe(
      Effect.annotateLogs({ inFlight: tracker.inFlight.size, graceMs })
    )
    // Connections whose last answer finishes from now on close soon after, instead of idling on keep-alive.
    server.keepAliveTimeout = Math.min(server.keepAliveTimeout, 100)
    // Stop listening now; the platform's own close later finds it closed. Idle keep-alive sockets go at once.
    if (server.listening) server.close()
    server.closeIdleConnections()
    // Closed and checked in one step: no request can finish in between.
    yield* Effect.sync(() => tracker.inFlight.size === 0 ? tracker.idle.unsafeOpen() : tracker.idle.unsafeClose())
    // Interruptible: this runs as a finalizer, where a timeout could not otherwise cut the wait short. The answers
    // handled but queued behind others on their connection (pipelining) are waited for too.
    yield* Effect.timeoutOption(
      Effect.interruptible(Effect.zipRight(tracker.idle.await, tracker.allSent.await)),
      graceMs
    )
    if (tracker.inFlight.size > 0 || tracker.unsent > 0) {
      yield* Effect.logWarning("gateway: shutdown grace period over, interrupting requests in flight").pipe(
        Effect.annotateLogs({ inFlight: tracker.inFlight.size, graceMs })
      )
      // Interrupted as a client that goes away interrupts them (upstream aborted, usage charged), but with the
      // connection still open, so a stream can end with an error event saying why; then the connections go.
      const cut = [...tracker.inFlight]
      yield* Effect.timeoutOption(Fiber.interruptAll(cut.map(([fiber]) => fiber)), 1_000)
      // A completion not yet answered: a 503 saying why, not an empty reply (a stream says it in its body).
      for (const [, response] of cut) if (response !== undefined) yield* answerCut(tracker, response)
      server.closeAllConnections()
    } else {
      // Not closeAllConnections: an answer just ended may still be in the socket's buffer.
      server.closeIdleConnections()
    }
  })

// The request id of each response in flight, for the answer the drain writes itself (below).
const requestIds = new WeakMap<Http.ServerResponse, string>()

/**
 * Records the request id of a response, so that an answer the drain writes for it (a `503` after the grace)
 * carries it as every answer does.
 *
 * @since 0.2.0
 * @category shutdown
 */
export const identify = (response: Http.ServerResponse, requestId: string): void => {
  requestIds.set(response, requestId)
}

const requestIdOf = (response: Http.ServerResponse): Respond.HeaderRecord => {
  const id = requestIds.get(response)
  return id === undefined ? {} : { "x-request-id": id }
}

// The answer of a request the shutdown interrupted before its answer started, to a client still connected: a
// `503 server_shutting_down` in OpenAI's error JSON (the SDKs retry it, on another instance behind a balancer),
// rather than an empty reply.
const answerCut = (tracker: Tracker, response: Http.ServerResponse): Effect.Effect<void> =>
  tracker.draining && !response.headersSent && !response.destroyed
    ? Respond.write(
      Respond.openAiError(503, {
        message: "The gateway is shutting down and stopped this request; retry it.",
        type: "server_error",
        code: "server_shutting_down"
      }, { ...requestIdOf(response), connection: "close" }),
      response
    )
    : Effect.void
