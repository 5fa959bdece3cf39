/**
 * Fallback chains: an ordered list of steps, each a `LanguageModel` Layer with its own retry policy, tried in
 * turn while the error says moving on can help. The chain is itself a `LanguageModel` Layer, so chains nest
 * and wrap like any provider.
 *
 * Streams keep the commit point: a step that fails before its first content part hands over to the next one
 * invisibly; once content has reached the consumer the stream is never spliced with another step, and a
 * failure is `StreamInterrupted`.
 *
 * @since 0.1.0
 */
import type * as Array from "effect/Array"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as ChatRequest from "./ChatRequest.js"
import type * as ChatResponse from "./ChatResponse.js"
import * as CommitPoint from "./internal/commitPoint.js"
import * as PolicyStream from "./internal/policyStream.js"
import * as LanguageModel from "./LanguageModel.js"
import * as LlmError from "./LlmError.js"
import * as LlmMetrics from "./LlmMetrics.js"
import * as Retry from "./Retry.js"
import type * as StreamPart from "./StreamPart.js"
import type * as Timeout from "./Timeout.js"

/**
 * One step of a chain. Field names follow `effect/ExecutionPlan` (`provide`, and `while` there is `when`
 * here, read as "move on to this step when the previous one failed with that").
 *
 * @since 0.1.0
 * @category models
 */
export interface Step<E = never, R = never> {
  readonly provide: Layer.Layer<LanguageModel.LanguageModel, E, R>
  /** Call this step with this model instead of the request's. */
  readonly model?: string | undefined
  /** This step's retry policy, replacing its provider layer's own (`false`: one attempt). */
  readonly retry?: Retry.Policy | false | undefined
  /** Whether to move on to this step after the previous step's error (default {@link defaultWhen}). */
  readonly when?: ((error: LlmError.LlmError) => boolean) | undefined
  /** The step's context window in tokens, so `ContextLengthExceeded` can move on to a larger one. */
  readonly contextWindow?: number | undefined
}

/**
 * The default reason to move on from `previous` to `next`: a retryable error, an open circuit, or a
 * `ContextLengthExceeded` when `next` declares a larger context window than `previous`.
 *
 * @since 0.1.0
 * @category predicates
 */
export const defaultWhen = (
  previous: Pick<Step, "contextWindow">,
  next: Pick<Step, "contextWindow">
) =>
(error: LlmError.LlmError): boolean => {
  if (error._tag === "CircuitOpen") return true
  if (error._tag === "ContextLengthExceeded") {
    return next.contextWindow !== undefined &&
      (previous.contextWindow === undefined || next.contextWindow > previous.contextWindow)
  }
  return error._tag !== "StreamInterrupted" && LlmError.isRetryable(error)
}

interface Built {
  readonly service: LanguageModel.Service
  readonly step: Step<unknown, unknown>
}

const prepare = (built: Built, request: ChatRequest.ChatRequest): ChatRequest.ChatRequest =>
  built.step.model === undefined ? request : { ...request, model: built.step.model }

const withStepPolicy = (built: Built) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  built.step.retry === undefined ? effect : Retry.withPolicy(built.step.retry)(effect)

/**
 * A chain over built services (see {@link layer}).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  steps: Array.NonEmptyReadonlyArray<{ readonly service: LanguageModel.Service; readonly step: Step<unknown, unknown> }>
): LanguageModel.Service => {
  // A JavaScript caller may pass no step, or malformed ones: every call fails with a clear error, as an empty
  // router's does.
  if (!globalThis.Array.isArray(steps) || steps.length === 0) return empty
  for (const [index, built] of (steps as ReadonlyArray<unknown>).entries()) {
    const { service, step } = (typeof built === "object" && built !== null ? built : {}) as {
      readonly service?: unknown
      readonly step?: unknown
    }
    if (typeof service !== "object" || service === null || typeof step !== "object" || step === null) {
      return unusable(`step ${index} is not a built step (give it as { service, step })`)
    }
    const problem = stepOptionsProblem(step, index)
    if (problem !== undefined) return unusable(problem)
  }
  const chain: ReadonlyArray<Built> = steps.map(({ service, step }) => ({ service, step }))

  /** The steps able to serve the request, in order: a step lacking a capability is skipped, as a router would. */
  const plan = (request: ChatRequest.ChatRequest): Effect.Effect<ReadonlyArray<Built>, LlmError.InvalidRequest> => {
    const capable = chain.filter((b) => LanguageModel.missingCapabilities(b.service.capabilities, request).length === 0)
    return capable.length > 0 ? Effect.succeed(capable) : LanguageModel.checkCapabilities(
      chain[0]!.service.capabilities,
      request,
      { provider: "fallback", model: request.model }
    ).pipe(Effect.as(capable))
  }

  /**
   * Records a failed attempt and decides which step comes next, if any. After a `StreamInterrupted`, content
   * has reached the consumer: the chain never moves on, whatever `when` says.
   */
  const moveOn = (
    steps: ReadonlyArray<Built>,
    position: number,
    request: ChatRequest.ChatRequest,
    error: LlmError.LlmError,
    attempts: Array<LlmError.Attempt>,
    start: number
  ) =>
    Effect.gen(function*() {
      const built = steps[position]!
      const now = yield* Clock.currentTimeMillis
      const model = built.step.model ?? request.model ?? built.service.defaultModel
      attempts.push({
        step: chain.indexOf(built),
        provider: built.service.provider,
        model,
        outcome: error._tag,
        durationMs: now - start
      })
      // The next step is the first later one whose `when` accepts the error (each step's `when` is its entry
      // condition, so e.g. a context overflow skips smaller windows to reach a larger one).
      const target = error._tag === "StreamInterrupted" ?
        -1 :
        steps.findIndex((next, p) => p > position && (next.step.when ?? defaultWhen(built.step, next.step))(error))
      if (target < 0) return { next: undefined, error: LlmError.withAttempts(error, [...attempts]) }
      const metrics = yield* LlmMetrics.LlmMetrics
      yield* metrics.recordFallback({
        tenant: request.metadata?.tenant,
        fromStep: chain.indexOf(built),
        provider: built.service.provider,
        model,
        error: error._tag,
        durationMs: now - start
      })
      return { next: target, error }
    })

  const generate = (request: ChatRequest.ChatRequest) =>
    Effect.flatMap(plan(request), (steps) => {
      // Per run, so a re-run effect reports only its own attempts.
      const attempts: Array<LlmError.Attempt> = []
      const run = (position: number): Effect.Effect<ChatResponse.ChatResponse, LlmError.LlmError> => {
        const built = steps[position]!
        return Effect.flatMap(
          Clock.currentTimeMillis,
          (start) =>
            withStepPolicy(built)(built.service.generate(prepare(built, request))).pipe(
              Effect.catchAll((error) =>
                Effect.flatMap(
                  moveOn(steps, position, request, error, attempts, start),
                  (decision) => decision.next === undefined ? Effect.fail(decision.error) : run(decision.next)
                )
              )
            )
        )
      }
      return run(0)
    })

  // The steps' own layers enforce their deadlines; the chain adds none.
  const noDeadlines: Timeout.Timeouts = { request: undefined, firstToken: undefined, idle: undefined, total: undefined }

  const stream = (request: ChatRequest.ChatRequest) =>
    Stream.unwrap(Effect.map(plan(request), (steps) => {
      const attempts: Array<LlmError.Attempt> = []
      const run = (position: number): Stream.Stream<StreamPart.StreamPart, LlmError.LlmError> => {
        const built = steps[position]!
        const context = { provider: built.service.provider, model: built.step.model ?? request.model, secrets: [] }
        return Stream.unwrap(Effect.map(Clock.currentTimeMillis, (start) =>
          // The commit point: before the step's first content part its failure may move on; after it the
          // error is a StreamInterrupted, which never does.
          CommitPoint.withCommitPoint(
            built.service.stream(prepare(built, request)),
            context,
            noDeadlines,
            withStepPolicy(built)
          ).pipe(
            Stream.catchAll((error) =>
              Stream.unwrap(Effect.map(
                moveOn(steps, position, request, error, attempts, start),
                (decision) => decision.next === undefined ? Stream.fail(decision.error) : run(decision.next)
              ))
            )
          )))
      }
      return run(0)
    }))

  // The same chain read as a pull (see `LanguageModel.toPull`): each step's pull through the commit point.
  const pull = (request: ChatRequest.ChatRequest) =>
    PolicyStream.lazy(Effect.flatMap(plan(request), (steps) => {
      const attempts: Array<LlmError.Attempt> = []
      const run = (position: number): Effect.Effect<LanguageModel.Pull, LlmError.LlmError, Scope.Scope> => {
        const built = steps[position]!
        const context = { provider: built.service.provider, model: built.step.model ?? request.model, secrets: [] }
        return Effect.flatMap(Clock.currentTimeMillis, (start) =>
          CommitPoint.committed(
            LanguageModel.toPull(built.service, prepare(built, request)),
            context,
            noDeadlines,
            withStepPolicy(built)
          ).pipe(
            // After the commit point every failure is a StreamInterrupted, which never moves on: recorded, it
            // ends the stream with the chain's attempts.
            Effect.map((pull): LanguageModel.Pull =>
              Effect.catchAll(pull, (error) =>
                Option.isNone(error) ? Effect.fail(error) : Effect.flatMap(
                  moveOn(steps, position, request, error.value, attempts, start),
                  (decision) => Effect.fail(Option.some(decision.error))
                ))
            ),
            Effect.catchAll((error) =>
              Effect.flatMap(
                moveOn(steps, position, request, error, attempts, start),
                (decision) => decision.next === undefined ? Effect.fail(decision.error) : run(decision.next)
              )
            )
          ))
      }
      return run(0)
    }))

  const first = chain[0]!.service
  return LanguageModel.make({
    provider: "fallback",
    defaultModel: first.defaultModel,
    // Policies above the chain estimate at its first step's prices (the answer carries its own cost).
    pricingProvider: LanguageModel.pricingProvider(first),
    // A request goes to the steps that can serve it: the chain can serve what any step can.
    capabilities: {
      tools: chain.some((b) => b.service.capabilities.tools),
      vision: chain.some((b) => b.service.capabilities.vision),
      jsonSchema: chain.some((b) => b.service.capabilities.jsonSchema),
      streamingUsage: chain.some((b) => b.service.capabilities.streamingUsage)
    },
    generate,
    stream: LanguageModel.withPull(stream, pull)
  })
}

/** A chain that cannot run (given from JavaScript without steps, or with a step that is no layer). */
const unusable = (problem: string): LanguageModel.Service => {
  const error = new LlmError.InvalidRequest({ provider: "fallback", message: `fallback: ${problem}` })
  return LanguageModel.make({
    provider: "fallback",
    generate: () => Effect.fail(error),
    stream: () => Stream.fail(error)
  })
}

const empty = unusable("the chain has no steps")

// What is wrong with one step a JavaScript caller (or a cast) passed, if anything.
const stepProblem = (step: unknown, index: number): string | undefined =>
  typeof step !== "object" || step === null || !Layer.isLayer((step as { provide?: unknown }).provide)
    ? `step ${index} has no layer to provide (give it as { provide: layer })`
    : stepOptionsProblem(step, index)

const stepOptions: ReadonlyArray<string> = ["provide", "model", "retry", "when", "contextWindow"]

// What is wrong with a step's options, if anything: checked where the chain is made, not at its first failure.
const stepOptionsProblem = (step: object, index: number): string | undefined => {
  const unknown = Object.keys(step).find((key) => !stepOptions.includes(key))
  if (unknown !== undefined) {
    return `step ${index} has an unknown option ${JSON.stringify(unknown)} (known: ${stepOptions.join(", ")})`
  }
  const { contextWindow, model, retry, when } = step as {
    readonly model?: unknown
    readonly retry?: unknown
    readonly when?: unknown
    readonly contextWindow?: unknown
  }
  if (model !== undefined && (typeof model !== "string" || model.trim() === "")) {
    return `step ${index}'s model must be a non-empty model name`
  }
  if (when !== undefined && typeof when !== "function") {
    return `step ${index}'s when must be a function of the previous step's error`
  }
  if (retry !== undefined && retry !== false && !Retry.isPolicy(retry)) {
    return `step ${index}'s retry must be a policy from Retry.policy(...) or false`
  }
  if (contextWindow !== undefined && !(Number.isSafeInteger(contextWindow) && (contextWindow as number) > 0)) {
    return `step ${index}'s contextWindow must be a whole number of tokens > 0`
  }
  return undefined
}

// What is wrong with the steps a JavaScript caller passed, if anything.
const stepsProblem = (steps: unknown): string | undefined => {
  if (!globalThis.Array.isArray(steps)) return "the chain has no steps"
  for (const [index, step] of steps.entries()) {
    const problem = stepProblem(step, index)
    if (problem !== undefined) return problem
  }
  return undefined
}

/**
 * `S` with no field that `Shape` lacks: such a field must be `never`, so a misspelt option is a type error.
 *
 * @since 0.2.0
 * @category models
 */
export type Exact<S, Shape> = S & { readonly [K in Exclude<keyof S, keyof Shape>]: never }

type StepError<S> = S extends Step<infer E, infer _R> ? E : never
type StepContext<S> = S extends Step<infer _E, infer R> ? R : never

/**
 * A fallback chain as a `LanguageModel` Layer.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { Anthropic, CircuitBreaker, Fallback, OpenAi, Retry } from "liter-llm"
 *
 * const Resilient = Fallback.layer([
 *   { provide: CircuitBreaker.layer(OpenAi.layer({ apiKey: Redacted.make("sk-...") }), { key: "openai" }), retry: Retry.policy({ times: 2 }) },
 *   // moves on after retryable errors, an open circuit, or a context overflow (its window is larger)
 *   { provide: Anthropic.layer({ apiKey: Redacted.make("sk-ant-...") }), model: "claude-sonnet-4-5", contextWindow: 200_000 },
 *   // a custom `when`: only when the others are overloaded
 *   { provide: OpenAi.layer({ name: "backup", baseUrl: "http://127.0.0.1:8000/v1" }), when: (e) => e._tag === "Overloaded" }
 * ])
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <const Steps extends Array.NonEmptyReadonlyArray<Step<unknown, unknown>>>(
  // Each step exactly a `Step`: an inferred tuple skips TypeScript's check of unknown fields (`modle`).
  steps: Steps & { readonly [I in keyof Steps]: Exact<Steps[I], Step<unknown, unknown>> }
): Layer.Layer<LanguageModel.LanguageModel, StepError<Steps[number]>, StepContext<Steps[number]>> => {
  const problem = stepsProblem(steps)
  if (problem !== undefined) return Layer.succeed(LanguageModel.LanguageModel, unusable(problem))
  return Layer.scoped(
    LanguageModel.LanguageModel,
    Effect.map(
      Effect.forEach(
        steps as ReadonlyArray<Step<unknown, unknown>>,
        (step) =>
          Effect.map(Layer.build(step.provide), (context) => ({
            service: Context.get(context, LanguageModel.LanguageModel),
            step
          }))
      ),
      (built) => make(built as unknown as Array.NonEmptyReadonlyArray<Built>)
    )
    // The steps' errors and requirements are exactly those of their layers; the mapping above loses them.
  ) as unknown as Layer.Layer<LanguageModel.LanguageModel, StepError<Steps[number]>, StepContext<Steps[number]>>
}
