/**
 * Reading a request body under a size limit: a declared `content-length` over it is refused before a byte is
 * read, a chunked body is counted as it arrives and reading stops at the limit. Either way the 413 goes out
 * while the server reads and drops the rest of the body, bounded (see {@link discardRest}), then closes the
 * connection. A body with a `content-encoding` (gzip...) is read under the same limit and refused: the gateway
 * reads JSON as sent, and does not inflate what a client compressed. A body that is not valid UTF-8 is refused
 * too, rather than read with its bad bytes replaced by U+FFFD.
 *
 * @since 0.2.0
 */
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { isUtf8 } from "node:buffer"
import type * as Http from "node:http"

/**
 * The body as text, or why there is none.
 *
 * @since 0.2.0
 * @category models
 */
export type Body =
  | { readonly _tag: "Text"; readonly text: string }
  | { readonly _tag: "TooLarge" }
  | { readonly _tag: "Aborted" }
  /** A `content-encoding` other than `identity`: the header's value. */
  | { readonly _tag: "Encoded"; readonly encoding: string }
  /** Bytes that are not valid UTF-8 (JSON must be UTF-8, RFC 8259). */
  | { readonly _tag: "NotUtf8" }

const tooLarge: Body = { _tag: "TooLarge" }
const aborted: Body = { _tag: "Aborted" }
const notUtf8: Body = { _tag: "NotUtf8" }

/**
 * The bytes as text, checked first: `toString` would replace each bad sequence by U+FFFD without a word.
 * `isUtf8` validates in place (native, SIMD), so the body is not copied for it.
 */
const textOf = (bytes: Buffer): Body => isUtf8(bytes) ? { _tag: "Text", text: bytes.toString("utf8") } : notUtf8

/** A declared `content-length` over the limit: refused before a byte is read. */
const declaredOver = (declared: string | undefined, maxBytes: number): boolean =>
  declared !== undefined && Number(declared) > maxBytes

/** The `content-encoding` of a body the gateway cannot read as sent; `undefined` for none or `identity`. */
const contentCodingOf = (header: string | undefined): string | undefined => {
  const encoding = header?.trim()
  return encoding === undefined || encoding === "" || encoding.toLowerCase() === "identity" ? undefined : encoding
}

/**
 * The codings of a body the gateway cannot read as sent: its `content-encoding`, else a `transfer-encoding` beyond
 * `chunked` (`gzip, chunked`: Node removes the chunking, not the compression); `undefined` for none.
 */
const encodingOf = (headers: Http.IncomingHttpHeaders | Readonly<Record<string, string | undefined>>) => {
  const content = contentCodingOf(headers["content-encoding"] as string | undefined)
  if (content !== undefined) return content
  const transfer = headers["transfer-encoding"] as string | undefined
  if (transfer === undefined || /^\s*chunked\s*$/i.test(transfer)) return undefined
  const codings = transfer.split(",").map((coding) => coding.trim()).filter((coding) =>
    coding !== "" && !/^(chunked|identity)$/i.test(coding)
  )
  return codings.length === 0 ? undefined : codings.join(", ")
}

/**
 * A body to refuse for its encoding. Still read (under the limit), so the connection stays in step for the
 * client's next request.
 */
const encoded = (encoding: string | undefined, read: Effect.Effect<Body>): Effect.Effect<Body> =>
  encoding === undefined
    ? read
    : Effect.map(
      read,
      // Compressed bytes are seldom UTF-8: the encoding is what to tell the client.
      (body): Body => body._tag === "Text" || body._tag === "NotUtf8" ? { _tag: "Encoded", encoding } : body
    )

/** What the server is told as a body is read: when reading starts, and when the body turns out too large. */
export interface ReadHooks {
  readonly onRead?: (() => void) | undefined
  readonly onTooLarge?: (() => void) | undefined
}

/**
 * Listens to a request's events until the returned function is called: the body's readers each stop listening as
 * soon as one of their events settles them.
 */
const listen = (source: Http.IncomingMessage, listeners: Readonly<Record<string, (chunk: Buffer) => void>>) => {
  for (const [event, listener] of Object.entries(listeners)) source.on(event, listener)
  return () => {
    for (const [event, listener] of Object.entries(listeners)) source.off(event, listener)
  }
}

const readNode = (source: Http.IncomingMessage, maxBytes: number, hooks: ReadHooks): Effect.Effect<Body> =>
  Effect.async<Body>((resume) => {
    hooks.onRead?.()
    const chunks: Array<Buffer> = []
    let bytes = 0
    const settle = (body: Body) => {
      cleanup()
      resume(Effect.succeed(body))
    }
    const onError = () => settle(aborted)
    const cleanup = listen(source, {
      data: (chunk) => {
        bytes += chunk.length
        if (bytes > maxBytes) {
          source.pause()
          hooks.onTooLarge?.()
          return settle(tooLarge)
        }
        chunks.push(chunk)
      },
      end: () => settle(textOf(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, bytes))),
      error: onError,
      aborted: onError
    })
    return Effect.sync(cleanup)
  })

/**
 * The body of a Node request as UTF-8 text (refused when it is not valid UTF-8), at most `maxBytes` bytes.
 * `hooks.onRead` runs once the body is to be read, not when it is refused from its declared length: the server's
 * `100 Continue` to a client that waits for it. `hooks.onTooLarge` runs when the body is refused as too large,
 * from its declared length or as it is read.
 *
 * @since 0.2.0
 * @category reading
 */
export const fromNode = (
  source: Http.IncomingMessage,
  maxBytes: number,
  hooks: ReadHooks = {}
): Effect.Effect<Body> => {
  if (declaredOver(source.headers["content-length"], maxBytes)) {
    hooks.onTooLarge?.()
    return Effect.succeed(tooLarge)
  }
  const encoding = encodingOf(source.headers)
  // A client that waits for its `100 Continue` before sending a body the gateway refuses for its encoding: refused
  // now, so that the body is never sent (as a declared length over the limit is).
  if (encoding !== undefined && /\b100-continue\b/i.test(source.headers.expect ?? "")) {
    return Effect.succeed({ _tag: "Encoded", encoding })
  }
  return encoded(encoding, readNode(source, maxBytes, hooks))
}

/**
 * How much of a refused body {@link discardRest} reads at most: bytes past the point where reading stopped,
 * and time. Enough for a body a few MB over the limit from a client that sends it whole before it reads the
 * answer (Python's `http.client`); past either bound the connection closes with the client still sending.
 *
 * @since 0.2.0
 * @category reading
 */
export const discardBounds = { bytes: 8 * 1024 * 1024, ms: 2_000 } as const

/**
 * Reads and drops the rest of a body refused as too large, until it ends, the client leaves, or
 * {@link discardBounds} is reached. A socket closed with bytes still unread sends a TCP reset, which can reach a
 * client still sending before it has read the 413 (it sees a broken pipe or a reset instead); read to its end,
 * the body leaves the connection to close with the 413 read.
 *
 * @since 0.2.0
 * @category reading
 */
export const discardRest = (
  source: Http.IncomingMessage,
  bounds: { readonly bytes: number; readonly ms: number } = discardBounds
): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (source.complete || source.destroyed) return resume(Effect.void)
    let bytes = 0
    const onDone = () => {
      cleanup()
      resume(Effect.void)
    }
    const cleanup = listen(source, {
      data: (chunk) => {
        bytes += chunk.length
        if (bytes > bounds.bytes) onDone()
      },
      end: onDone,
      close: onDone,
      error: onDone,
      aborted: onDone
    })
    source.resume()
    return Effect.sync(cleanup)
  }).pipe(Effect.timeoutOption(bounds.ms), Effect.asVoid)

/**
 * The request body as UTF-8 text (refused when it is not valid UTF-8), at most `maxBytes` bytes.
 *
 * @since 0.2.0
 * @category reading
 */
export const read = (request: HttpServerRequest.HttpServerRequest, maxBytes: number): Effect.Effect<Body> => {
  const source = NodeHttpServerRequest.toIncomingMessage(request) as Http.IncomingMessage | undefined
  if (source !== undefined && typeof source.on === "function") return fromNode(source, maxBytes)
  if (declaredOver(request.headers["content-length"], maxBytes)) return Effect.succeed(tooLarge)
  // Another platform's server: its own reader, with the same limit.
  return encoded(
    encodingOf(request.headers),
    request.arrayBuffer.pipe(
      HttpIncomingMessage.withMaxBodySize(Option.some(maxBytes)),
      // A view of the bytes read, not a copy (some servers give a `Uint8Array` for the `ArrayBuffer`).
      Effect.map((data) =>
        textOf(
          ArrayBuffer.isView(data) ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(data)
        )
      ),
      Effect.catchAll((error) => Effect.succeed(String(error.cause).includes("maxBytes") ? tooLarge : aborted))
    )
  )
}
