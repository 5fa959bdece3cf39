/**
 * Replies in the Gemini (Generative Language API) wire format, for scripting a `MockProvider` that stands in
 * for `generativelanguage.googleapis.com`: whole responses, SSE streams with the real API's CRLF line endings,
 * JSON-array streams, the raw JSON error object Gemini writes into a 200 stream, and Google error bodies.
 *
 * @since 0.1.0
 */
import type * as ChatResponse from "../ChatResponse.js"
import * as MockProvider from "./MockProvider.js"

/**
 * Token counts, named as in `ChatResponse.Usage`: a call answered with them reports exactly these numbers
 * (`totalTokens` is their sum). `outputTokens` includes the `reasoningTokens`, so the wire's
 * `candidatesTokenCount` is what remains; fields left out are not sent.
 *
 * @since 0.1.0
 * @category models
 */
export type Usage = Omit<ChatResponse.Usage, "totalTokens" | "cacheWriteTokens">

const defaultModel = "gemini-2.5-flash"

/**
 * The model a request asked for, read from its path (`.../models/{model}:generateContent`), without the
 * `models/` prefix.
 *
 * @example
 * ```ts
 * import { GeminiMock, MockProvider } from "liter-llm/testing"
 *
 * const echo = MockProvider.fromRequest((request) => MockProvider.json({ asked: GeminiMock.requestedModel(request) }))
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const requestedModel = (request: MockProvider.RecordedRequest): string | undefined => {
  const match = /\/(models\/|tunedModels\/)([^/:?]+):/.exec(request.path)
  if (match === null) return undefined
  const name = decodeURIComponent(match[2]!)
  return match[1] === "models/" ? name : `tunedModels/${name}`
}

/**
 * A function call of a mock response; `signature` is sent as the part's `thoughtSignature`.
 *
 * @since 0.1.0
 * @category models
 */
export interface FunctionCall {
  readonly name: string
  readonly arguments?: Readonly<Record<string, unknown>> | undefined
  readonly signature?: string | undefined
}

/**
 * What a response says; everything has a realistic default.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResponseOptions {
  /** Default `"Hello from the mock."`, or none when there are function calls. */
  readonly text?: string | undefined
  /** A thought summary (`thought: true` part) before the text. */
  readonly reasoning?: string | undefined
  readonly functionCalls?: ReadonlyArray<FunctionCall> | undefined
  /** Default `"STOP"`. */
  readonly finishReason?: string | undefined
  /** The `modelVersion`; default: the model of the request, else `"gemini-2.5-flash"`. */
  readonly model?: string | undefined
  /** The `responseId`, default `"mock-response-id"`. */
  readonly id?: string | undefined
  /** Default `{ inputTokens: 10, outputTokens: 5 }`; `null` sends no `usageMetadata`. */
  readonly usage?: Usage | null | undefined
  /** Extra top-level fields (e.g. `promptFeedback`). */
  readonly extra?: Readonly<Record<string, unknown>> | undefined
}

const usageMetadata = (usage: Usage): Record<string, unknown> => ({
  promptTokenCount: usage.inputTokens,
  candidatesTokenCount: usage.outputTokens - (usage.reasoningTokens ?? 0),
  totalTokenCount: usage.inputTokens + usage.outputTokens,
  ...(usage.reasoningTokens === undefined ? {} : { thoughtsTokenCount: usage.reasoningTokens }),
  ...(usage.cachedInputTokens === undefined ? {} : { cachedContentTokenCount: usage.cachedInputTokens })
})

const callPart = (call: FunctionCall) => ({
  functionCall: { name: call.name, args: call.arguments ?? {} },
  ...(call.signature === undefined ? {} : { thoughtSignature: call.signature })
})

/**
 * The body of a `generateContent` response.
 *
 * @example
 * ```ts
 * import { GeminiMock } from "liter-llm/testing"
 *
 * const body = GeminiMock.responseBody({ functionCalls: [{ name: "weather", arguments: { city: "Paris" } }] })
 * ```
 *
 * @since 0.1.0
 * @category bodies
 */
export const responseBody = (options: ResponseOptions = {}): Record<string, unknown> => {
  const calls = options.functionCalls ?? []
  const text = options.text ?? (calls.length > 0 ? undefined : "Hello from the mock.")
  const usage = options.usage === undefined ? { inputTokens: 10, outputTokens: 5 } : options.usage
  return {
    candidates: [{
      content: {
        role: "model",
        parts: [
          ...(options.reasoning === undefined ? [] : [{ text: options.reasoning, thought: true }]),
          ...(text === undefined ? [] : [{ text }]),
          ...calls.map(callPart)
        ]
      },
      finishReason: options.finishReason ?? "STOP",
      index: 0
    }],
    ...(usage === null ? {} : { usageMetadata: usageMetadata(usage) }),
    modelVersion: options.model ?? defaultModel,
    responseId: options.id ?? "mock-response-id",
    ...options.extra
  }
}

/**
 * A `200` `generateContent` reply, answering with the requested model unless `model` is given.
 *
 * @example
 * ```ts
 * import { GeminiMock, MockProvider } from "liter-llm/testing"
 *
 * const server = MockProvider.make({
 *   script: [GeminiMock.error(429, { retryDelay: "1.5s" }), GeminiMock.response({ text: "Paris" })]
 * })
 * ```
 *
 * @since 0.1.0
 * @category replies
 */
export const response = (
  options: ResponseOptions = {},
  reply: MockProvider.ReplyOptions = {}
): MockProvider.FromRequest =>
  MockProvider.fromRequest((request) =>
    MockProvider.json(responseBody({ ...options, model: options.model ?? requestedModel(request) }), reply)
  )

/**
 * What a streamed response says.
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamOptions {
  /** Thought summary deltas, one chunk each, before the text. */
  readonly reasoning?: ReadonlyArray<string> | undefined
  /** The text deltas, one chunk each; default `["Hello", " from", " the", " mock."]`, or none with function calls. */
  readonly deltas?: ReadonlyArray<string> | undefined
  /** Whole function calls, all in one chunk after the text. */
  readonly functionCalls?: ReadonlyArray<FunctionCall> | undefined
  /** Default `"STOP"`, sent on the last chunk. */
  readonly finishReason?: string | undefined
  /** The `modelVersion`; default: the model of the request, else `"gemini-2.5-flash"`. */
  readonly model?: string | undefined
  readonly id?: string | undefined
  /** Sent on the last chunk; default `{ inputTokens: 10, outputTokens: <number of deltas> }`; `null` sends none. */
  readonly usage?: Usage | null | undefined
  /**
   * After the chunks, the raw multi-line JSON error object Gemini writes into a 200 stream (no `data:`),
   * and no finish reason. `retryDelay` (e.g. `"3.5s"`) adds its `RetryInfo` detail, as on a 429.
   */
  readonly error?:
    | { readonly code: number; readonly status: string; readonly message: string; readonly retryDelay?: string }
    | undefined
}

/**
 * The `GenerateContentResponse` chunks of a stream, in order (the error object excluded).
 *
 * @example
 * ```ts
 * import { GeminiMock, MockProvider } from "liter-llm/testing"
 *
 * // the same chunks with LF line endings instead of CRLF
 * const reply = MockProvider.sse(GeminiMock.streamEvents({ deltas: ["Hel", "lo"] }), { done: false })
 * ```
 *
 * @since 0.1.0
 * @category bodies
 */
export const streamEvents = (options: StreamOptions = {}): Array<Record<string, unknown>> => {
  const meta = { modelVersion: options.model ?? defaultModel, responseId: options.id ?? "mock-response-id" }
  const calls = options.functionCalls ?? []
  // As the whole-body builder: no default text beside function calls.
  const deltas = options.deltas ?? (calls.length > 0 ? [] : ["Hello", " from", " the", " mock."])
  const chunks: Array<ReadonlyArray<unknown>> = [
    ...(options.reasoning ?? []).map((text) => [{ text, thought: true }]),
    ...deltas.map((text) => [{ text }]),
    ...(calls.length === 0 ? [] : [calls.map(callPart)])
  ]
  if (chunks.length === 0 && options.error === undefined) chunks.push([{ text: "" }])
  const usage = options.usage === undefined ? { inputTokens: 10, outputTokens: deltas.length } : options.usage
  return chunks.map((parts, index) => {
    const last = index === chunks.length - 1 && options.error === undefined
    return {
      candidates: [{
        content: { role: "model", parts },
        ...(last ? { finishReason: options.finishReason ?? "STOP" } : {}),
        index: 0
      }],
      ...(last && usage !== null ? { usageMetadata: usageMetadata(usage) } : {}),
      ...meta
    }
  })
}

/**
 * The raw error object Gemini writes into a stream, pretty-printed over several lines as the API does.
 *
 * @example
 * ```ts
 * import { GeminiMock, MockProvider } from "liter-llm/testing"
 *
 * const reply = MockProvider.stream([GeminiMock.streamErrorText({ code: 500, status: "INTERNAL", message: "boom" })])
 * ```
 *
 * @since 0.1.0
 * @category bodies
 */
export const streamErrorText = (error: NonNullable<StreamOptions["error"]>): string =>
  JSON.stringify(
    {
      error: {
        code: error.code,
        message: error.message,
        status: error.status,
        ...(error.retryDelay === undefined ? {} : { details: [retryInfo(error.retryDelay)] })
      }
    },
    null,
    2
  ) + "\n"

const retryInfo = (retryDelay: string) => ({ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay })

/**
 * A `200` SSE reply (`alt=sse`): one chunk `data: <json>\r\n\r\n` per event, as the real API writes them, with
 * the requested model unless `model` is given.
 * `chunkDelay` / `cutAfter` from `MockProvider.stream` script timing and faults; the error object, if any,
 * is one more chunk.
 *
 * @example
 * ```ts
 * import { GeminiMock } from "liter-llm/testing"
 *
 * // three text chunks, then a 503 error object inside the 200 stream
 * const failing = GeminiMock.stream({
 *   deltas: ["a", "b", "c"],
 *   error: { code: 503, status: "UNAVAILABLE", message: "The model is overloaded." }
 * })
 * ```
 *
 * @since 0.1.0
 * @category replies
 */
export const stream = (
  options: StreamOptions = {},
  reply: MockProvider.StreamOptions = {}
): MockProvider.FromRequest =>
  MockProvider.fromRequest((request) =>
    MockProvider.stream(
      [
        ...streamEvents({ ...options, model: options.model ?? requestedModel(request) }).map((event) =>
          `data: ${JSON.stringify(event)}\r\n\r\n`
        ),
        ...(options.error === undefined ? [] : [streamErrorText(options.error)])
      ],
      { contentType: "text/event-stream", ...reply }
    )
  )

/**
 * A `200` stream in the JSON-array format of `streamGenerateContent` without `alt=sse`: `[{...}` then
 * `\n,\r\n{...}` per element, then `\n]`, one chunk each; with the requested model unless `model` is given.
 *
 * @example
 * ```ts
 * import { GeminiMock } from "liter-llm/testing"
 *
 * const reply = GeminiMock.jsonArray({ deltas: ["Hel", "lo"] })
 * ```
 *
 * @since 0.1.0
 * @category replies
 */
export const jsonArray = (
  options: StreamOptions = {},
  reply: MockProvider.StreamOptions = {}
): MockProvider.FromRequest =>
  MockProvider.fromRequest((request) => {
    const elements = streamEvents({ ...options, model: options.model ?? requestedModel(request) }).map((event, index) =>
      `${index === 0 ? "[" : "\n,\r\n"}${JSON.stringify(event)}`
    )
    return MockProvider.stream([...elements, "\n]"], { contentType: "application/json", ...reply })
  })

const statusNames: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  409: "ABORTED",
  429: "RESOURCE_EXHAUSTED",
  499: "CANCELLED",
  500: "INTERNAL",
  501: "UNIMPLEMENTED",
  503: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED"
}

/**
 * What an error body says.
 *
 * @since 0.1.0
 * @category models
 */
export interface ErrorOptions {
  /** The `google.rpc.Code` name; default from the HTTP status (429 → `RESOURCE_EXHAUSTED`, ...). */
  readonly status?: string | undefined
  readonly message?: string | undefined
  /** A `google.rpc.RetryInfo` detail, e.g. `"1.5s"`. */
  readonly retryDelay?: string | undefined
  /** A `google.rpc.QuotaFailure` detail naming a per-day quota (`true`) or a per-minute one (`false`). */
  readonly quotaPerDay?: boolean | undefined
  /** A `google.rpc.ErrorInfo` detail with this reason, e.g. `"API_KEY_INVALID"`. */
  readonly reason?: string | undefined
}

/**
 * An error reply with Google's body `{"error": {code, message, status, details}}`.
 *
 * @example
 * ```ts
 * import { GeminiMock } from "liter-llm/testing"
 *
 * const limited = GeminiMock.error(429, { retryDelay: "32s" })
 * const daily = GeminiMock.error(429, { quotaPerDay: true })
 * ```
 *
 * @since 0.1.0
 * @category replies
 */
export const error = (
  status: number,
  options: ErrorOptions = {},
  reply: Omit<MockProvider.ReplyOptions, "status"> = {}
): MockProvider.JsonReply => {
  const details: Array<Record<string, unknown>> = []
  if (options.reason !== undefined) {
    details.push({
      "@type": "type.googleapis.com/google.rpc.ErrorInfo",
      reason: options.reason,
      domain: "googleapis.com",
      metadata: { service: "generativelanguage.googleapis.com" }
    })
  }
  if (options.quotaPerDay !== undefined) {
    const quotaId = options.quotaPerDay
      ? "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
      : "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
    details.push({ "@type": "type.googleapis.com/google.rpc.QuotaFailure", violations: [{ quotaId }] })
  }
  if (options.retryDelay !== undefined) {
    details.push(retryInfo(options.retryDelay))
  }
  return MockProvider.error(status, {
    error: {
      code: status,
      message: options.message ?? `mock error ${status}`,
      status: options.status ?? statusNames[status] ?? (status >= 500 ? "INTERNAL" : "INVALID_ARGUMENT"),
      ...(details.length === 0 ? {} : { details })
    }
  }, reply)
}
