import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, TestClock } from "effect"
import * as Stores from "../src/gateway/buildStores.js"
import * as Generations from "../src/gateway/generations.js"
import { fromLoaded } from "../src/gateway/runtimeLoad.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import { call, chatBody, json, requestLogs, serve } from "./support/gateway.js"
import { acme, decode, env, twoProviders } from "./support/gatewayConfig.js"
import { eventually } from "./support/loopback.js"
import { describeRedis, hungServer } from "./support/redis.js"

describeRedis("Gateway usage while its Redis is down", (server) => {
  it.scoped("limits that cannot be read are unavailable (503 on /v1/usage, PolicyUnavailable), never \"no limits\"", () =>
    Effect.gen(function*() {
      const a = yield* MockProvider.make()
      const b = yield* MockProvider.make()
      const base = twoProviders(a, b)
      const config = {
        ...base,
        tenants: {
          acme: { keys: [acme.hash], models: "*", rateLimit: { requests: { limit: 5, window: "1 minute" } } }
        },
        redis: { urlEnv: "REDIS_URL", keyPrefix: "usage-outage:", commandTimeout: "300 millis" }
      }
      const loaded = yield* decode(config, new Map([...env, ["REDIS_URL", server.url]]))
      const runtime = yield* Effect.orDie(fromLoaded(loaded, yield* Stores.makeMemory))
      const { layer: logs, lines } = requestLogs()
      const gateway = yield* serve(runtime).pipe(Effect.provide(logs))
      const read = call(gateway, "/v1/usage", { key: acme.key })
      // The connection is made in the background: ready once Redis answers.
      yield* eventually(Effect.map(call(gateway, "/ready", { key: null }), (ready) => ready.status === 200), "ready")
      const up = yield* read
      expect(up.status).toBe(200)
      expect((yield* json(up)).rate_limits.requests).toMatchObject({ limit: 5, remaining: 5 })
      yield* Effect.promise(() => server.stop())
      try {
        const exit = yield* Effect.exit(runtime.usage("acme"))
        expect(Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error._tag : exit._tag)
          .toBe("PolicyUnavailable")
        const down = yield* read
        expect(down.status).toBe(503)
        expect(down.headers.get("retry-after")).not.toBeNull()
        expect((yield* json(down)).error.code).toBe("policy_unavailable")
        const logged = () => lines.filter((line) => line.message === "gateway request" && line.status === 503)
        yield* eventually(Effect.sync(() => logged().length === 1), "the log line of the 503")
        expect(logged()[0]).toMatchObject({ outcome: "PolicyUnavailable", path: "/v1/usage" })
        expect(logged()[0]!.error).toContain("unavailable")
        // Probes find Redis gone: logged once, with why, however many probes follow.
        for (let i = 0; i < 3; i++) expect((yield* call(gateway, "/ready", { key: null })).status).toBe(503)
        const notReady = lines.filter((line) => line.message === "gateway: not ready: Redis does not answer")
        expect(notReady).toHaveLength(1)
        expect(notReady[0]).toMatchObject({ logLevel: "WARN" })
        expect(String(notReady[0]!.reason)).not.toBe("")
        // A chat call its rate limit cannot count is refused, and /metrics counts the store's outage.
        const refused = yield* call(gateway, "/v1/chat/completions", {
          key: acme.key,
          method: "POST",
          body: chatBody("small")
        })
        expect(refused.status).toBe(503)
        const scraped = yield* call(gateway, "/metrics", { key: null })
        const metrics = yield* Effect.promise(() => scraped.text())
        expect(metrics).toMatch(
          /^liter_llm_gateway_redis_unavailable_total\{store="rate-limit",fallback="[^"]+"\} [1-9]/m
        )
      } finally {
        yield* Effect.promise(() => server.start())
      }
      yield* eventually(Effect.map(call(gateway, "/ready", { key: null }), (ready) => ready.status === 200), "ready")
      expect(lines.filter((line) => line.message === "gateway: Redis answers again")).toHaveLength(1)
    }))
})

/** The two-provider config on a Redis that accepts connections and never answers, decoded. */
const onHungRedis = (keyPrefix: string) =>
  Effect.gen(function*() {
    const url = `redis://127.0.0.1:${yield* hungServer}`
    const a = yield* MockProvider.make()
    const b = yield* MockProvider.make()
    const config = { ...twoProviders(a, b), redis: { urlEnv: "REDIS_URL", keyPrefix } }
    return yield* decode(config, new Map([...env, ["REDIS_URL", url]]))
  })

describe("Gateway readiness with a Redis that accepts connections and never answers (hung)", () => {
  it.scoped("probes say nothing during the first connection's 5 s, then log why once", () =>
    Effect.gen(function*() {
      const loaded = yield* onHungRedis("hung:")
      const runtime = yield* Effect.orDie(fromLoaded(loaded, yield* Stores.makeMemory))
      const { layer: logs, lines } = requestLogs()
      const gateway = yield* serve(runtime).pipe(Effect.provide(logs))
      const notReady = () => lines.filter((line) => line.message === "gateway: not ready: Redis does not answer")
      expect((yield* call(gateway, "/ready", { key: null })).status).toBe(503)
      expect(notReady()).toHaveLength(0)
      yield* TestClock.adjust("5 seconds")
      for (let i = 0; i < 2; i++) expect((yield* call(gateway, "/ready", { key: null })).status).toBe(503)
      expect(notReady()).toHaveLength(1)
      expect(notReady()[0]).toMatchObject({ logLevel: "WARN", reason: "not connected" })
      expect(String(notReady()[0]!.cause)).toContain("the connection is being made, with no answer")
    }))

  it.scoped("a reload that waited in vain for it says why after its own line, so the log can say when it answers", () =>
    Effect.gen(function*() {
      const loaded = yield* onHungRedis("hung-reload:")
      const { layer: logs, lines } = requestLogs()
      yield* Effect.gen(function*() {
        const runtime = yield* Effect.orDie(fromLoaded(loaded, yield* Stores.makeMemory))
        // As a reload does: wait for the stores (bounded), swap, say so. Its probes can all fall within the first
        // connection's grace, which began when the config was built, just before the wait: they say nothing.
        const waiting = yield* Effect.fork(Generations.whenReady(runtime.ready, 4_990))
        yield* TestClock.adjust("4990 millis")
        const storesReady = yield* Fiber.join(waiting)
        expect(storesReady).toBe(false)
        expect(lines).toHaveLength(0)
        yield* TestClock.adjust("10 millis")
        yield* Generations.logReloaded("gateway: config reloaded", storesReady, runtime.ready)
      }).pipe(Effect.provide(logs))
      expect(lines.map((line) => [line.logLevel, line.message])).toEqual([
        ["WARN", expect.stringContaining("gateway: config reloaded, but its Redis did not answer within 5 s")],
        ["WARN", "gateway: not ready: Redis does not answer"]
      ])
    }))
})
