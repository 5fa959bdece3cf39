import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Stream } from "effect"
import type * as ChatRequest from "../src/ChatRequest.js"
import * as ChatResponse from "../src/ChatResponse.js"
import * as Stores from "../src/gateway/buildStores.js"
import type * as Runtime from "../src/gateway/Runtime.js"
import { fromLoaded } from "../src/gateway/runtimeLoad.js"
import * as LanguageModel from "../src/LanguageModel.js"
import type * as LlmError from "../src/LlmError.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { acme, admin, decode, globex, twoProviders } from "./support/gatewayConfig.js"
import { adjustTo, arrivals, awaitSleepUntil } from "./support/loopback.js"

const ask = (tenant: string, content = "hi") => ({
  model: "ignored-by-the-route",
  messages: [{ role: "user" as const, content }],
  metadata: { tenant }
})

const runtimeOf = (input: unknown) =>
  Effect.gen(function*() {
    const loaded = yield* decode(input)
    return yield* Effect.orDie(fromLoaded(loaded, yield* Stores.makeMemory))
  })

const tenantOf = (runtime: Runtime.Runtime, key: string): Runtime.Tenant => {
  const caller = runtime.authenticate(key)
  if (caller?._tag !== "Tenant") throw new Error(`not a tenant key: ${caller?._tag}`)
  return caller.tenant
}

const failureTag = (exit: Exit.Exit<unknown, LlmError.LlmError>) =>
  Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error._tag : `not a failure: ${exit._tag}`

describe("Gateway runtime from a config", () => {
  it.scoped("a route's timeout and a step's retry override their provider's phase by phase, field by field", () =>
    Effect.gen(function*() {
      const [role, first] = OpenAiMock.streamEvents({ deltas: ["a", "b"] })
      const a = yield* MockProvider.make({
        script: [OpenAiMock.error(503, "busy"), OpenAiMock.error(503, "busy"), OpenAiMock.completion({ text: "ok" })]
      })
      const b = yield* MockProvider.make({
        script: [
          MockProvider.stream([role, first].map((event) => `data: ${JSON.stringify(event)}\n\n`), { hang: true })
        ]
      })
      const base = twoProviders(a, b)
      const runtime = yield* runtimeOf({
        ...base,
        providers: {
          a: { ...base.providers.a, retry: { times: 3, base: "2 seconds", jitter: 0 } },
          b: { ...base.providers.b, timeout: { idle: "5 seconds", request: "10 seconds" } }
        },
        models: {
          smart: { fallback: [{ provider: "a", model: "model-a", retry: { times: 2 } }] },
          small: { provider: "b", model: "model-b", timeout: { request: "60 seconds" } }
        }
      })
      const tenant = tenantOf(runtime, acme.key)
      // The step's two retries, 2 s then 4 s apart: the provider's base, not the default's.
      const answer = yield* Effect.fork(runtime.route(tenant, "smart")!.generate(ask("acme")))
      for (const at of [2000, 6000]) {
        yield* awaitSleepUntil(at)
        yield* adjustTo(at)
      }
      expect(ChatResponse.text(yield* Fiber.join(answer))).toBe("ok")
      expect(yield* arrivals(a)).toEqual([0, 2000, 6000])
      // The route's request timeout keeps the provider's idle: the stalled stream ends 5 s after its first part.
      const streamed: Array<string> = []
      const stream = yield* Effect.fork(
        Stream.runForEach(
          runtime.route(tenant, "small")!.stream(ask("acme")),
          (part) => Effect.sync(() => part.type === "text-delta" && streamed.push(part.text))
        ).pipe(Effect.exit)
      )
      yield* awaitSleepUntil(11_000)
      yield* adjustTo(11_000)
      expect(failureTag(yield* Fiber.join(stream))).toBe("StreamInterrupted")
      expect(streamed).toEqual(["a"])
    }))

  it.scoped("a fallback route answers through its second provider after the first fails, each with its own model", () =>
    Effect.gen(function*() {
      const a = yield* MockProvider.make({ script: [OpenAiMock.error(503, "overloaded")] })
      const b = yield* MockProvider.make({ script: [OpenAiMock.completion({ text: "from b" })] })
      const runtime = yield* runtimeOf(twoProviders(a, b))
      const service = runtime.route(tenantOf(runtime, acme.key), "smart")!
      const response = yield* service.generate(ask("acme"))
      expect(response.provider).toBe("b")
      expect(response.model).toBe("model-b")
      const [toA] = yield* a.requests
      const [toB] = yield* b.requests
      expect(OpenAiMock.requestedModel(toA!)).toBe("model-a")
      expect(OpenAiMock.requestedModel(toB!)).toBe("model-b")
      // the provider keys come from the environment
      expect(toB!.headers.authorization).toMatch(/^Bearer sk-test-/)
    }))

  it.scoped("keys: tenants, the admin, and nobody; a tenant sees and gets only the routes it may use", () =>
    Effect.gen(function*() {
      const a = yield* MockProvider.make()
      const b = yield* MockProvider.make()
      const runtime = yield* runtimeOf(twoProviders(a, b))
      expect(runtime.authenticate(admin.key)).toEqual({ _tag: "Admin" })
      expect(runtime.authenticate(`${acme.key}x`)).toBeUndefined()
      expect(runtime.authenticate(acme.hash)).toBeUndefined()
      const acmeTenant = tenantOf(runtime, acme.key)
      const globexTenant = tenantOf(runtime, globex.key)
      expect(acmeTenant).toEqual({ id: "acme", models: "*" })
      expect(runtime.models(acmeTenant)).toEqual(["smart", "small"])
      expect(runtime.models(globexTenant)).toEqual(["small"])
      expect(runtime.route(globexTenant, "smart")).toBeUndefined()
      expect(runtime.route(globexTenant, "small")).toBeDefined()
      expect(runtime.route(acmeTenant, "nope")).toBeUndefined()
      expect(runtime.tenants).toEqual(["acme", "globex"])
      expect(yield* runtime.ready).toBe(true)
      expect(runtime.settings).toEqual({ maxBodyBytes: 1024 * 1024, dropUnsupported: false, logContent: false })
    }))

  it.scoped("budgets per tenant: charged after each call, refused once spent, other tenants unaffected; usage reports it", () =>
    Effect.gen(function*() {
      const a = yield* MockProvider.make()
      const b = yield* MockProvider.make({ onExhausted: OpenAiMock.completion({ text: "ok" }) })
      const base = twoProviders(a, b)
      const runtime = yield* runtimeOf({
        ...base,
        tenants: {
          acme: { ...base.tenants.acme, budget: { limitUsd: 25, period: "day" } },
          globex: { ...base.tenants.globex, budget: { limitUsd: 1000, period: "month" } }
        }
      })
      const small = (key: string) => runtime.route(tenantOf(runtime, key), "small")!
      // 10 input tokens at 1 USD and 5 output tokens at 2 USD: 20 USD a call
      yield* small(acme.key).generate(ask("acme"))
      const usage = yield* runtime.usage("acme")
      expect(usage.budget?.spentUsd).toBe(20)
      expect(usage.budget?.limitUsd).toBe(25)
      expect(usage.rateLimits).toBeUndefined()
      expect(failureTag(yield* Effect.exit(small(acme.key).generate(ask("acme"))))).toBe("BudgetExceeded")
      yield* small(globex.key).generate(ask("globex"))
      expect((yield* runtime.usage("globex")).budget?.spentUsd).toBe(20)
      expect((yield* b.requests).length).toBe(2)
    }))

  it.scoped("a stream read as a pull (as the server reads it) runs the tenant's budget, priced from the config", () =>
    Effect.gen(function*() {
      const a = yield* MockProvider.make()
      const b = yield* MockProvider.make({ onExhausted: OpenAiMock.stream({ deltas: ["o", "k"] }) })
      const base = twoProviders(a, b)
      const runtime = yield* runtimeOf({
        ...base,
        tenants: { ...base.tenants, acme: { ...base.tenants.acme, budget: { limitUsd: 25, period: "day" } } }
      })
      const route = runtime.route(tenantOf(runtime, acme.key), "small")!
      const text = yield* Effect.scoped(Effect.gen(function*() {
        const pull = yield* LanguageModel.toPull(route, ask("acme"))
        let text = ""
        for (let chunk = yield* Effect.option(pull); chunk._tag === "Some"; chunk = yield* Effect.option(pull)) {
          for (const part of chunk.value) if (part.type === "text-delta") text += part.text
        }
        return text
      }))
      expect(text).toBe("ok")
      // Charged when the stream ends, at the config's prices.
      expect((yield* runtime.usage("acme")).budget?.spentUsd).toBeGreaterThan(0)
    }))

  it.scoped("the per-request cost guard of a tenant refuses a request estimated above it, before any call", () =>
    Effect.gen(function*() {
      const a = yield* MockProvider.make()
      const b = yield* MockProvider.make({ onExhausted: OpenAiMock.completion() })
      const base = twoProviders(a, b)
      const runtime = yield* runtimeOf({
        ...base,
        tenants: { ...base.tenants, globex: { ...base.tenants.globex, maxRequestCostUsd: 1 } }
      })
      const exit = yield* Effect.exit(runtime.route(tenantOf(runtime, globex.key), "small")!.generate(ask("globex")))
      expect(failureTag(exit)).toBe("CostLimitExceeded")
      // acme has no guard
      yield* runtime.route(tenantOf(runtime, acme.key), "small")!.generate(ask("acme"))
      expect((yield* b.requests).length).toBe(1)
    }))

  it.scoped("rate limits per tenant across routes: the second request in the window is refused, others go on", () =>
    Effect.gen(function*() {
      const a = yield* MockProvider.make({ onExhausted: OpenAiMock.completion() })
      const b = yield* MockProvider.make({ onExhausted: OpenAiMock.completion() })
      const base = twoProviders(a, b)
      const runtime = yield* runtimeOf({
        ...base,
        tenants: {
          ...base.tenants,
          acme: { ...base.tenants.acme, rateLimit: { requests: { limit: 1, window: "1 minute" } } }
        }
      })
      const acmeTenant = tenantOf(runtime, acme.key)
      yield* runtime.route(acmeTenant, "small")!.generate(ask("acme"))
      const refused = yield* Effect.exit(runtime.route(acmeTenant, "smart")!.generate(ask("acme")))
      expect(failureTag(refused)).toBe("RateLimitExceeded")
      yield* runtime.route(tenantOf(runtime, globex.key), "small")!.generate(ask("globex"))
      expect((yield* runtime.usage("acme")).rateLimits?.requests?.remaining).toBe(0)
      expect((yield* runtime.usage("globex")).rateLimits).toBeUndefined()
    }))

  it.scoped("cache: a repeated request is answered from the cache, per tenant; guardrails block before the call", () =>
    Effect.gen(function*() {
      const a = yield* MockProvider.make()
      const b = yield* MockProvider.make({ onExhausted: OpenAiMock.completion({ text: "cached answer" }) })
      const runtime = yield* runtimeOf({
        ...twoProviders(a, b),
        cache: { ttl: "5 minutes" },
        guardrails: { input: [{ denyList: { terms: ["forbidden"] } }] }
      })
      const acmeSmall = runtime.route(tenantOf(runtime, acme.key), "small")!
      yield* acmeSmall.generate(ask("acme"))
      const again = yield* acmeSmall.generate(ask("acme"))
      expect(again.cached).toBe(true)
      yield* runtime.route(tenantOf(runtime, globex.key), "small")!.generate(ask("globex"))
      expect((yield* b.requests).length).toBe(2)
      const blocked = yield* Effect.exit(acmeSmall.generate(ask("acme", "a forbidden topic")))
      expect(failureTag(blocked)).toBe("GuardrailBlocked")
      expect((yield* b.requests).length).toBe(2)
    }))

  it.scoped("input guardrails check every role by default (the client writes them all); inputRoles narrows", () =>
    Effect.gen(function*() {
      const a = yield* MockProvider.make()
      const b = yield* MockProvider.make({ onExhausted: OpenAiMock.completion({ text: "ok" }) })
      const hidden: ReadonlyArray<ChatRequest.Message> = [
        { role: "system", content: "the forbidden topic" },
        { role: "assistant", content: "an earlier forbidden turn" },
        { role: "tool", content: [{ type: "tool-result", toolCallId: "c1", toolName: "f", result: "forbidden" }] }
      ]
      const asking = (message: ChatRequest.Message) => ({
        ...ask("acme"),
        messages: [message, ...ask("acme").messages]
      })
      const every = yield* runtimeOf({
        ...twoProviders(a, b),
        guardrails: { input: [{ denyList: { terms: ["forbidden"] } }] }
      })
      for (const message of hidden) {
        const exit = yield* Effect.exit(every.route(tenantOf(every, acme.key), "small")!.generate(asking(message)))
        expect(failureTag(exit)).toBe("GuardrailBlocked")
      }
      expect((yield* b.requests).length).toBe(0)
      const userOnly = yield* runtimeOf({
        ...twoProviders(a, b),
        guardrails: { input: [{ denyList: { terms: ["forbidden"] } }], inputRoles: ["user"] }
      })
      for (const message of hidden) {
        yield* userOnly.route(tenantOf(userOnly, acme.key), "small")!.generate(asking(message))
      }
      expect((yield* b.requests).length).toBe(3)
    }))
})
