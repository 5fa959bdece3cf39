/**
 * State two gateway instances share on one Redis, each with its own runtime and Redis connection: a breaker one
 * of them opens refuses the other's calls too, and a reload keeps serving while its new connection is made.
 */
import { NodeFileSystem } from "@effect/platform-node"
import { expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { Redis as IORedis } from "ioredis"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Stores from "../src/gateway/buildStores.js"
import type * as Runtime from "../src/gateway/Runtime.js"
import { fromLoaded, makeRef } from "../src/gateway/runtimeLoad.js"
import type * as LlmError from "../src/LlmError.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { acme, decode, env, twoProviders, withEnv } from "./support/gatewayConfig.js"
import { eventually } from "./support/loopback.js"
import { describeRedis, uniquePrefix } from "./support/redis.js"

const ask = { model: "small", messages: [{ role: "user" as const, content: "hi" }], metadata: { tenant: "acme" } }

const tagOf = (exit: Exit.Exit<unknown, LlmError.LlmError>) =>
  Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error._tag : `not a failure: ${exit._tag}`

const callSmall = (runtime: Runtime.Runtime) => {
  const caller = runtime.authenticate(acme.key)
  if (caller?._tag !== "Tenant") throw new Error("acme's key is no tenant's")
  return Effect.exit(runtime.route(caller.tenant, "small")!.generate(ask))
}

describeRedis("Gateway instances on one Redis: circuit breakers", (server) => {
  it.scoped("a breaker opened through one instance refuses the other's calls, which never reach the provider", () =>
    Effect.gen(function*() {
      const a = yield* MockProvider.make()
      const b = yield* MockProvider.make({ onExhausted: OpenAiMock.error(503, "overloaded") })
      const base = twoProviders(a, b)
      const config = {
        ...base,
        providers: {
          ...base.providers,
          b: {
            ...base.providers.b,
            circuitBreaker: { failureRateThreshold: 0.5, minimumCalls: 2, window: "1 minute", cooldown: "1 minute" }
          }
        },
        redis: { urlEnv: "REDIS_URL", keyPrefix: uniquePrefix("breakers") }
      }
      const loaded = yield* decode(config, new Map([...env, ["REDIS_URL", server.url]]))
      // Two instances: each its own stores (memory ones apart) and its own Redis connection.
      const first = yield* Effect.orDie(fromLoaded(loaded, yield* Stores.makeMemory))
      const second = yield* Effect.orDie(fromLoaded(loaded, yield* Stores.makeMemory))
      // Each connects in the background: ready once Redis answers.
      for (const runtime of [first, second]) yield* eventually(runtime.ready, "an instance connected to Redis")
      expect(tagOf(yield* callSmall(first))).toBe("Overloaded")
      expect(tagOf(yield* callSmall(first))).toBe("Overloaded")
      expect(tagOf(yield* callSmall(first))).toBe("CircuitOpen")
      const calls = (yield* b.requests).length
      expect(calls).toBe(2)
      expect(tagOf(yield* callSmall(second))).toBe("CircuitOpen")
      expect((yield* b.requests).length).toBe(calls)
      // The breaker's state is in Redis, where an instance in another process reads it (in one process the
      // two could also share the process's own registry).
      const client = yield* Effect.acquireRelease(
        Effect.sync(() => new IORedis(server.url, { lazyConnect: true })),
        (redis) => Effect.promise(() => redis.quit())
      )
      const keys = yield* Effect.promise(() => client.keys(`${config.redis.keyPrefix}*`))
      expect(keys.some((key) => key.includes("circuit"))).toBe(true)
    }))
})

describeRedis("Gateway reload on Redis", (server) => {
  it.scopedLive("a reload swaps in the new config once its Redis answers: the request after it is not refused", () =>
    Effect.gen(function*() {
      const a = yield* MockProvider.make({ onExhausted: OpenAiMock.completion() })
      const b = yield* MockProvider.make({ onExhausted: OpenAiMock.completion() })
      const base = twoProviders(a, b)
      const config = {
        ...base,
        tenants: {
          acme: { keys: [acme.hash], models: "*", rateLimit: { requests: { limit: 1_000, window: "1 minute" } } }
        },
        redis: { urlEnv: "REDIS_URL", keyPrefix: uniquePrefix("reload") }
      }
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "gateway-redis-reload-"))),
        (made) => Effect.sync(() => Fs.rmSync(made, { recursive: true, force: true }))
      )
      const file = Path.join(dir, "gateway.json")
      Fs.writeFileSync(file, JSON.stringify(config))
      const vars = new Map([...env, ["REDIS_URL", server.url]])
      const ref = yield* withEnv(makeRef(file), vars)
      yield* eventually(Effect.flatMap(ref.get, (runtime) => runtime!.ready), "the first config's Redis")
      // Each reload connects anew; the rate limit fails closed while Redis does not answer.
      for (let i = 0; i < 3; i++) {
        const runtime = yield* withEnv(ref.reload(), vars)
        expect(tagOf(yield* callSmall(runtime))).toBe("not a failure: Success")
      }
    }).pipe(Effect.provide(NodeFileSystem.layer)))
})
