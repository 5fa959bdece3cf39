/**
 * `POST /v1/chat/completions`: read and decode the body, route it for the tenant, and answer with a
 * `chat.completion` or an SSE stream of `chat.completion.chunk`s (see `sse.ts`).
 *
 * @since 0.2.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context_ from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberRef from "effect/FiberRef"
import type * as Scope from "effect/Scope"
import * as Tracer from "effect/Tracer"
import type * as ChatRequest from "../../ChatRequest.js"
import * as ChatResponse from "../../ChatResponse.js"
import * as BudgetEstimate from "../../internal/budget/estimate.js"
import * as LlmError from "../../LlmError.js"
import * as LlmMetrics from "../../LlmMetrics.js"
import * as Pricing from "../../Pricing.js"
import type * as Runtime from "../Runtime.js"
import * as Wire from "../wire/index.js"
import type * as Body from "./body.js"
import * as Estimate from "./estimate.js"
import * as Exchange from "./exchange.js"
import * as Headers from "./headers.js"
import * as Respond from "./respond.js"
import * as Sse from "./sse.js"
import * as Usd from "./usd.js"

/**
 * What a chat request is served with.
 *
 * @since 0.2.0
 * @category models
 */
export interface Context {
  readonly runtime: Runtime.Runtime
  readonly tenant: Runtime.Tenant
  readonly exchange: Exchange.Exchange
  /** Headers every answer carries (the request id). */
  readonly headers: Respond.HeaderRecord
  readonly span: Tracer.Span | undefined
  readonly stream: Sse.Options
  /** Bound on reading the tenant's limits for the `x-ratelimit-*` headers, ms. */
  readonly usageTimeoutMs: number
}

/**
 * The parser's message quotes a few characters of the body: they go back escaped to printable ASCII and capped,
 * never as the raw bytes (binary, terminal escapes) the client sent.
 */
const printable = (text: string, max: number): string => {
  const escaped = text.replace(/[^\x20-\x7e]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`)
  return escaped.length <= max ? escaped : `${escaped.slice(0, max - 3)}...`
}

/** `invalid_json`, saying why in the client's terms. */
const invalidJson = (reason: string) =>
  Wire.invalid(undefined, `We could not parse the JSON body of your request (${reason}).`, "invalid_json")

/** 415 for a compressed body, with `accept-encoding` saying what is accepted (RFC 9110, 15.5.16). */
const unsupportedEncoding = (encoding: string, headers: Respond.HeaderRecord) =>
  Respond.openAiError(415, {
    message: `The request body is encoded with \`${
      printable(encoding, 40)
    }\`, which this gateway does not accept; send the body uncompressed.`,
    type: "invalid_request_error",
    code: "unsupported_content_encoding"
  }, { ...headers, "accept-encoding": "identity" })

/**
 * The answer to one chat completion request. Never fails: every error is an HTTP response.
 *
 * @since 0.2.0
 * @category handlers
 */
export const handle = (
  readBody: (maxBytes: number) => Effect.Effect<Body.Body>,
  context: Context
): Effect.Effect<Respond.Answer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { exchange, headers, runtime, tenant } = context
    const settings = runtime.settings
    const bodyStartedAt = exchange.requestBodyStartedAt = performance.now()
    const body = yield* readBody(settings.maxBodyBytes)
    // A client that uploads slowly: its pace, not time the gateway added.
    exchange.requestBodyMs = performance.now() - bodyStartedAt
    exchange.requestBodyStartedAt = undefined
    if (body._tag === "TooLarge") {
      exchange.outcome = "RequestTooLarge"
      return Respond.tooLarge(settings.maxBodyBytes, headers)
    }
    if (body._tag === "Aborted") {
      exchange.outcome = "interrupted"
      return Respond.openAiError(400, {
        message: "The request body was not received completely.",
        type: "invalid_request_error",
        code: "incomplete_body"
      }, headers)
    }
    if (body._tag === "Encoded") {
      exchange.outcome = "UnsupportedEncoding"
      return unsupportedEncoding(body.encoding, headers)
    }
    if (body._tag === "NotUtf8") {
      exchange.outcome = "WireError"
      // JSON is UTF-8 (RFC 8259): bytes that are not are malformed JSON, not text to repair with U+FFFD.
      return Respond.fromError(invalidJson("it is not valid UTF-8, which JSON must be"), 0, headers)
    }
    let json: unknown
    try {
      // A byte order mark is not JSON, but a parser may ignore one (RFC 8259, 8.1): some Windows tools write it.
      json = JSON.parse(body.text.charCodeAt(0) === 0xfeff ? body.text.slice(1) : body.text)
    } catch (cause) {
      exchange.outcome = "WireError"
      return Respond.fromError(invalidJson(printable(String((cause as Error).message), 140)), 0, headers)
    }
    const decoded = Wire.decodeChatCompletionRequest(json, { dropUnsupported: settings.dropUnsupported })
    if (Either.isLeft(decoded)) {
      exchange.outcome = "WireError"
      // The log names the route a refused body asked for, when it named one (the metrics keep `_OTHER`).
      const asked = (json as { readonly model?: unknown } | null)?.model
      if (typeof asked === "string") exchange.route = Respond.clientText(asked)
      return Respond.fromError(decoded.left, 0, headers)
    }
    const wire = decoded.right
    exchange.route = Respond.clientText(wire.model)
    exchange.stream = wire.stream
    const service = runtime.route(tenant, wire.model)
    exchange.routed = service !== undefined
    if (service === undefined) {
      exchange.outcome = "NotFound"
      return Respond.modelNotFound(wire.model, headers)
    }
    // The tenant is the key's, never the client's: budgets, limits, cache partitions and metrics key on it.
    const unified: ChatRequest.ChatRequest = {
      ...wire.request,
      metadata: { ...wire.request.metadata, tenant: tenant.id }
    }
    if (settings.logContent) {
      exchange.prompt = runtime.loggedPrompt === undefined ? unified.messages : yield* runtime.loggedPrompt(unified)
    }
    // The request's own services: its metrics observer, and its span as the parent of the library's spans.
    // Set once on the request's fiber (which serves this request alone; the stream's pump, forked below,
    // inherits them) rather than provided around the call and each pull of a stream: a `provideService` is a
    // bracket that copies the fiber's refs twice, a tenth of a JSON request's Effect operations.
    const observer = Exchange.observer(exchange, yield* LlmMetrics.LlmMetrics)
    const span = context.span
    yield* FiberRef.update(FiberRef.currentContext, (services) => {
      const observed = Context_.add(services, LlmMetrics.LlmMetrics, observer)
      return span === undefined ? observed : Context_.add(observed, Tracer.ParentSpan, span)
    })
    // Read once the call is admitted (see `readUsage`); not at all for a tenant without limits.
    const usage = runtime.rateLimited?.(tenant.id) === false
      ? undefined
      : Headers.readUsage(runtime, tenant.id, context.usageTimeoutMs)
    if (wire.stream) {
      return yield* Sse.respond({ service, request: unified, wire, context: { ...context, usage } })
    }
    exchange.routeStartedAt = performance.now()
    const result = yield* Effect.either(service.generate(unified))
    const limits = usage === undefined ? undefined : yield* usage
    const out = Headers.addRateLimits({ ...headers }, limits)
    if (Either.isLeft(result)) {
      Exchange.failed(exchange, result.left)
      // As for an answer below: a provider's failure without provider events in this request (it waited for an
      // identical call in flight, which failed) spent its time at the provider, not in the gateway.
      if (LlmError.fault(result.left) === "provider") Exchange.routeEnded(exchange)
      // An answer an output guardrail blocked was paid for (see `Exchange.failed`).
      if (exchange.costUsd !== undefined) out["x-liter-cost-usd"] = Usd.text(exchange.costUsd)
      return Respond.fromError(result.left, yield* Clock.currentTimeMillis, out, exchange.attempts)
    }
    const response = result.right
    exchange.provider = response.provider
    exchange.model = response.model
    exchange.usage = response.usage
    exchange.cached = response.cached === true
    exchange.costUsd = exchange.cached ? 0 : response.costUsd
    // No usage from the provider: estimated as the budget charged it, so the log, metrics and header count it.
    if (response.usage === undefined && !exchange.cached) {
      Estimate.estimateUsage(exchange, {
        request: unified,
        route: service,
        pricing: runtime.pricing ?? Pricing.dataset,
        outputText: BudgetEstimate.responseText(response)
      })
    }
    if (settings.logContent) exchange.answer = ChatResponse.text(response)
    // Without provider events, the time in the route is the upstream time, and the log says what the header
    // says: at least one attempt.
    Exchange.routeEnded(exchange)
    exchange.attempts = Headers.attemptsOf(exchange.attempts, response)
    const encoded = JSON.stringify(
      Wire.encodeChatCompletion(response, {
        model: wire.model,
        legacyFunctions: wire.legacyFunctions,
        // An upstream that names no id (Gemini without `responseId`, some compatible servers): the stream's form.
        id: response.id === "" ? `chatcmpl-${exchange.requestId}` : undefined
      })
    )
    exchange.durationMs = Exchange.elapsed(exchange)
    Headers.addAnswer(out, {
      provider: response.provider,
      model: response.model,
      attempts: exchange.attempts,
      cached: exchange.cached,
      costUsd: exchange.costUsd,
      overheadMs: Exchange.overheadMs(exchange, exchange.durationMs)
    })
    return Respond.jsonText(encoded, 200, out)
  }).pipe(
    Effect.catchAllCause((cause) =>
      Cause.isInterruptedOnly(cause) ? Effect.failCause(cause) : Effect.gen(function*() {
        context.exchange.outcome = "defect"
        yield* Effect.logError("gateway: a request failed unexpectedly", Cause.pretty(cause))
        return Respond.internalError(context.headers)
      })
    ),
    Effect.orDie
  )
