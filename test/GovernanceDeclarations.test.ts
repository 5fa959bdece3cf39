/**
 * A user's module that exports what the governance and Redis modules make, compiled with `declaration: true`
 * against the package as installed, must get declarations a consumer can resolve: every type named through a
 * public module, never an `internal/` path (blocked by the package's exports: TS2307 for the consumer).
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Budget from "../src/Budget.js"
import * as Cache from "../src/Cache.js"
import * as ContextWindow from "../src/ContextWindow.js"
import * as Guardrail from "../src/Guardrail.js"
import * as Pricing from "../src/Pricing.js"
import * as RateLimit from "../src/RateLimit.js"
import * as Redis from "../src/Redis.js"
import * as Tokenizer from "../src/Tokenizer.js"
import { compileUses, install, type Use } from "./support/installedPackage.js"

const model = `TestModel.layer([{ text: "ok" }])`
const request = `{ messages: [{ role: "user" as const, content: "hi" }] }`

/** Per module, an expression using each of its runtime exports, and what else the user's module imports. */
const uses: ReadonlyArray<Use> = [
  {
    name: "Budget",
    module: Budget,
    imports: `import { TestModel } from "liter-llm/testing"`,
    exports: {
      Budget: "Budget.Budget",
      BudgetStore: "Budget.BudgetStore",
      StoreUnavailable: "new Budget.StoreUnavailable({ reason: \"down\", retryAfterMillis: 1 })",
      layer: `Budget.layer(${model}, { defaultLimit: { limitUsd: 1, period: "day" } })`,
      layerMemory: "Budget.layerMemory",
      layerRedis: "Budget.layerRedis()",
      layerStore: "Budget.layerStore(Budget.makeMemoryStore())",
      make: "Budget.make({ maxRequestCostUsd: 1 })",
      makeMemoryStore: "Budget.makeMemoryStore()",
      remaining: "Budget.remaining(\"acme\")",
      spent: "Budget.spent(\"acme\")",
      status: "Budget.status(\"acme\")"
    }
  },
  {
    name: "Cache",
    module: Cache,
    imports:
      `import { TestModel } from "liter-llm/testing"\nimport { Duration, Effect } from "effect"\nimport { LanguageModel, Redis } from "liter-llm"`,
    exports: {
      StoreError: "new Cache.StoreError({ message: \"down\" })",
      layer: `Cache.layer(${model})`,
      layerRedis: `Cache.layerRedis(${model})`,
      makeMemoryStore: "Cache.makeMemoryStore()",
      makeRedisStore: "Effect.flatMap(Redis.Redis, (redis) => Cache.makeRedisStore(redis))",
      wrap:
        "Effect.flatMap(Cache.makeMemoryStore(), (store) => Effect.map(LanguageModel.LanguageModel, (service) => Cache.wrap(service, { ttl: Duration.minutes(1), store })))"
    }
  },
  {
    name: "ContextWindow",
    module: ContextWindow,
    imports:
      `import { TestModel } from "liter-llm/testing"\nimport { Effect } from "effect"\nimport { LanguageModel } from "liter-llm"`,
    exports: {
      layer: `ContextWindow.layer(${model}, { maxInputTokens: 100 })`,
      trim: `ContextWindow.trim(${request}, { maxInputTokens: 100 })`,
      validate: "ContextWindow.validate({ maxInputTokens: 100 })",
      wrap: "Effect.map(LanguageModel.LanguageModel, (service) => ContextWindow.wrap(service, {}))"
    }
  },
  {
    name: "Guardrail",
    module: Guardrail,
    imports:
      `import { TestModel } from "liter-llm/testing"\nimport { Effect } from "effect"\nimport { LanguageModel } from "liter-llm"`,
    exports: {
      block: "Guardrail.block(\"no\")",
      checkInput: "Guardrail.checkInput({}, { messages: [{ role: \"user\", content: \"hi\" }] })",
      denyList: "Guardrail.denyList([\"secret\"])",
      layer: `Guardrail.layer(${model}, { input: [Guardrail.redactPii()] })`,
      make: "Guardrail.make({ name: \"ok\", check: () => Effect.succeed(Guardrail.pass) })",
      pass: "Guardrail.pass",
      redactPii: "Guardrail.redactPii()",
      rewrite: "Guardrail.rewrite(\"x\")",
      wrap: "Effect.map(LanguageModel.LanguageModel, (service) => Guardrail.wrap(service, {}))"
    }
  },
  {
    name: "Pricing",
    module: Pricing,
    exports: {
      Pricing: "Pricing.Pricing",
      cost: "Pricing.cost({ inputTokens: 1, outputTokens: 1, totalTokens: 2 }, \"gpt-4o\")",
      costOfCall: "Pricing.costOfCall(Pricing.dataset, undefined, \"openai\", \"gpt-4o\", undefined)",
      dataset: "Pricing.dataset",
      layer: "Pricing.layer({ models: {} })",
      make: "Pricing.make()",
      price: "Pricing.price(\"gpt-4o\")"
    }
  },
  {
    name: "RateLimit",
    module: RateLimit,
    imports: `import { TestModel } from "liter-llm/testing"\nimport { Duration, Effect } from "effect"`,
    exports: {
      Limiter: "RateLimit.Limiter",
      layer: `RateLimit.layer(${model}, { default: { requests: { limit: 1, window: "1 second" } } })`,
      layerMemory: "RateLimit.layerMemory",
      layerRedis: "RateLimit.layerRedis",
      layerStore: "RateLimit.layerStore",
      make: "RateLimit.make({ default: { requests: { limit: 1, window: 1000 } } })",
      status: "RateLimit.status({ default: { requests: { limit: 1, window: 1000 } } }, { tenant: \"a\" })"
    },
    deeper: {
      consume:
        "Effect.flatMap(RateLimit.Limiter, (limiter) => limiter.consume({ algorithm: \"fixed-window\", onExceeded: \"fail\", window: Duration.seconds(1), limit: 1, key: \"k\", tokens: 1 }))"
    }
  },
  {
    name: "Redis",
    module: Redis,
    exports: {
      Redis: "Redis.Redis",
      RedisError: "new Redis.RedisError({ operation: \"get\", reason: \"down\" })",
      layer: "Redis.layer({ url: \"redis://127.0.0.1:6379\" })",
      layerConfig: "Redis.layerConfig()",
      make: "Redis.make({ url: \"redis://127.0.0.1:6379\" })",
      defaultKeyPrefix: "Redis.defaultKeyPrefix",
      metrics: "Redis.metrics",
      script: "Redis.script(\"get\", \"return 1\", { keys: 0 })"
    }
  },
  {
    name: "Tokenizer",
    module: Tokenizer,
    exports: {
      Tokenizer: "Tokenizer.Tokenizer",
      byModel: "Tokenizer.byModel",
      charEstimate: "Tokenizer.charEstimate",
      countRequest: `Tokenizer.countRequest(${request})`,
      countText: "Tokenizer.countText(\"hi\")",
      estimateFactor: "Tokenizer.estimateFactor",
      imageTokens: "Tokenizer.imageTokens"
    }
  }
]

let project: ReturnType<typeof install> | undefined

beforeAll(() => {
  project = install()
})

afterAll(() => project?.remove())

describe("declarations of a user's module using the governance and Redis modules", () => {
  it("cover every runtime export of each module", () => {
    for (const { exports, module, name } of uses) {
      expect(Object.keys(exports).sort(), name).toEqual(Object.keys(module).sort())
    }
  })

  it("compile, and name every type through a public module (never an internal/ path)", { timeout: 120_000 }, () => {
    const declarations = compileUses(project!.dir, "liter-llm", uses, "use_")
    for (const { name } of uses) {
      const declaration = declarations.get(`${name}.d.ts`) ?? ""
      expect(declaration.match(/["'][^"']*internal\/[^"']*["']/g) ?? [], name).toEqual([])
    }
  })
})
