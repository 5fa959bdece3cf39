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
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import type * as ChatRequest from "../../ChatRequest.js"
import * as BudgetEstimate from "../../internal/budget/estimate.js"
import * as LanguageModel from "../../LanguageModel.js"
import type * as LlmError from "../../LlmError.js"
import * as Pricing from "../../Pricing.js"
import * as StreamPart from "../../StreamPart.js"
import type * as Runtime from "../Runtime.js"
import * as Wire from "../wire/index.js"
import type * as Chat from "./chat.js"
import * as Estimate from "./estimate.js"
import * as Exchange from "./exchange.js"
import * as Headers from "./headers.js"
import * as Respond from "./respond.js"
import * as StreamBody from "./streamBody.js"

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
  /** How long the stream waits for a client that reads nothing, ms: past it the stream is cut. */
  readonly sendTimeoutMs: number
}

/**
 * The fixed headers of a stream: no caching, no proxy buffering (nginx honours `x-accel-buffering`). Not
 * `connection`: Node says `keep-alive` where the connection is kept (HTTP/1.1) and `close` where the body ends
 * with it (an HTTP/1.0 client, which has no chunked framing; a client that asked to close).
 *
 * @since 0.2.0
 * @category headers
 */
export const streamHeaders: Respond.HeaderRecord = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  "x-accel-buffering": "no"
}

type Pull = LanguageModel.Pull

type Head =
  | { readonly _tag: "Content" }
  | { readonly _tag: "End" }
  | { readonly _tag: "Failure"; readonly error: LlmError.LlmError }
  | { readonly _tag: "Defect"; readonly cause: Cause.Cause<unknown> }

const ping = ": ping\n\n"

/** An error event of the gateway's own: the shape of any other (OpenAI's error object), a `server_error`. */
const serverErrorEvent = (message: string, code: string): string =>
  `data: ${JSON.stringify({ error: { message, type: "server_error", param: null, code } })}\n\n`

/** The error event of a defect, with nothing of the defect in it. */
const defectEvent = serverErrorEvent("The gateway failed while streaming.", "internal_error")

/** The end of a stream the server cut (its shutdown grace ran out): an error event a client and its SDK read. */
const cutEvent = serverErrorEvent(
  "The gateway is shutting down and cut this stream; retry the request.",
  "server_shutting_down"
)

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
  const received = new BudgetEstimate.Received()
  const observe = (part: StreamPart.StreamPart) => {
    received.observe(part)
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
  const failure = (error: LlmError.LlmError): string => {
    Exchange.failed(exchange, error)
    return encoder.errorEvent(error)
  }
  const defect = (): string => {
    exchange.outcome = "defect"
    return defectEvent
  }
  return { encode, failure, defect, end: () => encoder.end(), received }
}

/**
 * The streamed answer: a held-back error status, or a `200` SSE body.
 *
 * One pump fiber per stream pulls the route's stream up to its first content part (the head) and reports it;
 * unless the handler answered that with an error status, the pump writes the head, then every chunk as it
 * arrives (one write per chunk the route delivers), and ends with `[DONE]` or an error event. A head slower than
 * `holdHeaders` commits a `200` at once, with a `: ping` every `keepAlive` until it comes.
 *
 * @since 0.2.0
 * @category handlers
 */
export const respond = (input: {
  readonly service: LanguageModel.Service
  readonly request: ChatRequest.ChatRequest
  readonly wire: Wire.DecodedRequest
  readonly context: Chat.Context & { readonly usage: Effect.Effect<Runtime.Usage | undefined> | undefined }
}): Effect.Effect<Respond.Answer, never, Scope.Scope> =>
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
    // A stream cut before its first content part reached the gateway (an output guardrail holds text back), so
    // refused with an error status: what the provider had sent, which its budget charged.
    let cutBeforeCommit: LlmError.PartialResponse | undefined
    // Runs before the request's own finalizer writes the log line (finalizers run last added, first run).
    yield* Scope.addFinalizer(
      yield* Effect.scope,
      Effect.sync(() => {
        const received = writer.received
        if (exchange.cached || (received.finished && exchange.usage !== undefined)) return
        const cut = cutBeforeCommit
        const output = received.content
          ? { text: received.text(), usage: received.lastUsage() }
          : cut === undefined
          ? undefined
          : { text: BudgetEstimate.partialText(cut), usage: cut.usage }
        if (output === undefined) return
        Estimate.estimateUsage(exchange, {
          request: input.request,
          route: input.service,
          pricing: context.runtime.pricing ?? Pricing.dataset,
          outputText: output.text,
          reported: output.usage
        })
      })
    )
    const sendTimeoutMs = context.stream.sendTimeoutMs
    const body = new StreamBody.StreamBody(cutEvent, {
      timeoutMs: sendTimeoutMs,
      onStall: () => {
        exchange.error = `the client read nothing for ${sendTimeoutMs} ms (sendTimeout): the stream was cut`
      }
    })
    // Pulled in the request's scope: a client that goes away interrupts the request, closing the scope, which
    // aborts the upstream call and runs the policies' finalizers (a budget charges what was received).
    const pull: Pull = yield* LanguageModel.toPull(input.service, input.request)
    const head: Array<StreamPart.StreamPart> = []
    // Completed once: by the pump with the head, or by the `holdHeaders` timer with `undefined` (commit now).
    const decided = yield* Deferred.make<Head | undefined>()
    let headRead = false

    const tail: Effect.Effect<void> = Effect.matchCauseEffect(pull, {
      onSuccess: (chunk) => Effect.zipRight(body.push(writer.encode(chunk)), tail),
      onFailure: (cause) => {
        if (Cause.isInterruptedOnly(cause)) return Effect.interrupt
        const failure = Cause.failureOption(cause)
        if (Option.isNone(failure)) return body.end(writer.defect())
        return body.end(Option.isNone(failure.value) ? writer.end() : writer.failure(failure.value.value))
      }
    })
    const write = (result: Head): Effect.Effect<void> => {
      switch (result._tag) {
        case "Failure":
          return body.end(writer.failure(result.error))
        case "Defect":
          return body.end(writer.defect())
        case "End":
          return body.end(writer.encode(head) + writer.end())
        case "Content":
          // The head goes out with the headers before the pump reads on (see `StreamBody.attached`).
          return Effect.zipRight(body.push(writer.encode(head)), Effect.zipRight(body.attached, tail))
      }
    }
    yield* Effect.forkScoped(Effect.flatMap(readHead(pull, head), (result) => {
      headRead = true
      return Effect.flatMap(Deferred.succeed(decided, result), (reported) =>
        // Reported first, a failure or a defect becomes the handler's error status and nothing is written here;
        // after a commit, everything (a failure too) goes into the body.
        reported && (result._tag === "Failure" || result._tag === "Defect") ? Effect.void : write(result))
    }))
    if (context.stream.holdHeadersMs > 0) {
      yield* Effect.forkScoped(
        Effect.zipRight(Effect.sleep(context.stream.holdHeadersMs), Deferred.succeed(decided, undefined))
      )
    } else {
      yield* Deferred.succeed(decided, undefined)
    }
    const result = yield* Deferred.await(decided)
    // A defect before anything was sent: the request's 500 (`Chat.handle` logs it), not a 200 and an error event.
    if (result?._tag === "Defect") return yield* Effect.orDie(Effect.failCause(result.cause))
    const limits = context.usage === undefined ? undefined : yield* context.usage
    if (result?._tag === "Failure") {
      Exchange.failed(exchange, result.error)
      if (result.error._tag === "StreamInterrupted") cutBeforeCommit = result.error.partial
      // A JSON error, without the stream's own headers.
      const errorHeaders = Headers.addRateLimits({ ...context.headers }, limits)
      return Respond.fromError(result.error, yield* Clock.currentTimeMillis, errorHeaders, exchange.attempts)
    }
    const headers = Headers.addRateLimits({ ...context.headers, ...streamHeaders }, limits)
    exchange.status = 200
    if (result === undefined) {
      // A slow first token: commit now and keep the connection busy until it comes (unless it came meanwhile:
      // the pump may already have written, and ended, the body).
      if (!headRead) body.pushNow(ping)
      const pings: Effect.Effect<void> = Effect.zipRight(
        Effect.sleep(context.stream.keepAliveMs),
        Effect.suspend(() => headRead || body.closed ? Effect.void : (body.pushNow(ping), pings))
      )
      yield* Effect.forkScoped(pings)
      return { status: 200, headers, body }
    }
    for (const part of head) {
      if (part.type === "response-metadata") {
        if (part.provider !== undefined && part.provider !== "") {
          headers["x-liter-provider"] = Headers.headerValue(part.provider)
        }
        if (part.model !== undefined && part.model !== "") headers["x-liter-model"] = Headers.headerValue(part.model)
        if (part.cached === true) exchange.cached = true
      }
    }
    headers["x-liter-cache"] = exchange.cached ? "hit" : "miss"
    return { status: 200, headers, body }
  })
