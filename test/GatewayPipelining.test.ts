/**
 * HTTP/1.1 pipelining: requests sent one after the other on a connection before their answers are answered in
 * order, and bytes that are not HTTP after a valid request do not cut that request's answer.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Scope } from "effect"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { build, chatBody, makeRuntime, rawExchange, serve, tenantKey } from "./support/gateway.js"
import { awaitRequests, openAiLayer } from "./support/loopback.js"

/** A gateway whose "gpt-4o" route answers "Paris" after 200 ms: in flight while the next bytes arrive. */
const slowGateway = Effect.gen(function*() {
  const paris = OpenAiMock.completion({ text: "Paris" }, { delay: "200 millis" })
  const server = yield* MockProvider.make({ script: [paris, paris] })
  const { service } = yield* build(openAiLayer(server, { retry: false }))
  const base = yield* serve(makeRuntime({ tenants: [{ id: "acme" }], routes: { "gpt-4o": service } }), {
    shutdownGrace: "10 seconds"
  })
  return { base, server }
})

const chatRequest = (id: string, extra = "") => {
  const body = chatBody("gpt-4o")
  return `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${tenantKey("acme")}\r\n` +
    `Content-Type: application/json\r\nX-Request-Id: ${id}\r\n${extra}Content-Length: ${
      Buffer.byteLength(body)
    }\r\n\r\n${body}`
}

/** The status lines and request ids of the answers in `received`, in order. */
const answers = (received: string) =>
  [...received.matchAll(/HTTP\/1\.1 (\d{3})[^\r]*\r\n(?:[^\r]+\r\n)*?x-request-id: ([^\r]+)\r\n/gi)].map((m) =>
    `${m[1]} ${m[2]}`
  )

describe("Gateway server: pipelined requests", () => {
  it.scopedLive("two requests sent at once on one connection are both answered, in order", () =>
    Effect.gen(function*() {
      const { base } = yield* slowGateway
      const received = yield* rawExchange(base, chatRequest("first") + chatRequest("second", "Connection: close\r\n"))
      expect(answers(received)).toEqual(["200 first", "200 second"])
      expect(received.match(/"content":"Paris"/g)).toHaveLength(2)
    }))

  it.scopedLive("bytes that are not HTTP after a valid request: its answer first, then the 400, then the close", () =>
    Effect.gen(function*() {
      const { base } = yield* slowGateway
      const received = yield* rawExchange(base, chatRequest("valid") + "HELLO?\r\n\r\n")
      expect(answers(received)).toEqual(["200 valid", expect.stringMatching(/^400 req_[0-9a-f]{32}$/)])
      expect(received).toContain("\"content\":\"Paris\"")
      expect(received).toContain("\"code\":\"bad_request\"")
    }))

  it.scopedLive("a shutdown while two pipelined requests are in flight answers both before it closes the connection", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const { base, server } = yield* Scope.extend(slowGateway, scope)
      const exchange = yield* Effect.fork(rawExchange(base, chatRequest("first") + chatRequest("second")))
      yield* awaitRequests(server, 2)
      yield* Scope.close(scope, Exit.void)
      const received = yield* Fiber.join(exchange)
      expect(answers(received)).toEqual(["200 first", "200 second"])
      expect(received.match(/"content":"Paris"/g)).toHaveLength(2)
    }))

  it.scopedLive("a shutdown during a stream: the requests pipelined behind it are answered too, the last closing", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const server = yield* MockProvider.make({
        script: [
          OpenAiMock.stream({ deltas: ["a", "b", "c", "d"] }, { chunkDelay: "100 millis" }),
          OpenAiMock.completion({ text: "Paris" })
        ]
      })
      const base = yield* Scope.extend(
        Effect.flatMap(
          build(openAiLayer(server, { retry: false })),
          ({ service }) =>
            serve(makeRuntime({ tenants: [{ id: "acme" }], routes: { "gpt-4o": service } }), {
              shutdownGrace: "10 seconds"
            })
        ),
        scope
      )
      const stream = chatRequest("stream").replace(chatBody("gpt-4o"), chatBody("gpt-4o", { stream: true }))
        .replace(/Content-Length: \d+/, `Content-Length: ${Buffer.byteLength(chatBody("gpt-4o", { stream: true }))}`)
      const models = `GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${
        tenantKey("acme")
      }\r\nX-Request-Id: models\r\n\r\n`
      const exchange = yield* Effect.fork(rawExchange(base, stream + chatRequest("whole") + models))
      yield* awaitRequests(server, 2)
      yield* Scope.close(scope, Exit.void)
      const received = yield* Fiber.join(exchange)
      expect(answers(received)).toEqual(["200 stream", "200 whole", "200 models"])
      expect(received).toContain("data: [DONE]")
      expect(received).toContain("\"content\":\"Paris\"")
      expect(received).toContain("\"id\":\"gpt-4o\"")
    }))
})
