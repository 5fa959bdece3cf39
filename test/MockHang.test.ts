/**
 * The provider mocks' `hang`: a stream that stalls after its content (no finish, no end marker) and stays open,
 * so an idle timeout fires on it, as a test of one scripts it (not a stream that ends at its end marker anyway).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as AnthropicMock from "../src/testing/AnthropicMock.js"
import * as CohereMock from "../src/testing/CohereMock.js"
import type * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { failure, type LayerOf, openAiLayer, runStream, textOf } from "./support/loopback.js"
import { anthropic, cohere } from "./support/providers.js"

const idle = { retry: false, timeout: { idle: "5 seconds" } } as const

const cases: ReadonlyArray<readonly [string, LayerOf, MockProvider.Reply]> = [
  ["OpenAI", (server) => openAiLayer(server, idle), OpenAiMock.stream({ deltas: ["a", "b"] }, { hang: true })],
  ["Anthropic", (server) => anthropic(server, idle), AnthropicMock.stream({ deltas: ["a", "b"] }, { hang: true })],
  ["Cohere", (server) => cohere(server, idle), CohereMock.stream({ deltas: ["a", "b"] }, { hang: true })]
]

describe("a provider mock's stream with hang", () => {
  it.scoped.each(cases)(
    "%s: stalls after its content; the idle timeout fires 5 s later",
    ([, layerOf, reply]) =>
      Effect.gen(function*() {
        const { exit, received } = yield* runStream(layerOf, [reply], [5000])
        expect(textOf(received)).toBe("ab")
        expect(received.some((part) => part.type === "finish")).toBe(false)
        expect(failure(exit)).toMatchObject({ _tag: "StreamInterrupted", causeTag: "Timeout" })
      })
  )
})
