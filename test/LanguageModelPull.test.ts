import { describe, expect, it } from "@effect/vitest"
import { Chunk, Context, Effect, Exit, Layer, Option, Stream } from "effect"
import * as LanguageModel from "../src/LanguageModel.js"
import type * as StreamPart from "../src/StreamPart.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { openAiLayer, undiciClients } from "./support/loopback.js"

const request = { messages: [{ role: "user" as const, content: "Tell a story" }] }

/** Every chunk of a pull until its end, or its failure. */
const drain = (pull: LanguageModel.Pull) =>
  Effect.gen(function*() {
    const parts: Array<StreamPart.StreamPart> = []
    while (true) {
      const next = yield* Effect.exit(pull)
      if (Exit.isSuccess(next)) {
        for (const part of next.value) parts.push(part)
        continue
      }
      const failure = next.cause._tag === "Fail" ? next.cause.error : Option.none()
      return { parts, failure: Option.getOrUndefined(failure) }
    }
  })

// Built in the test's scope: the client lives until the test ends.
const serviceOver = (server: MockProvider.MockProvider, client: (typeof undiciClients)[number][1]) =>
  Effect.map(Layer.build(openAiLayer(server, {}, client)), Context.get(LanguageModel.LanguageModel))

describe.each(undiciClients)("LanguageModel.toPull over %s", (_, client) => {
  it.scoped("a provider's pull gives the parts its stream gives", () =>
    Effect.gen(function*() {
      const reply = OpenAiMock.stream({ deltas: ["Once", " upon", " a time"] })
      const server = yield* MockProvider.make({ script: [reply, reply] })
      const service = yield* serviceOver(server, client)
      const streamed = Chunk.toReadonlyArray(yield* Stream.runCollect(service.stream(request)))
      const pulled = yield* Effect.scoped(Effect.flatMap(LanguageModel.toPull(service, request), drain))
      expect(pulled.failure).toBeUndefined()
      expect(pulled.parts).toEqual(streamed)
      expect(pulled.parts.filter((part) => part.type === "text-delta").map((part) => part.text).join("")).toBe(
        "Once upon a time"
      )
    }))

  it.scoped("nothing is sent before the first pull", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [OpenAiMock.stream({ deltas: ["x"] })] })
      const service = yield* serviceOver(server, client)
      yield* Effect.scoped(Effect.gen(function*() {
        const pull = yield* LanguageModel.toPull(service, request)
        expect(yield* server.requests).toHaveLength(0)
        const pulled = yield* drain(pull)
        expect(pulled.failure).toBeUndefined()
        expect(yield* server.requests).toHaveLength(1)
      }))
    }))

  it.scoped("a wrapper that replaces `stream` is what the pull reads: a policy is never bypassed", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [OpenAiMock.stream({ deltas: ["a", "b"] })] })
      const service = yield* serviceOver(server, client)
      const shouting: LanguageModel.Service = {
        ...service,
        stream: (r) =>
          Stream.map(
            service.stream(r),
            (part) => part.type === "text-delta" ? { ...part, text: part.text.toUpperCase() } : part
          )
      }
      const pulled = yield* Effect.scoped(Effect.flatMap(LanguageModel.toPull(shouting, request), drain))
      expect(pulled.parts.filter((part) => part.type === "text-delta").map((part) => part.text)).toEqual(["A", "B"])
    }))
})

describe("LanguageModel.toPull over UndiciClient.layer, a burst in one read", () => {
  it.scoped("the first content part comes in a chunk of its own; the rest of its read on the next pull", () =>
    Effect.gen(function*() {
      // No `chunkDelay`: the mock writes the whole body at once, and it is read in one piece.
      const reply = OpenAiMock.stream({ deltas: ["Once", " upon", " a", " time"] })
      const server = yield* MockProvider.make({ script: [reply, reply] })
      const service = yield* serviceOver(server, undiciClients[1]![1])
      const streamed = Chunk.toReadonlyArray(yield* Stream.runCollect(service.stream(request)))
      const chunks = yield* Effect.scoped(Effect.gen(function*() {
        const pull = yield* LanguageModel.toPull(service, request)
        const taken: Array<ReadonlyArray<StreamPart.StreamPart>> = []
        while (true) {
          const next = yield* Effect.exit(pull)
          if (Exit.isFailure(next)) return taken
          taken.push(Chunk.toReadonlyArray(next.value))
        }
      }))
      const first = chunks[0]!
      expect(first.at(-1)).toEqual({ type: "text-delta", text: "Once" })
      expect(first.filter((part) => part.type === "text-delta")).toHaveLength(1)
      expect(chunks.length).toBeGreaterThan(1)
      // The same parts as the stream, in the same order: held back, not lost or reordered.
      expect(chunks.flat()).toEqual(streamed)
      expect(streamed.some((part) => part.type === "usage")).toBe(true)
    }))
})

describe("LanguageModel.withPull", () => {
  it.scoped("toPull reads the given pull; the stream stays the stream", () =>
    Effect.gen(function*() {
      const parts: ReadonlyArray<StreamPart.StreamPart> = [{ type: "text-delta", text: "from the stream" }]
      const pulledParts: ReadonlyArray<StreamPart.StreamPart> = [{ type: "text-delta", text: "from the pull" }]
      const service = LanguageModel.make({
        provider: "custom",
        generate: () => Effect.die("unused"),
        stream: LanguageModel.withPull(
          () => Stream.fromIterable(parts),
          () => Stream.toPull(Stream.fromIterable(pulledParts))
        )
      })
      const pulled = yield* Effect.scoped(Effect.flatMap(LanguageModel.toPull(service, request), drain))
      expect(pulled.parts).toEqual(pulledParts)
      expect(Chunk.toReadonlyArray(yield* Stream.runCollect(service.stream(request)))).toEqual(parts)
    }))
})
