/**
 * The Redis budget store on a real server: its keys and TTLs, amounts in micro-USD that agree with the memory
 * store, totals that outlive a connection, settles that never charge twice, and Redis going away (or slow) mid-run.
 */
import { expect, it } from "@effect/vitest"
import { Context, Deferred, Duration, Effect, Exit, Layer, Metric, Scope, TestClock } from "effect"
import * as Budget from "../src/Budget.js"
import * as ChatRequest from "../src/ChatRequest.js"
import type * as ChatResponse from "../src/ChatResponse.js"
import type * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import * as Redis from "../src/Redis.js"
import { environment, inputTokens, makeBudget, usd } from "./support/budget.js"
import { adjustTo, eventually } from "./support/loopback.js"
import { withLogs } from "./support/observe.js"
import { awaitConnected, describeRedis, uniquePrefix } from "./support/redis.js"
import { answer, ask, failure, scripted } from "./support/resilience.js"

const usage = (input: number, output: number): ChatResponse.Usage => ({
  inputTokens: input,
  outputTokens: output,
  totalTokens: input + output
})

/** The estimate of a request with maxTokens 5 (10 input tokens at 1 USD, 5 output tokens at 2 USD). */
const estimate = usd(inputTokens, 5)

const generate = (service: LanguageModel.Service, tenant = "default") =>
  Effect.flatMap(
    ChatRequest.decode({ ...ask("hi", { tenant }), maxTokens: 5 }).pipe(Effect.orDie),
    (request) => Effect.exit(service.generate(request))
  )

/** What another process would have: its own connection, and a store on it; closed with `scope`. */
const processOn = (
  url: string,
  prefix: string,
  options: Budget.RedisStoreOptions & { readonly commandTimeout?: Duration.DurationInput } = {}
) =>
  Effect.gen(function*() {
    const { commandTimeout, ...storeOptions } = options
    const redis = yield* Redis.make({ url, keyPrefix: prefix, commandTimeout: commandTimeout ?? "500 millis" })
    const context = yield* Layer.build(
      Budget.layerRedis(storeOptions).pipe(Layer.provide(Layer.succeed(Redis.Redis, redis)))
    )
    const store = Context.get(context, Budget.BudgetStore)
    const budget = (limits: Budget.Options) => makeBudget(limits).pipe(Effect.provideService(Budget.BudgetStore, store))
    return { redis, store, budget }
  }).pipe(Effect.orDie)

const unavailableCount = (fallback: string) =>
  Effect.map(
    Metric.value(Redis.metrics.unavailable.pipe(Metric.tagged("store", "budget"), Metric.tagged("fallback", fallback))),
    (state) => state.count
  )

const day = Date.UTC(2026, 10, 30)

/** A call through `limits` that has reached its model, which answers (10 in, 3 out) once `gate` opens. */
const callAtModel = (limits: Budget.Service) =>
  Effect.gen(function*() {
    const gate = yield* Deferred.make<void>()
    const model = yield* scripted([
      (_r) => Effect.as(Deferred.await(gate), answer("ok", { model: "m", usage: usage(10, 3) }))
    ], { model: "m" })
    const call = yield* Effect.fork(generate(limits.wrap(model.service)))
    yield* eventually(Effect.map(model.calls, (calls) => calls === 1), "the call to reach the model")
    return { call, gate }
  })

describeRedis("Budget store: Redis", (server) => {
  it.scoped("keys per tenant and period, in micro-USD, each with a TTL from its period's end", () =>
    Effect.gen(function*() {
      yield* adjustTo(day + 12 * 3_600_000)
      const prefix = uniquePrefix("keys")
      const { budget, redis } = yield* processOn(server.url, prefix)
      const limits = yield* budget({
        tenants: { acme: { limitUsd: 100, period: "day" }, "team:x": { limitUsd: 100, period: "1 hour" } }
      })
      const model = yield* scripted([{ text: "1", usage: usage(10, 3) }, { text: "2", usage: usage(10, 4) }], {
        model: "m"
      })
      expect(Exit.isSuccess(yield* generate(limits.wrap(model.service), "acme"))).toBe(true)
      expect(Exit.isSuccess(yield* generate(limits.wrap(model.service), "team:x"))).toBe(true)
      const keys = (yield* redis.run("keys", (client) => client.keys(`${prefix}*`))).sort()
      const acme = `${prefix}budget:{acme:day}`
      const team = `${prefix}budget:{team%3Ax:window:3600000}`
      // settled: nothing held any more (the held hash keeps its total, the expiry set is gone), ids remembered
      expect(keys).toEqual([
        `${acme}:held`,
        `${acme}:settled`,
        `${acme}:spent:2026-11-30`,
        `${team}:held`,
        `${team}:settled`,
        `${team}:spent`
      ])
      expect(yield* redis.run("hgetall", (client) => client.hgetall(`${acme}:spent:2026-11-30`))).toEqual({
        [String(day)]: String(usd(10, 3) * 1_000_000)
      })
      const now = day + 12 * 3_600_000
      expect(yield* redis.run("hgetall", (client) => client.hgetall(`${team}:spent`))).toEqual({
        [String(now)]: String(usd(10, 4) * 1_000_000)
      })
      const ttl = (key: string) => redis.run("pttl", (client) => client.pttl(key))
      const hour = 3_600_000
      const near = (actual: number, expected: number) => {
        expect(actual).toBeLessThanOrEqual(expected)
        expect(actual).toBeGreaterThan(expected - 10_000)
      }
      near(yield* ttl(`${acme}:spent:2026-11-30`), 12 * hour + hour) // the day's end, plus the margin
      near(yield* ttl(`${team}:spent`), 60_000 + hour + hour) // the bucket's end plus the window, plus the margin
      near(yield* ttl(`${acme}:held`), 15 * 60_000 + hour) // the reservation's expiry, plus the margin
      near(yield* ttl(`${acme}:settled`), 2 * 60_000 + hour)
    }).pipe(Effect.provide(environment)))

  it.scoped("bad store options are a ConfigError naming them, when the layer is built", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.make({ url: server.url, keyPrefix: uniquePrefix("options") }).pipe(Effect.orDie)
      const build = (options: Budget.RedisStoreOptions) =>
        Layer.build(Budget.layerRedis(options)).pipe(
          Effect.provideService(Redis.Redis, redis),
          Effect.flip,
          Effect.map(String)
        )
      expect(yield* build({ whenUnavailable: "sometimes" as "fail-open" })).toContain(
        "whenUnavailable must be \"fail-closed\" or \"fail-open\", got \"sometimes\""
      )
      expect(yield* build({ rejectFor: "0 millis" })).toContain("rejectFor must be a positive finite duration")
      expect(yield* build({ rejectFor: -5 })).toContain("Budget.layerRedis")
      expect(yield* build({ whenUnavailble: "fail-open" } as Budget.RedisStoreOptions)).toContain(
        "unknown option \"whenUnavailble\""
      )
    }))

  it.scoped("amounts are whole micro-USD: the Redis and memory stores answer the very same totals", () =>
    Effect.gen(function*() {
      const { store } = yield* processOn(server.url, uniquePrefix("micros"))
      const memory = Budget.makeMemoryStore()
      const at = { tenant: "t", period: "day", now: 1_000, bucket: 0, since: 0, until: 86_400_000 }
      const run = (s: Budget.Store) =>
        Effect.all([
          s.reserve({ ...at, id: "a", amountUsd: 0.1, limitUsd: 0.3, expiresAt: 60_000 }),
          // 0.1 + 0.2 > 0.3 in floats: in micro-USD it fits exactly
          s.reserve({ ...at, id: "b", amountUsd: 0.2, limitUsd: 0.3, expiresAt: 60_000 }),
          s.reserve({ ...at, id: "c", amountUsd: 0.000001, limitUsd: 0.3, expiresAt: 60_000 }),
          s.settle({ ...at, id: "a", actualUsd: 0.1234567 }),
          s.release({ ...at, id: "b" }),
          s.settle({ ...at, id: "c", actualUsd: 0.0000004 }),
          s.read(at)
        ])
      const [redis, local] = [yield* run(store), yield* run(memory)]
      expect(redis).toEqual(local)
      expect(redis.map((answer) => answer !== undefined && "_tag" in answer ? answer._tag : answer)).toEqual([
        "Reserved",
        "Reserved",
        "Refused",
        { spentUsd: 0.123457, reservedUsd: 0.2, oldestBucket: 0 },
        { spentUsd: 0.123457, reservedUsd: 0, oldestBucket: 0 },
        { spentUsd: 0.123457, reservedUsd: 0, oldestBucket: 0 },
        { spentUsd: 0.123457, reservedUsd: 0, oldestBucket: 0 }
      ])
    }))

  it.scoped("a settle retried with the same reservation id charges once", () =>
    Effect.gen(function*() {
      const { store } = yield* processOn(server.url, uniquePrefix("settle"))
      const at = { tenant: "t", period: "window:60000", now: 5_000, bucket: 5_000, since: -56_000, until: 66_000 }
      yield* store.reserve({ ...at, id: "r", amountUsd: 3, limitUsd: 10, expiresAt: 65_000 })
      const first = yield* store.settle({ ...at, id: "r", actualUsd: 2 })
      const again = yield* store.settle({ ...at, id: "r", actualUsd: 2 })
      expect(first).toEqual({ spentUsd: 2, reservedUsd: 0, oldestBucket: 5_000 })
      expect(again).toEqual(first)
      expect(yield* store.read({ ...at, now: 6_000 })).toEqual(first)
    }))

  it.scoped("spent and reserved live in Redis: a new connection and store (a restarted process) sees them", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("restart")
      const limits: Budget.Options = { defaultLimit: { limitUsd: 3 * estimate, period: "month" } }
      const gate = yield* Deferred.make<void>()
      const held = yield* scripted([
        { text: "first", usage: usage(10, 5) },
        (_r) => Effect.as(Deferred.await(gate), answer("held", { model: "m", usage: usage(10, 5) }))
      ], { model: "m" })
      const scope = yield* Scope.make()
      const first = yield* Effect.gen(function*() {
        const { budget } = yield* processOn(server.url, prefix)
        const service = (yield* budget(limits)).wrap(held.service)
        expect(Exit.isSuccess(yield* generate(service))).toBe(true)
        // a call in flight when the process goes away: its reservation keeps holding budget
        return yield* Effect.fork(generate(service))
      }).pipe(Scope.extend(scope))
      yield* eventually(Effect.map(held.calls, (calls) => calls === 2), "the second call to reach the model")
      yield* Scope.close(scope, Exit.void)
      const { budget } = yield* processOn(server.url, prefix)
      const restarted = yield* budget(limits)
      expect(yield* restarted.status("default")).toMatchObject({
        spentUsd: estimate,
        reservedUsd: estimate,
        remainingUsd: estimate
      })
      const model = yield* scripted([{ text: "ok", usage: usage(10, 5) }, { text: "never" }], { model: "m" })
      expect(Exit.isSuccess(yield* generate(restarted.wrap(model.service)))).toBe(true)
      expect(failure(yield* generate(restarted.wrap(model.service)))._tag).toBe("BudgetExceeded")
      expect(yield* model.calls).toBe(1)
      yield* Deferred.succeed(gate, undefined)
      yield* Effect.ignore(first.await)
    }).pipe(Effect.provide(environment)))

  it.scopedLive("Redis down (fail-closed, the default): refused with PolicyUnavailable, no call; back, calls go", () =>
    Effect.gen(function*() {
      const { budget, redis } = yield* processOn(server.url, uniquePrefix("closed"), { rejectFor: "2 seconds" })
      const limits = yield* budget({ defaultLimit: { limitUsd: 100, period: "day" } })
      const model = yield* scripted([{ text: "after", usage: usage(10, 2) }], { model: "m" })
      const before = yield* unavailableCount("refuse calls")
      const logs: Array<string> = []
      yield* Effect.promise(() => server.stop())
      const started = performance.now()
      const exits = yield* withLogs(
        logs,
        Effect.all([generate(limits.wrap(model.service)), generate(limits.wrap(model.service))])
      )
      expect(performance.now() - started).toBeLessThan(2_000)
      for (const exit of exits) {
        const refused = failure(exit)
        expect(refused).toBeInstanceOf(LlmError.PolicyUnavailable)
        expect(refused).toMatchObject({ policy: "budget", reason: "not connected", provider: "test", model: "m" })
        expect(Duration.toMillis(refused.retryAfter!)).toBe(2_000)
        expect(LlmError.isRetryable(refused)).toBe(true)
      }
      expect(yield* model.calls).toBe(0)
      const status = failure(yield* Effect.exit(limits.status("default")))
      // A read refuses no call: its message says the budget cannot be read.
      expect(status).toMatchObject({
        _tag: "PolicyUnavailable",
        policy: "budget",
        reason: "not connected",
        message:
          "Budget: the budget store cannot answer (not connected), so tenant \"default\"'s budget cannot be read; retry after 2000 ms"
      })
      expect((yield* unavailableCount("refuse calls")) - before).toBeGreaterThanOrEqual(2)
      expect(logs.filter((line) => line.startsWith("WARN"))).toEqual([
        "WARN Redis unavailable for the budget store: refuse calls until it is back"
      ])
      yield* Effect.promise(() => server.start())
      yield* Effect.promise(() => awaitConnected(() => redis.client.status === "ready"))
      expect(Exit.isSuccess(yield* generate(limits.wrap(model.service)))).toBe(true)
      expect(yield* limits.status("default")).toMatchObject({ spentUsd: usd(10, 2), reservedUsd: 0 })
    }).pipe(Effect.provide(environment)))

  it.scopedLive("Redis down (fail-open): calls go through unreserved and uncharged, one warning; back, budgeted", () =>
    Effect.gen(function*() {
      const { budget, redis } = yield* processOn(server.url, uniquePrefix("open"), { whenUnavailable: "fail-open" })
      const limits = yield* budget({ defaultLimit: { limitUsd: estimate, period: "day" } })
      const replies = Array.from({ length: 3 }, () => ({ text: "ok", usage: usage(10, 5) }))
      const model = yield* scripted([...replies, { text: "never" }], { model: "m" })
      const before = yield* unavailableCount("unreserved calls")
      const logs: Array<string> = []
      yield* Effect.promise(() => server.stop())
      const exits = yield* withLogs(
        logs,
        Effect.all([generate(limits.wrap(model.service)), generate(limits.wrap(model.service))])
      )
      expect(exits.every(Exit.isSuccess)).toBe(true)
      expect(yield* model.calls).toBe(2)
      expect((yield* unavailableCount("unreserved calls")) - before).toBe(2)
      expect(logs.filter((line) => line.startsWith("WARN"))).toEqual([
        "WARN Redis unavailable for the budget store: unreserved calls until it is back"
      ])
      // Calls are not refused when failing open, and a read says so: it is a read that failed, not a call.
      const status = failure(yield* Effect.exit(limits.status("default")))
      expect(status).toMatchObject({ _tag: "PolicyUnavailable", policy: "budget", reason: "not connected" })
      expect(status.message).toContain("tenant \"default\"'s budget cannot be read")
      expect(status.message).not.toContain("refused")
      yield* Effect.promise(() => server.start())
      yield* Effect.promise(() => awaitConnected(() => redis.client.status === "ready"))
      // back: the budget holds again (the calls made during the outage were not charged)
      expect(Exit.isSuccess(yield* generate(limits.wrap(model.service)))).toBe(true)
      expect(failure(yield* generate(limits.wrap(model.service)))._tag).toBe("BudgetExceeded")
      expect(yield* model.calls).toBe(3)
    }).pipe(Effect.provide(environment)))

  const settlesRetried = "settles retried in the background"

  it.scopedLive("Redis down mid-call: the call still succeeds at once; its settle lands when Redis is back", () =>
    Effect.gen(function*() {
      const { budget, redis } = yield* processOn(server.url, uniquePrefix("mid"))
      const limits = yield* budget({ defaultLimit: { limitUsd: 100, period: "day" } })
      const { call, gate } = yield* callAtModel(limits)
      const [refused, retried] = [yield* unavailableCount("refuse calls"), yield* unavailableCount(settlesRetried)]
      yield* Effect.promise(() => server.stop())
      const started = performance.now()
      yield* Deferred.succeed(gate, undefined)
      expect(Exit.isSuccess(yield* call.await.pipe(Effect.flatten))).toBe(true)
      expect(performance.now() - started).toBeLessThan(1_000)
      // Counted as what it is: a settle to retry, not a refused call.
      expect((yield* unavailableCount(settlesRetried)) - retried).toBe(1)
      expect((yield* unavailableCount("refuse calls")) - refused).toBe(0)
      // no persistence: the restarted Redis is empty, and the retried settle charges the call there
      yield* Effect.promise(() => server.start())
      yield* Effect.promise(() => awaitConnected(() => redis.client.status === "ready"))
      yield* eventually(
        Effect.map(Effect.orDie(limits.status("default")), (status) => status?.spentUsd === usd(10, 3)),
        "the settle to land after Redis is back"
      )
    }).pipe(Effect.provide(environment)))

  // On the TestClock, which no one moves: the retries' waits never end, so the close returns only if it cuts them.
  it.scoped("a store closed while a settle is retried (the process stopping) closes at once, and says so", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.make({
        url: server.url,
        keyPrefix: uniquePrefix("stop"),
        commandTimeout: "200 millis"
      })
        .pipe(Effect.orDie)
      const storeScope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        Budget.layerRedis().pipe(Layer.provide(Layer.succeed(Redis.Redis, redis))),
        storeScope
      ).pipe(Effect.orDie)
      const limits = yield* makeBudget({ defaultLimit: { limitUsd: 100, period: "day" } }).pipe(
        Effect.provideService(Budget.BudgetStore, Context.get(context, Budget.BudgetStore))
      )
      const { call, gate } = yield* callAtModel(limits)
      yield* Effect.promise(() => server.stop())
      const logs: Array<string> = []
      yield* withLogs(
        logs,
        Effect.gen(function*() {
          yield* Deferred.succeed(gate, undefined)
          expect(Exit.isSuccess(yield* call.await.pipe(Effect.flatten))).toBe(true)
          // The settle runs in the call's finalizer, which cannot be cut: its retries must be cut apart from it.
          yield* eventually(
            Effect.map(TestClock.sleeps(), (sleeps) => sleeps.length > 0),
            "the settle's retry waiting for its next attempt"
          )
          yield* Scope.close(storeScope, Exit.void)
        })
      )
      expect(logs.filter((line) => line.includes("stopped while"))).toEqual([
        "WARN Budget: stopped while 1 settle or release was still being retried in Redis; unless Redis ran it late (a command that timed out may still run), its reservation stops holding budget when it expires and its cost is not counted"
      ])
      yield* Effect.promise(() => server.start())
      yield* Effect.promise(() => awaitConnected(() => redis.client.status === "ready"))
    }).pipe(Effect.provide(environment)))

  it.scopedLive("Redis slower than commandTimeout: refused (timed out); the late reservation is given back", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("slow")
      const { budget, redis } = yield* processOn(server.url, prefix, { commandTimeout: "150 millis" })
      const limits = yield* budget({ defaultLimit: { limitUsd: 100, period: "day" } })
      const model = yield* scripted([{ text: "never" }], { model: "m" })
      const blocker = yield* Redis.make({ url: server.url, commandTimeout: "5 seconds" }).pipe(Effect.orDie)
      // a script that keeps the server busy for 600 ms: commands queue behind it
      const busy = yield* Effect.fork(blocker.run("busy", (client) =>
        client.eval(
          `local s = redis.call("TIME") repeat local n = redis.call("TIME") until (n[1] - s[1]) * 1000000 + (n[2] - s[2]) > 600000 return 1`,
          0
        )))
      yield* Effect.sleep("50 millis")
      const refused = failure(yield* generate(limits.wrap(model.service)))
      expect(refused).toMatchObject({ _tag: "PolicyUnavailable", policy: "budget", reason: "timed out" })
      expect(yield* model.calls).toBe(0)
      yield* Effect.orDie(busy.await.pipe(Effect.flatten))
      // the reserve ran once the server was free; the store released it in the background
      yield* eventually(
        Effect.map(
          Effect.orDie(limits.status("default")),
          (status) => status?.reservedUsd === 0 && status.spentUsd === 0
        ),
        "the late reservation to be released"
      )
      // it did run late (its hash is there), and holds nothing now
      const held = `${prefix}budget:{default:day}:held`
      expect(yield* redis.run("hget", (client) => client.hget(held, "total"))).toBe("0")
    }).pipe(Effect.provide(environment)))
})
