/**
 * Known error messages and codes: every entry of the shared lists against a real message, the false positives
 * they must not catch, and each provider's classifier reading them from its own body shapes.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as AnthropicErrors from "../src/internal/anthropic/errors.js"
import * as CohereErrors from "../src/internal/cohere/errors.js"
import * as ErrorPatterns from "../src/internal/errorPatterns.js"
import * as Errors from "../src/internal/errors.js"
import * as GeminiErrors from "../src/internal/gemini/errors.js"
import * as OpenAiErrors from "../src/internal/openai/errors.js"
import * as AnthropicMock from "../src/testing/AnthropicMock.js"
import * as CohereMock from "../src/testing/CohereMock.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import { describeFixtures, readFixture } from "./support/fixtures.js"
import { failure, type LayerOf, runGenerate, runStream } from "./support/loopback.js"
import * as Providers from "./support/providers.js"

type Tag = Errors.HttpErrorTag

/** Real messages (as providers send them) and the tag each must give, whatever the status. */
const messages: ReadonlyArray<readonly [string, Tag]> = [
  [
    "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.",
    "ContextLengthExceeded"
  ],
  [
    "This endpoint's maximum context length is 131072 tokens. However, you requested about 140000 tokens.",
    "ContextLengthExceeded"
  ],
  [
    "Your input exceeds the context window of this model. Please adjust your input and try again.",
    "ContextLengthExceeded"
  ],
  [
    "Input tokens exceed the configured limit of 272000 tokens. Your messages resulted in 300000 tokens.",
    "ContextLengthExceeded"
  ],
  [
    "request (6009 tokens) exceeds the available context size (4096 tokens), try increasing it",
    "ContextLengthExceeded"
  ],
  ["the prompt (5000 tokens) is larger than the max context size (4096 tokens)", "ContextLengthExceeded"],
  ["the prompt is longer than the context length", "ContextLengthExceeded"],
  ["input length exceeds the context length", "ContextLengthExceeded"],
  ["the input exceeds the model's maximum context length", "ContextLengthExceeded"],
  [
    "The number of tokens to keep from the initial prompt is greater than the context length. Try to load the model with a larger context length.",
    "ContextLengthExceeded"
  ],
  [
    "Trying to keep the first 5000 tokens when context the overflows. However, the model is loaded with context length of only 4096 tokens.",
    "ContextLengthExceeded"
  ],
  ["Please reduce the length of the messages or completion.", "ContextLengthExceeded"],
  [
    "Prompt contains 40000 tokens and 0 draft tokens, too large for model with 32768 maximum context length",
    "ContextLengthExceeded"
  ],
  [
    "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 4000 `inputs` tokens and 500 `max_new_tokens`",
    "ContextLengthExceeded"
  ],
  ["Input validation error: input is longer than the model's context length (8193 > 8192)", "ContextLengthExceeded"],
  ["The decoder prompt (length 9000) is longer than the maximum model length of 8192.", "ContextLengthExceeded"],
  ["prompt is too long: 210000 tokens > 200000 maximum", "ContextLengthExceeded"],
  ["multi-hop prompt is too long (size limit exceeded by 12 tokens)", "ContextLengthExceeded"],
  [
    "input length and `max_tokens` exceed context limit: 197626 + 21333 > 200000, decrease input length or `max_tokens` and try again",
    "ContextLengthExceeded"
  ],
  ["This request would exceed the model’s maximum context limit.", "ContextLengthExceeded"],
  ["The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).", "ContextLengthExceeded"],
  [
    "too many tokens: total number of tokens in the prompt cannot exceed 4081 - received 4554. Try using a shorter prompt",
    "ContextLengthExceeded"
  ],
  [
    "too many tokens: size limit exceeded by 11 tokens. Try using shorter or fewer inputs, or setting prompt_truncation='AUTO'.",
    "ContextLengthExceeded"
  ],
  ["minimal context could not be added to prompt (size limit exceeded by 280 tokens)", "ContextLengthExceeded"],
  [
    "Please reduce the length of the messages or completion. Current length is 9000 while limit is 8192",
    "ContextLengthExceeded"
  ],
  ["Current length is 9000 while limit is 8192", "ContextLengthExceeded"],
  [
    "Request too large for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Requested 50000. The input or output tokens must be reduced in order to run successfully.",
    "ContextLengthExceeded"
  ],
  [
    "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry.",
    "ContentFiltered"
  ],
  ["Your request was rejected as a result of our safety system.", "ContentFiltered"],
  ["Invalid prompt: your prompt was flagged as potentially violating our usage policy.", "ContentFiltered"],
  ["The output was blocked by our content filters.", "ContentFiltered"],
  ["Output blocked by content filtering policy", "ContentFiltered"],
  [
    "blocked output: please adjust your prompt and try again, as it may be a potential violation of our Usage Policy",
    "ContentFiltered"
  ],
  [
    "blocked input: please adjust your prompt and try again, as it may be a potential violation of our Usage Policy",
    "ContentFiltered"
  ],
  ["You exceeded your current quota, please check your plan and billing details.", "QuotaExhausted"],
  [
    "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.",
    "QuotaExhausted"
  ],
  [
    "You have reached your specified API usage limits. You will regain access on 2025-08-01 at 00:00 UTC.",
    "QuotaExhausted"
  ],
  ["Maximum billing reached for this API key", "QuotaExhausted"],
  ["Please add or update your payment method to continue.", "QuotaExhausted"],
  ["Insufficient Balance", "QuotaExhausted"],
  ["Insufficient credits. Add more using https://openrouter.ai/credits", "QuotaExhausted"],
  ["That model is currently overloaded with other requests. You can retry your request.", "Overloaded"],
  ["The engine is currently overloaded, please try again later", "Overloaded"],
  ["The model is overloaded. Please try again later.", "Overloaded"],
  ["The service is temporarily out of capacity. Please try again later.", "Overloaded"],
  ["Service tier capacity exceeded for this model.", "Overloaded"]
]

/** Messages that resemble a known one and must give nothing. */
const notRecognised: ReadonlyArray<string> = [
  "too many tokens: max tokens must be less than or equal to 4096, the maximum output for this model - received 8192.",
  "Invalid 'user': string too long. Expected a string with maximum length 256, but got a string with length 300 instead.",
  "Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Used 29000, Requested 2000.",
  "Request exceeds the maximum allowed number of bytes.",
  "The model produced invalid content. Consider modifying your prompt if you are seeing this error persistently.",
  "Unsupported parameter: 'max_tokens' is not supported with this model."
]

describe("ErrorPatterns", () => {
  for (const [message, tag] of messages) {
    it(`${tag}: ${message.slice(0, 60)}`, () => {
      expect(ErrorPatterns.messageTag(message)).toBe(tag)
      // Generic statuses give way to the message...
      expect(ErrorPatterns.refine(undefined, { status: 400, message })).toBe(tag === "Overloaded" ? undefined : tag)
      expect(ErrorPatterns.refine("ServerError", { message })).toBe(tag)
      // ...a specific tag never does.
      expect(ErrorPatterns.refine("AuthenticationFailed", { status: 401, message })).toBe("AuthenticationFailed")
    })
  }

  for (const message of notRecognised) {
    it(`nothing: ${message.slice(0, 60)}`, () => {
      expect(ErrorPatterns.messageTag(message)).toBeUndefined()
      expect(ErrorPatterns.refine(undefined, { status: 429, message })).toBeUndefined()
    })
  }

  it("every listed message is exercised by a real one above", () => {
    const lists = [
      ErrorPatterns.contextLengthMessages,
      ErrorPatterns.contentFilterMessages,
      ErrorPatterns.quotaMessages,
      ErrorPatterns.overloadedMessages
    ]
    const texts = messages.map(([message]) => message.toLowerCase().replace(/\u2019/g, "'"))
    for (const needles of lists.flat()) {
      expect(texts.some((text) => needles.every((needle) => text.includes(needle))), needles.join(" + ")).toBe(true)
    }
    const negatives = notRecognised.map((message) => message.toLowerCase())
    for (const needles of ErrorPatterns.notContextLength) {
      expect(negatives.some((text) => needles.every((needle) => text.includes(needle))), needles.join(" + ")).toBe(true)
    }
  })

  for (const [code, tag] of Object.entries(ErrorPatterns.codeTags)) {
    it(`code ${code} → ${tag}, over a generic status`, () => {
      expect(ErrorPatterns.refine(undefined, { status: 400, codes: [undefined, code], message: "x" })).toBe(tag)
      expect(ErrorPatterns.refine("RateLimited", { status: 429, codes: [code] })).toBe(tag)
      expect(ErrorPatterns.refine("NotFound", { status: 404, codes: [code] })).toBe("NotFound")
    })
  }

  it("a 413 (a byte limit) is never a context-length error, whatever its message says", () => {
    expect(ErrorPatterns.refine(undefined, { status: 413, message: "prompt is too long" })).toBeUndefined()
    expect(ErrorPatterns.refine(undefined, { status: 400, message: "prompt is too long" })).toBe(
      "ContextLengthExceeded"
    )
  })

  it("string_above_max_length on the `user` field is not a context-length error", () => {
    const message = notRecognised[1]
    expect(ErrorPatterns.refine(undefined, { status: 400, codes: ["string_above_max_length"], message }))
      .toBeUndefined()
  })

  it("an overloaded message never makes a caller's 4xx retryable", () => {
    const message = "The model is overloaded. Please try again later."
    expect(ErrorPatterns.refine("InvalidRequest", { status: 400, message })).toBe("InvalidRequest")
    expect(ErrorPatterns.refine(undefined, { status: 429, message })).toBe("Overloaded")
  })
})

const tagOf = (classify: Errors.ClassifyError, status: number, body: unknown) =>
  Errors.fromResponse(
    { provider: "p", secrets: [] },
    classify,
    { status, headers: {}, bodyText: JSON.stringify(body) },
    0
  )._tag

describe("provider classifiers consult the known messages where their fields are generic", () => {
  const filtered = "The output was blocked by our content filters."
  const context = "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens."

  it("openai: a generic type with a filter message; a 429 that is an empty account", () => {
    const body = { error: { message: filtered, type: "invalid_request_error", code: null } }
    expect(tagOf(OpenAiErrors.classifyError, 400, body)).toBe("ContentFiltered")
    const quota = { error: { message: "You exceeded your current quota, please check your plan.", type: "requests" } }
    expect(tagOf(OpenAiErrors.classifyError, 429, quota)).toBe("QuotaExhausted")
    const moonshot = { error: { message: "The engine is busy", type: "engine_overloaded_error" } }
    expect(tagOf(OpenAiErrors.classifyError, 429, moonshot)).toBe("Overloaded")
  })

  it("openai: a specific code keeps its tag whatever the message", () => {
    const body = { error: { message: context, type: "invalid_request_error", code: "invalid_api_key" } }
    expect(tagOf(OpenAiErrors.classifyError, 401, body)).toBe("AuthenticationFailed")
  })

  it("vLLM's top-level error object and Ollama's string error", () => {
    const vllm = { object: "error", message: context, type: "BadRequestError", param: null, code: 400 }
    expect(tagOf(OpenAiErrors.classifyError, 400, vllm)).toBe("ContextLengthExceeded")
    const ollama = { error: "the prompt is longer than the context length" }
    expect(tagOf(OpenAiErrors.classifyError, 400, ollama)).toBe("ContextLengthExceeded")
  })

  it("azure: inner_error (newer API versions) as well as innererror", () => {
    const body = {
      error: { code: "BadRequest", message: "Bad request", inner_error: { code: "ResponsibleAIPolicyViolation" } }
    }
    expect(tagOf(OpenAiErrors.classifyError, 400, body)).toBe("ContentFiltered")
  })

  it("anthropic: invalid_request_error with a filter message; a spend limit in details.error_code", () => {
    const body = {
      type: "error",
      error: { type: "invalid_request_error", message: "Output blocked by content filtering policy" }
    }
    expect(tagOf(AnthropicErrors.classifyError, 400, body)).toBe("ContentFiltered")
    const spend = {
      type: "error",
      error: {
        type: "invalid_request_error",
        message: "Spend limit",
        details: { error_code: "enforced_spend_limit_reached" }
      }
    }
    expect(tagOf(AnthropicErrors.classifyError, 400, spend)).toBe("QuotaExhausted")
    const bytes = {
      type: "error",
      error: { type: "request_too_large", message: "Request exceeds the maximum size; prompt is too long" }
    }
    expect(tagOf(AnthropicErrors.classifyError, 413, bytes)).toBe("InvalidRequest")
  })

  it("cohere: a bad max_tokens is not a context-length error; minimal context is", () => {
    const maxTokens = { id: "x", message: notRecognised[0] }
    expect(tagOf(CohereErrors.classifyError, 400, maxTokens)).toBe("InvalidRequest")
    const minimal = {
      id: "x",
      message: "minimal context could not be added to prompt (size limit exceeded by 280 tokens)"
    }
    expect(tagOf(CohereErrors.classifyError, 400, minimal)).toBe("ContextLengthExceeded")
  })

  it("gemini: a 500 saying the model is overloaded is Overloaded", () => {
    const overloaded = {
      error: { code: 500, message: "The model is overloaded. Please try again later.", status: "INTERNAL" }
    }
    expect(tagOf(GeminiErrors.classifyError, 500, overloaded)).toBe("Overloaded")
  })
})

describeFixtures("known messages against recorded error bodies", () => {
  it("azure: a recorded prompt-filter body is ContentFiltered", () => {
    const body = JSON.parse(readFixture("azure/error-400-content-filter-prompt.json"))
    expect(tagOf(OpenAiErrors.classifyError, 400, body)).toBe("ContentFiltered")
  })

  it("gemini: a recorded per-minute quota worded as 'exceeded your current quota' stays RateLimited", () => {
    const body = JSON.parse(readFixture("gemini/error-429-retry-info.json"))
    expect(tagOf(GeminiErrors.classifyError, 429, body)).toBe("RateLimited")
  })
})

interface OverHttp {
  readonly name: string
  readonly layer: LayerOf
  readonly reply: MockProvider.Reply
  readonly tag: Tag
  readonly call: "generate" | "stream"
}

const contentFilterMessage =
  "The response was filtered due to the prompt triggering Azure OpenAI's content management policy."
const vllmContext = {
  object: "error",
  message: "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens.",
  type: "BadRequestError",
  param: null,
  code: 400
}
const geminiOverloaded = { error: { code: 500, message: "The model is overloaded.", status: "INTERNAL" } }
const noRetry = (layer: typeof Providers.gemini): LayerOf => (server) => layer(server, { retry: false })

/** Each provider's generic error with a specific meaning, as a whole response and inside a 200 stream. */
const overHttp: ReadonlyArray<OverHttp> = [
  {
    name: "openai body: invalid_request_error saying the output was filtered",
    layer: Providers.openAi,
    reply: MockProvider.error(400, {
      error: { message: "The output was blocked by our content filters.", type: "invalid_request_error" }
    }),
    tag: "ContentFiltered",
    call: "generate"
  },
  {
    name: "openai body: a 429 whose message says the quota is exhausted",
    layer: Providers.openAi,
    reply: MockProvider.error(429, {
      error: { message: "You exceeded your current quota, please check your plan.", type: "requests" }
    }),
    tag: "QuotaExhausted",
    call: "generate"
  },
  {
    name: "openai (vLLM) body: top-level error object",
    layer: Providers.openAi,
    reply: MockProvider.error(400, vllmContext),
    tag: "ContextLengthExceeded",
    call: "generate"
  },
  {
    name: "openai (vLLM) stream: top-level error object as an event",
    layer: Providers.openAi,
    reply: MockProvider.sse([vllmContext]),
    tag: "ContextLengthExceeded",
    call: "stream"
  },
  {
    name: "openai (Ollama) stream: a string error as an event",
    layer: Providers.openAi,
    reply: MockProvider.sse([{ error: "the prompt is longer than the context length" }]),
    tag: "ContextLengthExceeded",
    call: "stream"
  },
  {
    name: "azure body: inner_error ResponsibleAIPolicyViolation",
    layer: Providers.azure,
    reply: MockProvider.error(400, {
      error: { code: "BadRequest", message: "Bad request", inner_error: { code: "ResponsibleAIPolicyViolation" } }
    }),
    tag: "ContentFiltered",
    call: "generate"
  },
  {
    name: "azure stream: an error event whose message names the content policy",
    layer: Providers.azure,
    reply: MockProvider.sse([{ error: { code: null, message: contentFilterMessage } }]),
    tag: "ContentFiltered",
    call: "stream"
  },
  {
    name: "anthropic body: invalid_request_error saying the output was blocked",
    layer: Providers.anthropic,
    reply: MockProvider.error(400, {
      type: "error",
      error: { type: "invalid_request_error", message: "Output blocked by content filtering policy" }
    }),
    tag: "ContentFiltered",
    call: "generate"
  },
  {
    name: "anthropic stream: an error event saying the output was blocked",
    layer: Providers.anthropic,
    reply: MockProvider.stream([
      AnthropicMock.errorFrame("invalid_request_error", "Output blocked by content filtering policy")
    ]),
    tag: "ContentFiltered",
    call: "stream"
  },
  {
    name: "cohere body: minimal context could not be added",
    layer: Providers.cohere,
    reply: MockProvider.error(400, {
      id: "x",
      message: "minimal context could not be added to prompt (size limit exceeded by 280 tokens)"
    }),
    tag: "ContextLengthExceeded",
    call: "generate"
  },
  {
    name: "cohere stream: finish_reason ERROR whose error says the output was blocked",
    layer: Providers.cohere,
    reply: MockProvider.stream([
      CohereMock.errorFrame("blocked output: please adjust your prompt and try again"),
      CohereMock.done
    ]),
    tag: "ContentFiltered",
    call: "stream"
  },
  {
    name: "gemini body: INTERNAL saying the model is overloaded",
    layer: noRetry(Providers.gemini),
    reply: MockProvider.error(500, geminiOverloaded),
    tag: "Overloaded",
    call: "generate"
  },
  {
    name: "gemini stream: an error object saying the model is overloaded",
    layer: noRetry(Providers.gemini),
    reply: MockProvider.stream([
      `data: ${JSON.stringify({ candidates: [] })}\n\n`,
      JSON.stringify(geminiOverloaded) + "\n"
    ]),
    tag: "Overloaded",
    call: "stream"
  }
]

describe("known messages over HTTP, in whole responses and in streams", () => {
  for (const c of overHttp) {
    it.scoped(`${c.name} → ${c.tag}, one request`, () =>
      Effect.gen(function*() {
        const run = c.call === "generate" ? runGenerate(c.layer, [c.reply], []) : runStream(c.layer, [c.reply], [])
        const { exit, requests } = yield* run
        expect(failure(exit)._tag).toBe(c.tag)
        expect(requests).toHaveLength(1)
      }))
  }
})
