/**
 * A first call and a handled error, against a local mock of the OpenAI API: no network, no API key.
 *
 *   npx tsx examples/basic.ts
 *
 * The mock answers the first request with a completion and the second with OpenAI's 400
 * `context_length_exceeded`, which arrives as the typed `ContextLengthExceeded` error and is handled with
 * `Effect.catchTag`.
 */
import { NodeHttpClient, NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Redacted } from "effect"
import { ChatResponse, LanguageModel, OpenAi } from "../src/index.js"
import { MockProvider, OpenAiMock } from "../src/testing/index.js"

const program = Effect.gen(function*() {
  const server = yield* MockProvider.make({
    script: [
      OpenAiMock.completion({ text: "Paris is the capital of France.", usage: { inputTokens: 21, outputTokens: 7 } }),
      OpenAiMock.error(400, "context_length_exceeded", {
        message: "This model's maximum context length is 128000 tokens. However, you requested 200000 tokens."
      })
    ]
  })

  const OpenAiLive = OpenAi.layer({
    baseUrl: server.url + "/v1",
    apiKey: Redacted.make("sk-example"),
    model: "gpt-4o-mini"
  })

  // 1. A call that succeeds.
  const response = yield* LanguageModel.generate({
    messages: [
      { role: "system", content: "Be brief." },
      { role: "user", content: "What is the capital of France?" }
    ],
    maxTokens: 100
  }).pipe(Effect.provide(OpenAiLive))

  yield* Console.log(`answer: ${ChatResponse.text(response)}`)
  yield* Console.log(`finish: ${response.finishReason}`)
  if (response.usage !== undefined) {
    const { inputTokens, outputTokens, totalTokens } = response.usage
    yield* Console.log(`usage:  ${inputTokens} input + ${outputTokens} output = ${totalTokens} tokens`)
  }

  // 2. A call that fails with a typed error, handled by its tag.
  const summary = yield* LanguageModel.generate({
    messages: [{ role: "user", content: "Summarise this very long document: ..." }]
  }).pipe(
    Effect.map(ChatResponse.text),
    Effect.catchTag("ContextLengthExceeded", (error) =>
      Effect.as(
        Console.log(`\n${error._tag} (HTTP ${error.status}, provider ${error.provider}): ${error.message}`),
        "(the document was too long: split it and summarise each part)"
      )),
    Effect.provide(OpenAiLive)
  )
  yield* Console.log(`fallback: ${summary}`)

  const requests = yield* server.requests
  yield* Console.log(
    `\nthe mock received ${requests.length} requests, e.g. ${requests[0]?.method} ${requests[0]?.path}`
  )
})

program.pipe(
  Effect.scoped,
  Effect.provide(NodeHttpClient.layerUndici),
  NodeRuntime.runMain
)
