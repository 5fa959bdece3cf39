import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as Cache from "../src/Cache.js"
import type * as ChatRequest from "../src/ChatRequest.js"
import * as AnthropicRequest from "../src/internal/anthropic/request.js"
import * as Key from "../src/internal/cacheKey.js"
import * as CohereRequest from "../src/internal/cohere/request.js"
import * as GeminiRequest from "../src/internal/gemini/request.js"
import * as OpenAiRequest from "../src/internal/openai/request.js"
import * as LanguageModel from "../src/LanguageModel.js"
import { answer, ask, scripted } from "./support/resilience.js"

const inner = { provider: "openai", defaultModel: "gpt-4o-mini" }
const hashOf = (request: ChatRequest.ChatRequest, model = inner) => Key.hash(request, model)

const tool = {
  name: "weather",
  description: "The weather",
  parameters: { type: "object", properties: { city: { type: "string" }, unit: { enum: ["c", "f"] } } }
}
const base: ChatRequest.ChatRequest = {
  messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Weather in Paris?" }],
  tools: [tool],
  temperature: 0.2
}

describe("Cache key", () => {
  it("does not depend on the order of keys, at any depth", () => {
    const reordered: ChatRequest.ChatRequest = {
      temperature: 0.2,
      tools: [{
        parameters: { properties: { unit: { enum: ["c", "f"] }, city: { type: "string" } }, type: "object" },
        description: "The weather",
        name: "weather"
      }],
      messages: [{ content: "Be brief.", role: "system" }, { content: "Weather in Paris?", role: "user" }]
    }
    expect(hashOf(reordered)).toBe(hashOf(base))
    expect(hashOf(base)).toMatch(/^[0-9a-f]{64}$/)
  })

  it("absent and undefined fields are the same; values that differ are not", () => {
    expect(hashOf({ ...base, topP: undefined, seed: undefined })).toBe(hashOf(base))
    expect(hashOf({ ...base, temperature: 0.3 })).not.toBe(hashOf(base))
    expect(hashOf({ ...base, seed: 1 })).not.toBe(hashOf(base))
    // Order of messages and of array items matters.
    expect(hashOf({ ...base, messages: [...base.messages].reverse() })).not.toBe(hashOf(base))
    expect(hashOf({ ...base, tools: [{ ...tool, parameters: { ...tool.parameters, required: ["city"] } }] }))
      .not.toBe(hashOf(base))
  })

  it("an absent model is the inner layer's default model", () => {
    expect(hashOf({ ...base, model: "gpt-4o-mini" })).toBe(hashOf(base))
    expect(hashOf({ ...base, model: "gpt-4.1" })).not.toBe(hashOf(base))
    expect(hashOf(base, { provider: "openai", defaultModel: "gpt-4.1" })).toBe(hashOf({ ...base, model: "gpt-4.1" }))
  })

  it("empty tools and provider options are their absence", () => {
    const { tools: _, ...noTools } = base
    expect(hashOf({ ...noTools, tools: [] })).toBe(hashOf(noTools))
    expect(hashOf({ ...base, providerOptions: {} })).toBe(hashOf(base))
    expect(hashOf({ ...base, providerOptions: { openai: { store: undefined } } })).toBe(hashOf(base))
    expect(hashOf({ ...base, providerOptions: { openai: { store: true } } })).not.toBe(hashOf(base))
  })

  it("leaves out the tenant, the end user and the cache controls; keeps the provider", () => {
    const controlled: ChatRequest.ChatRequest = {
      ...base,
      metadata: { tenant: "acme", user: "u-1" },
      cache: { noStore: true, noCache: true, ttl: 5_000 }
    }
    expect(hashOf(controlled)).toBe(hashOf(base))
    expect(hashOf(base, { provider: "azure", defaultModel: "gpt-4o-mini" })).not.toBe(hashOf(base))
  })

  it("the store key encodes the tenant, so no tenant name reaches another's prefix", () => {
    const digest = hashOf(base)
    const keys = ["a", "a:b", "a%3Ab", "b", ""].map((tenant) => Key.storageKey(tenant, digest))
    expect(new Set(keys).size).toBe(5)
    expect(keys[1]).toBe(`cache:v1:a%3Ab:${digest}`)
    for (const key of keys) expect(key.split(":")).toHaveLength(4)
  })

  it("canonical JSON sorts keys, drops undefined fields, and refuses what JSON cannot hold", () => {
    expect(Key.canonicalJson({ b: [1, undefined, { d: 1, c: null }], a: "x", z: undefined })).toBe(
      "{\"a\":\"x\",\"b\":[1,null,{\"c\":null,\"d\":1}]}"
    )
    expect(() => Key.canonicalJson({ n: 1n })).toThrow(TypeError)
  })

  it.effect("a request holding a value JSON cannot is not cached, and still answered", () =>
    Effect.gen(function*() {
      const model = yield* scripted([answer("1"), answer("2")])
      const request = {
        messages: [{
          role: "assistant" as const,
          content: [{ type: "tool-call" as const, id: "c", name: "f", arguments: 1n }]
        }]
      }
      const texts = yield* Effect.all([LanguageModel.generate(request), LanguageModel.generate(request)]).pipe(
        Effect.provide(Cache.layer(model.layer))
      )
      expect(texts.map((response) => [response.id, response.cached])).toEqual([["r-1", undefined], ["r-2", undefined]])
    }))

  it.effect("requests that differ only in key order or the default model share one entry", () =>
    Effect.gen(function*() {
      const model = yield* scripted([answer("1"), answer("2")], { model: "test-model" })
      const responses = yield* Effect.all([
        LanguageModel.generate({ ...ask("q"), temperature: 0.5, maxTokens: 10 }),
        LanguageModel.generate({ maxTokens: 10, temperature: 0.5, model: "test-model", ...ask("q") })
      ]).pipe(Effect.provide(Cache.layer(model.layer)))
      expect(responses.map((response) => response.cached)).toEqual([undefined, true])
      expect(yield* model.calls).toBe(1)
    }))
})

describe("Cache controls on the wire", () => {
  const request: ChatRequest.ChatRequest = {
    ...base,
    metadata: { tenant: "acme" },
    cache: { noCache: true, noStore: true, ttl: "7 minutes" }
  }
  const bodies: ReadonlyArray<readonly [string, unknown]> = [
    [
      "openai",
      OpenAiRequest.encodeRequest(request, {
        model: "gpt-4o-mini",
        stream: true,
        maxTokensField: "max_completion_tokens",
        topK: true,
        optionKeys: ["openai"]
      })
    ],
    [
      "anthropic",
      Either.getOrThrow(AnthropicRequest.encodeRequest(request, { model: "c", stream: false, defaultMaxTokens: 1 }))
    ],
    ["cohere", Either.getOrThrow(CohereRequest.encodeRequest(request, { model: "c", stream: false }))],
    ["gemini", Either.getOrThrow(GeminiRequest.encodeRequest(request, { model: "g", optionKey: "gemini" }))]
  ]

  it("no provider encoder sends the cache controls", () => {
    for (const [provider, body] of bodies) {
      const wire = JSON.stringify(body)
      expect([provider, /cache|noStore|noCache|7 minutes/i.test(wire)]).toEqual([provider, false])
      expect([provider, wire.includes("Weather in Paris?")]).toEqual([provider, true])
    }
  })
})
