/**
 * A policy's `stream`, written once as what the policy does when a stream opens, in both forms: a `Stream`, and
 * a pull that `LanguageModel.toPull` reads with no stream stage (each stream stage costs a channel's run, about
 * as many Effect operations per stream as the provider's own call). Both forms open in the stream's scope and
 * see the same chunks and failures, so a policy behaves the same whichever its consumer reads.
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as ChatRequest from "../ChatRequest.js"
import * as LanguageModel from "../LanguageModel.js"
import * as LlmError from "../LlmError.js"
import type * as StreamPart from "../StreamPart.js"
import * as Streaming from "./streaming.js"

/** What an opened stream reads: a service's stream, watched, or parts the policy answers with. */
export type Opened =
  | {
    readonly _tag: "Inner"
    readonly service: LanguageModel.Service
    /** The request to send instead of the stream's own (a trimmed one, a deployment's model). */
    readonly request?: ChatRequest.ChatRequest | undefined
    /** Sees every chunk of the inner stream as it goes by. */
    readonly observe?: ((chunk: Chunk.Chunk<StreamPart.StreamPart>) => void) | undefined
    /** Told of the inner stream's own failure (not a consumer's); what it returns runs before the failure goes on. */
    readonly failed?: ((cause: Cause.Cause<LlmError.LlmError>) => Effect.Effect<void> | void) | undefined
  }
  | { readonly _tag: "Answer"; readonly parts: ReadonlyArray<StreamPart.StreamPart> }

/** `service`'s stream, as it is. */
export const inner = (service: LanguageModel.Service): Opened => ({ _tag: "Inner", service })

/** `service`'s stream, each chunk seen by `observe` and its own failure by `failed`. */
export const watched = (
  service: LanguageModel.Service,
  observe: ((chunk: Chunk.Chunk<StreamPart.StreamPart>) => void) | undefined,
  failed?: (cause: Cause.Cause<LlmError.LlmError>) => Effect.Effect<void> | void
): Opened => ({ _tag: "Inner", service, observe, failed })

/** A service's stream of another request, watched as {@link watched} is. */
export const readFrom = (options: Omit<Extract<Opened, { readonly _tag: "Inner" }>, "_tag">): Opened => ({
  _tag: "Inner",
  ...options
})

/** The policy's own answer instead of the inner stream (a cache hit). */
export const answer = (parts: ReadonlyArray<StreamPart.StreamPart>): Opened => ({ _tag: "Answer", parts })

const end: LanguageModel.Pull = Effect.fail(Option.none())

const innerStream = (
  request: ChatRequest.ChatRequest,
  opened: Opened
): Stream.Stream<StreamPart.StreamPart, LlmError.LlmError> => {
  if (opened._tag === "Answer") return Stream.fromIterable(opened.parts)
  const { failed, observe } = opened
  const stream = opened.service.stream(opened.request ?? request)
  const seen = observe === undefined ? stream : Stream.mapChunks(stream, (chunk) => {
    observe(chunk)
    return chunk
  })
  return failed === undefined ? seen : Stream.catchAllCause(seen, (cause) => {
    const before = failed(cause)
    return before === undefined
      ? Stream.failCause(cause)
      : Stream.fromEffect(Effect.zipRight(before, Effect.failCause(cause)))
  })
}

const innerPull = (
  request: ChatRequest.ChatRequest,
  opened: Opened
): Effect.Effect<LanguageModel.Pull, never, Scope.Scope> => {
  if (opened._tag === "Answer") {
    let done = false
    return Effect.succeed(Effect.suspend(() => {
      if (done) return end
      done = true
      return Effect.succeed(Chunk.unsafeFromArray(opened.parts))
    }))
  }
  const { failed, observe } = opened
  return Effect.map(LanguageModel.toPull(opened.service, opened.request ?? request), (pull) => {
    const seen = observe === undefined ? pull : Effect.map(pull, (chunk) => {
      observe(chunk)
      return chunk
    })
    return failed === undefined ? seen : Effect.catchAllCause(seen, (cause) => {
      const failure = Cause.flipCauseOption(cause)
      const before = Option.isSome(failure) ? failed(failure.value) : undefined
      return before === undefined ? Effect.failCause(cause) : Effect.zipRight(before, Effect.failCause(cause))
    })
  })
}

/**
 * A policy's `stream` from `open`, which runs once per stream, in its scope, when the stream starts (its first
 * pull): it may fail the stream, add finalizers, and say what the stream reads.
 */
export const make = (
  open: (request: ChatRequest.ChatRequest) => Effect.Effect<Opened, LlmError.LlmError, Scope.Scope>
): LanguageModel.Service["stream"] =>
  LanguageModel.withPull(
    (request) => Stream.unwrapScoped(Effect.map(open(request), (opened) => innerStream(request, opened))),
    (request) => lazy(Effect.flatMap(open(request), (opened) => innerPull(request, opened)))
  )

/**
 * {@link Streaming.lazyPull} in the current scope: opened on the first pull, a failure to open being every pull's.
 */
export const lazy = (
  open: Effect.Effect<LanguageModel.Pull, LlmError.LlmError, Scope.Scope>
): Effect.Effect<LanguageModel.Pull, never, Scope.Scope> =>
  Effect.map(
    Effect.scope,
    (scope) =>
      Streaming.lazyPull(Effect.catchAll(open, (error) => Effect.succeed(Effect.fail(Option.some(error)))), scope)
  )

/**
 * `service` with its calls run in `context` (the services its policies read when called): around each call, and
 * where a stream's pull is made and on each pull, since a policy's stream runs there. The pulls of one stream run
 * in one fiber, so its merged context is made once, not on each pull.
 */
export const provided = <R>(service: LanguageModel.Service, context: Context.Context<R>): LanguageModel.Service => ({
  ...service,
  generate: (request) => Effect.provide(service.generate(request), context),
  stream: LanguageModel.withPull(
    (request) => Stream.mapInputContext(service.stream(request), (parent) => Context.merge(parent, context)),
    (request) =>
      Effect.map(Effect.provide(LanguageModel.toPull(service, request), context), (pull) => {
        let parent: Context.Context<never> | undefined
        let merged: Context.Context<R> = context
        return Effect.mapInputContext(pull, (current: Context.Context<never>) => {
          if (current !== parent) {
            parent = current
            merged = Context.merge(current, context)
          }
          return merged
        })
      })
  )
})

/**
 * `service` with every call and stream failing with `InvalidRequest` carrying `message`: a policy whose options
 * cannot work refuses every call rather than run unchecked.
 */
export const refusing = (
  service: Omit<LanguageModel.Service, "generate" | "stream">,
  message: string
): LanguageModel.Service => {
  const refused = Effect.fail(new LlmError.InvalidRequest({ provider: service.provider, message }))
  return { ...service, generate: () => refused, stream: make(() => refused) }
}
