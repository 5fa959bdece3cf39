import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Server from "../src/gateway/Server.js"
import * as TestModel from "../src/testing/TestModel.js"
import { freePort } from "./clients/gateway.js"
import { call, json, makeRuntime } from "./support/gateway.js"
import { eventually } from "./support/loopback.js"

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
      yield* eventually(
        Effect.map(Effect.either(Effect.tryPromise(() => fetch(`${base}/health`))), (r) => r._tag === "Right"),
        "the gateway listening"
      )
      expect(yield* models).toEqual(["first"])
      process.emit("SIGHUP")
      yield* eventually(Effect.sync(() => loads.length === 2), "the second load")
      expect(yield* models).toEqual(["first"])
      process.emit("SIGHUP")
      yield* eventually(Effect.map(models, (ids) => ids[0] === "second"), "the new config serving")
      yield* eventually(Effect.sync(() => released === 1), "the old runtime released")
      expect(loads).toEqual(["gateway.yaml", "gateway.yaml", "gateway.yaml"])
    }))
})
