import { NodeHttpServer } from "@effect/platform-node"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import { describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Layer, Ref } from "effect"
import * as Http from "node:http"
import * as Zlib from "node:zlib"
import * as Body from "../src/gateway/http/body.js"
import * as Metrics from "../src/gateway/Metrics.js"
import * as Server from "../src/gateway/Server.js"
import * as LlmError from "../src/LlmError.js"
import * as TestModel from "../src/testing/TestModel.js"
import {
  adminKey,
  call,
  chatBody,
  json,
  makeRuntime,
  requestLogs,
  serve,
  sseEvents,
  tenantKey
} from "./support/gateway.js"

const usage = { inputTokens: 12, outputTokens: 3, totalTokens: 15 }

/** A gateway with two tenants ("acme" may use every route, "beta" only "small") over scripted models. */
const gateway = (
  script: ReadonlyArray<TestModel.Reply>,
  options: {
    readonly settings?: Parameters<typeof makeRuntime>[0]["settings"]
    readonly metrics?: Metrics.GatewayMetrics
  } = {}
) =>
  Effect.gen(function*() {
    const model = yield* TestModel.make(script, { provider: "openai", model: "gpt-4o-mini" })
    const runtime = makeRuntime({
      tenants: [{ id: "acme" }, { id: "beta", models: ["small"] }],
      routes: { "gpt-4o": model.service, small: model.service },
      settings: options.settings ?? {},
      usage: (tenant) =>
        Effect.succeed({
          tenant,
          rateLimits: {
            tenant,
            requests: { limit: 60, remaining: 59, resetAfter: "1 minute" as never },
            tokens: { limit: 1000, remaining: 985, resetAfter: "1500 millis" as never }
          }
        })
    })
    const base = yield* serve(runtime, options.metrics === undefined ? {} : { metrics: options.metrics })
    return { base, model }
  })

/** A HEAD through Node's client, which keeps the connection (fetch asks to close it after a HEAD). */
const headRequest = (url: string, key: string | null) =>
  Effect.async<{ readonly status: number; readonly headers: Http.IncomingHttpHeaders; readonly body: string }>(
    (resume) => {
      const request = Http.request(url, {
        method: "HEAD",
        headers: key === null ? {} : { authorization: `Bearer ${key}` }
      }, (response) => {
        let body = ""
        response.setEncoding("utf8").on("data", (chunk: string) => body += chunk).on(
          "end",
          () => resume(Effect.succeed({ status: response.statusCode ?? 0, headers: response.headers, body }))
        )
      })
      request.end()
    }
  )

/**
 * GET, then HEAD of `path` (with acme's key unless `key` says otherwise): the HEAD answer has GET's status and
 * headers (its `content-length` the length of GET's body) and no body. The status, for the caller to check.
 */
const headAsGet = (base: string, path: string, key: string | null = tenantKey("acme")) =>
  Effect.gen(function*() {
    const get = yield* call(base, path, { key })
    const body = yield* Effect.promise(() => get.arrayBuffer())
    const head = yield* headRequest(`${base}${path}`, key)
    expect(head.body, path).toBe("")
    // The date and the request id are each answer's own.
    const { date: _date, "x-request-id": _id, ...headers } = head.headers
    const expected = Object.fromEntries([...get.headers].filter(([name]) => name !== "date" && name !== "x-request-id"))
    expect(headers, path).toEqual(expected)
    expect(headers["content-length"], path).toBe(String(body.byteLength))
    expect(headers.connection, path).toBe("keep-alive")
    expect(head.status, path).toBe(get.status)
    return head.status
  })

describe("Gateway server", () => {
  it.scopedLive("answers a chat completion with the OpenAI body and the x-liter headers", () =>
    Effect.gen(function*() {
      const { base, model } = yield* gateway([{ text: "Paris", usage }])
      const response = yield* call(base, "/v1/chat/completions", {
        method: "POST",
        body: chatBody("gpt-4o", { user: "u-1" }),
        headers: { "x-request-id": "client-req-1" }
      })
      expect(response.status).toBe(200)
      const body = yield* json(response)
      expect(body.object).toBe("chat.completion")
      expect(body.model).toBe("gpt-4o") // the route the client named, not the upstream model
      expect(body.choices[0].message.content).toBe("Paris")
      expect(body.usage).toEqual({ prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 })
      const h = response.headers
      expect(h.get("x-request-id")).toBe("client-req-1")
      expect(h.get("x-liter-provider")).toBe("openai")
      expect(h.get("x-liter-model")).toBe("gpt-4o")
      expect(h.get("x-liter-attempts")).toBe("1")
      expect(h.get("x-liter-cache")).toBe("miss")
      expect(Number(h.get("x-liter-overhead-ms"))).toBeGreaterThanOrEqual(0)
      expect(h.get("x-ratelimit-limit-requests")).toBe("60")
      expect(h.get("x-ratelimit-remaining-requests")).toBe("59")
      expect(h.get("x-ratelimit-reset-requests")).toBe("1m0s")
      expect(h.get("x-ratelimit-remaining-tokens")).toBe("985")
      expect(h.get("x-ratelimit-reset-tokens")).toBe("2s")
      // The tenant is the key's, and the client's `user` stays the user.
      const [sent] = yield* model.requests
      expect(sent!.metadata).toEqual({ user: "u-1", tenant: "acme" })
    }))

  it.scopedLive("an upstream model name a header cannot carry is percent-encoded, never a failed answer or a header of its own", () =>
    Effect.gen(function*() {
      for (const name of ["模型-v1", "evil\r\nset-cookie: x=1", "modèle-é", "a%20b"]) {
        const answer = {
          id: "r",
          provider: "openai",
          model: name,
          content: [{ type: "text" as const, text: "Paris" }],
          finishReason: "stop" as const,
          usage
        }
        const model = yield* TestModel.make([answer, answer])
        const base = yield* serve(makeRuntime({ tenants: [{ id: "acme" }], routes: { "gpt-4o": model.service } }))
        for (const stream of [false, true]) {
          const response = yield* call(base, "/v1/chat/completions", {
            method: "POST",
            body: chatBody("gpt-4o", { stream })
          })
          expect(response.status).toBe(200)
          expect(response.headers.get("x-liter-model")).toBe(encodeURIComponent(name))
          expect(decodeURIComponent(response.headers.get("x-liter-model")!)).toBe(name)
          expect(response.headers.get("set-cookie")).toBeNull()
          expect(yield* Effect.promise(() => response.text())).toContain("Paris")
        }
      }
    }))

  it.scopedLive("Server.make's HttpApp, served by the platform's server, answers as Server.layer does", () =>
    Effect.gen(function*() {
      const model = yield* TestModel.make([{ text: "Paris", usage }, { text: "Rome", usage }])
      const runtime = makeRuntime({ tenants: [{ id: "acme" }], routes: { "gpt-4o": model.service } })
      const app = yield* Server.make(Server.fromRuntime(runtime), { holdHeaders: 0 })
      const context = yield* Layer.build(
        HttpServer.serve(app).pipe(
          Layer.provideMerge(NodeHttpServer.layer(Http.createServer, { port: 0, host: "127.0.0.1" }))
        )
      )
      const address = Context.get(context, HttpServer.HttpServer).address
      const base = `http://127.0.0.1:${address._tag === "TcpAddress" ? address.port : 0}`
      const whole = yield* call(base, "/v1/chat/completions", { method: "POST", body: chatBody("gpt-4o") })
      expect(whole.status).toBe(200)
      expect((yield* json(whole)).choices[0].message.content).toBe("Paris")
      const streamed = yield* call(base, "/v1/chat/completions", {
        method: "POST",
        body: chatBody("gpt-4o", { stream: true })
      })
      expect(streamed.headers.get("content-type")).toContain("text/event-stream")
      const events = sseEvents(yield* Effect.promise(() => streamed.text())) as Array<any>
      expect(events.map((event) => event.choices?.[0]?.delta?.content ?? "").join("")).toBe("Rome")
      expect(events.at(-1)).toBe("[DONE]")
      const refused = yield* call(base, "/v1/chat/completions", { method: "POST", body: chatBody("gpt-4o"), key: null })
      expect(refused.status).toBe(401)
      expect((yield* json(refused)).error.code).toBe("invalid_api_key")
      expect(yield* headAsGet(base, "/v1/models")).toBe(200)
      expect(yield* headAsGet(base, "/v1/models/nope")).toBe(404)
    }))

  it.scopedLive("never takes the tenant from the body", () =>
    Effect.gen(function*() {
      const { base, model } = yield* gateway([{ text: "ok" }])
      yield* call(base, "/v1/chat/completions", {
        method: "POST",
        body: chatBody("small", { metadata: { tenant: "acme" } }),
        key: tenantKey("beta")
      })
      const [sent] = yield* model.requests
      expect(sent!.metadata?.tenant).toBe("beta")
    }))

  it.scopedLive("reads a chat body as JSON whatever its content-type; a key given twice keeps its last value", () =>
    Effect.gen(function*() {
      const { base, model } = yield* gateway([{ text: "ok" }, { text: "ok" }])
      const messages = `[{"role":"user","content":"Capital of France?"}]`
      for (const contentType of ["text/plain", "application/x-www-form-urlencoded"]) {
        const response = yield* call(base, "/v1/chat/completions", {
          method: "POST",
          headers: { "content-type": contentType },
          body: `{"model":"large","messages":${messages},"model":"small","seed":1,"seed":7}`
        })
        expect(response.status).toBe(200)
        expect((yield* json(response)).model).toBe("small")
      }
      const sent = yield* model.requests
      expect(sent.map((request) => request.seed)).toEqual([7, 7])
    }))

  it.scopedLive("generates a request id when the client sends none or an unsafe one", () =>
    Effect.gen(function*() {
      const { base } = yield* gateway([{ text: "a" }, { text: "b" }])
      const none = yield* call(base, "/v1/chat/completions", { method: "POST", body: chatBody("gpt-4o") })
      const unsafe = yield* call(base, "/v1/chat/completions", {
        method: "POST",
        body: chatBody("gpt-4o"),
        headers: { "x-request-id": "has spaces and {json}" }
      })
      expect(none.headers.get("x-request-id")).toMatch(/^req_[0-9a-f]{32}$/)
      expect(unsafe.headers.get("x-request-id")).toMatch(/^req_[0-9a-f]{32}$/)
      expect(unsafe.headers.get("x-request-id")).not.toBe(none.headers.get("x-request-id"))
    }))

  it.scopedLive("refuses a missing or wrong key with 401 and OpenAI's error JSON, on every API path", () =>
    Effect.gen(function*() {
      const { base, model } = yield* gateway([])
      for (const path of ["/v1/chat/completions", "/v1/models", "/v1/usage"]) {
        const method = path === "/v1/chat/completions" ? "POST" : "GET"
        const body = method === "POST" ? chatBody("gpt-4o") : undefined
        const missing = yield* call(base, path, { method, key: null, ...(body === undefined ? {} : { body }) })
        const wrong = yield* call(base, path, { method, key: "lk-nope", ...(body === undefined ? {} : { body }) })
        for (const response of [missing, wrong]) {
          expect(response.status).toBe(401)
          const body = yield* json(response)
          expect(body.error.code).toBe("invalid_api_key")
          expect(JSON.stringify(body)).not.toContain("lk-nope")
        }
      }
      expect(yield* model.requests).toHaveLength(0)
    }))

  it.scopedLive("a key sent in another scheme than Bearer is refused saying so, without repeating the header", () =>
    Effect.gen(function*() {
      const { base } = yield* gateway([])
      const message = (authorization: string) =>
        Effect.map(
          Effect.flatMap(call(base, "/v1/models", { key: null, headers: { authorization } }), json),
          (body) => body.error.message as string
        )
      const basic = yield* message(`Basic ${tenantKey("acme")}`)
      expect(basic).toBe(
        "The Authorization header uses the Basic scheme: send the key as `Authorization: Bearer <key>` (or in an " +
          "`api-key` header)."
      )
      // A bare key in the header: not named as a scheme, as it may be the key.
      const bare = yield* message(tenantKey("acme"))
      expect(bare).toContain("The Authorization header is not a Bearer key:")
      expect(bare).not.toContain(tenantKey("acme"))
      expect(yield* message("sk-short")).toBe(
        "The Authorization header is not a Bearer key: send the key as `Authorization: Bearer <key>` (or in an " +
          "`api-key` header)."
      )
      expect(yield* message("Bearer")).toContain("Missing API key:")
    }))

  it.scopedLive("accepts Azure's api-key header", () =>
    Effect.gen(function*() {
      const { base } = yield* gateway([])
      const response = yield* call(base, "/v1/models", { key: null, headers: { "api-key": tenantKey("acme") } })
      expect(response.status).toBe(200)
    }))

  it.scopedLive("answers 404 model_not_found for an unknown route and for one the key may not use", () =>
    Effect.gen(function*() {
      const { base, model } = yield* gateway([])
      const unknown = yield* call(base, "/v1/chat/completions", { method: "POST", body: chatBody("gpt-9") })
      const forbidden = yield* call(base, "/v1/chat/completions", {
        method: "POST",
        body: chatBody("gpt-4o"),
        key: tenantKey("beta")
      })
      for (const response of [unknown, forbidden]) {
        expect(response.status).toBe(404)
        const body = yield* json(response)
        expect(body.error).toMatchObject({ code: "model_not_found", param: "model", type: "invalid_request_error" })
      }
      // A name the client chose is repeated at most 256 characters long: the client does not set the answer's size.
      const long = yield* call(base, "/v1/chat/completions", { method: "POST", body: chatBody("x".repeat(100_000)) })
      const message: string = (yield* json(long)).error.message
      expect(message).toContain(`\`${"x".repeat(255)}…\``)
      expect(message.length).toBeLessThan(400)
      // Never cut between the two halves of an emoji: what is repeated stays valid UTF-8.
      const emoji = yield* call(base, "/v1/chat/completions", { method: "POST", body: chatBody("😀".repeat(200)) })
      const cut: string = (yield* json(emoji)).error.message
      expect(cut).toContain(`\`${"😀".repeat(127)}…\``)
      expect(Buffer.from(cut, "utf8").toString("utf8")).toBe(cut)
      expect(yield* model.requests).toHaveLength(0)
    }))

  it.scopedLive("lists the routes a key may use in OpenAI's list format", () =>
    Effect.gen(function*() {
      const { base } = yield* gateway([])
      const acme = yield* Effect.flatMap(call(base, "/v1/models"), json)
      const beta = yield* call(base, "/v1/models", { key: tenantKey("beta") })
      expect(acme.object).toBe("list")
      expect(acme.data.map((m: { id: string }) => m.id)).toEqual(["gpt-4o", "small"])
      expect(acme.data[0]).toMatchObject({ object: "model", owned_by: "liter-llm" })
      const betaJson = yield* json(beta)
      expect(betaJson.data.map((m: { id: string }) => m.id)).toEqual(["small"])
    }))

  it.scopedLive("retrieves one route as the SDKs' models.retrieve asks: GET /v1/models/{id}, 404 for one the key may not use", () =>
    Effect.gen(function*() {
      const { base } = yield* gateway([])
      const one = yield* call(base, "/v1/models/gpt-4o")
      expect(one.status).toBe(200)
      expect(yield* json(one)).toEqual({ id: "gpt-4o", object: "model", created: 0, owned_by: "liter-llm" })
      for (const [path, key] of [["/v1/models/gpt-4o", tenantKey("beta")], ["/v1/models/nope", undefined]] as const) {
        const refused = yield* call(base, path, key === undefined ? {} : { key })
        expect(refused.status).toBe(404)
        expect((yield* json(refused)).error).toMatchObject({ code: "model_not_found" })
      }
      expect((yield* call(base, "/v1/models/gpt-4o", { key: null })).status).toBe(401)
      expect((yield* call(base, "/v1/models/gpt-4o", { method: "POST", body: "{}" })).status).toBe(405)
    }))

  it.scopedLive("refuses malformed JSON, wrong types and unsupported parameters with a 400 naming the param", () =>
    Effect.gen(function*() {
      const { base, model } = yield* gateway([])
      const malformed = yield* call(base, "/v1/chat/completions", { method: "POST", body: "{\"model\": \"gpt-4o\"," })
      expect(malformed.status).toBe(400)
      expect((yield* json(malformed)).error.code).toBe("invalid_json")
      const wrongType = yield* call(base, "/v1/chat/completions", {
        method: "POST",
        body: chatBody("gpt-4o", { temperature: "hot" })
      })
      expect(wrongType.status).toBe(400)
      expect((yield* json(wrongType)).error.param).toBe("temperature")
      const unsupported = yield* call(base, "/v1/chat/completions", {
        method: "POST",
        body: chatBody("gpt-4o", { n: 2 })
      })
      expect(unsupported.status).toBe(400)
      expect((yield* json(unsupported)).error).toMatchObject({
        param: "n",
        code: "unsupported_parameter"
      })
      expect(yield* model.requests).toHaveLength(0)
    }))

  it.scopedLive("drops the parameters the settings say to drop", () =>
    Effect.gen(function*() {
      const { base } = yield* gateway([{ text: "ok" }], { settings: { dropUnsupported: ["n"] } })
      const response = yield* call(base, "/v1/chat/completions", { method: "POST", body: chatBody("gpt-4o", { n: 2 }) })
      expect(response.status).toBe(200)
    }))

  it.scopedLive("refuses a body over the limit with 413, declared or chunked, without calling the route", () =>
    Effect.gen(function*() {
      const { base, model } = yield* gateway([], { settings: { maxBodyBytes: 2_000 } })
      const big = chatBody("gpt-4o", { user: "x".repeat(5_000) })
      const declared = yield* call(base, "/v1/chat/completions", { method: "POST", body: big })
      expect(declared.status).toBe(413)
      expect((yield* json(declared)).error.code).toBe("request_too_large")
      // No content-length: a body streamed in chunks is counted as it arrives.
      const chunked = yield* call(base, "/v1/chat/completions", {
        method: "POST",
        body: new ReadableStream({
          start(controller) {
            for (let i = 0; i < 10; i++) controller.enqueue(new TextEncoder().encode("x".repeat(500)))
            controller.close()
          }
        }),
        duplex: "half"
      } as RequestInit)
      expect(chunked.status).toBe(413)
      expect(yield* model.requests).toHaveLength(0)
    }))

  it.scopedLive("refuses a compressed body (content-encoding, or a transfer coding beyond chunked) with 415 unsupported_content_encoding, naming the encoding, without calling the route", () =>
    Effect.gen(function*() {
      const { layer, lines } = requestLogs()
      const { base, model } = yield* gateway([{ text: "ok" }, { text: "ok" }]).pipe(Effect.provide(layer))
      const gzipped = Zlib.gzipSync(chatBody("gpt-4o"))
      for (const encoding of ["gzip", "br", "deflate, gzip"]) {
        const response = yield* call(base, "/v1/chat/completions", {
          method: "POST",
          body: gzipped,
          headers: { "content-encoding": encoding }
        })
        expect(response.status).toBe(415)
        expect(response.headers.get("accept-encoding")).toBe("identity")
        const { error } = yield* json(response)
        expect(error).toMatchObject({
          type: "invalid_request_error",
          code: "unsupported_content_encoding",
          param: null
        })
        expect(error.message).toContain(`\`${encoding}\``)
        expect(error.message).toContain("uncompressed")
        expect(error.message).toMatch(/^[\x20-\x7e]*$/)
      }
      // `identity` (any case) is no encoding at all.
      for (const encoding of ["identity", "Identity"]) {
        const response = yield* call(base, "/v1/chat/completions", {
          method: "POST",
          body: chatBody("gpt-4o"),
          headers: { "content-encoding": encoding }
        })
        expect(response.status).toBe(200)
      }
      expect(yield* model.requests).toHaveLength(2)
      // A transfer coding beyond chunked (Node removes the chunking, not the compression): the same 415.
      const transfer = yield* Effect.async<{ status: number; body: string }>((resume) => {
        const request = Http.request(`${base}/v1/chat/completions`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${tenantKey("acme")}`,
            "content-type": "application/json",
            "transfer-encoding": "gzip, chunked"
          }
        }, (response) => {
          let body = ""
          response.on("data", (chunk) => body += chunk)
          response.on("end", () => resume(Effect.succeed({ status: response.statusCode ?? 0, body })))
        })
        request.end(gzipped)
      })
      expect(transfer.status).toBe(415)
      expect(JSON.parse(transfer.body).error.message).toContain("`gzip`")
      expect(yield* model.requests).toHaveLength(2)
      const outcomes = lines.filter((line) => line.message === "gateway request").map((line) => line.outcome)
      expect(outcomes.slice(0, 3)).toEqual(["UnsupportedEncoding", "UnsupportedEncoding", "UnsupportedEncoding"])
    }))

  it.scopedLive("an invalid JSON body is a 400 whose message quotes at most a short, printable excerpt of it", () =>
    Effect.gen(function*() {
      const { base } = yield* gateway([])
      const secret = "sk-" + "s".repeat(200)
      const bodies = [
        Zlib.gzipSync(chatBody("gpt-4o", { user: secret })), // compressed, but not declared so
        `\u0000\u0001{"model": "gpt-4o", "user": "${secret}"`,
        `{"model": "gpt-4o", "user": "${secret}" oops}`,
        "{\"a\":\"\u0007\u001b[31m\"x"
      ]
      for (const body of bodies) {
        const response = yield* call(base, "/v1/chat/completions", { method: "POST", body })
        expect(response.status).toBe(400)
        const { error } = yield* json(response)
        expect(error.code).toBe("invalid_json")
        expect(error.message).toMatch(/^We could not parse the JSON body of your request \(.+\)\.$/)
        expect(error.message).toMatch(/^[\x20-\x7e]*$/)
        expect(error.message.length).toBeLessThanOrEqual(200)
        expect(error.message).not.toContain("s".repeat(30))
      }
    }))

  it.scopedLive("a body that starts with a UTF-8 byte order mark is read as the JSON after it", () =>
    Effect.gen(function*() {
      const { base, model } = yield* gateway([{ text: "ok" }])
      const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(chatBody("gpt-4o"))])
      const response = yield* call(base, "/v1/chat/completions", { method: "POST", body })
      expect(response.status).toBe(200)
      expect((yield* json(response)).choices[0].message.content).toBe("ok")
      expect(yield* model.requests).toHaveLength(1)
      // Only at the start: anywhere else it is a character JSON does not allow between tokens.
      const inside = yield* call(base, "/v1/chat/completions", { method: "POST", body: ` \ufeff${chatBody("gpt-4o")}` })
      expect(inside.status).toBe(400)
    }))

  it.scopedLive("a body that is not valid UTF-8 is a 400 invalid_json, not text repaired with U+FFFD", () =>
    Effect.gen(function*() {
      const { layer, lines } = requestLogs()
      const { base, model } = yield* gateway([{ text: "ok" }]).pipe(Effect.provide(layer))
      const [head, tail] = chatBody("gpt-4o").split("Capital")
      const withBytes = (...bytes: Array<number>) =>
        Buffer.concat([Buffer.from(head!), Buffer.from(bytes), Buffer.from(`Capital${tail!}`)])
      // A stray byte, a truncated sequence, an overlong "/", an encoded surrogate (CESU-8).
      for (const body of [withBytes(0xff), withBytes(0xc3), withBytes(0xc0, 0xaf), withBytes(0xed, 0xa0, 0x80)]) {
        const response = yield* call(base, "/v1/chat/completions", { method: "POST", body })
        expect(response.status).toBe(400)
        expect((yield* json(response)).error).toEqual({
          message: "We could not parse the JSON body of your request (it is not valid UTF-8, which JSON must be).",
          type: "invalid_request_error",
          param: null,
          code: "invalid_json"
        })
      }
      // A character split across chunks is whole once the body is.
      const euro = Buffer.from(chatBody("gpt-4o", { messages: [{ role: "user", content: "€" }] }))
      const split = euro.indexOf(0xe2) + 1
      const chunked = yield* call(base, "/v1/chat/completions", {
        method: "POST",
        body: new ReadableStream({
          start(controller) {
            controller.enqueue(euro.subarray(0, split))
            controller.enqueue(euro.subarray(split))
            controller.close()
          }
        }),
        duplex: "half"
      } as RequestInit)
      expect(chunked.status).toBe(200)
      const requests = yield* model.requests
      expect(requests).toHaveLength(1)
      expect(requests[0]!.messages).toMatchObject([{ role: "user", content: "€" }])
      const outcomes = lines.filter((line) => line.message === "gateway request").map((line) => line.outcome)
      expect(outcomes).toEqual(["WireError", "WireError", "WireError", "WireError", "success"])
    }))

  it.effect("another platform's request body is checked alike (read whole, then as UTF-8)", () =>
    Effect.gen(function*() {
      const read = (body: Uint8Array) =>
        Body.read(HttpServerRequest.fromWeb(new Request("http://x/", { method: "POST", body })), 100)
      expect(yield* read(Buffer.from("{\"a\": \"€\"}"))).toEqual({ _tag: "Text", text: "{\"a\": \"€\"}" })
      expect(yield* read(Buffer.from([0x7b, 0xff, 0x7d]))).toEqual({ _tag: "NotUtf8" })
    }))

  it.scopedLive("a body key named like an Object.prototype member is a 400 unknown_parameter, never a 500", () =>
    Effect.gen(function*() {
      const { layer, lines } = requestLogs()
      const { base, model } = yield* gateway([]).pipe(Effect.provide(layer))
      for (const key of ["constructor", "__proto__", "hasOwnProperty", "valueOf", "toString"]) {
        const response = yield* call(base, "/v1/chat/completions", {
          method: "POST",
          body: `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"${key}":1}`
        })
        expect(response.status).toBe(400)
        expect((yield* json(response)).error).toMatchObject({
          param: key,
          code: "unknown_parameter",
          message: `unknown parameter \`${key}\``
        })
      }
      expect(yield* model.requests).toHaveLength(0)
      expect(lines.filter((line) => line.message === "gateway: a request failed unexpectedly")).toEqual([])
    }))

  it.scopedLive("maps a route's LlmError to the wire table's status, retry headers and error JSON", () =>
    Effect.gen(function*() {
      const { base } = yield* gateway([
        new LlmError.RateLimitExceeded({
          provider: "liter-llm",
          tenant: "acme",
          kind: "requests",
          limit: "60 per 1 minute",
          retryAfter: Duration.seconds(3),
          message: "acme: request limit reached"
        }),
        new LlmError.Timeout({ provider: "openai", phase: "request", message: "openai: no answer in 10 s" })
      ])
      const limited = yield* call(base, "/v1/chat/completions", { method: "POST", body: chatBody("gpt-4o") })
      expect(limited.status).toBe(429)
      expect(limited.headers.get("retry-after")).toBe("3")
      expect(limited.headers.get("x-request-id")).toMatch(/^req_/)
      expect((yield* json(limited)).error.code).toBe("rate_limit_exceeded")
      const timeout = yield* call(base, "/v1/chat/completions", { method: "POST", body: chatBody("gpt-4o") })
      expect(timeout.status).toBe(504)
    }))

  it.scopedLive("health is alive; ready follows the runtime; unknown paths and methods are OpenAI errors", () =>
    Effect.gen(function*() {
      const ready = yield* Ref.make(true)
      const runtime = makeRuntime({ tenants: [{ id: "acme" }], routes: {}, ready: Ref.get(ready) })
      const empty = yield* Ref.make<ReturnType<typeof makeRuntime> | undefined>(undefined)
      const base = yield* serve(runtime)
      const unloaded = yield* serve(Server.fromRef(empty))
      expect((yield* call(base, "/health", { key: null })).status).toBe(200)
      expect((yield* call(base, "/ready", { key: null })).status).toBe(200)
      yield* Ref.set(ready, false)
      expect((yield* call(base, "/ready", { key: null })).status).toBe(503)
      expect((yield* call(unloaded, "/ready", { key: null })).status).toBe(503)
      expect((yield* call(unloaded, "/v1/models")).status).toBe(503)
      // Loaded later: the same server serves it.
      yield* Ref.set(ready, true)
      yield* Ref.set(empty, runtime)
      expect((yield* call(unloaded, "/ready", { key: null })).status).toBe(200)
      const unknown = yield* call(base, "/v2/nothing")
      expect(unknown.status).toBe(404)
      expect((yield* json(unknown)).error.code).toBe("unknown_url")
      const wrongMethod = yield* call(base, "/v1/chat/completions", { method: "GET" })
      expect(wrongMethod.status).toBe(405)
      expect(wrongMethod.headers.get("allow")).toBe("POST")
    }))

  it.scopedLive("answers HEAD wherever it answers GET: GET's status and headers, content-length included, no body", () =>
    Effect.gen(function*() {
      const { layer, lines } = requestLogs()
      yield* Effect.gen(function*() {
        const { base } = yield* gateway([])
        // The probes and /metrics first: the refusals under /v1 below are counted in the metrics.
        const acme = tenantKey("acme")
        const asked = [
          ["/health", null, 200],
          ["/ready", null, 200],
          ["/metrics", null, 200],
          ["/v1/models", acme, 200],
          ["/v1/models/gpt-4o", acme, 200],
          ["/v1/models/nope", acme, 404],
          ["/v1/usage", acme, 200],
          ["/v1/usage?tenant=beta", acme, 403],
          ["/v1/models", null, 401],
          ["/v1/nothing", acme, 404],
          ["/v1/chat/completions", acme, 405]
        ] as const
        for (const [path, key, status] of asked) expect(yield* headAsGet(base, path, key), path).toBe(status)
        // Any other method is refused with what the path allows.
        for (const [method, path] of [["DELETE", "/v1/models"], ["PUT", "/health"]] as const) {
          const refused = yield* call(base, path, { method })
          expect(refused.status).toBe(405)
          expect(refused.headers.get("allow")).toBe("GET, HEAD")
          yield* Effect.promise(() => refused.text())
        }
      }).pipe(Effect.provide(layer), Effect.scoped)
      // Logged as the HEAD it was (in any order: a line is written once its answer is).
      const heads = lines.filter((line) => line.message === "gateway request" && line.method === "HEAD")
      expect(heads.map((line) => `${line.status} ${line.path}`).sort()).toEqual([
        "200 /v1/models",
        "200 /v1/models/gpt-4o",
        "200 /v1/usage",
        "401 /v1/models",
        "403 /v1/usage",
        "404 /v1/models/nope",
        "404 /v1/nothing",
        "405 /v1/chat/completions"
      ])
    }))

  it.scopedLive("usage: a tenant reads its own, the admin any tenant's or all; the admin cannot call models", () =>
    Effect.gen(function*() {
      const { base } = yield* gateway([])
      const own = yield* call(base, "/v1/usage")
      const ownJson = yield* json(own)
      expect(ownJson).toMatchObject({ object: "usage", tenant: "acme", budget: null })
      expect(ownJson.rate_limits.requests).toEqual({ limit: 60, remaining: 59, reset_ms: 60_000 })
      expect((yield* call(base, "/v1/usage?tenant=beta")).status).toBe(403)
      const other = yield* call(base, "/v1/usage?tenant=beta", { key: adminKey })
      expect((yield* json(other)).tenant).toBe("beta")
      const all = yield* Effect.flatMap(call(base, "/v1/usage", { key: adminKey }), json)
      expect(all.data.map((u: { tenant: string }) => u.tenant)).toEqual(["acme", "beta"])
      expect(all).toMatchObject({ object: "list", first_id: "acme", last_id: "beta", has_more: false })
      // Pages, as OpenAI's lists: `limit`, then `after` the last id of the page before.
      const first = yield* Effect.flatMap(call(base, "/v1/usage?limit=1", { key: adminKey }), json)
      expect(first).toMatchObject({ first_id: "acme", last_id: "acme", has_more: true })
      expect(first.data).toHaveLength(1)
      const second = yield* Effect.flatMap(call(base, "/v1/usage?limit=1&after=acme", { key: adminKey }), json)
      expect(second).toMatchObject({ first_id: "beta", last_id: "beta", has_more: false })
      const past = yield* Effect.flatMap(call(base, "/v1/usage?after=beta", { key: adminKey }), json)
      expect(past).toMatchObject({ data: [], first_id: null, last_id: null, has_more: false })
      for (const bad of ["limit=0", "limit=1001", "limit=abc", "limit=1&limit=2", "after=nobody"]) {
        const refused = yield* call(base, `/v1/usage?${bad}`, { key: adminKey })
        expect(refused.status, bad).toBe(400)
        expect((yield* json(refused)).error).toMatchObject({ code: "invalid_value", param: bad.split("=")[0] })
      }
      expect((yield* call(base, "/v1/usage?tenant=nobody", { key: adminKey })).status).toBe(404)
      const adminChat = yield* call(base, "/v1/chat/completions", {
        method: "POST",
        body: chatBody("gpt-4o"),
        key: adminKey
      })
      expect(adminChat.status).toBe(403)
    }))

  it.scopedLive("amounts in USD are rounded to 12 significant digits: the usage endpoint, x-liter-cost-usd and the log", () =>
    Effect.gen(function*() {
      const { layer, lines } = requestLogs()
      const headers = yield* Effect.gen(function*() {
        // Costs as floating point leaves them: a sum, and an amount too small for 8 decimals.
        const answer = (costUsd: number) => ({
          id: "r",
          provider: "openai",
          model: "gpt-4o-mini",
          content: [{ type: "text" as const, text: "Paris" }],
          finishReason: "stop" as const,
          usage,
          costUsd
        })
        const model = yield* TestModel.make([answer(0.1 + 0.2), answer(1.2345e-9)])
        const limitUsd = 0.0003
        const runtime = makeRuntime({
          tenants: [{ id: "acme" }],
          routes: { "gpt-4o": model.service },
          usage: (tenant) =>
            Effect.succeed({
              tenant,
              budget: {
                tenant,
                limitUsd,
                spentUsd: 0.00021,
                reservedUsd: 0,
                remainingUsd: limitUsd - 0.00021,
                resetsAt: undefined
              }
            })
        })
        const base = yield* serve(runtime)
        const text = yield* Effect.flatMap(call(base, "/v1/usage"), (response) => Effect.promise(() => response.text()))
        expect(String(limitUsd - 0.00021)).toBe("0.00008999999999999997")
        expect(text).toContain("\"remaining_usd\":0.00009,")
        expect(JSON.parse(text).budget).toMatchObject({ limit_usd: 0.0003, spent_usd: 0.00021, remaining_usd: 0.00009 })
        const sum = yield* call(base, "/v1/chat/completions", { method: "POST", body: chatBody("gpt-4o") })
        const tiny = yield* call(base, "/v1/chat/completions", { method: "POST", body: chatBody("gpt-4o") })
        return [sum.headers.get("x-liter-cost-usd"), tiny.headers.get("x-liter-cost-usd")]
      }).pipe(Effect.provide(layer), Effect.scoped)
      // A plain decimal, never in exponent notation, and a small cost is not rounded to 0.
      expect(headers).toEqual(["0.3", "0.0000000012345"])
      const costs = lines.filter((line) => line.message === "gateway request" && line.path === "/v1/chat/completions")
        .map((line) => line.costUsd as number)
      expect(costs.sort((a, b) => a - b)).toEqual([1.2345e-9, 0.3])
    }))

  it.scopedLive("a body refused by the decoder is logged with the route it named, and the metrics keep _OTHER", () =>
    Effect.gen(function*() {
      const { layer, lines } = requestLogs()
      const metrics = Metrics.make()
      yield* Effect.gen(function*() {
        const { base } = yield* gateway([], { metrics })
        const refused = yield* call(base, "/v1/chat/completions", {
          method: "POST",
          body: chatBody("gpt-4o", { temperature: "hot" })
        })
        expect(refused.status).toBe(400)
      }).pipe(Effect.provide(layer), Effect.scoped)
      const requests = lines.filter((line) => line.message === "gateway request")
      expect(requests).toHaveLength(1)
      expect(requests[0]).toMatchObject({ route: "gpt-4o", status: 400, outcome: "WireError" })
      expect(yield* Effect.promise(() => metrics.registry.metrics())).toContain(
        "liter_llm_gateway_requests_total{tenant=\"acme\",route=\"_OTHER\",status=\"400\""
      )
    }))

  it.scopedLive("writes one request log line per API request with the facts and never a key or, by default, content", () =>
    Effect.gen(function*() {
      const { layer, lines } = requestLogs()
      yield* Effect.gen(function*() {
        const { base } = yield* gateway([{ text: "Paris", usage }])
        yield* call(base, "/v1/chat/completions", {
          method: "POST",
          body: chatBody("gpt-4o"),
          headers: { "x-request-id": "log-1" }
        })
        yield* call(base, "/v1/models", { key: "lk-wrong-SECRETKEY" })
      }).pipe(Effect.provide(layer), Effect.scoped)
      const requests = lines.filter((line) => line.message === "gateway request")
      expect(requests).toHaveLength(2)
      expect(requests[0]).toMatchObject({
        requestId: "log-1",
        tenant: "acme",
        route: "gpt-4o",
        status: 200,
        outcome: "success",
        provider: "openai",
        model: "gpt-4o",
        inputTokens: 12,
        outputTokens: 3,
        // The model reports no provider events: the log says what x-liter-attempts says.
        attempts: 1
      })
      expect(requests[0]).not.toHaveProperty("prompt")
      expect(requests[1]).toMatchObject({ status: 401, outcome: "Unauthenticated" })
      const all = JSON.stringify(lines)
      expect(all).not.toContain("SECRETKEY")
      expect(all).not.toContain("Capital of France")
    }))

  it.scopedLive("logs prompts and answers only when the settings say so", () =>
    Effect.gen(function*() {
      const { layer, lines } = requestLogs()
      yield* Effect.gen(function*() {
        const { base } = yield* gateway([{ text: "Paris" }], { settings: { logContent: true } })
        yield* call(base, "/v1/chat/completions", { method: "POST", body: chatBody("gpt-4o") })
      }).pipe(Effect.provide(layer), Effect.scoped)
      const [line] = lines.filter((l) => l.message === "gateway request")
      expect(line!.answer).toBe("Paris")
      expect(JSON.stringify(line!.prompt)).toContain("Capital of France?")
      expect(JSON.stringify(lines)).not.toContain("SECRETKEY")
    }))

  it.scopedLive("exposes Prometheus metrics by tenant, route and status, with no key in them", () =>
    Effect.gen(function*() {
      const metrics = Metrics.make()
      const { base } = yield* gateway([{ text: "Paris", usage }], { metrics })
      yield* call(base, "/v1/chat/completions", { method: "POST", body: chatBody("gpt-4o") })
      // Names that are no route: one label for all of them, however many a client invents.
      for (const name of ["nope", "rand-1", "rand-2", "x".repeat(5_000)]) {
        yield* call(base, "/v1/chat/completions", { method: "POST", body: chatBody(name) })
      }
      const response = yield* call(base, "/metrics", { key: null })
      expect(response.headers.get("content-type")).toContain("text/plain")
      const text = yield* Effect.promise(() => response.text())
      expect(text).toContain(
        "liter_llm_gateway_requests_total{tenant=\"acme\",route=\"gpt-4o\",status=\"200\",outcome=\"success\",stream=\"false\"} 1"
      )
      expect(text).toContain(
        "liter_llm_gateway_requests_total{tenant=\"acme\",route=\"_OTHER\",status=\"404\",outcome=\"NotFound\",stream=\"false\"} 4"
      )
      expect(text).not.toMatch(/route="(nope|rand-1|x+)"/)
      // Refused before a route: counted too, under the same label (and no tenant without a valid key).
      yield* call(base, "/v1/chat/completions", { method: "POST", body: "{oops" })
      yield* call(base, "/v1/chat/completions", {
        method: "POST",
        body: chatBody("gpt-4o"),
        key: "sk-wrong-key-0000000000"
      })
      const after = yield* Effect.promise(() => fetch(`${base}/metrics`).then((r) => r.text()))
      expect(after).toContain(
        "liter_llm_gateway_requests_total{tenant=\"acme\",route=\"_OTHER\",status=\"400\",outcome=\"WireError\",stream=\"false\"} 1"
      )
      expect(after).toContain(
        "liter_llm_gateway_requests_total{tenant=\"\",route=\"_OTHER\",status=\"401\",outcome=\"Unauthenticated\",stream=\"false\"} 1"
      )
      // Every request the log has a line for is counted: the other API endpoints too, under _OTHER.
      yield* call(base, "/v1/models")
      yield* call(base, "/v1/usage")
      const others = yield* Effect.promise(() => fetch(`${base}/metrics`).then((r) => r.text()))
      expect(others).toContain(
        "liter_llm_gateway_requests_total{tenant=\"acme\",route=\"_OTHER\",status=\"200\",outcome=\"success\",stream=\"false\"} 2"
      )
      expect(text).toContain("liter_llm_gateway_tokens_total{tenant=\"acme\",route=\"gpt-4o\",kind=\"input\"} 12")
      expect(text).toContain("liter_llm_gateway_request_duration_seconds_count{route=\"gpt-4o\",stream=\"false\"} 1")
      expect(text).not.toContain("SECRETKEY")
    }))

  it.scopedLive("a port in use fails with a ServeError that says so, its listening error kept as the cause", () =>
    Effect.gen(function*() {
      const taken = Http.createServer()
      yield* Effect.acquireRelease(
        Effect.async<void>((resume) => void taken.listen(0, "127.0.0.1", () => resume(Effect.void))),
        () => Effect.sync(() => taken.close())
      )
      const port = (taken.address() as { readonly port: number }).port
      const refused = yield* Effect.flip(
        Effect.scoped(serveOn(makeRuntime({ tenants: [], routes: {} }), { host: "127.0.0.1", port }))
      )
      expect(refused._tag).toBe("ServeError")
      expect(refused.message).toBe(`cannot listen on 127.0.0.1:${port}: address already in use (EADDRINUSE)`)
      expect(refused).toMatchObject({ cause: { code: "EADDRINUSE" } })
    }))

  it.effect("refuses bad options with a ConfigError naming them", () =>
    Effect.gen(function*() {
      const runtime = makeRuntime({ tenants: [], routes: {} })
      const badHold = yield* Effect.flip(Server.make(Server.fromRuntime(runtime), { holdHeaders: "soon" as never }))
      expect(String(badHold)).toContain("holdHeaders")
      const badPort = yield* Effect.flip(Effect.scoped(serveOn(runtime, { port: 70_000 })))
      expect(String(badPort)).toContain("port")
      const badTimeouts = yield* Effect.flip(
        Effect.scoped(serveOn(runtime, { headersTimeout: "10 seconds", requestTimeout: "1 second" }))
      )
      expect(String(badTimeouts)).toContain("requestTimeout")
      // Past Node's timer range the server would throw a RangeError when it starts.
      const tooLong = yield* Effect.flip(Effect.scoped(serveOn(runtime, { keepAliveTimeout: "9999999999 days" })))
      expect(String(tooLong)).toContain(
        "Server: keepAliveTimeout: expected a duration from 1 ms to 24.8 days, got \"9999999999 days\""
      )
      const tooLongHold = yield* Effect.flip(Server.make(Server.fromRuntime(runtime), { keepAlive: "30 days" }))
      expect(String(tooLongHold)).toContain("Server: keepAlive: expected a duration from 1 ms to 24.8 days")
      // As the file's `server:` section checks them, in its words: negative in any form (Effect reads -1 as 0),
      // under 1 ms.
      const refusal = (options: Partial<Server.LayerOptions>) =>
        Effect.map(Effect.flip(Effect.scoped(serveOn(runtime, options))), (error) => error.message)
      expect(yield* refusal({ shutdownGrace: -1 })).toBe(
        "Server: shutdownGrace: expected a duration >= 0 such as \"30 seconds\", got -1"
      )
      expect(yield* refusal({ holdHeaders: "-5 seconds" })).toBe(
        "Server: holdHeaders: expected a duration >= 0 such as \"30 seconds\", got \"-5 seconds\""
      )
      expect(yield* refusal({ keepAlive: -1 })).toBe(
        "Server: keepAlive: expected a positive duration such as \"30 seconds\", got -1"
      )
      expect(yield* refusal({ keepAlive: "1 nanos" })).toBe(
        "Server: keepAlive: expected a duration from 1 ms to 24.8 days, got \"1 nanos\""
      )
      // 0 where it means "at once", and a fraction of a ms rounded up, are taken.
      yield* Effect.scoped(serveOn(runtime, { port: 0, shutdownGrace: 0, holdHeaders: 0, keepAlive: "1.5 millis" }))
    }))
})

const serveOn = (runtime: ReturnType<typeof makeRuntime>, options: Partial<Server.LayerOptions>) =>
  Effect.asVoid(Layer.build(Server.layer({ runtime, ...options })))
