import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Fiber, Layer, Redacted, Stream, TestClock, TestServices } from "effect"
import * as ChatResponse from "../src/ChatResponse.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as StreamPart from "../src/StreamPart.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import {
  adjustTo,
  awaitSleepUntil,
  eventually,
  failure,
  openAiLayer as openAiLayerOver,
  runStream as runGenerateStream,
  secretKey,
  textOf,
  undiciClients
} from "./support/loopback.js"

describe.each(undiciClients)("over %s", (_, client) => {
  const openAiLayer = (server: MockProvider.MockProvider, options: Partial<OpenAi.Options> = {}) =>
    openAiLayerOver(server, options, client)

  const request = { messages: [{ role: "user" as const, content: "Tell a story" }] }

  const sseEvent = (json: unknown) => `data: ${JSON.stringify(json)}\n\n`

  const runStream = (
    script: ReadonlyArray<MockProvider.Reply>,
    wakeups: ReadonlyArray<number>,
    options: Partial<OpenAi.Options> = {}
  ) => runGenerateStream((server) => openAiLayer(server, options), script, wakeups)

  describe("stream parts", () => {
    it.scoped("collecting a stream gives the response a non-streaming call gives", () =>
      Effect.gen(function*() {
        const toolCall = { id: "call_7", name: "weather", arguments: { city: "Paris" } }
        const server = yield* MockProvider.make({
          script: [
            OpenAiMock.stream({
              deltas: ["Let me ", "check."],
              toolCalls: [{ id: "call_7", name: "weather", argumentChunks: ["{\"city\"", ":\"Paris\"}"] }],
              usage: { inputTokens: 20, outputTokens: 9 }
            }),
            OpenAiMock.completion({
              text: "Let me check.",
              toolCalls: [toolCall],
              usage: { inputTokens: 20, outputTokens: 9 }
            })
          ]
        })
        const layer = openAiLayer(server)
        const streamed = yield* StreamPart.collect(LanguageModel.stream(request)).pipe(Effect.provide(layer))
        const whole = yield* LanguageModel.generate(request).pipe(Effect.provide(layer))
        expect(streamed.content).toEqual(whole.content)
        expect(streamed.finishReason).toBe("tool-calls")
        expect(streamed.usage).toEqual({ inputTokens: 20, outputTokens: 9, totalTokens: 29 })
        expect({ id: streamed.id, model: streamed.model, provider: streamed.provider }).toEqual({
          id: whole.id,
          model: whole.model,
          provider: whole.provider
        })
        const [sent] = yield* server.requests
        expect(sent?.body).toMatchObject({ stream: true, stream_options: { include_usage: true } })
      }))

    it.scoped("an error frame inside a 200 stream maps like its status", () =>
      Effect.gen(function*() {
        const { arrivals: times, exit } = yield* runStream([
          MockProvider.stream([
            sseEvent({ error: { message: "quota gone", type: "insufficient_quota", code: "insufficient_quota" } })
          ])
        ], [])
        expect(failure(exit)).toMatchObject({ _tag: "QuotaExhausted", provider: "openai" })
        expect(times).toEqual([0])
      }))

    it.scoped("a 400 before the stream starts is InvalidRequest and not retried", () =>
      Effect.gen(function*() {
        const { arrivals: times, exit } = yield* runStream([OpenAiMock.error(400), OpenAiMock.stream()], [])
        expect(failure(exit)._tag).toBe("InvalidRequest")
        expect(times).toEqual([0])
      }))
  })

  describe("the commit point", () => {
    it.scoped("an HTTP error before the first token is retried invisibly", () =>
      Effect.gen(function*() {
        const { arrivals: times, exit, received } = yield* runStream(
          [OpenAiMock.error(503), OpenAiMock.stream({ deltas: ["Once", " upon"] })],
          [500]
        )
        expect(Exit.isSuccess(exit)).toBe(true)
        expect(times).toEqual([0, 500])
        expect(received.map((part) => part.type)).toEqual([
          "response-metadata",
          "text-delta",
          "text-delta",
          "usage",
          "finish"
        ])
        expect(textOf(received)).toBe("Once upon")
      }))

    it.scoped("an error frame and a cut before the first token are both retried", () =>
      Effect.gen(function*() {
        const { arrivals: times, exit, received } = yield* runStream([
          MockProvider.stream([sseEvent({ error: { message: "overloaded", type: "server_error", code: null } })]),
          // the role chunk (not content) arrives, then the connection is cut
          OpenAiMock.stream({ deltas: ["never seen"] }, { cutAfter: 1 }),
          OpenAiMock.stream({ deltas: ["clean"] })
        ], [500, 1500])
        expect(Exit.isSuccess(exit)).toBe(true)
        expect(times).toEqual([0, 500, 1500])
        expect(textOf(received)).toBe("clean")
        expect(received.filter((part) => part.type === "response-metadata")).toHaveLength(1)
      }))

    it.scoped("a cut after 5 content chunks is StreamInterrupted with exactly that text, never retried", () =>
      Effect.gen(function*() {
        const deltas = ["One", " two", " three", " four", " five", " six", " seven"]
        const { arrivals: times, exit, received } = yield* runStream([
          // the role chunk, then five content chunks, then the connection is cut
          OpenAiMock.stream({ deltas }, { cutAfter: 6 }),
          OpenAiMock.stream({ deltas: ["spliced?"] })
        ], [])
        const error = failure(exit)
        expect(error._tag).toBe("StreamInterrupted")
        if (error._tag !== "StreamInterrupted") return
        expect(error.partial.text).toBe("One two three four five")
        expect(error.causeTag).toBe("NetworkError")
        expect(textOf(received)).toBe("One two three four five")
        expect(times).toEqual([0])
      }))

    it.scoped("StreamInterrupted carries the tool calls received so far", () =>
      Effect.gen(function*() {
        const { exit } = yield* runStream([
          OpenAiMock.stream({
            deltas: [],
            toolCalls: [{ id: "call_1", name: "search", argumentChunks: ["{\"q\":", "\"effect\"}"] }, {
              id: "call_2",
              name: "fetch",
              argumentChunks: ["{\"url\":", "\"x\"}"]
            }]
          }, { cutAfter: 5 })
        ], [])
        const error = failure(exit)
        if (error._tag !== "StreamInterrupted") throw new Error(error._tag)
        // role, call_1 start, two pieces, call_2 start: the second call has no arguments yet
        expect(error.partial.toolCalls).toEqual([
          { id: "call_1", name: "search", rawArguments: "{\"q\":\"effect\"}" },
          { id: "call_2", name: "fetch", rawArguments: "" }
        ])
      }))
  })

  describe("stream timeouts (TestClock)", () => {
    it.scoped("first-token fires at exactly its deadline and is retryable", () =>
      Effect.gen(function*() {
        const { arrivals: times, exit, received } = yield* runStream(
          [OpenAiMock.stream({}, { chunkDelay: "20 seconds" }), OpenAiMock.stream({ deltas: ["fast"] })],
          [5000, 5500],
          { timeout: { firstToken: "5 seconds" } }
        )
        expect(times).toEqual([0, 5500])
        expect(Exit.isSuccess(exit)).toBe(true)
        expect(textOf(received)).toBe("fast")
      }))

    it.scoped("first-token covers the wait for the response's headers: a server slow to answer is retried", () =>
      Effect.gen(function*() {
        const { arrivals: times, exit, received } = yield* runStream(
          [OpenAiMock.stream({ deltas: ["late"] }, { delay: "20 seconds" }), OpenAiMock.stream({ deltas: ["fast"] })],
          [5000, 5500],
          { timeout: { firstToken: "5 seconds" } }
        )
        expect(times).toEqual([0, 5500])
        expect(Exit.isSuccess(exit)).toBe(true)
        expect(textOf(received)).toBe("fast")
      }))

    for (
      const [name, timeout, phase] of [
        ["first-token", { firstToken: "5 seconds" }, "first-token"],
        ["total", { total: "5 seconds", firstToken: "10 seconds" }, "total"]
      ] as const
    ) {
      it.scoped(`headers later than ${name} fail with Timeout{${phase}} before anything is read, not as a cut stream`, () =>
        Effect.gen(function*() {
          const { exit, received } = yield* runStream(
            [OpenAiMock.stream({ deltas: ["A", "B"] }, { delay: "20 seconds" })],
            [5000],
            { retry: false, timeout }
          )
          expect(failure(exit)).toMatchObject({ _tag: "Timeout", phase })
          expect(received).toEqual([])
        }))
    }

    it.scoped("first-token without retries fails with Timeout{first-token}", () =>
      Effect.gen(function*() {
        const { exit } = yield* runStream([OpenAiMock.stream({}, { chunkDelay: "20 seconds" })], [5000], {
          retry: false,
          timeout: { firstToken: "5 seconds" }
        })
        expect(failure(exit)).toMatchObject({ _tag: "Timeout", phase: "first-token" })
      }))

    it.scoped("idle fires 5 s after the last part, and keep-alive comments do not reset it", () =>
      Effect.gen(function*() {
        const [role, hello, , world] = OpenAiMock.streamEvents({ deltas: ["Hello", " world"] })
        const { exit, received } = yield* runStream(
          [
            MockProvider.stream([
              sseEvent(role),
              sseEvent(hello),
              ": keep-alive\n\n",
              ": keep-alive\n\n",
              sseEvent(world)
            ], {
              chunkDelay: "3 seconds"
            })
          ],
          [3000, 6000, 9000, 11_000],
          { timeout: { idle: "5 seconds" } }
        )
        // "Hello" (the commit point) arrived at 6 s and a comment at 9 s; the mock's next chunk is due at 12 s, so
        // the sleep until 11 s awaited above can only be the idle deadline.
        const error = failure(exit)
        expect(error).toMatchObject({ _tag: "StreamInterrupted", causeTag: "Timeout" })
        expect(textOf(received)).toBe("Hello")
      }))

    it.scoped("idle is reset by each part: parts 3 s apart pass with idle 5 s, and it fires 5 s after the last", () =>
      Effect.gen(function*() {
        const [role, a, b, c] = OpenAiMock.streamEvents({ deltas: ["a", "b", "c"] })
        const server = yield* MockProvider.make({
          script: [MockProvider.stream([role, a, b, c].map(sseEvent), { chunkDelay: "3 seconds", hang: true })]
        })
        const received: Array<StreamPart.StreamPart> = []
        const fiber = yield* LanguageModel.stream(request).pipe(
          Stream.runForEach((part) => Effect.sync(() => received.push(part))),
          Effect.provide(openAiLayer(server, { timeout: { idle: "5 seconds" } })),
          Effect.fork
        )
        for (const at of [3000, 6000, 9000, 12_000]) {
          yield* awaitSleepUntil(at)
          yield* adjustTo(at)
        }
        yield* eventually(Effect.sync(() => textOf(received) === "abc"), "the third part")
        // The deadline moved with each part: nothing fires before 17 s, and a sleep ends exactly then.
        yield* adjustTo(16_999)
        yield* awaitSleepUntil(17_000)
        expect(textOf(received)).toBe("abc")
        yield* adjustTo(17_000)
        const error = failure(yield* Fiber.await(fiber))
        expect(error).toMatchObject({ _tag: "StreamInterrupted", causeTag: "Timeout" })
        expect(error.message).toContain("no stream event within 5s")
      }))

    for (
      const [name, timeout] of [
        ["idle", { idle: "5 seconds" }],
        ["total", { firstToken: "5 seconds", total: "5 seconds" }]
      ] as const
    ) {
      it.scoped(`${name} bounds the wait for the provider, not the consumer's own time with a part`, () =>
        Effect.gen(function*() {
          const server = yield* MockProvider.make({ script: [OpenAiMock.stream({ deltas: ["a", "b"] })] })
          const received: Array<StreamPart.StreamPart> = []
          const fiber = yield* LanguageModel.stream(request).pipe(
            Stream.runForEach((part) =>
              Effect.zipRight(
                Effect.sync(() => received.push(part)),
                part.type === "text-delta" ? Effect.sleep("10 seconds") : Effect.void
              )
            ),
            Effect.provide(openAiLayer(server, { retry: false, timeout })),
            Effect.fork
          )
          for (const at of [10_000, 20_000]) {
            yield* awaitSleepUntil(at)
            yield* adjustTo(at)
          }
          // The provider answered at once: 20 s of the consumer's is no timeout, and the answer is whole.
          expect(Exit.isSuccess(yield* Fiber.await(fiber))).toBe(true)
          expect(received.map((part) => part.type)).toContain("finish")
          expect(textOf(received)).toBe("ab")
        }))
    }

    it.scoped("a first token that arrives at the firstToken deadline is the answer, with no Timeout after it", () =>
      Effect.gen(function*() {
        const { exit, received } = yield* runStream(
          [OpenAiMock.stream({ deltas: ["Hel", "lo"] }, { delay: "5 seconds" })],
          [5000],
          { retry: false, timeout: { firstToken: "5 seconds" } }
        )
        expect(received.map((part) => part.type)).toContain("finish")
        expect(Exit.isSuccess(exit) ? textOf(received) : failure(exit)).toBe("Hello")
      }))

    it.scoped("with firstToken, idle and total set, idle still fires 5 s after the commit point", () =>
      Effect.gen(function*() {
        const [role, hello] = OpenAiMock.streamEvents({ deltas: ["Hello"] })
        const { exit, received } = yield* runStream(
          [MockProvider.stream([role, hello].map(sseEvent), { chunkDelay: "3 seconds", hang: true })],
          [3000, 6000, 11_000],
          { timeout: { firstToken: "30 seconds", idle: "5 seconds", total: "60 seconds" } }
        )
        const error = failure(exit)
        expect(error).toMatchObject({ _tag: "StreamInterrupted", causeTag: "Timeout" })
        expect(error.message).toContain("no stream event within 5s")
        expect(textOf(received)).toBe("Hello")
      }))

    it.scoped("total before the first token fails with Timeout{total} even when firstToken is longer", () =>
      Effect.gen(function*() {
        const { exit, received } = yield* runStream(
          [OpenAiMock.stream({ deltas: ["a"] }, { chunkDelay: "3 seconds" })],
          [3000, 4000],
          { retry: false, timeout: { firstToken: "10 seconds", total: "4 seconds" } }
        )
        expect(failure(exit)).toMatchObject({ _tag: "Timeout", phase: "total" })
        expect(received).toEqual([])
      }))

    it.scoped("total bounds the whole attempt", () =>
      Effect.gen(function*() {
        const { exit, received } = yield* runStream(
          [OpenAiMock.stream({ deltas: ["a", "b", "c", "d", "e"] }, { chunkDelay: "3 seconds" })],
          [3000, 6000, 8000],
          { timeout: { total: "8 seconds" } }
        )
        // the role chunk at 3 s, "a" at 6 s, "b" would come at 9 s
        const error = failure(exit)
        expect(error).toMatchObject({ _tag: "StreamInterrupted", causeTag: "Timeout" })
        if (error._tag === "StreamInterrupted") expect(error.partial.text).toBe("a")
        expect(textOf(received)).toBe("a")
      }))
  })

  describe("cancellation", () => {
    // Real time, bounded: the close must travel over a real socket.
    // The second case: the deadlines' worker pulls the attempt, and its interruption must still reach the socket.
    const takeCases = [
      ["taking the first parts closes the upstream connection", {}],
      [
        "with deadlines set, taking the first parts still closes the upstream connection",
        { timeout: { firstToken: "1 minute", idle: "1 minute", total: "1 hour" } }
      ]
    ] as const
    for (const [name, options] of takeCases) {
      // Real time, bounded: the close must travel over a real socket.
      it.live(name, () =>
        Effect.gen(function*() {
          const server = yield* MockProvider.make({
            script: [OpenAiMock.stream({ deltas: ["a", "b"] }, { hang: true, done: false })]
          })
          const parts = yield* LanguageModel.stream(request).pipe(
            Stream.take(2),
            Stream.runCollect,
            Effect.provide(openAiLayer(server, options))
          )
          expect(Chunk.toArray(parts).map((part) => part.type)).toEqual(["response-metadata", "text-delta"])
          yield* server.awaitClientClose.pipe(
            Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => "no close" })
          )
          expect(yield* server.closedConnections).toBe(1)
        }).pipe(Effect.scoped))
    }

    it.live("interrupting the consumer closes the upstream connection", () =>
      Effect.gen(function*() {
        const server = yield* MockProvider.make({
          script: [OpenAiMock.stream({ deltas: ["a"] }, { hang: true, done: false })]
        })
        const first = yield* Effect.makeLatch()
        const fiber = yield* LanguageModel.stream(request).pipe(
          Stream.tap((part) => part.type === "text-delta" ? first.open : Effect.void),
          Stream.runDrain,
          Effect.provide(openAiLayer(server)),
          Effect.fork
        )
        yield* first.await.pipe(Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => "no first part" }))
        yield* Fiber.interrupt(fiber)
        yield* server.awaitClientClose.pipe(Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => "no close" }))
        expect(yield* server.closedConnections).toBe(1)
        expect((yield* server.requests).length).toBe(1)
      }).pipe(Effect.scoped))
  })

  // One turn of the real event loop, so socket I/O can progress while the TestClock is frozen.
  const tick = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

  const untilRequests = (server: MockProvider.MockProvider, count: number) =>
    Effect.gen(function*() {
      for (let i = 0; i < 2000; i++) {
        if ((yield* server.requests).length >= count) return
        yield* tick
      }
      return yield* Effect.dieMessage(`timed out waiting for ${count} request(s)`)
    })

  const untilSleeping = Effect.gen(function*() {
    for (let i = 0; i < 2000; i++) {
      if (Chunk.size(yield* TestClock.sleeps()) > 0) return
      yield* tick
    }
    return yield* Effect.dieMessage("timed out waiting for a sleep")
  })

  // Bounds a wait on the real clock while the TestClock is in force.
  const within = <A, E, R>(self: Effect.Effect<A, E, R>) => TestServices.provideLive(Effect.timeout(self, "5 seconds"))

  // The connection of an attempt is closed when the attempt's scope closes, also before its response headers.
  describe("cancellation before the response headers", () => {
    it.scoped("interrupting the consumer closes the upstream connection", () =>
      Effect.gen(function*() {
        const server = yield* MockProvider.make({ script: [MockProvider.hang] })
        const fiber = yield* LanguageModel.stream(request).pipe(
          Stream.runDrain,
          Effect.provide(openAiLayer(server)),
          Effect.fork
        )
        yield* untilRequests(server, 1)
        yield* Fiber.interrupt(fiber)
        yield* within(server.awaitClientClose)
        expect(yield* server.closedConnections).toBe(1)
      }))

    it.scoped("a request deadline closes the connection of the attempt it ends, then the retry streams", () =>
      Effect.gen(function*() {
        const server = yield* MockProvider.make({
          script: [MockProvider.hang, OpenAiMock.stream({ deltas: ["ok"] })]
        })
        const fiber = yield* LanguageModel.stream(request).pipe(
          Stream.runCollect,
          Effect.provide(openAiLayer(server, { timeout: { request: "5 seconds" } })),
          Effect.fork
        )
        yield* untilRequests(server, 1)
        yield* TestClock.adjust("5 seconds")
        yield* within(server.awaitClientClose)
        expect(yield* server.closedConnections).toBe(1)
        // The retry's wait (at most the policy's first delay, 0.5 s), and no further: the second attempt's own
        // request deadline must not fire before its response arrives over the real socket.
        yield* untilSleeping
        yield* TestClock.adjust("500 millis")
        const parts = yield* Fiber.join(fiber)
        expect(textOf(Chunk.toArray(parts))).toBe("ok")
        expect((yield* server.requests).length).toBe(2)
      }))
  })

  describe("Azure streams", () => {
    it.scoped.each(
      [
        [{ deployment: "gpt-4o" }, "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"],
        [{ model: "gpt-4o" }, "/openai/v1/chat/completions"]
      ] as const
    )("streams on %j", ([options, path]) =>
      Effect.gen(function*() {
        const server = yield* MockProvider.make({
          script: [MockProvider.stream([
            // Azure's leading prompt-filter chunk (empty choices, empty id), and a chunk without `delta`
            sseEvent({
              choices: [],
              created: 0,
              id: "",
              model: "",
              object: "",
              prompt_filter_results: [{ prompt_index: 0 }]
            }),
            sseEvent({
              choices: [{ index: 0, finish_reason: null, content_filter_results: {} }],
              id: "c1",
              model: "gpt-4o"
            }),
            sseEvent({
              choices: [{ index: 0, delta: { content: "Hi" }, finish_reason: null }],
              id: "c1",
              model: "gpt-4o"
            }),
            sseEvent({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }], id: "c1", model: "gpt-4o" }),
            "data: [DONE]\n\n"
          ])]
        })
        const response = yield* StreamPart.collect(LanguageModel.stream(request)).pipe(
          Effect.provide(
            OpenAi.layerAzure({ endpoint: server.url, apiKey: Redacted.make(secretKey), ...options }).pipe(
              Layer.provide(NodeHttpClient.layerUndici)
            )
          )
        )
        expect(ChatResponse.text(response)).toBe("Hi")
        expect(response.providerMetadata?.promptFilterResults).toEqual([{ prompt_index: 0 }])
        const [sent] = yield* server.requests
        expect(sent?.path).toBe(path)
        expect(sent?.headers["api-key"]).toBe(secretKey)
      }))
  })
})
