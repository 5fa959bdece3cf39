/**
 * What a call is estimated to cost before it is made, and what it cost once it ended: the provider's figure,
 * else its usage priced, else what was received counted by the tokenizer.
 */
import type * as ChatRequest from "../../ChatRequest.js"
import type * as ChatResponse from "../../ChatResponse.js"
import type * as LlmError from "../../LlmError.js"
import * as Pricing from "../../Pricing.js"
import type * as StreamPart from "../../StreamPart.js"
import type * as Tokenizer from "../../Tokenizer.js"

/** The estimate of a call, or why there is none. */
export type Estimate =
  | {
    readonly _tag: "Priced"
    readonly model: string
    /** Tokens. */
    readonly inputTokens: number
    /** Tokens: `maxTokens`, else the model's `maxOutputTokens`, else its context window minus the input. */
    readonly outputTokens: number
    readonly costUsd: number
  }
  | { readonly _tag: "Unpriced"; readonly model: string | undefined }
  | { readonly _tag: "Unbounded"; readonly model: string }

/** What a call is priced with. */
export interface Meter {
  readonly provider: string
  readonly pricing: Pricing.Service
  readonly tokenizer: Tokenizer.Service
}

const usageOf = (inputTokens: number, outputTokens: number): ChatResponse.Usage => ({
  inputTokens,
  outputTokens,
  totalTokens: inputTokens + outputTokens
})

/** The estimate of a request to `model` (the request's, else the service's default). */
export const estimate = (
  meter: Meter,
  request: ChatRequest.ChatRequest,
  defaultModel: string | undefined
): Estimate => {
  const model = request.model ?? defaultModel
  if (model === undefined) return { _tag: "Unpriced", model }
  const price = meter.pricing.price(model, meter.provider)
  if (price === undefined) return { _tag: "Unpriced", model }
  const inputTokens = meter.tokenizer.countRequest(request, model)
  const outputTokens = request.maxTokens ?? price.maxOutputTokens ??
    (price.contextWindow === undefined ? undefined : Math.max(0, price.contextWindow - inputTokens))
  if (outputTokens === undefined) return { _tag: "Unbounded", model }
  const costUsd = meter.pricing.cost(usageOf(inputTokens, outputTokens), model, meter.provider) ?? 0
  return { _tag: "Priced", model, inputTokens, outputTokens, costUsd }
}

/** The cost of the input estimate plus `outputText` counted as output tokens. */
export const receivedCost = (
  meter: Meter,
  priced: Extract<Estimate, { readonly _tag: "Priced" }>,
  outputText: string
): number => {
  const outputTokens = outputText === "" ? 0 : meter.tokenizer.countText(outputText, priced.model)
  return meter.pricing.cost(usageOf(priced.inputTokens, outputTokens), priced.model, meter.provider) ?? priced.costUsd
}

/** The cost of a usage as the provider layers price it, or `undefined` when it is unpriced. */
export const usageCost = (
  meter: Meter,
  priced: Extract<Estimate, { readonly _tag: "Priced" }>,
  usage: ChatResponse.Usage,
  responseModel: string | undefined
): number | undefined => Pricing.costOfCall(meter.pricing, usage, meter.provider, priced.model, responseModel)

/** The output text of a response: text, reasoning, refusals, and tool calls' names and arguments. */
export const responseText = (response: ChatResponse.ChatResponse): string =>
  response.content.map((part) => {
    switch (part.type) {
      case "tool-call":
        return part.name + part.rawArguments
      default:
        return part.text
    }
  }).join("")

/** The output text of what a stream delivered before it failed, counted as {@link responseText} counts. */
export const partialText = (partial: LlmError.PartialResponse): string =>
  partial.text + partial.reasoning + partial.toolCalls.map((call) => call.name + call.rawArguments).join("")

/** The actual cost of a response. */
export const responseCost = (
  meter: Meter,
  priced: Extract<Estimate, { readonly _tag: "Priced" }>,
  response: ChatResponse.ChatResponse
): number =>
  response.costUsd ??
    (response.usage === undefined ? undefined : usageCost(meter, priced, response.usage, response.model)) ??
    receivedCost(meter, priced, responseText(response))

/** What a stream has delivered so far: enough to charge it whatever its end. */
export class Received {
  private readonly texts: Array<string> = []
  private responseModel: string | undefined = undefined
  private usage: StreamPart.UsagePart | undefined = undefined
  /** A content part went by. */
  content = false
  /** The finish part went by. */
  finished = false

  /** The output text received so far (text, reasoning, refusals, tool calls' names and arguments). */
  text(): string {
    return this.texts.join("")
  }

  /** The last usage part received, if any. */
  lastUsage(): ChatResponse.Usage | undefined {
    return this.usage?.usage
  }

  observe(part: StreamPart.StreamPart): void {
    switch (part.type) {
      case "text-delta":
      case "reasoning-delta":
      case "refusal-delta":
        this.content = true
        this.texts.push(part.text)
        break
      case "tool-call-start":
        this.content = true
        this.texts.push(part.name)
        break
      case "tool-call-delta":
        this.content = true
        this.texts.push(part.argumentsDelta)
        break
      case "response-metadata":
        if (part.model !== undefined && part.model !== "") this.responseModel = part.model
        break
      case "usage":
        // A later usage replaces an earlier one (usage totals are cumulative).
        this.usage = part
        break
      case "finish":
        this.finished = true
        break
    }
  }

  /**
   * What to charge: `undefined` when nothing was delivered (the call costs nothing). A finished stream costs its
   * usage; one that stopped early the larger of its usage and what was received, since an early usage (e.g.
   * Anthropic's at the start of a message) counts the input only.
   */
  cost(meter: Meter, priced: Extract<Estimate, { readonly _tag: "Priced" }>): number | undefined {
    if (!this.content && !this.finished && this.usage === undefined) return undefined
    const fromUsage = this.usage === undefined
      ? undefined
      : this.usage.costUsd ?? usageCost(meter, priced, this.usage.usage, this.responseModel)
    if (this.finished && fromUsage !== undefined) return fromUsage
    const received = receivedCost(meter, priced, this.text())
    return fromUsage === undefined ? received : Math.max(fromUsage, received)
  }
}
