/**
 * A real `redis-server` for the Redis suites: on a free port of 127.0.0.1, without persistence, stopped after
 * the suite. `stop()` and `start()` again on the same port play "Redis went away, then came back". Without the
 * binary, {@link describeRedis} skips its suite with a message, so the rest of the tests still run.
 */
import { describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Net from "node:net"
import { afterAll, beforeAll } from "vitest"
import { findBinary, missingMessage, type RedisServer, startServer } from "./redisServer.js"

export { findBinary, freePort, missingMessage, type RedisServer, startServer } from "./redisServer.js"

/**
 * A suite with its own redis-server, started before its tests and stopped after them; skipped with a clear
 * message when `redis-server` is not installed. `fn` gets the server (its `url` is valid inside tests).
 */
export const describeRedis = (
  name: string,
  fn: (server: RedisServer) => void,
  options: { readonly password?: string } = {}
): void => {
  const binary = findBinary()
  if (binary === undefined) {
    describe.skip(name, () => {
      it.skip(missingMessage, () => {})
    })
    return
  }
  describe(name, () => {
    let server: RedisServer | undefined
    const handle: RedisServer = {
      get port() {
        return current().port
      },
      get url() {
        return current().url
      },
      start: () => current().start(),
      stop: () => current().stop(),
      running: () => server?.running() ?? false
    }
    const current = (): RedisServer => {
      if (server === undefined) throw new Error("the redis-server of this suite is not started yet")
      return server
    }
    beforeAll(async () => {
      server = await startServer({ binary, ...options })
    })
    afterAll(async () => {
      await server?.stop()
    })
    fn(handle)
  })
}

let prefixes = 0

/** A key prefix no other test uses, so tests on one server never see each other's keys. */
export const uniquePrefix = (label = "t"): string => `test:${label}:${process.pid}:${++prefixes}:`

/** Waits (real time, bounded: 10 s) until a client is connected again, e.g. after the server restarted. */
export const awaitConnected = async (isConnected: () => boolean): Promise<void> => {
  const start = Date.now()
  while (!isConnected()) {
    if (Date.now() - start > 10_000) throw new Error("the Redis client did not reconnect within 10 s")
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/**
 * A server on 127.0.0.1 that accepts connections and never answers, as a hung (stopped) Redis does; its port,
 * closed with the scope.
 */
export const hungServer: Effect.Effect<number, never, Scope.Scope> = Effect.suspend(() => {
  const sockets: Array<Net.Socket> = []
  const server = Net.createServer((socket) => void sockets.push(socket))
  return Effect.acquireRelease(
    Effect.async<number>((resume) =>
      void server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as Net.AddressInfo).port)))
    ),
    () =>
      Effect.sync(() => {
        for (const socket of sockets) socket.destroy()
        server.close()
      })
  )
})
