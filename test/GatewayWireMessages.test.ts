import { describe, expect, it } from "@effect/vitest"
import * as Wire from "../src/gateway/wire/index.js"
import * as LlmError from "../src/LlmError.js"

const provider = "dead"
/** What an operator's message may quote: an upstream's address, a store's URL, a host name, a file. */
const leaky =
  "dead: Transport error: connect ECONNREFUSED 10.20.30.40:8000 via http://llm.corp.internal:9000/v1, redis://:pw@127.0.0.1:6390/99, getaddrinfo ENOTFOUND vllm-0, /etc/liter/gateway.yaml"
const internals = ["10.20.30.40", "8000", "llm.corp.internal", "9000", "127.0.0.1", "6390", "vllm-0", "/etc/liter"]
const partial = { text: "Hel", reasoning: "", toolCalls: [] }

/** One error of every tag, each with the leaky message. */
const everyTag: ReadonlyArray<LlmError.LlmError> = [
  new LlmError.InvalidRequest({ provider, message: leaky }),
  new LlmError.AuthenticationFailed({ provider, message: leaky }),
  new LlmError.NotFound({ provider, message: leaky }),
  new LlmError.ContextLengthExceeded({ provider, message: leaky }),
  new LlmError.ContentFiltered({ provider, message: leaky }),
  new LlmError.QuotaExhausted({ provider, message: leaky }),
  new LlmError.RateLimited({ provider, message: leaky }),
  new LlmError.Overloaded({ provider, message: leaky }),
  new LlmError.ServerError({ provider, status: 500, message: leaky }),
  new LlmError.Timeout({ provider, phase: "request", message: leaky }),
  new LlmError.NetworkError({ provider, message: leaky }),
  new LlmError.MalformedResponse({ provider, message: leaky }),
  new LlmError.EmptyResponse({ provider, message: leaky }),
  new LlmError.StreamInterrupted({ provider, causeTag: "NetworkError", partial, message: leaky }),
  new LlmError.CircuitOpen({ provider, key: "http://llm.corp.internal:9000", until: 0, message: leaky }),
  new LlmError.RateLimitExceeded({
    provider,
    tenant: "acme",
    kind: "requests",
    limit: "1 per 1 second",
    message: leaky
  }),
  new LlmError.BudgetExceeded({
    provider,
    tenant: "acme",
    limitUsd: 1,
    spentUsd: 1,
    reservedUsd: 0,
    requestedUsd: 0.1,
    message: leaky
  }),
  new LlmError.CostLimitExceeded({ provider, tenant: "acme", limitUsd: 0.1, message: leaky }),
  new LlmError.GuardrailBlocked({ provider, stage: "input", guardrail: "pii", reason: "an email", message: leaky }),
  new LlmError.PolicyUnavailable({ provider, policy: "rate-limit", reason: leaky, message: leaky })
]

/** The tags whose message is fixed: the provider's (or a store's) own words are the operator's business. */
const fixed = new Set<LlmError.Tag>([
  "AuthenticationFailed",
  "NotFound",
  "QuotaExhausted",
  "RateLimited",
  "Overloaded",
  "ServerError",
  "Timeout",
  "NetworkError",
  "MalformedResponse",
  "EmptyResponse",
  "StreamInterrupted",
  "CircuitOpen",
  "PolicyUnavailable"
])

const messageOf = (error: LlmError.LlmError) => Wire.encodeError(error).body.error.message

describe("client-facing error messages", () => {
  it("every tag is listed", () => {
    expect(everyTag.map((error) => error._tag).sort()).toEqual(
      LlmError.LlmError.members.map((member) => member._tag).sort()
    )
  })

  for (const error of everyTag) {
    it(`${error._tag}: no address, host, port or file path reaches the client`, () => {
      const encoded = JSON.stringify(Wire.encodeError(error))
      for (const internal of internals) expect(encoded).not.toContain(internal)
      const event = Wire.makeChunkEncoder({ model: "m", id: "c", created: 1, includeUsage: false }).errorEvent(error)
      for (const internal of internals) expect(event).not.toContain(internal)
      if (fixed.has(error._tag)) {
        expect(messageOf(error)).not.toContain("Transport error")
        if (error._tag !== "PolicyUnavailable") expect(messageOf(error)).toContain("upstream provider \"dead\"")
      } else {
        // the rest of the client's message stays: it helps fix the request
        expect(messageOf(error)).toBe(
          "dead: Transport error: connect ECONNREFUSED <address> via <address>, <address>, getaddrinfo ENOTFOUND <address>, <path>"
        )
      }
    })
  }

  it("upstream failures name the provider and what happened", () => {
    expect(messageOf(new LlmError.NetworkError({ provider, message: leaky }))).toBe(
      "The upstream provider \"dead\" could not be reached (the connection failed or was cut)."
    )
    expect(messageOf(new LlmError.ServerError({ provider, status: 503, message: leaky }))).toBe(
      "The upstream provider \"dead\" failed with a server error (HTTP 503)."
    )
    expect(messageOf(new LlmError.ServerError({ provider, message: leaky }))).toBe(
      "The upstream provider \"dead\" failed with a server error."
    )
    // An error event or object inside a 200 answer, and a status no server error has, say what they are.
    expect(messageOf(new LlmError.ServerError({ provider, status: 200, message: leaky }))).toBe(
      "The upstream provider \"dead\" sent an error instead of an answer."
    )
    expect(messageOf(new LlmError.ServerError({ provider, status: 409, message: leaky }))).toBe(
      "The upstream provider \"dead\" failed (HTTP 409)."
    )
    expect(messageOf(new LlmError.RateLimited({ provider, message: "org-abc123 over its TPM" }))).toBe(
      "The upstream provider \"dead\" is rate limiting the gateway; retry later."
    )
    const phases = (["request", "first-token", "idle", "total"] as const).map((phase) =>
      messageOf(new LlmError.Timeout({ provider, phase, message: leaky }))
    )
    expect(phases).toEqual([
      "The upstream provider \"dead\" did not answer in time.",
      "The upstream provider \"dead\" did not start its answer in time.",
      "The upstream provider \"dead\" stopped sending its answer for too long.",
      "The upstream provider \"dead\" did not finish its answer in time."
    ])
  })

  it("a policy store down names the store; an unknown policy name (even an Object member) is only \"policy\"", () => {
    const unavailable = (policy: string) =>
      messageOf(new LlmError.PolicyUnavailable({ provider, policy, reason: "not connected", message: leaky }))
    expect(unavailable("rate-limit")).toBe("The gateway's rate-limit store is unavailable; retry later.")
    expect(unavailable("budget")).toBe("The gateway's budget store is unavailable; retry later.")
    expect(unavailable("constructor")).toBe("The gateway's policy store is unavailable; retry later.")
    expect(unavailable("<img src=x>")).toBe("The gateway's policy store is unavailable; retry later.")
  })

  it("an HTML page the upstream's error quotes (a proxy's error page) is left out of the client's message", () => {
    const page = "up 400: <html><head><title>400 Bad Request</title></head><body><center>nginx/1.25.3 on edge-7" +
      "</center></body></html>"
    expect(messageOf(new LlmError.InvalidRequest({ provider, message: page }))).toBe(
      "up 400: (an HTML page, not shown)"
    )
    // Text that only mentions a tag stays.
    expect(messageOf(new LlmError.InvalidRequest({ provider, message: "up 400: `stop` may hold <= 4 items" }))).toBe(
      "up 400: `stop` may hold <= 4 items"
    )
  })

  it("a stream cut after content names its cause's tag only when it is a tag", () => {
    const cut = (causeTag: string) =>
      messageOf(new LlmError.StreamInterrupted({ provider, causeTag, partial, message: leaky }))
    expect(cut("NetworkError")).toBe(
      "The stream from the upstream provider \"dead\" was interrupted after it started (NetworkError); the answer is incomplete."
    )
    expect(cut("http://10.0.0.1")).toBe(
      "The stream from the upstream provider \"dead\" was interrupted after it started; the answer is incomplete."
    )
  })
})

describe("withoutAddresses", () => {
  const cases: ReadonlyArray<readonly [string, string]> = [
    ["connect ECONNREFUSED 127.0.0.1:1", "connect ECONNREFUSED <address>"],
    ["connect ECONNREFUSED ::1:8080", "connect ECONNREFUSED <address>"],
    ["connect ECONNREFUSED [fd00::7]:8080 then", "connect ECONNREFUSED <address> then"],
    [
      "database 99 does not exist on the server at redis://127.0.0.1:6390/99 (see its `databases` setting)",
      "database 99 does not exist on the server at <address> (see its `databases` setting)"
    ],
    ["Invalid URL: https://llm.internal:8443/v1/chat?x=1.", "Invalid URL: <address>."],
    ["upstream llm.internal:8443 failed", "upstream <address> failed"],
    ["see api.internal.example/v1/models", "see <address>"],
    ["getaddrinfo EAI_AGAIN vllm-0.svc", "getaddrinfo EAI_AGAIN <address>"],
    ["connect ENOENT /var/run/llm.sock", "connect ENOENT <path>"],
    ["config C:\\gateway\\gw.yaml", "config <path>"],
    [
      "Incorrect API key provided for org org-ACME123 at api.internal.corp.",
      "Incorrect API key provided for org <account> at <address>."
    ],
    ["deployment on foo.openai.azure.com, project proj_abc123XYZ", "deployment on <address>, project <account>"],
    ["see redis.internal or vllm-0.svc", "see <address> or <address>"],
    // One-label service names of containers and clusters, and paths after a scheme without `//`.
    ["connect to cache:6379 failed; redis-master:6379", "connect to <address> failed; <address>"],
    ["proxy backend:80 refused, at backend-7:8080/v1", "proxy <address> refused, at <address>"],
    [
      "upstream my-project_vllm_1 at my-project_vllm_1:8000, llm_svc:8000",
      "upstream my-project_vllm_1 at <address>, <address>"
    ],
    ["open file:/etc/x and unix:/var/run/sock", "open <path> and <path>"],
    ["link-local fe80::1%eth0 failed", "link-local <address> failed"],
    ["read \\\\fileserver\\share\\models\\x.bin and \\\\?\\C:\\m\\y.bin", "read <path> and <path>"]
  ]
  for (const [text, expected] of cases) {
    it(`removes the address of ${JSON.stringify(text)}`, () => {
      expect(Wire.withoutAddresses(text)).toBe(expected)
    })
  }

  it("keeps what helps a client: parameter paths, MIME types, model names, times, amounts", () => {
    const kept = [
      "Invalid 'messages[1].content[0].image_url.url': expected a data URL (e.g. 'data:image/png;base64,aW1n'), got 'text/plain'.",
      "This model's maximum context length is 128000 tokens. However, you requested 130000 tokens.",
      "budget of tenant \"acme\": 0.2 USD does not fit (resets at 2025-01-01T10:30:00.000Z)",
      "models llama3.1:8b, qwen2.5:14b and gpt-4.1 and/or tokens/min at 10:30:00",
      "Invalid value at tools.function.parameters; messages.content.text is required (response_format.json_schema)",
      "an org-wide limit; version 1.2.3; Node.js; index.html; contact support@openai.com",
      "status:404, code:400, llama3:70b, gemma:2b, step 3:10"
    ]
    for (const text of kept) expect(Wire.withoutAddresses(text)).toBe(text)
  })
})
