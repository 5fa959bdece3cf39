/**
 * Reading a request body under a size limit: a declared `content-length` over it is refused before a byte is
 * read, a chunked body is counted as it arrives and reading stops at the limit (the rest is discarded by Node
 * while the 413 goes out, and the connection is then closed). A body with a `content-encoding` (gzip...) is
 * read under the same limit and refused: the gateway reads JSON as sent, and does not inflate what a client
 * compressed.
 *
 * @since 0.2.0
 */
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
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

const tooLarge: Body = { _tag: "TooLarge" }
const aborted: Body = { _tag: "Aborted" }

/** A declared `content-length` over the limit: refused before a byte is read. */
const declaredOver = (declared: string | undefined, maxBytes: number): boolean =>
  declared !== undefined && Number(declared) > maxBytes

/** The `content-encoding` of a body the gateway cannot read as sent; `undefined` for none or `identity`. */
const encodingOf = (header: string | undefined): string | undefined => {
  const encoding = header?.trim()
  return encoding === undefined || encoding === "" || encoding.toLowerCase() === "identity" ? undefined : encoding
}

/**
 * A body to refuse for its encoding. Still read (under the limit), so the connection stays in step for the
 * client's next request.
 */
const encoded = (encoding: string | undefined, read: Effect.Effect<Body>): Effect.Effect<Body> =>
  encoding === undefined
    ? read
    : Effect.map(read, (body): Body => body._tag === "Text" ? { _tag: "Encoded", encoding } : body)

const readNode = (source: Http.IncomingMessage, maxBytes: number): Effect.Effect<Body> =>
  Effect.async<Body>((resume) => {
    const chunks: Array<Buffer> = []
    let bytes = 0
    const cleanup = () => {
      source.off("data", onData)
      source.off("end", onEnd)
      source.off("error", onError)
      source.off("aborted", onError)
    }
    const onData = (chunk: Buffer) => {
      bytes += chunk.length
      if (bytes > maxBytes) {
        cleanup()
        source.pause()
        resume(Effect.succeed(tooLarge))
        return
      }
      chunks.push(chunk)
    }
    const onEnd = () => {
      cleanup()
      resume(Effect.succeed({
        _tag: "Text",
        text: chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks, bytes).toString("utf8")
      }))
    }
    const onError = () => {
      cleanup()
      resume(Effect.succeed(aborted))
    }
    source.on("data", onData)
    source.once("end", onEnd)
    source.once("error", onError)
    source.once("aborted", onError)
    return Effect.sync(cleanup)
  })

/**
 * The body of a Node request as UTF-8 text, at most `maxBytes` bytes.
 *
 * @since 0.2.0
 * @category reading
 */
export const fromNode = (source: Http.IncomingMessage, maxBytes: number): Effect.Effect<Body> =>
  declaredOver(source.headers["content-length"], maxBytes)
    ? Effect.succeed(tooLarge)
    : encoded(encodingOf(source.headers["content-encoding"]), readNode(source, maxBytes))

/**
 * The request body as UTF-8 text, at most `maxBytes` bytes.
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
    encodingOf(request.headers["content-encoding"]),
    request.text.pipe(
      HttpIncomingMessage.withMaxBodySize(Option.some(maxBytes)),
      Effect.map((text): Body => ({ _tag: "Text", text })),
      Effect.catchAll((error) => Effect.succeed(String(error.cause).includes("maxBytes") ? tooLarge : aborted))
    )
  )
}
