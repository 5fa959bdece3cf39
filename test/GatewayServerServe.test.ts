import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Logger, Stream } from "effect"
import * as Server from "../src/gateway/Server.js"
import * as LanguageModel from "../src/LanguageModel.js"
import type * as StreamPart from "../src/StreamPart.js"
import * as TestModel from "../src/testing/TestModel.js"
import { freePort } from "./clients/gateway.js"
import { call, chatBody, json, makeRuntime, sseEvents } from "./support/gateway.js"
import { eventually } from "./support/loopback.js"

/** The rest of a body, as text. */
const readRest = (reader: ReadableStreamDefaultReader<Uint8Array>) =>
  Effect.promise(async () => {
    let rest = ""
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      rest += new TextDecoder().decode(chunk.value)
    }
    return rest
  })

/** Waits until the gateway at `base` answers. */
const listening = (base: string) =>
  eventually(
    Effect.map(Effect.either(Effect.tryPromise(() => fetch(`${base}/health`))), (r) => r._tag === "Right"),
    "the gateway listening"
  )

/** A model whose stream sends "a", waits for `gate`, then sends "b". */
const streamsThenWaits = (gate: Deferred.Deferred<void>) =>
  LanguageModel.make({
    provider: "first",
    defaultModel: "m",
    generate: () => Effect.die("unused"),
    stream: () =>
      Stream.concat(
        Stream.make({ type: "text-delta", text: "a" } as StreamPart.StreamPart),
        Stream.fromEffect(Effect.as(Deferred.await(gate), { type: "text-delta", text: "b" } as StreamPart.StreamPart))
      )
  })

describe("Gateway server: serve", () => {
  it.scopedLive("serves the loaded config and swaps it on SIGHUP; an invalid one is refused and the old one serves", () =>
    Effect.gen(function*() {
      const configs: Array<ReadonlyArray<string> | "invalid"> = [["first"], "invalid", ["second"]]
      const loads: Array<string> = []
      let released = 0
      const load = (path: string) =>
        Effect.gen(function*() {
          loads.push(path)
          const next = configs[loads.length - 1]!
          if (next === "invalid") return yield* Effect.fail("models.x.provider: unknown provider")
          yield* Effect.addFinalizer(() => Effect.sync(() => released++))
          const model = yield* TestModel.make([])
          return makeRuntime({
            tenants: [{ id: "acme" }],
            routes: Object.fromEntries(next.map((name) => [name, model.service]))
          })
        })
      const port = yield* freePort
      const base = `http://127.0.0.1:${port}`
      yield* Effect.forkScoped(Server.serve({ configPath: "gateway.yaml", load, port, shutdownGrace: 0 }))
      const models = Effect.flatMap(call(base, "/v1/models"), json).pipe(
        Effect.map((body) => body.data.map((model: { id: string }) => model.id))
      )
      yield* listening(base)
      expect(yield* models).toEqual(["first"])
      process.emit("SIGHUP")
      yield* eventually(Effect.sync(() => loads.length === 2), "the second load")
      expect(yield* models).toEqual(["first"])
      process.emit("SIGHUP")
      yield* eventually(Effect.map(models, (ids) => ids[0] === "second"), "the new config serving")
      yield* eventually(Effect.sync(() => released === 1), "the old runtime released")
      expect(loads).toEqual(["gateway.yaml", "gateway.yaml", "gateway.yaml"])
    }))

  it.scopedLive("a SIGHUP during the first load reloads the file once the gateway serves", () =>
    Effect.gen(function*() {
      const firstLoading = yield* Deferred.make<void>()
      const firstMayEnd = yield* Deferred.make<void>()
      let loads = 0
      const load = () =>
        Effect.gen(function*() {
          loads++
          if (loads === 1) {
            yield* Deferred.succeed(firstLoading, undefined)
            yield* Deferred.await(firstMayEnd)
          }
          const model = yield* TestModel.make([])
          return makeRuntime({ tenants: [{ id: "acme" }], routes: { [`config-${loads}`]: model.service } })
        })
      const port = yield* freePort
      const base = `http://127.0.0.1:${port}`
      yield* Effect.forkScoped(Server.serve({ configPath: "gateway.yaml", load, port, shutdownGrace: 0 }))
      yield* Deferred.await(firstLoading)
      process.emit("SIGHUP")
      expect(loads).toBe(1)
      yield* Deferred.succeed(firstMayEnd, undefined)
      yield* listening(base)
      const models = Effect.flatMap(call(base, "/v1/models"), json).pipe(
        Effect.map((body) => body.data.map((model: { id: string }) => model.id))
      )
      yield* eventually(Effect.map(models, (ids) => ids[0] === "config-2"), "the file loaded again")
      expect(loads).toBe(2)
    }))

  it.scopedLive("a stream in flight across a reload finishes on the old config, which is released after it ends", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      let loads = 0
      let released = 0
      const waiting = streamsThenWaits(gate)
      const load = () =>
        Effect.gen(function*() {
          loads++
          yield* Effect.addFinalizer(() => Effect.sync(() => released++))
          return makeRuntime({ tenants: [{ id: "acme" }], routes: { chat: waiting } })
        })
      const port = yield* freePort
      const base = `http://127.0.0.1:${port}`
      // No grace at all: before, the old config's connections were closed `shutdownGrace` after a reload.
      yield* Effect.forkScoped(Server.serve({ configPath: "gateway.yaml", load, port, shutdownGrace: 0 }))
      yield* listening(base)
      const response = yield* call(base, "/v1/chat/completions", {
        method: "POST",
        body: chatBody("chat", { stream: true })
      })
      expect(response.status).toBe(200)
      const reader = response.body!.getReader()
      const first = yield* Effect.promise(() => reader.read())
      expect(new TextDecoder().decode(first.value)).toContain("\"content\":\"a\"")
      process.emit("SIGHUP")
      yield* eventually(Effect.sync(() => loads === 2), "the reload")
      // A new request is served by the new config while the old stream is still open.
      yield* eventually(Effect.map(call(base, "/v1/models"), (r) => r.status === 200), "the new config serving")
      expect(released).toBe(0)
      yield* Deferred.succeed(gate, undefined)
      const rest = yield* readRest(reader)
      const events = sseEvents(rest)
      expect(events.at(-1)).toBe("[DONE]")
      expect(JSON.stringify(events)).toContain("\"content\":\"b\"")
      yield* eventually(Effect.sync(() => released === 1), "the old config released once its stream ended")
    }))

  it.scopedLive("a SIGHUP while the server drains is logged and ignored: the file is not loaded again", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      let loads = 0
      const held = streamsThenWaits(gate)
      const load = () =>
        Effect.sync(() => {
          loads++
          return makeRuntime({ tenants: [{ id: "acme" }], routes: { chat: held } })
        })
      const logged: Array<string> = []
      const logger = Logger.make(({ message }) => logged.push(String(message)))
      const port = yield* freePort
      const base = `http://127.0.0.1:${port}`
      const server = yield* Effect.forkScoped(
        Server.serve({ configPath: "gateway.yaml", load, port, shutdownGrace: "30 seconds" }).pipe(
          Effect.provide(Logger.replace(Logger.defaultLogger, logger))
        )
      )
      yield* listening(base)
      const response = yield* call(base, "/v1/chat/completions", {
        method: "POST",
        body: chatBody("chat", { stream: true })
      })
      const reader = response.body!.getReader()
      yield* Effect.promise(() => reader.read())
      const stopped = yield* Effect.fork(Fiber.interrupt(server))
      yield* eventually(
        Effect.sync(() => logged.some((line) => line.includes("shutting down"))),
        "the shutdown begun"
      )
      process.emit("SIGHUP")
      yield* eventually(
        Effect.sync(() => logged.some((line) => line.includes("SIGHUP while shutting down"))),
        "the SIGHUP logged"
      )
      yield* Deferred.succeed(gate, undefined)
      const rest = yield* readRest(reader)
      expect(sseEvents(rest).at(-1)).toBe("[DONE]")
      yield* Fiber.join(stopped)
      expect(loads).toBe(1)
      expect(logged.filter((line) => line.includes("config reloaded"))).toEqual([])
    }))
})
