/**
 * Compression of `MockProvider` replies, so tests can send what real servers and proxies send.
 *
 * @since 0.1.0
 * @internal
 */
import * as Effect from "effect/Effect"
import type { Transform } from "node:stream"
import * as Zlib from "node:zlib"
import type { ContentEncoding } from "../testing/MockProvider.js"

/**
 * The `content-encoding` header value of an encoding (raw deflate goes by the name `deflate`).
 *
 * @since 0.1.0
 * @category utils
 * @internal
 */
export const headerValue = (encoding: ContentEncoding): string => encoding === "deflate-raw" ? "deflate" : encoding

/**
 * A whole body, compressed.
 *
 * @since 0.1.0
 * @category utils
 * @internal
 */
export const compress = (encoding: ContentEncoding, payload: Uint8Array): Buffer => {
  switch (encoding) {
    case "gzip":
    case "x-gzip":
      return Zlib.gzipSync(payload)
    case "deflate":
      return Zlib.deflateSync(payload)
    case "deflate-raw":
      return Zlib.deflateRawSync(payload)
    case "br":
      return Zlib.brotliCompressSync(payload)
  }
}

const compressor = (encoding: ContentEncoding): Transform => {
  switch (encoding) {
    case "gzip":
    case "x-gzip":
      return Zlib.createGzip()
    case "deflate":
      return Zlib.createDeflate()
    case "deflate-raw":
      return Zlib.createDeflateRaw()
    case "br":
      return Zlib.createBrotliCompress()
  }
}

/**
 * A compressor of one streamed body: `chunk` gives the bytes of one chunk flushed so the client can decode it
 * at once, `end` the bytes that close the compressed stream.
 *
 * @since 0.1.0
 * @category utils
 * @internal
 */
export const streamCompressor = (encoding: ContentEncoding) => {
  const transform = compressor(encoding)
  let out: Array<Buffer> = []
  transform.on("data", (data: Buffer) => out.push(data))
  const take = () => {
    const taken = Buffer.concat(out)
    out = []
    return taken
  }
  const flushKind = encoding === "br" ? Zlib.constants.BROTLI_OPERATION_FLUSH : Zlib.constants.Z_SYNC_FLUSH
  return {
    chunk: (chunk: string | Uint8Array): Effect.Effect<Buffer> =>
      Effect.async<Buffer>((resume) => {
        transform.write(chunk)
        ;(transform as unknown as Zlib.Zlib).flush(flushKind, () => resume(Effect.sync(take)))
      }),
    end: Effect.async<Buffer>((resume) => {
      transform.once("end", () => resume(Effect.sync(take)))
      transform.end()
    })
  }
}
