/**
 * What is not an event in a stream body: raw lines (a JSON error object written without `data:`, spread over
 * lines) and a 200 body that is no stream at all (an HTML page, one JSON object), read up to a bound and
 * reported as the errors they hold.
 */
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Stream from "effect/Stream"
import * as LlmError from "../LlmError.js"
import * as Errors from "./errors.js"
import * as Framing from "./framing.js"
import { isObject, type Json } from "./json.js"

/** How much of a raw line, or of a 200 body that is not a stream, is read to report it; the rest is not awaited. */
export const maxRawBody = 64 * 1024

/** A line `name: value` with a well-formed field name: an SSE field this library does not know, ignored. */
const unknownField = /^[A-Za-z][\w-]*:/

/**
 * Raw (non-SSE) lines of a stream, reassembled into the JSON object they spell: Gemini writes a multi-line JSON
 * error object into an SSE body, llama.cpp an `error: {...}` line, a proxy an HTML page. A line that cannot
 * start or continue a JSON object fails at once; a well-formed unknown field (`name: value`) is ignored, as SSE
 * asks; nothing is buffered beyond {@link maxRawBody}.
 */
export interface RawLines {
  /** Adds a line: the object once complete, a `MalformedResponse` for a line that is not JSON, else `undefined`. */
  readonly push: (line: string) => Json | LlmError.MalformedResponse | undefined
  /** The error of lines still waiting for the end of their object, if any. */
  readonly pending: (reason: string) => LlmError.MalformedResponse | undefined
}

/** A {@link RawLines} for one stream. */
export const makeRawLines = (context: Errors.ErrorContext, requestId: string | undefined): RawLines => {
  let lines: Array<string> = []
  let length = 0
  // llama.cpp's `error: {...}` line carries the error object itself, without the `{"error": ...}` wrapper.
  let unwrapped = false
  const malformed = (reason: string, text: string) => Errors.malformed(context, reason, text, { requestId })
  return {
    push: (line) => {
      let text = line
      if (lines.length === 0) {
        unwrapped = line.startsWith("error:")
        if (unwrapped) text = line.slice(6).trimStart()
        else if (unknownField.test(line)) return undefined
        if (!text.trimStart().startsWith("{")) return malformed("a line in the stream is not an event", line)
      }
      lines.push(text)
      length += text.length + 1
      const joined = lines.join("\n")
      if (length > maxRawBody) return malformed("a raw line in the stream is not a JSON object", joined)
      // Only a line that closes an object can complete one: parse attempts stay rare.
      if (!text.trimEnd().endsWith("}")) return undefined
      let json: unknown
      try {
        json = JSON.parse(joined)
      } catch {
        return undefined
      }
      lines = []
      length = 0
      if (!isObject(json)) return malformed("a raw line in the stream is not a JSON object", joined)
      return unwrapped && json.error === undefined ? { error: json } : json
    },
    pending: (reason) => lines.length === 0 ? undefined : malformed(reason, lines.join("\n"))
  }
}

/**
 * The error a raw line of an event stream stands for: the error object it completes, classified as the provider
 * reads error bodies, or a `MalformedResponse` for anything else; `undefined` while an object is incomplete.
 */
export const rawLineError = (
  raw: RawLines,
  line: string,
  context: Errors.ErrorContext,
  classify: Errors.ClassifyError,
  requestId: string | undefined
): LlmError.LlmError | undefined => {
  const json = raw.push(line)
  if (json === undefined || json instanceof LlmError.MalformedResponse) return json
  return Errors.recognisedErrorObject(context, classify, json, { requestId, where: "stream" }) ??
    Errors.malformed(context, "a raw JSON object in the stream is not an event", JSON.stringify(json), { requestId })
}

/** What {@link checkBody} knows of a streamed response besides its body. */
export interface BodyInfo {
  readonly status: number
  readonly contentType: string | undefined
  readonly requestId: string | undefined
  readonly classify: Errors.ClassifyError
}

type BodyKind = "stream" | "html" | "json"

/** `<` or `text/html` is a page; `{` (or a JSON content type over something that is no SSE line) is one object. */
const bodyKind = (first: number, contentType: string | undefined): BodyKind => {
  if (first === 0x3c) return "html"
  if (first === 0x7b) return "json"
  const type = contentType?.toLowerCase()
  if (type === undefined) return "stream"
  if (type.includes("text/html")) return "html"
  // Not `[` (Gemini's JSON-array stream), a letter or `:` (an SSE line under a wrong content type).
  const sseStart = first === 0x3a || (first >= 0x41 && first <= 0x5a) || (first >= 0x61 && first <= 0x7a)
  return type.includes("json") && first !== 0x5b && !sseStart ? "json" : "stream"
}

const notAStream = (context: Errors.ErrorContext, info: BodyInfo, kind: BodyKind, text: string, cut: boolean) => {
  const extra = { status: info.status, requestId: info.requestId }
  const more = cut ? ` (first ${maxRawBody} bytes)` : ""
  if (kind === "html") return Errors.malformed(context, `the stream is an HTML page${more}`, text, extra)
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (cause) {
    return Errors.malformed(
      context,
      `the stream is not an event stream${more} (${Errors.jsonParseReason(cause)})`,
      text,
      extra
    )
  }
  return (isObject(json)
    ? Errors.recognisedErrorObject(context, info.classify, json, { requestId: info.requestId, where: "body" })
    : undefined) ?? Errors.malformed(context, "the stream is one JSON value, not an event stream", text, extra)
}

/**
 * The look at the first bytes of a 200 stream body, as plain functions for a stage that checks, frames and
 * decodes in one step. `push` takes the body's next piece and returns the pieces to pass on (all that was held,
 * once the body is known to be a stream), an error for a body that is not a stream, or `undefined` while it
 * holds them; `end` does the same at the end of the body.
 */
export interface BodyCheck {
  readonly push: (bytes: Uint8Array) => ReadonlyArray<Uint8Array> | LlmError.LlmError | undefined
  readonly end: () => ReadonlyArray<Uint8Array> | LlmError.LlmError
}

const passAll = (bytes: Uint8Array): ReadonlyArray<Uint8Array> => [bytes]

export const makeBodyCheck = (context: Errors.ErrorContext, info: BodyInfo): BodyCheck => {
  let head: Array<Uint8Array> | undefined = []
  let size = 0
  let kind: BodyKind | undefined
  const report = (cut: boolean) => {
    const bytes = new Uint8Array(Math.min(size, maxRawBody))
    let offset = 0
    for (const piece of head!) {
      if (offset >= bytes.length) break
      const part = piece.subarray(0, bytes.length - offset)
      bytes.set(part, offset)
      offset += part.length
    }
    const text = new TextDecoder("utf-8").decode(bytes)
    return notAStream(context, info, kind!, text, cut)
  }
  const check: BodyCheck = {
    push: (bytes) => {
      head!.push(bytes)
      size += bytes.length
      if (kind === undefined) {
        const first = Framing.firstByte(head!)
        if (first === undefined) return undefined
        kind = bodyKind(first, info.contentType)
        if (kind === "stream") {
          // A stream: what was held goes on, and every later piece as it comes.
          const held = head!
          head = undefined
          ;(check as { push: BodyCheck["push"] }).push = passAll
          return held
        }
      }
      return size >= maxRawBody ? report(true) : undefined
    },
    // Only blanks, or nothing: the decoder reports a stream without its end.
    end: () => kind === undefined || kind === "stream" ? head ?? [] : report(false)
  }
  return check
}

/**
 * Checks the first bytes of a 200 stream body: an HTML page (a proxy's or a gateway's) fails as the
 * `MalformedResponse` a non-streaming call gets, keeping the page; one JSON object (an error written without
 * `data:`, as llama.cpp and some gateways do) fails with the error it holds, tagged as the same body with an
 * error status would be. Such a body is read up to {@link maxRawBody} only. A real stream pays one look at its
 * first significant byte and is then passed on chunk by chunk.
 */
export const checkBody = <E, R>(
  bytes: Stream.Stream<Uint8Array, E, R>,
  context: Errors.ErrorContext,
  info: BodyInfo
): Stream.Stream<Uint8Array, E | LlmError.LlmError, R> => {
  type Out = Channel.Channel<
    Chunk.Chunk<Uint8Array>,
    Chunk.Chunk<Uint8Array>,
    E | LlmError.LlmError,
    E,
    unknown,
    unknown
  >
  const check = makeBodyCheck(context, info)
  const pass = (pieces: ReadonlyArray<Uint8Array>): Out =>
    pieces.length === 0 ? Channel.void : Channel.write(Chunk.unsafeFromArray(pieces as Array<Uint8Array>))
  const sniff: Out = Channel.readWithCause({
    onInput: (chunk: Chunk.Chunk<Uint8Array>) => {
      const pieces = Chunk.toReadonlyArray(chunk)
      for (let i = 0; i < pieces.length; i++) {
        const result = check.push(pieces[i]!)
        if (result === undefined) continue
        if (!Array.isArray(result)) return Channel.fail(result as LlmError.LlmError)
        // Known to be a stream: the rest of this read, then the body as it is.
        return Channel.zipRight(
          pass([...result, ...pieces.slice(i + 1)]),
          Channel.identity<Chunk.Chunk<Uint8Array>, E, unknown>()
        )
      }
      return sniff
    },
    onFailure: Channel.failCause,
    onDone: () => {
      const result = check.end()
      return Array.isArray(result) ? pass(result) : Channel.fail(result as LlmError.LlmError)
    }
  })
  return Stream.pipeThroughChannel(bytes, sniff)
}
