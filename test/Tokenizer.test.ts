import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as cl100k from "gpt-tokenizer/encoding/cl100k_base"
import * as o200k from "gpt-tokenizer/encoding/o200k_base"
import * as ChatRequest from "../src/ChatRequest.js"
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

  it("ordinary long text is counted exactly; a run with no break is counted in 200-character pieces", () => {
    const prose = Array.from({ length: 20_000 }, (_, i) => ["the", "quick", "brown", "fox", String(i)][i % 5]).join(" ")
    expect(Tokenizer.byModel.countText(prose, "gpt-4o")).toBe(o200k.countTokens(prose))
    // Byte-pair encoding is quadratic in a run's length: whole, this run took minutes (and timed the test out).
    const run = "x".repeat(500_000)
    expect(Tokenizer.byModel.countText(`say ${run} please`, "gpt-4o")).toBe(
      o200k.countTokens("say ") + 2_500 * o200k.countTokens("x".repeat(200)) + o200k.countTokens(" please")
    )
    expect(Tokenizer.byModel.countText(" ".repeat(500_000), "gpt-4o")).toBe(2_500 * o200k.countTokens(" ".repeat(200)))
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
