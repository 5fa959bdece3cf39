import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as cl100k from "gpt-tokenizer/encoding/cl100k_base"
import * as o200k from "gpt-tokenizer/encoding/o200k_base"
import * as ChatRequest from "../src/ChatRequest.js"
import { boundedCount, exactCharacters } from "../src/internal/boundedCount.js"
import * as Tokenizer from "../src/Tokenizer.js"

// A text whose counts differ between the two encodings, so the wrong encoding is caught.
const text = "Über 9000 naïve café-goers ate 1234567 crêpes — 東京でラーメンを食べました。"

describe("Tokenizer.byModel", () => {
  it("differs between encodings on the test text", () => {
    expect(o200k.countTokens(text)).not.toBe(cl100k.countTokens(text))
  })

  for (const model of ["gpt-4o", "gpt-4o-2024-08-06", "gpt-4.1-mini", "gpt-5", "o3-mini", "chatgpt-4o-latest"]) {
    it(`${model}: exact, with o200k_base`, () => {
      expect(Tokenizer.byModel.isExact(model)).toBe(true)
      expect(Tokenizer.byModel.countText(text, model)).toBe(o200k.countTokens(text))
    })
  }

  for (const model of ["gpt-4", "gpt-4-0613", "gpt-3.5-turbo", "gpt-4-turbo"]) {
    it(`${model}: exact, with cl100k_base`, () => {
      expect(Tokenizer.byModel.isExact(model)).toBe(true)
      expect(Tokenizer.byModel.countText(text, model)).toBe(cl100k.countTokens(text))
    })
  }

  for (const model of ["claude-sonnet-4-5", "gemini-2.5-flash", "command-a-03-2025", "llama3", undefined]) {
    it(`${model ?? "no model"}: the documented estimate, o200k_base × 1.2 rounded up`, () => {
      expect(Tokenizer.byModel.isExact(model)).toBe(false)
      expect(Tokenizer.byModel.countText(text, model)).toBe(Math.ceil(o200k.countTokens(text) * 1.2))
    })
  }

  it.effect("a request: each message's text, 3 per message, 3 to prime the reply, images, tool calls and results", () =>
    Effect.gen(function*() {
      const request = yield* ChatRequest.decode({
        model: "gpt-4o",
        messages: [
          { role: "system", content: "Be brief." },
          {
            role: "user",
            content: [{ type: "text", text: "What is here?" }, { type: "image", url: "https://example.com/a.png" }]
          },
          { role: "assistant", content: [{ type: "tool-call", id: "c1", name: "look", arguments: { at: "a.png" } }] },
          { role: "tool", content: [{ type: "tool-result", toolCallId: "c1", result: "a cat" }] }
        ]
      })
      const count = (value: string) => o200k.countTokens(value)
      const expected = 3 + 4 * 3 + count("Be brief.") + count("What is here?") + Tokenizer.imageTokens +
        count("look") + count(JSON.stringify({ at: "a.png" })) + count("a cat")
      expect(yield* Tokenizer.countRequest(request)).toBe(expected)
    }))

  it.effect("tools and a JSON schema count as their JSON text", () =>
    Effect.gen(function*() {
      const base = yield* ChatRequest.decode({ model: "gpt-4o", messages: [{ role: "user", content: "Hi" }] })
      const tools = [{ name: "search", description: "Search the web", parameters: { type: "object" } }]
      const withTools = yield* ChatRequest.decode({
        model: "gpt-4o",
        messages: [{ role: "user", content: "Hi" }],
        tools
      })
      expect(Tokenizer.byModel.countRequest(withTools) - Tokenizer.byModel.countRequest(base)).toBe(
        o200k.countTokens(JSON.stringify(withTools.tools))
      )
    }))

  it("ordinary text up to 64 K characters is counted exactly; a run with no break in 200-character pieces", () => {
    const prose = (words: number) =>
      Array.from({ length: words }, (_, i) => ["the", "quick", "brown", "fox", String(i)][i % 5]).join(" ")
    const exact = prose(10_000)
    expect(exact.length).toBeLessThanOrEqual(exactCharacters)
    expect(Tokenizer.byModel.countText(exact, "gpt-4o")).toBe(o200k.countTokens(exact))
    // Byte-pair encoding is quadratic in a run's length: whole, this run took minutes (and timed the test out).
    const run = "x".repeat(50_000)
    expect(Tokenizer.byModel.countText(`say ${run} please`, "gpt-4o")).toBe(
      o200k.countTokens("say ") + 250 * o200k.countTokens("x".repeat(200)) + o200k.countTokens(" please")
    )
  })

  it("past 64 K characters, a count is an estimate from samples, close to the exact count", () => {
    const long = Array.from({ length: 40_000 }, (_, i) => ["the", "quick", "brown", "fox", String(i)][i % 5]).join(" ")
    expect(long.length).toBeGreaterThan(3 * exactCharacters)
    const estimate = Tokenizer.byModel.countText(long, "gpt-4o")
    expect(Math.abs(estimate - o200k.countTokens(long)) / o200k.countTokens(long)).toBeLessThan(0.03)
    const spaces = Tokenizer.byModel.countText(" ".repeat(500_000), "gpt-4o")
    expect(Math.abs(spaces - 2_500 * o200k.countTokens(" ".repeat(200))) / spaces).toBeLessThan(0.01)
  })

  it("an empty text is 0 tokens", () => {
    expect(Tokenizer.byModel.countText("", "gpt-4o")).toBe(0)
    expect(Tokenizer.byModel.countText("", "claude-sonnet-4-5")).toBe(0)
  })
})

describe("Tokenizer.charEstimate", () => {
  it("one token per 3 characters, rounded up, never exact", () => {
    expect(Tokenizer.charEstimate.countText("abcdefg", "gpt-4o")).toBe(3)
    expect(Tokenizer.charEstimate.isExact("gpt-4o")).toBe(false)
  })

  it.effect("replaces the default through the service", () =>
    Effect.gen(function*() {
      const request = yield* ChatRequest.decode({ model: "gpt-4o", messages: [{ role: "user", content: "abcdef" }] })
      const counted = yield* Tokenizer.countRequest(request).pipe(
        Effect.provideService(Tokenizer.Tokenizer, Tokenizer.charEstimate)
      )
      expect(counted).toBe(3 + 3 + 2)
    }))
})

describe("Tokenizer: the work of one count is bounded", () => {
  /** A counter that records how many characters it was given. */
  const recording = () => {
    const seen = { characters: 0 }
    const count = (text: string) => {
      seen.characters += text.length
      return Math.ceil(text.length / 4)
    }
    return { seen, count }
  }

  it("one text of 1 MB: at most 64 K characters are tokenized, spread over it, scaled to its length", () => {
    const { count, seen } = recording()
    const tokens = boundedCount(count, undefined)("a".repeat(1_000_000))
    expect(seen.characters).toBeLessThanOrEqual(exactCharacters)
    expect(seen.characters).toBeGreaterThan(exactCharacters / 2)
    expect(tokens).toBe(250_000)
  })

  it("a thousand texts of 1 K characters: the first 64 K counted, the rest at the rate found", () => {
    const { count, seen } = recording()
    const within = boundedCount(count, undefined)
    let total = 0
    for (let i = 0; i < 1_000; i++) total += within("b".repeat(1_000))
    expect(seen.characters).toBeLessThanOrEqual(exactCharacters)
    expect(total).toBe(250_000)
  })

  it("once the allowance is spent, a text is counted at the rate found, without tokenizing", () => {
    const { count, seen } = recording()
    let calls = 0
    const counter = boundedCount((text) => {
      calls++
      return count(text)
    }, undefined)
    expect(counter("c".repeat(exactCharacters - 8))).toBe((exactCharacters - 8) / 4)
    expect(counter("d".repeat(4_000))).toBe(1_000)
    expect(calls).toBe(1)
    expect(seen.characters).toBe(exactCharacters - 8)
  })
})
