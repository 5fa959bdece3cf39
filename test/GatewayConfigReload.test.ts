import { NodeFileSystem } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, Fiber, HashMap, Logger, Scope, TestClock } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Config from "../src/gateway/Config.js"
import * as Generations from "../src/gateway/generations.js"
import { makeRef } from "../src/gateway/runtimeLoad.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { twoProviders, withEnv } from "./support/gatewayConfig.js"

const ask = { messages: [{ role: "user" as const, content: "hi" }], metadata: { tenant: "acme" } }

const tempFile = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "gateway-reload-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true }))
).pipe(Effect.map((dir) => Path.join(dir, "gateway.json")))

describe("Gateway runtime reload", () => {
  it.scoped("a valid config replaces the old one; an invalid one is refused and the old one keeps serving", () =>
    Effect.gen(function*() {
      const a = yield* MockProvider.make({ onExhausted: OpenAiMock.completion() })
      const b = yield* MockProvider.make({ onExhausted: OpenAiMock.completion() })
      const file = yield* tempFile
      const first = twoProviders(a, b)
      const withBudget = {
        ...first,
        tenants: { ...first.tenants, acme: { ...first.tenants.acme, budget: { limitUsd: 1000, period: "day" } } }
      }
      Fs.writeFileSync(file, JSON.stringify(withBudget))
      const ref = yield* withEnv(makeRef(file))
      const before = yield* ref.get
      const tenant = { id: "acme", models: "*" } as const
      expect(before.models(tenant)).toEqual(["smart", "small"])
      yield* before.route(tenant, "small")!.generate(ask)

      // valid: a new route, the same budget
      Fs.writeFileSync(
        file,
        JSON.stringify({ ...withBudget, models: { ...first.models, tiny: { provider: "a", model: "model-a" } } })
      )
      const after = yield* withEnv(ref.reload())
      expect(yield* ref.get).toBe(after)
      expect(yield* ref.generation).toBe(1)
      expect(after.models(tenant)).toEqual(["smart", "small", "tiny"])
      // the process's stores outlive a reload: the spend is still there
      expect((yield* after.usage("acme")).budget?.spentUsd).toBe(20)

      // invalid: refused with its errors; the current runtime stays
      Fs.writeFileSync(file, JSON.stringify({ ...first, models: { tiny: { provider: "nope", model: "x" } } }))
      const refused = yield* Effect.flip(withEnv(ref.reload()))
      expect(refused.errors).toContain("models.tiny.provider: unknown provider \"nope\" (known: \"a\", \"b\")")
      expect(yield* ref.get).toBe(after)
      expect(yield* ref.generation).toBe(1)
      Fs.writeFileSync(file, "{ not json")
      expect((yield* Effect.flip(withEnv(ref.reload()))).errors[0]).toContain("not valid JSON")
      yield* after.route(tenant, "tiny")!.generate(ask)
      expect((yield* a.requests).length).toBe(1)

      // Reloaded from another file, the reloads after read that one.
      const other = yield* tempFile
      Fs.writeFileSync(
        other,
        JSON.stringify({ ...first, models: { ...first.models, other: { provider: "a", model: "model-a" } } })
      )
      expect((yield* withEnv(ref.reload(other))).models(tenant)).toEqual(["smart", "small", "other"])
      Fs.writeFileSync(
        other,
        JSON.stringify({ ...first, models: { ...first.models, again: { provider: "a", model: "model-a" } } })
      )
      expect((yield* withEnv(ref.reload())).models(tenant)).toEqual(["smart", "small", "again"])
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.scoped("the ref gives the config it serves, whose server: section is Server.layer's options", () =>
    Effect.gen(function*() {
      const a = yield* MockProvider.make()
      const b = yield* MockProvider.make()
      const file = yield* tempFile
      const withServer = (port: number) => ({
        ...twoProviders(a, b),
        server: { host: "127.0.0.1", port, shutdownGrace: "100 millis", holdHeaders: 0 }
      })
      Fs.writeFileSync(file, JSON.stringify(withServer(4999)))
      const ref = yield* withEnv(makeRef(file))
      const options = Config.serverOptions((yield* ref.loaded).config)
      expect(options).toMatchObject({ host: "127.0.0.1", port: 4999, holdHeaders: Duration.zero })
      expect(Duration.toMillis(options.shutdownGrace as Duration.Duration)).toBe(100)
      expect(options.requestTimeout).toBeUndefined()
      Fs.writeFileSync(file, JSON.stringify(withServer(4998)))
      yield* withEnv(ref.reload())
      expect(Config.serverOptions((yield* ref.loaded).config).port).toBe(4998)
      // A refused reload leaves it as it was.
      Fs.writeFileSync(file, "{ not json")
      yield* Effect.flip(withEnv(ref.reload()))
      expect(Config.serverOptions((yield* ref.loaded).config).port).toBe(4998)
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.scoped("a request holding the old runtime finishes on it after a reload", () =>
    Effect.gen(function*() {
      const a = yield* MockProvider.make({ onExhausted: OpenAiMock.completion() })
      const b = yield* MockProvider.make({ onExhausted: OpenAiMock.completion({ text: "still here" }) })
      const file = yield* tempFile
      Fs.writeFileSync(file, JSON.stringify(twoProviders(a, b)))
      const ref = yield* withEnv(makeRef(file))
      const request = yield* Scope.make()
      const held = yield* Scope.extend(ref.use, request)
      yield* withEnv(ref.reload())
      expect(yield* ref.get).not.toBe(held)
      // the old runtime's connections are still open while the request holds it
      const response = yield* held.route({ id: "acme", models: "*" }, "small")!.generate(ask)
      expect(response.provider).toBe("b")
      // released, the old runtime is closed: its connections with it
      yield* Scope.close(request, Exit.void)
      const late = yield* Effect.exit(held.route({ id: "acme", models: "*" }, "small")!.generate(ask))
      expect(Exit.isFailure(late)).toBe(true)
      expect((yield* (yield* ref.get).route({ id: "acme", models: "*" }, "small")!.generate(ask)).provider).toBe("b")
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.effect("a reload waits a bounded time for its stores, and its log line says whether they answered", () =>
    Effect.gen(function*() {
      let checks = 0
      const answersAtThird = Effect.sync(() => ++checks >= 3)
      const ready = yield* Effect.fork(Generations.whenReady(answersAtThird))
      yield* TestClock.adjust("20 millis")
      expect(yield* Fiber.join(ready)).toBe(true)
      expect(checks).toBe(3)

      const never = yield* Effect.fork(Generations.whenReady(Effect.succeed(false), 100))
      yield* TestClock.adjust("99 millis")
      expect(never.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(never)).toBe(false)

      const lines: Array<{ level: string; message: unknown; stores: unknown }> = []
      const capture = Logger.replace(
        Logger.defaultLogger,
        Logger.make(({ annotations, logLevel, message }) =>
          lines.push({
            level: logLevel.label,
            message: Array.isArray(message) ? message[0] : message,
            stores: HashMap.get(annotations, "stores").pipe((found) => found._tag === "Some" ? found.value : undefined)
          })
        )
      )
      // Not answering: its `ready` probes once more after the WARN (its own line says why, and later when it answers).
      let probes = 0
      const probe = Effect.sync(() => {
        probes++
        lines.push({ level: "PROBE", message: undefined, stores: undefined })
        return false
      })
      yield* Effect.provide(Generations.logReloaded("config reloaded", true, probe), capture)
      expect(probes).toBe(0)
      yield* Effect.provide(Generations.logReloaded("config reloaded", false, probe), capture)
      expect(lines.map((line) => [line.level, line.stores])).toEqual([
        ["INFO", "ready"],
        ["WARN", "not answering"],
        ["PROBE", undefined]
      ])
      expect(lines[1]!.message).toContain("did not answer within 5 s")
    }))

  it.effect("a replaced config closes in the background: neither the reload nor its last request waits for it", () =>
    Effect.gen(function*() {
      // A config whose close hangs (its Redis does not answer the QUIT, a store's finalizer waits on it).
      const stuck = yield* Deferred.make<void>()
      const closing = yield* Deferred.make<void>()
      const old = yield* Scope.make()
      yield* Scope.addFinalizer(old, Effect.zipRight(Deferred.succeed(closing, undefined), Deferred.await(stuck)))
      const generations = Generations.make("old", old)
      // A request holds the old config across the reload.
      const request = yield* Scope.make()
      expect(yield* Scope.extend(generations.use, request)).toBe("old")
      yield* generations.replace("new", yield* Scope.make())
      expect(yield* generations.get).toBe("new")
      expect(yield* Deferred.isDone(closing)).toBe(false)
      // The request ends: the old config starts closing, and the request's end does not wait for it.
      yield* Scope.close(request, Exit.void)
      yield* Deferred.await(closing)
      yield* Deferred.succeed(stuck, undefined)

      // Nothing holds it: the reload itself returns at once.
      const stuckToo = yield* Deferred.make<void>()
      const next = yield* Scope.make()
      yield* Scope.addFinalizer(next, Deferred.await(stuckToo))
      const again = Generations.make("next", next)
      yield* again.replace("newer", yield* Scope.make())
      expect(yield* again.get).toBe("newer")
      yield* Deferred.succeed(stuckToo, undefined)
    }))
})
