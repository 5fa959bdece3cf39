/**
 * `parallelToolCalls: false` on each provider's wire: OpenAI's `parallel_tool_calls`, Anthropic's
 * `disable_parallel_tool_use` on the tool choice, sent only with tools; Gemini and Cohere have no such setting.
 */
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import type * as ChatRequest from "../src/ChatRequest.js"
import * as AnthropicRequest from "../src/internal/anthropic/request.js"
import * as CohereRequest from "../src/internal/cohere/request.js"
import * as GeminiRequest from "../src/internal/gemini/request.js"
import * as OpenAiRequest from "../src/internal/openai/request.js"

const weather = { name: "weather", parameters: { type: "object", properties: { city: { type: "string" } } } }
const request = (extra: Partial<ChatRequest.ChatRequest>): ChatRequest.ChatRequest => ({
  messages: [{ role: "user", content: "Weather in Paris and Rome?" }],
  tools: [weather],
  parallelToolCalls: false,
  ...extra
})

const openai = (input: ChatRequest.ChatRequest) =>
  OpenAiRequest.encodeRequest(input, {
    model: "gpt-4o",
    stream: false,
    maxTokensField: "max_completion_tokens",
    topK: false,
    optionKeys: ["openai"]
  }) as Record<string, unknown>

const anthropic = (input: ChatRequest.ChatRequest) =>
  Either.getOrThrow(AnthropicRequest.encodeRequest(input, { model: "claude", stream: false, defaultMaxTokens: 64 }))

describe("parallelToolCalls", () => {
  it("OpenAI: parallel_tool_calls, only with tools (OpenAI refuses it without)", () => {
    expect(openai(request({})).parallel_tool_calls).toBe(false)
    expect(openai(request({ parallelToolCalls: true })).parallel_tool_calls).toBe(true)
    expect(openai(request({ tools: undefined }))).not.toHaveProperty("parallel_tool_calls")
    expect(openai(request({ parallelToolCalls: undefined }))).not.toHaveProperty("parallel_tool_calls")
  })

  it("Anthropic: disable_parallel_tool_use on the tool choice, auto unless one is given; none has no such setting", () => {
    expect(anthropic(request({})).tool_choice).toEqual({ type: "auto", disable_parallel_tool_use: true })
    expect(anthropic(request({ toolChoice: "required" })).tool_choice).toEqual({
      type: "any",
      disable_parallel_tool_use: true
    })
    expect(anthropic(request({ toolChoice: { type: "tool", name: "weather" } })).tool_choice).toEqual({
      type: "tool",
      name: "weather",
      disable_parallel_tool_use: true
    })
    expect(anthropic(request({ toolChoice: "none" })).tool_choice).toEqual({ type: "none" })
    expect(anthropic(request({ parallelToolCalls: true }))).not.toHaveProperty("tool_choice")
    expect(anthropic(request({ tools: undefined }))).not.toHaveProperty("tool_choice")
  })

  it("Gemini and Cohere: nothing sent (no such setting)", () => {
    const gemini = JSON.stringify(
      Either.getOrThrow(GeminiRequest.encodeRequest(request({}), { model: "g", optionKey: "gemini" }))
    )
    const cohere = JSON.stringify(
      Either.getOrThrow(CohereRequest.encodeRequest(request({}), { model: "c", stream: false }))
    )
    for (const wire of [gemini, cohere]) expect(wire).not.toMatch(/parallel/i)
  })
})
