/**
 * What the gateway answers before a request reaches its handler, or instead of Node's default, over raw sockets:
 * bytes that are not HTTP, a CONNECT, a missing or repeated Host, repeated keys, an HTTP/1.0 stream, a body or
 * headers that come too slowly.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeRuntime, rawExchange, requestLogs, serve, tenantKey } from "./support/gateway.js"
import { eventually } from "./support/loopback.js"

/** {@link rawExchange}: status line, head and error body. */
const rawAnswer = (base: string, text: string) =>
  Effect.map(
    rawExchange(base, text),
    (received) => ({
      statusLine: received.slice(0, received.indexOf("\r\n")),
      head: received.slice(0, received.indexOf("\r\n\r\n")).toLowerCase(),
      error: JSON.parse(received.slice(received.indexOf("\r\n\r\n") + 4)).error
    })
  )

describe("Gateway server: early answers", () => {
  it.scopedLive("a request that is not HTTP gets a 400 with OpenAI's error JSON, and the connection closes", () =>
    Effect.gen(function*() {
      const base = yield* serve(makeRuntime({ tenants: [{ id: "acme" }], routes: {} }))
      const answer = yield* rawAnswer(base, "HELLO?\r\n\r\n")
      expect(answer.statusLine).toMatch(/^HTTP\/1\.1 400 /)
      expect(answer.error).toMatchObject({
        type: "invalid_request_error",
        code: "bad_request"
      })
      expect(answer.head).toMatch(/\r\nx-request-id: req_[0-9a-f]{32}\r\n/)
    }))

  it.scopedLive("a CONNECT gets a 405 in OpenAI's error JSON; an absolute-form target is read as its path", () =>
    Effect.gen(function*() {
      const base = yield* serve(makeRuntime({ tenants: [{ id: "acme" }], routes: {} }))
      const connect = yield* rawAnswer(
        base,
        "CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\nX-Request-Id: my-req.1\r\n\r\n"
      )
      expect(connect.statusLine).toMatch(/^HTTP\/1\.1 405 /)
      expect(connect.error).toMatchObject({ type: "invalid_request_error", code: "method_not_allowed" })
      expect(connect.head).toContain("\r\nallow: get, head, post\r\n")
      // The client's own id, as on every answer.
      expect(connect.head).toContain("\r\nx-request-id: my-req.1\r\n")
      // As a client sends it through a proxy (RFC 9112 3.2.2): the path is served, whatever host it names.
      const absolute = yield* rawExchange(
        base,
        "GET http://elsewhere.example/v1/models HTTP/1.1\r\nHost: elsewhere.example\r\nConnection: close\r\n\r\n"
      )
      // No key: the models endpoint's 401, not an unknown path's 404.
      expect(absolute.slice(0, absolute.indexOf("\r\n"))).toMatch(/^HTTP\/1\.1 401 /)
      // Metrics carry a request id too, as every answer.
      const metrics = yield* Effect.promise(() => fetch(`${base}/metrics`))
      expect(metrics.headers.get("x-request-id")).toMatch(/^req_[0-9a-f]{32}$/)
    }))

  it.scopedLive("an HTTP/1.1 request without Host, or any with two Hosts or two keys, gets a 400 in OpenAI's error JSON; HTTP/1.0 needs none", () =>
    Effect.gen(function*() {
      const { layer, lines } = requestLogs()
      const base = yield* serve(makeRuntime({ tenants: [{ id: "acme" }], routes: {} })).pipe(Effect.provide(layer))
      const missing = yield* rawAnswer(base, "GET /health HTTP/1.1\r\nX-Request-Id: my-req.2\r\n\r\n")
      expect(missing.statusLine).toMatch(/^HTTP\/1\.1 400 /)
      expect(missing.error).toMatchObject({ type: "invalid_request_error", code: "missing_host" })
      expect(missing.head).toContain("\r\nx-request-id: my-req.2\r\n")
      const old = yield* rawExchange(base, "GET /health HTTP/1.0\r\n\r\n")
      expect(old).toMatch(/^HTTP\/1\.1 200 /)
      // Two are refused too: which one names the server is ambiguous (a request smuggling vector).
      const twice = yield* rawAnswer(base, "GET /health HTTP/1.1\r\nHost: a\r\nHOST: b\r\n\r\n")
      expect(twice.statusLine).toMatch(/^HTTP\/1\.1 400 /)
      expect(twice.error).toMatchObject({ type: "invalid_request_error", code: "duplicate_host" })
      // Two keys too: Node keeps the first, a proxy in front may have checked the other. Refused by the handler:
      // logged (and counted) as every API answer.
      for (
        const [name, code] of [["Authorization", "duplicate_authorization"], ["api-key", "duplicate_api_key"]] as const
      ) {
        const value = name === "api-key" ? tenantKey("acme") : `Bearer ${tenantKey("acme")}`
        const keys = yield* rawAnswer(
          base,
          `GET /v1/models HTTP/1.1\r\nHost: a\r\n${name}: ${value}\r\n${name.toUpperCase()}: ${value}\r\n` +
            "Connection: close\r\n\r\n"
        )
        expect(keys.statusLine).toMatch(/^HTTP\/1\.1 400 /)
        expect(keys.error).toMatchObject({
          type: "invalid_request_error",
          code,
          message: expect.stringContaining(name)
        })
      }
      const one = yield* rawAnswer(
        base,
        `GET /v1/models HTTP/1.1\r\nHost: a\r\napi-key: ${tenantKey("acme")}\r\nConnection: close\r\n\r\n`
      )
      expect(one.statusLine).toMatch(/^HTTP\/1\.1 200 /)
      const refused = () => lines.filter((line) => line.message === "gateway request" && line.outcome === "RepeatedKey")
      yield* eventually(Effect.sync(() => refused().length === 2), "the two refusals logged")
      expect(refused().map((line) => [line.status, line.path])).toEqual([[400, "/v1/models"], [400, "/v1/models"]])
    }))

  it.scopedLive("a request answered before its body is all sent gets one answer, not a 408 after it", () =>
    Effect.gen(function*() {
      const base = yield* serve(makeRuntime({ tenants: [{ id: "acme" }], routes: {} }), {
        headersTimeout: "300 millis",
        requestTimeout: "300 millis"
      })
      // No key: refused at once with a 401, while the client has sent 1 byte of the 100 it declared.
      const received = yield* rawExchange(
        base,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
          "Content-Length: 100\r\n\r\n{"
      )
      expect(received).toMatch(/^HTTP\/1\.1 401 /)
      expect(received.match(/HTTP\/1\.1 \d{3} /g)).toHaveLength(1)
    }))

  it.scopedLive("a request whose body comes too slowly gets a 408, and is logged and counted as one, not as a 499", () =>
    Effect.gen(function*() {
      const { layer, lines } = requestLogs()
      const base = yield* serve(makeRuntime({ tenants: [{ id: "acme" }], routes: {} }), {
        headersTimeout: "300 millis",
        requestTimeout: "300 millis"
      }).pipe(Effect.provide(layer))
      // A key, so the handler reads the body: 1 byte of the 100 declared, then nothing.
      const answer = yield* rawAnswer(
        base,
        `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${tenantKey("acme")}\r\n` +
          "X-Request-Id: slowbody-1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
      )
      expect(answer.statusLine).toMatch(/^HTTP\/1\.1 408 /)
      // The client's request id, which the log line has too.
      expect(answer.head).toContain("\r\nx-request-id: slowbody-1\r\n")
      const logged = () => lines.filter((line) => line.message === "gateway request")
      yield* eventually(Effect.sync(() => logged().length === 1), "the request log line")
      expect(logged()[0]).toMatchObject({ status: 408, outcome: "RequestTimeout", requestId: "slowbody-1" })
    }))

  it.scopedLive("cuts a slow-loris client that never finishes its headers", () =>
    Effect.gen(function*() {
      const runtime = makeRuntime({ tenants: [{ id: "acme" }], routes: {} })
      const base = yield* serve(runtime, { headersTimeout: "300 millis", requestTimeout: "300 millis" })
      const started = performance.now()
      const answer = yield* rawAnswer(base, "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
      expect(answer.statusLine).toMatch(/^HTTP\/1\.1 408 /)
      // OpenAI's error JSON, as every other answer of the gateway.
      expect(answer.error.code).toBe("request_timeout")
      expect(performance.now() - started).toBeLessThan(3_000)
    }))

  it.scopedLive("a second key behind 2000 other headers is seen and refused, not dropped by a header count", () =>
    Effect.gen(function*() {
      const base = yield* serve(makeRuntime({ tenants: [{ id: "acme" }], routes: {} }))
      const filler = Array.from({ length: 2000 }, (_, i) => `x-f${i}: 1\r\n`).join("")
      const value = `Bearer ${tenantKey("acme")}`
      const twice = yield* rawAnswer(
        base,
        `GET /v1/models HTTP/1.1\r\nHost: a\r\nAuthorization: ${value}\r\n${filler}Authorization: ${value}\r\n` +
          "Connection: close\r\n\r\n"
      )
      expect(twice.statusLine).toMatch(/^HTTP\/1\.1 400 /)
      expect(twice.error).toMatchObject({ code: "duplicate_authorization" })
      // And a key after them is read.
      const late = yield* rawExchange(
        base,
        `GET /v1/models HTTP/1.1\r\nHost: a\r\n${filler}Authorization: ${value}\r\nConnection: close\r\n\r\n`
      )
      expect(late).toMatch(/^HTTP\/1\.1 200 /)
    }))
})
