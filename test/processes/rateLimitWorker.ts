/**
 * One process of the multi-process rate limit test. After a warm-up call it prints `ready` and reads one line from stdin,
 * `{ "startAt": ms, "endAt": ms }` (epoch): from then until then, `CONCURRENCY` fibers call an OpenAI layer pointed
 * at `MOCK_URL` (prompt `from <NAME>`) through a limit of `LIMIT` requests per `WINDOW_MS` counted in Redis
 * (`REDIS_URL`, `REDIS_KEY_PREFIX`). A refused fiber waits for the `retryAfter` it was given, then tries again.
 * Prints one JSON line: calls let through, refusals, refusals without a `retryAfter`, the tags of other failures.
 */
import { Clock, Duration, Effect, Exit, Layer } from "effect"
import * as LanguageModel from "../../src/LanguageModel.js"
import * as RateLimit from "../../src/RateLimit.js"
import * as Redis from "../../src/Redis.js"
import { env, mockProvider } from "../support/worker.js"

const name = env("NAME")
const prompt = `from ${name}`

/** The first line of stdin. */
const firstLine = Effect.async<string>((resume) => {
  let buffered = ""
  const onData = (data: Buffer) => {
    buffered += data.toString()
    const end = buffered.indexOf("\n")
    if (end < 0) return
    process.stdin.off("data", onData)
    process.stdin.pause()
    resume(Effect.succeed(buffered.slice(0, end)))
  }
  process.stdin.on("data", onData)
})

const provider = mockProvider()

/**
 * The prompt gets the time the call left the limiter (`<prompt> at <ms>`), so that the mock's requests can be told
 * apart by the window that let them through, whatever the time they spent on the way.
 */
const stamped = Layer.effect(
  LanguageModel.LanguageModel,
  Effect.map(LanguageModel.LanguageModel, (service): LanguageModel.Service => ({
    ...service,
    generate: (request) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        service.generate({
          ...request,
          messages: [{ role: "user", content: `${String(request.messages[0]?.content)} at ${now}` }]
        }))
  }))
).pipe(Layer.provide(provider))

const model = RateLimit.layer(
  stamped,
  { default: { requests: { limit: Number(env("LIMIT")), window: Number(env("WINDOW_MS")) } } }
).pipe(Layer.provide(RateLimit.layerRedis), Layer.provide(Redis.layerConfig()))

const outcomes = { through: 0, refused: 0, refusedWithoutRetryAfter: 0, others: [] as Array<string> }

const fiber = (endAt: number) =>
  Effect.gen(function*() {
    while ((yield* Clock.currentTimeMillis) < endAt) {
      const exit = yield* Effect.exit(LanguageModel.generate({ messages: [{ role: "user", content: prompt }] }))
      if (Exit.isSuccess(exit)) {
        outcomes.through++
        continue
      }
      const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
      if (error?._tag !== "RateLimitExceeded") {
        outcomes.others.push(error?._tag ?? "defect")
        continue
      }
      outcomes.refused++
      if (error.retryAfter === undefined) outcomes.refusedWithoutRetryAfter++
      yield* Effect.sleep(error.retryAfter ?? Duration.millis(10))
    }
  })

const program = Effect.gen(function*() {
  // One call of a tenant of its own first: the first HTTP call of a process loads and compiles code, slow enough
  // on a busy machine to blur which window a call was in.
  yield* LanguageModel.generate({ messages: [{ role: "user", content: "warm-up" }], metadata: { tenant: "warm-up" } })
  process.stdout.write("ready\n")
  const { endAt, startAt } = JSON.parse(yield* firstLine) as { startAt: number; endAt: number }
  yield* Effect.sleep(Math.max(0, startAt - (yield* Clock.currentTimeMillis)))
  yield* Effect.all(Array.from({ length: Number(env("CONCURRENCY")) }, () => fiber(endAt)), {
    concurrency: "unbounded"
  })
  process.stdout.write(`${JSON.stringify(outcomes)}\n`)
}).pipe(Effect.provide(model))

Effect.runPromiseExit(program).then((exit) => {
  if (Exit.isFailure(exit)) {
    process.stderr.write(`${String(exit.cause)}\n`)
    process.exitCode = 1
  }
})
