/**
 * The answers written before a request reaches the handler: Node's client errors (a slow client, malformed or
 * oversized headers), a `CONNECT`, an `Expect` other than `100-continue`, a missing or repeated `Host`. Each is
 * OpenAI's error JSON with a request id, as every other answer, rather than Node's empty-bodied default.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import type * as Http from "node:http"
import type { Duplex } from "node:stream"
import * as Headers from "./headers.js"
import * as Respond from "./respond.js"

// Errors Node meets before a request reaches the handler (a slow client, malformed or oversized headers): the
// same OpenAI error JSON as every other answer instead of Node's empty-bodied default, then the connection closes.
const clientErrors: Record<string, readonly [number, string, string, string]> = {
  ERR_HTTP_REQUEST_TIMEOUT: [408, "Request Timeout", "request_timeout", "The request was not received in time."],
  HPE_HEADER_OVERFLOW: [
    431,
    "Request Header Fields Too Large",
    "headers_too_large",
    "The request headers are too large."
  ]
}

/**
 * Connections whose request was answered before its body was all read (a refusal): Node may still time it out.
 *
 * @since 0.2.0
 * @category state
 */
export const answeredEarly = new WeakSet<Duplex>()

/**
 * Connections whose request Node timed out (`requestTimeout`: a body sent too slowly) and answered with the 408:
 * the request's log line and metrics say 408, not a client that left.
 *
 * @since 0.2.0
 * @category state
 */
export const timedOut = new WeakSet<Duplex>()

/**
 * The request id of the request the handler is serving on a connection, while it does: a 408 that Node answers
 * for it carries the id its log line has.
 *
 * @since 0.2.0
 * @category state
 */
export const servingId = new WeakMap<Duplex, string>()

/** A request in flight on its connection. */
interface Entry {
  readonly request: Http.IncomingMessage
  /** Stops serving it, when Node timed it out: its body came too slowly. */
  readonly stop: () => void
  /** What to do if its connection goes before it is answered. */
  readonly onGone: () => void
}

/** A connection with answers not all written yet (pipelined ones among them). */
interface InFlight {
  /**
   * Its requests in flight, in the order they were read: the last one, read whole, is not the one a client error
   * is about.
   */
  readonly requests: Array<Entry>
  /** A client error's answer, held until the answers before it are written. */
  then: (() => void) | undefined
  /** An answer closes the connection: requests read after it are not served. */
  closing: boolean
}

const inFlight = new WeakMap<Duplex, InFlight>()

/**
 * Counts a request in flight on its connection until its response closes: call `ended` then. A client error
 * that follows it on the connection (pipelined bytes that are not HTTP) is answered after it, not instead. `stop`
 * runs when Node times the request out (its body too slow) and answers it with a 408: whatever of the body comes
 * after must not be served.
 *
 * @since 0.2.0
 * @category state
 */
export const requestStarted = (
  request: Http.IncomingMessage,
  stop: () => void,
  onGone: () => void
): () => void => {
  const socket = request.socket
  let state = inFlight.get(socket)
  if (state === undefined) {
    const created: InFlight = { requests: [], then: undefined, closing: false }
    inFlight.set(socket, state = created)
    // One listener per connection: a response queued behind another (pipelining) never closes when its
    // connection does, and its request would run on for no one.
    socket.once("close", () => {
      for (const entry of created.requests.splice(0)) entry.onGone()
    })
  }
  const connection = state
  const entry: Entry = { request, stop, onGone }
  connection.requests.push(entry)
  return () => {
    const at = connection.requests.indexOf(entry)
    if (at >= 0) connection.requests.splice(at, 1)
    if (connection.requests.length > 0 || connection.then === undefined) return
    const then = connection.then
    connection.then = undefined
    then()
  }
}

/**
 * The answer to `request` closes its connection (a refusal that reads no more of it): the requests pipelined
 * after it will never be answered, so they are not served (each one's `onGone`), nor are those read after
 * (see {@link isClosing}).
 *
 * @since 0.2.0
 * @category state
 */
export const closesAfter = (request: Http.IncomingMessage): void => {
  const state = inFlight.get(request.socket)
  if (state === undefined) return
  state.closing = true
  const at = state.requests.findIndex((entry) => entry.request === request)
  if (at < 0) return
  for (const entry of state.requests.splice(at + 1)) entry.onGone()
}

/**
 * Whether an answer on the connection closes it: a request read after it is not served.
 *
 * @since 0.2.0
 * @category state
 */
export const isClosing = (socket: Duplex): boolean => inFlight.get(socket)?.closing === true

/**
 * Whether `request` is the last request read on its connection: an answer that closes the connection (a server
 * that stops) must not come before a pipelined request's answer, which would then never be written.
 *
 * @since 0.2.0
 * @category state
 */
export const lastOnConnection = (request: Http.IncomingMessage): boolean =>
  inFlight.get(request.socket)?.requests.at(-1)?.request === request

/**
 * Node's `clientError` listener: a 408, a 431 or a 400 in OpenAI's error JSON, then the connection closed. Where
 * requests read whole before the bad one are still being answered (HTTP/1.1 pipelining), it is written after
 * their answers, in order, with an id of its own.
 *
 * @since 0.2.0
 * @category answers
 */
export const answerClientError = (error: Error & { readonly code?: string }, socket: Duplex) => {
  // A request already answered (a refusal written before its body was all sent, then the body timed out): one
  // answer per request; the connection just closes.
  if (error.code === "ECONNRESET" || !socket.writable || answeredEarly.has(socket)) return socket.destroy()
  const [status, reason, code, message] = clientErrors[error.code ?? ""] ??
    [400, "Bad Request", "bad_request", "The request could not be parsed as HTTP."]
  const body = { message, type: "invalid_request_error", param: null, code }
  const state = inFlight.get(socket)
  const last = state?.requests.at(-1)
  if (state !== undefined && last?.request.complete === true) {
    state.then = () => {
      if (socket.writable) rawAnswer(socket, status, reason, body)
      else socket.destroy()
    }
    return
  }
  // About the request being served (its body too slow, or not HTTP): its own answer, with its id.
  rawAnswer(socket, status, reason, body, { requestId: servingId.get(socket) })
  if (error.code === "ERR_HTTP_REQUEST_TIMEOUT") {
    timedOut.add(socket)
    last?.stop()
  }
}

// An answer written to the socket itself, where Node has no response to give (bytes that are not HTTP, CONNECT):
// OpenAI's error JSON with a request id, as every other answer, then the connection closed.
const rawAnswer = (
  socket: Duplex,
  status: number,
  reason: string,
  error: Record<string, unknown>,
  options: { readonly requestId?: string | undefined; readonly extra?: string } = {}
) => {
  const body = JSON.stringify({ error })
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${
      Buffer.byteLength(body)
    }\r\nx-request-id: ${Headers.requestId(options.requestId)}\r\n${
      options.extra ?? ""
    }connection: close\r\n\r\n${body}`
  )
}

/** The request id the client sent, if it sent one header of it. */
const sentRequestId = (request: Http.IncomingMessage): string | undefined => {
  const sent = request.headers["x-request-id"]
  return typeof sent === "string" ? sent : undefined
}

/**
 * Node's `connect` listener: a CONNECT (a proxy tunnel), which Node otherwise drops without a word, gets a 405.
 *
 * @since 0.2.0
 * @category answers
 */
export const answerConnect = (request: Http.IncomingMessage, socket: Duplex) => {
  if (!socket.writable) return socket.destroy()
  rawAnswer(socket, 405, "Method Not Allowed", {
    message: "CONNECT is not allowed: the gateway is no proxy.",
    type: "invalid_request_error",
    param: null,
    code: "method_not_allowed"
  }, { requestId: sentRequestId(request), extra: "allow: GET, HEAD, POST\r\n" })
}

// A refusal of a request before the handler, on Node's response: OpenAI's error JSON with a request id (the
// client's own, if it sent one), then the connection closed. A whole body: written at once, nothing to wait for.
const refuseBeforeHandler = (
  request: Http.IncomingMessage,
  response: Http.ServerResponse,
  status: number,
  error: { readonly message: string; readonly code: string }
) =>
  Effect.runSync(Respond.write(
    Respond.openAiError(status, { ...error, type: "invalid_request_error" }, {
      "x-request-id": Headers.requestId(sentRequestId(request)),
      connection: "close"
    }),
    response
  ))

/**
 * Node's `checkExpectation` listener: an `Expect` other than `100-continue`, which Node refuses with an empty 417,
 * gets the same refusal (RFC 9110, 10.1.1) in OpenAI's error JSON, with a request id.
 *
 * @since 0.2.0
 * @category answers
 */
export const answerExpectation = (request: Http.IncomingMessage, response: Http.ServerResponse) =>
  refuseBeforeHandler(request, response, 417, {
    message: `The request's Expect header (${
      Respond.clientText(String(request.headers.expect))
    }) is not supported: only 100-continue is.`,
    code: "expectation_failed"
  })

/**
 * A header a request may send only once, as a refusal names it, with the refusal's code.
 *
 * @since 0.2.0
 * @category models
 */
export interface RepeatedHeader {
  readonly name: string
  readonly code: string
}

/**
 * The first of `Host`, `Authorization` and `api-key` the request sends more than once (one scan of its raw
 * headers): a repeated `Host` is refused before the handler ({@link refusedHost}), a repeated key by the handler
 * (Node keeps the first, a proxy in front may have checked another), logged and counted as every API answer.
 *
 * @since 0.2.0
 * @category answers
 */
export const repeatedHeader = (request: Http.IncomingMessage): RepeatedHeader | undefined => {
  const rawHeaders = request.rawHeaders
  let seen: Set<string> | undefined
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const raw = rawHeaders[i]!
    // Per request: only names of these lengths are lower-cased and looked up.
    if (raw.length !== 4 && raw.length !== 7 && raw.length !== 13) continue
    const name = raw.toLowerCase()
    const once = onlyOnce.get(name)
    if (once === undefined) continue
    if (seen?.has(name)) return once
    ;(seen ??= new Set()).add(name)
  }
  return undefined
}

/**
 * The refusal of a repeated header, whoever answers it (a `400`, `invalid_request_error`).
 *
 * @since 0.2.0
 * @category answers
 */
export const repeatedRefusal = (repeated: RepeatedHeader) => ({
  message: `The request has more than one ${repeated.name} header.`,
  code: repeated.code
})

const onlyOnce = new Map<string, RepeatedHeader>([
  ["host", { name: "Host", code: "duplicate_host" }],
  ["authorization", { name: "Authorization", code: "duplicate_authorization" }],
  ["api-key", { name: "api-key", code: "duplicate_api_key" }]
])

/**
 * Refuses, in OpenAI's error JSON with a request id, an HTTP/1.1 request without `Host` or any request with more
 * than one (RFC 9112, 3.2: a 400; Node refuses the first with an empty 400 and serves the second), given its
 * {@link repeatedHeader}. Whether it was refused.
 *
 * @since 0.2.0
 * @category answers
 */
export const refusedHost = (
  request: Http.IncomingMessage,
  response: Http.ServerResponse,
  repeated: RepeatedHeader | undefined
): boolean => {
  const missing = request.headers.host === undefined && request.httpVersionMajor === 1 &&
    request.httpVersionMinor >= 1
  if (!missing && repeated?.name !== "Host") return false
  refuseBeforeHandler(
    request,
    response,
    400,
    missing
      ? { message: "The request has no Host header, which HTTP/1.1 requires.", code: "missing_host" }
      : repeatedRefusal(repeated!)
  )
  return true
}
