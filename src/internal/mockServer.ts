/**
 * Node-level plumbing of `MockProvider`: reading requests and writing replies as Effects.
 *
 * @since 0.1.0
 * @internal
 */
import * as Cause from "effect/Cause"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Http from "node:http"
import type { FromRequest, JsonReply, Reply, StreamReply, TextReply } from "../testing/MockProvider.js"
import * as Compression from "./mockCompression.js"

/**
 * One request/response pair; `selfClosed` marks sockets the server destroyed on purpose, so their `close` is not
 * mistaken for a client going away.
 *
 * @since 0.1.0
 * @category models
 * @internal
 */
export interface Exchange {
  readonly req: Http.IncomingMessage
  readonly res: Http.ServerResponse
  selfClosed: boolean
}

/**
 * Binds the server to a free loopback port.
 *
 * @since 0.1.0
 * @category constructors
 * @internal
 */
export const listen = (server: Http.Server): Effect.Effect<Http.Server> =>
  Effect.async<Http.Server>((resume) => {
    const onError = (cause: Error) => resume(Effect.die(cause))
    server.once("error", onError)
    server.listen(0, "127.0.0.1", () => {
      server.off("error", onError)
      resume(Effect.succeed(server))
    })
  })

/**
 * Stops listening and destroys every open connection (idle keep-alive ones included), then waits for `close`.
 *
 * @since 0.1.0
 * @category destructors
 * @internal
 */
export const close = (server: Http.Server): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    // The callback gets ERR_SERVER_NOT_RUNNING if already closed; either way it is closed now.
    server.close(() => resume(Effect.void))
    server.closeAllConnections()
  })

/**
 * Reads the whole request body as UTF-8.
 *
 * @since 0.1.0
 * @category utils
 * @internal
 */
export const readBody = (req: Http.IncomingMessage): Effect.Effect<string, Error> =>
  Effect.async<string, Error>((resume) => {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.once("end", () => resume(Effect.succeed(Buffer.concat(chunks).toString("utf8"))))
    req.once("error", (cause) => resume(Effect.fail(cause)))
  })

/**
 * Lower-cased header names with repeated values joined by `", "`.
 *
 * @since 0.1.0
 * @category utils
 * @internal
 */
export const flattenHeaders = (req: Http.IncomingMessage): Record<string, string> => {
  const headers: Record<string, string> = {}
  for (const [name, values] of Object.entries(req.headersDistinct)) {
    if (values !== undefined) headers[name] = values.join(", ")
  }
  return headers
}

/**
 * `JSON.parse`, or `undefined` when the text is not JSON.
 *
 * @since 0.1.0
 * @category utils
 * @internal
 */
export const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

const pause = (duration: Duration.DurationInput | undefined): Effect.Effect<void> =>
  duration === undefined ? Effect.void : Effect.sleep(duration)

const writeHead = (
  res: Http.ServerResponse,
  status: number | undefined,
  contentType: string,
  headers: Readonly<Record<string, string>> | undefined
): void => {
  res.setHeader("content-type", contentType)
  // setHeader matches names case-insensitively, so user headers replace the defaults.
  for (const [name, value] of Object.entries(headers ?? {})) res.setHeader(name, value)
  res.writeHead(status ?? 200)
}

const destroy = (exchange: Exchange): Effect.Effect<void> =>
  Effect.sync(() => {
    exchange.selfClosed = true
    exchange.res.destroy()
  })

// Resolves once the chunk is handed to the socket, so a following destroy cannot drop it.
const write = (res: Http.ServerResponse, chunk: string | Uint8Array): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    // A write error means the socket is gone; its `close` interrupts this fiber.
    res.write(chunk, () => resume(Effect.void))
  })

const sendWhole = (exchange: Exchange, reply: JsonReply | TextReply): Effect.Effect<void> =>
  Effect.sync(() => {
    const [contentType, text] = "text" in reply
      ? [reply.contentType ?? "text/plain; charset=utf-8", reply.text]
      // JSON.stringify(undefined) is undefined: sent as an empty body.
      : ["application/json", JSON.stringify(reply.body) ?? ""]
    const encoding = reply.contentEncoding
    const plain = Buffer.from(text, "utf8")
    const payload = encoding === undefined ? plain : Compression.compress(encoding, plain)
    const { res } = exchange
    if (encoding !== undefined) res.setHeader("content-encoding", Compression.headerValue(encoding))
    res.setHeader("content-length", payload.byteLength)
    writeHead(res, reply.status, contentType, reply.headers)
    res.end(payload)
  })

const sendStream = (exchange: Exchange, reply: StreamReply): Effect.Effect<void> =>
  Effect.gen(function*() {
    const { res } = exchange
    const encoding = reply.contentEncoding
    const compressor = encoding === undefined ? undefined : Compression.streamCompressor(encoding)
    yield* Effect.sync(() => {
      if (encoding !== undefined) res.setHeader("content-encoding", Compression.headerValue(encoding))
      writeHead(res, reply.status, reply.contentType ?? "text/event-stream", reply.headers)
      // Headers go out before the first chunkDelay, so a client can observe them alone.
      res.flushHeaders()
    })
    const count = reply.cutAfter === undefined ? reply.chunks.length : Math.max(0, reply.cutAfter)
    for (const chunk of reply.chunks.slice(0, count)) {
      yield* pause(reply.chunkDelay)
      yield* write(res, compressor === undefined ? chunk : yield* compressor.chunk(chunk))
    }
    if (reply.cutAfter !== undefined) return yield* destroy(exchange)
    if (reply.hang === true) return yield* Effect.never
    if (compressor !== undefined) yield* write(res, yield* compressor.end)
    yield* Effect.sync(() => res.end())
  })

/**
 * Plays one reply on the exchange (a `FromRequest` is resolved by the caller, which holds the request).
 *
 * @since 0.1.0
 * @category utils
 * @internal
 */
export const respond = (exchange: Exchange, reply: Exclude<Reply, FromRequest>): Effect.Effect<void> => {
  if ("fault" in reply) {
    switch (reply.fault) {
      case "disconnect":
        return destroy(exchange)
      case "hang":
        return Effect.never
      default:
        return Effect.dieMessage(`MockProvider: unknown fault ${JSON.stringify(reply.fault)}`)
    }
  }
  return Effect.zipRight(
    pause(reply.delay),
    "chunks" in reply ? sendStream(exchange, reply) : sendWhole(exchange, reply)
  )
}

/**
 * Turns any failure or defect of a handler into a 500 JSON answer (or a dropped connection once headers are out),
 * so nothing escapes the request handler. Interruption is left alone: the client is gone or the server closing.
 *
 * @since 0.1.0
 * @category utils
 * @internal
 */
export const answerDefects = (exchange: Exchange) => <E>(self: Effect.Effect<void, E>): Effect.Effect<void> =>
  Effect.catchAllCause(self, (cause) =>
    Cause.isInterruptedOnly(cause) ? Effect.void : Effect.sync(() => {
      const { res } = exchange
      try {
        if (res.headersSent) throw new Error("headers already sent")
        for (const name of res.getHeaderNames()) res.removeHeader(name)
        const squashed = Cause.squash(cause)
        const message = squashed instanceof Error ? squashed.message : String(squashed)
        const body = JSON.stringify({
          error: { message: `MockProvider: internal error: ${message}`, type: "mock_internal_error" }
        })
        res.writeHead(500, { "content-type": "application/json", "content-length": Buffer.byteLength(body) })
        res.end(body)
      } catch {
        exchange.selfClosed = true
        res.destroy()
      }
    }))
