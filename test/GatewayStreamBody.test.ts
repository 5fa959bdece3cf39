import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber } from "effect"
import * as TestClock from "effect/TestClock"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { StreamBody } from "../src/gateway/http/streamBody.js"
import { awaitSleepUntil, eventually } from "./support/loopback.js"

/** A loopback server; `next` is the response of its next request. Closed with the scope. */
const server = Effect.acquireRelease(
  Effect.async<
    { readonly url: string; readonly next: Effect.Effect<Http.ServerResponse>; readonly server: Http.Server }
  >(
    (resume) => {
      const arrived: Array<Http.ServerResponse> = []
      let waiting: ((response: Http.ServerResponse) => void) | undefined
      const created = Http.createServer((_, response) => {
        const take = waiting
        waiting = undefined
        if (take === undefined) arrived.push(response)
        else take(response)
      })
      const next = Effect.async<Http.ServerResponse>((take) => {
        const first = arrived.shift()
        if (first !== undefined) return take(Effect.succeed(first))
        waiting = (response) => take(Effect.succeed(response))
      })
      created.listen(
        0,
        "127.0.0.1",
        () =>
          resume(
            Effect.succeed({
              url: `http://127.0.0.1:${(created.address() as AddressInfo).port}`,
              next,
              server: created
            })
          )
      )
    }
  ),
  ({ server }) =>
    Effect.sync(() => server.closeAllConnections()).pipe(Effect.zipRight(Effect.async<void>((resume) => {
      server.close(() => resume(Effect.void))
    })))
)

describe("StreamBody", () => {
  it.scopedLive("text pushed before the answer is written goes out first, then the rest, then the end", () =>
    Effect.gen(function*() {
      const { next, url } = yield* server
      const answer = Effect.promise(() => fetch(url).then((r) => r.text()))
      const fetching = yield* Effect.fork(answer)
      const response = yield* next
      const body = new StreamBody()
      yield* body.push("held 1, ")
      body.pushNow("held 2, ")
      response.writeHead(200, { "content-type": "text/plain" })
      const writing = yield* Effect.fork(body.writeTo(response))
      yield* body.push("then 3, ")
      yield* body.end("end")
      yield* Fiber.join(writing)
      expect(yield* Fiber.join(fetching)).toBe("held 1, held 2, then 3, end")
      expect(body.closed).toBe(true)
    }))

  it.scopedLive("`attached` waits until the body is written to its response, the held text sent first", () =>
    Effect.gen(function*() {
      const { next, url } = yield* server
      const received: Array<string> = []
      const fetching = yield* Effect.fork(Effect.promise(async () => {
        const reader = (await fetch(url)).body!.pipeThrough(new TextDecoderStream()).getReader()
        for (let read = await reader.read(); !read.done; read = await reader.read()) received.push(read.value)
      }))
      const response = yield* next
      const body = new StreamBody()
      yield* body.push("head")
      // What the pump sees when it resumes: whether the head still waits in Node's corked socket.
      const waiting = yield* Effect.fork(
        Effect.zipRight(body.attached, Effect.sync(() => response.socket?.writableCorked))
      )
      // Nothing to wait for yet: the body is held until it is written to a response.
      yield* eventually(Effect.map(waiting.status, (status) => status._tag === "Suspended"), "a waiting pump")
      response.writeHead(200)
      const writing = yield* Effect.fork(body.writeTo(response))
      // The head was sent before the pump resumed, not at the end of the tick with what the pump writes next.
      expect(yield* Fiber.join(waiting)).toBe(0)
      yield* eventually(Effect.sync(() => received.join("") === "head"), "the head on the wire alone")
      yield* body.end(", tail")
      yield* Fiber.join(writing)
      yield* Fiber.join(fetching)
      expect(received.join("")).toBe("head, tail")
      // Once attached, there is nothing to wait for.
      yield* body.attached
    }))

  it.scopedLive("a body ended before it is written is written whole", () =>
    Effect.gen(function*() {
      const { next, url } = yield* server
      const fetching = yield* Effect.fork(Effect.promise(() => fetch(url).then((r) => r.text())))
      const response = yield* next
      const body = new StreamBody()
      yield* body.push("all ")
      yield* body.end("at once")
      expect(body.closed).toBe(true)
      yield* body.push(" and more, after the end")
      response.writeHead(200)
      yield* body.writeTo(response)
      expect(yield* Fiber.join(fetching)).toBe("all at once")
    }))

  it.scopedLive("push waits while the client does not read, and goes on when it does", () =>
    Effect.gen(function*() {
      const { next, url } = yield* server
      const controller = new AbortController()
      const started = yield* Deferred.make<ReadableStreamDefaultReader<Uint8Array>>()
      yield* Effect.fork(Effect.promise(async () => {
        const answer = await fetch(url, { signal: controller.signal })
        await Effect.runPromise(Deferred.succeed(started, answer.body!.getReader()))
      }))
      const response = yield* next
      const body = new StreamBody()
      response.writeHead(200)
      const writing = yield* Effect.fork(body.writeTo(response))
      // Far more than the socket's buffers hold: some push must wait for the client.
      const piece = "x".repeat(64 * 1024)
      let pushed = 0
      const pushing = yield* Effect.fork(Effect.gen(function*() {
        for (; pushed < 1_000; pushed++) yield* body.push(piece)
      }))
      const reader = yield* Deferred.await(started)
      // A push waits for the socket: the pushing fiber is suspended before it has pushed everything.
      yield* eventually(
        Effect.map(pushing.status, (status) => status._tag === "Suspended"),
        "a push waiting for the client"
      )
      const whileBlocked = pushed
      expect(whileBlocked).toBeLessThan(1_000)
      // Reading lets the pushes go on.
      let read = 0
      while (read < 2 * 1024 * 1024) read += (yield* Effect.promise(() => reader.read())).value?.length ?? 0
      yield* eventually(Effect.sync(() => pushed > whileBlocked), "more pushes once the client reads")
      // The client leaves: the waiting push and the writer end, nothing more is written.
      controller.abort()
      yield* Fiber.join(pushing)
      yield* Fiber.join(writing)
      expect(body.closed).toBe(true)
    }))

  it.scopedLive("writing to a response whose client is already gone ends at once", () =>
    Effect.gen(function*() {
      const { next, url } = yield* server
      const controller = new AbortController()
      yield* Effect.fork(Effect.promise(() => fetch(url, { signal: controller.signal }).catch(() => undefined)))
      const response = yield* next
      const closed = Effect.async<void>((resume) => {
        if (response.destroyed) return resume(Effect.void)
        response.once("close", () => resume(Effect.void))
      })
      controller.abort()
      yield* closed
      const body = new StreamBody()
      yield* body.writeTo(response)
      expect(body.closed).toBe(true)
      yield* body.push("ignored")
      yield* body.end("ignored")
    }))

  it.scoped("a client that reads nothing for the stall timeout: the body is cut, the waiting push interrupted", () =>
    Effect.gen(function*() {
      const { next, url } = yield* server
      const started = yield* Deferred.make<ReadableStreamDefaultReader<Uint8Array>>()
      yield* Effect.fork(Effect.promise(async () => {
        const answer = await fetch(url)
        await Effect.runPromise(Deferred.succeed(started, answer.body!.getReader()))
      }))
      const response = yield* next
      let stalls = 0
      const body = new StreamBody("", { timeoutMs: 60_000, onStall: () => stalls++ })
      response.writeHead(200)
      const writing = yield* Effect.fork(body.writeTo(response))
      const piece = "x".repeat(64 * 1024)
      const pushing = yield* Effect.fork(Effect.gen(function*() {
        for (let i = 0; i < 1_000; i++) yield* body.push(piece)
      }))
      const reader = yield* Deferred.await(started)
      yield* awaitSleepUntil(60_000)
      yield* TestClock.adjust("59 seconds")
      expect(stalls).toBe(0)
      expect(response.destroyed).toBe(false)
      yield* TestClock.adjust("1 second")
      expect(Exit.isInterrupted(yield* Fiber.await(pushing))).toBe(true)
      yield* Fiber.join(writing)
      expect(stalls).toBe(1)
      expect([body.closed, response.destroyed]).toEqual([true, true])
      // The client finds its answer cut, not ended.
      const drained = yield* Effect.promise(async () => {
        for (;;) if ((await reader.read()).done) return "ended"
      }).pipe(Effect.catchAllDefect(() => Effect.succeed("cut")))
      expect(drained).toBe("cut")
    }))

  it.scoped("the stall timeout counts each wait alone: a client that reads now and then is never cut", () =>
    Effect.gen(function*() {
      let stalls = 0
      const body = new StreamBody("", { timeoutMs: 60_000, onStall: () => stalls++ })
      const readable = body.toReadable()
      const piece = "x".repeat(64 * 1024)
      for (let i = 0; i < 3; i++) {
        // Over the Readable's buffer: the push waits for a read.
        const pushing = yield* Effect.fork(body.push(piece))
        yield* awaitSleepUntil(i * 50_000 + 60_000)
        yield* TestClock.adjust("50 seconds")
        expect(readable.read()).not.toBeNull()
        yield* Fiber.join(pushing)
      }
      expect(stalls).toBe(0)
      expect(readable.destroyed).toBe(false)
    }))
})
