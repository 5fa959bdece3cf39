/**
 * A router route whose deployment's provider has a circuit breaker: the router holds that breaker, so a
 * deployment whose breaker refuses is skipped, and its key is the route's (`route:<name>/<deployment>`), apart
 * from the breaker of a plain route on the same provider.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { freePort, servedFile } from "./clients/gateway.js"
import { call, chatBody, json } from "./support/gateway.js"
import { acme } from "./support/gatewayConfig.js"

describe("Gateway routers and circuit breakers", () => {
  it.scopedLive("a deployment whose breaker opened is skipped; a plain route's breaker is another one", () =>
    Effect.gen(function*() {
      const healthy = yield* MockProvider.make({ onExhausted: OpenAiMock.completion({ text: "from b" }) })
      // Nothing listens there: every call to it fails as unreachable.
      const dead = `http://127.0.0.1:${yield* freePort}/v1`
      const breaker = `{ failureRateThreshold: 0.5, minimumCalls: 3, window: "1 minute", cooldown: "1 minute" }`
      const base = yield* servedFile(`
providers:
  up1: { type: openai-compatible, baseUrl: "${dead}", apiKeyEnv: MOCK_A_KEY, retry: false, circuitBreaker: ${breaker} }
  up2: { type: openai-compatible, baseUrl: "${healthy.url}/v1", apiKeyEnv: MOCK_B_KEY, retry: false }
models:
  plain: { provider: up1, model: m }
  routed:
    router:
      strategy: priority
      deployments:
        - { name: a, provider: up1, model: m, priority: 0 }
        - { name: b, provider: up2, model: m, priority: 1 }
tenants:
  acme: { keys: ["${acme.hash}"], models: "*" }
`)
      const send = (route: string) =>
        Effect.flatMap(
          call(base, "/v1/chat/completions", { method: "POST", body: chatBody(route), key: acme.key }),
          (response) =>
            Effect.map(json(response), (body) => ({
              status: response.status,
              code: body.error?.code as string | undefined,
              text: body.choices?.[0]?.message?.content as string | undefined
            }))
        )
      // The plain route opens its own breaker (up1/m)...
      for (let i = 0; i < 3; i++) expect((yield* send("plain")).status).toBe(502)
      expect(yield* send("plain")).toMatchObject({ status: 503, code: "circuit_open" })
      // ... which is not the router's: its first calls still try deployment a.
      for (let i = 0; i < 3; i++) expect((yield* send("routed")).status).toBe(502)
      // Now a's breaker (route:routed/a) is open: the router skips a, and b answers.
      for (let i = 0; i < 4; i++) {
        expect(yield* send("routed")).toEqual({ status: 200, code: undefined, text: "from b" })
      }
      expect((yield* healthy.requests).length).toBe(4)
    }))
})
