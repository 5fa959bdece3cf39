/**
 * The typed parts of a streamed response, and the accumulator that turns them into the same `ChatResponse`
 * a non-streaming call returns.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as ChatResponse from "./ChatResponse.js"
import type * as LlmError from "./LlmError.js"

/**
 * One typed part of a streamed answer.
 *
 * @since 0.1.0
 * @category models
 */
export type StreamPart =
  | ResponseMetadata
  | TextDelta
  | ReasoningDelta
  | RefusalDelta
  | ToolCallStart
  | ToolCallDelta
  | ToolCallEnd
  | UsagePart
  | Finish

/**
 * The response's id and model, as soon as the provider tells them.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResponseMetadata {
  readonly type: "response-metadata"
  readonly provider?: string | undefined
  readonly id?: string | undefined
  readonly model?: string | undefined
  readonly providerMetadata?: Readonly<Record<string, unknown>> | undefined
  /** The stream is a replay of a cached answer (the `Cache` policy), not a provider call. */
  readonly cached?: boolean | undefined
}

/**
 * A piece of the answer's text.
 *
 * @since 0.1.0
 * @category models
 */
export interface TextDelta {
  readonly type: "text-delta"
  readonly text: string
}

/**
 * Reasoning text, or (with `signature` and empty `text`) the signature that closes a reasoning block.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReasoningDelta {
  readonly type: "reasoning-delta"
  readonly text: string
  readonly signature?: string | undefined
  /** The provider returned this reasoning encrypted (Anthropic `redacted_thinking`): `signature` carries it. */
  readonly redacted?: boolean | undefined
}

/**
 * A piece of a refusal the model gave instead of an answer.
 *
 * @since 0.1.0
 * @category models
 */
export interface RefusalDelta {
  readonly type: "refusal-delta"
  readonly text: string
}

/**
 * A tool call begins: its id and the tool's name.
 *
 * @since 0.1.0
 * @category models
 */
export interface ToolCallStart {
  readonly type: "tool-call-start"
  readonly id: string
  readonly name: string
}

/**
 * A piece of a tool call's arguments (JSON text).
 *
 * @since 0.1.0
 * @category models
 */
export interface ToolCallDelta {
  readonly type: "tool-call-delta"
  readonly id: string
  readonly argumentsDelta: string
}

/**
 * A tool call is complete; `arguments` is parsed (`undefined` when the text is not valid JSON).
 *
 * @since 0.1.0
 * @category models
 */
export interface ToolCallEnd {
  readonly type: "tool-call-end"
  readonly id: string
  readonly name: string
  readonly arguments: unknown
  readonly rawArguments: string
}

/**
 * Usage so far; a later part replaces an earlier one.
 *
 * @since 0.1.0
 * @category models
 */
export interface UsagePart {
  readonly type: "usage"
  readonly usage: ChatResponse.Usage
  /** The cost of this usage in USD when the model has a known price (see `Pricing`). */
  readonly costUsd?: number | undefined
}

/**
 * The answer is complete: why the model stopped.
 *
 * @since 0.1.0
 * @category models
 */
export interface Finish {
  readonly type: "finish"
  readonly finishReason: ChatResponse.FinishReason
  readonly rawFinishReason?: string | undefined
}

/**
 * Whether a part is content: the first content part is a stream's commit point, after which a failure is
 * `StreamInterrupted` instead of being retried or falling back.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isContent = (part: StreamPart): boolean =>
  part.type === "text-delta" || part.type === "reasoning-delta" || part.type === "refusal-delta" ||
  part.type === "tool-call-start" || part.type === "tool-call-delta" || part.type === "tool-call-end"

/**
 * Parses tool-call arguments: `{}` for an empty text, `undefined` when the text is not JSON.
 *
 * @since 0.1.0
 * @category utils
 */
export const parseArguments = (raw: string): unknown => {
  if (raw.trim() === "") return {}
  try {
    return JSON.parse(raw)
  } catch {
    return undefined
  }
}

/**
 * A mutable accumulator of parts: feed it with `add`, read the response with `done`, or what was received
 * so far with `partial` (for `StreamInterrupted`).
 *
 * @since 0.1.0
 * @category accumulators
 */
export class Accumulator {
  id = ""
  model: string
  finishReason: ChatResponse.FinishReason = "other"
  rawFinishReason: string | undefined = undefined
  usage: ChatResponse.Usage | undefined = undefined
  costUsd: number | undefined = undefined
  cached = false
  providerMetadata: Record<string, unknown> | undefined = undefined
  private readonly content: Array<ChatResponse.ContentPart> = []
  private readonly openCalls = new Map<string, { name: string; raw: string }>()

  provider: string

  constructor(provider = "", model = "") {
    this.provider = provider
    this.model = model
  }

  add(part: StreamPart): void {
    switch (part.type) {
      case "response-metadata":
        if (part.provider !== undefined) this.provider = part.provider
        if (part.id !== undefined && part.id !== "") this.id = part.id
        if (part.model !== undefined && part.model !== "") this.model = part.model
        if (part.providerMetadata !== undefined) {
          this.providerMetadata = { ...this.providerMetadata, ...part.providerMetadata }
        }
        if (part.cached === true) this.cached = true
        break
      case "text-delta":
        this.appendText("text", part.text)
        break
      case "refusal-delta":
        this.appendText("refusal", part.text)
        break
      case "reasoning-delta": {
        const last = this.content[this.content.length - 1]
        if (last?.type === "reasoning" && last.signature === undefined && part.redacted !== true) {
          this.content[this.content.length - 1] = {
            ...last,
            text: last.text + part.text,
            ...(part.signature === undefined ? {} : { signature: part.signature })
          }
        } else {
          this.content.push({
            type: "reasoning",
            text: part.text,
            ...(part.signature === undefined ? {} : { signature: part.signature }),
            ...(part.redacted === true ? { redacted: true } : {})
          })
        }
        break
      }
      case "tool-call-start":
        this.openCalls.set(part.id, { name: part.name, raw: "" })
        break
      case "tool-call-delta": {
        const call = this.openCalls.get(part.id)
        if (call !== undefined) call.raw += part.argumentsDelta
        break
      }
      case "tool-call-end":
        this.openCalls.delete(part.id)
        this.content.push({
          type: "tool-call",
          id: part.id,
          name: part.name,
          arguments: part.arguments,
          rawArguments: part.rawArguments
        })
        break
      case "usage":
        // A later usage replaces an earlier one, and so does its cost (unknown when the later part has none).
        this.usage = part.usage
        this.costUsd = part.costUsd
        break
      case "finish":
        this.finishReason = part.finishReason
        this.rawFinishReason = part.rawFinishReason
        break
    }
  }

  private appendText(type: "text" | "refusal", text: string): void {
    const last = this.content[this.content.length - 1]
    if (last !== undefined && last.type === type) {
      this.content[this.content.length - 1] = { type, text: last.text + text }
    } else {
      this.content.push({ type, text })
    }
  }

  /** The response the parts describe, its finish reason settled by its content. */
  done(): ChatResponse.ChatResponse {
    return ChatResponse.withSettledFinishReason({
      id: this.id,
      provider: this.provider,
      model: this.model,
      content: [...this.content],
      finishReason: this.finishReason,
      ...(this.rawFinishReason === undefined ? {} : { rawFinishReason: this.rawFinishReason }),
      ...(this.usage === undefined ? {} : { usage: this.usage }),
      // A replay of a cached answer costs nothing, with a usage or without (an answer streamed without one).
      ...(this.costUsd === undefined ? this.cached ? { costUsd: 0 } : {} : { costUsd: this.costUsd }),
      ...(this.cached ? { cached: true } : {}),
      ...(this.providerMetadata === undefined ? {} : { providerMetadata: this.providerMetadata })
    })
  }

  /** What was received so far, tool calls still open included. */
  partial(): LlmError.PartialResponse {
    const response = this.done()
    const toolCalls: Array<LlmError.PartialResponse["toolCalls"][number]> = []
    for (const part of response.content) {
      if (part.type === "tool-call") toolCalls.push({ id: part.id, name: part.name, rawArguments: part.rawArguments })
    }
    for (const [id, call] of this.openCalls) toolCalls.push({ id, name: call.name, rawArguments: call.raw })
    let text = ""
    let reasoning = ""
    for (const part of response.content) {
      if (part.type === "text") text += part.text
      if (part.type === "reasoning") reasoning += part.text
    }
    return {
      text,
      reasoning,
      toolCalls,
      ...(this.usage === undefined ? {} : {
        usage: {
          inputTokens: this.usage.inputTokens,
          outputTokens: this.usage.outputTokens,
          totalTokens: this.usage.totalTokens
        }
      })
    }
  }
}

/**
 * Runs a stream of parts to the `ChatResponse` a non-streaming call would give.
 *
 * @example
 * ```ts
 * import { LanguageModel, StreamPart } from "liter-llm"
 *
 * const response = StreamPart.collect(LanguageModel.stream({ messages: [{ role: "user", content: "Hi" }] }))
 * ```
 *
 * @since 0.1.0
 * @category accumulators
 */
export const collect = <E, R>(
  self: Stream.Stream<StreamPart, E, R>
): Effect.Effect<ChatResponse.ChatResponse, E, R> =>
  Effect.suspend(() => {
    const accumulator = new Accumulator()
    return Stream.runForEach(self, (part) => Effect.sync(() => accumulator.add(part))).pipe(
      Effect.map(() => accumulator.done())
    )
  })
