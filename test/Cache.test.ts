import { describe, expect, it } from "@effect/vitest"
import { Cause, ConfigError, Context, Duration, Effect, Exit, Layer, Option, Schema, Stream } from "effect"
import * as TestClock from "effect/TestClock"
import * as Cache from "../src/Cache.js"
import type * as ChatRequest from "../src/ChatRequest.js"
import type * as ChatResponse from "../src/ChatResponse.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmMetrics from "../src/LlmMetrics.js"
import { describeStores, expectOneEntryExpiringIn, type StoreCase } from "./support/cacheStores.js"
import { adjustTo } from "./support/loopback.js"
import { answer, ask, errors, failure, scripted } from "./support/resilience.js"

const usage = { inputTokens: 12, outputTokens: 3, totalTokens: 15 }

/** A model answering "answer N" to its Nth call, counting them. */
const counting = (provider = "test") =>
  scripted(Array.from({ length: 20 }, (_, i) => answer(`answer ${i + 1}`, { provider, usage })), { provider })

/** Runs `program` against a cached layer built once, over a fresh store of `stores` (the memory default without). */
const cachedOn = (stores?: StoreCase) =>
<A, E>(
  inner: Layer.Layer<LanguageModel.LanguageModel>,
  options: Cache.Options,
  program: Effect.Effect<A, E, LanguageModel.LanguageModel>
) =>
  stores === undefined
    ? Effect.provide(program, Cache.layer(inner, options))
    : Effect.flatMap(stores.make, ({ store }) => Effect.provide(program, Cache.layer(inner, { ...options, store })))

const text = (response: ChatResponse.ChatResponse) =>
  response.content.flatMap((part) => part.type === "text" ? [part.text] : []).join("")

const generate = (request: ChatRequest.Input) => Effect.map(LanguageModel.generate(request), text)

describeStores("Cache", (stores) => {
  const cached = cachedOn(stores)

  describe("hits and misses", () => {
    it.scoped("a hit answers without calling the provider, says it was cached and costs 0", () =>
      Effect.gen(function*() {
        const model = yield* counting()
        const [first, second] = yield* cached(
          model.layer,
          {},
          Effect.all([LanguageModel.generate(ask("Capital?")), LanguageModel.generate(ask("Capital?"))])
        )
        expect(yield* model.calls).toBe(1)
        expect(first.cached).toBeUndefined()
        expect(second).toEqual({ ...first, cached: true, costUsd: 0 })
      }))

    it.scoped("another request is a miss", () =>
      Effect.gen(function*() {
        const model = yield* counting()
        const answers = yield* cached(
          model.layer,
          {},
          Effect.all([generate(ask("a")), generate(ask("b")), generate(ask("a"))])
        )
        expect(answers).toEqual(["answer 1", "answer 2", "answer 1"])
        expect(yield* model.calls).toBe(2)
      }))

    it.scoped("generateObject goes through the cache too", () =>
      Effect.gen(function*() {
        const model = yield* scripted([answer("{\"city\":\"Paris\"}"), answer("{\"city\":\"Lyon\"}")])
        const City = Schema.Struct({ city: Schema.String })
        const objects = yield* cached(
          model.layer,
          {},
          Effect.all([1, 2].map(() => LanguageModel.generateObject({ ...ask("Capital?"), schema: City })))
        )
        expect(objects.map(({ response, value }) => [value.city, response.cached ?? false])).toEqual([
          ["Paris", false],
          ["Paris", true]
        ])
        expect(yield* model.calls).toBe(1)
      }))

    it.scoped("failures are never cached", () =>
      Effect.gen(function*() {
        const model = yield* scripted([errors.overloaded(), errors.invalid(), answer("ok"), answer("never")])
        const exits = yield* cached(
          model.layer,
          {},
          Effect.all([1, 2, 3, 4].map(() => Effect.exit(generate(ask("q")))))
        )
        expect(exits.map((exit) => Exit.isSuccess(exit) ? exit.value : failure(exit)._tag)).toEqual([
          "Overloaded",
          "InvalidRequest",
          "ok",
          "ok"
        ])
        expect(yield* model.calls).toBe(3)
      }))

    it.scoped("a hit records a metrics event: cached, costing 0, a success", () =>
      Effect.gen(function*() {
        const model = yield* counting()
        yield* cached(
          model.layer,
          {},
          Effect.all([generate(ask("q", { tenant: "acme" })), generate(ask("q", { tenant: "acme" }))])
        )
        const summary = yield* LlmMetrics.summary
        // The scripted inner model records nothing: the one event is the hit's.
        expect(summary.byTenant["acme"]).toMatchObject({
          requests: 1,
          failures: 0,
          cacheHits: 1,
          costUsd: 0,
          unpricedRequests: 0,
          inputTokens: 0
        })
        expect(summary.byModel["test-model"]?.cacheHits).toBe(1)
      }).pipe(Effect.provide(LlmMetrics.layerMemory)))
  })

  describe("TTL", () => {
    if (stores.name === "memory") {
      it.scoped("the default TTL is one hour: a hit 1 ms before, a miss at it", () =>
        Effect.gen(function*() {
          const model = yield* counting()
          const answers = yield* cached(
            model.layer,
            {},
            Effect.gen(function*() {
              const out = [yield* generate(ask())]
              yield* adjustTo(3_599_999)
              out.push(yield* generate(ask()))
              yield* adjustTo(3_600_000)
              out.push(yield* generate(ask()))
              return out
            })
          )
          expect(answers).toEqual(["answer 1", "answer 1", "answer 2"])
        }))

      it.scoped("the layer's ttl, counted from when the answer was stored", () =>
        Effect.gen(function*() {
          const model = yield* counting()
          const answers = yield* cached(
            model.layer,
            { ttl: "10 seconds" },
            Effect.gen(function*() {
              yield* adjustTo(1_000)
              const out = [yield* generate(ask())]
              yield* adjustTo(10_999)
              out.push(yield* generate(ask()))
              yield* adjustTo(11_000)
              out.push(yield* generate(ask()))
              return out
            })
          )
          expect(answers).toEqual(["answer 1", "answer 1", "answer 2"])
        }))

      it.scoped("a request's ttl, in milliseconds, as a duration string, or 0 (not kept)", () =>
        Effect.gen(function*() {
          for (const [ttl, lastHitAt] of [[5_000, 4_999], ["2 seconds", 1_999]] as const) {
            const model = yield* counting()
            const request = { ...ask(), cache: { ttl } }
            const answers = yield* cached(
              model.layer,
              {},
              Effect.gen(function*() {
                const start = yield* TestClock.currentTimeMillis
                const out = [yield* generate(request)]
                yield* adjustTo(start + lastHitAt)
                // The TTL belongs to the entry: a lookup without one still finds it, until it expires.
                out.push(yield* generate(ask()))
                yield* adjustTo(start + lastHitAt + 1)
                out.push(yield* generate(ask()))
                return out
              })
            )
            expect([ttl, ...answers]).toEqual([ttl, "answer 1", "answer 1", "answer 2"])
          }
          const model = yield* counting()
          const zero = yield* cached(
            model.layer,
            {},
            Effect.all([generate({ ...ask(), cache: { ttl: 0 } }), generate(ask())])
          )
          expect(zero).toEqual(["answer 1", "answer 2"])
        }))
    } else {
      // Redis expires entries on its own clock: what is checked is the TTL each write gave its key.
      it.scoped("the default TTL is one hour, given to Redis in milliseconds", () =>
        Effect.gen(function*() {
          const model = yield* counting()
          const { entries, store } = yield* stores.make
          const answers = yield* Effect.provide(
            Effect.all([generate(ask()), generate(ask())]),
            Cache.layer(model.layer, { store })
          )
          expect(answers).toEqual(["answer 1", "answer 1"])
          expectOneEntryExpiringIn(yield* entries, 3_600_000)
        }))

      it.scoped("the layer's ttl, and a request's ttl (ms or a duration string); 0 stores nothing", () =>
        Effect.gen(function*() {
          const cases: ReadonlyArray<readonly [Cache.Options, ChatRequest.Input, number | undefined]> = [
            [{ ttl: "10 seconds" }, ask(), 10_000],
            [{ ttl: "10 seconds" }, { ...ask(), cache: { ttl: 5_000 } }, 5_000],
            [{}, { ...ask(), cache: { ttl: "2 seconds" } }, 2_000],
            [{}, { ...ask(), cache: { ttl: 0 } }, undefined]
          ]
          for (const [options, request, ttl] of cases) {
            const model = yield* counting()
            const { entries, store } = yield* stores.make
            const answers = yield* Effect.provide(
              Effect.all([generate(request), generate(ask())]),
              Cache.layer(model.layer, { ...options, store })
            )
            if (ttl === undefined) {
              expect(answers).toEqual(["answer 1", "answer 2"])
              // the second call, without a ttl of its own, stored its answer for the default hour
              expectOneEntryExpiringIn(yield* entries, 3_600_000)
            } else {
              expect(answers).toEqual(["answer 1", "answer 1"])
              expectOneEntryExpiringIn(yield* entries, ttl)
            }
          }
        }))
    }
  })

  describe("per-request controls", () => {
    it.scoped("noCache skips the lookup and stores the fresh answer", () =>
      Effect.gen(function*() {
        const model = yield* counting()
        const answers = yield* cached(
          model.layer,
          {},
          Effect.all([generate(ask()), generate({ ...ask(), cache: { noCache: true } }), generate(ask())])
        )
        expect(answers).toEqual(["answer 1", "answer 2", "answer 2"])
      }))

    it.scoped("noStore does not store the answer, but a stored one still answers", () =>
      Effect.gen(function*() {
        const model = yield* counting()
        const answers = yield* cached(
          model.layer,
          {},
          Effect.all([
            generate({ ...ask(), cache: { noStore: true } }),
            generate(ask()),
            generate({ ...ask(), cache: { noStore: true } })
          ])
        )
        expect(answers).toEqual(["answer 1", "answer 2", "answer 2"])
      }))

    it.scoped("noCache with noStore neither reads nor writes", () =>
      Effect.gen(function*() {
        const model = yield* counting()
        const both = { ...ask(), cache: { noCache: true, noStore: true } }
        const answers = yield* cached(model.layer, {}, Effect.all([generate(ask()), generate(both), generate(ask())]))
        expect(answers).toEqual(["answer 1", "answer 2", "answer 1"])
      }))
  })

  describe("tenants", () => {
    it.scoped("one tenant never reads another's entry, whatever the tenant names hold", () =>
      Effect.gen(function*() {
        const model = yield* counting()
        const tenants = ["a", "b", "a:b", "a%3Ab", "a b", "default"]
        const answers = yield* cached(
          model.layer,
          {},
          Effect.forEach([...tenants, ...tenants], (tenant) => generate(ask("q", { tenant })))
        )
        // "default" is also the tenant of a request that names none.
        expect(answers).toEqual([1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6].map((n) => `answer ${n}`))
      }))

    it.scoped("the tenant without metadata is the default tenant", () =>
      Effect.gen(function*() {
        const model = yield* counting()
        const answers = yield* cached(
          model.layer,
          {},
          Effect.all([generate(ask("q")), generate(ask("q", { tenant: "default" }))])
        )
        expect(answers).toEqual(["answer 1", "answer 1"])
      }))
  })
})

describe("Cache: the size bound of the memory store", () => {
  const cached = cachedOn()
  it.scoped("past maxEntries the least recently used entry goes first", () =>
    Effect.gen(function*() {
      const model = yield* counting()
      const answers = yield* cached(
        model.layer,
        { maxEntries: 2 },
        Effect.forEach(["a", "b", "a", "c", "a", "b"], (content) => generate(ask(content)))
      )
      // "a" was read after "b" was stored: "c" evicts "b", which is then asked again.
      expect(answers).toEqual(["answer 1", "answer 2", "answer 1", "answer 3", "answer 1", "answer 4"])
    }))

  it.effect("the memory store evicts by bytes, and keeps no entry larger than maxBytes", () =>
    Effect.gen(function*() {
      const store = yield* Cache.makeMemoryStore({ maxBytes: 30 })
      const ttl = Duration.hours(1)
      yield* store.set("k1", "x".repeat(8), ttl) // 10 bytes
      yield* store.set("k2", "é".repeat(4), ttl) // 2 + 8 bytes: UTF-8 is counted
      yield* store.set("k3", "x".repeat(8), ttl) // 30 bytes in all: kept
      expect(yield* Effect.all([store.get("k1"), store.get("k2"), store.get("k3")])).toEqual(
        [Option.some("xxxxxxxx"), Option.some("éééé"), Option.some("xxxxxxxx")]
      )
      yield* store.set("k4", "y", ttl) // 3 more bytes: k1, the least recently read, goes
      expect(Option.isNone(yield* store.get("k1"))).toBe(true)
      expect(Option.isSome(yield* store.get("k2"))).toBe(true)
      yield* store.set("big", "z".repeat(28), ttl) // 31 bytes alone
      expect(Option.isNone(yield* store.get("big"))).toBe(true)
      expect(Option.isSome(yield* store.get("k3"))).toBe(true)
    }))
})

describe("Cache: options", () => {
  const build = (options: Cache.Options) =>
    Effect.gen(function*() {
      let built = 0
      const inner = Layer.effect(
        LanguageModel.LanguageModel,
        Effect.flatMap(counting(), (model) => Effect.sync(() => (built++, model.service)))
      )
      const exit = yield* Effect.exit(Layer.build(Cache.layer(inner, options)).pipe(Effect.scoped))
      return { exit, built }
    })

  it.effect("a bad option fails the layer with a ConfigError naming it, before the inner layer is built", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [Cache.Options, string]> = [
        [{ ttl: 0 }, "ttl"],
        [{ ttl: -5 }, "ttl"],
        [{ ttl: "soon" as never }, "ttl"],
        [{ ttl: Infinity }, "ttl"],
        [{ maxEntries: 0 }, "maxEntries"],
        [{ maxEntries: 1.5 }, "maxEntries"],
        [{ maxBytes: -1 }, "maxBytes"],
        [{ store: Effect.runSync(Cache.makeMemoryStore()), maxEntries: 10 }, "maxEntries"],
        // under a millisecond: no entry could outlive the call that stored it
        [{ ttl: 0.5 }, "ttl"],
        [{ ttl: "1 nanos" }, "ttl"],
        // not a Store: every call would fail with a TypeError
        [{ store: {} as Cache.Store }, "store"],
        [{ store: null as unknown as Cache.Store }, "store"],
        [{ store: "redis" as unknown as Cache.Store }, "store"],
        [
          { store: { get: () => Effect.succeed(Option.none()), set: () => Effect.void } as unknown as Cache.Store },
          "store"
        ]
      ]
      for (const [options, option] of cases) {
        const { built, exit } = yield* build(options)
        expect(built).toBe(0)
        if (Exit.isSuccess(exit) || exit.cause._tag !== "Fail" || !ConfigError.isConfigError(exit.cause.error)) {
          throw new Error(`expected a ConfigError for ${JSON.stringify(options)}`)
        }
        const error = exit.cause.error
        expect(error._op === "InvalidData" && error.path).toEqual([option])
        expect(error._op === "InvalidData" && error.message).toMatch(new RegExp(`^Cache\\.layer: ${option}`))
      }
      const typo = yield* build({ tll: "5 minutes" } as Cache.Options)
      expect(Exit.isFailure(typo.exit) && String(Cause.squash(typo.exit.cause))).toContain(
        `Cache.layer: unknown option "tll" (the options are ttl, maxEntries, maxBytes, store)`
      )
      const ok = yield* build({ ttl: "5 minutes", maxEntries: 10, maxBytes: 1_000 })
      expect([Exit.isSuccess(ok.exit), ok.built]).toEqual([true, 1])
    }))

  it.effect("a bad option's message says what is expected and shows what was given", () =>
    Effect.gen(function*() {
      const messageOf = (options: Cache.Options) =>
        Effect.map(build(options), ({ exit }) => Exit.isFailure(exit) ? String(Cause.squash(exit.cause)) : "built")
      expect(yield* messageOf({ ttl: 0.5 })).toContain(
        "Cache.layer: ttl must be a finite duration of at least 1 millisecond (entries are kept in whole milliseconds), got 0.5"
      )
      expect(yield* messageOf({ ttl: "1 nanos" })).toContain("got \"1 nanos\"")
      expect(yield* messageOf({ store: {} as Cache.Store })).toContain(
        "Cache.layer: store must be a Cache.Store (an object with get, set and delete functions, e.g. from makeMemoryStore), got an object whose get, set, delete are not functions"
      )
      expect(yield* messageOf({ store: { get: 1, set: 2, delete: () => Effect.void } as unknown as Cache.Store }))
        .toContain("got an object whose get, set are not functions")
      expect(yield* messageOf({ store: null as unknown as Cache.Store })).toContain("got null")
      expect(yield* messageOf({ maxEntries: "10" as unknown as number })).toContain(
        "Cache.layer: maxEntries must be a positive integer, got \"10\""
      )
    }))

  it.effect("a fractional-ms ttl reaches the store in whole milliseconds, rounded up as Redis keeps it", () =>
    Effect.gen(function*() {
      const ttls: Array<number> = []
      const memory = yield* Cache.makeMemoryStore()
      const store: Cache.Store = {
        ...memory,
        set: (key, value, ttl) =>
          Effect.zipRight(Effect.sync(() => ttls.push(Duration.toMillis(ttl))), memory.set(key, value, ttl))
      }
      const model = yield* counting()
      yield* generate(ask()).pipe(Effect.provide(Cache.layer(model.layer, { ttl: 1.5, store })))
      expect(ttls).toEqual([2])
    }))

  it.effect("the inner layer's other services pass through, its model replaced by the cached one", () =>
    Effect.gen(function*() {
      class Note extends Context.Tag("test/Note")<Note, string>() {}
      const model = yield* counting()
      const inner = Layer.merge(model.layer, Layer.succeed(Note, "from the inner layer"))
      const [note, answers] = yield* Effect.all([
        Note,
        Effect.all([generate(ask("a")), generate(ask("a"))])
      ]).pipe(Effect.provide(Cache.layer(inner, {})))
      expect(note).toBe("from the inner layer")
      expect(answers).toEqual(["answer 1", "answer 1"])
      expect(yield* model.calls).toBe(1)
    }))

  it.effect("makeMemoryStore refuses a bound that is not a positive integer", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Cache.makeMemoryStore({ maxEntries: 0 }))
      expect(error._op === "InvalidData" && error.message).toBe(
        "Cache.makeMemoryStore: maxEntries must be a positive integer, got 0"
      )
    }))

  it.effect("wrap with null or unusable options fails every call with InvalidRequest naming the option", () =>
    Effect.gen(function*() {
      const model = yield* counting()
      const service = yield* LanguageModel.LanguageModel.pipe(Effect.provide(model.layer))
      const store = yield* Cache.makeMemoryStore()
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        [null, "Cache.wrap: options must be an object, got null"],
        [
          { ttl: Duration.minutes(1), store, tll: 1 },
          "Cache.wrap: unknown option \"tll\" (the options are ttl, store)"
        ],
        [{ store }, "Cache.wrap: ttl must be a finite Duration of at least 1 millisecond"],
        [
          { ttl: "1 minute", store },
          "Cache.wrap: ttl must be a finite Duration of at least 1 millisecond (e.g. Duration.minutes(5)), got \"1 minute\""
        ],
        [{ ttl: Duration.infinity, store }, "Cache.wrap: ttl must be a finite Duration"],
        [{ ttl: Duration.minutes(1) }, "Cache.wrap: store must be a Cache.Store"],
        [{ ttl: Duration.minutes(1), store: { get: store.get } }, "an object whose set, delete are not functions"]
      ]
      for (const [options, message] of cases) {
        const cached = Cache.wrap(service, options as never)
        const call = yield* Effect.exit(cached.generate(ask()))
        expect(failure(call)).toMatchObject({ _tag: "InvalidRequest" })
        expect(failure(call).message).toContain(message)
        const stream = yield* Effect.exit(Stream.runDrain(cached.stream(ask())))
        expect(failure(stream).message).toContain(message)
      }
      expect(yield* model.calls).toBe(0)
      // good options still cache
      const cached = Cache.wrap(service, { ttl: Duration.minutes(1), store })
      yield* cached.generate(ask())
      yield* cached.generate(ask())
      expect(yield* model.calls).toBe(1)
    }))
})
