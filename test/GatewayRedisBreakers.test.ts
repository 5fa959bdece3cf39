/**
 * State two gateway instances share on one Redis, each with its own runtime and Redis connection: a breaker one
 * of them opens refuses the other's calls too, and a reload keeps serving while its new connection is made.
 */
import { expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { Redis as IORedis } from "ioredis"
import * as Stores from "../src/gateway/buildStores.js"
import type * as Runtime from "../src/gateway/Runtime.js"
import { fromLoaded } from "../src/gateway/runtimeLoad.js"
import type * as LlmError from "../src/LlmError.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { acme, decode, env, twoProviders } from "./support/gatewayConfig.js"
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
