import { FetchHttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import type * as HttpClient from "@effect/platform/HttpClient"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Fiber, Layer, Redacted, Stream } from "effect"
import * as TestClock from "effect/TestClock"
import * as Zlib from "node:zlib"
import * as ChatResponse from "../src/ChatResponse.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import * as UndiciClient from "../src/UndiciClient.js"
import { eventually, failure, secretKey, textOf } from "./support/loopback.js"

const transports: ReadonlyArray<readonly [string, Layer.Layer<HttpClient.HttpClient>]> = [
  ["fetch", FetchHttpClient.layer],
  ["undici", NodeHttpClient.layerUndici],
  ["node:http", NodeHttpClient.layer],
  ["UndiciClient", UndiciClient.layer()]
]

const encodings: ReadonlyArray<MockProvider.ContentEncoding> = ["gzip", "x-gzip", "deflate", "deflate-raw", "br"]

const quotaMessage = "You exceeded your current quota, please check your plan and billing details."
const quotaBody = {
  error: { message: quotaMessage, type: "insufficient_quota", param: null, code: "insufficient_quota" }
}

const layerOf = (
  server: MockProvider.MockProvider,
  transport: Layer.Layer<HttpClient.HttpClient>,
  options: Partial<OpenAi.Options> = {}
) =>
  OpenAi.layer({ apiKey: Redacted.make(secretKey), baseUrl: `${server.url}/v1`, model: "gpt-4o-mini", ...options })
    .pipe(Layer.provide(transport))

/**
 * Runs a program against a scripted mock. Whenever the program waits on the clock (a retry), virtual time moves
 * a minute on, so a wrongly retried call ends with its last error instead of hanging.
 */
const run = <A, E>(
  transport: Layer.Layer<HttpClient.HttpClient>,
  script: ReadonlyArray<MockProvider.Reply>,
  program: Effect.Effect<A, E, LanguageModel.LanguageModel>,
  options: Partial<OpenAi.Options> = {},
  budgetMs?: number
) =>
  Effect.gen(function*() {
    const server = yield* MockProvider.make({ script })
    const fiber = yield* Effect.fork(Effect.provide(program, layerOf(server, transport, options)))
    for (let round = 0; round < 10; round++) {
      yield* eventually(
        Effect.zipWith(fiber.poll, TestClock.sleeps(), (done, sleeps) =>
          done._tag === "Some" || Chunk.isNonEmpty(sleeps)),
        "the call to end or wait",
        budgetMs
      )
      if ((yield* fiber.poll)._tag === "Some") {
        break
      }
      yield* TestClock.adjust("1 minute")
    }
    const exit = yield* Fiber.await(fiber)
    return { exit, requests: yield* server.requests }
  }).pipe(Effect.withRandomFixed([0]))

const generate = LanguageModel.generate({ messages: [{ role: "user", content: "Capital of France?" }] })

const streamText = Effect.map(
  Stream.runCollect(LanguageModel.stream({ messages: [{ role: "user", content: "Tell a story" }] })),
  (parts) => textOf(Chunk.toReadonlyArray(parts))
)

describe.each(transports)("compressed bodies over %s", (_, transport) => {
  describe.each(encodings)("%s", (encoding) => {
    it.scoped("an error body is decoded: a 429 insufficient_quota is QuotaExhausted, not retried", () =>
      Effect.gen(function*() {
        const reply = MockProvider.error(429, quotaBody, { contentEncoding: encoding })
        const { exit, requests } = yield* run(transport, [reply, reply, reply, reply], generate)
        const error = failure(exit)
        expect(error._tag).toBe("QuotaExhausted")
        expect(error.message).toBe(`openai 429: ${quotaMessage}`)
        expect(error.body).toBe(JSON.stringify(quotaBody))
        expect(requests).toHaveLength(1)
      }))

    it.scoped("a whole response is decoded", () =>
      Effect.gen(function*() {
        const reply = MockProvider.json(OpenAiMock.completionBody({ text: "Paris" }), { contentEncoding: encoding })
        const { exit, requests } = yield* run(transport, [reply], generate)
        expect(Exit.map(exit, ChatResponse.text)).toEqual(Exit.succeed("Paris"))
        expect(requests).toHaveLength(1)
      }))

    it.scoped("a stream is decoded chunk by chunk", () =>
      Effect.gen(function*() {
        const reply = OpenAiMock.stream({ deltas: ["Once", " upon", " a time"] }, { contentEncoding: encoding })
        const { exit, requests } = yield* run(transport, [reply], streamText)
        expect(exit).toEqual(Exit.succeed("Once upon a time"))
        expect(requests).toHaveLength(1)
      }))
  })

  it.scoped("says which codings it reads", () =>
    Effect.gen(function*() {
      const { requests } = yield* run(transport, [OpenAiMock.completion()], generate)
      expect(requests[0]?.headers["accept-encoding"]).toBe("gzip, deflate, br")
    }))
})

describe.each(transports)("a body cut by the provider over %s", (_, transport) => {
  const closed = "the connection closed before the body ended"

  it.scoped("a stream cut before its first content part is a NetworkError that says so", () =>
    Effect.gen(function*() {
      const { exit, requests } = yield* run(transport, [OpenAiMock.stream({}, { cutAfter: 1 })], streamText, {
        retry: false
      })
      const error = failure(exit)
      expect(error._tag).toBe("NetworkError")
      expect(error.message).toContain(`openai: ${closed}`)
      expect(requests).toHaveLength(1)
    }))

  it.scoped("a stream cut after content is StreamInterrupted with the same reason", () =>
    Effect.gen(function*() {
      const { exit } = yield* run(
        transport,
        [OpenAiMock.stream({ deltas: ["a", "b", "c"] }, { cutAfter: 3 })],
        streamText
      )
      const error = failure(exit)
      expect(error._tag).toBe("StreamInterrupted")
      expect(error.message).toContain(`after content was delivered: openai: ${closed}`)
    }))

  it.scoped("a compressed stream cut mid-way says the same", () =>
    Effect.gen(function*() {
      const reply = OpenAiMock.stream({ deltas: ["a", "b", "c"] }, { cutAfter: 3, contentEncoding: "gzip" })
      // Without retries: on a loaded machine the decompressor may not have let content through before the cut,
      // and a cut before the commit point is retried (the reason is the same either way).
      const { exit } = yield* run(transport, [reply], streamText, { retry: false })
      expect(failure(exit).message).toContain(`openai: ${closed}`)
    }))

  it.scoped("a whole body cut mid-way is a NetworkError that says so", () =>
    Effect.gen(function*() {
      const body = JSON.stringify(OpenAiMock.completionBody({ text: "Paris" }))
      const reply = MockProvider.stream([body.slice(0, 40), body.slice(40)], {
        cutAfter: 1,
        contentType: "application/json"
      })
      const { exit, requests } = yield* run(transport, [reply], generate, { retry: false })
      const error = failure(exit)
      expect(error._tag).toBe("NetworkError")
      expect(error.message).toContain(`openai: ${closed}`)
      expect(requests).toHaveLength(1)
    }))
})

describe("bodies that cannot or must not be decoded in full", () => {
  it.scoped.each(transports)(
    "a compressed error body is read only up to its bound (%s)",
    ([, transport]) =>
      Effect.gen(function*() {
        // ~20 MB of text that compresses to ~20 KB: reading stops at 64 KiB.
        const reply = MockProvider.text("x".repeat(20_000_000), { status: 500, contentEncoding: "gzip" })
        const { exit } = yield* run(transport, [reply], generate, { retry: false })
        const error = failure(exit)
        expect(error._tag).toBe("ServerError")
        expect(error.body).toBe(`${"x".repeat(LlmError.maxBodyLength)}… [${65536 - LlmError.maxBodyLength} more chars]`)
      })
  )

  it.scoped("a whole response that decodes past 64 MiB is MalformedResponse", () =>
    Effect.gen(function*() {
      const bomb = Zlib.gzipSync(Buffer.alloc(64 * 1024 * 1024 + 1, " "), { level: 1 })
      const reply = MockProvider.stream([bomb], {
        contentType: "application/json",
        headers: { "content-encoding": "gzip" }
      })
      const { exit } = yield* run(NodeHttpClient.layerUndici, [reply], generate, { retry: false }, 60_000)
      const error = failure(exit)
      expect(error._tag).toBe("MalformedResponse")
      expect(error.message).toBe(`openai: malformed response: the decoded body exceeds ${64 * 1024 * 1024} bytes`)
    }))

  it.scoped.each(transports)(
    "an unknown coding on text is read as it is (%s)",
    ([, transport]) =>
      Effect.gen(function*() {
        const headers = { "content-encoding": "zstd" }
        const { exit } = yield* run(
          transport,
          [MockProvider.error(429, quotaBody, { headers }), OpenAiMock.stream({ deltas: ["Hi"] }, { headers })],
          Effect.zip(Effect.flip(generate), streamText)
        )
        expect(Exit.map(exit, ([error, text]) => [error._tag, text] as const)).toEqual(
          Exit.succeed(["QuotaExhausted", "Hi"])
        )
      })
  )

  it.scoped("an unknown coding on binary bytes is a clear error", () =>
    Effect.gen(function*() {
      const headers = { "content-encoding": "zstd" }
      const binary = new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0, 0x58, 0x61, 0, 0, 0x7b])
      const { exit } = yield* run(
        NodeHttpClient.layerUndici,
        [
          MockProvider.stream([binary], { status: 429, headers }),
          MockProvider.stream([binary], { headers, contentType: "application/json" })
        ],
        Effect.zip(Effect.flip(generate), Effect.flip(generate), { concurrent: false }),
        { retry: false }
      )
      expect(Exit.map(exit, ([limited, malformed]) => [limited.message, malformed.message])).toEqual(
        Exit.succeed([
          "openai 429: [body not decoded: unsupported content-encoding \"zstd\"]",
          "openai: malformed response: unsupported content-encoding \"zstd\""
        ])
      )
    }))

  it.scoped.each(
    [["undici", NodeHttpClient.layerUndici], ["node:http", NodeHttpClient.layer], [
      "UndiciClient",
      UndiciClient.layer()
    ]] as const
  )(
    "a corrupt gzip body is MalformedResponse, in a whole response and in a stream (%s)",
    ([, transport]) =>
      Effect.gen(function*() {
        const headers = { "content-encoding": "gzip" }
        const corrupt = new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff])
        const { exit, requests } = yield* run(
          transport,
          [
            MockProvider.stream([corrupt], { headers, contentType: "application/json" }),
            MockProvider.stream([corrupt], { headers })
          ],
          Effect.zip(Effect.flip(generate), Effect.flip(streamText))
        )
        const [whole, streamed] = Exit.isSuccess(exit) ? exit.value : []
        expect([whole?._tag, streamed?._tag]).toEqual(["MalformedResponse", "MalformedResponse"])
        expect(whole?.message).toMatch(/^openai: malformed response: gzip body: /)
        expect(requests).toHaveLength(2)
      })
  )
})
