/**
 * The gateway's HTTP server: OpenAI's chat-completions API (JSON and SSE), models, usage, health, readiness and
 * Prometheus metrics, served from a {@link RuntimeSource} (the tenants, routes and settings of the loaded
 * configuration, swapped atomically on reload). `make` gives the `HttpApp` (to embed in an Effect application),
 * `layer` serves it with Node, and `serve` is the CLI's entry.
 *
 * @since 0.2.0
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as Runtime_ from "effect/Runtime"
import * as Scope from "effect/Scope"
import * as Http from "node:http"
import * as Generations from "./generations.js"
import * as Body from "./http/body.js"
import * as Drain from "./http/drain.js"
import * as Early from "./http/early.js"
import * as Handler from "./http/handler.js"
import * as Respond from "./http/respond.js"
import * as ServerOptions from "./http/serverOptions.js"
import * as Metrics from "./Metrics.js"
import type * as Runtime from "./Runtime.js"
import * as Signals from "./signals.js"

export type {
  /**
   * @since 0.2.0
   */
  LayerOptions,
  /**
   * @since 0.2.0
   */
  Options
} from "./http/serverOptions.js"

/**
 * Where the server reads the runtime of each request from: the current one is read once per request, so a
 * reload that swaps it never changes a request midway.
 *
 * @since 0.2.0
 * @category models
 */
export interface RuntimeSource {
  /** The runtime serving now; `undefined` while none is loaded (then `/ready` says 503 and the API 503s). */
  readonly get: Effect.Effect<Runtime.Runtime | undefined>
  /**
   * The same, held by the request until it ends (its answer written, a stream's last byte included), so a
   * source that reloads closes a replaced runtime only once no request uses it. Without it, `get` is read.
   */
  readonly use?: Effect.Effect<Runtime.Runtime | undefined, never, Scope.Scope> | undefined
}

/**
 * A source that always serves `runtime`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const fromRuntime = (runtime: Runtime.Runtime): RuntimeSource => ({ get: Effect.succeed(runtime) })

/**
 * A source reading a `Ref` (or `SubscriptionRef`): `Ref.set` swaps the runtime atomically.
 *
 * @since 0.2.0
 * @category constructors
 */
export const fromRef = (ref: Ref.Ref<Runtime.Runtime> | Ref.Ref<Runtime.Runtime | undefined>): RuntimeSource => ({
  get: Ref.get(ref as Ref.Ref<Runtime.Runtime | undefined>)
})

const isSource = (u: RuntimeSource | Runtime.Runtime): u is RuntimeSource => !("authenticate" in u)

/**
 * The gateway as an `HttpApp`: every endpoint, the `x-request-id` and `x-liter-*` headers, the request log (one
 * line per API request through Effect's `Logger`), Prometheus samples and a span per chat request. Fails with a
 * `ConfigError` on a bad option.
 *
 * @example
 * ```ts
 * import { HttpServer } from "@effect/platform"
 * import { Effect } from "effect"
 * import { Server } from "liter-llm/gateway"
 * import type { Runtime } from "liter-llm/gateway"
 * declare const runtime: Runtime.Runtime
 *
 * const app = Server.make(Server.fromRuntime(runtime), { holdHeaders: "2 seconds" })
 * const serving = Effect.flatMap(app, (app) => HttpServer.serveEffect(app))
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (
  source: RuntimeSource,
  options: ServerOptions.Options = {}
): Effect.Effect<HttpApp.Default<never, HttpServerRequest.HttpServerRequest | Scope.Scope>, ConfigError.ConfigError> =>
  Effect.map(ServerOptions.check(options), (checked) => app(source, checked, Drain.make()))

const app = (
  source: RuntimeSource,
  options: ServerOptions.Checked,
  tracker: Drain.Tracker
): HttpApp.Default<never, HttpServerRequest.HttpServerRequest | Scope.Scope> =>
  Effect.interruptible(Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
    Effect.map(
      Handler.answer(source, options, tracker, {
        method: request.method,
        url: request.url,
        headers: request.headers,
        readBody: (maxBytes) => Body.read(request, maxBytes),
        nodeResponse: NodeHttpServerRequest.toServerResponse(request) as Http.ServerResponse | undefined
      }),
      Respond.toServerResponse
    )))

/**
 * Serves the gateway with Node on `host:port` (default `127.0.0.1:4000`; port 0 picks a free one, read it from
 * `HttpServer.HttpServer`'s address). Slow clients are cut by Node's `headersTimeout` and `requestTimeout`.
 * Closing the layer drains: the server stops accepting, requests in flight get `shutdownGrace` to finish, then
 * are interrupted (their upstream calls aborted, their usage charged). Fails with a `ConfigError` naming a bad
 * option, or a `ServeError` saying why it cannot listen (`cannot listen on 127.0.0.1:4000: address already in use
 * (EADDRINUSE)`, Node's error as its `cause`).
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Server } from "liter-llm/gateway"
 * import type { Runtime } from "liter-llm/gateway"
 * declare const runtime: Runtime.Runtime
 *
 * const main = Layer.launch(Server.layer({ runtime, port: 4000, shutdownGrace: "30 seconds" }))
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (
  options: ServerOptions.LayerOptions
): Layer.Layer<HttpServer.HttpServer, HttpServerError.ServeError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const checked = yield* ServerOptions.checkLayer(options)
    const source = isSource(options.runtime) ? options.runtime : fromRuntime(options.runtime)
    let nodeServer: Http.Server | undefined
    const createServer = () => {
      const server = Http.createServer({
        headersTimeout: checked.headersTimeoutMs,
        requestTimeout: checked.requestTimeoutMs,
        keepAliveTimeout: checked.keepAliveTimeoutMs,
        // Checked by `Early.refusedHost`, to answer in OpenAI's error JSON.
        requireHostHeader: false,
        // How often Node checks the two timeouts above (its default, 30 s, would let a slow client stay longer).
        connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(checked.headersTimeoutMs / 4)))
      })
      // Every header kept, not Node's first 2000: a key repeated past them would go unseen (see
      // `Early.repeatedHeader`). Their size stays bounded by Node's `maxHeaderSize` (16 KiB), which answers a 431.
      server.maxHeadersCount = 0
      server.on("clientError", Early.answerClientError).on("checkExpectation", Early.answerExpectation)
        .on("connect", Early.answerConnect)
      return nodeServer = server
    }
    const serving = Layer.scopedDiscard(Effect.gen(function*() {
      const tracker = Drain.make()
      const server = yield* HttpServer.HttpServer
      // Node's own handler rather than the platform's `serve`: the same answers (`Handler.answer`, which the
      // `HttpApp` of `make` serves too), without the platform's request and response wrappers, its per-request
      // middleware and span, measured at about 0.4 ms of CPU per request, as much as the rest of a JSON answer
      // (see docs/performance.md, "Gateway"). Tracked around the whole exchange, the writing of a body included.
      const runFork = Runtime_.runFork(yield* Effect.runtime<never>())
      // `expectContinue`: the client sent `Expect: 100-continue` and waits for the `100 Continue`, written only
      // when the body is read, so that a body refused before (its declared length over the limit, a bad key)
      // is never sent: Node closes the connection after such an answer.
      const onRequest = (request: Http.IncomingMessage, response: Http.ServerResponse, expectContinue = false) => {
        // Behind an answer that closes the connection (pipelined): never answered, so not served.
        if (Early.isClosing(request.socket)) return void request.resume()
        const repeated = Early.repeatedHeader(request)
        if (Early.refusedHost(request, response, repeated)) return
        // Timed out by Node (its 408 written): the request is not served, whatever of its body comes after, which
        // is read and dropped (bounded) so that the client reads the 408 rather than a reset.
        const sent = Drain.unsent(tracker)
        const ended = Early.requestStarted(request, () => {
          fiber.unsafeInterruptAsFork(fiber.id())
          runFork(Effect.ensuring(Body.discardRest(request), Effect.sync(() => request.socket.destroy())))
        }, () => {
          // Its connection is gone (or closes after an earlier answer) before its answer was sent: not served.
          sent()
          if (!response.writableFinished) fiber.unsafeInterruptAsFork(fiber.id())
        })
        let awaitingContinue = expectContinue
        // A new request on the connection: the one answered early has ended.
        Early.answeredEarly.delete(request.socket)
        // A body over the limit that the client is sending (it was told to, or did not wait to be): its 413 is
        // written whole, but the response ends only once the rest of the body is read and dropped (bounded),
        // else the socket closed with bytes unread resets the connection before the client reads the 413.
        let discard = false
        const handled = Effect.flatMap(
          Handler.answer(source, checked, tracker, {
            method: request.method ?? "GET",
            url: request.url ?? "/",
            headers: request.headers,
            readBody: (maxBytes) =>
              Body.fromNode(request, maxBytes, {
                onRead: () => {
                  if (awaitingContinue) response.writeContinue()
                  awaitingContinue = false
                },
                // A client still waiting for its `100 Continue` sends nothing: there is nothing to discard.
                onTooLarge: () => {
                  discard = !awaitingContinue
                }
              }),
            nodeResponse: response,
            repeatedKeyHeader: repeated
          }),
          (answer) => {
            // Every answer written while the server drains closes its connection, whenever its request started,
            // but for one with a pipelined request after it: the last answer closes.
            const written = tracker.draining && Early.lastOnConnection(request)
              ? { ...answer, headers: { ...answer.headers, connection: "close" } }
              : answer
            // An answer that closes its connection (a 413 whose body is not read): nothing pipelined after it is
            // served, it would never be answered.
            if (discard || written.headers?.connection === "close") Early.closesAfter(request)
            return discard ? Respond.writeHeld(written, response) : Respond.write(written, response)
          }
        )
        // Discarded after the request's scope has closed: its log line and metrics say when the 413 was
        // written, and a client that leaves once it has read it is no interrupted request.
        const discarded = () => {
          if (discard) return Effect.ensuring(Body.discardRest(request), Respond.end(response))
          if (!request.complete) Early.answeredEarly.add(request.socket)
          return Effect.void
        }
        const fiber = runFork(Drain.track(
          tracker,
          Effect.flatMap(Effect.scoped(Respond.orInternalError(handled, response)), discarded),
          response
        ))
        // A client that leaves before its answer is written interrupts the request (its upstream call too).
        response.once("close", () => {
          ended()
          sent()
          if (!response.writableFinished) fiber.unsafeInterruptAsFork(fiber.id())
        })
      }
      // Node answers `100 Continue` itself unless the server listens for `checkContinue`; it then emits no
      // `request` for it: the handler is called here.
      const onCheckContinue = (request: Http.IncomingMessage, response: Http.ServerResponse) =>
        onRequest(request, response, true)
      yield* Effect.acquireRelease(
        Effect.sync(() => nodeServer!.on("request", onRequest).on("checkContinue", onCheckContinue)),
        () => Effect.sync(() => nodeServer!.off("request", onRequest).off("checkContinue", onCheckContinue))
      )
      const address = server.address
      yield* Effect.logInfo("gateway: listening").pipe(Effect.annotateLogs({
        // An IPv6 address in brackets, as a URL writes it (`http://[::1]:4000`).
        address: address._tag === "TcpAddress"
          ? `http://${address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname}:${address.port}`
          : address.path
      }))
      // Added last, so it runs first on close: drain before the handler is removed.
      yield* Effect.addFinalizer(() => Drain.drain(tracker, nodeServer!, checked.shutdownGraceMs))
    }))
    const listening = NodeHttpServer.layer(createServer, { host: checked.host, port: checked.port }).pipe(
      // The platform's `ServeError` says nothing ("An error has occurred"): the same error, saying why.
      Layer.mapError((error) => {
        const said = {
          cause: error.cause,
          message: ServerOptions.listenFailure(error.cause, checked.host, checked.port)
        }
        return new HttpServerError.ServeError(said)
      })
    )
    return Layer.provideMerge(serving, listening) as Layer.Layer<HttpServer.HttpServer, HttpServerError.ServeError>
  }))

/**
 * Options of {@link serve}.
 *
 * @since 0.2.0
 * @category models
 */
export interface ServeOptions<E> extends Omit<ServerOptions.LayerOptions, "runtime"> {
  readonly configPath: string
  /**
   * Builds the runtime of a config file. The seam with the config loader: `serve` knows nothing of the file's
   * format. Resources it acquires (a Redis connection) live in the given scope, closed when that runtime is
   * replaced (after `shutdownGrace`, so requests still using it finish) or when the server stops.
   */
  readonly load: (path: string) => Effect.Effect<Runtime.Runtime, E, Scope.Scope>
  /** Reload on `SIGHUP` (default `true`). */
  readonly reloadOnSignal?: boolean | undefined
}

/**
 * The CLI's entry: loads the config, serves it until interrupted (`SIGTERM` / `SIGINT` under
 * `NodeRuntime.runMain`, which then drains), and on `SIGHUP` loads the file again: a valid new config replaces
 * the old one atomically, an invalid one is logged and refused while the old one keeps serving; a `SIGHUP` while
 * it starts loads the file again once it serves; one while it drains is logged and ignored. Fails at start with
 * the loader's error for a bad first config.
 *
 * @example
 * ```ts
 * import { NodeRuntime } from "@effect/platform-node"
 * import { Server } from "liter-llm/gateway"
 * import type { Runtime } from "liter-llm/gateway"
 * import type { Effect, Scope } from "effect"
 * declare const load: (path: string) => Effect.Effect<Runtime.Runtime, Error, Scope.Scope>
 *
 * NodeRuntime.runMain(Server.serve({ configPath: "gateway.yaml", load, port: 4000 }))
 * ```
 *
 * @since 0.2.0
 * @category entry points
 */
export const serve = <E>(
  options: ServeOptions<E>
): Effect.Effect<never, E | HttpServerError.ServeError | ConfigError.ConfigError> =>
  Effect.scoped(Effect.gen(function*() {
    const { configPath, load, reloadOnSignal, ...rest } = options
    // Checked before the config is loaded, so a bad option fails at once.
    yield* ServerOptions.checkListening(rest)
    const outer = yield* Effect.scope
    // Listening from before the first load: a SIGHUP while the gateway starts (Node's default for one ends the
    // process) reloads the file once it serves, as does one the executable held while it started.
    let reloadNow: (() => void) | undefined
    let hangupWhileStarting = false
    // Set as the server starts to stop: a SIGHUP while it drains is not a reload (the new config would serve no one).
    let stopping: (() => void) | undefined
    if (reloadOnSignal !== false) {
      const onHup = () => {
        if (stopping !== undefined) stopping()
        else if (reloadNow === undefined) hangupWhileStarting = true
        else reloadNow()
      }
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          process.on("SIGHUP", onHup)
          if (Signals.takeHangups()) hangupWhileStarting = true
        }),
        () => Effect.sync(() => process.off("SIGHUP", onHup))
      )
    }
    const loadScoped = Effect.gen(function*() {
      const scope = yield* Scope.fork(outer, ExecutionStrategy.sequential)
      return yield* load(configPath).pipe(
        Effect.map((runtime) => ({ runtime, scope })),
        Scope.extend(scope),
        Effect.onError((cause) => Scope.close(scope, Exit.failCause(cause)))
      )
    })
    const first = yield* loadScoped
    const generations = Generations.make(first.runtime, first.scope)
    const lock = yield* Effect.makeSemaphore(1)
    const reload = lock.withPermits(1)(Effect.gen(function*() {
      const next = yield* Effect.either(loadScoped)
      if (Either.isLeft(next)) {
        return yield* Effect.logError("gateway: the new config is refused; the old one keeps serving").pipe(
          Effect.annotateLogs({ config: configPath, error: String(next.left) })
        )
      }
      // The old config serves until the new one's stores answer (its Redis connects in the background).
      const storesReady = yield* Generations.whenReady(next.right.runtime.ready)
      // Requests that read the old runtime finish on it: it closes when the last of them ends.
      yield* generations.replace(next.right.runtime, next.right.scope)
      yield* Generations.logReloaded("gateway: config reloaded", storesReady, next.right.runtime.ready).pipe(
        Effect.annotateLogs({ config: configPath })
      )
    }))
    const runFork = Runtime_.runFork(yield* Effect.runtime<never>())
    if (reloadOnSignal !== false) {
      reloadNow = () => void runFork(reload)
      if (hangupWhileStarting) reloadNow()
    }
    const source: RuntimeSource = { get: generations.get, use: generations.use }
    return yield* Effect.scoped(Effect.gen(function*() {
      yield* Layer.build(layer({ ...rest, runtime: source }))
      // Added after the server, so run before its drain: from here on a SIGHUP is logged and ignored.
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          stopping = () => void runFork(Effect.logWarning("gateway: SIGHUP while shutting down: not reloaded"))
        })
      )
      return yield* Effect.never
    }))
  }))

/**
 * Metrics for a server's options, on their own registry (see `Metrics.make`).
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeMetrics = Metrics.make
