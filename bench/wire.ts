/**
 * The gateway's wire codec on its hot path: microseconds per stream part encoded (text deltas, tool-call
 * deltas), per request body decoded (a short chat and a tool-calling conversation) and per response encoded
 * (`encodeChatCompletion` plus `JSON.stringify`). Run: `npx tsx bench/wire.ts`.
 */
import { performance } from "node:perf_hooks"
import type * as ChatResponse from "../src/ChatResponse.js"
import * as Wire from "../src/gateway/wire/index.js"
import type * as StreamPart from "../src/StreamPart.js"

/** Median of `rounds` timings of `iterations` calls, in microseconds per call. */
const measure = (name: string, iterations: number, run: () => unknown, per = 1): void => {
  const rounds = 7
  const timings: Array<number> = []
  let sink = 0
  for (let round = 0; round < rounds + 1; round++) {
    const start = performance.now()
    for (let i = 0; i < iterations; i++) {
      const out = run()
      if (out !== undefined) sink++
    }
    // the first round warms the JIT up
    if (round > 0) timings.push(((performance.now() - start) * 1000) / iterations / per)
  }
  timings.sort((a, b) => a - b)
  const median = timings[Math.floor(timings.length / 2)]!
  console.log(`${name.padEnd(52)} ${median.toFixed(3).padStart(8)} µs ${sink > 0 ? "" : "(no output)"}`)
}

const textParts: Array<StreamPart.StreamPart> = Array.from({ length: 1000 }, (_, i) => ({
  type: "text-delta",
  text: i % 7 === 0 ? " \"quoted\"\n" : " token"
}))
measure("part: text delta (per part)", 200, () => {
  const encoder = Wire.makeChunkEncoder({ model: "gpt-4o-mini", id: "chatcmpl-1", created: 1, includeUsage: true })
  let length = 0
  for (const part of textParts) length += encoder.part(part).length
  return length
}, textParts.length)

const toolParts: Array<StreamPart.StreamPart> = [
  { type: "tool-call-start", id: "call_a", name: "get_weather" },
  ...Array.from({ length: 999 }, (): StreamPart.StreamPart => ({
    type: "tool-call-delta",
    id: "call_a",
    argumentsDelta: "{\"c\":"
  }))
]
measure("part: tool-call argument delta (per part)", 200, () => {
  const encoder = Wire.makeChunkEncoder({ model: "gpt-4o-mini", id: "chatcmpl-1", created: 1, includeUsage: false })
  let length = 0
  for (const part of toolParts) length += encoder.part(part).length
  return length
}, toolParts.length)

measure("stream: encoder + 1 part + finish + end", 20_000, () => {
  const encoder = Wire.makeChunkEncoder({ model: "gpt-4o-mini", id: "chatcmpl-1", created: 1, includeUsage: true })
  return encoder.part({ type: "text-delta", text: "Hi" }) +
    encoder.part({ type: "usage", usage: { inputTokens: 5, outputTokens: 1, totalTokens: 6 } }) +
    encoder.part({ type: "finish", finishReason: "stop" }) + encoder.end()
})

const short = JSON.stringify({
  model: "gpt-4o-mini",
  messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Capital of France?" }],
  max_tokens: 100,
  temperature: 0.2,
  stream: true,
  stream_options: { include_usage: true }
})
measure("decode: short chat (JSON.parse + decode)", 20_000, () => Wire.decodeChatCompletionRequest(JSON.parse(short)))

const weather = {
  type: "function",
  function: {
    name: "get_weather",
    description: "The weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
  }
}
const toolConversation = JSON.stringify({
  model: "gpt-4o",
  messages: [
    { role: "system", content: "You are a weather bot." },
    ...Array.from({ length: 5 }, (_, i) => [
      { role: "user", content: `Weather in city ${i}?` },
      {
        role: "assistant",
        content: null,
        tool_calls: [{
          id: `call_${i}`,
          type: "function",
          function: { name: "get_weather", arguments: `{"city":"c${i}"}` }
        }]
      },
      { role: "tool", tool_call_id: `call_${i}`, content: "21 C" },
      { role: "assistant", content: `It is 21 C in city ${i}.` }
    ]).flat()
  ],
  tools: [weather],
  tool_choice: "auto",
  parallel_tool_calls: false
})
measure(
  "decode: 21 messages with tool calls (JSON.parse + decode)",
  5_000,
  () => Wire.decodeChatCompletionRequest(JSON.parse(toolConversation))
)

const response: ChatResponse.ChatResponse = {
  id: "chatcmpl-1",
  provider: "openai",
  model: "gpt-4o-mini-2024-07-18",
  content: [
    { type: "text", text: "The capital of France is Paris. ".repeat(10) },
    {
      type: "tool-call",
      id: "call_a",
      name: "get_weather",
      arguments: { city: "Paris" },
      rawArguments: "{\"city\":\"Paris\"}"
    }
  ],
  finishReason: "tool-calls",
  usage: { inputTokens: 20, outputTokens: 80, totalTokens: 100, cachedInputTokens: 0 }
}
measure(
  "encode: response (encodeChatCompletion + stringify)",
  50_000,
  () => JSON.stringify(Wire.encodeChatCompletion(response, { model: "gpt-4o-mini", created: 1 }))
)

const refused = JSON.stringify({ model: "m", messages: [{ role: "user", content: "x" }], n: 2 })
measure("decode + encodeError: refused body (n: 2)", 20_000, () => {
  const decoded = Wire.decodeChatCompletionRequest(JSON.parse(refused))
  return decoded._tag === "Left" ? JSON.stringify(Wire.encodeError(decoded.left).body) : undefined
})
