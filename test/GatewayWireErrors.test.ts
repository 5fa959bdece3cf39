import { describe, expect, it } from "@effect/vitest"
import { Duration } from "effect"
import OpenAI from "openai"
import type { APIError } from "openai"
import { Stream } from "openai/streaming"
import * as Wire from "../src/gateway/wire/index.js"
import * as LlmError from "../src/LlmError.js"

const provider = "openai"
const now = 1_700_000_000_000
const secretBody = "{\"error\":{\"message\":\"Incorrect API key provided: sk-live-abc123\"}}"

type SdkClass = abstract new(...args: Array<never>) => APIError

/** Every tag, with the status, type, code and SDK class the docs' table says. */
/** A budget refused only because of the reservations of calls in flight (the spend alone leaves room). */
const heldByCallsInFlight = new LlmError.BudgetExceeded({
  provider: "liter-llm",
  tenant: "t",
  limitUsd: 0.01,
  spentUsd: 0.000765,
  reservedUsd: 0.00726,
  requestedUsd: 0.00363,
  shouldRetry: true,
  retryAfter: Duration.seconds(1),
  message: "budget"
})

const table: Array<[LlmError.LlmError, number, string, string, SdkClass]> = [
  [
    new LlmError.InvalidRequest({ provider, message: "bad" }),
    400,
    "invalid_request_error",
    "invalid_request",
    OpenAI.BadRequestError
  ],
  [
    new LlmError.AuthenticationFailed({
      provider,
      status: 401,
      body: secretBody,
      message: "openai: Incorrect API key provided"
    }),
    502,
    "upstream_error",
    "upstream_authentication_failed",
    OpenAI.InternalServerError
  ],
  [
    new LlmError.NotFound({ provider, message: "no such model" }),
    404,
    "invalid_request_error",
    "model_not_found",
    OpenAI.NotFoundError
  ],
  [
    new LlmError.ContextLengthExceeded({ provider, message: "too long" }),
    400,
    "invalid_request_error",
    "context_length_exceeded",
    OpenAI.BadRequestError
  ],
  [
    new LlmError.ContentFiltered({ provider, message: "filtered" }),
    400,
    "invalid_request_error",
    "content_filter",
    OpenAI.BadRequestError
  ],
  [
    new LlmError.QuotaExhausted({ provider, body: secretBody, message: "quota" }),
    502,
    "upstream_error",
    "upstream_quota_exhausted",
    OpenAI.InternalServerError
  ],
  [
    new LlmError.RateLimited({ provider, message: "slow" }),
    429,
    "rate_limit_error",
    "upstream_rate_limited",
    OpenAI.RateLimitError
  ],
  [
    new LlmError.Overloaded({ provider, message: "busy" }),
    503,
    "server_error",
    "upstream_overloaded",
    OpenAI.InternalServerError
  ],
  [
    new LlmError.ServerError({ provider, message: "boom" }),
    502,
    "server_error",
    "upstream_error",
    OpenAI.InternalServerError
  ],
  [
    new LlmError.Timeout({ provider, phase: "request", message: "t" }),
    504,
    "server_error",
    "upstream_request_timeout",
    OpenAI.InternalServerError
  ],
  [
    new LlmError.Timeout({ provider, phase: "first-token", message: "t" }),
    504,
    "server_error",
    "first_token_timeout",
    OpenAI.InternalServerError
  ],
  [
    new LlmError.Timeout({ provider, phase: "idle", message: "t" }),
    504,
    "server_error",
    "idle_timeout",
    OpenAI.InternalServerError
  ],
  [
    new LlmError.Timeout({ provider, phase: "total", message: "t" }),
    504,
    "server_error",
    "total_timeout",
    OpenAI.InternalServerError
  ],
  [
    new LlmError.NetworkError({ provider, message: "reset" }),
    502,
    "server_error",
    "upstream_unreachable",
    OpenAI.InternalServerError
  ],
  [
    new LlmError.MalformedResponse({ provider, body: secretBody, message: "bad json" }),
    502,
    "server_error",
    "upstream_malformed_response",
    OpenAI.InternalServerError
  ],
  [
    new LlmError.EmptyResponse({ provider, message: "empty" }),
    502,
    "server_error",
    "upstream_empty_response",
    OpenAI.InternalServerError
  ],
  [
    new LlmError.StreamInterrupted({
      provider,
      causeTag: "NetworkError",
      partial: { text: "", reasoning: "", toolCalls: [] },
      message: "cut"
    }),
    502,
    "server_error",
    "stream_interrupted",
    OpenAI.InternalServerError
  ],
  [
    new LlmError.CircuitOpen({ provider, key: "openai", until: now + 1_500, message: "open" }),
    503,
    "server_error",
    "circuit_open",
    OpenAI.InternalServerError
  ],
  [
    new LlmError.RateLimitExceeded({
      provider: "liter-llm",
      tenant: "t",
      kind: "requests",
      limit: "60 requests per 1 minute",
      message: "limit"
    }),
    429,
    "requests",
    "rate_limit_exceeded",
    OpenAI.RateLimitError
  ],
  [
    new LlmError.BudgetExceeded({
      provider: "liter-llm",
      tenant: "t",
      limitUsd: 10,
      spentUsd: 9.9,
      reservedUsd: 0,
      requestedUsd: 0.2,
      message: "budget"
    }),
    429,
    "insufficient_quota",
    "budget_exceeded",
    OpenAI.RateLimitError
  ],
  [
    // refused only by the reservations of calls in flight: retryable soon, not out of quota
    heldByCallsInFlight,
    429,
    "rate_limit_error",
    "budget_exceeded",
    OpenAI.RateLimitError
  ],
  [
    new LlmError.CostLimitExceeded({
      provider: "liter-llm",
      tenant: "t",
      limitUsd: 0.1,
      estimatedUsd: 0.5,
      message: "cost"
    }),
    400,
    "invalid_request_error",
    "cost_limit_exceeded",
    OpenAI.BadRequestError
  ],
  [
    new LlmError.GuardrailBlocked({
      provider: "liter-llm",
      stage: "input",
      guardrail: "pii",
      reason: "an email",
      message: "blocked"
    }),
    400,
    "invalid_request_error",
    "guardrail_blocked",
    OpenAI.BadRequestError
  ],
  [
    new LlmError.PolicyUnavailable({
      provider: "liter-llm",
      policy: "budget",
      reason: "timed out",
      message: "the budget store did not answer"
    }),
    503,
    "server_error",
    "policy_unavailable",
    OpenAI.InternalServerError
  ]
]

describe("encodeError", () => {
  it("covers every LlmError tag", () => {
    const tags = new Set(table.map(([error]) => error._tag))
    expect([...tags].sort()).toEqual(LlmError.LlmError.members.map((member) => member._tag).sort())
  })

  for (const [error, status, type, code, Class] of table) {
    it(`${error._tag}${error._tag === "Timeout" ? ` (${error.phase})` : ""}: ${status} ${code}, the SDK's ${Class.name}`, () => {
      const encoded = Wire.encodeError(error, { now })
      expect(encoded.status).toBe(status)
      expect(encoded.body.error).toMatchObject({ type, code })
      const sdk = OpenAI.APIError.generate(encoded.status, encoded.body, undefined, new Headers(encoded.headers))
      expect(sdk).toBeInstanceOf(Class)
      expect(sdk.code).toBe(code)
      expect(sdk.type).toBe(type)
      // never a raw upstream body, never a key
      expect(JSON.stringify(encoded)).not.toContain("sk-live")
      expect(JSON.stringify(encoded)).not.toContain("Incorrect API key")
    })
  }

  it("a WireError: 400 with its param and code, a BadRequestError for the SDK", () => {
    const error = new Wire.WireError({ message: "only `n: 1` is supported", param: "n", code: "unsupported_parameter" })
    const encoded = Wire.encodeError(error)
    expect(encoded).toEqual({
      status: 400,
      headers: {},
      body: {
        error: {
          message: "only `n: 1` is supported",
          type: "invalid_request_error",
          param: "n",
          code: "unsupported_parameter"
        }
      }
    })
    const sdk = OpenAI.APIError.generate(400, encoded.body, undefined, new Headers())
    expect(sdk).toBeInstanceOf(OpenAI.BadRequestError)
    expect(sdk.param).toBe("n")
  })

  it("a provider's own message is kept where it is the client's to read", () => {
    const error = new LlmError.ContextLengthExceeded({ provider, message: "openai: 130000 tokens > 128000" })
    expect(Wire.encodeError(error).body.error).toEqual({
      message: "openai: 130000 tokens > 128000",
      type: "invalid_request_error",
      param: "messages",
      code: "context_length_exceeded"
    })
  })

  it("an upstream's 400 naming a field in OpenAI's error JSON passes the field on as param; nothing else does", () => {
    const param = (body: string | undefined) =>
      Wire.encodeError(new LlmError.InvalidRequest({ provider, status: 400, body, message: "bad" })).body.error.param
    const openAiBody = (value: unknown) =>
      JSON.stringify({ error: { message: "bad", type: "invalid_request_error", param: value, code: null } })
    expect(param(openAiBody("tools[0].function.name"))).toBe("tools[0].function.name")
    expect(param(openAiBody("messages.[2].content"))).toBe("messages.[2].content")
    // no field path: absent, null, a number, text with spaces or markup, or far too long
    for (const value of [undefined, null, 3, "see https://x.example/docs", "<b>x</b>", "a".repeat(201)]) {
      expect(param(openAiBody(value))).toBeNull()
    }
    // other providers' bodies, and bodies that are not JSON (or cut short)
    for (
      const body of [
        undefined,
        "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\"}}",
        "Bad Request",
        "{\"error\":{\"param\":\"x\""
      ]
    ) {
      expect(param(body)).toBeNull()
    }
    // a gateway-made 400 keeps its own
    expect(
      Wire.encodeError(new LlmError.ContextLengthExceeded({ provider, body: openAiBody("max_tokens"), message: "x" }))
        .body.error.param
    ).toBe("messages")
  })

  it("an upstream's refused key is the operator's problem: 502, a message naming the provider only, no retry", () => {
    const encoded = Wire.encodeError(table[1]![0])
    expect(encoded.body.error.message).toBe(
      "The upstream provider \"openai\" refused the gateway's credentials: the gateway's configuration needs fixing"
    )
    expect(encoded.headers["x-should-retry"]).toBe("false")
  })

  it("RateLimitExceeded: retry-after in seconds rounded up, and in ms", () => {
    const error = new LlmError.RateLimitExceeded({
      provider: "liter-llm",
      tenant: "t",
      kind: "tokens",
      limit: "1000 tokens per 1 minute",
      retryAfter: Duration.millis(12_300),
      message: "limit"
    })
    const encoded = Wire.encodeError(error)
    expect(encoded.headers).toEqual({ "retry-after": "13", "retry-after-ms": "12300" })
    expect(encoded.body.error.type).toBe("tokens")
  })

  it("BudgetExceeded: retry-after until resetsAt; without it (or beyond the SDKs' 60 s) no retry", () => {
    const budget = {
      provider: "liter-llm",
      tenant: "t",
      limitUsd: 10,
      spentUsd: 10,
      reservedUsd: 0,
      requestedUsd: 1,
      message: "b"
    }
    expect(Wire.encodeError(new LlmError.BudgetExceeded({ ...budget, resetsAt: now + 30_001 }), { now }).headers)
      .toEqual({
        "retry-after": "31",
        "retry-after-ms": "30001"
      })
    expect(Wire.encodeError(new LlmError.BudgetExceeded({ ...budget, resetsAt: now + 3_600_000 }), { now }).headers)
      .toEqual({
        "retry-after": "3600",
        "retry-after-ms": "3600000",
        "x-should-retry": "false"
      })
    expect(Wire.encodeError(new LlmError.BudgetExceeded(budget), { now }).headers).toEqual({
      "x-should-retry": "false"
    })
  })

  it("BudgetExceeded by calls in flight only: retry-after its retryAfter, retried by the SDKs, not insufficient_quota", () => {
    for (const options of [{ now }, {}]) {
      const encoded = Wire.encodeError(heldByCallsInFlight, options)
      expect(encoded.status).toBe(429)
      expect(encoded.headers).toEqual({ "retry-after": "1", "retry-after-ms": "1000" })
      expect(encoded.body.error).toMatchObject({ type: "rate_limit_error", code: "budget_exceeded" })
    }
  })

  it("CircuitOpen: retry-after until `until` (0 once passed); none without the time", () => {
    const open = new LlmError.CircuitOpen({ provider, key: "openai", until: now + 1_500, message: "open" })
    expect(Wire.encodeError(open, { now }).headers).toEqual({ "retry-after": "2", "retry-after-ms": "1500" })
    expect(Wire.encodeError(open, { now: now + 5_000 }).headers).toEqual({ "retry-after": "0", "retry-after-ms": "0" })
    expect(Wire.encodeError(open).headers).toEqual({})
  })

  it("upstream RateLimited / Overloaded pass on their Retry-After; the provider's no-retry verdict too", () => {
    const limited = new LlmError.RateLimited({ provider, retryAfter: Duration.seconds(2), message: "slow" })
    expect(Wire.encodeError(limited).headers).toEqual({ "retry-after": "2", "retry-after-ms": "2000" })
    const overloaded = new LlmError.Overloaded({ provider, retryAfter: Duration.seconds(120), message: "busy" })
    expect(Wire.encodeError(overloaded).headers).toEqual({
      "retry-after": "120",
      "retry-after-ms": "120000",
      "x-should-retry": "false"
    })
    const final = new LlmError.ServerError({ provider, shouldRetry: false, message: "boom" })
    expect(Wire.encodeError(final).headers).toEqual({ "x-should-retry": "false" })
    // a 400 is never retried by the SDKs: no header needed
    expect(Wire.encodeError(new LlmError.InvalidRequest({ provider, shouldRetry: false, message: "x" })).headers)
      .toEqual({})
  })

  it("a 5xx after the route's own retries or fallback steps is final: the SDKs do not multiply the calls", () => {
    const failed = new LlmError.ServerError({ provider, status: 500, message: "boom" })
    expect(Wire.encodeError(failed, { attempts: 1 }).headers).toEqual({})
    expect(Wire.encodeError(failed).headers).toEqual({})
    expect(Wire.encodeError(failed, { attempts: 3 }).headers).toEqual({ "x-should-retry": "false" })
    const timedOut = new LlmError.Timeout({ provider, phase: "request", message: "slow" })
    expect(Wire.encodeError(timedOut, { attempts: 2 }).headers).toEqual({ "x-should-retry": "false" })
    // A 429 keeps its own guidance (retry-after): the route's retries do not make it final.
    const limited = new LlmError.RateLimited({ provider, retryAfter: Duration.seconds(2), message: "slow" })
    expect(Wire.encodeError(limited, { attempts: 3 }).headers).toEqual({ "retry-after": "2", "retry-after-ms": "2000" })
  })

  it("statusOf is the status encodeError answers with", () => {
    for (
      const error of [
        new LlmError.Timeout({ provider, phase: "request", message: "slow" }),
        new LlmError.GuardrailBlocked({ provider, stage: "output", guardrail: "g", reason: "r", message: "m" }),
        new LlmError.StreamInterrupted({
          provider,
          partial: { text: "", reasoning: "", toolCalls: [] },
          causeTag: "NetworkError",
          message: "cut"
        })
      ]
    ) {
      expect(Wire.statusOf(error)).toBe(Wire.encodeError(error).status)
    }
  })
})

describe("errorEvent", () => {
  it("after content, the SDK's stream iteration throws an APIError with the message and code", async () => {
    const encoder = Wire.makeChunkEncoder({ model: "m", id: "chatcmpl-1", created: 1, includeUsage: false })
    const error = new LlmError.StreamInterrupted({
      provider,
      causeTag: "Timeout",
      partial: { text: "Hel", reasoning: "", toolCalls: [] },
      message: "the stream stopped after 30 s without a token"
    })
    const sse = encoder.part({ type: "text-delta", text: "Hel" }) + encoder.errorEvent(error)
    const stream = Stream.fromSSEResponse<OpenAI.ChatCompletionChunk>(new Response(sse), new AbortController())
    const seen: Array<string> = []
    const thrown = await (async () => {
      for await (const chunk of stream) seen.push(chunk.choices[0]?.delta.content ?? "")
    })().then(() => undefined, (cause: unknown) => cause)
    expect(seen).toEqual(["Hel"])
    expect(thrown).toBeInstanceOf(OpenAI.APIError)
    const apiError = thrown as APIError
    expect(apiError.message).toBe(
      "The stream from the upstream provider \"openai\" was interrupted after it started (Timeout); the answer is incomplete."
    )
    expect(apiError.code).toBe("stream_interrupted")
    expect(apiError.type).toBe("server_error")
  })

  it("is one data event holding the same error object as the error response", () => {
    const encoder = Wire.makeChunkEncoder({ model: "m", id: "c", created: 1, includeUsage: true })
    const error = new LlmError.GuardrailBlocked({
      provider: "liter-llm",
      stage: "output",
      guardrail: "pii",
      reason: "x",
      message: "blocked"
    })
    expect(encoder.errorEvent(error)).toBe(`data: ${JSON.stringify(Wire.encodeError(error).body)}\n\n`)
  })
})
