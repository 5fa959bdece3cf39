/**
 * Framing of Gemini stream bodies: SSE (`alt=sse`), or one JSON array whose elements arrive incrementally (a
 * `streamGenerateContent` call without `alt=sse`). No library frames the latter incrementally, hence this small
 * scanner.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Framing from "../framing.js"

/**
 * Frames a `streamGenerateContent` body sent without `alt=sse`: one JSON array (`[{...}\n,\r\n{...}\n]`)
 * whose elements arrive incrementally. Each top-level object becomes an `Event` frame as soon as it is
 * complete; anything else outside the objects (other than `[`, `,`, `]` and whitespace) becomes a `Stray`
 * frame, as does an object the body ends inside.
 */
export const jsonArray = <E, R>(bytes: Stream.Stream<Uint8Array, E, R>): Stream.Stream<Framing.Frame, E, R> =>
  Stream.suspend(() => {
    const decoder = new TextDecoder("utf-8")
    let depth = 0
    let inString = false
    let escaped = false
    let element = ""
    let junk = ""
    const flushJunk = (out: Array<Framing.Frame>) => {
      if (junk.trim() !== "") out.push({ _tag: "Stray", line: junk.trim() })
      junk = ""
    }
    const scan = (text: string): Array<Framing.Frame> => {
      const out: Array<Framing.Frame> = []
      let start = 0
      for (let i = 0; i < text.length; i++) {
        const c = text[i]!
        if (depth === 0) {
          if (c === "{") {
            flushJunk(out)
            depth = 1
            start = i
          } else if (c !== "[" && c !== "," && c !== "]" && c.trim() !== "") {
            junk += c
          }
          continue
        }
        if (inString) {
          if (escaped) escaped = false
          else if (c === "\\") escaped = true
          else if (c === "\"") inString = false
        } else if (c === "\"") {
          inString = true
        } else if (c === "{" || c === "[") {
          depth++
        } else if ((c === "}" || c === "]") && --depth === 0) {
          out.push({ _tag: "Event", event: undefined, data: element + text.slice(start, i + 1) })
          element = ""
        }
      }
      if (depth > 0) element += text.slice(start)
      // Junk is reported as soon as it is seen: a body that stops after it must not wait for its end.
      flushJunk(out)
      return out
    }
    return bytes.pipe(
      Stream.mapConcat((chunk) => scan(decoder.decode(chunk, { stream: true }))),
      Stream.concat(Stream.suspend(() => {
        const out = scan(decoder.decode())
        if (depth > 0) out.push({ _tag: "Stray", line: element })
        flushJunk(out)
        return Stream.fromIterable(out)
      }))
    )
  })

/**
 * Frames a streamed body as SSE, or as a JSON array (a `streamGenerateContent` call without `alt=sse`, e.g.
 * through a proxy that drops the query), chosen by the response's content type; without one, by the first
 * significant byte, as an SSE body never starts with `[`.
 */
export const frames = <E, R>(
  bytes: Stream.Stream<Uint8Array, E, R>,
  contentType?: string | undefined
): Stream.Stream<Framing.Frame, E, R> => {
  if (contentType?.includes("text/event-stream")) return Framing.sse(bytes)
  if (contentType?.includes("json")) return jsonArray(bytes)
  return sniffed(bytes)
}

const sniffed = <E, R>(bytes: Stream.Stream<Uint8Array, E, R>): Stream.Stream<Framing.Frame, E, R> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const pull = yield* Stream.toPull(bytes)
    const head: Array<Uint8Array> = []
    let first: number | undefined
    let ended = false
    while (first === undefined && !ended) {
      const next = yield* Effect.either(pull)
      if (next._tag === "Left") {
        // A failure before any significant byte: nothing was framed yet, so it is the stream's failure.
        if (Option.isSome(next.left)) return Stream.fail(next.left.value)
        ended = true
      } else {
        for (const bytes of next.right) head.push(bytes)
        first = Framing.firstByte(head)
      }
    }
    const rest = ended ? Stream.empty : Stream.repeatEffectChunkOption(pull)
    const body = Stream.concat(Stream.fromIterable(head), rest)
    return first === 0x5b ? jsonArray(body) : Framing.sse(body)
  }))
