/**
 * Responses no provider should send, each a typed `MalformedResponse`, never a defect or a false success: a
 * body nested thousands of levels deep (JSON any provider, or any model's text, may hold; describing the wrong
 * value used to overflow the stack), and a redirect the client did not follow.
 */
import { describe, expect, it } from "@effect/vitest"
import type { Layer } from "effect"
import { Effect, Exit, Redacted, Schema } from "effect"
import * as LanguageModel from "../src/LanguageModel.js"
import * as Anthropic from "../src/providers/Anthropic.js"
import * as Gemini from "../src/providers/Gemini.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { failure, openAiLayer, overUndici, secretKey } from "./support/loopback.js"

const deep = (levels: number) => "[".repeat(levels) + "]".repeat(levels)
const ask = { messages: [{ role: "user" as const, content: "Hi" }] }
const apiKey = Redacted.make(secretKey)

const layers: ReadonlyArray<
  readonly [string, (server: MockProvider.MockProvider) => Layer.Layer<LanguageModel.LanguageModel>]
> = [
  ["OpenAi", (server) => openAiLayer(server, { retry: false })],
  ["Anthropic", (server) => overUndici(Anthropic.layer({ apiKey, baseUrl: server.url, model: "m", retry: false }))],
  ["Gemini", (server) => overUndici(Gemini.layer({ apiKey, baseUrl: server.url, model: "m", retry: false }))]
]

describe("responses nested thousands deep", () => {
  for (const [name, layerOf] of layers) {
    it.scoped(`${name}: a body nested 10 000 deep is MalformedResponse`, () =>
      Effect.gen(function*() {
        const server = yield* MockProvider.make({ script: [MockProvider.text(deep(10_000))] })
        const exit = yield* Effect.exit(LanguageModel.generate(ask).pipe(Effect.provide(layerOf(server))))
        expect(failure(exit)._tag).toBe("MalformedResponse")
      }))
  }

  it.scoped("generateObject: model text nested 10 000 deep is MalformedResponse", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [OpenAiMock.completion({ text: deep(10_000) })] })
      const exit = yield* Effect.exit(
        LanguageModel.generateObject({ ...ask, schema: Schema.Struct({ a: Schema.String }) }).pipe(
          Effect.provide(openAiLayer(server, { retry: false }))
        )
      )
      expect(Exit.isFailure(exit)).toBe(true)
      expect(failure(exit)._tag).toBe("MalformedResponse")
    }))
})

describe("a response that is no 2xx", () => {
  it.scoped("a 302 (a redirect the client did not follow) is MalformedResponse with its status, even with a valid body", () =>
    Effect.gen(function*() {
      const valid = OpenAiMock.completionBody({ text: "ok" })
      const server = yield* MockProvider.make({
        script: [MockProvider.json(valid, { status: 302 }), OpenAiMock.error(302, "moved")]
      })
      for (let i = 0; i < 2; i++) {
        const error = failure(
          yield* Effect.exit(LanguageModel.generate(ask).pipe(Effect.provide(openAiLayer(server, { retry: false }))))
        )
        expect(error).toMatchObject({ _tag: "MalformedResponse", status: 302 })
        expect(error.message).toContain("302")
      }
    }))
})

describe("an error object in a 200 body", () => {
  it.scoped("keeps the response's status, 200, where the object names none", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [
          MockProvider.json({ error: { message: "boom", type: "server_error" } }),
          MockProvider.json({ error: "oops" })
        ]
      })
      for (const message of ["boom", "oops"]) {
        const error = failure(
          yield* Effect.exit(LanguageModel.generate(ask).pipe(Effect.provide(openAiLayer(server, { retry: false }))))
        )
        expect(error).toMatchObject({ _tag: "ServerError", status: 200 })
        expect(error.message).toContain(message)
      }
    }))
})
