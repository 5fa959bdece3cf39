/**
 * One process of the multi-process budget test: `CALLS` concurrent calls of tenant "shared" through a budget of
 * `LIMIT_USD` per day on Redis (`REDIS_URL`, `REDIS_KEY_PREFIX`) around an OpenAI layer pointed at `MOCK_URL`.
 * The processes meet at a barrier in Redis first (`PROCESSES` of them), so their calls overlap. Each call that
 * reaches the provider first reads the tenant's spent + reserved from the store. Prints one JSON line: the
 * outcome tags and what those reads saw.
 */
import { Effect, Exit, Layer } from "effect"
import * as Budget from "../../src/Budget.js"
import * as ChatRequest from "../../src/ChatRequest.js"
import * as LanguageModel from "../../src/LanguageModel.js"
import * as Redis from "../../src/Redis.js"
import * as Tokenizer from "../../src/Tokenizer.js"
import { prices, tokenizer } from "../support/budget.js"
import { mockProvider } from "../support/worker.js"

const name = process.env.NAME ?? "worker"
const calls = Number(process.env.CALLS ?? "1")
const processes = Number(process.env.PROCESSES ?? "1")
const limitUsd = Number(process.env.LIMIT_USD ?? "0")

/** Waits (real time, bounded) until every process has arrived. */
const barrier = Effect.gen(function*() {
  const redis = yield* Redis.Redis
  const key = redis.key("barrier")
  yield* redis.run("incr", (client) => client.incr(key))
  const start = Date.now()
  while (Number(yield* redis.run("get", (client) => client.get(key))) < processes) {
    if (Date.now() - start > 15_000) return yield* Effect.dieMessage(`${name}: the other processes never came`)
    yield* Effect.sleep("10 millis")
  }
})

const program = Effect.gen(function*() {
  const provider = yield* LanguageModel.LanguageModel
  const budget = yield* Budget.make({ tenants: { shared: { limitUsd, period: "day" } } })
  const seen: Array<number> = []
  const checking: LanguageModel.Service = {
    ...provider,
    generate: (request) =>
      Effect.flatMap(budget.status("shared"), (status) => {
        seen.push(status!.spentUsd + status!.reservedUsd)
        return provider.generate(request)
      })
  }
  const model = budget.wrap(checking)
  yield* barrier
  const exits = yield* Effect.all(
    Array.from({ length: calls }, (_, i) =>
      Effect.flatMap(
        ChatRequest.decode({
          messages: [{ role: "user", content: `${name} ${i}` }],
          maxTokens: 5,
          metadata: { tenant: "shared" }
        }),
        (request) => Effect.exit(model.generate(request))
      )),
    { concurrency: "unbounded" }
  )
  const outcomes = exits.map((exit) =>
    Exit.isSuccess(exit) ? "success" : exit.cause._tag === "Fail" ? exit.cause.error._tag : "defect"
  )
  process.stdout.write(`${JSON.stringify({ outcomes, seen })}\n`)
}).pipe(
  Effect.provide(
    mockProvider()
  ),
  Effect.provide(Layer.mergeAll(prices, Layer.succeed(Tokenizer.Tokenizer, tokenizer))),
  Effect.provide(Budget.layerRedis()),
  // Generous: this proves atomicity; two processes starting 100 calls each on a busy machine can stall a loop.
  Effect.provide(Redis.layerConfig({ commandTimeout: "5 seconds" })),
  Effect.scoped
)

Effect.runPromiseExit(program).then((exit) => {
  if (Exit.isFailure(exit)) {
    process.stderr.write(`${String(exit.cause)}\n`)
    process.exitCode = 1
  }
})
