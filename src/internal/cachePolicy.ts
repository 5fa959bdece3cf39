/**
 * The cache policy around a `LanguageModel` service: look a request up by its key, answer a hit without calling
 * the provider, share concurrent identical misses, and store only answers that completed.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Cache from "../Cache.js"
import type * as ChatRequest from "../ChatRequest.js"
import { tenantOf } from "../ChatRequest.js"
import type * as ChatResponse from "../ChatResponse.js"
import type * as LanguageModel from "../LanguageModel.js"
import * as LlmMetrics from "../LlmMetrics.js"
import * as StreamPart from "../StreamPart.js"
import * as Attribution from "./attribution.js"
import * as Entry from "./cacheEntry.js"
import * as Flight from "./cacheFlight.js"
import * as Key from "./cacheKey.js"
import * as PolicyStream from "./policyStream.js"
import * as Span from "./span.js"

/** The TTL of a request's entry: its own (already validated by the request schema), else the layer's. */
const ttlOf = (request: ChatRequest.ChatRequest, fallback: Duration.Duration): Duration.Duration => {
  const ttl = request.cache?.ttl
  return ttl === undefined ? fallback : Duration.decode(ttl as Duration.DurationInput)
}

/** `Cache.wrap`: the service with a cache over `options.store`. */
export const wrap = (
  service: LanguageModel.Service,
  options: { readonly ttl: Duration.Duration; readonly store: Cache.Store }
): LanguageModel.Service => {
  const { store } = options
  const flights = Flight.make()

  /** The store key of a request, or `undefined` when it holds a value JSON cannot (it is then not cached). */
  const keyOf = (request: ChatRequest.ChatRequest): string | undefined => {
    try {
      return Key.storageKey(tenantOf(request), Key.hash(request, service))
    } catch {
      return undefined
    }
  }

  const lookup = Span.fn("Cache.lookup")(function*(key: string) {
    const text = yield* store.get(key).pipe(
      Effect.catchAll((error) =>
        Effect.as(Effect.logWarning("Cache: lookup failed, treated as a miss", error), Option.none())
      )
    )
    if (Option.isNone(text)) return undefined
    const response = Entry.decode(text.value)
    // An entry this version cannot read is dropped, so the answer about to be fetched can take its place.
    if (response === undefined) yield* Effect.ignore(store.delete(key))
    return response
  })

  const save = (key: string, request: ChatRequest.ChatRequest, response: ChatResponse.ChatResponse) =>
    request.cache?.noStore === true ?
      Effect.void :
      store.set(key, Entry.encode(response), ttlOf(request, options.ttl)).pipe(
        Effect.catchAll((error) => Effect.logWarning("Cache: write failed, answer not stored", error)),
        Span.withSpan("Cache.store")
      )

  const recordHit = (
    operation: "generate" | "stream",
    request: ChatRequest.ChatRequest,
    response: ChatResponse.ChatResponse,
    start: number,
    joined = false
  ) =>
    Effect.gen(function*() {
      const metrics = yield* LlmMetrics.LlmMetrics
      if (metrics === LlmMetrics.noop) return
      const durationMs = (yield* Clock.currentTimeMillis) - start
      // No tokens were spent on a hit: its event carries no usage, and no cost.
      yield* metrics.recordCall({
        operation,
        tenant: request.metadata?.tenant,
        provider: service.provider,
        model: response.model,
        outcome: "success",
        usage: undefined,
        costUsd: 0,
        durationMs,
        timeToFirstTokenMs: operation === "stream" ? durationMs : undefined,
        retries: 0,
        cached: true,
        ...(joined ? { joined } : {})
      })
    })

  /** The cached answer of a request, after recording the hit; `undefined` on a miss or with `noCache`. */
  const cachedAnswer = (operation: "generate" | "stream", request: ChatRequest.ChatRequest, key: string) =>
    Effect.gen(function*() {
      if (request.cache?.noCache === true) return undefined
      const start = yield* Clock.currentTimeMillis
      const stored = yield* lookup(key)
      yield* Effect.annotateCurrentSpan("liter_llm.cache.hit", stored !== undefined)
      if (stored === undefined) return undefined
      const response = Entry.hit(stored)
      yield* recordHit(operation, request, response, start)
      return response
    })

  const generate = (request: ChatRequest.ChatRequest) => {
    const key = keyOf(request)
    if (key === undefined) return service.generate(request)
    const call = Effect.tap(service.generate(request), (response) => save(key, request, response))
    return Effect.gen(function*() {
      const cached = yield* cachedAnswer("generate", request, key)
      if (cached !== undefined) return cached
      // `noCache` asks for an answer of its own: it joins no call that started before it.
      if (request.cache?.noCache === true) return yield* call
      const start = yield* Clock.currentTimeMillis
      const { joined, value } = yield* flights.run(key, call)
      if (!joined) return value
      // A call that joined another's paid nothing: it is answered like a hit.
      const shared = Entry.hit(value)
      yield* recordHit("generate", request, shared, start, true)
      return shared
    }).pipe(Span.withSpan("Cache.generate"))
  }

  const stream = PolicyStream.make((request) => {
    const key = keyOf(request)
    if (key === undefined) return Effect.succeed(PolicyStream.inner(service))
    return Effect.gen(function*() {
      const cached = yield* cachedAnswer("stream", request, key)
      if (cached !== undefined) return PolicyStream.answer(Entry.replay(cached))
      // Stored once the stream has ended with its whole answer: the finish part seen, no failure, not stopped.
      const watcher = Attribution.makeWatcher()
      const accumulator = new StreamPart.Accumulator(service.provider, request.model ?? service.defaultModel ?? "")
      let finished = false
      yield* Effect.addFinalizer(() =>
        watcher.end(finished)._tag === "Success" ? save(key, request, accumulator.done()) : Effect.void
      )
      return PolicyStream.watched(service, (chunk) => {
        for (const part of chunk) {
          accumulator.add(part)
          if (part.type === "finish") finished = true
        }
      }, watcher.fail)
    })
  })

  return { ...service, generate, stream }
}
