/**
 * The liter-llm demo: no network, no API key. A local mock provider answers the first call with
 * `429 retry-after: 1` and the second with an answer; the OpenAI layer's default retry policy waits the
 * second the provider asked for and tries again. The demo prints each attempt, each wait, and the answer.
 *
 *   npm run demo
 */
import { NodeHttpClient, NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Logger, LogLevel, Redacted } from "effect"
import { ChatResponse, LanguageModel, OpenAi } from "../src/index.js"
import { MockProvider, OpenAiMock } from "../src/testing/index.js"

// Print the library's debug line for each retry it schedules.
const retryLogger = Logger.make(({ annotations, message }) => {
  const text = Array.isArray(message) ? message.join(" ") : String(message)
  if (!text.includes("retrying")) return
  const get = (key: string) => annotations.pipe((map) => [...map].find(([k]) => k === key)?.[1])
  console.log(`  ↻ retry ${get("retry")} after ${get("error")}: waiting ${get("delayMs")} ms`)
})

const program = Effect.gen(function*() {
  const server = yield* MockProvider.make({
    script: [
      OpenAiMock.error(429, "rate_limit_exceeded", {
        message: "Rate limit reached for requests per min. Please try again in 1s.",
        headers: { "retry-after": "1", "x-request-id": "req_demo_1" }
      }),
      OpenAiMock.completion({ text: "Paris is the capital of France.", usage: { input: 14, output: 8 } })
    ]
  })
  yield* Console.log(`Mock OpenAI-compatible provider listening on ${server.url}`)
  yield* Console.log("Calling LanguageModel.generate with the default retry policy…")

  const started = Date.now()
  const response = yield* LanguageModel.generate({
    messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Capital of France?" }],
    maxTokens: 50
  }).pipe(
    Effect.provide(
      OpenAi.layer({
        apiKey: Redacted.make("sk-demo-not-a-real-key"),
        baseUrl: `${server.url}/v1`,
        model: "gpt-4o-mini"
      })
    ),
    Effect.provide(Logger.replace(Logger.defaultLogger, retryLogger)),
    Logger.withMinimumLogLevel(LogLevel.Debug)
  )

  const requests = yield* server.requests
  const first = requests[0]?.arrivedAt ?? 0
  yield* Console.log("\nWhat the provider saw:")
  for (const [i, request] of requests.entries()) {
    const status = i === 0 ? "429 rate_limit_exceeded, retry-after: 1" : "200 OK"
    yield* Console.log(`  attempt ${i + 1} at +${request.arrivedAt - first} ms → ${status}`)
  }
  yield* Console.log(`\nAnswer (${Date.now() - started} ms in all): ${ChatResponse.text(response)}`)
  yield* Console.log(
    `Usage: ${response.usage?.inputTokens} input + ${response.usage?.outputTokens} output tokens, finish: ${response.finishReason}`
  )
})

program.pipe(
  Effect.scoped,
  Effect.provide(NodeHttpClient.layerUndici),
  NodeRuntime.runMain({ disablePrettyLogger: true })
)
