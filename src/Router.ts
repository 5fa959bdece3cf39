/**
 * A `LanguageModel` over several deployments (of one model family, or interchangeable models), choosing one
 * per call:
 *
 * - only deployments that can serve the request are eligible: capabilities (tools, vision, JSON schema) and
 *   context window (estimated prompt tokens plus `maxTokens`), and whose circuit breaker would not refuse;
 * - among them the `strategy` picks: `"priority"` (lowest `priority`, then declaration order), `"weighted"`
 *   (at random in proportion to `weight`, drawn from Effect's `Random`), or `"least-latency"` (lowest moving
 *   average of time to first token for streams and duration for calls; unmeasured deployments first, and one
 *   call to a deployment left unused for `resampleAfter`, so a demoted one can win its place back).
 *
 * A failure of the chosen deployment is returned as is; wrap routers in a `Fallback` chain (or put a router
 * in a step) to move on.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as ChatRequest from "./ChatRequest.js"
import * as CircuitBreaker from "./CircuitBreaker.js"
import type * as Fallback from "./Fallback.js"
import * as OptionChecks from "./internal/optionChecks.js"
import * as PolicyStream from "./internal/policyStream.js"
import * as RouterOptions from "./internal/routerOptions.js"
import * as LanguageModel from "./LanguageModel.js"
import * as LlmError from "./LlmError.js"
import * as StreamPart from "./StreamPart.js"

/**
 * One deployment a router may choose: its layer and name, and its model, priority, weight, context window and
 * circuit breaker.
 *
 * @since 0.1.0
 * @category models
 */
export interface Deployment<E = never, R = never> {
  readonly name: string
  readonly provide: Layer.Layer<LanguageModel.LanguageModel, E, R>
  /** Call this deployment with this model instead of the request's. */
  readonly model?: string | undefined
  /** Lower is preferred (default 0). */
  readonly priority?: number | undefined
  /** Relative share of traffic under `"weighted"` (default 1; 0 only when no other can serve; never negative). */
  readonly weight?: number | undefined
  /** In tokens; requests estimated larger are not sent here. */
  readonly contextWindow?: number | undefined
  /**
   * Guard the deployment with a circuit breaker, keyed by `key`: by default `<router name>/<deployment name>`,
   * so two routers never share a breaker by accident.
   */
  readonly circuit?: Partial<CircuitBreaker.Options> | undefined
}

/**
 * How a router chooses a deployment for each call.
 *
 * @since 0.1.0
 * @category models
 */
export type Strategy = "priority" | "weighted" | "least-latency"

/**
 * The settings of a router: its strategy and name, and for the latency strategy how latency is averaged and how
 * often a slower deployment is tried again.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly strategy: Strategy
  /**
   * The router's name, the first part of its deployments' default breaker keys (`<name>/<deployment>`). Give
   * one to share breakers between builds of the router (or processes, with a shared store) and to observe
   * them with `CircuitBreaker.state`; by default each built router gets its own (`router-1`, `router-2`, ...).
   */
  readonly name?: string | undefined
  /** Weight of the newest sample in the latency moving average, in (0, 1] (default 0.3). */
  readonly latencyAlpha?: number | undefined
  /**
   * Under `"least-latency"`: a deployment not called for this long gets the next call, to refresh its average
   * (default 30 seconds).
   */
  readonly resampleAfter?: Duration.DurationInput | undefined
}

// Numbers routers without a name, so their breakers' default keys cannot collide.
let unnamedRouters = 0

// A value JSON cannot encode counts for nothing here; encoding the request reports it properly.
const jsonLength = (value: unknown): number => {
  try {
    return JSON.stringify(value)?.length ?? 0
  } catch {
    return 0
  }
}

/**
 * A rough token count for routing by context window: 4 characters per token, plus the output budget. Precise
 * counting belongs to the context-window policy; here an estimate only has to rule out clear misfits.
 *
 * @since 0.1.0
 * @category utils
 */
export const estimateTokens = (request: ChatRequest.ChatRequest): number => {
  let chars = 0
  for (const message of request.messages) {
    chars += message.role === "tool" ? jsonLength(message.content) : ChatRequest.messageText(message).length
  }
  return Math.ceil(chars / 4) + (request.maxTokens ?? 0)
}

interface Built {
  readonly deployment: Deployment<unknown, unknown>
  readonly service: LanguageModel.Service
  readonly circuitKey: string | undefined
  latency: number | undefined
  /** When it was last chosen (epoch ms of Effect's `Clock`). */
  chosenAt: number | undefined
}

/**
 * A router over built services (see {@link layer}).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  deployments: ReadonlyArray<
    { readonly deployment: Deployment<unknown, unknown>; readonly service: LanguageModel.Service }
  >,
  options: Options
): LanguageModel.Service => {
  const settings = RouterOptions.settingsOf(options)
  // Unusable options or deployments fail every call with `InvalidRequest` naming the option (in `eligible`).
  const problem = Either.isLeft(settings) ? settings.left : RouterOptions.builtProblem(deployments)
  const { alpha, name, resampleMillis, strategy } = Either.getOrElse(settings, () => RouterOptions.fallbackSettings)
  const routerName = name ?? `router-${++unnamedRouters}`
  const usableDeployments = problem === undefined ? deployments : []
  const built: Array<Built> = usableDeployments.map(({ deployment, service }) => {
    const circuit: unknown = deployment.circuit
    // A circuit that is no options object is refused below; a `key` given (even `null`) is the breaker's to judge.
    const usable = OptionChecks.isRecord(circuit)
    const key = !usable
      ? undefined
      : circuit.key === undefined
      ? `${routerName}/${deployment.name}`
      : circuit.key
    return {
      deployment,
      service: !usable
        ? service
        : CircuitBreaker.wrap(service, { ...circuit, key } as unknown as CircuitBreaker.Options),
      circuitKey: typeof key === "string" ? key : undefined,
      latency: undefined,
      chosenAt: undefined
    }
  })
  const eligible = (request: ChatRequest.ChatRequest) =>
    Effect.gen(function*() {
      if (problem !== undefined) {
        return yield* new LlmError.InvalidRequest({ provider: "router", message: problem })
      }
      if (built.length === 0) {
        return yield* new LlmError.InvalidRequest({ provider: "router", message: "router: it has no deployments" })
      }
      const tokens = estimateTokens(request)
      const able = built.filter((b) => LanguageModel.missingCapabilities(b.service.capabilities, request).length === 0)
      if (able.length === 0) {
        return yield* new LlmError.InvalidRequest({
          provider: "router",
          message: `router: no deployment supports ${
            LanguageModel.missingCapabilities(built[0]!.service.capabilities, request).join(", ")
          }`
        })
      }
      const capable = able.filter((b) =>
        b.deployment.contextWindow === undefined || tokens <= b.deployment.contextWindow
      )
      if (capable.length === 0) {
        // A fallback chain moves on from this to a step with a larger window.
        return yield* new LlmError.ContextLengthExceeded({
          provider: "router",
          message: `router: ~${tokens} tokens (prompt estimate plus maxTokens) fit no deployment's context window`
        })
      }
      const open = yield* Effect.forEach(capable, (b) =>
        b.circuitKey === undefined
          ? Effect.succeed(false)
          : CircuitBreaker.isRejecting(b.circuitKey, { halfOpenProbes: b.deployment.circuit?.halfOpenProbes }))
      const closed = capable.filter((_, i) => !open[i])
      // Every candidate's breaker is open: call the first, whose breaker answers with CircuitOpen{until}.
      return closed.length === 0 ? [capable[0]!] : closed
    })

  const choose = (candidates: ReadonlyArray<Built>): Effect.Effect<Built> => {
    switch (strategy) {
      case "priority":
        return Effect.succeed(
          candidates.reduce((best, b) => (b.deployment.priority ?? 0) < (best.deployment.priority ?? 0) ? b : best)
        )
      case "least-latency":
        return Effect.map(Clock.currentTimeMillis, (now) => {
          const fastest = candidates.reduce((best, b) => (b.latency ?? -1) < (best.latency ?? -1) ? b : best)
          if (fastest.latency === undefined) return fastest
          // The longest unused deployment, if it is due for a fresh sample: one slow answer or provider fault
          // must not demote a deployment for good.
          const idlest = candidates.reduce((best, b) =>
            (b.chosenAt ?? -Infinity) < (best.chosenAt ?? -Infinity) ? b : best
          )
          return idlest !== fastest && now - (idlest.chosenAt ?? -Infinity) >= resampleMillis ? idlest : fastest
        })
      case "weighted": {
        // Weight 0 takes traffic only when nothing else can; all zero means equal shares.
        const positive = candidates.filter((b) => (b.deployment.weight ?? 1) > 0)
        const pool = positive.length > 0 ? positive : candidates
        const weightOf = (b: Built) => positive.length > 0 ? b.deployment.weight ?? 1 : 1
        const total = pool.reduce((sum, b) => sum + weightOf(b), 0)
        return Effect.map(Random.next, (r) => {
          let point = r * total
          for (const b of pool) {
            point -= weightOf(b)
            if (point < 0) return b
          }
          return pool[pool.length - 1]!
        })
      }
    }
  }

  const observe = (b: Built, millis: number) => {
    b.latency = b.latency === undefined ? millis : alpha * millis + (1 - alpha) * b.latency
  }

  // A provider fault counts as twice the slowest latency seen (at least 1 ms), so a deployment that always
  // fails is never the "fastest". The caller's mistakes (a 400) and policy refusals say nothing of its speed.
  const penalize = (b: Built, error: LlmError.LlmError, millis: number) => {
    if (LlmError.fault(error) !== "provider") return
    observe(b, Math.max(1, 2 * Math.max(millis, ...built.map((other) => other.latency ?? 0))))
  }

  const pick = (request: ChatRequest.ChatRequest) =>
    Effect.gen(function*() {
      const b = yield* Effect.flatMap(eligible(request), choose)
      const start = yield* Clock.currentTimeMillis
      b.chosenAt = start
      return { b, start }
    })

  const prepare = (b: Built, request: ChatRequest.ChatRequest) =>
    b.deployment.model === undefined ? request : { ...request, model: b.deployment.model }

  return LanguageModel.make({
    provider: "router",
    defaultModel: built[0]?.service.defaultModel,
    // Policies above the router estimate at its first deployment's prices (the answer carries its own cost).
    pricingProvider: built[0] === undefined ? undefined : LanguageModel.pricingProvider(built[0].service),
    capabilities: {
      tools: built.some((b) => b.service.capabilities.tools),
      vision: built.some((b) => b.service.capabilities.vision),
      jsonSchema: built.some((b) => b.service.capabilities.jsonSchema),
      streamingUsage: built.some((b) => b.service.capabilities.streamingUsage)
    },
    generate: (request) =>
      Effect.gen(function*() {
        const { b, start } = yield* pick(request)
        return yield* Effect.onExit(b.service.generate(prepare(b, request)), (exit) =>
          Effect.map(Clock.currentTimeMillis, (now) => {
            if (Exit.isSuccess(exit)) {
              return observe(b, now - start)
            }
            const error = Cause.failureOption(exit.cause)
            if (Option.isSome(error)) {
              penalize(b, error.value, now - start)
            }
          }))
      }),
    stream: PolicyStream.make((request) =>
      Effect.gen(function*() {
        const { b, start } = yield* pick(request)
        const clock = yield* Effect.clock
        let measured = false
        return PolicyStream.readFrom({
          service: b.service,
          request: prepare(b, request),
          // The deployment's latency is to its first content part, or to its failure before one.
          observe: (chunk) => {
            if (!measured && Chunk.some(chunk, StreamPart.isContent)) {
              measured = true
              observe(b, clock.unsafeCurrentTimeMillis() - start)
            }
          },
          failed: (cause) => {
            const error = Cause.failureOption(cause)
            if (!measured && Option.isSome(error)) {
              measured = true
              penalize(b, error.value, clock.unsafeCurrentTimeMillis() - start)
            }
          }
        })
      })
    )
  })
}

type DeploymentError<D> = D extends Deployment<infer E, infer _R> ? E : never
type DeploymentContext<D> = D extends Deployment<infer _E, infer R> ? R : never

/**
 * A router as a `LanguageModel` Layer.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { OpenAi, Router } from "liter-llm"
 *
 * const Balanced = Router.layer([
 *   { name: "eastus", provide: OpenAi.layerAzure({ endpoint: "https://east.openai.azure.com", deployment: "gpt-4o", apiKey: Redacted.make("k1") }), weight: 3, circuit: {} },
 *   { name: "westeu", provide: OpenAi.layerAzure({ endpoint: "https://west.openai.azure.com", deployment: "gpt-4o", apiKey: Redacted.make("k2") }), weight: 1, circuit: {} }
 * ], { strategy: "weighted" })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <const Deployments extends ReadonlyArray<Deployment<unknown, unknown>>>(
  // Each deployment exactly a `Deployment`: an inferred tuple skips TypeScript's check of unknown fields (`wieght`).
  deployments:
    & Deployments
    & { readonly [I in keyof Deployments]: Fallback.Exact<Deployments[I], Deployment<unknown, unknown>> },
  options: Options
): Layer.Layer<
  LanguageModel.LanguageModel,
  DeploymentError<Deployments[number]>,
  DeploymentContext<Deployments[number]>
> => {
  // Checked before any deployment's layer is built: bad deployments fail every call with `InvalidRequest`
  // naming the field, as bad options do, never a defect while building.
  const problem = RouterOptions.deploymentsProblem(
    deployments,
    (item, index) => RouterOptions.deploymentProblem(item, index, true)
  )
  return Layer.scoped(
    LanguageModel.LanguageModel,
    problem !== undefined
      ? Effect.sync(() =>
        failing(Either.match(RouterOptions.settingsOf(options), { onLeft: (bad) => bad, onRight: () => problem }))
      )
      : Effect.map(
        Effect.forEach(
          deployments as ReadonlyArray<Deployment<unknown, unknown>>,
          (deployment) =>
            Effect.map(Layer.build(deployment.provide), (context) => ({
              deployment,
              service: Context.get(context, LanguageModel.LanguageModel)
            }))
        ),
        (built) => make(built, options)
      )
    // The deployments' errors and requirements are exactly those of their layers; the mapping above loses them.
  ) as unknown as Layer.Layer<
    LanguageModel.LanguageModel,
    DeploymentError<Deployments[number]>,
    DeploymentContext<Deployments[number]>
  >
}

/**
 * A router whose every call fails with `InvalidRequest` saying `problem`. It announces every capability, so that
 * a fallback chain calls it (and reports the problem) rather than skipping it.
 */
const failing = (problem: string): LanguageModel.Service =>
  PolicyStream.refusing({
    provider: "router",
    defaultModel: undefined,
    pricingProvider: undefined,
    capabilities: { tools: true, vision: true, jsonSchema: true, streamingUsage: false }
  }, problem)
