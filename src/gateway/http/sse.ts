/**
 * The streaming proxy. The route's stream already holds the commit point (before its first content part,
 * retries and fallbacks are invisible); the server adds when to send the headers:
 *
 * - Headers wait for the first content part, up to `holdHeaders`: a route that fails before it gets a real HTTP
 *   error status (429, 502, 504...) that clients and their SDKs act on, and the headers can say which provider
 *   and model answer and whether the cache did.
 * - A first token slower than `holdHeaders` commits a `200` at once with a `: ping` comment, then one every
 *   `keepAlive`, so proxies with idle timeouts keep the connection; a failure after that is an error event.
 * - After the first content part, parts are written as they arrive, one write per chunk the route delivers; a
 *   failure is an error event and the end of the stream, never a spliced answer.
 *
 * @since 0.2.0
 */
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as HttpServerResponse_ from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as ChatRequest from "../../ChatRequest.js"
import type * as LanguageModel from "../../LanguageModel.js"
import type * as LlmError from "../../LlmError.js"
import * as StreamPart from "../../StreamPart.js"
import type * as Runtime from "../Runtime.js"
import * as Wire from "../wire/index.js"
import type * as Chat from "./chat.js"
import * as Exchange from "./exchange.js"
import * as Headers from "./headers.js"
import * as Respond from "./respond.js"

/**
 * Timing of streamed answers.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /** How long the headers wait for the first content part, ms (0: send them at once). */
  readonly holdHeadersMs: number
  /** The interval of `: ping` comments while a committed stream waits for its first content part, ms. */
  readonly keepAliveMs: number
}

/**
 * The fixed headers of a stream: no caching, no proxy buffering (nginx honours `x-accel-buffering`), kept alive.
 *
 * @since 0.2.0
 * @category headers
 */
export const streamHeaders: Respond.HeaderRecord = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  "x-accel-buffering": "no",
  connection: "keep-alive"
}

type Pull = Effect.Effect<Chunk.Chunk<StreamPart.StreamPart>, Option.Option<LlmError.LlmError>>

type Head =
  | { readonly _tag: "Content" }
  | { readonly _tag: "End" }
  | { readonly _tag: "Failure"; readonly error: LlmError.LlmError }
  | { readonly _tag: "Defect"; readonly cause: Cause.Cause<unknown> }

const utf8 = new TextEncoder()
const ping = utf8.encode(": ping\n\n")

/** The error event of a defect: the same shape as any other, with nothing of the defect in it. */
const defectEvent = (): string =>
  `data: ${
    JSON.stringify({
      error: {
        message: "The gateway failed while streaming.",
        type: "server_error",
        param: null,
        code: "internal_error"
      }
    })
  }\n\n`

/** Pulls until a chunk with content, the end, or a failure, keeping every part in `head`. */
const readHead = (pull: Pull, head: Array<StreamPart.StreamPart>): Effect.Effect<Head> => {
  const loop: Effect.Effect<Head> = Effect.matchCauseEffect(pull, {
    onSuccess: (chunk) => {
      let content = false
      for (const part of chunk) {
        head.push(part)
        if (!content && StreamPart.isContent(part)) content = true
      }
      return content ? Effect.succeed({ _tag: "Content" } as const) : loop
    },
    onFailure: (cause): Effect.Effect<Head> => {
      const failure = Cause.failureOption(cause)
      if (Option.isSome(failure)) {
        return Effect.succeed(
          Option.isNone(failure.value) ? { _tag: "End" } : { _tag: "Failure", error: failure.value.value }
        )
      }
      return Cause.isInterruptedOnly(cause) ? Effect.interrupt : Effect.succeed({ _tag: "Defect", cause })
    }
  })
  return loop
}

/**
 * Keeps on the exchange what the parts tell (who answered, cache, usage and cost, first token) and encodes
 * them; the answer text too when the log carries content.
 */
const makeWriter = (exchange: Exchange.Exchange, encoder: Wire.ChunkEncoder, logContent: boolean) => {
  const observe = (part: StreamPart.StreamPart) => {
    switch (part.type) {
      case "response-metadata":
        if (part.provider !== undefined && part.provider !== "") exchange.provider = part.provider
        if (part.model !== undefined && part.model !== "") exchange.model = part.model
        if (part.cached === true) exchange.cached = true
        break
      case "usage":
        exchange.usage = part.usage
        exchange.costUsd = part.costUsd
        break
      case "text-delta":
        if (logContent) exchange.answer = (exchange.answer ?? "") + part.text
        break
    }
    if (exchange.firstTokenMs === undefined && StreamPart.isContent(part)) {
      exchange.firstTokenMs = Exchange.elapsed(exchange)
    }
  }
  const encode = (parts: Iterable<StreamPart.StreamPart>): string => {
    let text = ""
    for (const part of parts) {
      observe(part)
      text += encoder.part(part)
    }
    return text
  }
  const chunk = (parts: Chunk.Chunk<StreamPart.StreamPart>): Chunk.Chunk<Uint8Array> => {
    const text = encode(parts)
    return text === "" ? Chunk.empty() : Chunk.of(utf8.encode(text))
  }
  const failure = (error: LlmError.LlmError): Uint8Array => {
    exchange.outcome = error._tag
    return utf8.encode(encoder.errorEvent(error))
  }
  const defect = (): Uint8Array => {
    exchange.outcome = "defect"
    return utf8.encode(defectEvent())
  }
  return { encode, chunk, failure, defect, end: () => utf8.encode(encoder.end()) }
}

/**
 * The streamed answer: a held-back error status, or a `200` SSE body.
 *
 * @since 0.2.0
 * @category handlers
 */
export const respond = (input: {
  readonly service: LanguageModel.Service
  readonly request: ChatRequest.ChatRequest
  readonly wire: Wire.DecodedRequest
  readonly context: Chat.Context & { readonly usage: Fiber.Fiber<Runtime.Usage | undefined> }
  readonly provide: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}): Effect.Effect<HttpServerResponse.HttpServerResponse, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { context, wire } = input
    const { exchange } = context
    const now = yield* Clock.currentTimeMillis
    const encoder = Wire.makeChunkEncoder({
      model: wire.model,
      id: `chatcmpl-${exchange.requestId}`,
      created: Math.floor(now / 1000),
      includeUsage: wire.includeUsage,
      legacyFunctions: wire.legacyFunctions
    })
    const writer = makeWriter(exchange, encoder, context.runtime.settings.logContent)
    // Pulled in the request's scope: a client that goes away interrupts the request, closing the scope, which
    // aborts the upstream call and runs the policies' finalizers (a budget charges what was received).
    const rawPull = yield* Stream.toPull(input.service.stream(input.request))
    const pull: Pull = input.provide(rawPull)
    const head: Array<StreamPart.StreamPart> = []
    const headFiber = yield* Effect.forkScoped(readHead(pull, head))
    const held = context.stream.holdHeadersMs <= 0
      ? Option.none<Head>()
      : yield* Effect.timeoutOption(Fiber.join(headFiber), context.stream.holdHeadersMs)
    const tail = Stream.repeatEffectChunkOption(pull).pipe(
      Stream.mapChunks(writer.chunk),
      Stream.concat(Stream.sync(writer.end)),
      Stream.catchAllCause((cause) => {
        if (Cause.isInterruptedOnly(cause)) return Stream.fromEffect(Effect.interrupt)
        const failure = Cause.failureOption(cause)
        return Stream.succeed(Option.isSome(failure) ? writer.failure(failure.value) : writer.defect())
      })
    )
    const after = (result: Head): Stream.Stream<Uint8Array> => {
      switch (result._tag) {
        case "Failure":
          return Stream.succeed(writer.failure(result.error))
        case "Defect":
          return Stream.succeed(writer.defect())
        case "End":
          return Stream.succeed(utf8.encode(writer.encode(head) + encoder.end()))
        case "Content":
          return Stream.concat(Stream.succeed(utf8.encode(writer.encode(head))), tail)
      }
    }
    const limits = yield* Fiber.join(context.usage)
    const headers = Headers.addRateLimits({ ...context.headers, ...streamHeaders }, limits)
    if (Option.isSome(held)) {
      const result = held.value
      if (result._tag === "Failure") {
        exchange.outcome = result.error._tag
        return Respond.fromError(result.error, yield* Clock.currentTimeMillis, headers)
      }
      exchange.status = 200
      for (const part of head) {
        if (part.type === "response-metadata") {
          if (part.provider !== undefined && part.provider !== "") headers["x-liter-provider"] = part.provider
          if (part.model !== undefined && part.model !== "") headers["x-liter-model"] = part.model
          if (part.cached === true) exchange.cached = true
        }
      }
      headers["x-liter-cache"] = exchange.cached ? "hit" : "miss"
      return HttpServerResponse_.stream(after(result), { headers })
    }
    // A slow first token: commit now and keep the connection busy until it comes.
    exchange.status = 200
    const pings = Stream.repeatEffect(Effect.as(Effect.sleep(context.stream.keepAliveMs), ping))
    const waiting = Stream.merge(pings, Stream.fromEffect(Fiber.join(headFiber)), { haltStrategy: "right" })
    const body = Stream.concat(
      Stream.succeed(ping),
      Stream.flatMap(waiting, (item) => item instanceof Uint8Array ? Stream.succeed(item) : after(item))
    )
    return HttpServerResponse_.stream(body, { headers })
  })
