/**
 * SSE framing throughput: liter-llm's `Framing.sse` against `eventsource-parser` alone (the parser it wraps)
 * and `@effect/experimental/Sse`, over an in-memory body of real OpenAI chunk events split into 16 KiB pieces
 * (one piece per stream element, as an HTTP body arrives).
 */
import * as Sse from "@effect/experimental/Sse"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { createParser } from "eventsource-parser"
import { performance } from "node:perf_hooks"
import * as Framing from "../src/internal/framing.js"
import * as Payloads from "./payloads.js"

/** What a framer saw: the number of events and the total length of their data, to check they agree. */
interface Seen {
  events: number
  dataChars: number
}

interface Framer {
  readonly name: string
  readonly run: (pieces: ReadonlyArray<Uint8Array>) => Seen
  /** Most repetitions; fewer when `budgetMs` runs out first. */
  readonly reps: number
}

const bodyStream = (pieces: ReadonlyArray<Uint8Array>) => Stream.fromChunks(...pieces.map((piece) => Chunk.of(piece)))

const framers: ReadonlyArray<Framer> = [
  {
    name: "eventsource-parser (alone)",
    reps: 9,
    run: (pieces) => {
      const seen: Seen = { events: 0, dataChars: 0 }
      const decoder = new TextDecoder("utf-8")
      const parser = createParser({
        onEvent: (event) => {
          seen.events++
          seen.dataChars += event.data.length
        }
      })
      for (const piece of pieces) parser.feed(decoder.decode(piece, { stream: true }))
      parser.feed(decoder.decode() + "\n\n")
      return seen
    }
  },
  {
    name: "liter-llm Framing.sse",
    reps: 9,
    run: (pieces) => {
      const seen: Seen = { events: 0, dataChars: 0 }
      Effect.runSync(
        Stream.runForEachChunk(Framing.sse(bodyStream(pieces)), (frames) =>
          Effect.sync(() => {
            for (const frame of frames) {
              if (frame._tag === "Stray") continue
              seen.events++
              seen.dataChars += frame.data.length
            }
          }))
      )
      return seen
    }
  },
  {
    name: "@effect/experimental Sse",
    reps: 3,
    run: (pieces) => {
      const seen: Seen = { events: 0, dataChars: 0 }
      Effect.runSync(
        bodyStream(pieces).pipe(
          Stream.decodeText(),
          Stream.pipeThroughChannel(Sse.makeChannel()),
          Stream.runForEachChunk((events) =>
            Effect.sync(() => {
              for (const event of events) {
                seen.events++
                seen.dataChars += event.data.length
              }
            })
          )
        )
      )
      return seen
    }
  }
]

/** One framer's throughput, in MB/s (10^6 bytes per second of wall time). */
export interface FramingResult {
  readonly name: string
  readonly medianMBps: number
  readonly bestMBps: number
  readonly reps: number
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** The benchmark body: whole OpenAI chunk events up to `targetBytes`, split into `pieceBytes` pieces. */
export const makeBody = (targetBytes: number, pieceBytes: number) => {
  const events = Payloads.chatStreamEvents(Math.ceil(targetBytes / 150))
  let text = ""
  for (const event of events) {
    if (text.length >= targetBytes) break
    text += event
  }
  const bytes = new TextEncoder().encode(text)
  const pieces: Array<Uint8Array> = []
  for (let offset = 0; offset < bytes.length; offset += pieceBytes) {
    pieces.push(bytes.subarray(offset, offset + pieceBytes))
  }
  return { bytes: bytes.length, pieces }
}

/**
 * Runs every framer over the same body; each gets one untimed warm-up pass and up to `reps` timed ones within
 * `budgetMs`. Fails if two framers disagree on what the body holds.
 */
export const runFraming = (options: {
  readonly targetBytes: number
  readonly pieceBytes: number
  readonly budgetMs: number
}): {
  readonly bytes: number
  readonly pieces: number
  readonly events: number
  readonly results: Array<FramingResult>
} => {
  const body = makeBody(options.targetBytes, options.pieceBytes)
  let reference: Seen | undefined
  const results: Array<FramingResult> = []
  for (const framer of framers) {
    const seen = framer.run(body.pieces)
    reference ??= seen
    if (seen.events !== reference.events || seen.dataChars !== reference.dataChars) {
      throw new Error(
        `framing: ${framer.name} saw ${seen.events} events / ${seen.dataChars} chars, expected ${reference.events} / ${reference.dataChars}`
      )
    }
    const rates: Array<number> = []
    const start = performance.now()
    while (rates.length < framer.reps && (rates.length === 0 || performance.now() - start < options.budgetMs)) {
      const t0 = performance.now()
      framer.run(body.pieces)
      rates.push(body.bytes / 1e6 / ((performance.now() - t0) / 1000))
    }
    results.push({ name: framer.name, medianMBps: median(rates), bestMBps: Math.max(...rates), reps: rates.length })
  }
  return { bytes: body.bytes, pieces: body.pieces.length, events: reference?.events ?? 0, results }
}
