/**
 * One request to the gateway, whichever server received it: the platform's (the `HttpApp` of `Server.make`) or
 * the Node handler of `Server.layer`. Answers every endpoint, with the request log, metrics and the span of
 * chat requests.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import type * as Http from "node:http"
import type * as Server from "../Server.js"
import type * as Body from "./body.js"
import * as Chat from "./chat.js"
import * as Drain from "./drain.js"
import * as Early from "./early.js"
import * as Endpoints from "./endpoints.js"
import * as Exchange from "./exchange.js"
import * as Headers from "./headers.js"
import * as Respond from "./respond.js"
import type * as ServerOptions from "./serverOptions.js"

/**
 * What the handler reads of a request.
 *
 * @since 0.2.0
 * @category models
 */
export interface Incoming {
  readonly method: string
  /** The path and query, as sent. */
  readonly url: string
  readonly headers: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>
  /** The body as text, at most `maxBytes` bytes. */
  readonly readBody: (maxBytes: number) => Effect.Effect<Body.Body>
  /** Node's response, when on Node: a client that leaves while the answer is written shows there. */
  readonly nodeResponse: Http.ServerResponse | undefined
  /**
   * The key header the request sends more than once (`Authorization` or `api-key`), when the server can tell from
   * the raw headers: Node keeps the first, a proxy in front may have checked another. Refused, never served.
   */
  readonly repeatedKeyHeader?: Early.RepeatedHeader | undefined
}

const header = (headers: Incoming["headers"], name: string): string | undefined => {
  const value = headers[name]
  return typeof value === "string" ? value : undefined
}

// The bearer token as sent, or the `api-key` header Azure clients send.
const keyOf = (headers: Incoming["headers"]): string | undefined => {
  const authorization = header(headers, "authorization")
  if (
    authorization !== undefined && authorization.length > 7 && authorization.slice(0, 7).toLowerCase() === "bearer "
  ) {
    return authorization.slice(7).trim()
  }
  const apiKey = header(headers, "api-key")
  return apiKey === undefined || apiKey === "" ? undefined : apiKey
}

/** Why no key was found: none sent, or an `Authorization` header in another scheme (`Basic ...`). */
const missingKey = (headers: Incoming["headers"]) => {
  const authorization = header(headers, "authorization")?.trim()
  if (authorization === undefined || authorization === "" || /^bearer$/i.test(authorization)) {
    return { _tag: "Missing" } as const
  }
  return { _tag: "OtherScheme", scheme: authorization.split(/\s/, 1)[0]! } as const
}

const noRuntime = (headers: Respond.HeaderRecord) =>
  Respond.openAiError(503, {
    message: "The gateway has no configuration loaded yet.",
    type: "server_error",
    code: "not_ready"
  }, headers)

const paths: Record<string, string> = {
  "/v1/chat/completions": "POST",
  "/chat/completions": "POST",
  "/v1/models": "GET",
  "/v1/usage": "GET",
  "/health": "GET",
  "/ready": "GET",
  "/metrics": "GET"
}

const modelPrefix = "/v1/models/"

/**
 * The path and query of a request target: an absolute-form one (`POST http://host/v1/...`, which a client sends
 * through a proxy and a server must accept, RFC 9112 3.2.2) is read as its path, whatever host it names.
 */
const originForm = (target: string): string => {
  if (!/^https?:\/\//i.test(target)) return target
  const path = target.indexOf("/", target.indexOf("//") + 2)
  return path < 0 ? "/" : target.slice(path)
}

/** The API's paths: each request on them is logged, those refused as no route too (see `noRoute`). */
const isApi = (path: string): boolean => path.startsWith("/v1/") || path === "/v1" || path === "/chat/completions"

/** A path segment decoded (`gpt%2F4o` is `gpt/4o`); as sent when it is not valid percent-encoding. */
const pathSegment = (segment: string): string => {
  try {
    return decodeURIComponent(segment)
  } catch {
    return segment
  }
}

/**
 * The answer to one request. Never fails: every error is an answer. Needs the request's scope, which runs the
 * request log and metrics when it closes (after the answer is written).
 *
 * @since 0.2.0
 * @category handlers
 */
export const answer = (
  source: Server.RuntimeSource,
  options: ServerOptions.Checked,
  tracker: Drain.Tracker,
  request: Incoming
): Effect.Effect<Respond.Answer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const url = originForm(request.url)
    const query = url.indexOf("?")
    const path = query < 0 ? url : url.slice(0, query)
    const exchange = Exchange.make(
      Headers.requestId(header(request.headers, "x-request-id")),
      request.method,
      Respond.clientText(path)
    )
    const headers: Respond.HeaderRecord = { "x-request-id": exchange.requestId }
    // `GET /v1/models/{id}`: one route, as the SDKs' `models.retrieve` asks for it.
    const modelId = path.startsWith(modelPrefix) && path.length > modelPrefix.length
      ? pathSegment(path.slice(modelPrefix.length))
      : undefined
    const allowed = modelId === undefined ? paths[path] : "GET"
    // HEAD is answered as GET would be (RFC 9110, 9.3.2), refusals included: the same status and headers, its
    // `content-length` too, and no body, which neither Node nor the platform writes for a HEAD.
    const method = request.method === "HEAD" ? "GET" : request.method
    // A path or method the gateway does not serve: answered before the runtime is read or a key checked; under
    // the API's paths it is logged and counted as any API request (no tenant, no route).
    const noRoute = allowed !== method
    if (noRoute && !isApi(path)) return Respond.noRoute(method, path, allowed, headers)
    if (path === "/health") return Endpoints.health(headers)
    if (path === "/metrics") return yield* Endpoints.metrics(options.metrics, headers)
    const runtime = noRoute ? undefined : yield* (source.use ?? source.get)
    if (path === "/ready") return yield* Endpoints.ready(runtime, options.readyTimeoutMs, headers)

    // The API: one log line per request, a span per chat request.
    const chat = !noRoute && path !== "/v1/models" && path !== "/v1/usage" && modelId === undefined
    const span = chat
      // Ended by `Exchange.finish`, with an error status for a 5xx answer, not with the request scope's exit.
      ? yield* Effect.makeSpan("gateway.chat.completions", {
        kind: "server",
        captureStackTrace: false,
        attributes: { "gen_ai.operation.name": "chat", "http.request.method": "POST", "url.path": path }
      })
      : undefined
    // A client that leaves while the handler runs interrupts it, but one that leaves while the answer is written
    // shows as a failed write: Node's response tells a cut answer from a finished one in both cases.
    const nodeResponse = request.nodeResponse
    const socket = nodeResponse?.socket ?? undefined
    if (socket !== undefined) Early.servingId.set(socket, exchange.requestId)
    let cut = false
    if (nodeResponse !== undefined && typeof nodeResponse.once === "function") {
      Drain.identify(nodeResponse, exchange.requestId)
      nodeResponse.once("close", () => {
        cut = !nodeResponse.writableFinished
      })
    }
    // Added to the request's scope directly: `Effect.addFinalizer` captures and restores the fiber's context.
    yield* Scope.addFinalizerExit(yield* Effect.scope, (exit) => {
      if (socket !== undefined) Early.servingId.delete(socket)
      if ((cut || Exit.isInterrupted(exit)) && exchange.outcome === "success") {
        exchange.outcome = "interrupted"
        // A client that left while its request waited for an identical call in flight: waiting, not overhead.
        if (exchange.upstreamMs === 0) Exchange.routeEnded(exchange)
      }
      // 408: Node timed the request out and answered so; 499: the client closed the request before an answer
      // (nginx's code, for the log only); 503: the server's shutdown stopped it, and the drain answers it so.
      if (exchange.status === 0 && socket !== undefined && Early.timedOut.has(socket)) {
        exchange.status = 408
        exchange.outcome = "RequestTimeout"
      } else if (exchange.status === 0) exchange.status = tracker.draining && !cut ? 503 : 499
      // A stream the shutdown cut after its 200 ended with a `server_shutting_down` event: a 503's, logged as one.
      else if (Exit.isInterrupted(exit) && tracker.draining && !cut && exchange.errorStatus === undefined) {
        exchange.errorStatus = 503
      }
      return Exchange.finish(exchange, {
        logContent: runtime?.settings.logContent === true,
        // Every request the log has a line for: the metrics and the log count the same requests.
        metrics: options.metrics,
        span
      })
    })
    const response = yield* Effect.suspend(() => {
      if (noRoute) {
        exchange.outcome = allowed === undefined ? "UnknownUrl" : "MethodNotAllowed"
        return Effect.succeed(Respond.noRoute(method, path, allowed, headers))
      }
      if (runtime === undefined) {
        exchange.outcome = "NotReady"
        return Effect.succeed(noRuntime(headers))
      }
      if (request.repeatedKeyHeader !== undefined) {
        exchange.outcome = "RepeatedKey"
        return Effect.succeed(Respond.openAiError(400, {
          ...Early.repeatedRefusal(request.repeatedKeyHeader),
          type: "invalid_request_error"
        }, headers))
      }
      const key = keyOf(request.headers)
      const caller = key === undefined ? undefined : runtime.authenticate(key)
      if (caller === undefined) {
        exchange.outcome = "Unauthenticated"
        return Effect.succeed(
          Respond.unauthorized(headers, key !== undefined ? { _tag: "Incorrect" } : missingKey(request.headers))
        )
      }
      if (caller._tag === "Tenant") exchange.tenant = caller.tenant.id
      if (path === "/v1/usage") {
        const params = new URLSearchParams(query < 0 ? "" : url.slice(query + 1))
        return Endpoints.usage(runtime, caller, params, headers, exchange)
      }
      if (caller._tag === "Admin") {
        exchange.outcome = "PermissionDenied"
        return Effect.succeed(Respond.adminOnTenantEndpoint(headers))
      }
      if (path === "/v1/models") return Effect.succeed(Endpoints.models(runtime, caller.tenant, headers))
      if (modelId !== undefined) {
        return Effect.succeed(Endpoints.model(runtime, caller.tenant, modelId, headers, exchange))
      }
      return Chat.handle(request.readBody, {
        runtime,
        tenant: caller.tenant,
        exchange,
        headers,
        span,
        stream: options.stream,
        usageTimeoutMs: options.usageTimeoutMs
      })
    })
    if (exchange.status === 0) exchange.status = response.status
    return response
  })
