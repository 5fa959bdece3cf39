/**
 * The gateway prices a call at the provider its config's `type` names, whatever the config calls the provider:
 * a budgeted tenant is served through `azure-east`, `claude-main` or an `openai` provider behind a proxy's URL as
 * through `azure`, `anthropic` or `openai`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Pricing from "../src/Pricing.js"
import * as AnthropicMock from "../src/testing/AnthropicMock.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { servedFile } from "./clients/gateway.js"
import { call, chatBody, json } from "./support/gateway.js"
import { acme } from "./support/gatewayConfig.js"

const usage = { inputTokens: 100, outputTokens: 100, totalTokens: 200 }

describe("Gateway pricing", () => {
  it.scopedLive("a provider named after its region or role is priced at its type's prices, and its budget holds", () =>
    Effect.gen(function*() {
      const azure = yield* MockProvider.make({ onExhausted: OpenAiMock.completion({ text: "Paris.", usage }) })
      const anthropic = yield* MockProvider.make({ onExhausted: AnthropicMock.message({ text: "Paris.", usage }) })
      const base = yield* servedFile(`
providers:
  azure-east: { type: azure, baseUrl: "${azure.url}", apiKeyEnv: MOCK_A_KEY, deployment: gpt-4o-mini, retry: false }
  claude-main: { type: anthropic, baseUrl: "${anthropic.url}", apiKeyEnv: MOCK_B_KEY, retry: false }
  primary: { type: openai, baseUrl: "${azure.url}/v1", apiKeyEnv: MOCK_A_KEY, retry: false }
models:
  small: { provider: azure-east, model: gpt-4o-mini }
  mini: { provider: primary, model: gpt-4o-mini }
  claude: { provider: claude-main, model: claude-sonnet-4-5 }
tenants:
  acme: { keys: ["${acme.hash}"], models: "*", budget: { limitUsd: 1, period: day } }
`)
      for (
        const [route, provider, model] of [
          ["small", "azure", "gpt-4o-mini"],
          ["claude", "anthropic", "claude-sonnet-4-5"],
          // type openai on a base URL of its own (a proxy): still OpenAI's prices
          ["mini", "openai", "gpt-4o-mini"]
        ] as const
      ) {
        const response = yield* call(base, "/v1/chat/completions", {
          method: "POST",
          body: chatBody(route, { max_tokens: 100 }),
          key: acme.key
        })
        const body = yield* json(response)
        expect(response.status, JSON.stringify(body)).toBe(200)
        const expected = Pricing.dataset.cost(usage, model, provider)
        expect(expected).toBeGreaterThan(0)
        expect(Number(response.headers.get("x-liter-cost-usd"))).toBeCloseTo(expected!, 12)
      }
      // The usage endpoint shows every call charged.
      const spent = yield* json(yield* call(base, "/v1/usage", { key: acme.key }))
      expect(spent.budget.spent_usd).toBeCloseTo(
        Pricing.dataset.cost(usage, "gpt-4o-mini", "azure")! +
          Pricing.dataset.cost(usage, "claude-sonnet-4-5", "anthropic")! +
          Pricing.dataset.cost(usage, "gpt-4o-mini", "openai")!,
        12
      )
    }))
})
