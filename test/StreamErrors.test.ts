/**
 * A 200 stream whose body is not an event stream (an HTML page, one JSON error object, a stray line) fails with
 * the error a non-streaming call gets for the same body, over real HTTP, for every provider.
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import { describe, expect, it } from "@effect/vitest"
import type { Layer } from "effect"
import { Effect, Exit } from "effect"
import * as AnthropicMock from "../src/testing/AnthropicMock.js"
import * as CohereMock from "../src/testing/CohereMock.js"
import * as GeminiMock from "../src/testing/GeminiMock.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { failure, type LayerOf, openAiLayer, runStream, textOf, undiciClients } from "./support/loopback.js"
import * as Providers from "./support/providers.js"

interface Case {
  readonly name: string
  readonly layer: (
    server: MockProvider.MockProvider,
    options?: Providers.CommonOptions,
    client?: Layer.Layer<HttpClient.HttpClient>
  ) => ReturnType<LayerOf>
  /** The provider's own error body for a prompt over the context window, and the message it carries. */
  readonly contextError: Record<string, unknown>
  readonly contextMessage: string
  /** The provider's own error body for an overloaded model (retryable), and the tag it gives. */
  readonly overloadedError: Record<string, unknown>
  readonly overloadedTag: string
  readonly ok: MockProvider.Reply
}

const cases: ReadonlyArray<Case> = [
  {
    name: "openai (llama.cpp)",
    layer: Providers.openAi,
    contextError: {
      error: {
        code: 400,
        message: "request (6009 tokens) exceeds the available context size (4096 tokens)",
        type: "exceed_context_size_error"
      }
    },
    contextMessage: "request (6009 tokens) exceeds the available context size (4096 tokens)",
    overloadedError: { error: { code: 503, message: "Loading model", type: "unavailable_error" } },
    overloadedTag: "Overloaded",
    ok: OpenAiMock.stream({ deltas: ["clean"] })
  },
  {
    name: "azure",
    layer: Providers.azure,
    contextError: {
      error: {
        message: "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.",
        type: "invalid_request_error",
        param: "messages",
        code: "context_length_exceeded"
      }
    },
    contextMessage: "This model's maximum context length is 8192 tokens.",
    overloadedError: { error: { code: "server_error", message: "The server had an error", status: 500 } },
    overloadedTag: "ServerError",
    ok: OpenAiMock.stream({ deltas: ["clean"] })
  },
  {
    name: "anthropic",
    layer: Providers.anthropic,
    contextError: {
      type: "error",
      error: { type: "invalid_request_error", message: "prompt is too long: 210000 tokens > 200000 maximum" }
    },
    contextMessage: "prompt is too long: 210000 tokens > 200000 maximum",
    overloadedError: { type: "error", error: { type: "overloaded_error", message: "Overloaded" } },
    overloadedTag: "Overloaded",
    ok: AnthropicMock.stream({ deltas: ["clean"] })
  },
  {
    name: "cohere",
    layer: Providers.cohere,
    contextError: {
      id: "c0ffee",
      message: "too many tokens: size limit exceeded by 11 tokens. Try using shorter or fewer inputs."
    },
    contextMessage: "too many tokens: size limit exceeded by 11 tokens.",
    overloadedError: { id: "c0ffee", message: "The model is overloaded. Please try again later." },
    overloadedTag: "Overloaded",
    ok: CohereMock.stream({ deltas: ["clean"] })
  },
  {
    name: "gemini",
    layer: Providers.gemini,
    contextError: {
      error: {
        code: 400,
        message: "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
        status: "INVALID_ARGUMENT"
      }
    },
    contextMessage: "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
    overloadedError: { error: { code: 503, message: "The model is overloaded.", status: "UNAVAILABLE" } },
    overloadedTag: "Overloaded",
    ok: GeminiMock.stream({ deltas: ["clean"] })
  }
]

const page = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body>nginx</body></html>\n"

describe.each(undiciClients)("over %s", (_, client) => {
  describe("a 200 stream whose body is not an event stream", () => {
    for (const c of cases) {
      describe(c.name, () => {
        it.scoped("an HTML page (text/html) is MalformedResponse keeping the page, not retried", () =>
          Effect.gen(function*() {
            const { exit, requests } = yield* runStream((server) => c.layer(server, {}, client), [
              MockProvider.stream([page.slice(0, 20), page.slice(20)], { contentType: "text/html; charset=utf-8" })
            ], [])
            const error = failure(exit)
            expect(error._tag).toBe("MalformedResponse")
            expect(error.body).toBe(page)
            expect(error.status).toBe(200)
            expect(error.message).toContain("HTML page")
            expect(requests).toHaveLength(1)
          }))

        it.scoped("an HTML page labelled text/event-stream is recognised by its first byte", () =>
          Effect.gen(function*() {
            const { exit, requests } = yield* runStream((server) => c.layer(server, {}, client), [
              MockProvider.stream(["\r\n  ", page])
            ], [])
            const error = failure(exit)
            expect(error._tag).toBe("MalformedResponse")
            expect(error.body).toBe("\r\n  " + page)
            expect(requests).toHaveLength(1)
          }))

        it.scoped("a huge page is read only up to the bound, even when it never ends", () =>
          Effect.gen(function*() {
            const chunk = `<p>${"x".repeat(1020)}</p>\n`
            const { exit } = yield* runStream((server) => c.layer(server, {}, client), [
              MockProvider.stream(Array.from({ length: 100 }, () => chunk), { contentType: "text/html", hang: true })
            ], [])
            const error = failure(exit)
            expect(error._tag).toBe("MalformedResponse")
            expect(error.body?.startsWith("<p>xxx")).toBe(true)
            expect(error.body?.length).toBeLessThan(5000)
          }))

        it.scoped("a JSON error object (application/json) is the error its body gives: not retried, message kept", () =>
          Effect.gen(function*() {
            const { exit, requests } = yield* runStream((server) => c.layer(server, {}, client), [
              MockProvider.stream([JSON.stringify(c.contextError, null, 2)], { contentType: "application/json" })
            ], [])
            const error = failure(exit)
            expect(error._tag).toBe("ContextLengthExceeded")
            expect(error.message).toContain(c.contextMessage)
            expect(error.body).toBe(JSON.stringify(c.contextError))
            expect(requests).toHaveLength(1)
          }))

        it.scoped("a JSON error object without `data:` in a text/event-stream body is the same error", () =>
          Effect.gen(function*() {
            const { exit, requests } = yield* runStream((server) => c.layer(server, {}, client), [
              MockProvider.stream([JSON.stringify(c.contextError) + "\n"])
            ], [])
            expect(failure(exit)._tag).toBe("ContextLengthExceeded")
            expect(requests).toHaveLength(1)
          }))

        it.scoped("a retryable JSON error object is retried, and the retry streams cleanly", () =>
          Effect.gen(function*() {
            const once = yield* runStream((server) => c.layer(server, { retry: false }), [
              MockProvider.stream([JSON.stringify(c.overloadedError)], { contentType: "application/json" })
            ], [])
            expect(failure(once.exit)._tag).toBe(c.overloadedTag)
            const { arrivals, exit, received } = yield* runStream((server) => c.layer(server, {}, client), [
              MockProvider.stream([JSON.stringify(c.overloadedError)], { contentType: "application/json" }),
              c.ok
            ], [500])
            expect(Exit.isSuccess(exit)).toBe(true)
            expect(arrivals).toEqual([0, 500])
            expect(textOf(received)).toBe("clean")
          }))

        it.scoped("an SSE body with an HTML line fails at that line instead of hanging or dropping it", () =>
          Effect.gen(function*() {
            const { exit, requests } = yield* runStream((server) => c.layer(server, {}, client), [
              MockProvider.stream([": keep-alive\n\n", "<h1>502 Bad Gateway</h1>\n"], { hang: true })
            ], [])
            const error = failure(exit)
            expect(error._tag).toBe("MalformedResponse")
            expect(error.body).toBe("<h1>502 Bad Gateway</h1>")
            expect(requests).toHaveLength(1)
          }))
      })
    }

    it.scoped("llama.cpp's `error: {...}` SSE line is the error it carries", () =>
      Effect.gen(function*() {
        const error = {
          code: 400,
          message: "the request exceeds the available context size, try increasing it",
          type: "exceed_context_size_error"
        }
        const { exit, requests } = yield* runStream((server) => openAiLayer(server, {}, client), [
          MockProvider.stream([`error: ${JSON.stringify(error)}\n\n`, "data: [DONE]\n\n"])
        ], [])
        const failed = failure(exit)
        expect(failed._tag).toBe("ContextLengthExceeded")
        expect(failed.status).toBe(400)
        expect(failed.message).toContain(error.message)
        expect(requests).toHaveLength(1)
      }))

    it.scoped("an unknown SSE field (`name: value`) is still ignored, as SSE asks", () =>
      Effect.gen(function*() {
        const { exit, received } = yield* runStream((server) => openAiLayer(server, {}, client), [
          MockProvider.stream([
            "x-vendor: trace-1\n\n",
            ...MockProvider.sse(OpenAiMock.streamEvents({ deltas: ["fine"] })).chunks
          ])
        ], [])
        expect(Exit.isSuccess(exit)).toBe(true)
        expect(textOf(received)).toBe("fine")
      }))

    it.scoped("gemini: an HTML page inside a JSON-array stream ends it at once (after content: StreamInterrupted)", () =>
      Effect.gen(function*() {
        const chunk = GeminiMock.streamEvents({ deltas: ["One"] })[0]
        const { exit, requests } = yield* runStream(Providers.gemini, [
          MockProvider.stream([`[${JSON.stringify(chunk)},\n`, "<html>upstream reset</html>"], {
            contentType: "application/json",
            hang: true
          })
        ], [])
        const error = failure(exit)
        expect(error._tag).toBe("StreamInterrupted")
        expect(error._tag === "StreamInterrupted" && error.causeTag).toBe("MalformedResponse")
        expect(requests).toHaveLength(1)
      }))
  })
})
