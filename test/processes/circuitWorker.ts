/**
 * One process of the multi-process breaker test: makes `CALLS` calls (prompt `from <NAME>`) through a breaker on
 * Redis (`REDIS_URL`, `REDIS_KEY_PREFIX`) around an OpenAI layer pointed at `MOCK_URL`, and prints the outcome
 * tags as one JSON line.
 */
import { Effect, Exit, Layer } from "effect"
import * as CircuitBreaker from "../../src/CircuitBreaker.js"
import * as LanguageModel from "../../src/LanguageModel.js"
import * as Redis from "../../src/Redis.js"
import { mockProvider } from "../support/worker.js"

const name = process.env.NAME ?? "worker"
const calls = Number(process.env.CALLS ?? "1")

const model = CircuitBreaker.layer(
  mockProvider(),
  { key: "openai", minimumCalls: 2, failureRateThreshold: 1, cooldown: "5 minutes" }
)

const program = Effect.gen(function*() {
  const outcomes: Array<string> = []
  for (let i = 0; i < calls; i++) {
    const exit = yield* Effect.exit(
      LanguageModel.generate({ messages: [{ role: "user", content: `from ${name}` }] }).pipe(Effect.provide(model))
    )
    outcomes.push(Exit.isSuccess(exit) ? "success" : exit.cause._tag === "Fail" ? exit.cause.error._tag : "defect")
  }
  process.stdout.write(`${JSON.stringify(outcomes)}\n`)
}).pipe(
  Effect.provide(CircuitBreaker.layerRedis().pipe(Layer.provide(Redis.layerConfig()))),
  Effect.scoped
)

Effect.runPromiseExit(program).then((exit) => {
  if (Exit.isFailure(exit)) {
    process.stderr.write(`${String(exit.cause)}\n`)
    process.exitCode = 1
  }
})
