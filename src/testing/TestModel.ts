/**
 * A scripted `LanguageModel` for unit tests of code that uses liter-llm: each call takes the next reply of
 * the script (a response, a shorthand text, or an `LlmError` to fail with) and every request is recorded.
 * Like a provider layer, it prices each response and usage part with the current `Pricing` (at its provider
 * name, for the requested model, then the answering one), unless the reply carries its own `costUsd`; a
 * scripted response that is no `ChatResponse` (a field of the wrong type or unknown, chunks that are not
 * strings), a usage no provider could report (a count missing, negative, fractional or unsafe) or a `costUsd` that
 * is no amount (negative, NaN, infinite) fails as `MalformedResponse`, as a provider layer fails on such a report;
 * and a stream emits one part per chunk, so a consumer that stops early stops the stream where a real one would.
 *
 * @since 0.1.0
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ParseResult from "effect/ParseResult"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type * as ChatRequest from "../ChatRequest.js"
import * as ChatResponse from "../ChatResponse.js"
import * as Described from "../internal/described.js"
import * as Errors from "../internal/errors.js"
import * as OptionChecks from "../internal/optionChecks.js"
import * as LanguageModel from "../LanguageModel.js"
import * as LlmError from "../LlmError.js"
import * as Pricing from "../Pricing.js"
import type * as StreamPart from "../StreamPart.js"

/**
 * One scripted reply: a full response, a text shorthand, an error to fail with, or a function of the request.
 *
 * @since 0.1.0
 * @category models
 */
export type Reply =
  | ChatResponse.ChatResponse
  | TextReply
  | LlmError.LlmError
  | ((request: ChatRequest.ChatRequest) => Effect.Effect<ChatResponse.ChatResponse, LlmError.LlmError>)

/**
 * A text answer; the rest of the response is filled in (finish reason `stop`, usage when given).
 *
 * @since 0.1.0
 * @category models
 */
export interface TextReply {
  readonly text: string
  readonly usage?: ChatResponse.Usage | undefined
  /** For `stream`: the text deltas to emit (default: the whole text in one delta). */
  readonly chunks?: ReadonlyArray<string> | undefined
}

/**
 * The provider name, model and capabilities a scripted model announces.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Default `"test"`. */
  readonly provider?: string | undefined
  /** Default `"test-model"`. */
  readonly model?: string | undefined
  readonly capabilities?: Partial<LanguageModel.Capabilities> | undefined
}

/**
 * A scripted model: its service and layer, and what it was asked.
 *
 * @since 0.1.0
 * @category models
 */
export interface TestModel {
  readonly service: LanguageModel.Service
  /** Every request received, in order. */
  readonly requests: Effect.Effect<ReadonlyArray<ChatRequest.ChatRequest>>
}

const decodeResponse = Schema.decodeUnknownEither(ChatResponse.ChatResponse, { onExcessProperty: "error" })

/** What makes a scripted response no `ChatResponse` (a field of the wrong type, an unknown one), or `undefined`. */
const shapeProblem = (response: unknown, chunks: unknown): string | undefined => {
  if (chunks !== undefined && !(Array.isArray(chunks) && chunks.every((chunk) => typeof chunk === "string"))) {
    return "chunks are not a list of strings"
  }
  const decoded = decodeResponse(response)
  if (decoded._tag === "Right") return undefined
  const [issue] = ParseResult.ArrayFormatter.formatErrorSync(decoded.left)
  return `response is no ChatResponse: ${issue === undefined ? "" : `${issue.path.join(".")}: ${issue.message}`}`
}

const isTextReply = (reply: Reply): reply is TextReply =>
  typeof reply === "object" && "text" in reply && !("content" in reply) && !("_tag" in reply)

const toParts = (
  response: ChatResponse.ChatResponse,
  chunks: ReadonlyArray<string> | undefined
): Array<StreamPart.StreamPart> => {
  const parts: Array<StreamPart.StreamPart> = [
    { type: "response-metadata", provider: response.provider, id: response.id, model: response.model }
  ]
  for (const part of response.content) {
    switch (part.type) {
      case "text":
        for (const text of chunks ?? [part.text]) parts.push({ type: "text-delta", text })
        break
      case "reasoning":
        parts.push({ type: "reasoning-delta", text: part.text, signature: part.signature })
        break
      case "refusal":
        parts.push({ type: "refusal-delta", text: part.text })
        break
      case "tool-call":
        parts.push(
          { type: "tool-call-start", id: part.id, name: part.name },
          { type: "tool-call-delta", id: part.id, argumentsDelta: part.rawArguments },
          { ...part, type: "tool-call-end" }
        )
        break
    }
  }
  if (response.usage !== undefined) {
    parts.push({
      type: "usage",
      usage: response.usage,
      ...(response.costUsd === undefined ? {} : { costUsd: response.costUsd })
    })
  }
  parts.push({ type: "finish", finishReason: response.finishReason, rawFinishReason: response.rawFinishReason })
  return parts
}

/**
 * A scripted model and the requests it received.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { LanguageModel, LlmError } from "liter-llm"
 * import { TestModel } from "liter-llm/testing"
 *
 * const test = Effect.gen(function*() {
 *   const model = yield* TestModel.make([
 *     new LlmError.RateLimited({ provider: "test", message: "slow down" }),
 *     { text: "Paris" }
 *   ])
 *   const first = yield* Effect.either(LanguageModel.generate({ messages: [{ role: "user", content: "Capital?" }] }).pipe(
 *     Effect.provideService(LanguageModel.LanguageModel, model.service)
 *   ))
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (script: ReadonlyArray<Reply>, options: Options = {}): Effect.Effect<TestModel> =>
  Effect.gen(function*() {
    const provider = options.provider ?? "test"
    const defaultModel = options.model ?? "test-model"
    const requests = yield* Ref.make<ReadonlyArray<ChatRequest.ChatRequest>>([])
    const cursor = yield* Ref.make(0)

    const capabilities = { ...LanguageModel.defaultCapabilities, ...options.capabilities }
    // A scripted usage no provider could report (a negative or fractional count), or a cost that is no amount,
    // fails as a provider layer fails on such a report, rather than reaching a budget or a metric.
    const checked = (response: ChatResponse.ChatResponse, chunks: ReadonlyArray<string> | undefined) => {
      const cost: unknown = response.costUsd
      // The usage's own message first (it names the count); a usage that is no object is the shape's problem.
      const usage: unknown = response.usage
      const impossible = typeof usage === "object" && usage !== null
        ? Errors.impossibleUsage(usage as ChatResponse.Usage)
        : undefined
      const problem = impossible ?? shapeProblem(response, chunks) ??
        (cost === undefined || OptionChecks.isNonNegativeFinite(cost)
          ? undefined
          : `costUsd is ${String(cost)}, not an amount in USD`)
      return problem === undefined
        ? Effect.succeed({ response, chunks })
        : Effect.fail(
          Errors.malformed(
            { provider, model: response.model, secrets: [] },
            `TestModel: the scripted ${problem}`,
            JSON.stringify({ usage: response.usage, costUsd: response.costUsd })
          )
        )
    }
    const next = (request: ChatRequest.ChatRequest) =>
      Effect.flatMap(reply(request), ({ chunks, response }) => checked(response, chunks))
    const reply = (request: ChatRequest.ChatRequest) =>
      Effect.gen(function*() {
        yield* LanguageModel.checkCapabilities(capabilities, request, {
          provider,
          model: request.model ?? defaultModel
        })
        yield* Ref.update(requests, (all) => [...all, request])
        const index = yield* Ref.getAndUpdate(cursor, (n) => n + 1)
        const reply = script[index]
        const model = request.model ?? defaultModel
        if (reply === undefined) {
          return yield* new LlmError.InvalidRequest({
            provider,
            model,
            message: `TestModel: script exhausted (${script.length} replies, call ${index + 1})`
          })
        }
        if (typeof reply === "function") {
          // From JavaScript, a function may return anything: what is not an Effect is said, not a TypeError.
          const result: unknown = reply(request)
          if (!Effect.isEffect(result)) {
            return yield* new LlmError.InvalidRequest({
              provider,
              model,
              message: `TestModel: reply ${index + 1} of the script is a function that returned ${
                Described.described(result)
              }, not an Effect of a ChatResponse (e.g. Effect.succeed(response))`
            })
          }
          return { response: yield* (result as ReturnType<typeof reply>), chunks: undefined }
        }
        if (typeof reply !== "object" || reply === null) {
          return yield* new LlmError.InvalidRequest({
            provider,
            model,
            message: `TestModel: reply ${index + 1} of the script is ${String(reply)}, not a reply`
          })
        }
        if (LlmError.isLlmError(reply)) return yield* Effect.fail(reply)
        if (isTextReply(reply)) {
          const response: ChatResponse.ChatResponse = {
            id: `test-${index + 1}`,
            provider,
            model,
            content: [{ type: "text", text: reply.text }],
            finishReason: "stop",
            ...(reply.usage === undefined ? {} : { usage: reply.usage })
          }
          return { response, chunks: reply.chunks }
        }
        return { response: reply, chunks: undefined }
      })

    /** The response with the cost of its usage, as provider layers price it (a cost of its own is kept). */
    const priced = (request: ChatRequest.ChatRequest, response: ChatResponse.ChatResponse) =>
      Effect.map(Pricing.Pricing, (pricing): ChatResponse.ChatResponse => {
        if (response.costUsd !== undefined) return response
        const model = request.model ?? defaultModel
        const costUsd = Pricing.costOfCall(pricing, response.usage, provider, model, response.model)
        return costUsd === undefined ? response : { ...response, costUsd }
      })

    const service = LanguageModel.make({
      provider,
      defaultModel,
      capabilities,
      generate: (request) => Effect.flatMap(next(request), ({ response }) => priced(request, response)),
      stream: (request) =>
        Stream.unwrap(
          Effect.flatMap(next(request), ({ chunks, response }) =>
            Effect.map(
              priced(request, response),
              (response) => Stream.fromChunks(...toParts(response, chunks).map(Chunk.of))
            ))
        )
    })
    return { service, requests: Ref.get(requests) }
  })

/**
 * A scripted model as a Layer.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ChatResponse, LanguageModel } from "liter-llm"
 * import { TestModel } from "liter-llm/testing"
 *
 * const answer = LanguageModel.generate({ messages: [{ role: "user", content: "Capital of France?" }] }).pipe(
 *   Effect.map(ChatResponse.text),
 *   Effect.provide(TestModel.layer([{ text: "Paris" }]))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (script: ReadonlyArray<Reply>, options: Options = {}): Layer.Layer<LanguageModel.LanguageModel> =>
  Layer.effect(LanguageModel.LanguageModel, Effect.map(make(script, options), (model) => model.service))
