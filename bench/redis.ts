/**
 * What a Redis store costs per call against the memory one (`npx tsx bench/redis.ts`, also the `redis` scenario of
 * `npm run bench`; skipped with a message when `redis-server` is not installed).
 *
 * A `redis-server` is started on a free port of 127.0.0.1 (no persistence). Each entry of {@link stores} wraps an
 * in-process model that answers at once in the same policy twice, once over its memory store and once over its
 * Redis store, and both are called one call at a time, in interleaved rounds (the order swapped every round). Per
 * call: this process's CPU time (user + system; the server's own CPU is not counted) and wall time, the median
 * over rounds. A new store is one entry in {@link stores}.
 *
 * Environment: BENCH_REDIS_CALLS (calls per round, default 2000), BENCH_REDIS_ROUNDS (default 7).
 */
import { Context, Duration, Effect, Exit, Layer, type Scope } from "effect"
import { performance } from "node:perf_hooks"
import * as Budget from "../src/Budget.js"
import * as Cache from "../src/Cache.js"
import type * as ChatRequest from "../src/ChatRequest.js"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as RateLimit from "../src/RateLimit.js"
import * as Redis from "../src/Redis.js"
import { findBinary, startServer } from "../test/support/redisServer.js"
import { envNumber, fixed, log, machine, median, runScript, signed, table } from "./report.js"

/** One call of the policy under test (its `i`th in the round), everything it needs provided. */
type Call = (i: number) => Effect.Effect<unknown, unknown>

/** A policy measured over its memory store and over its Redis store. */
interface StoreBench {
  readonly name: string
  readonly memory: Effect.Effect<Call, unknown, Scope.Scope>
  readonly redis: (redis: Redis.Service) => Effect.Effect<Call, unknown, Scope.Scope>
}

/** Answers at once, with usage of a priced model (the budget charges it from the bundled prices). */
const bare = LanguageModel.make({
  provider: "openai",
  defaultModel: "gpt-4o-mini",
  generate: () =>
    Effect.succeed({
      id: "bench",
      provider: "openai",
      model: "gpt-4o-mini",
      content: [{ type: "text", text: "ok" }],
      finishReason: "stop",
      usage: { inputTokens: 10, outputTokens: 2, totalTokens: 12 }
    }),
  stream: () => Effect.dieMessage("not used") as never
})

const ask = (content: string): ChatRequest.ChatRequest => ({
  messages: [{ role: "user", content }],
  maxTokens: 2,
  metadata: { tenant: "bench" }
})

/**
 * A policy built as a Layer around the bare model over `store` (its memory or its Redis one), in the current
 * scope: each call asks the same request.
 */
const layered = <S>(
  wrap: (inner: Layer.Layer<LanguageModel.LanguageModel>) => Layer.Layer<LanguageModel.LanguageModel, unknown, S>,
  store: Layer.Layer<S, unknown>
): Effect.Effect<Call, unknown, Scope.Scope> =>
  Effect.map(
    Layer.build(wrap(Layer.succeed(LanguageModel.LanguageModel, bare)).pipe(Layer.provide(store))),
    (context) => {
      const model = Context.get(context, LanguageModel.LanguageModel)
      const request = ask("hi")
      return () => model.generate(request)
    }
  )

/** One counter: a take of one request per call (tokens not limited). */
const rateLimited = (inner: Layer.Layer<LanguageModel.LanguageModel>) =>
  RateLimit.layer(inner, { default: { requests: { limit: 1_000_000_000, window: "1 minute" } } })

/** A reservation before each call and its settle after it. */
const budgeted = (inner: Layer.Layer<LanguageModel.LanguageModel>) =>
  Budget.layer(inner, { defaultLimit: { limitUsd: 1_000_000_000, period: "day" } })

const over = (redis: Redis.Service) => Layer.succeed(Redis.Redis, redis)

const breakerCall = (registry: CircuitBreaker.RegistryService): Call => {
  const guarded = CircuitBreaker.wrap(bare, { key: "bench" })
  const request = ask("hi")
  return () => guarded.generate(request).pipe(Effect.provideService(CircuitBreaker.Registry, registry))
}

/** A hit: the same request every call, stored before the round. */
const cacheHit = (store: Cache.Store): Effect.Effect<Call, unknown> => {
  const cached = Cache.wrap(bare, { ttl: Duration.minutes(10), store })
  const request = ask("hi")
  return Effect.as(cached.generate(request), () => cached.generate(request))
}

let misses = 0
/** A miss: a request never asked before (a lookup, the model, a write). */
const cacheMiss = (store: Cache.Store): Call => {
  const cached = Cache.wrap(bare, { ttl: Duration.minutes(1), store })
  return () => cached.generate(ask(`miss ${++misses}`))
}

/** The stores measured: one entry each. */
const stores: ReadonlyArray<StoreBench> = [
  {
    name: "circuit breaker (closed)",
    memory: Effect.sync(() => breakerCall(CircuitBreaker.makeRegistry())),
    redis: (redis) =>
      Effect.map(CircuitBreaker.makeRedisStore(redis), (store) => breakerCall(CircuitBreaker.makeRegistry(store)))
  },
  {
    name: "cache hit",
    memory: Effect.flatMap(Cache.makeMemoryStore(), cacheHit),
    redis: (redis) => Effect.flatMap(Cache.makeRedisStore(redis), cacheHit)
  },
  {
    name: "cache miss",
    memory: Effect.map(Cache.makeMemoryStore(), cacheMiss),
    redis: (redis) => Effect.map(Cache.makeRedisStore(redis), cacheMiss)
  },
  {
    name: "rate limit (requests)",
    memory: layered(rateLimited, RateLimit.layerMemory),
    redis: (redis) => layered(rateLimited, RateLimit.layerRedis.pipe(Layer.provide(over(redis))))
  },
  {
    name: "budget (reserve + settle)",
    memory: layered(budgeted, Budget.layerMemory),
    redis: (redis) => layered(budgeted, Budget.layerRedis().pipe(Layer.provide(over(redis))))
  }
]

interface Sample {
  readonly cpuUs: number
  readonly wallUs: number
}

/** `count` calls one after another; CPU and wall µs per call. Any failure stops the benchmark. */
const timed = (call: Call, count: number): Effect.Effect<Sample> =>
  Effect.gen(function*() {
    const cpu = process.cpuUsage()
    const start = performance.now()
    for (let i = 0; i < count; i++) {
      const exit = yield* Effect.exit(call(i))
      if (Exit.isFailure(exit)) return yield* Effect.dieMessage(`a measured call failed: ${String(exit.cause)}`)
    }
    const wallUs = (performance.now() - start) * 1000
    const used = process.cpuUsage(cpu)
    return { cpuUs: (used.user + used.system) / count, wallUs: wallUs / count }
  })

interface Result {
  readonly name: string
  readonly memory: Sample
  readonly redis: Sample
}

const measure = (bench: StoreBench, redis: Redis.Service, calls: number, rounds: number) =>
  Effect.gen(function*() {
    const memory = yield* bench.memory
    const shared = yield* bench.redis(redis)
    // Warm-up, untimed: V8 speeds the first few thousand calls up.
    yield* timed(memory, calls)
    yield* timed(shared, calls)
    const samples = { memory: [] as Array<Sample>, redis: [] as Array<Sample> }
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? (["memory", "redis"] as const) : (["redis", "memory"] as const)
      for (const which of order) samples[which].push(yield* timed(which === "memory" ? memory : shared, calls))
    }
    const summary = (list: ReadonlyArray<Sample>): Sample => ({
      cpuUs: median(list.map((sample) => sample.cpuUs)),
      wallUs: median(list.map((sample) => sample.wallUs))
    })
    return { name: bench.name, memory: summary(samples.memory), redis: summary(samples.redis) } satisfies Result
  })

/**
 * Runs the benchmark and prints its section (markdown) with `print`; without `redis-server`, one line saying so.
 */
export const printRedis = async (print: (line?: string) => void): Promise<void> => {
  print("## Redis stores, cost per call over the memory store")
  print()
  const binary = findBinary()
  if (binary === undefined) {
    print("Skipped: redis-server not found (install it, e.g. `apt-get install -y redis-server`, or set REDIS_SERVER).")
    print()
    return
  }
  const calls = envNumber("BENCH_REDIS_CALLS", 2_000)
  const rounds = envNumber("BENCH_REDIS_ROUNDS", 7)
  const server = await startServer({ binary })
  try {
    log(`redis-server on 127.0.0.1:${server.port}`)
    const results = await Effect.runPromise(
      Effect.gen(function*() {
        const redis = yield* Redis.Redis
        const results: Array<Result> = []
        for (const bench of stores) {
          results.push(yield* measure(bench, redis, calls, rounds))
          log(`  redis: ${bench.name} done`)
        }
        return results
      }).pipe(Effect.provide(Layer.orDie(Redis.layer({ url: server.url, keyPrefix: "bench:" }))), Effect.scoped)
    )
    print(
      `redis-server on the same machine (loopback); ${calls} calls per round, ${rounds} interleaved rounds, one ` +
        "call at a time, the median round reported."
    )
    print()
    print(table(
      ["store", "memory CPU µs", "Redis CPU µs", "extra CPU µs", "memory wall µs", "Redis wall µs", "extra wall µs"],
      results.map(({ memory, name, redis }) => [
        name,
        fixed(memory.cpuUs),
        fixed(redis.cpuUs),
        signed(redis.cpuUs - memory.cpuUs),
        fixed(memory.wallUs),
        fixed(redis.wallUs),
        signed(redis.wallUs - memory.wallUs)
      ])
    ))
    print()
  } finally {
    await server.stop()
  }
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, "/"))

if (isMain) {
  runScript("bench/redis.ts", async () => {
    const print = (line = "") => process.stdout.write(`${line}\n`)
    print(`- machine: ${machine()}`)
    print()
    await printRedis(print)
  })
}
