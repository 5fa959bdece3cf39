/**
 * What a client reads of the gateway's own failures, through a served config: an upstream that refuses the
 * connection and a Redis that cannot be reached leave no address in the answer, while the request log keeps
 * the error's tag.
 */
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { loadRuntime } from "../src/gateway/runtimeLoad.js"
import { configFile, freePort } from "./clients/gateway.js"
import { call, chatBody, json, requestLogs, serve } from "./support/gateway.js"
import { acme, admin, env, globex, pricing, withEnv } from "./support/gatewayConfig.js"

/**
 * A config with one provider, "dead", at `baseUrl`, route `m`, an admin, tenant acme (with `acme` settings) and
 * globex (with `globex` settings).
 */
const config = (
  baseUrl: string,
  extra: { readonly acme?: object; readonly globex?: object; readonly redis?: object } = {}
) =>
  JSON.stringify({
    providers: { dead: { type: "openai-compatible", baseUrl, apiKeyEnv: "MOCK_A_KEY", retry: false } },
    models: { m: { provider: "dead", model: "model-a" } },
    pricing,
    admin: { keys: [admin.hash] },
    tenants: {
      acme: { keys: [acme.hash], models: "*", ...extra.acme },
      globex: { keys: [globex.hash], models: "*", ...extra.globex }
    },
    ...(extra.redis === undefined ? {} : { redis: extra.redis })
  })

/** The config's gateway on a free loopback port, with `vars` as the environment. */
const served = (content: string, vars: ReadonlyMap<string, string> = env) =>
  Effect.gen(function*() {
    const file = yield* configFile(content)
    const runtime = yield* withEnv(loadRuntime(file), vars).pipe(Effect.orDie, Effect.provide(NodeContext.layer))
    return yield* serve(runtime)
  })

const chat = (base: string, extra: Record<string, unknown> = {}) =>
  call(base, "/v1/chat/completions", { method: "POST", body: chatBody("m", extra), key: acme.key })

const text = (response: Response) => Effect.promise(() => response.text())

describe("Gateway wire: what a client reads of the gateway's failures", () => {
  it.scopedLive("an upstream that refuses the connection: a 502 naming the provider, no address; the log has the tag", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const { layer, lines } = requestLogs()
      const bodies = yield* Effect.gen(function*() {
        const base = yield* served(config(`http://127.0.0.1:${port}/v1`))
        const answer = yield* chat(base)
        const streamed = yield* chat(base, { stream: true })
        expect([answer.status, streamed.status]).toEqual([502, 502])
        return [yield* text(answer), yield* text(streamed)]
      }).pipe(Effect.provide(layer), Effect.scoped)
      for (const body of bodies) {
        expect(JSON.parse(body).error).toEqual({
          message: "The upstream provider \"dead\" could not be reached (the connection failed or was cut).",
          type: "server_error",
          param: null,
          code: "upstream_unreachable"
        })
        expect(body).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|Transport/)
        expect(body).not.toContain(String(port))
      }
      const logged = lines.filter((line) => line.message === "gateway request")
      expect(logged.map((line) => [line.outcome, line.status])).toEqual([["NetworkError", 502], ["NetworkError", 502]])
      // The operator's log keeps what the client does not see.
      for (const line of logged) {
        expect(line.error).toMatch(/ECONNREFUSED|refused|connect/)
        expect(line.provider).toBe("dead")
      }
    }))

  it.scopedLive("a Redis that cannot be reached: a 503 naming the store, no URL, for calls and usage", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const provider = yield* freePort
      const vars = new Map([...env, ["REDIS_URL", `redis://127.0.0.1:${port}/7`]])
      const base = yield* served(
        config(`http://127.0.0.1:${provider}/v1`, {
          acme: { rateLimit: { requests: { limit: 5, window: "1 minute" } } },
          globex: { budget: { limitUsd: 10, period: "day" } },
          redis: { commandTimeout: "200 millis" }
        }),
        vars
      )
      const answer = yield* chat(base)
      expect(answer.status).toBe(503)
      const body = yield* text(answer)
      expect(JSON.parse(body).error).toMatchObject({
        message: "The gateway's rate-limit store is unavailable; retry later.",
        code: "policy_unavailable"
      })
      expect(answer.headers.get("retry-after")).not.toBeNull()
      // A budget read from a store that cannot answer: the usage endpoint's 503.
      const usage = yield* call(base, "/v1/usage", { key: globex.key })
      expect(usage.status).toBe(503)
      const usageBody = yield* text(usage)
      expect(JSON.parse(usageBody).error).toMatchObject({
        message: "The gateway's budget store is unavailable; retry later.",
        code: "policy_unavailable"
      })
      for (const text of [body, usageBody]) {
        expect(text).not.toMatch(/redis:|127\.0\.0\.1/)
        expect(text).not.toContain(String(port))
      }
    }))

  it.scopedLive("the admin key on a model endpoint: a 403 that says it reads usage", () =>
    Effect.gen(function*() {
      const base = yield* served(config("http://127.0.0.1:9/v1"))
      const refused = yield* call(base, "/v1/chat/completions", { method: "POST", body: chatBody("m"), key: admin.key })
      expect(refused.status).toBe(403)
      expect((yield* json(refused)).error).toMatchObject({
        message: "The admin key reads usage; call models with a tenant's key.",
        code: "permission_denied"
      })
    }))
})
