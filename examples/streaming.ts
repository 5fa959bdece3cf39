/**
 * Streaming with the commit point, against a local mock (no network, no key):
 *
 * 1. the first attempt fails with a 503 before any token: retried invisibly, the consumer sees one stream;
 * 2. a second stream is cut after three words: it fails with `StreamInterrupted` carrying what arrived.
 *
 *   npx tsx examples/streaming.ts
 */
import { NodeHttpClient, NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Redacted, Stream } from "effect"
import { LanguageModel, OpenAi, StreamPart } from "../src/index.js"
import { MockProvider, OpenAiMock } from "../src/testing/index.js"

const story = ["Once", " upon", " a", " time", " there", " was", " a", " stream."]

const program = Effect.gen(function*() {
  const server = yield* MockProvider.make({
    script: [
      OpenAiMock.error(503, null, { message: "The server is overloaded" }),
      OpenAiMock.stream({ deltas: story }, { chunkDelay: "40 millis" }),
      // the role chunk and three words, then the connection drops
      OpenAiMock.stream({ deltas: story }, { chunkDelay: "40 millis", cutAfter: 4 })
    ]
  })
  const model = OpenAi.layer({ apiKey: Redacted.make("sk-example"), baseUrl: `${server.url}/v1`, model: "gpt-4o-mini" })
  const tell = LanguageModel.stream({ messages: [{ role: "user", content: "Tell a story" }] }).pipe(
    Stream.tap((part) => part.type === "text-delta" ? Effect.sync(() => process.stdout.write(part.text)) : Effect.void)
  )

  yield* Console.log("1) a 503 before the first token is retried; the stream you see is clean:")
  const response = yield* StreamPart.collect(tell).pipe(Effect.provide(model))
  yield* Console.log(`\n   finish: ${response.finishReason}, usage: ${JSON.stringify(response.usage)}`)

  yield* Console.log("\n2) a cut after content has arrived is never retried or spliced:")
  yield* StreamPart.collect(tell).pipe(
    Effect.provide(model),
    Effect.catchTag(
      "StreamInterrupted",
      (error) =>
        Console.log(
          `\n   StreamInterrupted (${error.causeTag}); received so far: ${JSON.stringify(error.partial.text)}`
        )
    )
  )
  yield* Console.log(`\nThe mock saw ${(yield* server.requests).length} requests.`)
})

program.pipe(
  Effect.scoped,
  Effect.provide(NodeHttpClient.layerUndici),
  NodeRuntime.runMain({ disablePrettyLogger: true })
)
