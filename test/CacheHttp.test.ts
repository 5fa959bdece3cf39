import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Cache from "../src/Cache.js"
import * as ChatResponse from "../src/ChatResponse.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmMetrics from "../src/LlmMetrics.js"
import * as StreamPart from "../src/StreamPart.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { openAiLayer } from "./support/loopback.js"

const request = {
  messages: [{ role: "user" as const, content: "Capital of France?" }],
  metadata: { tenant: "acme", user: "u-7" },
  cache: { ttl: "5 minutes" as const }
}

describe("Cache over HTTP", () => {
  it.scoped("the second identical call is answered from the cache: no request reaches the provider", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [OpenAiMock.completion({ text: "Paris" })] })
      const context = yield* Layer.build(Cache.layer(openAiLayer(server)))
      const [first, second] = yield* Effect.all([LanguageModel.generate(request), LanguageModel.generate(request)])
        .pipe(
          Effect.provide(context)
        )
      const requests = yield* server.requests
      expect(requests).toHaveLength(1)
      // The cache controls stay here; the end user still goes to the provider.
      expect(requests[0]!.body).not.toHaveProperty("cache")
      expect(requests[0]!.bodyText).not.toMatch(/5 minutes|ttl/)
      expect(requests[0]!.body).toMatchObject({ model: "gpt-4o-mini", user: "u-7" })
      expect(ChatResponse.text(second)).toBe("Paris")
      expect(first.costUsd).toBeGreaterThan(0)
      expect(second).toEqual({ ...first, cached: true, costUsd: 0 })
      // One provider event with the cost, one hit at none.
      const summary = yield* LlmMetrics.summary
      expect(summary.byTenant["acme"]).toMatchObject({ requests: 2, cacheHits: 1, costUsd: first.costUsd })
    }).pipe(Effect.provide(LlmMetrics.layerMemory)))

  it.scoped("a streamed answer is stored and serves generate and stream without a request", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [OpenAiMock.stream({ deltas: ["Par", "is"] })] })
      const context = yield* Layer.build(Cache.layer(openAiLayer(server)))
      const [streamed, generated, replayed] = yield* Effect.all([
        StreamPart.collect(LanguageModel.stream(request)),
        LanguageModel.generate(request),
        StreamPart.collect(LanguageModel.stream(request))
      ]).pipe(Effect.provide(context))
      const requests = yield* server.requests
      expect(requests).toHaveLength(1)
      expect(requests[0]!.body).not.toHaveProperty("cache")
      expect(requests[0]!.body).toMatchObject({ stream: true })
      expect(ChatResponse.text(streamed)).toBe("Paris")
      expect(generated).toEqual({ ...streamed, cached: true, costUsd: 0 })
      expect(replayed).toEqual(generated)
    }))
})
