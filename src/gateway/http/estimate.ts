/**
 * The usage and cost of an answer the provider reported no usage for: a stream the client left, that failed
 * after its first token, or whose provider sends no usage, and a whole answer without usage. Without it the
 * log and the metrics would show nothing for a call the tenant's budget was charged for.
 *
 * @since 0.2.0
 */
import type * as ChatRequest from "../../ChatRequest.js"
import type * as ChatResponse from "../../ChatResponse.js"
import * as LanguageModel from "../../LanguageModel.js"
import * as Pricing from "../../Pricing.js"
import * as Tokenizer from "../../Tokenizer.js"
import type * as Exchange from "./exchange.js"

/**
 * Sets the exchange's usage and cost, estimated as a budget charges them: the input counted by the tokenizer,
 * `outputText` counted as output tokens (at least the output `reported` so far), priced as the route's budget
 * prices the call (the route's model and pricing provider, then the model the provider named).
 *
 * @since 0.2.0
 * @category usage
 */
export const estimateUsage = (
  exchange: Exchange.Exchange,
  input: {
    readonly request: ChatRequest.ChatRequest
    readonly route: LanguageModel.Service
    readonly pricing: Pricing.Service
    readonly outputText: string
    readonly reported?: ChatResponse.Usage | undefined
  }
): void => {
  const { outputText, reported, request, route } = input
  // The model the budget priced the call at: the route's own (the request carries the route's name).
  const requested = route.defaultModel ?? request.model
  const model = requested ?? exchange.model
  const inputTokens = reported?.inputTokens ?? Tokenizer.byModel.countRequest(request, model)
  const outputTokens = Math.max(reported?.outputTokens ?? 0, Tokenizer.byModel.countText(outputText, model))
  const usage = { inputTokens, outputTokens, totalTokens: inputTokens + outputTokens }
  exchange.usage = usage
  exchange.usageEstimated = true
  exchange.costUsd = requested === undefined
    ? undefined
    : Pricing.costOfCall(input.pricing, usage, LanguageModel.pricingProvider(route), requested, exchange.model)
}
