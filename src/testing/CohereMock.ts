/**
 * Replies in the Cohere v2 Chat wire format, for scripting a `MockProvider` that stands in for Cohere: chat
 * bodies, streams of named SSE events (ending with Cohere's un-named `data: [DONE]`, optionally with a
 * `finish_reason: ERROR` mid-stream), and error bodies.
 *
 * @since 0.1.0
 */
import type * as ChatResponse from "../ChatResponse.js"
import * as MockProvider from "./MockProvider.js"

/**
 * Token counts, named as in `ChatResponse.Usage`: a call answered with them reports exactly these numbers
 * (`totalTokens` is their sum). `inputTokens` / `outputTokens` are the processed `tokens`; the `billed_units`
 * default to the same values.
 *
 * @since 0.1.0
 * @category models
 */
export interface Usage extends Omit<ChatResponse.Usage, "totalTokens" | "cacheWriteTokens" | "reasoningTokens"> {
  readonly billedInputTokens?: number | undefined
  readonly billedOutputTokens?: number | undefined
}

/**
 * A tool call the model makes; `arguments` is sent JSON-encoded unless it is already a string.
 *
 * @since 0.1.0
 * @category models
 */
export interface ToolCall {
  readonly id: string
  readonly name: string
  readonly arguments: unknown
}

/**
 * The `usage` object of a response or `message-end` event.
 *
 * @example
 * ```ts
 * import { CohereMock } from "liter-llm/testing"
 *
 * const usage = CohereMock.usageBody({ inputTokens: 120, outputTokens: 3, billedInputTokens: 12 })
 * // { billed_units: { input_tokens: 12, output_tokens: 3 }, tokens: { input_tokens: 120, output_tokens: 3 } }
 * ```
 *
 * @since 0.1.0
 * @category bodies
 */
export const usageBody = (usage: Usage): Record<string, unknown> => ({
  billed_units: {
    input_tokens: usage.billedInputTokens ?? usage.inputTokens,
    output_tokens: usage.billedOutputTokens ?? usage.outputTokens
  },
  tokens: { input_tokens: usage.inputTokens, output_tokens: usage.outputTokens },
  ...(usage.cachedInputTokens === undefined ? {} : { cached_tokens: usage.cachedInputTokens })
})

/**
 * What a chat response says; everything has a realistic default.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChatOptions {
  /** Default `"Hello from the mock."`, or none when there are tool calls; `null` sends no text item. */
  readonly text?: string | null | undefined
  /** A `thinking` content item before the text. */
  readonly thinking?: string | undefined
  readonly toolPlan?: string | undefined
  readonly toolCalls?: ReadonlyArray<ToolCall> | undefined
  readonly citations?: ReadonlyArray<unknown> | undefined
  /** Default `"COMPLETE"`, or `"TOOL_CALL"` when there are tool calls. */
  readonly finishReason?: string | undefined
  readonly id?: string | undefined
  /** Default `{ inputTokens: 10, outputTokens: 5 }`; `null` sends no usage. */
  readonly usage?: Usage | null | undefined
}

const encodeArguments = (value: unknown): string => typeof value === "string" ? value : JSON.stringify(value)

/**
 * The body of a non-streaming v2 Chat response. Cohere's responses name no model: a call reports the model it
 * asked for.
 *
 * @example
 * ```ts
 * import { CohereMock } from "liter-llm/testing"
 *
 * const body = CohereMock.chatBody({ toolCalls: [{ id: "call_1", name: "weather", arguments: { city: "Paris" } }] })
 * // body.finish_reason === "TOOL_CALL"
 * ```
 *
 * @since 0.1.0
 * @category bodies
 */
export const chatBody = (options: ChatOptions = {}): Record<string, unknown> => {
  const toolCalls = options.toolCalls ?? []
  const text = options.text === undefined ? (toolCalls.length > 0 ? null : "Hello from the mock.") : options.text
  const usage = options.usage === undefined ? { inputTokens: 10, outputTokens: 5 } : options.usage
  const content = [
    ...(options.thinking === undefined ? [] : [{ type: "thinking", thinking: options.thinking }]),
    ...(text === null ? [] : [{ type: "text", text }])
  ]
  return {
    id: options.id ?? "mock-chat-id",
    message: {
      role: "assistant",
      ...(content.length === 0 ? {} : { content }),
      ...(options.toolPlan === undefined ? {} : { tool_plan: options.toolPlan }),
      ...(toolCalls.length === 0 ? {} : {
        tool_calls: toolCalls.map((call) => ({
          id: call.id,
          type: "function",
          function: { name: call.name, arguments: encodeArguments(call.arguments) }
        }))
      }),
      ...(options.citations === undefined ? {} : { citations: options.citations })
    },
    finish_reason: options.finishReason ?? (toolCalls.length > 0 ? "TOOL_CALL" : "COMPLETE"),
    ...(usage === null ? {} : { usage: usageBody(usage) })
  }
}

/**
 * A `200` v2 Chat reply.
 *
 * @example
 * ```ts
 * import { CohereMock, MockProvider } from "liter-llm/testing"
 *
 * const server = MockProvider.make({
 *   script: [CohereMock.error(429, "You are using a Trial key, which is limited to 40 API calls / minute."), CohereMock.chat({ text: "Paris" })]
 * })
 * ```
 *
 * @since 0.1.0
 * @category replies
 */
export const chat = (options: ChatOptions = {}, reply: MockProvider.ReplyOptions = {}): MockProvider.JsonReply =>
  MockProvider.json(chatBody(options), reply)

/**
 * The body of an error: `{"id": "...", "message": "..."}`.
 *
 * @example
 * ```ts
 * import { CohereMock, MockProvider } from "liter-llm/testing"
 *
 * const reply = MockProvider.error(418, CohereMock.errorBody("teapot"))
 * ```
 *
 * @since 0.1.0
 * @category bodies
 */
export const errorBody = (message: string, id = "mock-error-id"): Record<string, unknown> => ({ id, message })

/**
 * An error reply with Cohere's error body.
 *
 * @example
 * ```ts
 * import { CohereMock } from "liter-llm/testing"
 *
 * const notFound = CohereMock.error(404, "model 'nope' not found, make sure the correct model ID was used.")
 * const busy = CohereMock.error(503, undefined, { headers: { "retry-after": "2" } })
 * ```
 *
 * @since 0.1.0
 * @category replies
 */
export const error = (
  status: number,
  message = `mock error ${status}`,
  options: Omit<MockProvider.ReplyOptions, "status"> & { readonly id?: string | undefined } = {}
): MockProvider.JsonReply =>
  MockProvider.error(status, errorBody(message, options.id), {
    ...(options.headers === undefined ? {} : { headers: options.headers }),
    ...(options.delay === undefined ? {} : { delay: options.delay })
  })

/**
 * One named SSE frame, `event: <type>\ndata: <json>\n\n`, the event name taken from the data's `type`.
 *
 * @example
 * ```ts
 * import { CohereMock } from "liter-llm/testing"
 *
 * const end = CohereMock.frame({ type: "message-end", delta: { finish_reason: "COMPLETE" } })
 * ```
 *
 * @since 0.1.0
 * @category frames
 */
export const frame = (data: { readonly type: string } & Record<string, unknown>): string =>
  `event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`

/**
 * The un-named terminator Cohere sends after `message-end`.
 *
 * @example
 * ```ts
 * import { CohereMock, MockProvider } from "liter-llm/testing"
 *
 * const reply = MockProvider.stream([...CohereMock.streamFrames({ deltas: ["Hi"] }), CohereMock.done])
 * ```
 *
 * @since 0.1.0
 * @category frames
 */
export const done = "data: [DONE]\n\n"

/**
 * A `message-end` frame with `finish_reason: ERROR` and its `error` message, as Cohere ends a failed generation.
 *
 * @example
 * ```ts
 * import { CohereMock, MockProvider } from "liter-llm/testing"
 *
 * const failed = MockProvider.stream([CohereMock.errorFrame("internal error"), CohereMock.done])
 * ```
 *
 * @since 0.1.0
 * @category frames
 */
export const errorFrame = (message = "internal server error", finishReason = "ERROR"): string =>
  frame({ type: "message-end", delta: { error: message, finish_reason: finishReason } })

/**
 * What a streamed response says.
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamOptions {
  /** Text deltas of one text content block, one frame each; default `["Hello", " from", " the", " mock."]`, or none with tool calls. */
  readonly deltas?: ReadonlyArray<string> | undefined
  /** Thinking deltas of a `thinking` content block before the text. */
  readonly thinking?: ReadonlyArray<string> | undefined
  /** `tool-plan-delta` frames before the tool calls. */
  readonly toolPlan?: ReadonlyArray<string> | undefined
  /** Each a `tool-call-start` (with empty arguments), one `tool-call-delta` per chunk, a `tool-call-end`. */
  readonly toolCalls?:
    | ReadonlyArray<{ readonly id: string; readonly name: string; readonly argumentChunks: ReadonlyArray<string> }>
    | undefined
  /** Each a `citation-start` / `citation-end` pair after the text deltas. */
  readonly citations?: ReadonlyArray<unknown> | undefined
  /** Default `"COMPLETE"`, or `"TOOL_CALL"` when there are tool calls. */
  readonly finishReason?: string | undefined
  readonly id?: string | undefined
  /** Default `{ inputTokens: 10, outputTokens: <number of deltas> }`; `null` sends no usage. */
  readonly usage?: Usage | null | undefined
  /** End with a `message-end` of `finish_reason: ERROR` right after the first `after` text deltas. */
  readonly error?: { readonly after: number; readonly message?: string | undefined } | undefined
}

/**
 * The frames of a streamed response, in order, without the trailing `data: [DONE]`.
 *
 * @example
 * ```ts
 * import { CohereMock, MockProvider } from "liter-llm/testing"
 *
 * // the same frames with a keep-alive comment after message-start
 * const [start, ...rest] = CohereMock.streamFrames({ deltas: ["Hi"] })
 * const reply = MockProvider.stream([start!, ": keep-alive\n\n", ...rest, CohereMock.done])
 * ```
 *
 * @since 0.1.0
 * @category frames
 */
export const streamFrames = (options: StreamOptions = {}): Array<string> => {
  const toolCalls = options.toolCalls ?? []
  // As `chatBody`: no default text beside tool calls.
  const deltas = options.deltas ?? (toolCalls.length > 0 ? [] : ["Hello", " from", " the", " mock."])
  const usage = options.usage === undefined ? { inputTokens: 10, outputTokens: deltas.length } : options.usage
  const frames: Array<string> = [frame({
    id: options.id ?? "mock-chat-id",
    type: "message-start",
    delta: { message: { role: "assistant", content: [], tool_plan: "", tool_calls: [], citations: [] } }
  })]
  let index = 0
  if (options.thinking !== undefined) {
    frames.push(
      frame({ type: "content-start", index, delta: { message: { content: { type: "thinking", thinking: "" } } } })
    )
    for (const thinking of options.thinking) {
      frames.push(frame({ type: "content-delta", index, delta: { message: { content: { thinking } } } }))
    }
    frames.push(frame({ type: "content-end", index }))
    index++
  }
  if (deltas.length > 0 || options.error !== undefined) {
    frames.push(frame({ type: "content-start", index, delta: { message: { content: { type: "text", text: "" } } } }))
    for (const [i, text] of deltas.entries()) {
      if (options.error !== undefined && i === options.error.after) {
        return [...frames, errorFrame(options.error.message)]
      }
      frames.push(frame({ type: "content-delta", index, delta: { message: { content: { text } } } }))
    }
    if (options.error !== undefined) return [...frames, errorFrame(options.error.message)]
    for (const citation of options.citations ?? []) {
      frames.push(frame({ type: "citation-start", index, delta: { message: { citations: citation } } }))
      frames.push(frame({ type: "citation-end", index }))
    }
    frames.push(frame({ type: "content-end", index }))
  }
  for (const tool_plan of options.toolPlan ?? []) {
    frames.push(frame({ type: "tool-plan-delta", delta: { message: { tool_plan } } }))
  }
  toolCalls.forEach((call, i) => {
    frames.push(frame({
      type: "tool-call-start",
      index: i,
      delta: {
        message: { tool_calls: { id: call.id, type: "function", function: { name: call.name, arguments: "" } } }
      }
    }))
    for (const piece of call.argumentChunks) {
      frames.push(frame({
        type: "tool-call-delta",
        index: i,
        delta: { message: { tool_calls: { function: { arguments: piece } } } }
      }))
    }
    frames.push(frame({ type: "tool-call-end", index: i }))
  })
  frames.push(frame({
    type: "message-end",
    delta: {
      finish_reason: options.finishReason ?? (toolCalls.length > 0 ? "TOOL_CALL" : "COMPLETE"),
      ...(usage === null ? {} : { usage: usageBody(usage) })
    }
  }))
  return frames
}

/**
 * A `200` streamed v2 Chat reply, one frame per chunk, ending with `data: [DONE]` unless `done: false`. `cutAfter`
 * counts frames: `message-start`, the text `content-start`, then one per delta.
 *
 * @example
 * ```ts
 * import { CohereMock } from "liter-llm/testing"
 *
 * // two text deltas, then message-end with finish_reason ERROR
 * const failing = CohereMock.stream({ deltas: ["a", "b", "c"], error: { after: 2 } })
 * ```
 *
 * @since 0.1.0
 * @category replies
 */
export const stream = (options: StreamOptions = {}, reply: MockProvider.SseOptions = {}): MockProvider.StreamReply => {
  const { done: withDone = true, ...rest } = reply
  const frames = streamFrames(options)
  return MockProvider.stream(withDone ? [...frames, done] : frames, rest)
}
