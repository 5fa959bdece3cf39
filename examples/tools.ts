/**
 * A tool-call round trip against a local mock of the OpenAI API: no network, no API key.
 *
 *   npx tsx examples/tools.ts
 *
 * The model asks for the `get_weather` tool, the program runs it, appends the assistant turn
 * (`ChatResponse.toMessage`) and the tool result to the conversation, and asks again for the final answer.
 */
import { NodeHttpClient, NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Redacted } from "effect"
import type { ChatRequest } from "../src/index.js"
import { ChatResponse, LanguageModel, OpenAi } from "../src/index.js"
import { MockProvider, OpenAiMock } from "../src/testing/index.js"

const tools: ReadonlyArray<ChatRequest.Tool> = [{
  name: "get_weather",
  description: "The current weather in a city",
  parameters: {
    type: "object",
    properties: { city: { type: "string" } },
    required: ["city"],
    additionalProperties: false
  }
}]

// The tool itself: a real program would call a weather API here.
const getWeather = (args: unknown) =>
  Effect.succeed({
    city: (args as { readonly city?: string } | undefined)?.city ?? "unknown",
    celsius: 21,
    sky: "sunny"
  })

const program = Effect.gen(function*() {
  const server = yield* MockProvider.make({
    script: [
      OpenAiMock.completion({ toolCalls: [{ id: "call_1", name: "get_weather", arguments: { city: "Paris" } }] }),
      OpenAiMock.completion({ text: "It is sunny and 21 °C in Paris." })
    ]
  })

  const OpenAiLive = OpenAi.layer({
    baseUrl: server.url + "/v1",
    apiKey: Redacted.make("sk-example"),
    model: "gpt-4o-mini"
  })

  const conversation: Array<ChatRequest.Message> = [{ role: "user", content: "What is the weather in Paris?" }]

  // 1. The model answers with a tool call instead of text.
  const first = yield* LanguageModel.generate({ messages: conversation, tools, toolChoice: "auto" }).pipe(
    Effect.provide(OpenAiLive)
  )
  yield* Console.log(`finish: ${first.finishReason}`)

  // 2. Run every requested tool and send the results back, after the assistant turn that asked for them.
  const calls = ChatResponse.toolCalls(first)
  const results = yield* Effect.forEach(calls, (call) =>
    Effect.gen(function*() {
      yield* Console.log(`tool call ${call.id}: ${call.name}(${call.rawArguments})`)
      const result = yield* getWeather(call.arguments)
      yield* Console.log(`tool result: ${JSON.stringify(result)}`)
      return { type: "tool-result" as const, toolCallId: call.id, toolName: call.name, result }
    }))
  conversation.push(ChatResponse.toMessage(first), { role: "tool", content: results })

  // 3. The model answers with the tool results in context.
  const second = yield* LanguageModel.generate({ messages: conversation, tools }).pipe(Effect.provide(OpenAiLive))
  yield* Console.log(`answer: ${ChatResponse.text(second)}`)

  // What went over the wire on the second request, in OpenAI's format.
  const sent = (yield* server.requests)[1]?.body as { readonly messages: ReadonlyArray<unknown> } | undefined
  yield* Console.log("\nmessages sent with the second request:")
  for (const message of sent?.messages ?? []) yield* Console.log(`  ${JSON.stringify(message)}`)
})

program.pipe(
  Effect.scoped,
  Effect.provide(NodeHttpClient.layerUndici),
  NodeRuntime.runMain
)
