/**
 * What the mock server answers and what every client sends: one realistic answer of `TOKENS` tokens, in the
 * Chat Completions wire format (streamed and not) and in the Responses API format (for `@effect/ai-openai`).
 * Shared by the server process and the clients, so the expected text is known on both sides.
 */
import * as OpenAiMock from "../src/testing/OpenAiMock.js"

/** Tokens per streamed answer (and the length of the non-streamed answer). */
export const TOKENS = 200

export const MODEL = "gpt-4o-mini"
export const API_KEY = "sk-bench-0000000000000000"

export const SYSTEM_PROMPT = "You are a helpful assistant. Answer in one paragraph."
export const USER_PROMPT = "Explain why HTTP caching matters for APIs."

// Mostly ASCII words with a few multi-byte characters, so a character split across network reads is exercised.
const WORDS = [
  " Caching",
  " lets",
  " a",
  " client",
  " reuse",
  " a",
  " response",
  " it",
  " already",
  " has",
  ",",
  " which",
  " saves",
  " latency",
  " and",
  " bandwidth",
  " —",
  " the",
  " café",
  " naïve",
  " approach",
  " 🚀",
  " is",
  " to",
  " ask",
  " again",
  "."
]

/** The answer's tokens: the same for every format. */
export const tokens = (count: number = TOKENS): Array<string> =>
  Array.from({ length: count }, (_, i) => WORDS[i % WORDS.length]!)

/** The text every client must end up with. */
export const expectedText = (count: number = TOKENS): string => tokens(count).join("")

const sseData = (payload: unknown): string => `data: ${JSON.stringify(payload)}\n\n`

const sseEvent = (type: string, payload: unknown): string => `event: ${type}\ndata: ${JSON.stringify(payload)}\n\n`

/** A streamed chat completion, one SSE event per array element (`data: [DONE]` last), as OpenAI sends it. */
export const chatStreamEvents = (count: number = TOKENS): Array<string> => [
  ...OpenAiMock.streamEvents({ deltas: tokens(count), model: MODEL, usage: { inputTokens: 24, outputTokens: count } })
    .map(
      sseData
    ),
  "data: [DONE]\n\n"
]

/** A non-streamed `chat.completion` with the same text. */
export const chatCompletionBody = (count: number = TOKENS): string =>
  JSON.stringify(
    OpenAiMock.completionBody({
      id: "chatcmpl-bench",
      text: expectedText(count),
      model: MODEL,
      usage: { inputTokens: 24, outputTokens: count },
      extra: { system_fingerprint: "fp_bench", service_tier: "default" }
    })
  )

// ---------------------------------------------------------------------------------------------------------------
// Responses API (`POST /v1/responses`), as decoded by @effect/ai-openai
// ---------------------------------------------------------------------------------------------------------------

const RESPONSE_ID = "resp_bench"
const MESSAGE_ID = "msg_bench"

const responseObject = (
  status: "in_progress" | "completed",
  text: string | undefined,
  count: number
): Record<string, unknown> => ({
  id: RESPONSE_ID,
  object: "response",
  created_at: 1_700_000_000,
  status,
  background: false,
  error: null,
  incomplete_details: null,
  instructions: null,
  max_output_tokens: null,
  max_tool_calls: null,
  model: "gpt-4o-mini-2024-07-18",
  output: text === undefined ? [] : [outputMessage("completed", text)],
  parallel_tool_calls: true,
  previous_response_id: null,
  prompt_cache_key: null,
  reasoning: { effort: null, summary: null },
  safety_identifier: null,
  service_tier: "default",
  store: true,
  temperature: 1,
  text: { format: { type: "text" }, verbosity: "medium" },
  tool_choice: "auto",
  tools: [],
  top_logprobs: 0,
  top_p: 1,
  truncation: "disabled",
  usage: text === undefined ? null : {
    input_tokens: 24,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: count,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: 24 + count
  },
  user: null,
  metadata: {}
})

const outputText = (text: string) => ({ type: "output_text", annotations: [], logprobs: [], text })

const outputMessage = (status: "in_progress" | "completed", text: string | undefined) => ({
  id: MESSAGE_ID,
  type: "message",
  status,
  content: text === undefined ? [] : [outputText(text)],
  role: "assistant"
})

/** A streamed Responses API answer, one SSE event (with its `event:` line) per array element. */
export const responsesStreamEvents = (count: number = TOKENS): Array<string> => {
  const text = expectedText(count)
  let sequence = 0
  const event = (type: string, fields: Record<string, unknown>) =>
    sseEvent(type, { type, sequence_number: sequence++, ...fields })
  const events = [
    event("response.created", { response: responseObject("in_progress", undefined, count) }),
    event("response.in_progress", { response: responseObject("in_progress", undefined, count) }),
    event("response.output_item.added", { output_index: 0, item: outputMessage("in_progress", undefined) }),
    event("response.content_part.added", {
      item_id: MESSAGE_ID,
      output_index: 0,
      content_index: 0,
      part: outputText("")
    })
  ]
  for (const delta of tokens(count)) {
    events.push(event("response.output_text.delta", {
      item_id: MESSAGE_ID,
      output_index: 0,
      content_index: 0,
      delta,
      logprobs: []
    }))
  }
  events.push(
    event("response.output_text.done", { item_id: MESSAGE_ID, output_index: 0, content_index: 0, text, logprobs: [] }),
    event("response.content_part.done", {
      item_id: MESSAGE_ID,
      output_index: 0,
      content_index: 0,
      part: outputText(text)
    }),
    event("response.output_item.done", { output_index: 0, item: outputMessage("completed", text) }),
    event("response.completed", { response: responseObject("completed", text, count) })
  )
  return events
}

/** A non-streamed Responses API `response` object with the same text. */
export const responseBody = (count: number = TOKENS): string =>
  JSON.stringify(responseObject("completed", expectedText(count), count))
