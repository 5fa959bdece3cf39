/**
 * The server's options and their checks: a bad one is a `ConfigError` naming it when the server is made,
 * never a crash or a silent default.
 *
 * @since 0.2.0
 */
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Scope from "effect/Scope"
import { described } from "../../internal/described.js"
import * as Durations from "../../internal/duration.js"
import * as OptionChecks from "../../internal/optionChecks.js"
import * as Text from "../../internal/text.js"
import * as Fields from "../configFields.js"
import { written } from "../configMessages.js"
import * as Metrics from "../Metrics.js"
import type * as Runtime from "../Runtime.js"
import type * as Sse from "./sse.js"

/**
 * Options of the `HttpApp`.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /** Where `/metrics` reads from and requests are recorded; default a fresh registry. */
  readonly metrics?: Metrics.GatewayMetrics | undefined
  /**
   * How long a stream's headers wait for its first content part (default 2 s; 0 sends them at once). Until
   * then a failure is an HTTP error status; after, an error event in a `200` stream.
   */
  readonly holdHeaders?: Duration.DurationInput | undefined
  /** The interval of `: ping` comments while a committed stream waits for its first token (default 15 s). */
  readonly keepAlive?: Duration.DurationInput | undefined
  /**
   * How long a stream waits for a client that reads nothing while its buffers are full (default 60 s): past it the
   * stream is cut as if the client had left (upstream aborted, what was sent charged), rather than hold the
   * upstream call open for as long as the client likes.
   */
  readonly sendTimeout?: Duration.DurationInput | undefined
  /** Bound on `runtime.ready` for `GET /ready` (default 2 s; over it, not ready). */
  readonly readyTimeout?: Duration.DurationInput | undefined
  /** Bound on reading a tenant's limits for the `x-ratelimit-*` headers (default 250 ms; over it, no headers). */
  readonly usageTimeout?: Duration.DurationInput | undefined
}

/**
 * Options of the Node server layer.
 *
 * @since 0.2.0
 * @category models
 */
export interface LayerOptions extends Options {
  /** The runtime to serve, or a source of it (see `fromRef` to swap it on reload). */
  readonly runtime:
    | {
      readonly get: Effect.Effect<Runtime.Runtime | undefined>
      readonly use?: Effect.Effect<Runtime.Runtime | undefined, never, Scope.Scope> | undefined
    }
    | Runtime.Runtime
  /** Default `"127.0.0.1"`: only this machine; `"0.0.0.0"` to listen on every interface. */
  readonly host?: string | undefined
  /** Default 4000; 0 picks a free port. */
  readonly port?: number | undefined
  /** Time a client has to send the request headers (default 10 s): slow-loris connections are cut. */
  readonly headersTimeout?: Duration.DurationInput | undefined
  /** Time a client has to send the whole request (default 30 s). */
  readonly requestTimeout?: Duration.DurationInput | undefined
  /** How long an idle keep-alive connection stays open (default 5 s, Node's). */
  readonly keepAliveTimeout?: Duration.DurationInput | undefined
  /** On shutdown, how long requests in flight may still run before they are interrupted (default 30 s). */
  readonly shutdownGrace?: Duration.DurationInput | undefined
}

/**
 * The options checked, durations in ms.
 *
 * @since 0.2.0
 * @category models
 */
export interface Checked {
  readonly metrics: Metrics.GatewayMetrics
  readonly stream: Sse.Options
  readonly readyTimeoutMs: number
  readonly usageTimeoutMs: number
}

/**
 * The layer's options checked.
 *
 * @since 0.2.0
 * @category models
 */
export interface CheckedLayer extends Checked {
  readonly host: string
  readonly port: number
  readonly headersTimeoutMs: number
  readonly requestTimeoutMs: number
  readonly keepAliveTimeoutMs: number
  readonly shutdownGraceMs: number
}

/**
 * Why a server could not listen on `host:port`, from the listening error (its `cause`), e.g.
 * `cannot listen on 127.0.0.1:4301: address already in use (EADDRINUSE)`.
 *
 * @since 0.2.0
 * @category errors
 */
export const listenFailure = (cause: unknown, host: string, port: number): string => {
  const { code, message } = (typeof cause === "object" && cause !== null ? cause : {}) as {
    readonly code?: unknown
    readonly message?: unknown
  }
  // Node's text, "listen EADDRINUSE: address already in use 127.0.0.1:4301", without the call and the address.
  const reason = typeof message === "string"
    ? message.replace(/^\w+ [A-Z0-9_]+: /, "").replace(/ \S+:\d+$/, "")
    : String(cause)
  const address = `${host.includes(":") ? `[${host}]` : host}:${port}`
  return `cannot listen on ${address}: ${reason}${typeof code === "string" ? ` (${code})` : ""}`
}

/**
 * What is wrong with a host to listen on, the host included, or `undefined`: the one check of `Server.layer`
 * and of the config's `server.host`, so that a file `check-config` accepts is one the server can listen with.
 *
 * @since 0.2.0
 * @category checks
 */
export const hostProblem = (host: string): string | undefined => {
  const issue = OptionChecks.hostIssue(host)
  return issue === undefined ? undefined : `${issue}, got ${Text.escapedJson(host)}`
}

const invalid = (option: string, message: string) => ConfigError.InvalidData([option], `Server: ${option} ${message}`)

// The file's check of a timing (`configFields.ts`), in its words, for a value given in code: any
// `DurationInput` (a `Duration`, a bigint or a tuple read as its milliseconds), negative in no form
// (`Duration.decode` reads -1 as 0), 0 where allowed, else 1 ms to 24.8 days, rounded up to whole ms.
const millis = (
  option: string,
  value: Duration.DurationInput | undefined,
  fallback: number,
  allowZero: boolean
): Effect.Effect<number, ConfigError.ConfigError> => {
  if (value === undefined) return Effect.succeed(fallback)
  const input = typeof value === "string" || typeof value === "number" ? value : Durations.millisOf(value) ?? -1
  const checked = Fields.checkDuration(input, allowZero, true, "30 seconds")
  return Either.isRight(checked)
    ? Effect.succeed(Duration.toMillis(checked.right))
    : Effect.fail(ConfigError.InvalidData(
      [option],
      `Server: ${option}: expected ${checked.left}, got ${input === value ? written(value) : Durations.show(value)}`
    ))
}

/**
 * The server's options checked, with their defaults, or a `ConfigError` naming the first bad one.
 *
 * @since 0.2.0
 * @category checks
 */
export const check = (options: Options): Effect.Effect<Checked, ConfigError.ConfigError> =>
  Effect.map(checkTimings(options), (timings) => ({ ...timings, metrics: options.metrics ?? Metrics.make() }))

// The timings of `check`, without the metrics `check` makes when none are given (a registry of their own).
const checkTimings = (options: Options): Effect.Effect<Omit<Checked, "metrics">, ConfigError.ConfigError> =>
  Effect.gen(function*() {
    const holdHeadersMs = yield* millis("holdHeaders", options.holdHeaders, 2_000, true)
    const keepAliveMs = yield* millis("keepAlive", options.keepAlive, 15_000, false)
    const sendTimeoutMs = yield* millis("sendTimeout", options.sendTimeout, 60_000, false)
    return {
      stream: { holdHeadersMs, keepAliveMs, sendTimeoutMs },
      readyTimeoutMs: yield* millis("readyTimeout", options.readyTimeout, 2_000, false),
      usageTimeoutMs: yield* millis("usageTimeout", options.usageTimeout, 250, false)
    }
  })

/**
 * `check` for `Server.layer`'s options, its runtime included.
 *
 * @since 0.2.0
 * @category checks
 */
export const checkLayer = (options: LayerOptions): Effect.Effect<CheckedLayer, ConfigError.ConfigError> =>
  Effect.flatMap(
    checkListening(options),
    (checked) =>
      options.runtime === undefined || options.runtime === null
        ? Effect.fail(invalid("runtime", "is required"))
        : Effect.succeed({ ...checked, metrics: options.metrics ?? Metrics.make() })
  )

/**
 * `checkLayer` without the runtime and the metrics: where and how the server listens, with the defaults in effect.
 *
 * @since 0.2.0
 * @category checks
 */
export const checkListening = (
  options: Omit<LayerOptions, "runtime">
): Effect.Effect<Omit<CheckedLayer, "metrics">, ConfigError.ConfigError> =>
  Effect.gen(function*() {
    const base = yield* checkTimings(options)
    const port = options.port ?? 4000
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      return yield* Effect.fail(invalid("port", `must be an integer from 0 to 65535, got ${String(port)}`))
    }
    const host = options.host ?? "127.0.0.1"
    if (typeof host !== "string") {
      return yield* Effect.fail(invalid("host", `must be a host name or an IP address, got ${described(host)}`))
    }
    const problem = hostProblem(host)
    if (problem !== undefined) return yield* Effect.fail(invalid("host", problem))
    const headersTimeoutMs = yield* millis("headersTimeout", options.headersTimeout, 10_000, false)
    const requestTimeoutMs = yield* millis("requestTimeout", options.requestTimeout, 30_000, false)
    if (requestTimeoutMs < headersTimeoutMs) {
      return yield* Effect.fail(
        invalid(
          "requestTimeout",
          `must be at least headersTimeout (${headersTimeoutMs} ms), got ${requestTimeoutMs} ms`
        )
      )
    }
    return {
      ...base,
      host,
      port,
      headersTimeoutMs,
      requestTimeoutMs,
      keepAliveTimeoutMs: yield* millis("keepAliveTimeout", options.keepAliveTimeout, 5_000, false),
      shutdownGraceMs: yield* millis("shutdownGrace", options.shutdownGrace, 30_000, true)
    }
  })
