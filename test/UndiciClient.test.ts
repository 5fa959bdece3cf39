import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Context, Effect, Exit, Fiber, FiberRef, Layer, Redacted, Stream } from "effect"
import * as Undici from "undici"
import * as UndiciClientInternal from "../src/internal/undiciClient.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import * as UndiciClient from "../src/UndiciClient.js"
import { eventually, secretKey } from "./support/loopback.js"

// Built in the test's scope: the client's agent lives until the test ends.
const client = Effect.map(Layer.build(UndiciClient.layer()), Context.get(HttpClient.HttpClient))

const decoder = new TextDecoder()

const hi = { messages: [{ role: "user" as const, content: "hi" }] }

describe("UndiciClient", () => {
  it.scoped("sends method, headers and body, and reads status, headers, text and JSON (read once, kept)", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [MockProvider.json({ ok: true }, { status: 201, headers: { "x-request-id": "req_1" } })]
      })
      const http = yield* client
      const response = yield* http.execute(
        HttpClientRequest.post(`${server.url}/v1/things?x=1`).pipe(
          HttpClientRequest.setHeader("x-team", "search"),
          HttpClientRequest.bodyText("{\"a\":1}", "application/json")
        )
      )
      expect(response.status).toBe(201)
      expect(response.headers["x-request-id"]).toBe("req_1")
      expect(yield* response.text).toBe("{\"ok\":true}")
      expect(yield* response.json).toEqual({ ok: true })
      const [sent] = yield* server.requests
      expect(sent).toMatchObject({ method: "POST", path: "/v1/things?x=1", bodyText: "{\"a\":1}" })
      expect(sent!.headers["x-team"]).toBe("search")
    }))

  it.scoped("streams a body written in pieces", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [MockProvider.stream(["one ", "two ", "three"])]
      })
      const http = yield* client
      const response = yield* http.execute(HttpClientRequest.get(`${server.url}/s`))
      const pieces = yield* Stream.runCollect(response.stream)
      expect(Chunk.toReadonlyArray(pieces).map((piece) => decoder.decode(piece)).join("")).toBe("one two three")
    }))

  it.scoped("a stream taken only in part closes its connection", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [MockProvider.stream(["first"], { hang: true })] })
      const http = yield* client
      const response = yield* http.execute(HttpClientRequest.get(`${server.url}/s`))
      const first = yield* Stream.runHead(response.stream)
      expect(first._tag).toBe("Some")
      yield* server.awaitClientClose.pipe(Effect.timeoutFail({ duration: "2 seconds", onTimeout: () => "open" }))
    }))

  it.scoped("interrupting a call before its response headers aborts the request", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [MockProvider.hang] })
      const http = yield* client
      const fiber = yield* Effect.fork(http.execute(HttpClientRequest.get(`${server.url}/slow`)))
      yield* eventually(Effect.map(server.requests, (requests) => requests.length > 0), "the request")
      yield* Fiber.interrupt(fiber)
      yield* server.awaitClientClose.pipe(Effect.timeoutFail({ duration: "2 seconds", onTimeout: () => "open" }))
    }))

  // Real time, about 1 s: undici's own timers (its backstop, 300 s by default), set here to their shortest.
  it.scopedLive("its agent's headers and body timeouts end a stalled call, before or after content, with a clear error", () =>
    Effect.gen(function*() {
      const [role, first] = OpenAiMock.streamEvents({ deltas: ["a", "b"] })
      const stalled = yield* MockProvider.make({
        script: [
          MockProvider.stream([role, first].map((event) => `data: ${JSON.stringify(event)}\n\n`), { hang: true })
        ]
      })
      const silent = yield* MockProvider.make({ script: [MockProvider.stream([], { hang: true, delay: "1 minute" })] })
      const agent = new Undici.Agent({ headersTimeout: 100, bodyTimeout: 100 })
      yield* Effect.addFinalizer(() => Effect.promise(() => agent.destroy()))
      const layerOf = (server: MockProvider.MockProvider) =>
        OpenAi.layer({
          baseUrl: `${server.url}/v1`,
          apiKey: Redacted.make(secretKey),
          model: "gpt-4o-mini",
          retry: false
        }).pipe(
          Layer.provide(Layer.succeed(HttpClient.HttpClient, UndiciClient.make(agent)))
        )
      const [afterContent, beforeHeaders] = yield* Effect.all([
        LanguageModel.stream(hi).pipe(Stream.runDrain, Effect.flip, Effect.provide(layerOf(stalled))),
        LanguageModel.stream(hi).pipe(Stream.runDrain, Effect.flip, Effect.provide(layerOf(silent)))
      ], { concurrency: 2 }).pipe(Effect.timeout("10 seconds"))
      expect(afterContent).toMatchObject({ _tag: "StreamInterrupted", causeTag: "NetworkError" })
      expect(afterContent.message).toContain("the body stalled past the HTTP client's body timeout")
      expect(beforeHeaders).toMatchObject({ _tag: "NetworkError" })
      expect(beforeHeaders.message).toBe(
        "openai: no response headers within the HTTP client's headers timeout (undici's headersTimeout)"
      )
    }))

  it.scoped("a bad URL and a refused connection are the platform's RequestErrors", () =>
    Effect.gen(function*() {
      const http = yield* client
      const invalid = yield* Effect.exit(http.execute(HttpClientRequest.get("not a url")))
      const refused = yield* Effect.exit(http.execute(HttpClientRequest.get("http://127.0.0.1:1/")))
      const reasonOf = (exit: Exit.Exit<unknown, { readonly reason: string }>) =>
        Exit.isFailure(exit) ? exit.cause._tag === "Fail" ? exit.cause.error.reason : exit.cause._tag : "success"
      expect([reasonOf(invalid), reasonOf(refused)]).toEqual(["InvalidUrl", "Transport"])
    }))

  it.scoped("a request body given as a stream is sent whole", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [MockProvider.json({})] })
      const http = yield* client
      const body = Stream.fromIterable(["he", "llo"]).pipe(Stream.encodeText)
      const response = yield* http.execute(
        HttpClientRequest.post(`${server.url}/up`).pipe(HttpClientRequest.bodyStream(body))
      )
      yield* response.arrayBuffer
      const [sent] = yield* server.requests
      expect(sent!.bodyText).toBe("hello")
    }))

  it.scoped("a client derived from it reads the key headers as redacted; the client itself is marked as not reading them", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [OpenAiMock.completion({ text: "hi" })] })
      const http = yield* client
      const seen: Array<ReadonlyArray<string>> = []
      // What a user's logging or tracing wrapper reads to redact headers.
      const derived = HttpClient.tapRequest(
        http,
        () =>
          Effect.map(FiberRef.get(Headers.currentRedactedNames), (names) => {
            seen.push(names.map(String))
          })
      )
      expect(UndiciClientInternal.isUnwrapped(http)).toBe(true)
      expect(UndiciClientInternal.isUnwrapped(derived)).toBe(false)
      yield* LanguageModel.generate({ messages: [{ role: "user", content: "hi" }] }).pipe(
        Effect.provide(OpenAi.layerAzure({ endpoint: server.url, deployment: "d", apiKey: Redacted.make(secretKey) })),
        Effect.provide(Layer.succeed(HttpClient.HttpClient, derived))
      )
      expect(seen).toHaveLength(1)
      expect(seen[0]).toContain("api-key")
    }))
})
