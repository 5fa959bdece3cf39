/**
 * `Streaming.decodeSse` frames and decodes an SSE body in one stage: it must yield exactly what the two stages
 * it replaces, `Streaming.decode(Framing.sse(...))`, yield, failures included, however the body is chunked.
 */
import { describe, expect, it } from "@effect/vitest"
import { Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import type * as Errors from "../src/internal/errors.js"
import * as Framing from "../src/internal/framing.js"
import * as OpenAiErrors from "../src/internal/openai/errors.js"
import * as OpenAiStream from "../src/internal/openai/stream.js"
import * as Streaming from "../src/internal/streaming.js"
import { splitAt, transcriptOf } from "./support/chunking.js"
import { fixturesDir, hasFixtures, readFixtureBytes } from "./support/fixtures.js"

const context: Errors.ErrorContext = { provider: "openai", model: "m", secrets: [] }
const utf8 = new TextEncoder()

const body = (chunks: ReadonlyArray<Uint8Array>) => Stream.fromIterable(chunks).pipe(Stream.rechunk(1))
const decoder = () => OpenAiStream.makeDecoder(context, "req_1")
const twoStages = transcriptOf((chunks) => Streaming.decode(Framing.sse(body(chunks)), decoder))
const fused = transcriptOf((chunks) => Streaming.decodeSse(body(chunks), decoder))
// Several pieces in one read: an error part way through a read must stop the parts after it.
const fusedWhole = transcriptOf((chunks) => Streaming.decodeSse(Stream.fromIterable(chunks), decoder))

const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
  `data: ${JSON.stringify({ id: "c1", model: "m", choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`

const bodies: Record<string, string> = {
  "text, finish and [DONE]": chunk({ content: "Hé" }) + ": keep-alive\n\n" + chunk({ content: "llo" }) +
    chunk({}, "stop") + "data: [DONE]\n\n",
  "a tool call settles the finish reason": chunk({
    tool_calls: [{ index: 0, id: "t1", type: "function", function: { name: "f", arguments: "{\"a\"" } }]
  }) + chunk({ tool_calls: [{ index: 0, function: { arguments: ":1}" } }] }) + chunk({}, "stop"),
  "an error frame, then events that are not decoded": chunk({ content: "a" }) +
    "data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n" + chunk({ content: "b" }),
  "a raw JSON error line": chunk({ content: "a" }) + "{\"error\":\n{\"message\":\"bad\",\"code\":400}}\n\n",
  "a last event without its blank line": chunk({ content: "x" }) + `data: ${JSON.stringify({ choices: [] })}`,
  "a stream without its end": chunk({ content: "x" }),
  "an event that is not JSON": chunk({ content: "x" }) + "data: {nope\n\n" + chunk({ content: "y" }),
  "empty": ""
}

describe("Streaming.decodeSse", () => {
  for (const [name, text] of Object.entries(bodies)) {
    it(`yields what decode(Framing.sse) yields: ${name}`, () => {
      const bytes = utf8.encode(text)
      const expected = twoStages([bytes])
      expect(fused([bytes])).toEqual(expected)
      expect(fusedWhole([bytes])).toEqual(expected)
      // One byte per read splits every event and the multi-byte character.
      const bytewise = splitAt(bytes, Array.from({ length: Math.max(0, bytes.length - 1) }, (_, i) => i + 1))
      expect(fused(bytewise)).toEqual(twoStages(bytewise))
      expect(fusedWhole(bytewise)).toEqual(twoStages(bytewise))
    })
  }

  it.skipIf(!hasFixtures)("yields what decode(Framing.sse) yields over the recorded OpenAI streams", () => {
    const dir = path.join(fixturesDir, "openai")
    const files = hasFixtures
      ? fs.readdirSync(dir).filter((file) => file.endsWith(".txt") || file.endsWith(".sse"))
      : []
    for (const file of files) {
      const bytes = readFixtureBytes(`openai/${file}`)
      const pieces = splitAt(bytes, [1, 7, Math.floor(bytes.length / 3), Math.floor(bytes.length / 2)])
      expect(fused([bytes])).toEqual(twoStages([bytes]))
      expect(fusedWhole(pieces)).toEqual(twoStages(pieces))
    }
  })

  const checkedBodies: Record<string, readonly [string, string | undefined]> = {
    "a stream": [bodies["text, finish and [DONE]"]!, "text/event-stream"],
    "a stream after blanks and a byte order mark": ["\uFEFF \n\n" + bodies["text, finish and [DONE]"]!, undefined],
    "only blanks": [" \n\n ", "text/event-stream"],
    "an HTML page": ["<html><body>502 Bad Gateway</body></html>", "text/html"],
    "an HTML page past the size read": [`<html>${"x".repeat(Streaming.maxRawBody + 100)}</html>`, "text/html"],
    "one JSON error object": [
      "{\"error\":{\"message\":\"bad key\",\"type\":\"invalid_request_error\"}}",
      "application/json"
    ],
    "SSE under a JSON content type": [bodies["a tool call settles the finish reason"]!, "application/json"]
  }
  for (const [name, [text, contentType]] of Object.entries(checkedBodies)) {
    it(`checks the body as checkBody does: ${name}`, () => {
      const info = { status: 200, contentType, requestId: "req_1", classify: OpenAiErrors.classifyError }
      const separate = transcriptOf((chunks) =>
        Streaming.decodeSse(Streaming.checkBody(body(chunks), context, info), decoder)
      )
      const checked = transcriptOf((chunks) => Streaming.decodeSse(body(chunks), decoder, { context, info }))
      const checkedWhole = transcriptOf((chunks) =>
        Streaming.decodeSse(Stream.fromIterable(chunks), decoder, { context, info })
      )
      const bytes = utf8.encode(text)
      const pieces = splitAt(bytes, [1, 2, 3, 5, 8, Math.floor(bytes.length / 2)].filter((cut) => cut < bytes.length))
      for (const chunks of [[bytes], pieces]) {
        const expected = separate(chunks)
        expect(checked(chunks)).toEqual(expected)
        expect(checkedWhole(chunks)).toEqual(expected)
      }
    })
  }
})
