/**
 * One process of the multi-process cache test: asks `QUESTION` once for each tenant of `TENANTS` (comma-separated)
 * through a cache on Redis (`REDIS_URL`, `REDIS_KEY_PREFIX`) around an OpenAI layer pointed at `MOCK_URL`, and
 * prints each answer's text and whether it was cached, as one JSON line.
 */
import { Effect, Exit, Layer } from "effect"
import * as Cache from "../../src/Cache.js"
import * as ChatResponse from "../../src/ChatResponse.js"
import * as LanguageModel from "../../src/LanguageModel.js"
import * as Redis from "../../src/Redis.js"
import { mockProvider } from "../support/worker.js"

const tenants = (process.env.TENANTS ?? "default").split(",")
const question = process.env.QUESTION ?? "Capital of France?"

const model = Cache.layerRedis(
  mockProvider(),
  { ttl: "5 minutes" }
).pipe(Layer.provide(Redis.layerConfig()))

const program = Effect.gen(function*() {
  const answers: Array<{ readonly tenant: string; readonly text: string; readonly cached: boolean }> = []
  for (const tenant of tenants) {
    const response = yield* LanguageModel.generate({
      messages: [{ role: "user", content: question }],
      metadata: { tenant }
    })
    answers.push({ tenant, text: ChatResponse.text(response), cached: response.cached === true })
  }
  process.stdout.write(`${JSON.stringify(answers)}\n`)
}).pipe(Effect.provide(model))

Effect.runPromiseExit(program).then((exit) => {
  if (Exit.isFailure(exit)) {
    process.stderr.write(`${String(exit.cause)}\n`)
    process.exitCode = 1
  }
})
