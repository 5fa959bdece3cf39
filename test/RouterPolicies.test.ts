import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Stream } from "effect"
import type * as ChatResponse from "../src/ChatResponse.js"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as Router from "../src/Router.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { adjustTo, arrivals, openAiLayer } from "./support/loopback.js"
import { ask, errors, failure, runTo, scripted } from "./support/resilience.js"

const always = (provider: string) => Array.from({ length: 20 }, () => ({ text: provider }))

const providerOf = (exit: Exit.Exit<ChatResponse.ChatResponse, unknown>) =>
  Exit.isSuccess(exit) ? exit.value.provider : "failed"

/** Deployment "a" answering in 100 ms after its script, "b" always in 130 ms, under least latency. */
const twoDeployments = (script: ReadonlyArray<MockProvider.Reply>) =>
  Effect.gen(function*() {
    const a = yield* MockProvider.make({
      script,
      onExhausted: OpenAiMock.completion({ text: "a" }, { delay: "100 millis" })
    })
    const b = yield* MockProvider.make({ onExhausted: OpenAiMock.completion({ text: "b" }, { delay: "130 millis" }) })
    const router = yield* Layer.build(Router.layer([
      { name: "a", provide: openAiLayer(a, { name: "a", retry: false }) },
      { name: "b", provide: openAiLayer(b, { name: "b", retry: false }) }
    ], { strategy: "least-latency" }))
    const generate = LanguageModel.generate(ask()).pipe(Effect.provide(router))
    const stream = LanguageModel.stream(ask()).pipe(Stream.runDrain, Effect.provide(router))
    return { a, b, generate, stream }
  })

describe("Router least-latency and faults", () => {
  it.scoped("the caller's mistakes (a 400, in a call or a stream) do not demote the fastest deployment", () =>
    Effect.gen(function*() {
      const { a, b, generate, stream } = yield* twoDeployments([
        OpenAiMock.completion({ text: "a" }, { delay: "100 millis" }),
        OpenAiMock.error(400),
        OpenAiMock.error(400)
      ])
      const providers: Array<string> = []
      providers.push(providerOf(yield* runTo(generate, [100])))
      providers.push(providerOf(yield* runTo(generate, [230])))
      // warmed up: a 100 ms, b 130 ms; then a 400 from a, in a call and in a stream
      expect(failure(yield* runTo(generate, []))._tag).toBe("InvalidRequest")
      expect(failure(yield* runTo(stream, []))._tag).toBe("InvalidRequest")
      providers.push(providerOf(yield* runTo(generate, [330])))
      expect(providers).toEqual(["a", "b", "a"])
      expect(yield* arrivals(a)).toEqual([0, 230, 230, 230])
      expect(yield* arrivals(b)).toEqual([100])
    }))

  it.scoped("a provider fault demotes a deployment, which is sampled again after resampleAfter (30 s)", () =>
    Effect.gen(function*() {
      const { a, b, generate } = yield* twoDeployments([
        OpenAiMock.completion({ text: "a" }, { delay: "100 millis" }),
        OpenAiMock.error(503)
      ])
      const route = (end: number | undefined) => Effect.map(runTo(generate, end === undefined ? [] : [end]), providerOf)
      const providers: Array<string> = []
      providers.push(yield* route(100), yield* route(230))
      // a's 503 counts as twice the slowest average: a = 0.3 * 260 + 0.7 * 100 = 148 > b's 130
      providers.push(yield* route(undefined), yield* route(360))
      yield* adjustTo(30_229)
      providers.push(yield* route(30_359))
      // a last called at 230: 30 s later it gets the next call; 100 ms brings it to 133.6, still behind b
      providers.push(yield* route(30_459), yield* route(30_589))
      // 30 s after that, once more: 123.52 wins a's place back; b, idle for 30 s, is sampled once too
      yield* adjustTo(60_459)
      providers.push(yield* route(60_559), yield* route(60_689), yield* route(60_789))
      expect(providers).toEqual(["a", "b", "failed", "b", "b", "a", "b", "a", "b", "a"])
      expect(yield* arrivals(a)).toEqual([0, 230, 30_359, 60_459, 60_689])
      expect(yield* arrivals(b)).toEqual([100, 230, 30_229, 30_459, 60_559])
    }))
})

describe("Router weights and empty routers", () => {
  it.effect("weighted with every weight 0 gives equal shares", () =>
    Effect.gen(function*() {
      const models = yield* Effect.forEach(["a", "b", "c"], (name) => scripted(always(name), { provider: name }))
      const router = Router.layer(
        models.map((model, i) => ({ name: ["a", "b", "c"][i]!, provide: model.layer, weight: 0 })),
        { strategy: "weighted" }
      )
      const picks: Array<string> = []
      for (const random of [0, 0.3334, 0.6667, 0.9999]) {
        const response = yield* LanguageModel.generate(ask()).pipe(
          Effect.provide(router),
          Effect.withRandomFixed([random])
        )
        picks.push(response.provider)
      }
      expect(picks).toEqual(["a", "b", "c", "c"])
    }))

  it.effect("a router without deployments fails every call with InvalidRequest, for every strategy", () =>
    Effect.gen(function*() {
      for (const strategy of ["priority", "weighted", "least-latency"] as const) {
        const router = Router.layer([], { strategy })
        const call = yield* LanguageModel.generate(ask()).pipe(Effect.provide(router), Effect.exit)
        expect(failure(call)).toMatchObject({ _tag: "InvalidRequest", provider: "router" })
        const stream = yield* LanguageModel.stream(ask()).pipe(Stream.runDrain, Effect.provide(router), Effect.exit)
        expect(failure(stream).message).toContain("no deployments")
      }
    }))
})

describe("Router options from a JavaScript caller", () => {
  it.effect("null, an unknown strategy, an out-of-range or unreadable value: InvalidRequest naming it, no call", () =>
    Effect.gen(function*() {
      const model = yield* scripted([{ text: "never" }])
      const deployments = [{ name: "a", provide: model.layer }]
      const cases: ReadonlyArray<readonly [options: unknown, message: string]> = [
        [null, "router: options must be an object, got null"],
        [{}, "router: strategy must be \"priority\", \"weighted\" or \"least-latency\", got undefined"],
        [
          { strategy: "random" },
          "router: strategy must be \"priority\", \"weighted\" or \"least-latency\", got \"random\""
        ],
        [{ strategy: "priority", latencyAlpha: 2 }, "router: latencyAlpha must be a number in (0, 1], got 2"],
        [{ strategy: "priority", latencyAlpha: 0 }, "router: latencyAlpha must be a number in (0, 1], got 0"],
        [{ strategy: "priority", latencyAlpha: null }, "router: latencyAlpha must be a number in (0, 1], got null"],
        [
          { strategy: "priority", resampleAfter: "soon" },
          "router: resampleAfter must be a duration such as \"30 seconds\", got \"soon\""
        ],
        [{ strategy: "priority", name: null }, "router: name must be a non-empty string, got null"],
        [{ strategy: "priority", latency: 0.5 }, "router: unknown option \"latency\""]
      ]
      for (const [options, message] of cases) {
        const exit = yield* LanguageModel.generate(ask()).pipe(
          Effect.provide(Router.layer(deployments, options as Router.Options)),
          Effect.exit
        )
        expect(failure(exit)).toMatchObject({ _tag: "InvalidRequest", provider: "router" })
        expect(failure(exit).message).toContain(message)
      }
      // a deployment's circuit that is no options object, or whose key is null, is refused too, not defaulted
      for (
        const [circuit, message] of [
          [null, "router: deployment \"a\" has circuit null"],
          [{ key: null }, "circuit: key must be a non-empty string, got null"],
          // a misspelt or bad breaker option names the deployment as well as the option
          [{ treshold: 0.5 }, "router: deployment \"a\" has unusable circuit options: circuit: unknown option"],
          [{ cooldown: "soon" }, "router: deployment \"a\" has unusable circuit options: circuit \"a\": cooldown"]
        ] as const
      ) {
        const router = Router.layer([{ name: "a", provide: model.layer, circuit } as unknown as Router.Deployment], {
          strategy: "priority"
        })
        const exit = yield* LanguageModel.generate(ask()).pipe(Effect.provide(router), Effect.exit)
        expect(failure(exit)).toMatchObject({ _tag: "InvalidRequest" })
        expect(failure(exit).message).toContain(message)
      }
      expect(yield* model.calls).toBe(0)
    }).pipe(Effect.provide(CircuitBreaker.layerMemory)))
})

describe("Router deployments from a JavaScript caller", () => {
  it.effect("a list that is no array of deployments, or a deployment without a Layer: InvalidRequest naming it", () =>
    Effect.gen(function*() {
      const model = yield* scripted([{ text: "never" }])
      const cases: ReadonlyArray<readonly [deployments: unknown, message: string]> = [
        [null, "router: deployments must be an array of deployments, got null"],
        [undefined, "router: deployments must be an array of deployments, got undefined"],
        [{}, "router: deployments must be an array of deployments, got {}"],
        [[null], "router: deployments[0] must be a deployment (an object with a name and a provide Layer), got null"],
        [[{ name: "a" }], "router: deployments[0].provide (deployment \"a\") must be a Layer, got undefined"],
        [[{ name: "a", provide: model.layer }, { name: "b", provide: "x" }], "router: deployments[1].provide"]
      ]
      for (const [deployments, message] of cases) {
        const router = Router.layer(deployments as ReadonlyArray<Router.Deployment>, { strategy: "priority" })
        const call = yield* LanguageModel.generate(ask()).pipe(Effect.provide(router), Effect.exit)
        expect(failure(call)).toMatchObject({ _tag: "InvalidRequest", provider: "router" })
        expect(failure(call).message).toContain(message)
        const stream = yield* LanguageModel.stream(ask()).pipe(Stream.runDrain, Effect.provide(router), Effect.exit)
        expect(failure(stream).message).toContain(message)
      }
      // bad options are named first, as with good deployments
      const both = yield* LanguageModel.generate(ask()).pipe(
        Effect.provide(Router.layer(null as unknown as ReadonlyArray<Router.Deployment>, { strategy: "x" } as never)),
        Effect.exit
      )
      expect(failure(both).message).toContain("router: strategy must be")
      expect(yield* model.calls).toBe(0)
    }))

  it.effect("a misspelt field, a bad name, priority, weight or contextWindow: InvalidRequest naming it, no call", () =>
    Effect.gen(function*() {
      const model = yield* scripted([{ text: "never" }])
      const cases: ReadonlyArray<readonly [fields: Record<string, unknown>, message: string]> = [
        [
          { wieght: 2 },
          "router: deployments[0] has unknown field \"wieght\" (a deployment has name, provide, model, priority, weight, contextWindow, circuit)"
        ],
        [{ name: 5 }, "router: deployments[0].name must be a non-empty string, got 5"],
        [{ name: " " }, "router: deployments[0].name must be a non-empty string, got \" \""],
        [{ name: null }, "router: deployments[0].name must be a non-empty string, got null"],
        [{ model: "" }, "router: deployment \"a\" has model \"\"; a model is a non-empty string"],
        [{ priority: null }, "router: deployment \"a\" has priority null; a priority is a finite number"],
        [{ priority: "1" }, "router: deployment \"a\" has priority \"1\""],
        [{ priority: Infinity }, "router: deployment \"a\" has priority Infinity"],
        [{ weight: "x" }, "router: deployment \"a\" has weight \"x\"; a weight is a finite number >= 0"],
        [{ weight: -1 }, "router: deployment \"a\" has weight -1"],
        [
          { contextWindow: -5 },
          "router: deployment \"a\" has contextWindow -5; a contextWindow is a positive integer (tokens)"
        ],
        [{ contextWindow: 1.5 }, "router: deployment \"a\" has contextWindow 1.5"],
        [{ contextWindow: null }, "router: deployment \"a\" has contextWindow null"]
      ]
      for (const [fields, message] of cases) {
        const deployment = { name: "a", provide: model.layer, ...fields } as unknown as Router.Deployment
        for (const strategy of ["priority", "weighted"] as const) {
          const exit = yield* LanguageModel.generate(ask()).pipe(
            Effect.provide(Router.layer([deployment], { strategy })),
            Effect.exit
          )
          expect(failure(exit)).toMatchObject({ _tag: "InvalidRequest", provider: "router" })
          expect(failure(exit).message).toContain(message)
        }
        // make, over built services, refuses them the same way
        const made = Router.make([{ deployment, service: model.service }], { strategy: "priority" })
        expect(failure(yield* Effect.exit(made.generate(ask()))).message).toContain(message)
      }
      expect(yield* model.calls).toBe(0)
    }))

  it.effect("Router.make with null or malformed arguments: InvalidRequest naming them, no TypeError", () =>
    Effect.gen(function*() {
      const model = yield* scripted([{ text: "never" }])
      const cases: ReadonlyArray<readonly [deployments: unknown, options: unknown, message: string]> = [
        [null, null, "router: options must be an object, got null"],
        [null, { strategy: "priority" }, "router: deployments must be an array of deployments, got null"],
        [[null], { strategy: "priority" }, "router: deployments[0] must be { deployment, service }, got null"],
        [
          [{ deployment: { name: "a", provide: model.layer }, service: null }],
          { strategy: "priority" },
          "router: deployments[0].service must be a LanguageModel service, got null"
        ],
        [
          [{ deployment: null, service: model.service }],
          { strategy: "priority" },
          "router: deployments[0] must be a deployment"
        ]
      ]
      for (const [deployments, options, message] of cases) {
        const router = Router.make(deployments as never, options as Router.Options)
        const exit = yield* Effect.exit(router.generate(ask()))
        expect(failure(exit)).toMatchObject({ _tag: "InvalidRequest", provider: "router" })
        expect(failure(exit).message).toContain(message)
      }
      expect(yield* model.calls).toBe(0)
    }))
})

describe("Router breaker keys", () => {
  it.effect("two routers over deployments of the same names do not share breakers", () =>
    Effect.gen(function*() {
      const first = yield* scripted([errors.overloaded("a1")], { provider: "a1" })
      const second = yield* scripted(always("a2"), { provider: "a2" })
      const fallback = yield* scripted(always("b"), { provider: "b" })
      const routerOver = (a: Layer.Layer<LanguageModel.LanguageModel>) =>
        Router.layer([
          { name: "a", provide: a, circuit: { minimumCalls: 1 } },
          { name: "b", provide: fallback.layer, priority: 1 }
        ], { strategy: "priority" })
      const one = yield* LanguageModel.generate(ask()).pipe(Effect.provide(routerOver(first.layer)), Effect.exit)
      expect(failure(one)._tag).toBe("Overloaded")
      // the first router's "a" is open; the second's is another breaker, closed
      const two = yield* LanguageModel.generate(ask()).pipe(Effect.provide(routerOver(second.layer)))
      expect(two.provider).toBe("a2")
      expect(yield* fallback.calls).toBe(0)
    }).pipe(Effect.provide(CircuitBreaker.layerMemory)))

  it.effect("a named router's default keys are <name>/<deployment>, shared by every build of it", () =>
    Effect.gen(function*() {
      const a = yield* scripted([errors.overloaded("a"), { text: "never" }], { provider: "a" })
      const b = yield* scripted(always("b"), { provider: "b" })
      const router = Router.layer([
        { name: "a", provide: a.layer, circuit: { minimumCalls: 1 } },
        { name: "b", provide: b.layer, priority: 1 }
      ], { strategy: "priority", name: "gpt" })
      yield* LanguageModel.generate(ask()).pipe(Effect.provide(router), Effect.exit)
      expect(yield* CircuitBreaker.state("gpt/a")).toMatchObject({ state: "open" })
      // Effect.provide builds the layer again: the same breaker keeps "a" out
      expect((yield* LanguageModel.generate(ask()).pipe(Effect.provide(router))).provider).toBe("b")
      expect(yield* a.calls).toBe(1)
    }).pipe(Effect.provide(CircuitBreaker.layerMemory)))
})
