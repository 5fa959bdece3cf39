/**
 * Content-coding of response bodies (`gzip`, `deflate`, `br`) with `node:zlib`, the same on every transport.
 *
 * `fetch` decodes a body itself but keeps the `content-encoding` header, while undici's dispatcher and
 * `node:http` hand over the encoded bytes. So the header alone does not say whether the bytes are still
 * encoded: the first bytes of the body do. A gzip body starts with `1f 8b` and a zlib one with a valid
 * CMF/FLG pair; a raw deflate or brotli stream has no magic, but no compressed stream starts with a run of
 * printable text, and every body a provider sends once decoded does (JSON, SSE, NDJSON, an HTML error page).
 *
 * @since 0.1.0
 * @internal
 */
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { Transform } from "node:stream"
import * as Zlib from "node:zlib"
import type * as Headers from "./headers.js"

/**
 * A content-coding the library decodes.
 *
 * @since 0.1.0
 * @category models
 */
export type Coding = "gzip" | "deflate" | "br"

/**
 * The `accept-encoding` sent with every request: exactly the codings {@link decode} reads, so a server that
 * honours it never sends one it cannot (e.g. `zstd`).
 *
 * @since 0.1.0
 * @category constants
 */
export const acceptEncoding = "gzip, deflate, br"

/**
 * How a response body is encoded, from its `content-encoding` header.
 *
 * @since 0.1.0
 * @category models
 */
export type ContentCoding =
  | { readonly _tag: "Identity" }
  | { readonly _tag: "Encoded"; readonly coding: Coding }
  | { readonly _tag: "Unsupported"; readonly value: string }

const identity: ContentCoding = { _tag: "Identity" }

const codings: Readonly<Record<string, Coding>> = { gzip: "gzip", "x-gzip": "gzip", deflate: "deflate", br: "br" }

/**
 * The content-coding a response declares. Stacked codings (`gzip, br`) are reported as unsupported: no
 * provider sends them.
 *
 * @since 0.1.0
 * @category parsing
 */
export const contentCoding = (headers: Headers.HeaderRecord): ContentCoding => {
  const value = headers["content-encoding"]
  if (value === undefined) return identity
  const names = value.split(",").map((name) => name.trim().toLowerCase()).filter((name) =>
    name !== "" && name !== "identity"
  )
  if (names.length === 0) return identity
  const coding = names.length === 1 ? codings[names[0]!] : undefined
  return coding === undefined ? { _tag: "Unsupported", value: value.trim() } : { _tag: "Encoded", coding }
}

/** How many leading bytes the decision looks at. */
const sniffLength = 16

const isTextByte = (byte: number): boolean =>
  (byte >= 0x20 && byte < 0x7f) || byte === 0x09 || byte === 0x0a || byte === 0x0d

/** Printable ASCII and whitespace only: a decoded body, never the start of a compressed stream. */
const isText = (head: Uint8Array): boolean => {
  for (let i = 0; i < head.length; i++) if (!isTextByte(head[i]!)) return false
  return true
}

const isGzip = (head: Uint8Array): boolean => head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b

/** RFC 1950 header: method 8, window at most 32 KiB, and the check bits. */
const isZlib = (head: Uint8Array): boolean =>
  head.length >= 2 && (head[0]! & 0x0f) === 8 && head[0]! >> 4 <= 7 && ((head[0]! << 8) | head[1]!) % 31 === 0

/**
 * The decompressor a body that starts with `head` needs, `undefined` when it is not encoded (any more), or
 * `"unsupported"`. A `deflate` body without a zlib header is raw deflate, which some servers send under that
 * name. A body in a coding the library does not know is still read when a transport already decoded it.
 */
const decompressorFor = (
  coding: Exclude<ContentCoding, { readonly _tag: "Identity" }>,
  head: Uint8Array
): (() => Transform) | "unsupported" | undefined => {
  if (coding._tag === "Unsupported") return isText(head) ? undefined : "unsupported"
  if (coding.coding === "gzip") {
    return isGzip(head) ? () => Zlib.createGunzip({ flush: Zlib.constants.Z_SYNC_FLUSH }) : undefined
  }
  if (isText(head)) return undefined
  if (coding.coding === "br") {
    return () => Zlib.createBrotliDecompress({ flush: Zlib.constants.BROTLI_OPERATION_FLUSH })
  }
  return isZlib(head)
    ? () => Zlib.createInflate({ flush: Zlib.constants.Z_SYNC_FLUSH })
    : () => Zlib.createInflateRaw({ flush: Zlib.constants.Z_SYNC_FLUSH })
}

/** A `node:zlib` transform driven one input chunk at a time, collecting what each chunk decodes to. */
const driver = (transform: Transform, maxOutput: number) => {
  let out: Array<Uint8Array> = []
  let total = 0
  let failure: Error | undefined
  let wake: (() => void) | undefined
  // Flowing mode: zlib pushes a chunk's output before it calls the chunk's write callback.
  transform.on("data", (data: Buffer) => {
    out.push(data)
    total += data.byteLength
    if (total > maxOutput) {
      transform.destroy()
      wake?.()
    }
  })
  transform.on("error", (error) => {
    failure = error
    wake?.()
  })
  const settle = (resume: (effect: Effect.Effect<Array<Uint8Array>, Error>) => void) => () => {
    if (wake === undefined) return
    wake = undefined
    const taken = out
    out = []
    resume(failure === undefined || total > maxOutput ? Effect.succeed(taken) : Effect.fail(failure))
  }
  return {
    exceeded: () => total > maxOutput,
    /** Decodes one chunk, or flushes the end of the stream when `input` is `undefined`. */
    feed: (input: Uint8Array | undefined) =>
      Effect.async<Array<Uint8Array>, Error>((resume) => {
        const done = settle(resume)
        wake = done
        if (failure !== undefined || transform.destroyed) return done()
        if (input === undefined) {
          transform.once("end", done)
          transform.end()
        } else {
          transform.write(input, () => done())
        }
      }),
    close: Effect.sync(() => transform.destroy())
  }
}

const firstBytes = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  const head = new Uint8Array(Math.min(sniffLength, chunks.reduce((n, chunk) => n + chunk.byteLength, 0)))
  let at = 0
  for (const chunk of chunks) {
    if (at === head.length) break
    const part = chunk.subarray(0, head.length - at)
    head.set(part, at)
    at += part.byteLength
  }
  return head
}

/**
 * Options of {@link decode}.
 *
 * @since 0.1.0
 * @category models
 */
export interface DecodeOptions<E> {
  /** The error of a body that does not decode. */
  readonly corrupt: (reason: string) => E
  /**
   * Stop decoding past this many bytes: the stream ends after a chunk that crosses it, so a reader can tell
   * (a decompression bomb never reaches memory in full). Default: no limit.
   */
  readonly maxOutput?: number | undefined
}

/**
 * Decodes a body stream of the given content-coding. A body the transport already decoded passes through
 * untouched, once its first bytes are seen; one in an unknown coding fails with `corrupt`.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = <E, R>(
  body: Stream.Stream<Uint8Array, E, R>,
  coding: Exclude<ContentCoding, { readonly _tag: "Identity" }>,
  options: DecodeOptions<E>
): Stream.Stream<Uint8Array, E, R> =>
  Stream.suspend(() => {
    const name = coding._tag === "Encoded" ? coding.coding : coding.value
    const needed = coding._tag === "Encoded" && coding.coding === "gzip" ? 2 : sniffLength
    const head: Array<Uint8Array> = []
    let headBytes = 0
    type Step = Channel.Channel<Chunk.Chunk<Uint8Array>, Chunk.Chunk<Uint8Array>, E, E, unknown, unknown>

    const decoding = (make: () => Transform, ended: boolean): Step =>
      Channel.unwrap(Effect.sync(() => {
        const zlib = driver(make(), options.maxOutput ?? Infinity)
        const emit = (input: Uint8Array | undefined, next: Step): Step =>
          Channel.flatMap(
            Channel.fromEffect(
              Effect.mapError(zlib.feed(input), (error) => options.corrupt(`${name} body: ${error.message}`))
            ),
            (out) => {
              const written = out.length === 0 ? Channel.void : Channel.write(Chunk.unsafeFromArray(out))
              return Channel.zipRight(written, zlib.exceeded() ? Channel.void : next)
            }
          )
        const feedAll = (inputs: ReadonlyArray<Uint8Array>, next: Step): Step =>
          inputs.reduceRight<Step>((rest, input) => emit(input, rest), next)
        const loop: Step = Channel.readWithCause({
          onInput: (chunk: Chunk.Chunk<Uint8Array>) => feedAll(Chunk.toReadonlyArray(chunk), loop),
          onFailure: Channel.failCause,
          onDone: () => emit(undefined, Channel.void)
        })
        return Channel.ensuring(feedAll(head, ended ? emit(undefined, Channel.void) : loop), zlib.close)
      }))

    const decide = (ended: boolean): Step => {
      const make = decompressorFor(coding, firstBytes(head))
      if (make === "unsupported") return Channel.fail(options.corrupt(`unsupported content-encoding "${name}"`))
      if (make !== undefined) return decoding(make, ended)
      const buffered = headBytes === 0 ? Channel.void : Channel.write(Chunk.unsafeFromArray(head))
      return Channel.zipRight(buffered, ended ? Channel.void : Channel.identity<Chunk.Chunk<Uint8Array>, E, unknown>())
    }

    const sniffing: Step = Channel.readWithCause({
      onInput: (chunk: Chunk.Chunk<Uint8Array>) => {
        for (const bytes of chunk) {
          head.push(bytes)
          headBytes += bytes.byteLength
        }
        return headBytes >= needed ? decide(false) : sniffing
      },
      onFailure: Channel.failCause,
      onDone: () => decide(true)
    })
    return Stream.pipeThroughChannel(body, sniffing)
  })
