/**
 * What the request log says of what was charged, through a served config: a stream the client leaves after
 * its first tokens is logged with the usage and cost its budget was charged (estimated, and marked so), and a
 * policy that refuses a fallback route names no provider.
 */
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Ref } from "effect"
import * as Build from "../src/gateway/buildRuntime.js"
import * as Metrics from "../src/gateway/Metrics.js"
import type * as Runtime from "../src/gateway/Runtime.js"
import { loadRuntime } from "../src/gateway/runtimeLoad.js"
import * as Server from "../src/gateway/Server.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import * as Tokenizer from "../src/Tokenizer.js"
import { configFile } from "./clients/gateway.js"
import { adminKey, call, chatBody, json, makeRuntime, requestLogs, serve, tenantKey } from "./support/gateway.js"
import { acme, twoProviders, withEnv } from "./support/gatewayConfig.js"
import { eventually } from "./support/loopback.js"

const decoder = new TextDecoder()

/** The config's gateway on a free loopback port. */
const served = (config: object) =>
  Effect.gen(function*() {
    const file = yield* configFile(JSON.stringify(config))
    const runtime = yield* withEnv(loadRuntime(file)).pipe(Effect.orDie, Effect.provide(NodeContext.layer))
    return yield* serve(runtime)
  })

/** The config with a budget for tenant acme. */
const withBudget = (config: ReturnType<typeof twoProviders>) => ({
  ...config,
  tenants: { ...config.tenants, acme: { ...config.tenants.acme, budget: { limitUsd: 1000, period: "day" } } }
})

/** A chat completion request of tenant acme. */
const postChat = (base: string, body: string) =>
  call(base, "/v1/chat/completions", { method: "POST", body, key: acme.key })

const logged = (lines: ReadonlyArray<Record<string, unknown>>) =>
  lines.filter((line) => line.message === "gateway request")

/** Reads a streamed answer until `until` has arrived, then cuts the connection. */
const readThenLeave = (base: string, body: string, until: string) =>
  Effect.gen(function*() {
    const controller = new AbortController()
    const response = yield* call(base, "/v1/chat/completions", {
      method: "POST",
      body,
      key: acme.key,
      signal: controller.signal
    })
    expect(response.status).toBe(200)
    const reader = response.body!.getReader()
    let received = ""
    while (!received.includes(until)) {
      const read = yield* Effect.promise(() => reader.read())
      if (read.done) return expect.fail(`the stream ended early: ${received}`)
      received += decoder.decode(read.value)
    }
    controller.abort()
  })

describe("Gateway request log: usage and who answered", () => {
  it.scopedLive("a stream the client leaves is logged with the usage and cost its budget was charged", () =>
    // The second upstream names a dated snapshot the prices do not know: the route's own model prices it.
    Effect.forEach(["model-b", "model-b-2026-01-01"], (upstreamModel) =>
      Effect.gen(function*() {
        const a = yield* MockProvider.make()
        const b = yield* MockProvider.make({
          script: [
            MockProvider.sse(
              OpenAiMock.streamEvents({ deltas: ["Hello", " there"], model: upstreamModel }).slice(0, 3),
              { hang: true, done: false }
            )
          ]
        })
        const { layer, lines } = requestLogs()
        const base = yield* served(withBudget(twoProviders(a, b))).pipe(Effect.provide(layer))
        yield* readThenLeave(base, chatBody("small", { stream: true, max_tokens: 5 }), "there")
        const spent = Effect.map(
          call(base, "/v1/usage", { key: acme.key }).pipe(Effect.flatMap(json)),
          (usage) => (usage as { budget: { spent_usd: number; reserved_usd: number } }).budget
        )
        yield* eventually(Effect.map(spent, (budget) => budget.reserved_usd === 0), "the reservation settled")
        yield* eventually(Effect.sync(() => logged(lines).length === 2), "the two request log lines")
        const line = logged(lines)[0]!
        expect(line).toMatchObject({ outcome: "interrupted", status: 200, provider: "b", usageEstimated: true })
        const inputTokens = line.inputTokens as number
        const outputTokens = line.outputTokens as number
        // What was received, counted as the budget counts it; the input is the tokenizer's count of the prompt.
        expect(outputTokens).toBe(Tokenizer.byModel.countText("Hello there", upstreamModel))
        expect(inputTokens).toBeGreaterThan(0)
        // At the config's prices (1 USD per input token, 2 per output token), what the budget charged.
        expect(line.costUsd).toBe(inputTokens + 2 * outputTokens)
        expect((yield* spent).spent_usd).toBeCloseTo(line.costUsd as number, 9)
      }), { discard: true }))

  it.scopedLive("a stream the upstream cuts while an output guardrail holds all it sent: the budget charges it", () =>
    Effect.gen(function*() {
      const a = yield* MockProvider.make()
      const b = yield* MockProvider.make({
        // Cut (the socket destroyed) after two deltas: before the guardrail released any text, so before the
        // answer's headers were committed.
        script: [MockProvider.sse(OpenAiMock.streamEvents({ deltas: ["ab", "cd", "ef"] }), { cutAfter: 3 })]
      })
      const { layer, lines } = requestLogs()
      const config = { ...withBudget(twoProviders(a, b)), guardrails: { output: [{ pii: { kinds: ["email"] } }] } }
      const base = yield* served(config).pipe(Effect.provide(layer))
      const response = yield* postChat(base, chatBody("small", { stream: true, max_tokens: 5 }))
      expect(response.status).toBe(502)
      expect(((yield* json(response)) as { error: { code: string } }).error.code).toBe("stream_interrupted")
      const spent = Effect.map(
        call(base, "/v1/usage", { key: acme.key }).pipe(Effect.flatMap(json)),
        (usage) => (usage as { budget: { spent_usd: number; reserved_usd: number } }).budget
      )
      yield* eventually(Effect.map(spent, (budget) => budget.reserved_usd === 0), "the reservation settled")
      const chats = () => logged(lines).filter((line) => line.path === "/v1/chat/completions")
      yield* eventually(Effect.sync(() => chats().length === 1), "the request log line")
      const line = chats()[0]!
      // The log counts what the client was sent: the prompt. The budget, below the guardrail, charges what the
      // provider sent too, which it billed.
      expect(line).toMatchObject({ provider: "b", usageEstimated: true, outputTokens: 0 })
      expect(line.inputTokens).toBeGreaterThan(0)
      expect((yield* spent).spent_usd).toBeGreaterThan(line.costUsd as number)
    }))

  it.scopedLive("requests that waited for an identical call which failed count the wait as upstream, not overhead", () =>
    Effect.gen(function*() {
      const a = yield* MockProvider.make()
      const b = yield* MockProvider.make({
        script: [OpenAiMock.error(503, null, { delay: "400 millis" })]
      })
      const { layer, lines } = requestLogs()
      const base = yield* served({ ...twoProviders(a, b), cache: { ttl: "1 minute" } }).pipe(Effect.provide(layer))
      const body = chatBody("small", {})
      const answers = yield* Effect.all([postChat(base, body), postChat(base, body), postChat(base, body)], {
        concurrency: "unbounded"
      })
      expect(answers.map((answer) => answer.status)).toEqual([503, 503, 503])
      expect(yield* b.requests).toHaveLength(1)
      yield* eventually(Effect.sync(() => logged(lines).length === 3), "the three request log lines")
      for (const line of logged(lines)) {
        expect(line.upstreamMs).toBeGreaterThanOrEqual(390)
        expect(line.overheadMs).toBeLessThan(200)
      }
    }))

  it.scopedLive("a client that leaves while waiting for an identical call in flight: the wait is upstream, not overhead", () =>
    Effect.gen(function*() {
      const a = yield* MockProvider.make()
      const b = yield* MockProvider.make({ script: [OpenAiMock.completion({ text: "shared" }, { delay: "1 second" })] })
      const { layer, lines } = requestLogs()
      const base = yield* served({ ...twoProviders(a, b), cache: { ttl: "1 minute" } }).pipe(Effect.provide(layer))
      const body = chatBody("small", {})
      const owner = yield* Effect.fork(postChat(base, body))
      yield* eventually(Effect.map(b.requests, (requests) => requests.length === 1), "the upstream call")
      // The second request joins the call in flight; its client leaves 300 ms later.
      const controller = new AbortController()
      const waiter = yield* Effect.fork(Effect.either(
        call(base, "/v1/chat/completions", { method: "POST", body, key: acme.key, signal: controller.signal })
      ))
      yield* Effect.sleep("300 millis")
      controller.abort()
      yield* Fiber.await(waiter)
      expect((yield* Fiber.join(owner)).status).toBe(200)
      expect(yield* b.requests).toHaveLength(1)
      yield* eventually(Effect.sync(() => logged(lines).length === 2), "the two request log lines")
      const left = logged(lines).find((line) => line.status === 499)
      expect(left).toMatchObject({ outcome: "interrupted", attempts: 0 })
      expect(left!.upstreamMs).toBeGreaterThanOrEqual(200)
      expect(left!.overheadMs).toBeLessThan(100)
    }))

  it.scopedLive("an estimate is priced as the budget prices it: by the provider's type, whatever the config names it", () =>
    Effect.gen(function*() {
      const upstream = yield* MockProvider.make({
        script: [
          MockProvider.sse(
            OpenAiMock.streamEvents({ deltas: ["Hello", " there"], model: "gpt-4o-mini" }).slice(0, 3),
            { hang: true, done: false }
          )
        ]
      })
      const { layer, lines } = requestLogs()
      // No `pricing`: the bundled dataset prices gpt-4o-mini for the provider "openai", not "upstream".
      const base = yield* served({
        providers: {
          upstream: { type: "openai", baseUrl: `${upstream.url}/v1`, apiKeyEnv: "MOCK_A_KEY", retry: false }
        },
        models: { small: { provider: "upstream", model: "gpt-4o-mini" } },
        tenants: { acme: { keys: [acme.hash], models: "*", budget: { limitUsd: 10, period: "day" } } }
      }).pipe(Effect.provide(layer))
      yield* readThenLeave(base, chatBody("small", { stream: true, max_tokens: 5 }), "there")
      yield* eventually(Effect.sync(() => logged(lines).length === 1), "the request log line")
      const line = logged(lines)[0]!
      expect(line).toMatchObject({ outcome: "interrupted", usageEstimated: true })
      expect(line.costUsd).toBeGreaterThan(0)
      const spent = Effect.map(
        call(base, "/v1/usage", { key: acme.key }).pipe(Effect.flatMap(json)),
        (usage) => (usage as { budget: { spent_usd: number; reserved_usd: number } }).budget
      )
      yield* eventually(Effect.map(spent, (budget) => budget.reserved_usd === 0), "the reservation settled")
      expect((yield* spent).spent_usd).toBeCloseTo(line.costUsd as number, 6)
    }))

  it.scopedLive("a whole answer without usage is logged, counted and headed with the cost its budget was charged", () =>
    Effect.gen(function*() {
      const a = yield* MockProvider.make()
      const b = yield* MockProvider.make({ script: [OpenAiMock.completion({ text: "Hello there", usage: null })] })
      const { layer, lines } = requestLogs()
      const base = yield* served(withBudget(twoProviders(a, b))).pipe(Effect.provide(layer))
      const response = yield* postChat(base, chatBody("small", { max_tokens: 5 }))
      expect(response.status).toBe(200)
      yield* eventually(Effect.sync(() => logged(lines).length === 1), "the request log line")
      const line = logged(lines)[0]!
      expect(line).toMatchObject({ outcome: "success", usageEstimated: true })
      expect(line.outputTokens).toBe(Tokenizer.byModel.countText("Hello there", "model-b"))
      expect(line.costUsd).toBe((line.inputTokens as number) + 2 * (line.outputTokens as number))
      expect(Number(response.headers.get("x-liter-cost-usd"))).toBe(line.costUsd)
      const usage = (yield* call(base, "/v1/usage", { key: acme.key }).pipe(Effect.flatMap(json))) as {
        budget: { spent_usd: number }
      }
      expect(usage.budget.spent_usd).toBeCloseTo(line.costUsd as number, 9)
    }))

  it.scopedLive("an answer an output guardrail blocked is logged, counted and headed with what it cost", () =>
    Effect.gen(function*() {
      const a = yield* MockProvider.make()
      const b = yield* MockProvider.make({
        script: [OpenAiMock.completion({ text: "the secretword", usage: { inputTokens: 7, outputTokens: 3 } })]
      })
      const { layer, lines } = requestLogs()
      const base = yield* served({
        ...twoProviders(a, b),
        guardrails: { output: [{ denyList: { terms: ["secretword"] } }] }
      }).pipe(Effect.provide(layer))
      const response = yield* postChat(base, chatBody("small"))
      expect(response.status).toBe(400)
      expect(response.headers.get("x-liter-cost-usd")).toBe("13")
      yield* eventually(Effect.sync(() => logged(lines).length === 1), "the request log line")
      expect(logged(lines)[0]).toMatchObject({
        outcome: "GuardrailBlocked",
        inputTokens: 7,
        outputTokens: 3,
        costUsd: 13,
        // What a guardrail blocked is content: without logContent, not even the term it found.
        error: "guardrail \"deny-list\" blocked the output"
      })
      expect(JSON.stringify(lines)).not.toContain("secretword")
    }))

  it.scopedLive("with logContent, the logged prompt is the one the input guardrails let through: redacted, or none", () =>
    Effect.gen(function*() {
      const a = yield* MockProvider.make()
      const b = yield* MockProvider.make({ script: [OpenAiMock.completion({ text: "Noted." })] })
      const config = twoProviders(a, b)
      const { layer, lines } = requestLogs()
      const base = yield* served({
        ...config,
        server: { logContent: true },
        guardrails: { input: [{ pii: {} }, { denyList: { terms: ["forbidden"] } }] }
      }).pipe(Effect.provide(layer))
      const ask = (content: string) =>
        postChat(base, JSON.stringify({ model: "small", messages: [{ role: "user", content }] }))
      expect((yield* ask("my email is carol@example.org")).status).toBe(200)
      expect((yield* ask("a forbidden topic, carol@example.org")).status).toBe(400)
      yield* eventually(Effect.sync(() => logged(lines).length === 2), "the request log lines")
      const [redacted, blocked] = logged(lines)
      // what the provider was sent, and what the log shows
      expect(JSON.stringify((yield* b.requests)[0]?.body)).not.toContain("carol@example.org")
      expect(JSON.stringify(redacted!.prompt)).not.toContain("carol@example.org")
      expect(JSON.stringify(redacted!.prompt)).toContain("my email is")
      expect(blocked!.prompt).toBe(Build.blockedPrompt)
      // With logContent the reason is logged too: the term found.
      expect(blocked!.error).toBe("guardrail \"deny-list\" blocked the input: denied term \"forbidden\"")
      expect(JSON.stringify(lines)).not.toContain("carol@example.org")
    }))

  it.scopedLive("a finished stream with the provider's usage is logged as reported, not estimated", () =>
    Effect.gen(function*() {
      const a = yield* MockProvider.make()
      const b = yield* MockProvider.make({
        script: [OpenAiMock.stream({ deltas: ["Hi"], model: "model-b", usage: { inputTokens: 7, outputTokens: 3 } })]
      })
      const { layer, lines } = requestLogs()
      const base = yield* served(twoProviders(a, b)).pipe(Effect.provide(layer))
      const response = yield* postChat(base, chatBody("small", { stream: true }))
      expect(yield* Effect.promise(() => response.text())).toContain("[DONE]")
      yield* eventually(Effect.sync(() => logged(lines).length === 1), "the request log line")
      const line = logged(lines)[0]!
      expect(line).toMatchObject({ outcome: "success", inputTokens: 7, outputTokens: 3, costUsd: 13 })
      expect(line).not.toHaveProperty("usageEstimated")
    }))

  it.scopedLive("a guardrail that refuses a fallback route: the log names no provider, only the outcome", () =>
    Effect.gen(function*() {
      const a = yield* MockProvider.make()
      const b = yield* MockProvider.make()
      const { layer, lines } = requestLogs()
      const base = yield* served({
        ...twoProviders(a, b),
        guardrails: { input: [{ denyList: { terms: ["forbidden"] } }] }
      }).pipe(Effect.provide(layer))
      const refused = yield* postChat(
        base,
        JSON.stringify({ model: "smart", messages: [{ role: "user", content: "a forbidden topic" }] })
      )
      expect(refused.status).toBe(400)
      yield* eventually(Effect.sync(() => logged(lines).length === 1), "the request log line")
      expect(logged(lines)[0]).toMatchObject({ outcome: "GuardrailBlocked", route: "smart", provider: null })
      expect([...(yield* a.requests), ...(yield* b.requests)]).toEqual([])
    }))

  it.scopedLive("a client that leaves before the first token: the log names the provider that was called", () =>
    Effect.gen(function*() {
      const a = yield* MockProvider.make()
      // The role chunk, then nothing: the route waits for its first token.
      const b = yield* MockProvider.make({
        script: [
          MockProvider.sse(OpenAiMock.streamEvents({ model: "model-b" }).slice(0, 1), { hang: true, done: false })
        ]
      })
      const { layer, lines } = requestLogs()
      const base = yield* served({ ...twoProviders(a, b), server: { holdHeaders: "10 seconds" } }).pipe(
        Effect.provide(layer)
      )
      const controller = new AbortController()
      const pending = yield* Effect.fork(Effect.either(Effect.tryPromise(() =>
        fetch(`${base}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${acme.key}`, "content-type": "application/json" },
          body: chatBody("small", { stream: true }),
          signal: controller.signal
        })
      )))
      yield* eventually(Effect.map(b.requests, (requests) => requests.length === 1), "the upstream call")
      controller.abort()
      yield* Fiber.await(pending)
      yield* eventually(Effect.sync(() => logged(lines).length === 1), "the request log line")
      expect(logged(lines)[0]).toMatchObject({
        status: 499,
        outcome: "interrupted",
        provider: "b",
        model: "model-b",
        attempts: 1,
        inputTokens: null
      })
    }))

  it.scopedLive("an unknown path or a wrong method under /v1/ is logged and counted, without its key; other paths are not", () =>
    Effect.gen(function*() {
      const { layer, lines } = requestLogs()
      const metrics = Metrics.make()
      const base = yield* serve(makeRuntime({ tenants: [{ id: "acme" }], routes: {} }), { metrics }).pipe(
        Effect.provide(layer)
      )
      const refusals = [
        ["GET", "/v1/foo", 404, "UnknownUrl"],
        ["GET", "/v1", 404, "UnknownUrl"],
        ["GET", "/v1/chat/completions", 405, "MethodNotAllowed"],
        ["DELETE", "/v1/models", 405, "MethodNotAllowed"],
        ["POST", "/v1/models/gpt-4o", 405, "MethodNotAllowed"],
        ["GET", "/chat/completions", 405, "MethodNotAllowed"]
      ] as const
      for (const [i, [method, path, status]] of refusals.entries()) {
        const response = yield* call(base, `${path}?q=1`, { method, headers: { "x-request-id": `refused-${i}` } })
        expect(response.status).toBe(status)
        yield* Effect.promise(() => response.text())
      }
      // Not the API: answered, neither logged nor counted.
      expect((yield* call(base, "/v2/nothing")).status).toBe(404)
      expect((yield* call(base, "/health", { method: "POST" })).status).toBe(405)
      yield* eventually(Effect.sync(() => logged(lines).length === refusals.length), "the request log lines")
      // In the order sent: a line is written once its answer is, which may be after the next request's.
      const byId = logged(lines).sort((a, b) => String(a.requestId).localeCompare(String(b.requestId)))
      expect(byId.map((line) => [line.requestId, line.method, line.path, line.status, line.outcome])).toEqual(
        refusals.map(([method, path, status, outcome], i) => [`refused-${i}`, method, path, status, outcome])
      )
      for (const line of byId) expect(line).toMatchObject({ tenant: "", route: "", stream: false, attempts: 0 })
      expect(JSON.stringify(lines)).not.toContain(tenantKey("acme"))
      const text = yield* Effect.promise(() => metrics.registry.metrics())
      expect(text).toContain(
        "liter_llm_gateway_requests_total{tenant=\"\",route=\"_OTHER\",status=\"404\",outcome=\"UnknownUrl\",stream=\"false\"} 2"
      )
      expect(text).toContain(
        "liter_llm_gateway_requests_total{tenant=\"\",route=\"_OTHER\",status=\"405\",outcome=\"MethodNotAllowed\",stream=\"false\"} 4"
      )
      expect(text).not.toContain("SECRETKEY")
    }))

  it.scopedLive("every 4xx or 5xx answer of the API is logged with its status and its error's tag, never as a success", () =>
    Effect.gen(function*() {
      const { layer, lines } = requestLogs()
      const runtime = makeRuntime({ tenants: [{ id: "acme" }, { id: "beta" }], routes: {} })
      const { base, unloaded } = yield* Effect.all({
        base: serve(runtime),
        unloaded: serve(Server.fromRef(yield* Ref.make<Runtime.Runtime | undefined>(undefined)))
      }).pipe(Effect.provide(layer))
      const refusals = [
        [base, "GET", "/v1/models/zzz", tenantKey("acme"), 404, "NotFound"],
        [base, "HEAD", "/v1/models/zzz", tenantKey("acme"), 404, "NotFound"],
        [base, "GET", "/v1/usage?tenant=beta", tenantKey("acme"), 403, "PermissionDenied"],
        [base, "GET", "/v1/usage?tenant=nobody", adminKey, 404, "NotFound"],
        // Two tenants asked for in one request: neither answer would be the one asked for.
        [base, "GET", "/v1/usage?tenant=acme&tenant=beta", adminKey, 400, "WireError"],
        [base, "GET", "/v1/models", adminKey, 403, "PermissionDenied"],
        [base, "GET", "/v1/models", null, 401, "Unauthenticated"],
        [unloaded, "GET", "/v1/models", tenantKey("acme"), 503, "NotReady"]
      ] as const
      for (const [i, [server, method, path, key, status]] of refusals.entries()) {
        const response = yield* call(server, path, { method, key, headers: { "x-request-id": `refused-${i}` } })
        expect(response.status).toBe(status)
        yield* Effect.promise(() => response.text())
      }
      yield* eventually(Effect.sync(() => logged(lines).length === refusals.length), "the request log lines")
      const byId = logged(lines).sort((a, b) => String(a.requestId).localeCompare(String(b.requestId)))
      expect(byId.map((line) => [line.method, line.path, line.status, line.outcome])).toEqual(
        refusals.map(([, method, path, , status, outcome]) => [method, path.split("?")[0], status, outcome])
      )
    }))
})
