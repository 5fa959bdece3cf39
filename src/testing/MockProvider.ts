/**
 * A real HTTP server on loopback that plays a script of replies and faults and records every request, for tests
 * and demos of code that talks to an LLM provider.
 *
 * All timing (`delay`, `chunkDelay`, `arrivedAt`) runs on the Effect `Clock` of the fiber that called `make`, so
 * inside `it.effect` / `it.scoped` from `@effect/vitest` the server's sleeps only elapse when the test calls
 * `TestClock.adjust`.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import * as internal from "../internal/mockServer.js"

/**
 * A request as the server received it, recorded once its body has been read completely.
 *
 * @since 0.1.0
 * @category models
 */
export interface RecordedRequest {
  readonly method: string
  /** Path plus query string, e.g. `"/v1/chat/completions?api-version=2024-10-21"`. */
  readonly path: string
  /** Lower-cased header names; repeated headers are joined with `", "`. */
  readonly headers: Readonly<Record<string, string>>
  readonly bodyText: string
  /** `JSON.parse(bodyText)` when that succeeds, otherwise `undefined`. */
  readonly body: unknown
  /** `Clock.currentTimeMillis` of the runtime that made the server (virtual time under `TestClock`). */
  readonly arrivedAt: number
}

/**
 * A content-coding a reply can be compressed with. `"deflate-raw"` sends a raw deflate stream (no zlib header)
 * under the name `deflate`, as some servers do.
 *
 * @since 0.1.0
 * @category models
 */
export type ContentEncoding = "gzip" | "x-gzip" | "deflate" | "deflate-raw" | "br"

/**
 * Options shared by every non-fault reply.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReplyOptions {
  /** HTTP status, default `200`. */
  readonly status?: number
  /** Extra response headers; they override the defaults (including `content-type`). */
  readonly headers?: Readonly<Record<string, string>>
  /** Wait before sending the status line and headers. */
  readonly delay?: Duration.DurationInput
  /**
   * Compress the body and say so in `content-encoding` (a `headers` entry still wins). A streamed reply is
   * compressed chunk by chunk, flushed after each, so every chunk still arrives on its own.
   */
  readonly contentEncoding?: ContentEncoding
}

/**
 * A reply whose `body` is sent JSON-encoded as `application/json` (`undefined` sends an empty body).
 *
 * @since 0.1.0
 * @category models
 */
export interface JsonReply extends ReplyOptions {
  readonly body: unknown
}

/**
 * A reply whose `text` is sent byte for byte, e.g. a malformed body. `contentType` defaults to `text/plain`.
 *
 * @since 0.1.0
 * @category models
 */
export interface TextReply extends ReplyOptions {
  readonly text: string
  readonly contentType?: string
}

/**
 * Options of a streamed reply.
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamOptions extends ReplyOptions {
  /** Wait before each chunk; headers are sent before the first wait. */
  readonly chunkDelay?: Duration.DurationInput
  /** Destroy the socket after writing this many chunks, leaving the response unfinished. Wins over `hang`. */
  readonly cutAfter?: number
  /** Default `"text/event-stream"`. */
  readonly contentType?: string
  /** After the chunks, keep the response open (never end it) until the client goes away. */
  readonly hang?: boolean
}

/**
 * A reply written chunk by chunk with chunked transfer encoding.
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamReply extends StreamOptions {
  readonly chunks: ReadonlyArray<string | Uint8Array>
}

/**
 * A connection-level fault: `"disconnect"` destroys the socket before anything is sent, `"hang"` never answers
 * and keeps the socket open until the client closes it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Fault {
  readonly fault: "disconnect" | "hang"
}

/**
 * A reply made from the request it answers, e.g. to echo the requested model.
 *
 * @since 0.1.0
 * @category models
 */
export interface FromRequest {
  readonly fromRequest: (request: RecordedRequest) => Reply
}

/**
 * One scripted answer. The kind is told apart by its keys: `fromRequest`, then `fault`, then `chunks`, then
 * `text`, else `body`.
 *
 * @since 0.1.0
 * @category models
 */
export type Reply = JsonReply | TextReply | StreamReply | Fault | FromRequest

/**
 * A JSON reply.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { MockProvider } from "liter-llm/testing"
 *
 * const ok = MockProvider.json({ id: "chatcmpl-1", choices: [] }, { headers: { "x-request-id": "req_1" } })
 */
export const json = (body: unknown, options: ReplyOptions = {}): JsonReply => ({ ...options, body })

/**
 * A reply sent exactly as given, e.g. a truncated JSON document.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { MockProvider } from "liter-llm/testing"
 *
 * const malformed = MockProvider.text("{\"id\": ", { contentType: "application/json" })
 */
export const text = (text: string, options: ReplyOptions & { readonly contentType?: string } = {}): TextReply => ({
  ...options,
  text
})

/**
 * A streamed reply of raw chunks.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { MockProvider } from "liter-llm/testing"
 *
 * // half an SSE frame, then the connection drops
 * const torn = MockProvider.stream(["data: {\"a\":1}\n\n", "data: {\"a\""], { cutAfter: 2 })
 */
export const stream = (chunks: ReadonlyArray<string | Uint8Array>, options: StreamOptions = {}): StreamReply => ({
  ...options,
  chunks
})

/**
 * Options of {@link sse}.
 *
 * @since 0.1.0
 * @category models
 */
export interface SseOptions extends StreamOptions {
  /** Append the OpenAI-style terminator `data: [DONE]\n\n` as a last chunk; default `true`. */
  readonly done?: boolean
}

/**
 * A Server-Sent Events reply: each event becomes one chunk `data: <payload>\n\n`, where objects are
 * `JSON.stringify`-ed and strings are used as the payload unchanged. Use {@link stream} for raw frames
 * (named events, comments). `cutAfter` counts the `[DONE]` chunk too.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { MockProvider } from "liter-llm/testing"
 *
 * const reply = MockProvider.sse([
 *   { choices: [{ index: 0, delta: { content: "Hel" } }] },
 *   { choices: [{ index: 0, delta: { content: "lo" } }] }
 * ], { chunkDelay: "100 millis" })
 */
export const sse = (events: ReadonlyArray<unknown>, options: SseOptions = {}): StreamReply => {
  const { done = true, ...rest } = options
  const chunks = events.map((event) => `data: ${typeof event === "string" ? event : JSON.stringify(event)}\n\n`)
  return { ...rest, chunks: done ? [...chunks, "data: [DONE]\n\n"] : chunks }
}

/**
 * An error reply, by default with an OpenAI-shaped body
 * `{"error":{"message":"mock error <status>","type":"mock_error","code":null}}`.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { MockProvider } from "liter-llm/testing"
 *
 * const limited = MockProvider.error(429, undefined, { headers: { "retry-after": "2" } })
 */
export const error = (
  status: number,
  body: unknown = { error: { message: `mock error ${status}`, type: "mock_error", code: null } },
  options: Omit<ReplyOptions, "status"> = {}
): JsonReply => ({ ...options, status, body })

/**
 * A reply computed from the recorded request when it arrives; a function that throws is answered with a 500.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { MockProvider } from "liter-llm/testing"
 *
 * const echo = MockProvider.fromRequest((request) => MockProvider.json({ path: request.path }))
 */
export const fromRequest = (reply: (request: RecordedRequest) => Reply): FromRequest => ({ fromRequest: reply })

/**
 * The answer to a request past the end of the script: a `400` whose body every provider layer reads as a
 * non-retryable `InvalidRequest` with the message `MockProvider: script exhausted: ...`, so the call fails at once
 * instead of being retried or handed to a fallback.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { MockProvider } from "liter-llm/testing"
 *
 * const reply = MockProvider.scriptExhausted(3)
 */
export const scriptExhausted = (received: number): JsonReply => {
  const message = `MockProvider: script exhausted: request ${received} has no scripted reply`
  // One body in every provider's error shape: OpenAI / Anthropic / Gemini read `error`, Cohere the top level.
  return error(400, {
    type: "error",
    message,
    error: { type: exhaustedType, code: exhaustedType, status: "FAILED_PRECONDITION", message }
  })
}

const exhaustedType = "mock_script_exhausted"

/**
 * Destroy the socket before sending anything; the client sees a network error.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { MockProvider } from "liter-llm/testing"
 *
 * const script = [MockProvider.disconnect, MockProvider.json({ ok: true })]
 */
export const disconnect: Fault = { fault: "disconnect" }

/**
 * Never answer; the connection stays open until the client closes it (e.g. on its timeout).
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { MockProvider } from "liter-llm/testing"
 *
 * const script = [MockProvider.hang]
 */
export const hang: Fault = { fault: "hang" }

/**
 * A running mock server.
 *
 * @since 0.1.0
 * @category models
 */
export interface MockProvider {
  /** `"http://127.0.0.1:<port>"`, without a trailing slash. */
  readonly url: string
  readonly port: number
  /** Every request received so far, in arrival order. */
  readonly requests: Effect.Effect<ReadonlyArray<RecordedRequest>>
  /** Append replies to the script. */
  readonly push: (...replies: ReadonlyArray<Reply>) => Effect.Effect<void>
  /** How many requests had their connection closed by the client before the reply finished. */
  readonly closedConnections: Effect.Effect<number>
  /**
   * Waits for one client close (a connection closed before its reply finished) not yet consumed by an earlier
   * call; closes that happened before the call count. Add a timeout to bound it.
   */
  readonly awaitClientClose: Effect.Effect<void>
}

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Replies consumed one per request, in order. */
  readonly script?: ReadonlyArray<Reply>
  /** The answer once the script is empty (reused for every later request). Default: {@link scriptExhausted}. */
  readonly onExhausted?: Reply
  /** Consulted before the script; returning `undefined` falls through to the script. */
  readonly route?: (request: RecordedRequest) => Reply | undefined
}

/**
 * Starts a server on `127.0.0.1` with a free port. Closing the scope destroys open connections, interrupts
 * in-flight replies and closes the server, so a test never hangs on it.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { Effect } from "effect"
 * import { MockProvider } from "liter-llm/testing"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* MockProvider.make({
 *     script: [MockProvider.error(503), MockProvider.json({ choices: [{ message: { content: "hi" } }] })]
 *   })
 *   // ...point the client at `${server.url}/v1`, call it, then inspect the traffic
 *   const requests = yield* server.requests
 *   return requests.map((request) => request.path)
 * }).pipe(Effect.scoped)
 */
export const make = (options: Options = {}): Effect.Effect<MockProvider, never, Scope.Scope> =>
  Effect.gen(function*() {
    // Made before the server, so its finalizer (interrupting handlers) runs after the server is closed.
    const run = yield* FiberSet.makeRuntime<never>()
    const closes = yield* Queue.unbounded<void>()
    const script: Array<Reply> = [...(options.script ?? [])]
    const requests: Array<RecordedRequest> = []
    const state = { closed: 0, shuttingDown: false }

    const choose = (request: RecordedRequest): Exclude<Reply, FromRequest> => {
      let reply = options.route?.(request) ?? script.shift() ?? options.onExhausted ??
        scriptExhausted(requests.length)
      while ("fromRequest" in reply) reply = reply.fromRequest(request)
      return reply
    }

    const handle = (exchange: internal.Exchange) =>
      Effect.gen(function*() {
        const { req } = exchange
        const bodyText = yield* internal.readBody(req)
        const request: RecordedRequest = {
          method: req.method ?? "GET",
          path: req.url ?? "/",
          headers: internal.flattenHeaders(req),
          bodyText,
          body: internal.parseJson(bodyText),
          arrivedAt: yield* Clock.currentTimeMillis
        }
        requests.push(request)
        // Effect.sync so a throwing `route` becomes a defect, answered with a 500 below.
        const reply = yield* Effect.sync(() => choose(request))
        yield* internal.respond(exchange, reply)
      }).pipe(internal.answerDefects(exchange))

    const onRequest = (req: Http.IncomingMessage, res: Http.ServerResponse): void => {
      const exchange: internal.Exchange = { req, res, selfClosed: false }
      const fiber = run(handle(exchange))
      // `close` also fires after a normal finish; only an unfinished response closed by the peer counts.
      res.once("close", () => {
        if (!res.writableFinished && !exchange.selfClosed && !state.shuttingDown) {
          state.closed++
          closes.unsafeOffer(undefined)
        }
        fiber.unsafeInterruptAsFork(fiber.id())
      })
    }

    const server = yield* Effect.acquireRelease(
      internal.listen(Http.createServer(onRequest)),
      (server) => {
        state.shuttingDown = true
        return internal.close(server)
      }
    )
    const port = (server.address() as AddressInfo).port

    return {
      url: `http://127.0.0.1:${port}`,
      port,
      requests: Effect.sync(() => requests.slice()),
      push: (...replies) =>
        Effect.sync(() => {
          for (const reply of replies) script.push(reply)
        }),
      closedConnections: Effect.sync(() => state.closed),
      awaitClientClose: Queue.take(closes)
    }
  })
