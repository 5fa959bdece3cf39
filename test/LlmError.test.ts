import { describe, expect, it } from "@effect/vitest"
import { Duration, Schema } from "effect"
import * as Errors from "../src/internal/errors.js"
import type * as Headers from "../src/internal/headers.js"
import * as OpenAiErrors from "../src/internal/openai/errors.js"
import * as LlmError from "../src/LlmError.js"
import { describeFixtures, readFixture, readFixtureHeaders } from "./support/fixtures.js"

// ---------------------------------------------------------------------------------------------------------------
// tags
// ---------------------------------------------------------------------------------------------------------------

const provider = "openai"
const partial = { text: "Hel", reasoning: "", toolCalls: [] }

/** One instance of every tag, with its expected fault domain and retryability. */
const everyTag: ReadonlyArray<readonly [LlmError.LlmError, LlmError.Fault, boolean]> = [
  [new LlmError.InvalidRequest({ provider, message: "m" }), "caller", false],
  [new LlmError.AuthenticationFailed({ provider, message: "m" }), "caller", false],
  [new LlmError.NotFound({ provider, message: "m" }), "caller", false],
  [new LlmError.ContextLengthExceeded({ provider, message: "m" }), "caller", false],
  [new LlmError.ContentFiltered({ provider, message: "m" }), "caller", false],
  [new LlmError.QuotaExhausted({ provider, message: "m" }), "caller", false],
  [new LlmError.RateLimited({ provider, message: "m" }), "provider", true],
  [new LlmError.Overloaded({ provider, message: "m" }), "provider", true],
  [new LlmError.ServerError({ provider, message: "m" }), "provider", true],
  [new LlmError.Timeout({ provider, message: "m", phase: "idle" }), "provider", true],
  [new LlmError.NetworkError({ provider, message: "m" }), "provider", true],
  [new LlmError.MalformedResponse({ provider, message: "m" }), "provider", false],
  [new LlmError.EmptyResponse({ provider, message: "m" }), "provider", false],
  [new LlmError.StreamInterrupted({ provider, message: "m", partial, causeTag: "NetworkError" }), "provider", false],
  [new LlmError.CircuitOpen({ provider, message: "m", key: "openai", until: 1000 }), "policy", false],
  [
    new LlmError.RateLimitExceeded({
      provider,
      message: "m",
      tenant: "t",
      kind: "requests",
      limit: "1 request per 1 second"
    }),
    "policy",
    false
  ],
  [
    new LlmError.BudgetExceeded({
      provider,
      message: "m",
      tenant: "t",
      limitUsd: 1,
      spentUsd: 1,
      reservedUsd: 0,
      requestedUsd: 0.1
    }),
    "policy",
    false
  ],
  [new LlmError.CostLimitExceeded({ provider, message: "m", tenant: "t", limitUsd: 1 }), "policy", false],
  [
    new LlmError.GuardrailBlocked({ provider, message: "m", stage: "input", guardrail: "g", reason: "r" }),
    "policy",
    false
  ],
  [new LlmError.PolicyUnavailable({ provider, message: "m", policy: "budget", reason: "timed out" }), "policy", true]
]

describe("LlmError tags", () => {
  it("the table covers every member of the union", () => {
    expect(everyTag.map(([error]) => error._tag)).toEqual(LlmError.LlmError.members.map((member) => member._tag))
  })

  for (const [error, fault, retryable] of everyTag) {
    it(`${error._tag}: fault ${fault}, ${retryable ? "retryable" : "not retryable"}`, () => {
      expect(LlmError.fault(error)).toBe(fault)
      expect(LlmError.isRetryable(error)).toBe(retryable)
      expect(LlmError.isLlmError(error)).toBe(true)
    })
  }

  it("shouldRetry overrides the tag's retryability, both ways", () => {
    expect(LlmError.isRetryable(new LlmError.ServerError({ provider, message: "m", shouldRetry: false }))).toBe(false)
    expect(LlmError.isRetryable(new LlmError.RateLimited({ provider, message: "m", shouldRetry: false }))).toBe(false)
    expect(LlmError.isRetryable(new LlmError.InvalidRequest({ provider, message: "m", shouldRetry: true }))).toBe(true)
    expect(LlmError.isRetryable(
      new LlmError.StreamInterrupted({
        provider,
        message: "m",
        partial,
        causeTag: "Timeout",
        shouldRetry: true
      })
    )).toBe(true)
  })

  it("isLlmError rejects look-alikes", () => {
    expect(LlmError.isLlmError({ _tag: "ServerError", message: "m" })).toBe(false)
    expect(LlmError.isLlmError(new Error("boom"))).toBe(false)
    expect(LlmError.isLlmError(Object.assign(new Error("x"), { _tag: "Unknown" }))).toBe(false)
    expect(LlmError.isLlmError(null)).toBe(false)
    expect(LlmError.isLlmError("ServerError")).toBe(false)
  })

  it("truncateBody keeps maxBodyLength characters and says how many were cut", () => {
    const exact = "a".repeat(LlmError.maxBodyLength)
    expect(LlmError.truncateBody(exact)).toBe(exact)
    expect(LlmError.truncateBody(exact + "bc")).toBe(`${exact}… [2 more chars]`)
  })
})

// ---------------------------------------------------------------------------------------------------------------
// errors.fromResponse
// ---------------------------------------------------------------------------------------------------------------

const now = Date.UTC(2025, 0, 21, 16, 32, 48)
const context: Errors.ErrorContext = { provider: "openai", model: "gpt-4o", secrets: [] }

const fromResponse = (
  status: number,
  bodyText: string,
  headers: Headers.HeaderRecord = {},
  errorContext: Errors.ErrorContext = context
) => Errors.fromResponse(errorContext, OpenAiErrors.classifyError, { status, headers, bodyText }, now)

const millis = (duration: Duration.Duration | undefined) =>
  duration === undefined ? undefined : Duration.toMillis(duration)

const openAiBody = (fields: Record<string, unknown>) => JSON.stringify({ error: { param: null, ...fields } })

describe("LlmError.withPartial", () => {
  it("replaces the partial of a StreamInterrupted or a GuardrailBlocked that has one, keeping the rest", () => {
    const delivered = { text: "He", reasoning: "", toolCalls: [] }
    const cut = new LlmError.StreamInterrupted({ provider, message: "cut", causeTag: "NetworkError", partial })
    const replaced = LlmError.withPartial(cut, delivered)
    expect(replaced).toBeInstanceOf(LlmError.StreamInterrupted)
    expect(replaced).toMatchObject({ _tag: "StreamInterrupted", message: "cut", causeTag: "NetworkError" })
    expect(replaced.partial).toEqual(delivered)
    expect(replaced.stack).toBe(cut.stack)
    expect(cut.partial).toEqual(partial)
    const blocked = new LlmError.GuardrailBlocked({
      provider,
      message: "blocked",
      stage: "output",
      guardrail: "g",
      reason: "r",
      partial
    })
    expect(LlmError.withPartial(blocked, delivered).partial).toEqual(delivered)
    // Nothing delivered before the block: there is no partial to replace.
    const early = new LlmError.GuardrailBlocked({
      provider,
      message: "b",
      stage: "output",
      guardrail: "g",
      reason: "r"
    })
    expect(LlmError.withPartial(early, delivered)).toBe(early)
    const other = new LlmError.NetworkError({ provider, message: "m" })
    expect(LlmError.withPartial(other, delivered)).toBe(other)
  })
})

describe("LlmError.LlmError schema", () => {
  it("an error with retryAfter survives encoding, JSON and decoding (for a cache, or another process)", () => {
    const errors: ReadonlyArray<LlmError.LlmError> = [
      new LlmError.RateLimited({
        provider: "openai",
        message: "slow down",
        status: 429,
        retryAfter: Duration.seconds(2)
      }),
      new LlmError.CircuitOpen({
        provider: "openai",
        message: "open",
        key: "openai",
        until: 5_000,
        retryAfter: Duration.millis(1500)
      }),
      new LlmError.ServerError({ provider: "openai", message: "boom", status: 500 })
    ]
    for (const error of errors) {
      const wire = JSON.parse(JSON.stringify(Schema.encodeSync(LlmError.LlmError)(error)))
      const back = Schema.decodeUnknownSync(LlmError.LlmError)(wire)
      expect(back._tag).toBe(error._tag)
      expect(back.message).toBe(error.message)
      expect(back.retryAfter === undefined ? undefined : Duration.toMillis(back.retryAfter)).toBe(
        error.retryAfter === undefined ? undefined : Duration.toMillis(error.retryAfter)
      )
    }
  })
})

describe("errors.fromResponse: status", () => {
  const statuses: ReadonlyArray<readonly [number, LlmError.Tag]> = [
    [400, "InvalidRequest"],
    [401, "AuthenticationFailed"],
    [403, "AuthenticationFailed"],
    [402, "QuotaExhausted"],
    [404, "NotFound"],
    [408, "Timeout"],
    [409, "ServerError"],
    [413, "InvalidRequest"],
    [422, "InvalidRequest"],
    [429, "RateLimited"],
    [500, "ServerError"],
    [502, "ServerError"],
    [503, "Overloaded"],
    [529, "Overloaded"]
  ]

  for (const [status, tag] of statuses) {
    it(`${status} → ${tag}, keeping provider, model, status and the body`, () => {
      const error = fromResponse(status, "upstream said no")
      expect(error._tag).toBe(tag)
      expect(error.provider).toBe("openai")
      expect(error.model).toBe("gpt-4o")
      expect(error.status).toBe(status)
      expect(error.body).toBe("upstream said no")
      expect(error.message).toBe(`openai ${status}: upstream said no`)
      expect(error.requestId).toBeUndefined()
      expect(error.retryAfter).toBeUndefined()
      expect(error.shouldRetry).toBeUndefined()
    })
  }

  it("408 is a Timeout of the request phase", () => {
    const error = fromResponse(408, "")
    expect(error).toBeInstanceOf(LlmError.Timeout)
    expect(error._tag === "Timeout" ? error.phase : undefined).toBe("request")
  })

  it("an empty body: no body field, and the message says so", () => {
    const error = fromResponse(500, "")
    expect(error.body).toBeUndefined()
    expect(error.message).toBe("openai 500: empty body")
  })

  it("no model in the context: no model field", () => {
    const error = fromResponse(500, "x", {}, { provider: "azure", secrets: [] })
    expect(error.provider).toBe("azure")
    expect("model" in error).toBe(false)
  })
})

describe("errors.fromResponse: headers", () => {
  it("keeps the x-request-id", () => {
    expect(fromResponse(500, "x", { "x-request-id": "req_123" }).requestId).toBe("req_123")
  })

  it("reads retryAfter from retry-after, retry-after-ms and an HTTP-date", () => {
    expect(millis(fromResponse(429, "x", { "retry-after": "2" }).retryAfter)).toBe(2000)
    expect(millis(fromResponse(429, "x", { "retry-after-ms": "1500" }).retryAfter)).toBe(1500)
    expect(millis(fromResponse(429, "x", { "retry-after": new Date(now + 3000).toUTCString() }).retryAfter)).toBe(3000)
  })

  it("headers win over a retryAfter read from the body, which is used without them", () => {
    const classify: Errors.ClassifyError = () => ({ retryAfter: Duration.seconds(7) })
    const response = (headers: Headers.HeaderRecord) =>
      Errors.fromResponse(context, classify, { status: 429, headers, bodyText: "{}" }, now)
    expect(millis(response({}).retryAfter)).toBe(7000)
    expect(millis(response({ "retry-after": "1" }).retryAfter)).toBe(1000)
  })

  it("x-should-retry is kept and overrides the tag", () => {
    const noRetry = fromResponse(500, "x", { "x-should-retry": "false" })
    expect(noRetry.shouldRetry).toBe(false)
    expect(LlmError.isRetryable(noRetry)).toBe(false)

    const retry = fromResponse(400, "x", { "x-should-retry": "true" })
    expect(retry._tag).toBe("InvalidRequest")
    expect(retry.shouldRetry).toBe(true)
    expect(LlmError.isRetryable(retry)).toBe(true)
  })
})

describe("errors.fromResponse: body", () => {
  it("a huge body is truncated to maxBodyLength in body, and to maxMessageDetail in the message", () => {
    const huge = "x".repeat(LlmError.maxBodyLength + 5904)
    const error = fromResponse(500, huge)
    expect(error.body).toBe(`${"x".repeat(LlmError.maxBodyLength)}… [5904 more chars]`)
    expect(error.message).toBe(`openai 500: ${"x".repeat(Errors.maxMessageDetail)}… [truncated]`)
  })

  it("a huge provider message is bounded too", () => {
    const error = fromResponse(500, JSON.stringify({ error: { message: "m".repeat(100_000) } }))
    expect(error.message).toBe(`openai 500: ${"m".repeat(Errors.maxMessageDetail)}… [truncated]`)
  })

  it("a body within the limit is kept whole", () => {
    const body = "y".repeat(LlmError.maxBodyLength)
    expect(fromResponse(500, body).body).toBe(body)
  })
})

describe("errors.fromResponse: OpenAI error bodies", () => {
  it("429 insufficient_quota → QuotaExhausted (not retryable)", () => {
    const error = fromResponse(
      429,
      openAiBody({
        message: "You exceeded your current quota.",
        type: "insufficient_quota",
        code: "insufficient_quota"
      })
    )
    expect(error._tag).toBe("QuotaExhausted")
    expect(error.status).toBe(429)
    expect(LlmError.isRetryable(error)).toBe(false)
    expect(error.message).toBe("openai 429: You exceeded your current quota.")
  })

  it("400 context_length_exceeded → ContextLengthExceeded", () => {
    const message =
      "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens."
    const error = fromResponse(
      400,
      openAiBody({ message, type: "invalid_request_error", param: "messages", code: "context_length_exceeded" })
    )
    expect(error._tag).toBe("ContextLengthExceeded")
    expect(error.message).toContain(message)
  })

  it("Azure 400 with only innererror ResponsibleAIPolicyViolation → ContentFiltered", () => {
    const error = fromResponse(
      400,
      JSON.stringify({ error: { message: "filtered", innererror: { code: "ResponsibleAIPolicyViolation" } } })
    )
    expect(error._tag).toBe("ContentFiltered")
  })

  it("the type is used when there is no code; an unknown code falls back to the status", () => {
    expect(fromResponse(429, openAiBody({ message: "m", type: "insufficient_quota", code: null }))._tag).toBe(
      "QuotaExhausted"
    )
    expect(fromResponse(429, openAiBody({ message: "m", type: "tokens", code: "rate_limit_exceeded" }))._tag).toBe(
      "RateLimited"
    )
  })

  it("a string error is the message", () => {
    expect(fromResponse(502, JSON.stringify({ error: "Bad gateway upstream" })).message).toBe(
      "openai 502: Bad gateway upstream"
    )
  })
})

describeFixtures("errors.fromResponse: recorded OpenAI / Azure error bodies", () => {
  const classified = (
    file: string,
    status: number,
    headers: Headers.HeaderRecord = {},
    errorContext: Errors.ErrorContext = context
  ) => {
    const bodyText = readFixture(file)
    return { bodyText, error: fromResponse(status, bodyText, headers, errorContext) }
  }

  it("openai 400 unsupported_parameter → InvalidRequest with the provider's message", () => {
    const { bodyText, error } = classified("openai/error-400-unsupported-parameter.json", 400)
    expect(error._tag).toBe("InvalidRequest")
    expect(error.status).toBe(400)
    expect(error.body).toBe(bodyText)
    expect(error.message).toBe(
      "openai 400: Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead."
    )
  })

  it("openai 401 invalid_api_key with its recorded headers → AuthenticationFailed with the request id", () => {
    const recorded = readFixtureHeaders("openai/error-401-invalid-api-key.headers.json")
    expect(recorded.status).toBe(401)
    const { error } = classified("openai/error-401-invalid-api-key.json", recorded.status, recorded.headers)
    expect(error._tag).toBe("AuthenticationFailed")
    expect(error.status).toBe(401)
    expect(error.requestId).toBe("req_c45bfc7515dca54ef87c667f8210af23")
    expect(error.retryAfter).toBeUndefined()
    expect(error.message).toContain("Incorrect API key provided: sk-wrong****-key.")
    expect(LlmError.isRetryable(error)).toBe(false)
  })

  it("openai 404 model_not_found → NotFound", () => {
    const { error } = classified("openai/error-404-model-not-found.json", 404)
    expect(error._tag).toBe("NotFound")
    expect(error.message).toContain("The model `gpt-5.2-proo` does not exist")
  })

  it("model_not_found decides the tag even under another status", () => {
    const { error } = classified("openai/error-404-model-not-found.json", 400)
    expect(error._tag).toBe("NotFound")
    expect(error.status).toBe(400)
  })

  it("openai 429 rate_limit_exceeded (tokens) → RateLimited, retryable", () => {
    const { error } = classified("openai/error-429-rate-limit-tokens.json", 429, { "retry-after": "1" })
    expect(error._tag).toBe("RateLimited")
    expect(millis(error.retryAfter)).toBe(1000)
    expect(error.message).toContain("Rate limit reached for 10KTPM-200RPM")
    expect(LlmError.isRetryable(error)).toBe(true)
  })

  it("openai insufficient_quota (the recorded error event) as a 429 body → QuotaExhausted", () => {
    const event = readFixture("openai/responses-stream-error-insufficient-quota.jsonl")
      .split("\n")
      .find((line) => line.includes("\"type\":\"error\""))
    expect(event).toBeDefined()
    const error = fromResponse(429, event ?? "")
    expect(error._tag).toBe("QuotaExhausted")
    expect(error.message).toContain("You exceeded your current quota")
  })

  it("openai 500 server_error (code null) → ServerError, retryable", () => {
    const { error } = classified("openai/error-500-server-error.json", 500, { "x-request-id": "req_540c" })
    expect(error._tag).toBe("ServerError")
    expect(error.requestId).toBe("req_540c")
    expect(error.message).toContain("The server had an error processing your request.")
    expect(LlmError.isRetryable(error)).toBe(true)
  })

  it("azure 400 content_filter → ContentFiltered, not retryable", () => {
    const { bodyText, error } = classified("azure/error-400-content-filter-prompt.json", 400, {
      "apim-request-id": "apim-1"
    }, { provider: "azure", model: "gpt-4o", secrets: [] })
    expect(error._tag).toBe("ContentFiltered")
    expect(error.provider).toBe("azure")
    expect(error.requestId).toBe("apim-1")
    expect(error.body).toBe(bodyText)
    expect(error.message).toContain("Azure OpenAI's content management policy")
    expect(LlmError.isRetryable(error)).toBe(false)
    expect(LlmError.fault(error)).toBe("caller")
  })
})

// ---------------------------------------------------------------------------------------------------------------
// secrets
// ---------------------------------------------------------------------------------------------------------------

describe("errors.fromResponse: secrets", () => {
  const secret = "sk-test-SECRET-1234567890"
  const withSecret: Errors.ErrorContext = { provider: "openai", secrets: [secret] }

  const expectNoSecret = (error: LlmError.LlmError, fragment: string = secret) => {
    expect(error.message).not.toContain(fragment)
    expect(error.body ?? "").not.toContain(fragment)
    expect(String(error)).not.toContain(fragment)
    expect(JSON.stringify(error)).not.toContain(fragment)
    expect(error.stack ?? "").not.toContain(fragment)
  }

  it("a JSON body that echoes the key: scrubbed from message, body, String and JSON", () => {
    const error = fromResponse(
      401,
      openAiBody({
        message: `Incorrect API key provided: ${secret}.`,
        type: "invalid_request_error",
        code: "invalid_api_key"
      }),
      {},
      withSecret
    )
    expect(error._tag).toBe("AuthenticationFailed")
    expectNoSecret(error)
    expect(error.message).toContain("<redacted>")
    expect(error.body).toContain("<redacted>")
  })

  it("an echo of the key percent-encoded or in base64 is scrubbed too", () => {
    // A key with characters a URL encodes (as base64-style keys have).
    const key = "Zm9v+YmFy/YmF6=0123"
    const error = fromResponse(
      500,
      `rejected: url=/v1?key=${encodeURIComponent(key)} auth=Basic ${btoa(key)}`,
      {},
      { provider: "azure", secrets: [key] }
    )
    expect(encodeURIComponent(key)).not.toBe(key)
    for (const form of [key, encodeURIComponent(key), btoa(key)]) {
      expect(error.message).not.toContain(form)
      expect(error.body ?? "").not.toContain(form)
    }
    expect(error.message).toContain("<redacted>")
  })

  it("an echo percent-encoded with lowercase hex, or in a basic-auth value (user:key), is scrubbed too", () => {
    const key = "sk-live_ABC/def-123_xyz"
    const lowerHex = encodeURIComponent(key).replace(/%2F/g, "%2f")
    for (const user of ["", "u", "us", "user"]) {
      const basic = btoa(`${user}:${key}`)
      const error = fromResponse(401, `bad key at /v1?key=${lowerHex} (Basic ${basic})`, {}, {
        provider: "openai",
        secrets: [key]
      })
      for (const text of [error.message, error.body!]) {
        expect(text).not.toContain(lowerHex)
        expect(text).not.toContain(basic)
        // The characters that only the key's bytes determine are replaced, leaving those of `user:` and the end.
        expect(text).toMatch(/Basic [A-Za-z0-9+/]{0,8}<redacted>[A-Za-z0-9+/]{0,2}={0,2}\)$/)
      }
    }
  })

  it("an echo of the key with JSON escapes (\\/, \\u005f, any case) is scrubbed from the body a parser reads", () => {
    const key = "sk-proj/abcdEF_secret-999"
    const escapedSlash = openAiBody({ message: `Incorrect API key provided: ${key}` }).replace(/\//g, "\\/")
    const escapedChars = `{"error":{"message":"bad key ${key.replace(/_/g, "\\u005F").replace("s", "\\u0073")}"}}`
    for (const body of [escapedSlash, escapedChars]) {
      const error = fromResponse(401, body, {}, { provider: "openai", secrets: [key] })
      // What a JSON parser reads back from the body, and the message.
      expect(JSON.stringify(JSON.parse(error.body!))).not.toContain(key)
      expect(error.message).not.toContain(key)
      expect(error.body).toContain("<redacted>")
    }
  })

  it("a key echoed into the request id header is scrubbed from requestId", () => {
    const error = fromResponse(500, "oops", { "x-request-id": `req ${secret}` }, withSecret)
    expect(error.requestId).toBe("req <redacted>")
  })

  it("a plain-text body that echoes the key", () => {
    const error = fromResponse(500, `upstream rejected key ${secret} twice: ${secret}`, {}, withSecret)
    expectNoSecret(error)
    expect(error.message).toBe("openai 500: upstream rejected key <redacted> twice: <redacted>")
  })

  it("a huge body with the key past the truncation point", () => {
    const error = fromResponse(500, "z".repeat(LlmError.maxBodyLength + 10) + secret, {}, withSecret)
    expectNoSecret(error)
  })

  it("a key straddling the message's truncation point leaks no prefix of it", () => {
    const body = "z".repeat(Errors.maxMessageDetail - secret.length + 3) + secret + " trailing text"
    const error = fromResponse(500, body, {}, withSecret)
    expectNoSecret(error, secret.slice(0, -3))
  })

  it("a key straddling the truncation point leaks no prefix of it", () => {
    // the key starts 3 characters before the cut, so all but its last 3 characters fall inside the kept part
    const body = "z".repeat(LlmError.maxBodyLength - secret.length + 3) + secret + " trailing text"
    const error = fromResponse(500, body, {}, withSecret)
    expectNoSecret(error, secret.slice(0, -3))
  })
})

describe("errors.jsonParseReason", () => {
  const reasonOf = (text: string) => {
    try {
      JSON.parse(text)
    } catch (cause) {
      return Errors.jsonParseReason(cause)
    }
    throw new Error("parsed")
  }

  it("drops the excerpt of the input a parse error quotes, keeping the token and position", () => {
    expect(reasonOf("sk-secretKEY-1234567890abcdef")).toBe("Unexpected token 's'")
    expect(reasonOf("{\"id\": sk-secretKEY-1234567890abcdef}")).toBe("Unexpected token 's'")
    expect(reasonOf("abc")).toBe("Unexpected token 'a'")
    expect(reasonOf("")).toBe("Unexpected end of JSON input")
    expect(reasonOf("{\"a\":1}x")).toMatch(/^Unexpected non-whitespace character after JSON at position 7/)
    // Another engine's wording: whatever it quotes goes.
    expect(Errors.jsonParseReason(new SyntaxError("JSON Parse error: Unexpected identifier \"sk\""))).toBe(
      "JSON Parse error: Unexpected identifier"
    )
  })
})
