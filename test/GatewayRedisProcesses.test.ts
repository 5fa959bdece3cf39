/**
 * Two gateway instances, each a process started with `liter-llm gateway --config FILE --port P`, on one
 * redis-server and the same config: a tenant's rate limit and budget hold across both (what one instance let
 * through counts in the other), other tenants are unaffected, and an answer cached through one is a hit in the
 * other.
 */
import { expect, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { afterAll, beforeAll } from "vitest"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { configFile } from "./clients/gateway.js"
import { call, chatBody, json } from "./support/gateway.js"
import { keyPair, twoProviders } from "./support/gatewayConfig.js"
import { startGateway } from "./support/gatewayProcess.js"
import { eventually, secretKey } from "./support/loopback.js"
import { describeRedis, type RedisServer, uniquePrefix } from "./support/redis.js"

const tenants = {
  limited: keyPair("limited"),
  limitedPeer: keyPair("limited-peer"),
  budgeted: keyPair("budgeted"),
  budgetedPeer: keyPair("budgeted-peer"),
  cached: keyPair("cached")
}

/**
 * Requests per window of the limited tenants. Windows are aligned (an hour: from one full hour to the next): a
 * case's calls, a second or so, fall in one window in all but about one run in several thousand.
 */
const requestLimit = 3
const rateLimit = { requests: { limit: requestLimit, window: "1 hour" } }
/**
 * The budgeted tenants' budget, USD. A call costs 20 USD (the mock's 10 input and 5 output tokens at the test
 * prices of 1 and 2 USD a token) and is admitted while spent + its estimate fits; the estimate is the prompt's
 * tokens plus the model's most of 5 output tokens, so over 10 USD and under 30: two calls, then refused.
 */
const budget = { limitUsd: 50, period: "day" }
const callUsd = 20

/** The two instances' base URLs and the provider behind them. */
interface Instances {
  readonly a: string
  readonly b: string
  readonly provider: MockProvider.MockProvider
  /** What instance A printed so far. */
  readonly outputOfA: () => string
}

const startInstances = (server: RedisServer): Effect.Effect<Instances, never, Scope.Scope> =>
  Effect.gen(function*() {
    // Every answer its own text, so a cache hit is told from a new call by its content.
    let answers = 0
    const provider = yield* MockProvider.make({
      onExhausted: MockProvider.fromRequest((request) =>
        MockProvider.json(
          OpenAiMock.completionBody({ text: `answer ${++answers}`, model: OpenAiMock.requestedModel(request) })
        )
      )
    })
    const base = twoProviders(provider, provider)
    const entry = (key: { readonly hash: string }, extra: object = {}) => ({
      keys: [key.hash],
      models: "*",
      ...extra
    })
    const configPath = yield* configFile(JSON.stringify({
      ...base,
      redis: { keyPrefix: uniquePrefix("gateways") },
      cache: { ttl: "10 minutes" },
      tenants: {
        limited: entry(tenants.limited, { rateLimit }),
        "limited-peer": entry(tenants.limitedPeer, { rateLimit }),
        budgeted: entry(tenants.budgeted, { budget }),
        "budgeted-peer": entry(tenants.budgetedPeer, { budget }),
        cached: entry(tenants.cached)
      }
    }))
    const env = { REDIS_URL: server.url, MOCK_A_KEY: secretKey, MOCK_B_KEY: secretKey }
    const [a, b] = yield* Effect.all([
      startGateway({ configPath, env, name: "A" }),
      startGateway({ configPath, env, name: "B" })
    ], { concurrency: 2 })
    return { a: a.base, b: b.base, provider, outputOfA: a.output }
  })

/** A chat completion on route `small` with a prompt of its own (so the cache never answers it unless asked). */
const ask = (base: string, key: string, prompt: string) =>
  call(base, "/v1/chat/completions", {
    method: "POST",
    key,
    body: chatBody("small", { messages: [{ role: "user", content: prompt }] })
  })

const usage = (base: string, key: string) => Effect.flatMap(call(base, "/v1/usage", { key }), json)

/** How many calls whose prompt starts with `prefix` reached the provider. */
const sentWith = (provider: MockProvider.MockProvider, prefix: string) =>
  Effect.map(
    provider.requests,
    (requests) =>
      requests.filter((request) =>
        (request.body as { messages: Array<{ content: string }> }).messages[0]!.content.startsWith(prefix)
      ).length
  )

/** A refusal: its status, OpenAI error JSON, and when (epoch ms) it says to come back. */
const refusal = (response: Response) =>
  Effect.map(json(response), (body) => ({
    status: response.status,
    error: body.error,
    retryAt: Date.now() + Number(response.headers.get("retry-after-ms")),
    retryAfter: Number(response.headers.get("retry-after"))
  }))

describeRedis("Gateway instances on one Redis, as separate processes", (server) => {
  // Started once for the cases, which use distinct tenants; stopped after them, whatever their outcome.
  const scope = Effect.runSync(Scope.make())
  let started: Instances | undefined
  beforeAll(async () => {
    started = await Effect.runPromise(Scope.extend(startInstances(server), scope))
  }, 90_000)
  afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))
  const gateways = Effect.suspend(() =>
    started === undefined ? Effect.dieMessage("the gateways did not start") : Effect.succeed(started)
  )

  it.live("a tenant's rate limit holds across both instances, refused by either; a peer tenant is unaffected", () =>
    Effect.gen(function*() {
      const { a, b, provider } = yield* gateways
      const key = tenants.limited.key
      for (const [i, base] of [a, b, a].entries()) {
        const response = yield* ask(base, key, `limits ${i}`)
        expect(response.status).toBe(200)
        expect(response.headers.get("x-ratelimit-limit-requests")).toBe(`${requestLimit}`)
        // Read once the call is admitted: what is left after it, as OpenAI's headers say.
        expect(response.headers.get("x-ratelimit-remaining-requests")).toBe(`${requestLimit - i - 1}`)
        // The other instance counts what this one let through.
        const other = base === a ? b : a
        expect((yield* usage(other, key)).rate_limits.requests).toMatchObject({
          limit: requestLimit,
          remaining: requestLimit - i - 1
        })
      }
      const refused = []
      for (const [name, base] of [["B", b], ["A", a]] as const) {
        const response = yield* ask(base, key, `limits refused by ${name}`)
        expect(response.headers.get("x-ratelimit-limit-requests")).toBe(`${requestLimit}`)
        expect(response.headers.get("x-ratelimit-remaining-requests")).toBe("0")
        // Up to the hour the window lasts ("1h0m0s" just after a full hour).
        expect(response.headers.get("x-ratelimit-reset-requests")).toMatch(/^(\d+h)?(\d+m)?\d+s$/)
        refused.push(yield* refusal(response))
      }
      for (const { error, retryAfter, status } of refused) {
        expect(status).toBe(429)
        expect(error).toMatchObject({ type: "requests", code: "rate_limit_exceeded" })
        expect(error.message).toContain("tenant \"limited\"")
        expect(retryAfter).toBeGreaterThan(0)
      }
      // Both send the client to the end of the same window, which is the end of this hour (aligned windows).
      const windowEnd = Math.ceil(Date.now() / 3_600_000) * 3_600_000
      for (const { retryAt } of refused) expect(Math.abs(retryAt - windowEnd)).toBeLessThan(2_000)
      expect(yield* sentWith(provider, "limits ")).toBe(requestLimit)
      // A tenant with the same limit has its own window, in both instances.
      expect((yield* ask(b, tenants.limitedPeer.key, "limits of a peer")).status).toBe(200)
      expect((yield* usage(a, tenants.limitedPeer.key)).rate_limits.requests.remaining).toBe(requestLimit - 1)
      // The CLI's request log: one JSON line per request, the refusal among them, never the key.
      const { outputOfA } = yield* gateways
      // Written in batches every 20 ms: the refusals' lines may still be on their way.
      yield* eventually(Effect.sync(() => outputOfA().includes("\"RateLimitExceeded\"")), "the refusals' log lines")
      const logged = outputOfA().split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line))
      expect(logged.find((line) => line.message === "gateway: listening")?.annotations.address).toBe(a)
      expect(logged.filter((line) => line.message === "gateway request")).toContainEqual(
        expect.objectContaining({
          logLevel: "INFO",
          annotations: expect.objectContaining({ tenant: "limited", status: 429, outcome: "RateLimitExceeded" })
        })
      )
      expect(outputOfA()).not.toContain(key)
      // Once each: no second, human-readable copy of the lines.
      expect(outputOfA().split("\n").filter((line) => /^\[\d\d:\d\d/.test(line))).toEqual([])
    }))

  it.live("a tenant's budget holds across both instances: spend through A is in B's usage; both refuse once spent", () =>
    Effect.gen(function*() {
      const { a, b, provider } = yield* gateways
      const key = tenants.budgeted.key
      const first = yield* ask(a, key, "budget 1")
      expect(first.status).toBe(200)
      expect(first.headers.get("x-liter-cost-usd")).toBe(`${callUsd}`)
      const seenByB = (yield* usage(b, key)).budget
      expect(seenByB).toMatchObject({
        limit_usd: budget.limitUsd,
        spent_usd: callUsd,
        reserved_usd: 0,
        remaining_usd: budget.limitUsd - callUsd
      })
      expect((yield* ask(b, key, "budget 2")).status).toBe(200)
      const seenByA = (yield* usage(a, key)).budget
      expect(seenByA).toMatchObject({ spent_usd: 2 * callUsd, remaining_usd: budget.limitUsd - 2 * callUsd })
      expect(seenByA.resets_at).toBe(seenByB.resets_at)
      // 10 USD left, less than a call's estimate: refused by either instance, before the provider.
      for (const [name, base] of [["A", a], ["B", b]] as const) {
        const refused = yield* refusal(yield* ask(base, key, `budget refused by ${name}`))
        expect(refused.status).toBe(429)
        expect(refused.error).toMatchObject({ type: "insufficient_quota", code: "budget_exceeded" })
        // Until the budget's period ends, as the usage says.
        expect(Math.abs(refused.retryAt - seenByA.resets_at * 1000)).toBeLessThan(2_000)
      }
      expect(yield* sentWith(provider, "budget ")).toBe(2)
      expect((yield* usage(b, key)).budget.spent_usd).toBe(2 * callUsd)
      // A tenant with the same budget has spent nothing of it.
      expect((yield* ask(b, tenants.budgetedPeer.key, "budget of a peer")).status).toBe(200)
      expect((yield* usage(a, tenants.budgetedPeer.key)).budget).toMatchObject({
        spent_usd: callUsd,
        remaining_usd: budget.limitUsd - callUsd
      })
    }))

  it.live("an answer cached through A is a hit in B, without a provider call", () =>
    Effect.gen(function*() {
      const { a, b, provider } = yield* gateways
      const key = tenants.cached.key
      const miss = yield* ask(a, key, "cache: Capital of France?")
      expect(miss.status).toBe(200)
      expect(miss.headers.get("x-liter-cache")).toBe("miss")
      const hit = yield* ask(b, key, "cache: Capital of France?")
      expect(hit.status).toBe(200)
      expect(hit.headers.get("x-liter-cache")).toBe("hit")
      expect(hit.headers.get("x-liter-attempts")).toBe("0")
      const answer = (yield* json(miss)).choices[0].message.content
      expect(answer).toMatch(/^answer \d+$/)
      expect((yield* json(hit)).choices[0].message.content).toBe(answer)
      expect(yield* sentWith(provider, "cache: ")).toBe(1)
    }))

  it.live("a library's console warning (ioredis: a password Redis needs none of) is a JSON log line, without the password", () =>
    Effect.scoped(Effect.gen(function*() {
      const provider = yield* MockProvider.make()
      const configPath = yield* configFile(JSON.stringify({ ...twoProviders(provider, provider), redis: {} }))
      const password = "unneeded-pw-1234"
      const gateway = yield* startGateway({
        configPath,
        env: {
          REDIS_URL: server.url.replace("redis://", `redis://:${password}@`),
          MOCK_A_KEY: secretKey,
          MOCK_B_KEY: secretKey
        },
        name: "with a password"
      })
      const warned = () => gateway.output().split("\n").find((line) => line.includes("does not require a password"))
      yield* eventually(Effect.sync(() => warned() !== undefined), "the warning")
      expect(JSON.parse(warned()!)).toMatchObject({ logLevel: "WARN", annotations: { source: "console" } })
      expect(gateway.output()).not.toContain(password)
    })))
})
