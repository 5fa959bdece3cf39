import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as ChatRequest from "../src/ChatRequest.js"
import * as LlmError from "../src/LlmError.js"

const user = { role: "user", content: "Hi" } as const
const weather = {
  name: "get_weather",
  description: "The weather in a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
} as const

/** Decodes and expects an `InvalidRequest`; returns its message. */
const rejection = (input: unknown) =>
  Effect.gen(function*() {
    const error = yield* Effect.flip(ChatRequest.decode(input))
    expect(error).toBeInstanceOf(LlmError.InvalidRequest)
    expect(error.provider).toBe("liter-llm")
    expect(error.message.startsWith("Invalid request: ")).toBe(true)
    return error.message
  })

describe("ChatRequest.decode: accepts", () => {
  it.effect("a string user message", () =>
    Effect.gen(function*() {
      const request = yield* ChatRequest.decode({ messages: [user] })
      expect(request).toEqual({ messages: [user] })
    }))

  it.effect("system, text + image parts (url and data)", () =>
    Effect.gen(function*() {
      const input = {
        model: "gpt-4o",
        messages: [
          { role: "system", content: "Be brief." },
          {
            role: "user",
            content: [
              { type: "text", text: "What is in these?" },
              { type: "image", url: "https://example.com/cat.png", detail: "low" },
              { type: "image", data: "iVBORw0KGgo=", mediaType: "image/png" }
            ]
          }
        ]
      }
      expect(yield* ChatRequest.decode(input)).toEqual(input)
    }))

  it.effect("an assistant turn with text, reasoning and tool calls, then tool results", () =>
    Effect.gen(function*() {
      const input = {
        messages: [
          user,
          {
            role: "assistant",
            content: [
              { type: "reasoning", text: "Need the weather.", signature: "sig" },
              { type: "text", text: "Checking." },
              { type: "tool-call", id: "call_1", name: "get_weather", arguments: { city: "Paris" } },
              { type: "tool-call", id: "call_2", name: "get_weather", arguments: { city: "Rome" } }
            ]
          },
          {
            role: "tool",
            content: [
              { type: "tool-result", toolCallId: "call_1", toolName: "get_weather", result: { temp: 21 } },
              { type: "tool-result", toolCallId: "call_2", result: "unavailable", isError: true }
            ]
          }
        ],
        tools: [weather]
      }
      const request = yield* ChatRequest.decode(input)
      expect(request).toEqual(input)
      expect(ChatRequest.messageText(request.messages[1]!)).toBe("Checking.")
    }))

  it.effect("tools with every toolChoice form", () =>
    Effect.gen(function*() {
      for (const toolChoice of ["auto", "none", "required", { type: "tool", name: "get_weather" }] as const) {
        const request = yield* ChatRequest.decode({
          messages: [user],
          tools: [weather, { ...weather, name: "b" }],
          toolChoice
        })
        expect(request.toolChoice).toEqual(toolChoice)
      }
    }))

  it.effect("toolChoice auto or none without tools", () =>
    Effect.gen(function*() {
      expect((yield* ChatRequest.decode({ messages: [user], toolChoice: "none" })).toolChoice).toBe("none")
      expect((yield* ChatRequest.decode({ messages: [user], toolChoice: "auto" })).toolChoice).toBe("auto")
    }))

  it.effect("sampling fields at their bounds", () =>
    Effect.gen(function*() {
      const input = {
        messages: [user],
        temperature: 2,
        topP: 0,
        topK: 40,
        maxTokens: 1,
        stop: ["\n\n", "END"],
        seed: -7,
        presencePenalty: -2,
        frequencyPenalty: 2
      }
      expect(yield* ChatRequest.decode(input)).toEqual(input)
      expect((yield* ChatRequest.decode({ messages: [user], stop: "END", temperature: 0 })).stop).toBe("END")
    }))

  it.effect("responseFormat text, json and json-schema", () =>
    Effect.gen(function*() {
      const schema = {
        type: "json-schema",
        name: "answer",
        description: "The answer",
        strict: true,
        schema: { type: "object", properties: { answer: { type: "string" } }, required: ["answer"] }
      } as const
      for (const responseFormat of [{ type: "text" }, { type: "json" }, schema] as const) {
        expect((yield* ChatRequest.decode({ messages: [user], responseFormat })).responseFormat).toEqual(responseFormat)
      }
    }))

  it.effect("metadata and providerOptions", () =>
    Effect.gen(function*() {
      const input = {
        messages: [user],
        metadata: { tenant: "acme", user: "u-42" },
        providerOptions: { openai: { service_tier: "flex", logprobs: true }, anthropic: { top_k: 5 } }
      }
      expect(yield* ChatRequest.decode(input)).toEqual(input)
    }))

  it.effect("the provider named in errors is the caller's", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(ChatRequest.decode({ messages: [] }, "openai"))
      expect(error.provider).toBe("openai")
    }))
})

describe("ChatRequest.decode: rejects with InvalidRequest naming the path", () => {
  it.effect("empty messages", () =>
    Effect.gen(function*() {
      expect(yield* rejection({ messages: [] })).toBe(
        "Invalid request: messages: `messages` needs at least one message"
      )
    }))

  it.effect("missing messages, or not an object", () =>
    Effect.gen(function*() {
      expect(yield* rejection({})).toContain("messages")
      yield* rejection("Hi")
      yield* rejection(null)
    }))

  it.effect("an empty or blank model, which names none (and would skip the layer's default)", () =>
    Effect.gen(function*() {
      for (const model of ["", " ", "\t"]) {
        expect(yield* rejection({ model, messages: [user] })).toContain(
          "model: a model name must not be empty or blank"
        )
      }
    }))

  it.effect("an unknown role", () =>
    Effect.gen(function*() {
      const message = yield* rejection({ messages: [{ role: "bot", content: "x" }] })
      expect(message).toContain("messages.0.role")
      expect(message).toContain("\"bot\"")
    }))

  it.effect("an unknown field: the max_tokens typo is reported, not dropped", () =>
    Effect.gen(function*() {
      const message = yield* rejection({ messages: [user], max_tokens: 100 })
      expect(message).toContain("max_tokens: is unexpected")
      expect(message).toContain("\"maxTokens\"")
    }))

  it.effect("an unknown field inside a message", () =>
    Effect.gen(function*() {
      expect(yield* rejection({ messages: [{ role: "user", content: "x", name: "bob" }] })).toContain("messages.0")
    }))

  it.effect("temperature 3", () =>
    Effect.gen(function*() {
      const message = yield* rejection({ messages: [user], temperature: 3 })
      expect(message).toContain("temperature: Expected a number between 0 and 2, actual 3")
    }))

  it.effect("topP above 1 and a penalty below -2", () =>
    Effect.gen(function*() {
      expect(yield* rejection({ messages: [user], topP: 1.1 })).toContain("topP:")
      expect(yield* rejection({ messages: [user], presencePenalty: -2.5 })).toContain("presencePenalty:")
    }))

  it.effect("maxTokens 0 and 1.5", () =>
    Effect.gen(function*() {
      expect(yield* rejection({ messages: [user], maxTokens: 0 })).toContain("maxTokens: Expected a positive number")
      expect(yield* rejection({ messages: [user], maxTokens: 1.5 })).toContain("maxTokens: Expected an integer")
      expect(yield* rejection({ messages: [user], seed: 1e20 })).toContain(
        "seed: Expected an integer of at most 9007199254740991 in magnitude, actual 100000000000000000000"
      )
      expect(yield* rejection({ messages: [user], maxTokens: Infinity })).toContain(
        "maxTokens: Expected an integer of at most 9007199254740991 in magnitude, actual Infinity"
      )
    }))

  it.effect("a bad tool name", () =>
    Effect.gen(function*() {
      const message = yield* rejection({ messages: [user], tools: [{ ...weather, name: "get weather!" }] })
      expect(message).toContain("tools.0.name: a tool name is 1 to 64 letters, digits, `_` or `-`")
    }))

  it.effect("a tool name longer than 64 characters", () =>
    Effect.gen(function*() {
      expect(yield* rejection({ messages: [user], tools: [{ ...weather, name: "a".repeat(65) }] })).toContain(
        "tools.0.name"
      )
    }))

  it.effect("a tenant that is empty, blank, padded with whitespace, over 256 characters or holds a control", () =>
    Effect.gen(function*() {
      const tenant = (value: string) => rejection({ messages: [user], metadata: { tenant: value } })
      const blank =
        "Invalid request: metadata.tenant: a tenant id is empty or blank (leave metadata.tenant out for the default tenant)"
      expect(yield* tenant("")).toBe(blank)
      expect(yield* tenant("   ")).toBe(blank)
      expect(yield* tenant(" acme")).toBe(
        "Invalid request: metadata.tenant: a tenant id starts or ends with whitespace: \" acme\""
      )
      expect(yield* tenant("acme\n")).toContain("starts or ends with whitespace")
      // The length is named, not the id: it would be the whole message.
      expect(yield* tenant("t".repeat(100_000))).toBe(
        "Invalid request: metadata.tenant: a tenant id has 100000 characters, more than the 256 allowed"
      )
      const longest = "t".repeat(256)
      expect((yield* ChatRequest.decode({ messages: [user], metadata: { tenant: longest } })).metadata?.tenant)
        .toBe(longest)
      expect(yield* tenant("t".repeat(257))).toContain("has 257 characters, more than the 256 allowed")
      // Characters are code points: 256 emoji (512 UTF-16 units) pass, 257 are counted as 257.
      const emoji = "😀".repeat(256)
      expect((yield* ChatRequest.decode({ messages: [user], metadata: { tenant: emoji } })).metadata?.tenant)
        .toBe(emoji)
      expect(yield* tenant("😀".repeat(257))).toBe(
        "Invalid request: metadata.tenant: a tenant id has 257 characters, more than the 256 allowed"
      )
      // A control character would forge log lines and garble metric labels and store keys.
      expect(yield* tenant("ac\nme")).toBe(
        "Invalid request: metadata.tenant: a tenant id contains a control character (such as a line break or a " +
          "tab): \"ac\\nme\""
      )
      for (const control of ["\r", "\t", "\u0000", "\u001b", "\u007f", "\u0085", "\u009f", "\u2028", "\u2029"]) {
        const message = yield* tenant(`ac${control}me`)
        expect(message).toContain("contains a control character")
        // Shown escaped: the message itself carries no control character.
        expect(message).not.toContain(control)
      }
      // A lone surrogate is no character (a pair, an emoji, is one).
      expect(yield* tenant("a\ud800b")).toContain("is not well-formed Unicode")
      // Invisible characters would make two ids look the same, or reorder a log line as it is shown.
      for (const invisible of ["\u200b", "\u202e", "\u2066", "\u200e", "\ufeff", "\u2060", "\u061c"]) {
        const message = yield* tenant(`ac${invisible}me`)
        expect(message).toContain("contains an invisible formatting character")
        expect(message).not.toContain(invisible)
      }
      // Joiners are parts of scripts and emoji sequences.
      expect(ChatRequest.tenantIssue("👩\u200d💻")).toBeUndefined()
      expect(ChatRequest.tenantIssue("\u0915\u094d\u200d\u0937")).toBeUndefined()
      expect(yield* rejection({ messages: [user], metadata: { tenant: 123 } })).toContain("metadata.tenant")
    }))

  it.effect("toolChoice naming a missing tool", () =>
    Effect.gen(function*() {
      const message = yield* rejection({
        messages: [user],
        tools: [weather],
        toolChoice: { type: "tool", name: "get_time" }
      })
      expect(message).toBe("Invalid request: toolChoice.name: no tool named \"get_time\" in `tools`")
    }))

  it.effect("toolChoice required without tools (or with an empty list)", () =>
    Effect.gen(function*() {
      const expected = "Invalid request: toolChoice: `toolChoice` requires `tools`"
      expect(yield* rejection({ messages: [user], toolChoice: "required" })).toBe(expected)
      expect(yield* rejection({ messages: [user], tools: [], toolChoice: "required" })).toBe(expected)
    }))

  it.effect("an image part with neither url nor data, or with both", () =>
    Effect.gen(function*() {
      const neither = yield* rejection({ messages: [{ role: "user", content: [{ type: "image" }] }] })
      expect(neither).toContain("messages.0.content.0: an image part needs exactly one of `url` or `data`")
      const both = yield* rejection({
        messages: [{
          role: "user",
          content: [{ type: "image", url: "https://x", data: "AA==", mediaType: "image/png" }]
        }]
      })
      expect(both).toContain("an image part needs exactly one of `url` or `data`")
    }))

  it.effect("an image part with data but no mediaType", () =>
    Effect.gen(function*() {
      const message = yield* rejection({
        messages: [{ role: "user", content: [{ type: "text", text: "see" }, { type: "image", data: "AA==" }] }]
      })
      expect(message).toContain("messages.0.content.1: an image part with `data` needs its `mediaType`")
    }))

  it.effect("an image whose mediaType is no media type, or whose data (or data URL) is not base64", () =>
    Effect.gen(function*() {
      const image = (part: Record<string, unknown>) => ({
        messages: [{ role: "user", content: [{ type: "image", ...part }] }]
      })
      expect(yield* rejection(image({ data: "AA==", mediaType: "png" }))).toContain(
        "messages.0.content.0: an image part's media type \"png\" is not one (type/subtype, such as \"image/png\")"
      )
      for (const data of ["not base64!", "AAAAA", "AA==AA", "AA\nAA=="]) {
        expect(yield* rejection(image({ data, mediaType: "image/png" }))).toContain(
          "an image part's data is not base64"
        )
      }
      expect(yield* rejection(image({ url: "data:image/png;base64,%%%" }))).toContain(
        "an image part's data URL: its data is not base64"
      )
      expect(yield* rejection(image({ url: "data:;base64,AA==" }))).toContain(
        "an image part's data URL: its media type \"\" is not one"
      )
      // A data URL that is not base64 is nothing a provider reads.
      for (
        const url of [
          "data:text/plain,hello",
          "DATA:image/png,%89PNG",
          "data:image/svg+xml;utf8,<svg/>",
          "data:image/svg+xml,%3Csvg%3E"
        ]
      ) {
        expect(yield* rejection(image({ url }))).toBe(
          "Invalid request: messages.0.content.0: an image part's data URL is not base64 (data:<media type>;base64,...)"
        )
      }
      // Empty data is no image, in `data` or in a data URL.
      expect(yield* rejection(image({ data: "", mediaType: "image/png" }))).toBe(
        "Invalid request: messages.0.content.0: an image part's data is empty"
      )
      expect(yield* rejection(image({ url: "data:image/png;base64," }))).toBe(
        "Invalid request: messages.0.content.0: an image part's data URL: its data is empty"
      )
      for (const url of ["not a url", "cat.png", "/images/cat.png", ""]) {
        expect(yield* rejection(image({ url }))).toBe(
          `Invalid request: messages.0.content.0: an image part's url ${
            JSON.stringify(url)
          } is not an absolute URL (such as "https://...")`
        )
      }
      // What a provider reads passes: padded or not, any http(s) URL, Gemini's `gs:` and File API URIs, a PDF.
      for (
        const part of [
          { data: "iVBORw0KGgo=", mediaType: "image/png" },
          { data: "R0lGOD", mediaType: "image/gif" },
          { data: "JVBERi0=", mediaType: "application/pdf" },
          { url: "data:image/svg+xml;base64,PHN2Zz4=" },
          { url: "https://example.com/cat.png" },
          { url: "http://localhost:8080/cat.png" },
          { url: "gs://bucket/cat.png", mediaType: "image/png" },
          { url: "https://generativelanguage.googleapis.com/v1beta/files/abc123", mediaType: "image/png" }
        ]
      ) {
        expect((yield* ChatRequest.decode(image(part))).messages).toHaveLength(1)
      }
    }))

  it.effect("a bad image in a 2 MB part: the useful line only, values and message bounded", () =>
    Effect.gen(function*() {
      const message = yield* rejection({
        messages: [{ role: "user", content: [{ type: "image", data: "A".repeat(2_000_000), mediaType: "png" }] }]
      })
      // Not the string branch of `content` (the value is a list), which echoed the whole parts array.
      expect(message).toBe(
        "Invalid request: messages.0.content.0: an image part's media type \"png\" is not one (type/subtype, such " +
          "as \"image/png\")"
      )
    }))

  it.effect("a long wrong value is shown cut to 100 characters, the whole message to 1024", () =>
    Effect.gen(function*() {
      const long = yield* rejection({ messages: [user], maxTokens: "x".repeat(5_000) })
      expect(long).toContain(`maxTokens: Expected number, actual "${"x".repeat(99)}… [truncated]`)
      expect(long).not.toContain("x".repeat(101))
      // A value of neither kind still names both.
      const neither = yield* rejection({ messages: [{ role: "user", content: 5 }] })
      expect(neither).toContain("messages.0.content: Expected string, actual 5")
      expect(neither).toContain("messages.0.content: Expected an array, actual 5")
      const many = yield* rejection({
        messages: Array.from({ length: 200 }, () => ({ role: "user", content: [{ type: "image", url: "nope" }] }))
      })
      expect(many.length).toBeLessThanOrEqual(1024 + "… [truncated]".length)
      expect(many.endsWith("… [truncated]")).toBe(true)
    }))

  it.effect("duplicate tool names", () =>
    Effect.gen(function*() {
      expect(yield* rejection({ messages: [user], tools: [weather, weather] })).toBe(
        "Invalid request: tools: tool names must be unique"
      )
    }))

  it.effect("a tool message without results", () =>
    Effect.gen(function*() {
      expect(yield* rejection({ messages: [user, { role: "tool", content: [] }] })).toContain("messages.1")
    }))

  it.effect("every problem is reported, not just the first", () =>
    Effect.gen(function*() {
      const message = yield* rejection({ messages: [user], temperature: 3, maxTokens: 0, max_tokens: 5 })
      expect(message).toContain("temperature:")
      expect(message).toContain("maxTokens:")
      expect(message).toContain("max_tokens:")
    }))
})

describe("ChatRequest.tenantOf", () => {
  it("the tenant, else the default one; always a string, also for a request that was not decoded", () => {
    expect(ChatRequest.tenantOf({ metadata: { tenant: "acme" } })).toBe("acme")
    expect(ChatRequest.tenantOf({})).toBe(ChatRequest.defaultTenant)
    expect(ChatRequest.tenantOf({ metadata: {} })).toBe("default")
    const undecoded = { messages: [user], metadata: { tenant: 123 } } as unknown as ChatRequest.ChatRequest
    expect(ChatRequest.tenantOf(undecoded)).toBe("default")
  })
})
