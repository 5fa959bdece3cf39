import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer, Scope, Stream } from "effect"
import * as TestClock from "effect/TestClock"
import * as os from "node:os"
import * as Budget from "../src/Budget.js"
import type * as Server from "../src/gateway/Server.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import * as Retry from "../src/Retry.js"
import type * as StreamPart from "../src/StreamPart.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { environment, inputTokens, usd } from "./support/budget.js"
import {
  build,
  call,
  chatBody,
  json,
  makeRuntime,
  rawExchange,
  requestLogs,
  serve,
  sseEvents,
  tenantKey,
  withContext
} from "./support/gateway.js"
import { awaitSleepUntil, eventually, openAiLayer } from "./support/loopback.js"

const streamBody = (extra: Record<string, unknown> = {}) => chatBody("gpt-4o", { stream: true, ...extra })

/** A gateway whose "gpt-4o" route is the OpenAI provider over `server`, without retries. */
const overMock = (server: MockProvider.MockProvider, options: Omit<Server.LayerOptions, "runtime"> = {}) =>
  Effect.gen(function*() {
    const { service } = yield* build(openAiLayer(server, { retry: false }))
    return yield* serve(makeRuntime({ tenants: [{ id: "acme" }], routes: { "gpt-4o": service } }), options)
  })

/** A model whose stream waits for `gate`, then plays `parts`, then fails with `error` when given. */
const gated = (
  gate: Deferred.Deferred<void>,
  parts: ReadonlyArray<StreamPart.StreamPart>,
  error?: LlmError.LlmError
) =>
  LanguageModel.make({
    provider: "gated",
    generate: () => Effect.die("unused"),
    stream: () => {
      const played = Stream.concat(
        Stream.fromEffect(Deferred.await(gate)).pipe(Stream.drain),
        Stream.fromIterable(parts)
      )
      return error === undefined ? played : Stream.concat(played, Stream.fail(error))
    }
  })

/**
 * A route to a mock that streams "Hel" and "lo" then hangs, through a budget of tenant "acme": what a client
 * that leaves, or a shutdown, cuts short.
 */
const budgetedHang = Effect.gen(function*() {
  const server = yield* MockProvider.make({
    script: [
      MockProvider.sse(OpenAiMock.streamEvents({ deltas: ["Hel", "lo"] }).slice(0, 3), { hang: true, done: false })
    ]
  })
  const budgeted = yield* build(
    Budget.layer(openAiLayer(server, { retry: false }), { tenants: { acme: { limitUsd: 1000, period: "day" } } })
      .pipe(Layer.provideMerge(environment), Layer.orDie)
  )
  return { server, budgeted, route: withContext(budgeted.service, budgeted.context) }
})

const answer: ReadonlyArray<StreamPart.StreamPart> = [
  { type: "response-metadata", provider: "gated", model: "gated-1" },
  { type: "text-delta", text: "Paris" },
  { type: "finish", finishReason: "stop" }
]

const decoder = new TextDecoder()
const readChunk = (reader: ReadableStreamDefaultReader<Uint8Array>) =>
  Effect.promise(() => reader.read()).pipe(Effect.map((read) => read.done ? undefined : decoder.decode(read.value)))

describe("Gateway server: streams", () => {
  it.scopedLive("streams SSE chunks with the proxy-safe headers, who answers, and a usage chunk when asked", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [OpenAiMock.stream({ deltas: ["Hel", "lo"] })] })
      const base = yield* overMock(server)
      const response = yield* call(base, "/v1/chat/completions", {
        method: "POST",
        body: streamBody({ stream_options: { include_usage: true } })
      })
      expect(response.status).toBe(200)
      const h = response.headers
      expect(h.get("content-type")).toBe("text/event-stream; charset=utf-8")
      expect(h.get("cache-control")).toBe("no-cache")
      expect(h.get("x-accel-buffering")).toBe("no")
      expect(h.get("x-liter-provider")).toBe("openai")
      expect(h.get("x-liter-model")).toBe("gpt-4o")
      expect(h.get("x-liter-cache")).toBe("miss")
      expect(h.get("x-request-id")).toMatch(/^req_/)
      const events = sseEvents(yield* Effect.promise(() => response.text())) as Array<any>
      expect(events.at(-1)).toBe("[DONE]")
      const chunks = events.slice(0, -1)
      expect(chunks.every((chunk) => chunk.object === "chat.completion.chunk" && chunk.model === "gpt-4o")).toBe(true)
      expect(chunks.map((chunk) => chunk.choices[0]?.delta?.content ?? "").join("")).toBe("Hello")
      expect(chunks.at(-1).usage).toEqual({ prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 })
    }))

  it.scopedLive("a failure before the first content part is an HTTP error status with its retry headers", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [OpenAiMock.error(429, "rate_limit_exceeded", { headers: { "retry-after": "7" } })]
      })
      const base = yield* overMock(server)
      const response = yield* call(base, "/v1/chat/completions", { method: "POST", body: streamBody() })
      expect(response.status).toBe(429)
      expect(response.headers.get("retry-after")).toBe("7")
      expect(response.headers.get("content-type")).toBe("application/json")
      // A JSON error: none of the stream's own headers.
      expect(response.headers.get("x-accel-buffering")).toBeNull()
      expect(response.headers.get("cache-control")).toBeNull()
      expect((yield* json(response)).error.code).toBe("upstream_rate_limited")
    }))

  it.scopedLive("a defect before the first content part is a 500 internal_error JSON, not a 200 and an error event", () =>
    Effect.gen(function*() {
      const dying = LanguageModel.make({
        provider: "dying",
        generate: () => Effect.die("unused"),
        stream: () => Stream.die(new RangeError("Maximum call stack size exceeded"))
      })
      const { layer: logs, lines } = requestLogs()
      const base = yield* serve(makeRuntime({ tenants: [{ id: "acme" }], routes: { "gpt-4o": dying } })).pipe(
        Effect.provide(logs)
      )
      const response = yield* call(base, "/v1/chat/completions", { method: "POST", body: streamBody() })
      expect(response.status).toBe(500)
      expect(response.headers.get("content-type")).toBe("application/json")
      expect((yield* json(response)).error.code).toBe("internal_error")
      yield* eventually(
        Effect.sync(() => lines.some((line) => line.outcome === "defect" && line.status === 500)),
        "the request logged as a defect, 500"
      )
      expect(lines.some((line) => String(line.message).includes("failed unexpectedly"))).toBe(true)
    }))

  it.scopedLive("a stream that fails after its 200 is logged at ERROR with the error's tag, as its 5xx would be", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      yield* Deferred.succeed(gate, undefined)
      const cut = new LlmError.NetworkError({ provider: "gated", message: "the connection closed" })
      const routes = {
        cut: gated(gate, [{ type: "text-delta", text: "Hel" }], cut),
        blocked: gated(
          gate,
          [{ type: "text-delta", text: "Hel" }],
          new LlmError.GuardrailBlocked({
            provider: "gated",
            stage: "output",
            guardrail: "deny-list",
            reason: "a denied term",
            message: "blocked"
          })
        )
      }
      const { layer: logs, lines } = requestLogs()
      const base = yield* serve(makeRuntime({ tenants: [{ id: "acme" }], routes })).pipe(Effect.provide(logs))
      for (const route of ["cut", "blocked"]) {
        const response = yield* call(base, "/v1/chat/completions", {
          method: "POST",
          body: chatBody(route, { stream: true })
        })
        expect(response.status).toBe(200)
        yield* Effect.promise(() => response.text())
      }
      const logged = () => lines.filter((line) => line.message === "gateway request")
      yield* eventually(Effect.sync(() => logged().length === 2), "two request lines")
      expect(logged().map((line) => [line.route, line.status, line.outcome, line.logLevel])).toEqual([
        ["cut", 200, "NetworkError", "ERROR"],
        // A policy's verdict, answered 400 had it come first: no incident.
        ["blocked", 200, "GuardrailBlocked", "INFO"]
      ])
    }))

  it.scopedLive("a stream that fails before content after the route's retries says x-should-retry: false", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ onExhausted: OpenAiMock.error(503, "overloaded") })
      const { service } = yield* build(
        openAiLayer(server, { retry: Retry.policy({ times: 2, base: 0, cap: 0 }) })
      )
      const base = yield* serve(makeRuntime({ tenants: [{ id: "acme" }], routes: { "gpt-4o": service } }))
      const response = yield* call(base, "/v1/chat/completions", { method: "POST", body: streamBody() })
      expect(response.status).toBe(503)
      expect((yield* server.requests).length).toBe(3)
      // The route already made three attempts: the SDKs' own retries would repeat all of them.
      expect(response.headers.get("x-should-retry")).toBe("false")
    }))

  it.scopedLive("a failure after content is one error event and the end: no [DONE], nothing spliced", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [OpenAiMock.stream({ deltas: ["a", "b", "c", "d"] }, { cutAfter: 3 })]
      })
      const base = yield* overMock(server)
      const response = yield* call(base, "/v1/chat/completions", { method: "POST", body: streamBody() })
      expect(response.status).toBe(200)
      const events = sseEvents(yield* Effect.promise(() => response.text())) as Array<any>
      const last = events.at(-1)
      expect(last.error).toMatchObject({ code: "stream_interrupted", type: "server_error" })
      expect(events).not.toContain("[DONE]")
      expect(events.slice(0, -1).map((chunk) => chunk.choices[0].delta.content ?? "").join("")).toBe("ab")
    }))

  it.scopedLive("a client that disconnects aborts the upstream call at once and is charged for what it got", () =>
    Effect.gen(function*() {
      const { budgeted, route, server } = yield* budgetedHang
      const { layer: logs, lines } = requestLogs()
      const base = yield* serve(makeRuntime({ tenants: [{ id: "acme" }], routes: { m: route } })).pipe(
        Effect.provide(logs)
      )
      const controller = new AbortController()
      const response = yield* call(base, "/v1/chat/completions", {
        method: "POST",
        body: chatBody("m", { stream: true, max_tokens: 50 }),
        signal: controller.signal
      })
      const reader = response.body!.getReader()
      let received = ""
      while (!received.includes("lo")) {
        const chunk = yield* readChunk(reader)
        if (chunk === undefined) return expect.fail(`the stream ended early: ${received}`)
        received += chunk
      }
      const abortedAt = performance.now()
      controller.abort()
      yield* server.awaitClientClose.pipe(Effect.timeoutFail({ duration: "2 seconds", onTimeout: () => "no close" }))
      // 100 ms on an idle machine; scaled by the load of a shared one (a timer-based cleanup would take seconds,
      // and without propagation the mock never sees a close: it hangs until its client goes away).
      const loaded = Math.max(1, os.loadavg()[0]! / os.cpus().length)
      expect(performance.now() - abortedAt).toBeLessThan(100 * loaded)
      // Charged for the 10 input tokens and the 5 characters (one token each) received, nothing held.
      const status = Budget.status("acme").pipe(Effect.provide(budgeted.context), Effect.orDie)
      yield* eventually(Effect.map(status, (s) => s?.reservedUsd === 0), "the reservation settled")
      expect(yield* status).toMatchObject({ spentUsd: usd(inputTokens, 5), reservedUsd: 0 })
      // Logged as a request the client cut short, after its 200 went out.
      const logged = () => lines.filter((line) => line.message === "gateway request")
      yield* eventually(Effect.sync(() => logged().length === 1), "the request log line")
      expect(logged()[0]).toMatchObject({ status: 200, outcome: "interrupted", stream: true })
    }))

  it.scopedLive("a client that leaves before the first token is logged as 499, interrupted; the route is interrupted", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      const interrupted = yield* Deferred.make<void>()
      const route = LanguageModel.make({
        provider: "gated",
        generate: () => Effect.die("unused"),
        stream: () =>
          Stream.fromEffect(
            Deferred.succeed(started, undefined).pipe(
              Effect.zipRight(Deferred.await(gate)),
              Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))
            )
          ).pipe(Stream.drain)
      })
      const { layer: logs, lines } = requestLogs()
      const base = yield* serve(makeRuntime({ tenants: [{ id: "acme" }], routes: { "gpt-4o": route } }), {
        holdHeaders: "10 seconds"
      }).pipe(Effect.provide(logs))
      const controller = new AbortController()
      const pending = yield* Effect.fork(
        call(base, "/v1/chat/completions", { method: "POST", body: streamBody(), signal: controller.signal })
      )
      // Left while the route waits for its first token.
      yield* Deferred.await(started)
      controller.abort()
      yield* Fiber.await(pending)
      yield* Deferred.await(interrupted).pipe(Effect.timeoutFail({ duration: "2 seconds", onTimeout: () => "not cut" }))
      const logged = () => lines.filter((line) => line.message === "gateway request")
      yield* eventually(Effect.sync(() => logged().length === 1), "the request log line")
      expect(logged()[0]).toMatchObject({ status: 499, outcome: "interrupted", stream: true })
    }))

  it.scoped("a slow first token commits a 200 after holdHeaders and sends `: ping` every keepAlive", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const base = yield* serve(
        makeRuntime({ tenants: [{ id: "acme" }], routes: { "gpt-4o": gated(gate, answer) } }),
        { holdHeaders: "1 second", keepAlive: "500 millis" }
      )
      const pending = yield* Effect.fork(call(base, "/v1/chat/completions", { method: "POST", body: streamBody() }))
      yield* awaitSleepUntil(1000)
      yield* TestClock.adjust("1 second")
      const response = yield* Fiber.join(pending)
      expect(response.status).toBe(200)
      // Committed before anyone answered: who answers is not known in the headers.
      expect(response.headers.get("x-liter-provider")).toBeNull()
      const reader = response.body!.getReader()
      expect(yield* readChunk(reader)).toBe(": ping\n\n")
      yield* awaitSleepUntil(1500)
      yield* TestClock.adjust("500 millis")
      expect(yield* readChunk(reader)).toBe(": ping\n\n")
      yield* Deferred.succeed(gate, undefined)
      let rest = ""
      for (let chunk = yield* readChunk(reader); chunk !== undefined; chunk = yield* readChunk(reader)) rest += chunk
      const events = sseEvents(rest) as Array<any>
      expect(events[0].choices[0].delta.content).toBe("Paris")
      expect(events.at(-1)).toBe("[DONE]")
    }))

  it.scoped("a failure within holdHeaders is a status; after the commit it is an error event", () =>
    Effect.gen(function*() {
      const overloaded = new LlmError.Overloaded({ provider: "gated", message: "gated: overloaded" })
      const early = yield* Deferred.make<void>()
      const late = yield* Deferred.make<void>()
      const runtime = makeRuntime({
        tenants: [{ id: "acme" }],
        routes: { early: gated(early, [], overloaded), late: gated(late, [], overloaded) }
      })
      const base = yield* serve(runtime, { holdHeaders: "1 second", keepAlive: "10 seconds" })
      yield* Deferred.succeed(early, undefined)
      const status = yield* call(base, "/v1/chat/completions", {
        method: "POST",
        body: chatBody("early", { stream: true })
      })
      expect(status.status).toBe(503)
      const pending = yield* Effect.fork(
        call(base, "/v1/chat/completions", { method: "POST", body: chatBody("late", { stream: true }) })
      )
      yield* awaitSleepUntil(1000)
      yield* TestClock.adjust("1 second")
      const committed = yield* Fiber.join(pending)
      expect(committed.status).toBe(200)
      yield* Deferred.succeed(late, undefined)
      const events = sseEvents(yield* Effect.promise(() => committed.text())) as Array<any>
      expect(events[0]).toEqual({ comment: "ping" })
      expect(events.at(-1).error.code).toBe("upstream_overloaded")
      expect(events).not.toContain("[DONE]")
    }))

  it.scoped("shutdown lets a stream in flight finish within the grace period and refuses new connections", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const scope = yield* Scope.make()
      const runtime = makeRuntime({ tenants: [{ id: "acme" }], routes: { "gpt-4o": gated(gate, answer) } })
      const base = yield* serve(runtime, { holdHeaders: 0, shutdownGrace: "30 seconds" }).pipe(Scope.extend(scope))
      const response = yield* call(base, "/v1/chat/completions", { method: "POST", body: streamBody() })
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* awaitSleepUntil(30_000)
      const refused = yield* Effect.either(Effect.tryPromise(() => fetch(`${base}/health`)))
      expect(refused._tag).toBe("Left")
      yield* Deferred.succeed(gate, undefined)
      const events = sseEvents(yield* Effect.promise(() => response.text())) as Array<any>
      expect(events.at(-1)).toBe("[DONE]")
      yield* Fiber.join(closing)
    }))

  it.scoped("a completion that started before the shutdown and answers within the grace says connection: close", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const called = yield* Deferred.make<void>()
      const slow = LanguageModel.make({
        provider: "slow",
        generate: () =>
          Effect.as(Effect.zipRight(Deferred.succeed(called, undefined), Deferred.await(gate)), {
            id: "late-1",
            content: [{ type: "text" as const, text: "late" }],
            finishReason: "stop" as const,
            provider: "slow",
            model: "gpt-4o",
            usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 }
          }),
        stream: () => Stream.die("unused")
      })
      const scope = yield* Scope.make()
      const base = yield* serve(makeRuntime({ tenants: [{ id: "acme" }], routes: { "gpt-4o": slow } }), {
        shutdownGrace: "30 seconds"
      }).pipe(Scope.extend(scope))
      const answered = yield* Effect.fork(
        call(base, "/v1/chat/completions", { method: "POST", body: chatBody("gpt-4o") })
      )
      // The request is in the route before the shutdown starts.
      yield* Deferred.await(called)
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* awaitSleepUntil(30_000)
      yield* Deferred.succeed(gate, undefined)
      const response = yield* Fiber.join(answered)
      expect(response.status).toBe(200)
      expect(response.headers.get("connection")).toBe("close")
      yield* Fiber.join(closing)
    }))

  it.scoped("after the grace period, shutdown interrupts a stream: upstream aborted, usage charged", () =>
    Effect.gen(function*() {
      const { budgeted, route, server } = yield* budgetedHang
      const scope = yield* Scope.make()
      const { layer: logs, lines } = requestLogs()
      const base = yield* serve(makeRuntime({ tenants: [{ id: "acme" }], routes: { m: route } }), {
        holdHeaders: 0,
        shutdownGrace: "5 seconds"
      }).pipe(Scope.extend(scope), Effect.provide(logs))
      const response = yield* call(base, "/v1/chat/completions", {
        method: "POST",
        body: chatBody("m", { stream: true, max_tokens: 50 })
      })
      const reader = response.body!.getReader()
      let received = ""
      while (!received.includes("lo")) {
        const chunk = yield* readChunk(reader)
        if (chunk === undefined) return expect.fail(`the stream ended early: ${received}`)
        received += chunk
      }
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* awaitSleepUntil(5_000)
      yield* TestClock.adjust("5 seconds")
      yield* server.awaitClientClose.pipe(Effect.timeoutFail({ duration: "2 seconds", onTimeout: () => "no close" }))
      yield* Fiber.join(closing)
      const status = yield* Budget.status("acme").pipe(Effect.provide(budgeted.context))
      expect(status).toMatchObject({ spentUsd: usd(inputTokens, 5), reservedUsd: 0 })
      // The client learns why its stream ended, in an error event, and the body ends cleanly (not a reset).
      let rest = ""
      for (let chunk = yield* readChunk(reader); chunk !== undefined; chunk = yield* readChunk(reader)) rest += chunk
      expect(sseEvents(rest).at(-1)).toMatchObject({
        error: { type: "server_error", code: "server_shutting_down" }
      })
      // Logged as its 503 would be: at ERROR, with the status its headers had.
      const logged = lines.filter((line) => line.message === "gateway request")
      expect(logged.map((line) => [line.status, line.outcome, line.logLevel])).toEqual([[200, "interrupted", "ERROR"]])
    }))

  it.scoped("after the grace period, a completion still waiting gets a 503 server_shutting_down, logged as such", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [MockProvider.hang] })
      const built = yield* build(openAiLayer(server, { retry: false }).pipe(Layer.provideMerge(environment)))
      const { layer, lines } = requestLogs()
      const scope = yield* Scope.make()
      const base = yield* serve(
        makeRuntime({ tenants: [{ id: "acme" }], routes: { m: withContext(built.service, built.context) } }),
        { shutdownGrace: "5 seconds" }
      ).pipe(Scope.extend(scope), Effect.provide(layer))
      const answered = yield* Effect.fork(call(base, "/v1/chat/completions", { method: "POST", body: chatBody("m") }))
      yield* eventually(Effect.map(server.requests, (requests) => requests.length === 1), "the upstream call")
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* awaitSleepUntil(5_000)
      yield* TestClock.adjust("5 seconds")
      const response = yield* Fiber.join(answered)
      yield* Fiber.join(closing)
      expect(response.status).toBe(503)
      expect((yield* json(response)).error).toMatchObject({ type: "server_error", code: "server_shutting_down" })
      const logged = lines.filter((line) => line.message === "gateway request")
      expect(logged).toHaveLength(1)
      expect(logged[0]).toMatchObject({ status: 503, outcome: "interrupted" })
      // Its request id, as on every answer: the one the log line has.
      expect(response.headers.get("x-request-id")).toBe(logged[0]!.requestId)
    }))

  it.scopedLive("a stream to an HTTP/1.0 client, which has no chunked framing, says connection: close, not keep-alive", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      yield* Deferred.succeed(gate, undefined)
      const base = yield* serve(makeRuntime({ tenants: [{ id: "acme" }], routes: { chat: gated(gate, answer) } }))
      const body = chatBody("chat", { stream: true })
      const received = yield* rawExchange(
        base,
        `POST /v1/chat/completions HTTP/1.0\r\nAuthorization: Bearer ${tenantKey("acme")}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
      )
      const head = received.slice(0, received.indexOf("\r\n\r\n")).toLowerCase()
      expect(head).toMatch(/^http\/1\.1 200 /)
      expect(head).toContain("\r\nconnection: close")
      expect(head).not.toContain("keep-alive")
      expect(received.trimEnd().endsWith("data: [DONE]")).toBe(true)
    }))
})
