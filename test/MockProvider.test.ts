import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Fiber, Option, TestClock, TestServices } from "effect"
import * as MockProvider from "../src/testing/MockProvider.js"

const request = (url: string, init?: RequestInit) => Effect.tryPromise(() => fetch(url, init))

const readJson = (response: Response) => Effect.tryPromise((): Promise<unknown> => response.json())

const readBytes = (response: Response) => Effect.tryPromise(async () => new Uint8Array(await response.arrayBuffer()))

// Reads the body chunk by chunk and keeps what arrived before a failure.
const drain = (response: Response) =>
  Effect.promise(async () => {
    const reader = response.body?.getReader()
    const decoder = new TextDecoder()
    let text = ""
    if (reader === undefined) return { text, failed: false }
    try {
      for (;;) {
        const { done, value } = await reader.read()
        if (done) return { text, failed: false }
        text += decoder.decode(value, { stream: true })
      }
    } catch {
      return { text, failed: true }
    }
  })

// One turn of the real event loop, so socket I/O can progress while the TestClock is frozen.
const tick = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

const eventually = (label: string, condition: Effect.Effect<boolean>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 2000; i++) {
      if (yield* condition) return
      yield* tick
    }
    return yield* Effect.dieMessage(`timed out waiting for ${label}`)
  })

const untilSleeping = (count: number) =>
  eventually(`${count} pending sleep(s)`, Effect.map(TestClock.sleeps(), (sleeps) => Chunk.size(sleeps) >= count))

const untilRequests = (server: MockProvider.MockProvider, count: number) =>
  eventually(`${count} request(s)`, Effect.map(server.requests, (requests) => requests.length >= count))

// Bounds a wait on the real clock even where the TestClock is in force; fails with a TimeoutException.
const within = <A, E, R>(self: Effect.Effect<A, E, R>) => TestServices.provideLive(Effect.timeout(self, "5 seconds"))

describe("MockProvider", () => {
  it.scoped("plays the script in order and records each request", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [MockProvider.json({ n: 1 })] })
      yield* server.push(MockProvider.json({ n: 2 }), MockProvider.json({ n: 3 }))
      expect(server.url).toBe(`http://127.0.0.1:${server.port}`)

      const headers = new Headers([["authorization", "Bearer sk-test"], ["X-Multi", "a"], ["X-Multi", "b"]])
      headers.set("content-type", "application/json")
      const first = yield* request(`${server.url}/v1/chat/completions?api-version=2024-10-21`, {
        method: "POST",
        headers,
        body: JSON.stringify({ model: "gpt-test", messages: [] })
      })
      expect(yield* readJson(first)).toEqual({ n: 1 })
      const second = yield* request(`${server.url}/v1/models`)
      expect(yield* readJson(second)).toEqual({ n: 2 })
      const third = yield* request(`${server.url}/raw`, { method: "PUT", body: "not json" })
      expect(yield* readJson(third)).toEqual({ n: 3 })

      const [a, b, c] = yield* server.requests
      expect(a).toMatchObject({
        method: "POST",
        path: "/v1/chat/completions?api-version=2024-10-21",
        bodyText: "{\"model\":\"gpt-test\",\"messages\":[]}",
        body: { model: "gpt-test", messages: [] },
        arrivedAt: 0
      })
      expect(a?.headers).toMatchObject({
        authorization: "Bearer sk-test",
        "content-type": "application/json",
        "x-multi": "a, b"
      })
      expect(b).toMatchObject({ method: "GET", path: "/v1/models", bodyText: "", body: undefined })
      expect(c).toMatchObject({ method: "PUT", path: "/raw", bodyText: "not json", body: undefined })
    }))

  it.scoped("consults route before the script", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [MockProvider.json({ from: "script" })],
        route: (request) => request.path === "/v1/models" ? MockProvider.json({ from: "route" }) : undefined
      })
      expect(yield* Effect.flatMap(request(`${server.url}/v1/models`), readJson)).toEqual({ from: "route" })
      expect(yield* Effect.flatMap(request(`${server.url}/v1/chat`), readJson)).toEqual({ from: "script" })
    }))

  it.scoped("sends JSON and error replies with status, headers and body", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [
          MockProvider.error(429, undefined, { headers: { "retry-after": "2" } }),
          MockProvider.json({ ok: true }, { status: 201, headers: { "x-request-id": "req_1" } })
        ]
      })
      const limited = yield* request(server.url)
      expect(limited.status).toBe(429)
      expect(limited.headers.get("retry-after")).toBe("2")
      expect(limited.headers.get("content-type")).toBe("application/json")
      expect(yield* readJson(limited)).toEqual({ error: { message: "mock error 429", type: "mock_error", code: null } })

      const created = yield* request(server.url)
      expect(created.status).toBe(201)
      expect(created.headers.get("x-request-id")).toBe("req_1")
      expect(yield* readJson(created)).toEqual({ ok: true })
    }))

  it.scoped("sends text replies byte for byte", () =>
    Effect.gen(function*() {
      const truncated = "{\"id\": \"chatcmpl-1\", \"choi"
      const server = yield* MockProvider.make({
        script: [
          MockProvider.text(truncated, { contentType: "application/json" }),
          MockProvider.text("héllo ✓\r\n", { status: 502 })
        ]
      })
      const first = yield* request(server.url)
      expect(first.headers.get("content-type")).toBe("application/json")
      expect(yield* readBytes(first)).toEqual(new Uint8Array(Buffer.from(truncated)))

      const second = yield* request(server.url)
      expect(second.status).toBe(502)
      expect(second.headers.get("content-type")).toBe("text/plain; charset=utf-8")
      expect(yield* readBytes(second)).toEqual(new Uint8Array(Buffer.from("héllo ✓\r\n")))
    }))

  it.scoped("sends SSE replies exactly, with and without [DONE]", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [MockProvider.sse([{ a: 1 }, "{not json"]), MockProvider.sse([{ b: 2 }], { done: false })]
      })
      const first = yield* request(server.url)
      expect(first.headers.get("content-type")).toBe("text/event-stream")
      expect(yield* drain(first)).toEqual({
        text: "data: {\"a\":1}\n\ndata: {not json\n\ndata: [DONE]\n\n",
        failed: false
      })
      expect(yield* drain(yield* request(server.url))).toEqual({ text: "data: {\"b\":2}\n\n", failed: false })
    }))

  it.scoped("cutAfter drops the connection after exactly that many chunks", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [
          MockProvider.sse([{ n: 1 }, { n: 2 }, { n: 3 }], { cutAfter: 2 }),
          MockProvider.stream(["never sent"], { cutAfter: 0, status: 200 })
        ]
      })
      expect(yield* drain(yield* request(server.url))).toEqual({
        text: "data: {\"n\":1}\n\ndata: {\"n\":2}\n\n",
        failed: true
      })
      const headersOnly = yield* request(server.url)
      expect(headersOnly.status).toBe(200)
      expect(yield* drain(headersOnly)).toEqual({ text: "", failed: true })
      // The server's own cuts are not client closes.
      expect(yield* server.closedConnections).toBe(0)
    }))

  it.scoped("disconnect makes the request fail, and the script goes on", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [MockProvider.disconnect, MockProvider.json({ ok: true })] })
      const exit = yield* Effect.exit(request(server.url))
      expect(Exit.isFailure(exit)).toBe(true)
      expect(yield* Effect.flatMap(request(server.url), readJson)).toEqual({ ok: true })
      expect((yield* server.requests).length).toBe(2)
      expect(yield* server.closedConnections).toBe(0)
    }))

  it.scoped("answers a non-retryable 400 saying so once the script is exhausted, and records the request", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [MockProvider.json({ ok: true })] })
      expect((yield* request(server.url)).status).toBe(200)
      const first = yield* request(`${server.url}/v1/chat/completions`, { method: "POST", body: "{}" })
      expect(first.status).toBe(400)
      const message = "MockProvider: script exhausted: request 2 has no scripted reply"
      expect(yield* readJson(first)).toEqual({
        type: "error",
        message,
        error: { type: "mock_script_exhausted", code: "mock_script_exhausted", status: "FAILED_PRECONDITION", message }
      })
      expect(yield* Effect.flatMap(request(server.url), readJson)).toMatchObject({
        error: { message: "MockProvider: script exhausted: request 3 has no scripted reply" }
      })
      expect((yield* server.requests).map((recorded) => recorded.path)).toEqual(["/", "/v1/chat/completions", "/"])

      const custom = yield* MockProvider.make({ onExhausted: MockProvider.json({ fallback: true }, { status: 418 }) })
      for (let i = 0; i < 2; i++) {
        const response = yield* request(custom.url)
        expect(response.status).toBe(418)
        expect(yield* readJson(response)).toEqual({ fallback: true })
      }
    }))

  it.scoped("fromRequest replies are made from the recorded request, wherever they come from", () =>
    Effect.gen(function*() {
      const echo = MockProvider.fromRequest((recorded) =>
        MockProvider.json({ path: recorded.path, asked: (recorded.body as { model?: string } | undefined)?.model })
      )
      const server = yield* MockProvider.make({
        script: [echo, MockProvider.fromRequest(() => echo)],
        route: (recorded) => recorded.path === "/routed" ? echo : undefined,
        onExhausted: echo
      })
      const ask = (path: string, model: string) =>
        Effect.flatMap(request(`${server.url}${path}`, { method: "POST", body: JSON.stringify({ model }) }), readJson)
      expect(yield* ask("/a", "m1")).toEqual({ path: "/a", asked: "m1" })
      expect(yield* ask("/b", "m2")).toEqual({ path: "/b", asked: "m2" })
      expect(yield* ask("/routed", "m3")).toEqual({ path: "/routed", asked: "m3" })
      expect(yield* ask("/c", "m4")).toEqual({ path: "/c", asked: "m4" })

      const broken = yield* MockProvider.make({
        script: [MockProvider.fromRequest(() => {
          throw new Error("reply exploded")
        })]
      })
      const failed = yield* request(broken.url)
      expect(failed.status).toBe(500)
      expect(yield* readJson(failed)).toMatchObject({
        error: { message: "MockProvider: internal error: reply exploded" }
      })
    }))

  it.scoped("answers 500 instead of throwing when a reply cannot be produced", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [MockProvider.json({ big: BigInt(1) })],
        route: (request) => {
          if (request.path === "/boom") throw new Error("route exploded")
          return undefined
        }
      })
      const boom = yield* request(`${server.url}/boom`)
      expect(boom.status).toBe(500)
      expect(yield* readJson(boom)).toEqual({
        error: { message: "MockProvider: internal error: route exploded", type: "mock_internal_error" }
      })
      const bigint = yield* request(server.url)
      expect(bigint.status).toBe(500)
      expect(yield* readJson(bigint)).toMatchObject({ error: { type: "mock_internal_error" } })
    }))

  it.scoped("delay elapses only on the TestClock, and arrivedAt is virtual time", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [MockProvider.error(503), MockProvider.json({ ok: true }, { delay: "2 seconds" })]
      })
      expect((yield* request(server.url)).status).toBe(503)
      yield* TestClock.adjust("5 seconds")

      const pending = yield* Effect.fork(Effect.flatMap(request(server.url), readJson))
      yield* untilSleeping(1)
      yield* TestClock.adjust("1999 millis")
      for (let i = 0; i < 20; i++) yield* tick
      expect(Option.isNone(yield* Fiber.poll(pending))).toBe(true)

      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(pending)).toEqual({ ok: true })
      expect((yield* server.requests).map((request) => request.arrivedAt)).toEqual([0, 5000])
    }))

  it.scoped("stream headers arrive before the first chunkDelay; chunks follow the TestClock", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [MockProvider.sse([{ n: 1 }, { n: 2 }], { chunkDelay: "1 second" })]
      })
      const response = yield* request(server.url)
      expect(response.status).toBe(200)
      const body = yield* Effect.fork(drain(response))
      // Three chunks ([DONE] included), each behind its own one-second sleep.
      for (let chunk = 0; chunk < 3; chunk++) {
        yield* untilSleeping(1)
        expect(Option.isNone(yield* Fiber.poll(body))).toBe(true)
        yield* TestClock.adjust("1 second")
      }
      expect(yield* Fiber.join(body)).toEqual({
        text: "data: {\"n\":1}\n\ndata: {\"n\":2}\n\ndata: [DONE]\n\n",
        failed: false
      })
    }))

  it.scoped("a client abort during a hang is observed and counted", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [MockProvider.hang, MockProvider.json({ after: true })] })
      const controller = new AbortController()
      const pending = yield* Effect.fork(Effect.exit(request(server.url, { signal: controller.signal })))
      yield* untilRequests(server, 1)
      expect(yield* server.closedConnections).toBe(0)

      controller.abort()
      yield* within(server.awaitClientClose)
      expect(yield* server.closedConnections).toBe(1)
      expect(Exit.isFailure(yield* Fiber.join(pending))).toBe(true)
      expect(yield* Effect.flatMap(request(server.url), readJson)).toEqual({ after: true })
    }))

  it.scoped("a client abort during a slow stream interrupts the reply", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [MockProvider.sse([{ n: 1 }, { n: 2 }, { n: 3 }], { chunkDelay: "1 second" })]
      })
      const controller = new AbortController()
      const response = yield* request(server.url, { signal: controller.signal })
      const reader = response.body!.getReader()
      yield* untilSleeping(1)
      yield* TestClock.adjust("1 second")
      const chunk = yield* Effect.promise(() => reader.read())
      expect(new TextDecoder().decode(chunk.value)).toBe("data: {\"n\":1}\n\n")

      controller.abort()
      yield* within(server.awaitClientClose)
      expect(yield* server.closedConnections).toBe(1)
    }))

  it.scopedLive("closing the scope ends in-flight replies without counting them as client closes", () =>
    Effect.gen(function*() {
      const { pending, server } = yield* Effect.scoped(Effect.gen(function*() {
        const server = yield* MockProvider.make({ script: [MockProvider.hang] })
        const pending = yield* Effect.fork(Effect.exit(request(server.url)))
        yield* untilRequests(server, 1)
        return { pending, server }
      }))
      const exit = yield* Effect.timeout(Fiber.join(pending), "5 seconds")
      expect(Exit.isFailure(exit)).toBe(true)
      expect(yield* server.closedConnections).toBe(0)
    }))
})
