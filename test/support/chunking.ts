/**
 * Chunking helpers for decoder tests: split bytes at chosen offsets, record everything a decode yields, and the
 * property every stream decoder must have: however the bytes are chunked, the parts are the same.
 */
import { expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, FastCheck, Stream } from "effect"
import type * as LlmError from "../../src/LlmError.js"
import type * as StreamPart from "../../src/StreamPart.js"

/** `bytes` cut at the given (ascending) offsets. */
export const splitAt = (bytes: Uint8Array, cuts: ReadonlyArray<number>): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  let from = 0
  for (const cut of cuts) {
    out.push(bytes.subarray(from, cut))
    from = cut
  }
  out.push(bytes.subarray(from))
  return out
}

/** Everything a decode yields, failure included, as plain data (for deep equality across chunkings). */
export const transcriptOf = (
  parts: (chunks: ReadonlyArray<Uint8Array>) => Stream.Stream<StreamPart.StreamPart, LlmError.LlmError>
) =>
(chunks: ReadonlyArray<Uint8Array>): Array<unknown> =>
  Chunk.toArray(Effect.runSync(Stream.runCollect(Stream.either(parts(chunks))))).map((item) =>
    Either.isRight(item) ? item.right : { failure: { ...item.left, _tag: item.left._tag, message: item.left.message } }
  )

/**
 * For every file: decoded one byte per chunk, and at random cut points (fast-check, 25 runs), the transcript is
 * the whole buffer's.
 */
export const itDecodesAnyChunking = (
  files: ReadonlyArray<string>,
  bytesOf: (file: string) => Uint8Array,
  transcript: (chunks: ReadonlyArray<Uint8Array>) => Array<unknown>
): void => {
  for (const file of files) {
    it(`${file}: re-chunked at random byte offsets, decodes exactly as the whole buffer`, () => {
      const bytes = bytesOf(file)
      const whole = transcript([bytes])
      expect(whole.length).toBeGreaterThan(0)
      // Every byte its own chunk.
      expect(transcript(splitAt(bytes, Array.from({ length: bytes.length - 1 }, (_, i) => i + 1)))).toEqual(whole)
      FastCheck.assert(
        FastCheck.property(
          FastCheck.uniqueArray(FastCheck.integer({ min: 1, max: bytes.length - 1 }), { minLength: 1, maxLength: 200 }),
          (cuts) => {
            expect(transcript(splitAt(bytes, [...cuts].sort((a, b) => a - b)))).toEqual(whole)
          }
        ),
        { numRuns: 25 }
      )
    })
  }
}
