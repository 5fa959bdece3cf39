/**
 * Counts the input tokens of a request, for the policies that must know them before the call (`Budget`,
 * `RateLimit`, `ContextWindow`).
 *
 * - **OpenAI models** (`gpt-*`, `o1` / `o3` / `o4` families, `chatgpt-*`, and every model `gpt-tokenizer`
 *   maps): exact text counts with `gpt-tokenizer` and the model's own encoding (`o200k_base` for GPT-4o and
 *   later, `cl100k_base` for GPT-4 and GPT-3.5), plus OpenAI's chat framing (3 tokens per message and 3 that
 *   prime the reply).
 * - **Other models**: an estimate, the `o200k_base` count times 1.2, rounded up. Claude, Gemini and Command
 *   tokenizers are not public; on English text they give about 5 to 25 % more tokens than `o200k_base`, so the
 *   estimate errs high, which is the safe side for a budget, a limit or a context window.
 * - **Parts that are not text**: an image counts 765 tokens (OpenAI's figure for a 1024 × 1024 image at high
 *   detail; the size is not known before the call); tool definitions and tool-call arguments count as their
 *   JSON text, close to but not exactly how providers render them.
 * - **A run of more than 200 characters with no break** is counted in 200-character pieces: byte-pair encoding
 *   is quadratic in a run's length, so a long one would hold the thread for minutes.
 * - **Past 64 K characters in one count** (a request, or a text), the rest is estimated: samples spread over the
 *   next text are counted, and what still follows is counted at the rate of tokens per character found so far.
 *   Counting is CPU on the thread that serves every other call: 1 MB of random words takes about 5 s with
 *   `gpt-tokenizer`, 64 K characters at most about 0.3 s. Prompts under about 16 K tokens are counted exactly.
 *
 * The encodings are loaded on first use (a few MB each).
 *
 * @since 0.2.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import { createRequire } from "node:module"
import type * as ChatRequest from "./ChatRequest.js"
import { boundedCount } from "./internal/boundedCount.js"

/**
 * The service: synchronous counts.
 *
 * @since 0.2.0
 * @category models
 */
export interface Service {
  /** The tokens of a text for a model (exact for OpenAI models, an estimate otherwise). */
  readonly countText: (text: string, model?: string) => number
  /** The input tokens of a whole request: messages, chat framing, tools and the response format. */
  readonly countRequest: (request: ChatRequest.ChatRequest, model?: string) => number
  /** Whether counts for this model are exact rather than estimated. */
  readonly isExact: (model: string | undefined) => boolean
}

type EncodingName = "o200k_base" | "cl100k_base" | "p50k_base" | "r50k_base"

const require = createRequire(import.meta.url)
const encodings = new Map<EncodingName, (text: string) => number>()

/** The longest run of non-blanks (or of blanks) counted whole; longer runs are counted in pieces this long. */
const maxRun = 200
const longRuns = /\S{201,}|\s{201,}/g

/**
 * `count` with its work bounded: byte-pair encoding takes time quadratic in the length of a run of characters
 * with no break (a pasted blob, "xxxx…", a wall of spaces), so a 900 000-character run held the thread for
 * minutes. Runs longer than {@link maxRun} are counted in pieces of that length: the count of such text is a
 * few tokens per piece off (0.15 % more on base64), that of ordinary text unchanged.
 */
const bounded = (count: (text: string) => number) => (text: string): number => {
  if (text.length <= maxRun) return count(text)
  let total = 0
  let last = 0
  for (const match of text.matchAll(longRuns)) {
    total += count(text.slice(last, match.index))
    const run = match[0]
    for (let i = 0; i < run.length; i += maxRun) total += count(run.slice(i, i + maxRun))
    last = match.index + run.length
  }
  return total + count(text.slice(last))
}

const counter = (name: EncodingName): (text: string) => number => {
  let count = encodings.get(name)
  if (count === undefined) {
    count = bounded(
      (require(`gpt-tokenizer/cjs/encoding/${name}`) as { countTokens: (text: string) => number }).countTokens
    )
    encodings.set(name, count)
  }
  return count
}

let modelEncodings: Readonly<Record<string, string | undefined>> | undefined
const encodingOfModel = (model: string): string | undefined =>
  (modelEncodings ??= (require("gpt-tokenizer/cjs/mapping") as {
    modelToEncodingMap: Record<string, string>
  }).modelToEncodingMap)[model]

const openAiFamily = /^(gpt-|chatgpt-|o[134](-|$)|text-embedding-|davinci|babbage)/

/** The encoding of an OpenAI model, or undefined for a model of another provider. */
const openAiEncoding = (model: string | undefined): EncodingName | undefined => {
  if (model === undefined) return undefined
  const known = encodingOfModel(model)
  if (known === "cl100k_base" || known === "p50k_base" || known === "r50k_base" || known === "o200k_base") {
    return known
  }
  if (!openAiFamily.test(model)) return undefined
  return /^gpt-(4|3\.5)(-|$)/.test(model) && !/^gpt-4(o|\.|-o)/.test(model) ? "cl100k_base" : "o200k_base"
}

/** How much the estimate of a model without a public tokenizer exceeds its `o200k_base` count. */
export const estimateFactor = 1.2

/**
 * Tokens an image counts before the call: OpenAI's figure for a 1024 × 1024 image at high detail.
 *
 * @since 0.2.0
 * @category constants
 */
export const imageTokens = 765

/** OpenAI's chat framing: tokens around each message, and those that prime the reply. */
const perMessage = 3
const replyPriming = 3

const json = (value: unknown): string => {
  if (typeof value === "string") return value
  try {
    return JSON.stringify(value) ?? ""
  } catch {
    // A bigint counts as its digits; a value nested too deeply for the stack, or a cycle, counts nothing: the
    // provider's encoder refuses it (`InvalidRequest`), and a count is never a defect.
    try {
      return String(value)
    } catch {
      return ""
    }
  }
}

const makeCounter = (countWith: (text: string, model: string | undefined) => number): Service => {
  const countRequest = (request: ChatRequest.ChatRequest, model = request.model): number => {
    const countWithin = boundedCount(countWith, model)
    let total = replyPriming
    for (const message of request.messages) {
      total += perMessage
      if (typeof message.content === "string") {
        total += countWithin(message.content)
        continue
      }
      for (const part of message.content) {
        switch (part.type) {
          case "text":
          case "reasoning":
            total += countWithin(part.text)
            break
          case "image":
            total += imageTokens
            break
          case "tool-call":
            total += countWithin(part.name) + countWithin(json(part.arguments))
            break
          case "tool-result":
            total += countWithin(json(part.result))
            break
        }
      }
    }
    if (request.tools !== undefined && request.tools.length > 0) total += countWithin(json(request.tools))
    if (request.responseFormat?.type === "json-schema") total += countWithin(json(request.responseFormat.schema))
    return total
  }
  return {
    countText: (text, model) => boundedCount(countWith, model)(text),
    countRequest,
    isExact: (model) => openAiEncoding(model) !== undefined
  }
}

/**
 * Exact counts for OpenAI models, the documented estimate for the others.
 *
 * @example
 * ```ts
 * import { Tokenizer } from "liter-llm"
 *
 * Tokenizer.byModel.countText("Hello, world!", "gpt-4o") // 4
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const byModel: Service = makeCounter((text, model) => {
  if (text === "") return 0
  const encoding = openAiEncoding(model)
  return encoding !== undefined
    ? counter(encoding)(text)
    : Math.ceil(counter("o200k_base")(text) * estimateFactor)
})

/**
 * A fast estimate for every model, without loading an encoding: one token per 3 characters (UTF-16 code
 * units), rounded up. Errs high against real tokenizers on English (about 4 characters per token); for
 * programs where counting must cost nothing, e.g. huge prompts checked against a generous limit.
 *
 * @since 0.2.0
 * @category constructors
 */
export const charEstimate: Service = {
  ...makeCounter((text) => Math.ceil(text.length / 3)),
  isExact: () => false
}

/**
 * The service tag. Without a layer, {@link byModel} counts.
 *
 * @since 0.2.0
 * @category tags
 */
export class Tokenizer extends Context.Reference<Tokenizer>()("liter-llm/Tokenizer", { defaultValue: () => byModel }) {}

/**
 * The input tokens of a request, with the current `Tokenizer`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ChatRequest, Tokenizer } from "liter-llm"
 *
 * const tokens = ChatRequest.decode({ model: "gpt-4o", messages: [{ role: "user", content: "Hi" }] }).pipe(
 *   Effect.flatMap(Tokenizer.countRequest)
 * )
 * ```
 *
 * @since 0.2.0
 * @category accessors
 */
export const countRequest = (request: ChatRequest.ChatRequest, model?: string): Effect.Effect<number> =>
  Effect.map(Tokenizer, (tokenizer) => tokenizer.countRequest(request, model))

/**
 * The tokens of a text for a model, with the current `Tokenizer`.
 *
 * @since 0.2.0
 * @category accessors
 */
export const countText = (text: string, model?: string): Effect.Effect<number> =>
  Effect.map(Tokenizer, (tokenizer) => tokenizer.countText(text, model))
