/**
 * A body over `maxBodyBytes`, as raw clients send it over loopback: the client reads the 413 and its JSON
 * rather than a reset, whether it sends the whole body before reading (as Python's `http.client` does) or waits
 * for `100 Continue` (as curl does for a big body), which an over-limit body never gets. A body that arrives
 * slowly is logged as the client's time, not the gateway's.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import * as Http from "node:http"
import * as Net from "node:net"
import * as Body from "../src/gateway/http/body.js"
import * as TestModel from "../src/testing/TestModel.js"
import { chatBody, makeRuntime, requestLogs, serve, tenantKey } from "./support/gateway.js"
import { eventually } from "./support/loopback.js"

const limit = 1024 * 1024
const chunk = Buffer.alloc(64 * 1024, "x")
// 5 MiB: more than loopback's socket buffers hold while the server does not read (with 3 MiB a reset is rare on
// loopback, common over a network), and less than the limit plus what the server discards past it.
const chunks = 80

interface Exchanged {
  /** Every byte the server sent, as text. */
  readonly received: string
  /** The socket's error (a reset, a broken pipe), if any. */
  readonly error: string | undefined
}

/**
 * One request over a raw socket: `head`, then each of `body` once the previous one is written (backpressure
 * kept), the first after `100 Continue` when `waitForContinue`; done when the server closes the connection.
 * Bounded: a connection still open after 10 s is an error.
 */
const exchange = (
  port: number,
  head: string,
  body: ReadonlyArray<Buffer>,
  waitForContinue = false
): Effect.Effect<Exchanged> =>
  Effect.async<Exchanged>((resume) => {
    const socket = Net.connect(port, "127.0.0.1")
    let received = ""
    let error: string | undefined
    let continued: (() => void) | undefined
    socket.setTimeout(10_000, () => socket.destroy(new Error("timeout")))
    socket.on("data", (data) => {
      received += data.toString("latin1")
      if (continued !== undefined && received.includes("\r\n\r\n")) continued()
    })
    socket.on("error", (cause: Error & { code?: string }) => {
      error ??= cause.code ?? cause.message
    })
    socket.on("close", () => resume(Effect.succeed({ received, error })))
    const write = (data: Buffer | string) =>
      new Promise<boolean>((resolve) => {
        if (socket.destroyed) return resolve(false)
        // Resolved when the data is handed to the kernel, or the write failed.
        socket.write(data, (cause) => resolve(cause == null))
      })
    void (async () => {
      if (!(await write(head))) return
      if (waitForContinue) {
        await new Promise<void>((resolve) => continued = resolve)
        continued = undefined
        if (!received.startsWith("HTTP/1.1 100 ")) return
      }
      for (const part of body) if (!(await write(part))) return
    })()
    return Effect.sync(() => socket.destroy())
  })

const head = (port: number, headers: Record<string, string | number>) =>
  [
    "POST /v1/chat/completions HTTP/1.1",
    `host: 127.0.0.1:${port}`,
    `authorization: Bearer ${tenantKey("acme")}`,
    "content-type: application/json",
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    "",
    ""
  ].join("\r\n")

/** The status line and the body of the last answer received, its chunks joined when it is chunked. */
const answer = (received: string) => {
  const start = received.lastIndexOf("HTTP/1.1 ")
  const end = received.indexOf("\r\n\r\n", start)
  const status = received.slice(start, received.indexOf("\r\n", start))
  let body = received.slice(end + 4)
  if (/\r\ntransfer-encoding: chunked\r\n/i.test(received.slice(start, end + 2))) {
    let joined = ""
    for (let at = 0;;) {
      const size = parseInt(body.slice(at, body.indexOf("\r\n", at)), 16)
      if (!(size > 0)) break
      at = body.indexOf("\r\n", at) + 2
      joined += body.slice(at, at + size)
      at += size + 2
    }
    body = joined
  }
  return { status, body }
}

const served = Effect.gen(function*() {
  const model = yield* TestModel.make([{ text: "Paris" }])
  const base = yield* serve(makeRuntime({
    tenants: [{ id: "acme" }],
    routes: { "gpt-4o": model.service },
    settings: { maxBodyBytes: limit }
  }))
  return { port: Number(new URL(base).port), model }
})

describe("Gateway body limit over raw sockets", () => {
  it.scopedLive("a client that sends a body over the limit to the end reads the 413, declared or chunked, 20 times of 20", () =>
    Effect.gen(function*() {
      const { model, port } = yield* served
      const declared = Array.from({ length: chunks }, () => chunk)
      // Chunked: no length declared, the limit is met while reading.
      const chunked = [
        ...declared.map((part) =>
          Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from("\r\n")])
        ),
        Buffer.from("0\r\n\r\n")
      ]
      for (let i = 0; i < 20; i++) {
        const chunkedTry = i % 2 === 1
        const result = yield* exchange(
          port,
          head(port, chunkedTry ? { "transfer-encoding": "chunked" } : { "content-length": chunks * chunk.length }),
          chunkedTry ? chunked : declared
        )
        expect({ try: i, error: result.error }).toEqual({ try: i, error: undefined })
        const { body, status } = answer(result.received)
        expect(status).toBe("HTTP/1.1 413 Payload Too Large")
        expect(result.received.toLowerCase()).toContain("connection: close")
        expect(JSON.parse(body).error).toMatchObject({ type: "invalid_request_error", code: "request_too_large" })
      }
      expect(yield* model.requests).toHaveLength(0)
    }))

  it.scopedLive("Expect: 100-continue: an over-limit length or a compressed body is refused without 100 Continue; a body within it gets 100, then its answer; another Expect gets 417", () =>
    Effect.gen(function*() {
      const { lines, layer } = requestLogs()
      const { model, port } = yield* Effect.provide(served, layer)
      const refused = yield* exchange(
        port,
        head(port, { "content-length": chunks * chunk.length, expect: "100-continue" }),
        [chunk],
        true
      )
      expect(refused.error).toBeUndefined()
      expect(refused.received).not.toContain("100 Continue")
      expect(refused.received.toLowerCase()).toContain("connection: close")
      expect(answer(refused.received).status).toBe("HTTP/1.1 413 Payload Too Large")
      expect(JSON.parse(answer(refused.received).body).error.code).toBe("request_too_large")
      expect(yield* model.requests).toHaveLength(0)

      const text = chatBody("gpt-4o")
      const accepted = yield* exchange(
        port,
        head(port, { "content-length": Buffer.byteLength(text), expect: "100-continue", connection: "close" }),
        [Buffer.from(text)],
        true
      )
      expect(accepted.error).toBeUndefined()
      expect(accepted.received.startsWith("HTTP/1.1 100 Continue\r\n\r\n")).toBe(true)
      expect(answer(accepted.received).status).toBe("HTTP/1.1 200 OK")
      expect(JSON.parse(answer(accepted.received).body).choices[0].message.content).toBe("Paris")
      expect(yield* model.requests).toHaveLength(1)

      // A compressed body is refused before it is sent, too: 415, never 100 Continue.
      const compressed = yield* exchange(
        port,
        head(port, { "content-length": 20, "content-encoding": "gzip", expect: "100-continue" }),
        [Buffer.alloc(20)],
        true
      )
      expect(compressed.received).not.toContain("100 Continue")
      expect(answer(compressed.received).status).toBe("HTTP/1.1 415 Unsupported Media Type")

      // Any other expectation: 417 in OpenAI's error JSON, with a request id.
      const unknown = yield* exchange(port, head(port, { "content-length": 2, expect: "foo" }), [Buffer.from("{}")])
      expect(answer(unknown.received).status).toBe("HTTP/1.1 417 Expectation Failed")
      expect(unknown.received.toLowerCase()).toMatch(/x-request-id: req_/)
      expect(JSON.parse(answer(unknown.received).body).error.code).toBe("expectation_failed")
      expect(yield* model.requests).toHaveLength(1)
      const logged = () => lines.filter((line) => line.message === "gateway request")
      yield* eventually(Effect.sync(() => logged().length === 3), "the request log lines")
      expect(logged().map((line) => [line.status, line.outcome])).toEqual([
        [413, "RequestTooLarge"],
        [200, "success"],
        [415, "UnsupportedEncoding"]
      ])
    }))

  it.scopedLive("the rest of a refused body is read within bounds: to its end, or until its bytes or time run out", () =>
    Effect.gen(function*() {
      const bounds = { bytes: 256 * 1024, ms: 300 }
      // A plain Node server that discards every body and then says what it saw.
      const seen: Array<{ readonly complete: boolean; readonly ms: number }> = []
      const server = Http.createServer((request, response) => {
        const start = performance.now()
        void Effect.runPromise(Body.discardRest(request, bounds)).then(() => {
          seen.push({ complete: request.complete, ms: performance.now() - start })
          response.writeHead(413, { connection: "close" }).end()
        })
      })
      yield* Effect.acquireRelease(
        Effect.async<void>((resume) => void server.listen(0, "127.0.0.1", () => resume(Effect.void))),
        () => Effect.sync(() => server.closeAllConnections()).pipe(Effect.zipRight(Effect.sync(() => server.close())))
      )
      const port = (server.address() as Net.AddressInfo).port
      const post = (length: number) => head(port, { "content-length": length })
      // Within the bounds: read to its end, and the client reads the answer.
      const whole = yield* exchange(port, post(4 * chunk.length), [chunk, chunk, chunk, chunk])
      expect(whole.error).toBeUndefined()
      expect(whole.received.startsWith("HTTP/1.1 413 ")).toBe(true)
      expect(seen[0]!.complete).toBe(true)
      // Over the bytes: the server stops reading long before the 5 MiB declared (the client may see a reset).
      yield* exchange(port, post(chunks * chunk.length), Array.from({ length: chunks }, () => chunk))
      expect(seen[1]!.complete).toBe(false)
      // A client that stalls: the server stops waiting when the time is over.
      yield* exchange(port, post(4 * chunk.length), [chunk])
      expect(seen[2]!.complete).toBe(false)
      expect(seen[2]!.ms).toBeGreaterThanOrEqual(bounds.ms - 50)
      expect(seen[2]!.ms).toBeLessThan(bounds.ms + 1_000)
    }))

  it.scopedLive("a body that arrives slowly is the client's time: logged as requestBodyMs, not as the gateway's overhead", () =>
    Effect.gen(function*() {
      const model = yield* TestModel.make([{ text: "Paris" }])
      const { layer: logs, lines } = requestLogs()
      const base = yield* serve(makeRuntime({ tenants: [{ id: "acme" }], routes: { "gpt-4o": model.service } })).pipe(
        Effect.provide(logs)
      )
      const port = Number(new URL(base).port)
      const body = Buffer.from(chatBody("gpt-4o"))
      // Half the body, then the rest 300 ms later: a client on a slow link.
      const halves = [body.subarray(0, 20), body.subarray(20)]
      const sent = yield* Effect.fork(Effect.async<Exchanged>((resume) => {
        const request = Http.request({
          port,
          host: "127.0.0.1",
          method: "POST",
          path: "/v1/chat/completions",
          headers: {
            authorization: `Bearer ${tenantKey("acme")}`,
            "content-type": "application/json",
            "content-length": body.length
          }
        }, (response) => {
          let received = ""
          response.on("data", (data: Buffer) => received += data.toString())
          response.on(
            "end",
            () => resume(Effect.succeed({ received: `${response.statusCode} ${received}`, error: undefined }))
          )
        })
        request.on("error", (cause) => resume(Effect.succeed({ received: "", error: cause.message })))
        request.write(halves[0])
        const timer = setTimeout(() => request.end(halves[1]), 300)
        return Effect.sync(() => {
          clearTimeout(timer)
          request.destroy()
        })
      }))
      const { received } = yield* Fiber.join(sent)
      expect(received).toMatch(/^200 .*Paris/)
      yield* eventually(Effect.sync(() => lines.some((line) => line.message === "gateway request")), "the log line")
      const line = lines.find((line) => line.message === "gateway request")!
      expect(line.requestBodyMs as number).toBeGreaterThanOrEqual(250)
      expect(line.overheadMs as number).toBeLessThan(200)
      expect(line.durationMs as number).toBeGreaterThanOrEqual(line.requestBodyMs as number)
    }))

  it.scopedLive("a body that ends after its 408 is not served: the route is never called, the log says 408", () =>
    Effect.gen(function*() {
      const model = yield* TestModel.make([{ text: "Paris" }])
      const { layer: logs, lines } = requestLogs()
      const base = yield* serve(makeRuntime({ tenants: [{ id: "acme" }], routes: { "gpt-4o": model.service } }), {
        headersTimeout: "300 millis",
        requestTimeout: "300 millis"
      }).pipe(Effect.provide(logs))
      const port = Number(new URL(base).port)
      const body = chatBody("gpt-4o")
      // The head and one byte, then (once the 408 has come) the rest: a client that sends its body whole, slowly,
      // before it reads the answer.
      const received = yield* Effect.async<string>((resume) => {
        const socket = Net.connect(
          port,
          "127.0.0.1",
          () => socket.write(head(port, { "content-length": Buffer.byteLength(body) }) + body.slice(0, 1))
        )
        let text = ""
        socket.on("data", (data) => {
          text += data.toString()
          if (text.includes("\r\n\r\n") && text.startsWith("HTTP/1.1 408 ")) socket.write(body.slice(1))
        })
        socket.on("error", () => {})
        socket.on("close", () => resume(Effect.succeed(text)))
        return Effect.sync(() => socket.destroy())
      })
      expect(received).toMatch(/^HTTP\/1\.1 408 /)
      yield* eventually(Effect.sync(() => lines.some((line) => line.message === "gateway request")), "the log line")
      // Long enough for a route call to show, were the body served.
      yield* Effect.sleep("200 millis")
      expect(yield* model.requests).toEqual([])
      const logged = lines.filter((line) => line.message === "gateway request")
      expect(logged).toMatchObject([{ status: 408, outcome: "RequestTimeout", attempts: 0 }])
      // The body that never came in time is the client's time, not the gateway's overhead.
      expect(logged[0]!.requestBodyMs as number).toBeGreaterThanOrEqual(250)
      expect(logged[0]!.overheadMs as number).toBeLessThan(100)
    }))
})
