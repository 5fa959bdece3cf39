/**
 * Replies in the OpenAI Chat Completions wire format, for scripting a `MockProvider` that stands in for
 * OpenAI, Azure OpenAI or an OpenAI-compatible server.
 *
 * @since 0.1.0
 */
import type * as ChatResponse from "../ChatResponse.js"
import { isObject, stringOf } from "../internal/json.js"
import * as MockProvider from "./MockProvider.js"

/**
 * Token counts, named as in `ChatResponse.Usage`: a call answered with them reports exactly these numbers
 * (`totalTokens` is their sum). Fields left out are not sent.
 *
 * @since 0.1.0
 * @category models
 */
export type Usage = Omit<ChatResponse.Usage, "totalTokens" | "cacheWriteTokens">

const defaultModel = "gpt-4o-mini"

/**
 * The model a request asked for: the body's `model`, else the Azure deployment in the path.
 *
 * @example
 * ```ts
 * import { MockProvider, OpenAiMock } from "liter-llm/testing"
 *
 * const echo = MockProvider.fromRequest((request) => MockProvider.json({ asked: OpenAiMock.requestedModel(request) }))
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const requestedModel = (request: MockProvider.RecordedRequest): string | undefined => {
  const deployment = /\/deployments\/([^/?]+)/.exec(request.path)?.[1]
  return stringOf(isObject(request.body) ? request.body.model : undefined) ??
    (deployment === undefined ? undefined : decodeURIComponent(deployment))
}

const wireUsage = (usage: Usage): Record<string, unknown> => ({
  prompt_tokens: usage.inputTokens,
  completion_tokens: usage.outputTokens,
  total_tokens: usage.inputTokens + usage.outputTokens,
  ...(usage.cachedInputTokens === undefined
    ? {}
    : { prompt_tokens_details: { cached_tokens: usage.cachedInputTokens } }),
  ...(usage.reasoningTokens === undefined
    ? {}
    : { completion_tokens_details: { reasoning_tokens: usage.reasoningTokens } })
})

/**
 * What a completion says; everything has a realistic default.
 *
 * @since 0.1.0
 * @category models
 */
export interface CompletionOptions {
  readonly text?: string | null | undefined
  readonly refusal?: string | undefined
  readonly toolCalls?:
    | ReadonlyArray<{ readonly id: string; readonly name: string; readonly arguments: unknown }>
    | undefined
  /** Default `"stop"`, or `"tool_calls"` when there are tool calls. */
  readonly finishReason?: string | undefined
  /** Default: the model of the request (see {@link requestedModel}), else `"gpt-4o-mini"`. */
  readonly model?: string | undefined
  readonly id?: string | undefined
  /** Default `{ inputTokens: 10, outputTokens: 5 }`; `null` sends no usage. */
  readonly usage?: Usage | null | undefined
  /** Extra top-level fields (e.g. Azure `prompt_filter_results`). */
  readonly extra?: Readonly<Record<string, unknown>> | undefined
}

/**
 * The body of a `chat.completion`.
 *
 * @example
 * ```ts
 * import { OpenAiMock } from "liter-llm/testing"
 *
 * const body = OpenAiMock.completionBody({ toolCalls: [{ id: "call_1", name: "weather", arguments: { city: "Paris" } }] })
 * // body.choices[0].finish_reason === "tool_calls"
 * ```
 *
 * @since 0.1.0
 * @category bodies
 */
export const completionBody = (options: CompletionOptions = {}): Record<string, unknown> => {
  const toolCalls = options.toolCalls ?? []
  const usage = options.usage === undefined ? { inputTokens: 10, outputTokens: 5 } : options.usage
  return {
    id: options.id ?? "chatcmpl-mock",
    object: "chat.completion",
    created: 0,
    model: options.model ?? defaultModel,
    choices: [{
      index: 0,
      message: {
        role: "assistant",
        content: options.text === undefined ? (toolCalls.length > 0 ? null : "Hello from the mock.") : options.text,
        refusal: options.refusal ?? null,
        ...(toolCalls.length === 0 ? {} : {
          tool_calls: toolCalls.map((call) => ({
            id: call.id,
            type: "function",
            function: {
              name: call.name,
              arguments: typeof call.arguments === "string" ? call.arguments : JSON.stringify(call.arguments)
            }
          }))
        })
      },
      logprobs: null,
      finish_reason: options.finishReason ?? (toolCalls.length > 0 ? "tool_calls" : "stop")
    }],
    ...(usage === null ? {} : { usage: wireUsage(usage) }),
    ...options.extra
  }
}

/**
 * A `200` chat completion reply, answering with the requested model unless `model` is given.
 *
 * @example
 * ```ts
 * import { MockProvider, OpenAiMock } from "liter-llm/testing"
 *
 * const server = MockProvider.make({
 *   script: [OpenAiMock.error(429, "rate_limit_exceeded", { headers: { "retry-after": "1" } }), OpenAiMock.completion({ text: "Paris" })]
 * })
 * ```
 *
 * @since 0.1.0
 * @category replies
 */
export const completion = (
  options: CompletionOptions = {},
  reply: MockProvider.ReplyOptions = {}
): MockProvider.FromRequest =>
  MockProvider.fromRequest((request) =>
    MockProvider.json(completionBody({ ...options, model: options.model ?? requestedModel(request) }), reply)
  )

/**
 * An error reply with OpenAI's error body `{"error": {message, type, param, code}}`.
 *
 * @example
 * ```ts
 * import { OpenAiMock } from "liter-llm/testing"
 *
 * const noQuota = OpenAiMock.error(429, "insufficient_quota", { message: "You exceeded your current quota." })
 * ```
 *
 * @since 0.1.0
 * @category replies
 */
export const error = (
  status: number,
  code: string | null = null,
  options: Omit<MockProvider.ReplyOptions, "status"> & { readonly message?: string; readonly type?: string } = {}
): MockProvider.JsonReply =>
  MockProvider.error(status, {
    error: {
      message: options.message ?? `mock error ${status}${code === null ? "" : ` (${code})`}`,
      type: options.type ?? (status >= 500 ? "server_error" : "invalid_request_error"),
      param: null,
      code
    }
  }, {
    ...(options.headers === undefined ? {} : { headers: options.headers }),
    ...(options.delay === undefined ? {} : { delay: options.delay })
  })

/**
 * What a streamed completion says.
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamOptions {
  /** The text deltas, one chunk each; default `["Hello", " from", " the", " mock."]`, or none with tool calls. */
  readonly deltas?: ReadonlyArray<string> | undefined
  /** Tool calls, each sent as a start chunk then one chunk per argument piece. */
  readonly toolCalls?:
    | ReadonlyArray<{ readonly id: string; readonly name: string; readonly argumentChunks: ReadonlyArray<string> }>
    | undefined
  /** Default `"stop"`, or `"tool_calls"` when there are tool calls. */
  readonly finishReason?: string | undefined
  /** Default: the model of the request (see {@link requestedModel}), else `"gpt-4o-mini"`. */
  readonly model?: string | undefined
  /** Default `{ inputTokens: 10, outputTokens: <number of deltas> }`; `null` sends no usage chunk. */
  readonly usage?: Usage | null | undefined
}

/**
 * The JSON events of a streamed completion, in order (without `[DONE]`).
 *
 * @example
 * ```ts
 * import { MockProvider, OpenAiMock } from "liter-llm/testing"
 *
 * // the same events with a keep-alive comment after the first one
 * const [first, ...rest] = OpenAiMock.streamEvents({ deltas: ["Hi"] })
 * const reply = MockProvider.stream([`data: ${JSON.stringify(first)}\n\n`, ": keep-alive\n\n", ...rest.map((event) => `data: ${JSON.stringify(event)}\n\n`)])
 * ```
 *
 * @since 0.1.0
 * @category bodies
 */
export const streamEvents = (options: StreamOptions = {}): Array<Record<string, unknown>> => {
  const base = {
    id: "chatcmpl-mock",
    object: "chat.completion.chunk",
    created: 0,
    model: options.model ?? defaultModel
  }
  const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
    ...base,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }]
  })
  const toolCalls = options.toolCalls ?? []
  // As `completionBody`: no default text beside tool calls.
  const deltas = options.deltas ?? (toolCalls.length > 0 ? [] : ["Hello", " from", " the", " mock."])
  const events: Array<Record<string, unknown>> = [chunk({ role: "assistant", content: "" })]
  for (const text of deltas) events.push(chunk({ content: text }))
  toolCalls.forEach((call, index) => {
    events.push(chunk({
      tool_calls: [{ index, id: call.id, type: "function", function: { name: call.name, arguments: "" } }]
    }))
    for (const piece of call.argumentChunks) {
      events.push(chunk({ tool_calls: [{ index, function: { arguments: piece } }] }))
    }
  })
  events.push(chunk({}, options.finishReason ?? (toolCalls.length > 0 ? "tool_calls" : "stop")))
  const usage = options.usage === undefined ? { inputTokens: 10, outputTokens: deltas.length } : options.usage
  if (usage !== null) events.push({ ...base, choices: [], usage: wireUsage(usage) })
  return events
}

/**
 * A `200` SSE reply streaming a completion, ending with `data: [DONE]`, with the requested model unless `model`
 * is given. `chunkDelay` / `cutAfter` from
 * `MockProvider.sse` script timing and faults (the first event is the role chunk, then one per delta). `hang`
 * keeps the body open after `[DONE]`, where the stream ends anyway; for a stream that stalls mid-answer, send
 * `streamEvents(...).slice(0, n)` with `MockProvider.sse(events, { done: false, hang: true })`.
 *
 * @example
 * ```ts
 * import { OpenAiMock } from "liter-llm/testing"
 *
 * // five content chunks, then the connection is cut
 * const cut = OpenAiMock.stream({ deltas: ["a", "b", "c", "d", "e", "f"] }, { cutAfter: 6 })
 * ```
 *
 * @since 0.1.0
 * @category replies
 */
export const stream = (options: StreamOptions = {}, reply: MockProvider.SseOptions = {}): MockProvider.FromRequest =>
  MockProvider.fromRequest((request) =>
    MockProvider.sse(streamEvents({ ...options, model: options.model ?? requestedModel(request) }), reply)
  )
