/**
 * A stream ends at its format's end marker (`[DONE]`, `message_stop`, Cohere's `message-end`), with its last
 * parts, even when the server keeps the body open after it: waiting for the body's end would hold the stream,
 * and its finish part, forever. Over both undici clients: the platform's (a stream stage) and this library's
 * (the body read straight from the socket).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as LanguageModel from "../src/LanguageModel.js"
import * as StreamPart from "../src/StreamPart.js"
import * as AnthropicMock from "../src/testing/AnthropicMock.js"
import * as CohereMock from "../src/testing/CohereMock.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { undiciClients } from "./support/loopback.js"
import * as Providers from "./support/providers.js"

const ask = { messages: [{ role: "user" as const, content: "Hi" }] }

for (const [clientName, client] of undiciClients) {
  describe(`a body held open after the end marker, over ${clientName}`, () => {
    const providers = [
      [
        "OpenAI",
        OpenAiMock.stream({ deltas: ["A", "B"] }, { hang: true }),
        (server: MockProvider.MockProvider) => Providers.openAi(server, { retry: false }, client)
      ],
      [
        "Anthropic",
        AnthropicMock.stream({ deltas: ["A", "B"] }, { hang: true }),
        (server: MockProvider.MockProvider) => Providers.anthropic(server, { retry: false }, client)
      ],
      [
        "Cohere",
        CohereMock.stream({ deltas: ["A", "B"] }, { hang: true }),
        (server: MockProvider.MockProvider) => Providers.cohere(server, { retry: false }, client)
      ]
    ] as const
    for (const [name, reply, layerOf] of providers) {
      it.scoped(`${name}: the stream ends at the marker, with its finish part`, () =>
        Effect.gen(function*() {
          const server = yield* MockProvider.make({ script: [reply] })
          const response = yield* StreamPart.collect(LanguageModel.stream(ask)).pipe(Effect.provide(layerOf(server)))
          expect(response.content).toEqual([{ type: "text", text: "AB" }])
          expect(response.finishReason).toBe("stop")
        }), { timeout: 5_000 })
    }
  })
}
