/**
 * One process of the Redis outage test: every Redis store at once (breaker, budget, rate limit, cache) on one
 * connection (`REDIS_URL`, `REDIS_KEY_PREFIX`, `COMMAND_TIMEOUT_MS`), in the documented order Cache → RateLimit →
 * Budget → CircuitBreaker → OpenAI layer pointed at `MOCK_URL`. After warming up (which also stores the two cached
 * answers) it prints `ready`; from the first line on stdin it starts one call every `PACE_MS`, whatever the calls
 * before it are doing, cycling through the {@link kinds}; when stdin ends it waits (bounded) for the calls in
 * flight and prints one JSON line: every call with its start, end and outcome; calls still running are `hung`.
 *
 * Tenants: "acme" is rate limited and budgeted, "metered" only budgeted, "free" neither. Prompts are unique
 * (`<kind> <NAME> <n>`) except those meant to hit the cache; a prompt starting with "fail" gets a 500 from the mock.
 */
import { Clock, Effect, Exit, Fiber, FiberSet, Layer } from "effect"
import * as Budget from "../../src/Budget.js"
import * as Cache from "../../src/Cache.js"
import type * as ChatRequest from "../../src/ChatRequest.js"
import * as CircuitBreaker from "../../src/CircuitBreaker.js"
import * as LanguageModel from "../../src/LanguageModel.js"
import * as RateLimit from "../../src/RateLimit.js"
import * as Redis from "../../src/Redis.js"
import * as Tokenizer from "../../src/Tokenizer.js"
import { prices, tokenizer } from "../support/budget.js"
import { env, mockProvider } from "../support/worker.js"

const name = env("NAME")

/** What each kind of call asks, of which tenant, and through which breaker. */
const kinds = {
  /** The same question each time: a cache hit while Redis is up. */
  "acme-hit": { tenant: "acme", prompt: () => "acme: capital of France?", route: "main" },
  "acme-fresh": { tenant: "acme", prompt: (n: number) => `acme-fresh ${name} ${n}`, route: "main" },
  "metered-fresh": { tenant: "metered", prompt: (n: number) => `metered-fresh ${name} ${n}`, route: "main" },
  /** This process's own question, so that the provider's requests for it can be told apart. */
  "free-hit": { tenant: "free", prompt: () => `free ${name}: capital of Italy?`, route: "main" },
  /** Always a 500, through a breaker of its own that opens after 2 failures. */
  "free-fail": { tenant: "free", prompt: (n: number) => `fail ${name} ${n}`, route: "flaky" }
} as const

/** A kind of call (the test expects each one by name). */
export type Kind = keyof typeof kinds

/** One call as the worker saw it (times in epoch ms). */
export interface Call {
  readonly kind: Kind
  readonly prompt: string
  readonly startedAt: number
  /** Absent for a call still running when the worker stopped waiting. */
  readonly endedAt?: number
  /** `success`, an error tag, `defect` or `hung`. */
  readonly outcome: string
  readonly cached?: boolean
  /** Of a `PolicyUnavailable`. */
  readonly policy?: string
  readonly reason?: string
}

const provider = mockProvider()

const governed = (breakerKey: string) =>
  Cache.layerRedis(
    RateLimit.layer(
      Budget.layer(
        CircuitBreaker.layer(provider, {
          key: breakerKey,
          minimumCalls: 2,
          failureRateThreshold: 1,
          cooldown: "5 minutes"
        }),
        { tenants: { acme: { limitUsd: 1_000_000, period: "day" }, metered: { limitUsd: 1_000_000, period: "day" } } }
      ),
      { tenants: { acme: { requests: { limit: 100_000, window: "1 minute" } } } }
    ),
    { ttl: "5 minutes" }
  )

/** The two routes; a Layer per route keeps each one's cache and breaker apart, the stores shared. */
const routes = Effect.all({
  main: Layer.build(governed("main")),
  flaky: Layer.build(governed("flaky"))
})

const shared = Layer.mergeAll(
  CircuitBreaker.layerRedis(),
  Budget.layerRedis(),
  RateLimit.layerRedis,
  prices,
  Layer.succeed(Tokenizer.Tokenizer, tokenizer)
).pipe(Layer.provideMerge(Redis.layerConfig({ commandTimeout: Number(env("COMMAND_TIMEOUT_MS")) })))

/** Resolves on the first line of stdin, or when it ends. */
const stdinEvent = (what: "line" | "end") =>
  Effect.async<void>((resume) => {
    const onData = (data: Buffer) => {
      if (what === "line" && data.includes("\n")) done()
    }
    const done = () => {
      process.stdin.off("data", onData)
      process.stdin.off("end", done)
      resume(Effect.void)
    }
    process.stdin.on("data", onData)
    process.stdin.on("end", done)
    process.stdin.resume()
  })

const program = Effect.gen(function*() {
  const models = yield* routes
  const calls: Array<Call> = []
  const running = new Map<number, Omit<Call, "outcome">>()
  const call = (kind: Kind, n: number) =>
    Effect.gen(function*() {
      const { prompt, route, tenant } = kinds[kind]
      const request: ChatRequest.ChatRequest = {
        messages: [{ role: "user", content: prompt(n) }],
        maxTokens: 5,
        metadata: { tenant }
      }
      const started = {
        kind,
        prompt: request.messages[0]!.content as string,
        startedAt: yield* Clock.currentTimeMillis
      }
      running.set(n, started)
      const exit = yield* Effect.exit(
        Effect.flatMap(LanguageModel.LanguageModel, (model) => model.generate(request)).pipe(
          Effect.provide(models[route])
        )
      )
      running.delete(n)
      const endedAt = yield* Clock.currentTimeMillis
      if (Exit.isSuccess(exit)) {
        calls.push({ ...started, endedAt, outcome: "success", cached: exit.value.cached === true })
        return
      }
      const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
      calls.push({
        ...started,
        endedAt,
        outcome: error?._tag ?? "defect",
        ...(error?._tag === "PolicyUnavailable" ? { policy: error.policy, reason: error.reason } : {})
      })
    })

  const order = Object.keys(kinds) as Array<Kind>
  // Warm-up, one call of each kind: loads and compiles every path (slow on a busy machine), and stores the answers
  // the `-hit` kinds are meant to find.
  for (const [i, kind] of order.entries()) yield* call(kind, -1 - i)
  calls.length = 0
  process.stdout.write("ready\n")
  yield* stdinEvent("line")

  const pace = Number(env("PACE_MS"))
  const fibers = yield* FiberSet.make()
  const ticking = yield* Effect.fork(Effect.gen(function*() {
    for (let n = 0;; n++) {
      yield* FiberSet.run(fibers, call(order[n % order.length]!, n))
      yield* Effect.sleep(pace)
    }
  }))
  yield* stdinEvent("end")
  yield* Fiber.interrupt(ticking)
  // Bounded: a call that has not ended by then is reported as hung, not waited for.
  yield* FiberSet.awaitEmpty(fibers).pipe(Effect.timeoutOption("5 seconds"))
  for (const started of running.values()) calls.push({ ...started, outcome: "hung" })
  return calls
}).pipe(Effect.provide(shared), Effect.scoped)

// The report is the last line, printed once the stores have closed (and logged what they log when they close).
Effect.runPromiseExit(program).then((exit) => {
  if (Exit.isFailure(exit)) process.stderr.write(`${String(exit.cause)}\n`)
  else process.stdout.write(`${JSON.stringify(exit.value)}\n`)
  process.exit(Exit.isFailure(exit) ? 1 : 0)
})
