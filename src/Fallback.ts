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
import * as Stream from "effect/Stream"
import type * as ChatRequest from "./ChatRequest.js"
import type * as ChatResponse from "./ChatResponse.js"
import * as Streaming from "./internal/streaming.js"
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
  readonly when: (error: LlmError.LlmError) => boolean
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
  const chain: ReadonlyArray<Built> = steps.map(({ service, step }, i) => ({
    service,
    step,
    when: step.when ?? (i === 0 ? () => false : defaultWhen(steps[i - 1]!.step, step))
  }))

  const moveOn = (
    i: number,
    request: ChatRequest.ChatRequest,
    error: LlmError.LlmError,
    attempts: Array<LlmError.Attempt>,
    start: number
  ) =>
    Effect.gen(function*() {
      const built = chain[i]!
      const now = yield* Clock.currentTimeMillis
      attempts.push({
        step: i,
        provider: built.service.provider,
        model: built.step.model ?? request.model ?? built.service.defaultModel,
        outcome: error._tag,
        durationMs: now - start
      })
      const next = chain[i + 1]
      if (next === undefined || !next.when(error)) {
        return { next: false as const, error: LlmError.withAttempts(error, [...attempts]) }
      }
      const metrics = yield* LlmMetrics.LlmMetrics
      yield* metrics.recordFallback({
        tenant: request.metadata?.tenant,
        fromStep: i,
        provider: built.service.provider,
        model: built.step.model ?? request.model ?? built.service.defaultModel,
        error: error._tag,
        durationMs: now - start
      })
      return { next: true as const, error }
    })

  const generate = (request: ChatRequest.ChatRequest) => {
    const attempts: Array<LlmError.Attempt> = []
    const run = (i: number): Effect.Effect<ChatResponse.ChatResponse, LlmError.LlmError> => {
      const built = chain[i]!
      return Effect.flatMap(
        Clock.currentTimeMillis,
        (start) =>
          withStepPolicy(built)(built.service.generate(prepare(built, request))).pipe(
            Effect.catchAll((error) =>
              Effect.flatMap(
                moveOn(i, request, error, attempts, start),
                (decision) => decision.next ? run(i + 1) : Effect.fail(decision.error)
              )
            )
          )
      )
    }
    return Effect.suspend(() => run(0))
  }

  // The steps' own layers enforce their deadlines; the chain adds none.
  const noDeadlines: Timeout.Timeouts = { request: undefined, firstToken: undefined, idle: undefined, total: undefined }

  const stream = (request: ChatRequest.ChatRequest) => {
    const attempts: Array<LlmError.Attempt> = []
    const run = (i: number): Stream.Stream<StreamPart.StreamPart, LlmError.LlmError> => {
      const built = chain[i]!
      const context = { provider: built.service.provider, model: built.step.model ?? request.model, secrets: [] }
      return Stream.unwrap(Effect.map(Clock.currentTimeMillis, (start) =>
        // The commit point: before the step's first content part its failure may move on; after it the
        // error is a StreamInterrupted, which never does.
        Streaming.withCommitPoint(
          built.service.stream(prepare(built, request)),
          context,
          noDeadlines,
          withStepPolicy(built)
        ).pipe(
          Stream.catchAll((error) =>
            Stream.unwrap(Effect.map(moveOn(i, request, error, attempts, start), (decision) =>
              decision.next ? run(i + 1) : Stream.fail(decision.error)))
          )
        )))
    }
    return Stream.suspend(() => run(0))
  }

  const first = chain[0]!.service
  return LanguageModel.make({
    provider: "fallback",
    defaultModel: first.defaultModel,
    // A request may go to any step: it needs a capability only one of them has.
    capabilities: {
      tools: chain.some((b) => b.service.capabilities.tools),
      vision: chain.some((b) => b.service.capabilities.vision),
      jsonSchema: chain.some((b) => b.service.capabilities.jsonSchema),
      streamingUsage: chain.some((b) => b.service.capabilities.streamingUsage)
    },
    generate,
    stream
  })
}

type StepError<S> = S extends Step<infer E, infer _R> ? E : never
type StepContext<S> = S extends Step<infer _E, infer R> ? R : never

/**
 * A fallback chain as a `LanguageModel` Layer.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { Anthropic, CircuitBreaker, Fallback, LlmError, OpenAi, Retry } from "liter-llm"
 *
 * const Resilient = Fallback.layer([
 *   { provide: CircuitBreaker.layer(OpenAi.layer({ apiKey: Redacted.make("sk-...") }), { key: "openai" }), retry: Retry.policy({ times: 2 }) },
 *   { provide: Anthropic.layer({ apiKey: Redacted.make("sk-ant-...") }), model: "claude-sonnet-4-5", when: LlmError.isRetryable }
 * ])
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <const Steps extends Array.NonEmptyReadonlyArray<Step<unknown, unknown>>>(
  steps: Steps
): Layer.Layer<LanguageModel.LanguageModel, StepError<Steps[number]>, StepContext<Steps[number]>> =>
  Layer.scoped(
    LanguageModel.LanguageModel,
    Effect.map(
      Effect.forEach(steps, (step: Step<unknown, unknown>) =>
        Effect.map(Layer.build(step.provide), (context) => ({
          service: Context.get(context, LanguageModel.LanguageModel),
          step
        }))),
      (built) => make(built as unknown as Array.NonEmptyReadonlyArray<Built>)
    )
    // The steps' errors and requirements are exactly those of their layers; the mapping above loses them.
  ) as unknown as Layer.Layer<LanguageModel.LanguageModel, StepError<Steps[number]>, StepContext<Steps[number]>>
