/**
 * Replies in the Anthropic Messages wire format, for scripting a `MockProvider` that stands in for Anthropic:
 * message bodies, streams of named SSE events (with an optional `error` event mid-stream), and error bodies.
 *
 * @since 0.1.0
 */
import type * as ChatResponse from "../ChatResponse.js"
import { isObject, stringOf } from "../internal/json.js"
import * as MockProvider from "./MockProvider.js"

/**
 * Token counts, named as in `ChatResponse.Usage`: a call answered with them reports exactly these numbers
 * (`totalTokens` is their sum). `inputTokens` includes the cache reads and writes, so the wire's
 * `input_tokens` is what remains; fields left out are not sent.
 *
 * @since 0.1.0
 * @category models
 */
export type Usage = Omit<ChatResponse.Usage, "totalTokens">

const defaultModel = "claude-sonnet-4-5"

/**
 * The model a request asked for: the body's `model`.
 *
 * @example
 * ```ts
 * import { AnthropicMock, MockProvider } from "liter-llm/testing"
 *
 * const echo = MockProvider.fromRequest((request) => MockProvider.json({ asked: AnthropicMock.requestedModel(request) }))
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const requestedModel = (request: MockProvider.RecordedRequest): string | undefined =>
  stringOf(isObject(request.body) ? request.body.model : undefined)

/**
 * A tool call the model makes.
 *
 * @since 0.1.0
 * @category models
 */
export interface ToolUse {
  readonly id: string
  readonly name: string
  readonly input: unknown
}

/**
 * What a message says; everything has a realistic default.
 *
 * @since 0.1.0
 * @category models
 */
export interface MessageOptions {
  /** Default `"Hello from the mock."`, or none when there are tool calls; `null` sends no text block. */
  readonly text?: string | null | undefined
  /** A signed thinking block before the text. */
  readonly thinking?: { readonly text: string; readonly signature: string } | undefined
  readonly toolCalls?: ReadonlyArray<ToolUse> | undefined
  /** Default `"end_turn"`, or `"tool_use"` when there are tool calls. */
  readonly stopReason?: string | undefined
  readonly stopSequence?: string | undefined
  /** Default: the model of the request, else `"claude-sonnet-4-5"`. */
  readonly model?: string | undefined
  readonly id?: string | undefined
  /** Default `{ inputTokens: 10, outputTokens: 5 }`; `null` sends no usage. */
  readonly usage?: Usage | null | undefined
  /** Raw content blocks, replacing those built from `text`, `thinking` and `toolCalls`. */
  readonly content?: ReadonlyArray<Record<string, unknown>> | undefined
}

const wireUsage = (usage: Usage): Record<string, unknown> => ({
  input_tokens: usage.inputTokens - (usage.cachedInputTokens ?? 0) - (usage.cacheWriteTokens ?? 0),
  ...(usage.cacheWriteTokens === undefined ? {} : { cache_creation_input_tokens: usage.cacheWriteTokens }),
  ...(usage.cachedInputTokens === undefined ? {} : { cache_read_input_tokens: usage.cachedInputTokens }),
  output_tokens: usage.outputTokens,
  ...(usage.reasoningTokens === undefined ? {} : { output_tokens_details: { thinking_tokens: usage.reasoningTokens } })
})

/**
 * The body of a non-streaming Messages response.
 *
 * @example
 * ```ts
 * import { AnthropicMock } from "liter-llm/testing"
 *
 * const body = AnthropicMock.messageBody({ toolCalls: [{ id: "toolu_1", name: "weather", input: { city: "Paris" } }] })
 * // body.stop_reason === "tool_use"
 * ```
 *
 * @since 0.1.0
 * @category bodies
 */
export const messageBody = (options: MessageOptions = {}): Record<string, unknown> => {
  const toolCalls = options.toolCalls ?? []
  const usage = options.usage === undefined ? { inputTokens: 10, outputTokens: 5 } : options.usage
  const text = options.text === undefined ? (toolCalls.length > 0 ? null : "Hello from the mock.") : options.text
  const content = options.content ?? [
    ...(options.thinking === undefined
      ? []
      : [{ type: "thinking", thinking: options.thinking.text, signature: options.thinking.signature }]),
    ...(text === null ? [] : [{ type: "text", text }]),
    ...toolCalls.map((call) => ({ type: "tool_use", id: call.id, name: call.name, input: call.input }))
  ]
  return {
    id: options.id ?? "msg_mock",
    type: "message",
    role: "assistant",
    model: options.model ?? defaultModel,
    content,
    stop_reason: options.stopReason ?? (toolCalls.length > 0 ? "tool_use" : "end_turn"),
    stop_sequence: options.stopSequence ?? null,
    ...(usage === null ? {} : { usage: wireUsage(usage) })
  }
}

/**
 * A `200` Messages reply, answering with the requested model unless `model` is given.
 *
 * @example
 * ```ts
 * import { AnthropicMock, MockProvider } from "liter-llm/testing"
 *
 * const server = MockProvider.make({
 *   script: [AnthropicMock.error(529, "overloaded_error"), AnthropicMock.message({ text: "Paris" })]
 * })
 * ```
 *
 * @since 0.1.0
 * @category replies
 */
export const message = (
  options: MessageOptions = {},
  reply: MockProvider.ReplyOptions = {}
): MockProvider.FromRequest =>
  MockProvider.fromRequest((request) =>
    MockProvider.json(messageBody({ ...options, model: options.model ?? requestedModel(request) }), reply)
  )

/**
 * The body of an error: `{"type":"error","error":{"type","message"},"request_id"}`.
 *
 * @example
 * ```ts
 * import { AnthropicMock, MockProvider } from "liter-llm/testing"
 *
 * // an error body with an unusual status
 * const reply = MockProvider.error(418, AnthropicMock.errorBody("api_error", "teapot", "req_1"))
 * ```
 *
 * @since 0.1.0
 * @category bodies
 */
export const errorBody = (
  type: string,
  message = `mock ${type}`,
  requestId?: string | undefined
): Record<string, unknown> => ({
  type: "error",
  error: { type, message },
  ...(requestId === undefined ? {} : { request_id: requestId })
})

/**
 * An error reply with Anthropic's error body; the `type` (e.g. `"overloaded_error"`, `"rate_limit_error"`)
 * defaults to the one Anthropic uses for the status.
 *
 * @example
 * ```ts
 * import { AnthropicMock } from "liter-llm/testing"
 *
 * const limited = AnthropicMock.error(429, "rate_limit_error", { headers: { "retry-after": "2" } })
 * const tooLong = AnthropicMock.error(400, "invalid_request_error", { message: "prompt is too long: 210000 tokens > 200000 maximum" })
 * ```
 *
 * @since 0.1.0
 * @category replies
 */
export const error = (
  status: number,
  type: string = defaultErrorType(status),
  options: Omit<MockProvider.ReplyOptions, "status"> & {
    readonly message?: string | undefined
    readonly requestId?: string | undefined
  } = {}
): MockProvider.JsonReply =>
  MockProvider.error(status, errorBody(type, options.message, options.requestId), {
    ...(options.headers === undefined ? {} : { headers: options.headers }),
    ...(options.delay === undefined ? {} : { delay: options.delay })
  })

const defaultErrorType = (status: number): string => {
  switch (status) {
    case 401:
      return "authentication_error"
    case 402:
      return "billing_error"
    case 403:
      return "permission_error"
    case 404:
      return "not_found_error"
    case 413:
      return "request_too_large"
    case 429:
      return "rate_limit_error"
    case 504:
      return "timeout_error"
    case 529:
      return "overloaded_error"
  }
  return status >= 500 ? "api_error" : "invalid_request_error"
}

/**
 * One named SSE frame, `event: <type>\ndata: <json>\n\n`, the event name taken from the data's `type`.
 *
 * @example
 * ```ts
 * import { AnthropicMock } from "liter-llm/testing"
 *
 * const ping = AnthropicMock.frame({ type: "ping" })
 * ```
 *
 * @since 0.1.0
 * @category frames
 */
export const frame = (data: { readonly type: string } & Record<string, unknown>): string =>
  `event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`

/**
 * An `event: error` frame, as Anthropic sends inside a 200 stream (default `overloaded_error`).
 *
 * @example
 * ```ts
 * import { AnthropicMock, MockProvider } from "liter-llm/testing"
 *
 * const overloaded = MockProvider.stream([AnthropicMock.errorFrame()])
 * ```
 *
 * @since 0.1.0
 * @category frames
 */
export const errorFrame = (type = "overloaded_error", message = "Overloaded"): string =>
  frame({ type: "error", error: { type, message } })

/**
 * What a streamed message says.
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamOptions {
  /** Text deltas of one text block, one frame each; default `["Hello", " from", " the", " mock."]`, or none with tool calls. */
  readonly deltas?: ReadonlyArray<string> | undefined
  /** A thinking block before the text: its deltas, then its `signature_delta`. */
  readonly thinking?: { readonly deltas: ReadonlyArray<string>; readonly signature: string } | undefined
  /** Tool-use blocks after the text, each a start frame, an empty `input_json_delta`, then one frame per chunk. */
  readonly toolCalls?:
    | ReadonlyArray<{ readonly id: string; readonly name: string; readonly argumentChunks: ReadonlyArray<string> }>
    | undefined
  /** Default `"end_turn"`, or `"tool_use"` when there are tool calls. */
  readonly stopReason?: string | undefined
  /** Default: the model of the request, else `"claude-sonnet-4-5"`. */
  readonly model?: string | undefined
  readonly id?: string | undefined
  /**
   * `message_start` reports the input and an output of 1; `message_delta` the cumulative totals. Default
   * `{ inputTokens: 10, outputTokens: <number of deltas> }`.
   */
  readonly usage?: Usage | undefined
  /** Replace everything after the first `after` text deltas by an `event: error` frame (and end there). */
  readonly error?:
    | { readonly after: number; readonly type?: string | undefined; readonly message?: string | undefined }
    | undefined
}

/**
 * The frames of a streamed message, in order: `message_start`, `ping`, the blocks, `message_delta`,
 * `message_stop`.
 *
 * @example
 * ```ts
 * import { AnthropicMock, MockProvider } from "liter-llm/testing"
 *
 * // the same frames with a keep-alive comment after message_start
 * const [start, ...rest] = AnthropicMock.streamFrames({ deltas: ["Hi"] })
 * const reply = MockProvider.stream([start!, ": keep-alive\n\n", ...rest])
 * ```
 *
 * @since 0.1.0
 * @category frames
 */
export const streamFrames = (options: StreamOptions = {}): Array<string> => {
  const toolCalls = options.toolCalls ?? []
  // As `messageBody`: no default text beside tool calls.
  const deltas = options.deltas ?? (toolCalls.length > 0 ? [] : ["Hello", " from", " the", " mock."])
  const usage = options.usage ?? { inputTokens: 10, outputTokens: deltas.length }
  const frames: Array<string> = [
    frame({
      type: "message_start",
      message: {
        id: options.id ?? "msg_mock",
        type: "message",
        role: "assistant",
        model: options.model ?? defaultModel,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: wireUsage({ ...usage, outputTokens: 1 })
      }
    }),
    frame({ type: "ping" })
  ]
  let index = 0
  if (options.thinking !== undefined) {
    frames.push(frame({
      type: "content_block_start",
      index,
      content_block: { type: "thinking", thinking: "", signature: "" }
    }))
    for (const thinking of options.thinking.deltas) {
      frames.push(frame({ type: "content_block_delta", index, delta: { type: "thinking_delta", thinking } }))
    }
    frames.push(frame({
      type: "content_block_delta",
      index,
      delta: { type: "signature_delta", signature: options.thinking.signature }
    }))
    frames.push(frame({ type: "content_block_stop", index }))
    index++
  }
  if (deltas.length > 0 || options.error !== undefined) {
    frames.push(frame({ type: "content_block_start", index, content_block: { type: "text", text: "" } }))
    for (const [i, text] of deltas.entries()) {
      if (options.error !== undefined && i === options.error.after) {
        return [...frames, errorFrame(options.error.type, options.error.message)]
      }
      frames.push(frame({ type: "content_block_delta", index, delta: { type: "text_delta", text } }))
    }
    if (options.error !== undefined) return [...frames, errorFrame(options.error.type, options.error.message)]
    frames.push(frame({ type: "content_block_stop", index }))
    index++
  }
  for (const call of toolCalls) {
    frames.push(frame({
      type: "content_block_start",
      index,
      content_block: { type: "tool_use", id: call.id, name: call.name, input: {} }
    }))
    for (const partial_json of ["", ...call.argumentChunks]) {
      frames.push(frame({ type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json } }))
    }
    frames.push(frame({ type: "content_block_stop", index }))
    index++
  }
  frames.push(frame({
    type: "message_delta",
    delta: { stop_reason: options.stopReason ?? (toolCalls.length > 0 ? "tool_use" : "end_turn"), stop_sequence: null },
    usage: wireUsage(usage)
  }))
  frames.push(frame({ type: "message_stop" }))
  return frames
}

/**
 * A `200` streamed Messages reply, one frame per chunk (so `cutAfter` counts frames: `message_start`, `ping`,
 * the text block start, then one per delta), with the requested model unless `model` is given.
 *
 * @example
 * ```ts
 * import { AnthropicMock } from "liter-llm/testing"
 *
 * // two text deltas, then an overloaded_error event
 * const failing = AnthropicMock.stream({ deltas: ["a", "b", "c"], error: { after: 2 } })
 * ```
 *
 * @since 0.1.0
 * @category replies
 */
export const stream = (options: StreamOptions = {}, reply: MockProvider.StreamOptions = {}): MockProvider.FromRequest =>
  MockProvider.fromRequest((request) =>
    MockProvider.stream(streamFrames({ ...options, model: options.model ?? requestedModel(request) }), reply)
  )
