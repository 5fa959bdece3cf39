/**
 * SSE and line framing against the parser vectors in `sse/*.txt` (expected events transcribed from the shared
 * fixtures' MANIFEST.md), fed whole, byte by byte, split at every offset and in the chunking the manifest names.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Framing from "../src/internal/framing.js"
import { splitAt } from "./support/chunking.js"
import { describeFixtures, fixturesDir, hasFixtures, readFixture, readFixtureBytes } from "./support/fixtures.js"

const utf8 = new TextEncoder()

/** A byte stream with one stream chunk per array, as a network body would arrive. */
const byteStream = (chunks: ReadonlyArray<Uint8Array>): Stream.Stream<Uint8Array> =>
  Stream.fromIterable(chunks).pipe(Stream.rechunk(1))

const byteByByte = (bytes: Uint8Array): Array<Uint8Array> => Array.from(bytes, (_, i) => bytes.subarray(i, i + 1))

/** Frames as plain `{ _tag, event, data }` / `{ _tag, line }`: events may be the parser's own objects. */
const normalize = (frame: Framing.Frame): Framing.Frame =>
  frame._tag === "Stray" ? { _tag: "Stray", line: frame.line } : { _tag: "Event", event: frame.event, data: frame.data }

const frames = (chunks: ReadonlyArray<Uint8Array>): ReadonlyArray<Framing.Frame> =>
  Chunk.toReadonlyArray(Effect.runSync(Stream.runCollect(Framing.sse(byteStream(chunks))))).map(normalize)

const lines = (chunks: ReadonlyArray<Uint8Array>): ReadonlyArray<string> =>
  Chunk.toReadonlyArray(Effect.runSync(Stream.runCollect(Framing.lines(byteStream(chunks)))))

const event = (data: string, name?: string): Framing.Frame => ({ _tag: "Event", event: name, data })
const stray = (line: string): Framing.Frame => ({ _tag: "Stray", line })

/**
 * EXPECTED events per vector, from MANIFEST.md. Our frames carry no `id` (ids and `retry` are ignored), and
 * lines with an unknown field become `Stray` frames where they occur. Two vectors differ from the manifest by
 * our EOF policy (see `eofPolicy`).
 */
const expected: Record<string, ReadonlyArray<Framing.Frame>> = {
  "eol-crlf.txt": [event("sheep\nbleat"), event("pig\noink")],
  "eol-cr-only.txt": [event("dog\nbark"), event("cat\nmeow")],
  "eol-crlf-split-across-chunks.txt": [event("A\nB\nC")],
  // The BOM in the middle is not stripped: "\uFEFFdata" is an unknown field.
  "bom-leading-and-midstream.txt": [event("bomful 1"), stray("\uFEFFdata: bomful 2"), event("bomless 3")],
  "multiline-data-named-event.txt": [event("YHOO\n+2\n10", "stock"), event("GOOG\n-8\n1881", "stock")],
  "field-without-colon.txt": [event(""), event("\n"), event("test")],
  "unknown-fields.txt": [stray(" data"), stray("foobar:xxx"), stray("justsometext"), event("abc\n\n123")],
  "retry-field.txt": [event("x"), event("🧹")],
  "id-field-null-and-empty.txt": [event("hello")],
  "utf8-multibyte-split.txt": [event("我現在都看實況不玩遊戲")]
}

/**
 * Our documented EOF policy: a final event without its terminating blank line (or even without a line
 * terminator) IS delivered, SDK-style, where the WHATWG spec drops it. The manifest lists the spec result.
 */
const eofPolicy: Record<
  string,
  { readonly spec: ReadonlyArray<Framing.Frame>; readonly ours: ReadonlyArray<Framing.Frame> }
> = {
  "eof-incomplete-event.txt": {
    spec: [event("test1")],
    ours: [event("test1"), event("test2")]
  },
  "comments-mixed-eol.txt": {
    spec: [event("1"), event("2"), event("3"), event("4")],
    ours: [event("1"), event("2"), event("3"), event("4"), event("5")]
  }
}

/** The chunkings the manifest names ("CHUNKING: original feed"), as text. */
const manifestChunkings: Record<string, ReadonlyArray<string>> = {
  "eol-crlf.txt": ["data: sheep\r\n", "data: bleat\r\n\r\n", "data: pig\r\n", "data: oink\r\n\r\n"],
  "eol-cr-only.txt": ["data: dog\r", "data: bark\r\r", "data: cat\r", "data: meow\r\r"],
  "eol-crlf-split-across-chunks.txt": ["data: A\r\n", "data: B\r", "\n", "data: C\r\n", "\n"],
  "comments-mixed-eol.txt": [
    "data:1\r\r:\0\n:\r\ndata:2\n\n:",
    "x".repeat(2049),
    "\rdata:3\n\n:data:fail\r:",
    "x".repeat(2049),
    "\ndata:4\n\n",
    "data:5"
  ]
}

const concatBytes = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}

const isEol = (byte: number | undefined) => byte === 0x0a || byte === 0x0d

/**
 * Where to split a vector once: every offset of a small vector; for a large one (the 4 KB comments vector),
 * every offset next to a line terminator plus a stride through the long lines.
 */
const singleCuts = (bytes: Uint8Array): Array<number> => {
  const cuts: Array<number> = []
  for (let cut = 1; cut < bytes.length; cut++) {
    if (bytes.length <= 512 || cut % 97 === 0 || isEol(bytes[cut - 2]) || isEol(bytes[cut - 1]) || isEol(bytes[cut])) {
      cuts.push(cut)
    }
  }
  return cuts
}

/** Asserts the frames of every chunking we try: whole, byte by byte, and split once at many offsets. */
const expectAllChunkings = (bytes: Uint8Array, want: ReadonlyArray<Framing.Frame>) => {
  expect(frames([bytes])).toEqual(want)
  expect(frames(byteByByte(bytes))).toEqual(want)
  for (const cut of singleCuts(bytes)) {
    const got = frames(splitAt(bytes, [cut]))
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      // Name the failing offset.
      expect({ cut, frames: got }).toEqual({ cut, frames: want })
    }
  }
}

describeFixtures("Framing.sse over the sse/*.txt parser vectors", () => {
  const vectors = hasFixtures ? fs.readdirSync(path.join(fixturesDir, "sse")).filter((f) => f.endsWith(".txt")) : []

  it("has an expectation for every vector in the fixtures", () => {
    expect(vectors.length).toBe(12)
    for (const file of vectors) {
      expect(file in expected || file in eofPolicy, file).toBe(true)
    }
  })

  for (const [file, want] of Object.entries(expected)) {
    it(`${file}: the manifest's events, however the bytes are chunked`, () => {
      expectAllChunkings(readFixtureBytes(`sse/${file}`), want)
    })
  }

  for (const [file, { ours, spec }] of Object.entries(eofPolicy)) {
    it(`${file}: EOF policy delivers the final event that lacks its blank line (spec drops it)`, () => {
      const bytes = readFixtureBytes(`sse/${file}`)
      // The vector really does end inside an unterminated block.
      expect(readFixture(`sse/${file}`).endsWith("\n\n")).toBe(false)
      expect(ours.slice(0, spec.length)).toEqual(spec)
      expectAllChunkings(bytes, ours)
    })
  }

  for (const [file, texts] of Object.entries(manifestChunkings)) {
    it(`${file}: the manifest's original chunking`, () => {
      const bytes = readFixtureBytes(`sse/${file}`)
      const chunks = texts.map((text) => utf8.encode(text))
      // The transcription of the chunking matches the file byte for byte.
      expect(concatBytes(chunks)).toEqual(bytes)
      expect(frames(chunks)).toEqual(expected[file] ?? eofPolicy[file]?.ours)
    })
  }

  it("utf8-multibyte-split.txt: split at byte 17, inside the first CJK character, decodes without U+FFFD", () => {
    const bytes = readFixtureBytes("sse/utf8-multibyte-split.txt")
    // Offset 17 really is inside a multi-byte sequence (a continuation byte follows it).
    expect(bytes[17]! & 0xc0).toBe(0x80)
    const got = frames(splitAt(bytes, [17]))
    expect(got).toEqual([event("我現在都看實況不玩遊戲")])
    expect(JSON.stringify(got)).not.toContain("\uFFFD")
  })

  it("eol-crlf-split-across-chunks.txt: a CR ending a chunk and the LF starting the next are one line end", () => {
    const text = readFixture("sse/eol-crlf-split-across-chunks.txt")
    const cut = text.indexOf("B\r") + 2
    const got = frames(splitAt(readFixtureBytes("sse/eol-crlf-split-across-chunks.txt"), [cut]))
    expect(got).toEqual([event("A\nB\nC")])
  })

  it("bom-leading-and-midstream.txt: the leading BOM is stripped even when split across chunks", () => {
    const bytes = readFixtureBytes("sse/bom-leading-and-midstream.txt")
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf])
    for (const cuts of [[1], [2], [1, 2], [3]]) {
      expect(frames(splitAt(bytes, cuts))[0]).toEqual(event("bomful 1"))
    }
  })
})

describe("Framing.sse on inline inputs", () => {
  const sse = (...texts: ReadonlyArray<string>) => frames(texts.map((text) => utf8.encode(text)))

  it("comments produce no frames", () => {
    expect(sse(": keep-alive\n\n", ":\n", "data: a\n\n", ": bye\n\n")).toEqual([event("a")])
  })

  it("a data line without a line terminator at EOF is delivered", () => {
    expect(sse("data: a")).toEqual([event("a")])
    expect(sse("event: e\ndata: a\n")).toEqual([event("a", "e")])
  })

  it("an empty body and a body of blank lines give no frames", () => {
    expect(sse()).toEqual([])
    expect(sse("\n\n\r\n\r\r")).toEqual([])
  })

  it("retry and id fields are consumed without frames", () => {
    expect(sse("retry: 10\nid: 7\n\nid: 8\ndata: x\n\n")).toEqual([event("x")])
  })

  it("a raw JSON object in an SSE body comes out as Stray lines, in order with the events", () => {
    expect(sse("data: 1\n\n{\n  \"error\": {\"code\": 500}\n}\n")).toEqual([
      event("1"),
      stray("{"),
      stray("  \"error\": {\"code\": 500}"),
      stray("}")
    ])
  })
})

describe("Framing.lines", () => {
  const ofText = (...texts: ReadonlyArray<string>) => lines(texts.map((text) => utf8.encode(text)))

  it("splits on LF, CRLF and CR", () => {
    expect(ofText("a\nb\r\nc\rd\n")).toEqual(["a", "b", "c", "d"])
  })

  it("skips blank and whitespace-only lines", () => {
    expect(ofText("\n\na\n\n\r\n \t\nb\r\r\n")).toEqual(["a", "b"])
  })

  it("delivers a final line without a newline", () => {
    expect(ofText("a\nlast")).toEqual(["a", "last"])
    expect(ofText("only")).toEqual(["only"])
  })

  it("an empty body gives no lines", () => {
    expect(ofText()).toEqual([])
  })

  it("a CRLF split across chunks is one line end", () => {
    expect(ofText("a\r", "\nb\r", "\n")).toEqual(["a", "b"])
  })

  it("a line split across many chunks is joined", () => {
    expect(ofText("{\"a\"", ":", "1}\n{\"b\":2", "}")).toEqual(["{\"a\":1}", "{\"b\":2}"])
  })

  it("multi-byte UTF-8 split at every byte offset survives", () => {
    const text = "é世🧹\n我現在\r\n🧹"
    const want = ["é世🧹", "我現在", "🧹"]
    const bytes = utf8.encode(text)
    expect(lines([bytes])).toEqual(want)
    expect(lines(byteByByte(bytes))).toEqual(want)
    for (let cut = 1; cut < bytes.length; cut++) {
      expect(lines(splitAt(bytes, [cut])), `cut at ${cut}`).toEqual(want)
    }
  })
})

describeFixtures("Framing.lines over the JSONL fixtures", () => {
  for (
    const file of [
      "openai/responses-stream-error-insufficient-quota.jsonl",
      "azure/chat-stream-model-router-prompt-filter.jsonl"
    ]
  ) {
    it(`${file}: one line per recorded payload, however chunked`, () => {
      const want = readFixture(file).split("\n").filter((line) => line !== "")
      const bytes = readFixtureBytes(file)
      expect(lines([bytes])).toEqual(want)
      for (const size of [1, 7, 64, 1000]) {
        const cuts: Array<number> = []
        for (let at = size; at < bytes.length; at += size) cuts.push(at)
        expect(lines(splitAt(bytes, cuts)), `chunks of ${size}`).toEqual(want)
      }
    })
  }
})
