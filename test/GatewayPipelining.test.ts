/**
 * HTTP/1.1 pipelining: requests sent one after the other on a connection before their answers are answered in
 * order, and bytes that are not HTTP after a valid request do not cut that request's answer.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Scope } from "effect"
import * as Net from "node:net"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import * as TestModel from "../src/testing/TestModel.js"
import { build, chatBody, makeRuntime, rawExchange, requestLogs, serve, tenantKey } from "./support/gateway.js"
import { awaitRequests, eventually, openAiLayer } from "./support/loopback.js"

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

  it.scopedLive("requests left unanswered on a connection the client closed hold nothing: a shutdown after is not held", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const { layer, lines } = requestLogs()
      const paris = OpenAiMock.completion({ text: "Paris" }, { delay: "200 millis" })
      const server = yield* MockProvider.make({ script: Array.from({ length: 10 }, () => paris) })
      const { service } = yield* build(openAiLayer(server, { retry: false }))
      const base = yield* Scope.extend(
        serve(makeRuntime({ tenants: [{ id: "acme" }], routes: { "gpt-4o": service } }), {
          shutdownGrace: "30 seconds"
        }).pipe(Effect.provide(layer)),
        scope
      )
      // Ten completions in one write, the connection closed once the provider has them all.
      const socket = Net.connect(Number(new URL(base).port), "127.0.0.1")
      socket.on("error", () => {})
      socket.write(Array.from({ length: 10 }, (_, i) => chatRequest(`r${i}`)).join(""))
      yield* awaitRequests(server, 10)
      socket.destroy()
      const logged = () => lines.filter((line) => line.message === "gateway request")
      yield* eventually(Effect.sync(() => logged().length === 10), "ten request log lines")
      // None answered, none served for no one: each left as its client left.
      expect(new Set(logged().map((line) => `${line.status} ${line.outcome}`))).toEqual(new Set(["499 interrupted"]))
      // Nothing is left waiting for an answer: the shutdown ends at once, not after its grace.
      yield* Scope.close(scope, Exit.void)
      expect(lines.filter((line) => String(line.message).includes("grace period over"))).toEqual([])
    }))

  it.scopedLive("a request pipelined behind a 413 that closes the connection is not served", () =>
    Effect.gen(function*() {
      const model = yield* TestModel.make([{ text: "Paris" }, { text: "Paris" }])
      const base = yield* serve(makeRuntime({
        tenants: [{ id: "acme" }],
        routes: { "gpt-4o": model.service },
        settings: { maxBodyBytes: 1024 }
      }))
      const big = JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "x".repeat(4096) }] })
      const over = `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${
        tenantKey("acme")
      }\r\nContent-Type: application/json\r\nX-Request-Id: big\r\nContent-Length: ${
        Buffer.byteLength(big)
      }\r\n\r\n${big}`
      const received = yield* rawExchange(base, over + chatRequest("after"))
      expect(answers(received)).toEqual(["413 big"])
      expect(yield* model.requests).toEqual([])
    }))

  it.scopedLive("a client that leaves during a stream: the completion pipelined behind it is not served for no one", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [
          OpenAiMock.stream({ deltas: ["a", "b", "c", "d", "e"] }, { chunkDelay: "200 millis" }),
          OpenAiMock.completion({ text: "Paris" }, { delay: "1 second" })
        ]
      })
      const { layer, lines } = requestLogs()
      const { service } = yield* build(openAiLayer(server, { retry: false }))
      const base = yield* serve(makeRuntime({ tenants: [{ id: "acme" }], routes: { "gpt-4o": service } })).pipe(
        Effect.provide(layer)
      )
      const streamBody = chatBody("gpt-4o", { stream: true })
      const stream = chatRequest("stream").replace(chatBody("gpt-4o"), streamBody)
        .replace(/Content-Length: \d+/, `Content-Length: ${Buffer.byteLength(streamBody)}`)
      // The first token read, the connection closed: the completion behind the stream is never answered.
      yield* Effect.async<void>((resume) => {
        const socket = Net.connect(
          Number(new URL(base).port),
          "127.0.0.1",
          () => socket.write(stream + chatRequest("whole"))
        )
        socket.on("data", (data) => {
          if (data.toString().includes("\"content\":\"a\"")) socket.destroy()
        })
        socket.on("error", () => {})
        socket.on("close", () => resume(Effect.void))
      })
      const logged = () => lines.filter((line) => line.message === "gateway request")
      yield* eventually(Effect.sync(() => logged().length === 2), "two request log lines")
      expect(logged().find((line) => line.requestId === "whole")).toMatchObject({
        status: 499,
        outcome: "interrupted",
        costUsd: null
      })
    }))
})
