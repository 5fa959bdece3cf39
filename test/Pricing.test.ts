import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { calcPrice } from "@pydantic/genai-prices"
import { ConfigError, Effect, Exit, Layer, Redacted, Stream } from "effect"
import type * as ChatResponse from "../src/ChatResponse.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmMetrics from "../src/LlmMetrics.js"
import * as Pricing from "../src/Pricing.js"
import * as Anthropic from "../src/providers/Anthropic.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as StreamPart from "../src/StreamPart.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { openAiLayer, overUndici } from "./support/loopback.js"
import { anthropic, azure, cohere, gemini, openAi } from "./support/providers.js"

const usage = (
  inputTokens: number,
  outputTokens: number,
  extra: { readonly cachedInputTokens?: number; readonly cacheWriteTokens?: number } = {}
): ChatResponse.Usage => ({
  inputTokens,
  outputTokens,
  totalTokens: inputTokens + outputTokens,
  ...extra
})

describe("Pricing.dataset", () => {
  // The data's own calculator is the reference: the same usage must cost the same, cache and tiers included.
  const cases = [
    ["gpt-4o-mini", "openai", usage(1200, 340, { cachedInputTokens: 1000 })],
    ["gpt-4o", "openai", usage(5000, 10)],
    ["claude-sonnet-4-20250514", "anthropic", usage(4740, 255, { cachedInputTokens: 100, cacheWriteTokens: 4000 })],
    ["gemini-2.5-pro", "gemini", usage(150_000, 2000)],
    ["gemini-2.5-pro", "gemini", usage(300_000, 2000, { cachedInputTokens: 100_000 })],
    ["command-r-plus", "cohere", usage(800, 80)]
  ] as const
  for (const [model, provider, used] of cases) {
    it(`${provider}/${model}, ${used.inputTokens} in / ${used.outputTokens} out: the data's own price`, () => {
      const reference = calcPrice(
        {
          input_tokens: used.inputTokens,
          output_tokens: used.outputTokens,
          cache_read_tokens: used.cachedInputTokens ?? 0,
          cache_write_tokens: used.cacheWriteTokens ?? 0
        },
        model,
        { providerId: provider === "gemini" ? "google" : provider }
      )
      expect(reference).not.toBeNull()
      expect(Pricing.dataset.cost(used, model, provider)).toBeCloseTo(reference!.total_price, 12)
    })
  }

  it("a long Gemini prompt is billed at the upper tier for all its tokens", () => {
    const short = Pricing.dataset.cost(usage(200_000, 0), "gemini-2.5-pro", "gemini")!
    const long = Pricing.dataset.cost(usage(200_001, 0), "gemini-2.5-pro", "gemini")!
    expect(long / short).toBeGreaterThan(1.9)
  })

  it("knows the limits of OpenAI models", () => {
    const price = Pricing.dataset.price("gpt-4o-mini", "openai")
    expect(price?.contextWindow).toBeGreaterThan(100_000)
    expect(price?.maxOutputTokens).toBeGreaterThan(1000)
    expect(price!.outputPerMillion).toBeGreaterThan(price!.inputPerMillion)
  })

  it("an unknown model, or a provider the data does not know, has no price and no cost (never 0)", () => {
    expect(Pricing.dataset.price("llama3", "openai")).toBeUndefined()
    expect(Pricing.dataset.cost(usage(10, 10), "llama3", "openai")).toBeUndefined()
    // A self-hosted server serving a same-named model does not borrow OpenAI's price.
    expect(Pricing.dataset.cost(usage(10, 10), "gpt-4o", "my-vllm")).toBeUndefined()
  })
})

describe("Pricing.layer", () => {
  const prices = {
    "gpt-4o": { inputPerMillion: 2, outputPerMillion: 8, cachedInputPerMillion: 1 },
    "my-vllm/llama3": { inputPerMillion: 0.5, outputPerMillion: 1, contextWindow: 8192 },
    "llama3": { inputPerMillion: 9, outputPerMillion: 9 }
  }

  it.effect("user prices win over the data; a deployment's over the model's", () =>
    Effect.gen(function*() {
      const pricing = yield* Pricing.make({ models: prices })
      // 1000 uncached at 2, 1000 cached at 1, 500 out at 8, per million
      expect(pricing.cost(usage(2000, 500, { cachedInputTokens: 1000 }), "gpt-4o", "openai")).toBeCloseTo(0.007, 12)
      expect(pricing.cost(usage(1_000_000, 1_000_000), "llama3", "my-vllm")).toBe(1.5)
      expect(pricing.cost(usage(1_000_000, 0), "llama3", "other")).toBe(9)
      expect(pricing.price("llama3", "my-vllm")?.contextWindow).toBe(8192)
      // the rest still from the data
      expect(pricing.price("gpt-4o-mini", "openai")).toEqual(Pricing.dataset.price("gpt-4o-mini", "openai"))
    }))

  it.effect("a cost is the decimal a person computes, without the float noise of the per-million products", () =>
    Effect.gen(function*() {
      const pricing = yield* Pricing.make({ models: { m: { inputPerMillion: 3, outputPerMillion: 15 } } })
      // 10 × 3 / 1e6 + 5 × 15 / 1e6 is 0.00010499999999999999 in plain doubles
      expect(pricing.cost(usage(10, 5), "m")).toBe(0.000105)
    }))

  it.effect("dataset: false prices only the user's models", () =>
    Effect.gen(function*() {
      const pricing = yield* Pricing.make({ models: prices, dataset: false })
      expect(pricing.cost(usage(10, 10), "gpt-4o-mini", "openai")).toBeUndefined()
      expect(pricing.cost(usage(1_000_000, 0), "gpt-4o", "openai")).toBe(2)
    }))

  for (
    const [name, bad, path] of [
      ["a negative price", { inputPerMillion: -1, outputPerMillion: 1 }, "inputPerMillion"],
      ["a NaN price", { inputPerMillion: 1, outputPerMillion: Number.NaN }, "outputPerMillion"],
      ["a missing price", { inputPerMillion: 1 } as unknown as Pricing.ModelPrice, "outputPerMillion"],
      ["a fractional context window", { inputPerMillion: 1, outputPerMillion: 1, contextWindow: 1.5 }, "contextWindow"],
      [
        "more output than the context window",
        { inputPerMillion: 1, outputPerMillion: 1, contextWindow: 1000, maxOutputTokens: 1001 },
        "maxOutputTokens (1001) must not be more than its contextWindow (1000)"
      ],
      [
        "a misspelt field",
        { inputPerMillion: 1, outputPerMillion: 1, cachedInputPerMilion: 0.1 } as Pricing.ModelPrice,
        "models.m.cachedInputPerMilion"
      ]
    ] as const
  ) {
    it.effect(`${name} is a ConfigError naming it`, () =>
      Effect.gen(function*() {
        const exit = yield* Effect.exit(Layer.build(Pricing.layer({ models: { m: bad } })).pipe(Effect.scoped))
        expect(Exit.isFailure(exit)).toBe(true)
        const error = Exit.isFailure(exit) ? exit.cause : undefined
        const squashed = error !== undefined && error._tag === "Fail" ? error.error : undefined
        expect(ConfigError.isConfigError(squashed)).toBe(true)
        expect(String(squashed)).toContain(path.includes(".") ? path : `models["m"].${path}`)
      }))
  }

  it.effect("options of the wrong shape are a ConfigError naming the option", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        [{ models: null }, "Pricing.layer: models must be an object of named entries, got null"],
        [{ dataset: "no" }, "Pricing.layer: dataset must be true or false, got \"no\""],
        [{ model: {} }, "Pricing.layer: unknown option \"model\" (the options are models, dataset)"],
        [null, "Pricing.layer: options must be an object, got null"],
        // a string where a number goes is shown quoted, so "1" is visibly a string
        [
          { models: { m: { inputPerMillion: "1", outputPerMillion: 2 } } },
          "Pricing.layer: models[\"m\"].inputPerMillion must be a finite number >= 0 (USD per million tokens), got \"1\""
        ],
        [
          { models: { m: { inputPerMillion: 1, outputPerMillion: 2, contextWindow: "8000" } } },
          "Pricing.layer: models[\"m\"].contextWindow must be a positive integer (tokens), got \"8000\""
        ],
        [
          { models: { m: { inputPerMillion: NaN, outputPerMillion: 2 } } },
          "Pricing.layer: models[\"m\"].inputPerMillion must be a finite number >= 0 (USD per million tokens), got NaN"
        ]
      ]
      for (const [options, message] of cases) {
        const exit = yield* Effect.exit(Pricing.make(options as Pricing.Options))
        if (Exit.isSuccess(exit) || exit.cause._tag !== "Fail") throw new Error(`expected a ConfigError: ${exit}`)
        expect(exit.cause.error.message).toBe(message)
      }
    }))

  it("a usage that is not a set of finite, non-negative counts has no cost; cache counts are clamped", () => {
    const price = Pricing.dataset.price("gpt-4o-mini", "openai")!
    for (
      const bad of [usage(Number.NaN, 1), usage(10, -1), usage(Infinity, 0), usage(10, 1, { cachedInputTokens: -5 })]
    ) {
      expect(Pricing.dataset.cost(bad, "gpt-4o-mini", "openai")).toBeUndefined()
    }
    // 100 input tokens of which 80 cached and 50 written: 80 at the cached rate, the other 20 written, none plain.
    const clamped = Pricing.dataset.cost(
      usage(100, 0, { cachedInputTokens: 80, cacheWriteTokens: 50 }),
      "gpt-4o-mini",
      "openai"
    )
    const cachedRate = price.cachedInputPerMillion ?? price.inputPerMillion
    const writeRate = price.cacheWritePerMillion ?? price.inputPerMillion
    expect(clamped).toBeCloseTo((80 * cachedRate + 20 * writeRate) / 1e6, 15)
  })
})

describe("the cost of calls over HTTP", () => {
  const priced = Pricing.layer({
    models: { "gpt-4o-mini": { inputPerMillion: 1, outputPerMillion: 2 } },
    dataset: false
  })

  it.scoped("generate: on the response and in the metrics, per tenant", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [
          OpenAiMock.completion({ text: "Paris.", usage: { inputTokens: 1000, outputTokens: 500 } }),
          OpenAiMock.completion({ text: "Rome.", usage: { inputTokens: 3000, outputTokens: 0 } })
        ]
      })
      const program = Effect.gen(function*() {
        const first = yield* LanguageModel.generate({
          messages: [{ role: "user", content: "France?" }],
          metadata: { tenant: "acme" }
        })
        const second = yield* LanguageModel.generate({
          messages: [{ role: "user", content: "Italy?" }],
          metadata: { tenant: "globex" }
        })
        return { first, second, summary: yield* LlmMetrics.summary }
      })
      const { first, second, summary } = yield* program.pipe(
        Effect.provide(Layer.mergeAll(openAiLayer(server), priced, LlmMetrics.layerMemory))
      )
      expect(first.costUsd).toBeCloseTo(0.002, 12)
      expect(second.costUsd).toBeCloseTo(0.003, 12)
      expect(summary.byTenant.acme?.costUsd).toBeCloseTo(0.002, 12)
      expect(summary.byTenant.globex?.costUsd).toBeCloseTo(0.003, 12)
      expect(summary.total.unpricedRequests).toBe(0)
    }))

  it.scoped("stream: on the usage part, the accumulated response and the metrics event", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [OpenAiMock.stream({ deltas: ["Once", " upon"], usage: { inputTokens: 2000, outputTokens: 1000 } })]
      })
      const { parts, summary } = yield* Effect.gen(function*() {
        const parts = yield* Stream.runCollect(LanguageModel.stream({ messages: [{ role: "user", content: "Story" }] }))
        return { parts: [...parts], summary: yield* LlmMetrics.summary }
      }).pipe(Effect.provide(Layer.mergeAll(openAiLayer(server), priced, LlmMetrics.layerMemory)))
      const usagePart = parts.find((part) => part.type === "usage")
      expect(usagePart).toMatchObject({ costUsd: 0.004 })
      const accumulator = new StreamPart.Accumulator()
      for (const part of parts) accumulator.add(part)
      expect(accumulator.done().costUsd).toBe(0.004)
      expect(summary.total.costUsd).toBeCloseTo(0.004, 12)
    }))

  it.scoped("an unpriced model: no cost on the response, counted as unpriced", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [OpenAiMock.completion({ text: "Hi" })] })
      const { response, summary } = yield* Effect.gen(function*() {
        const response = yield* LanguageModel.generate({ model: "llama3", messages: [{ role: "user", content: "Hi" }] })
        return { response, summary: yield* LlmMetrics.summary }
      }).pipe(Effect.provide(Layer.mergeAll(openAiLayer(server), priced, LlmMetrics.layerMemory)))
      expect(response.costUsd).toBeUndefined()
      expect("costUsd" in response).toBe(false)
      expect(summary.total.unpricedRequests).toBe(1)
      expect(summary.total.costUsd).toBe(0)
    }))

  it.scoped("a named layer is priced at its provider: name is a label, not the provider whose prices apply", () =>
    Effect.gen(function*() {
      const answer = (model: string) =>
        OpenAiMock.completion({ text: "Hi", model, usage: { inputTokens: 100, outputTokens: 100 } })
      const cost = (layer: Layer.Layer<LanguageModel.LanguageModel, unknown>) =>
        LanguageModel.generate({ messages: [{ role: "user", content: "Hi" }] }).pipe(
          Effect.map((response) => ({ costUsd: response.costUsd, provider: response.provider })),
          Effect.provide(layer)
        )
      const server = yield* MockProvider.make({
        script: [answer("gpt-4o-2024-08-06"), answer("gpt-4o-mini"), answer("gpt-4o-mini"), answer("gpt-4o-mini")]
      })
      // An Azure layer named after its region: errors and metrics say "azure-east", prices are Azure's.
      expect(yield* cost(azure(server, { name: "azure-east" }))).toEqual({
        provider: "azure-east",
        costUsd: Pricing.dataset.cost(usage(100, 100), "gpt-4o-2024-08-06", "azure")
      })
      // A named OpenAI layer on a server of its own is a compatible server: priced under its name (none here).
      expect((yield* cost(openAi(server, { name: "vllm" }))).costUsd).toBeUndefined()
      // ... unless it says whose prices apply (a proxy in front of OpenAI).
      expect(yield* cost(openAi(server, { name: "egress-proxy", pricingProvider: "openai" }))).toEqual({
        provider: "egress-proxy",
        costUsd: Pricing.dataset.cost(usage(100, 100), "gpt-4o-mini", "openai")
      })
      // Unnamed, on any base URL: OpenAI's prices, as before.
      expect((yield* cost(openAi(server))).costUsd).toBe(Pricing.dataset.cost(usage(100, 100), "gpt-4o-mini", "openai"))
    }))

  it.effect("the pricing provider of every layer, named or not", () =>
    Effect.gen(function*() {
      const server = { url: "http://127.0.0.1:9" } as MockProvider.MockProvider
      const pricingOf = (layer: Layer.Layer<LanguageModel.LanguageModel, unknown>) =>
        Effect.map(LanguageModel.LanguageModel, LanguageModel.pricingProvider).pipe(Effect.provide(layer))
      expect(yield* pricingOf(anthropic(server, { name: "claude-main" }))).toBe("anthropic")
      expect(yield* pricingOf(cohere(server, { name: "coh" }))).toBe("cohere")
      expect(yield* pricingOf(gemini(server, { name: "g" }))).toBe("gemini")
      expect(yield* pricingOf(azure(server, { name: "azure-east" }))).toBe("azure")
      expect(yield* pricingOf(openAi(server, { name: "ollama" }))).toBe("ollama")
      // On OpenAI's own API (no baseUrl), a name is only a label.
      expect(yield* pricingOf(overUndici(OpenAi.layer({ name: "openai-eu", apiKey: Redacted.make("k") }))))
        .toBe("openai")
      expect(yield* pricingOf(anthropic(server, { pricingProvider: "bedrock" }))).toBe("bedrock")
      // A blank or non-string pricingProvider is refused, as a blank name is.
      const refusal = (options: Partial<Anthropic.Options>) =>
        Effect.flip(
          Effect.provide(
            LanguageModel.LanguageModel,
            Anthropic.layer({ apiKey: Redacted.make("k"), ...options }).pipe(Layer.provide(NodeHttpClient.layerUndici))
          )
        )
      expect((yield* refusal({ pricingProvider: " " })).toString()).toContain("pricingProvider must not be empty")
      expect((yield* refusal({ pricingProvider: 5 as never })).toString()).toContain("pricingProvider must be a string")
    }))

  it.scoped("Azure: the deployment name has no price, the model the answer names has", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [
          OpenAiMock.completion({
            text: "Hi",
            model: "gpt-4o-2024-08-06",
            usage: { inputTokens: 100, outputTokens: 100 }
          })
        ]
      })
      const response = yield* LanguageModel.generate({ messages: [{ role: "user", content: "Hi" }] }).pipe(
        Effect.provide(azure(server))
      )
      expect(response.costUsd).toBe(Pricing.dataset.cost(usage(100, 100), "gpt-4o-2024-08-06", "azure"))
      expect(response.costUsd).toBeGreaterThan(0)
    }))
})
