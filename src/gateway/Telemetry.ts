/**
 * OTLP span export: the gateway's spans (a `gateway.chat.completions` span per chat request, the library's
 * provider and policy spans as its children) sent as OTLP/HTTP to a collector. Off unless configured: without an
 * endpoint nothing is installed, so no span leaves the process and nothing is buffered.
 *
 * @since 0.2.0
 */
import * as OtlpSerialization from "@effect/opentelemetry/OtlpSerialization"
import * as OtlpTracer from "@effect/opentelemetry/OtlpTracer"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Durations from "../internal/duration.js"
import * as HttpOptions from "../internal/httpOptions.js"
import * as LayerOptions from "../internal/layerOptions.js"
import * as OptionChecks from "../internal/optionChecks.js"
import type * as GatewayConfig from "./Config.js"
import * as Messages from "./configMessages.js"

/**
 * The service name when neither the options nor `OTEL_SERVICE_NAME` give one.
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultServiceName = "liter-llm-gateway"

/**
 * The OTLP/HTTP encodings: JSON (the default) or binary protobuf. Every OTLP/HTTP receiver accepts both.
 *
 * @since 0.2.0
 * @category models
 */
export const protocols = ["http/json", "http/protobuf"] as const

/**
 * The OTLP/HTTP encoding of exported spans.
 *
 * @since 0.2.0
 * @category models
 */
export type Protocol = typeof protocols[number]

/**
 * Options of {@link layer}.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /** The traces URL, used as is: `http://collector:4318/v1/traces`. */
  readonly endpoint: string
  /** Headers of each export, e.g. an `authorization` for the collector: keep secrets `Redacted`. */
  readonly headers?: Readonly<Record<string, Redacted.Redacted | string>> | undefined
  /** The `service.name` resource attribute (default `OTEL_SERVICE_NAME`'s value, else `liter-llm-gateway`). */
  readonly serviceName?: string | undefined
  /** Default `"http/json"`. */
  readonly protocol?: Protocol | undefined
  /** How often the buffered spans are sent (default 5 s; also at 1000 spans, and when the layer closes). */
  readonly exportInterval?: Duration.DurationInput | undefined
  /** Bound on the last export when the layer closes (default 3 s). */
  readonly shutdownTimeout?: Duration.DurationInput | undefined
}

const known = OptionChecks.optionNames<Options>({
  endpoint: true,
  headers: true,
  serviceName: true,
  protocol: true,
  exportInterval: true,
  shutdownTimeout: true
})

/**
 * What is wrong with a traces URL, or `undefined`: an absolute http(s) URL without credentials (they belong in a
 * header from the environment).
 *
 * @since 0.2.0
 * @category checks
 */
export const endpointProblem = (value: string): string | undefined => {
  const parsed = HttpOptions.parseBaseUrl(value, "send them in a header from the environment")
  // A query is allowed on a traces URL (it is used as is); everything else the base URL check says holds.
  return Either.isRight(parsed) || parsed.left.startsWith("must not have a query") ? undefined : parsed.left
}

const millis = (option: string, input: Duration.DurationInput | undefined, fallback: number) => {
  if (input === undefined) return Either.right(fallback)
  const decoded = Durations.decodeNonNegative(input)
  return decoded === undefined || !Duration.isFinite(decoded) || Duration.toMillis(decoded) <= 0
    ? Either.left(ConfigError.InvalidData(
      [option],
      `Telemetry.layer: ${option} must be a positive duration, got ${Durations.show(input)}`
    ))
    : Either.right(Duration.toMillis(decoded))
}

const check = Effect.fn("Telemetry.check")(function*(options: Options) {
  yield* OptionChecks.knownOptions("Telemetry.layer", options, known)
  const endpoint = typeof options.endpoint === "string" ? options.endpoint : ""
  const problem = endpointProblem(endpoint)
  if (problem !== undefined) {
    return yield* Effect.fail(ConfigError.InvalidData(
      ["endpoint"],
      `Telemetry.layer: endpoint ${problem}, got ${HttpOptions.shown(endpoint)}`
    ))
  }
  yield* OptionChecks.recordOption("Telemetry.layer", "headers", options.headers)
  const headers = Object.fromEntries(
    Object.entries(options.headers ?? {}).map((
      [name, value]
    ) => [name, Redacted.isRedacted(value) ? Redacted.value(value) : value])
  )
  yield* HttpOptions.headers("Telemetry.layer", headers)
  yield* OptionChecks.nonEmpty("Telemetry.layer", [["serviceName", options.serviceName]])
  const protocol = options.protocol ?? "http/json"
  if (!protocols.includes(protocol)) {
    return yield* Effect.fail(ConfigError.InvalidData(
      ["protocol"],
      `Telemetry.layer: protocol must be "http/json" or "http/protobuf", got ${JSON.stringify(protocol)}`
    ))
  }
  return {
    endpoint,
    headers,
    serviceName: options.serviceName ?? defaultServiceName,
    protocol,
    exportIntervalMs: yield* millis("exportInterval", options.exportInterval, 5_000),
    shutdownTimeoutMs: yield* millis("shutdownTimeout", options.shutdownTimeout, 3_000)
  }
})

/**
 * Installs a tracer exporting every span to an OTLP/HTTP endpoint, over `fetch`. Spans are buffered and sent in
 * batches; closing the layer sends what is left (bounded by `shutdownTimeout`). An export that fails pauses
 * exporting for a minute (a debug log), never the requests. A bad option is a `ConfigError` naming it.
 *
 * Embedding `Server.layer`: provide this layer (or any Effect tracer) around it, outside the server so that the
 * server drains before the last spans are sent.
 *
 * @example
 * ```ts
 * import { Layer, Redacted } from "effect"
 * import { Server, Telemetry } from "liter-llm/gateway"
 * import type { Runtime } from "liter-llm/gateway"
 * declare const runtime: Runtime.Runtime
 *
 * const main = Layer.launch(Server.layer({ runtime }).pipe(Layer.provide(Telemetry.layer({
 *   endpoint: "http://127.0.0.1:4318/v1/traces",
 *   headers: { authorization: Redacted.make(process.env.OTLP_AUTH ?? "") },
 *   serviceName: "llm-gateway"
 * }))))
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<never, ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.map(check(options), (checked) =>
    OtlpTracer.layer({
      url: checked.endpoint,
      resource: { serviceName: checked.serviceName },
      headers: checked.headers,
      exportInterval: checked.exportIntervalMs,
      shutdownTimeout: checked.shutdownTimeoutMs
    }).pipe(
      Layer.provide(
        checked.protocol === "http/protobuf" ? OtlpSerialization.layerProtobuf : OtlpSerialization.layerJson
      ),
      Layer.provide(FetchHttpClient.layer)
    )))

const env = LayerOptions.optionalEnv

const invalidEnv = (name: string, message: string) => ConfigError.InvalidData([name], `${name} ${message}`)

// `OTEL_EXPORTER_OTLP_HEADERS`: `name=value` pairs separated by commas, values percent-encoded. A value is never
// shown in an error: it is usually a key.
const parseHeaders = (name: string, text: string) => {
  const headers: Record<string, Redacted.Redacted> = {}
  for (const [index, pair] of text.split(",").entries()) {
    if (pair.trim() === "") continue
    const at = pair.indexOf("=")
    const key = at < 0 ? "" : pair.slice(0, at).trim()
    let value: string | undefined
    try {
      value = decodeURIComponent(pair.slice(at + 1).trim())
    } catch {
      value = undefined
    }
    if (!HttpOptions.isHeaderName(key)) {
      return Either.left(invalidEnv(name, `must be name=value pairs separated by commas (entry ${index + 1} is not)`))
    }
    if (value === undefined) {
      return Either.left(invalidEnv(name, `has a value that is not valid percent-encoding (entry ${index + 1})`))
    }
    const issue = HttpOptions.headerValueIssue(value)
    if (issue !== undefined) return Either.left(invalidEnv(name, `entry ${index + 1} (${key}) ${issue}`))
    headers[key.toLowerCase()] = Redacted.make(value)
  }
  return Either.right(headers)
}

const secretEnv = (name: string) =>
  Config.map(
    Config.option(Config.redacted(name)),
    Option.filter((value) => Redacted.value(value).trim() !== "")
  )

/**
 * Whether `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` turn export off (they win over a config file);
 * another exporter than `otlp` is refused.
 */
const disabledByEnv = Effect.gen(function*() {
  const sdkDisabled = yield* env("OTEL_SDK_DISABLED")
  if (Option.isSome(sdkDisabled) && sdkDisabled.value.toLowerCase() === "true") return true
  const exporter = yield* env("OTEL_TRACES_EXPORTER")
  if (Option.isNone(exporter) || exporter.value === "otlp") return false
  if (exporter.value === "none") return true
  return yield* Effect.fail(
    invalidEnv("OTEL_TRACES_EXPORTER", `must be "otlp" or "none", got ${JSON.stringify(exporter.value)}`)
  )
})

// The base URL plus `/v1/traces`, appended to its path: a query or fragment stays where it is.
const tracesUrl = (base: string): string => {
  let url: URL
  try {
    url = new URL(base)
  } catch {
    // Not a URL: refused by the endpoint check, which shows it.
    return base
  }
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/v1/traces`
  return url.href
}

const endpointFromEnv = Effect.gen(function*() {
  const traces = yield* env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
  const base = yield* env("OTEL_EXPORTER_OTLP_ENDPOINT")
  const [name, url] = Option.isSome(traces)
    ? ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", traces.value]
    : Option.isSome(base)
    ? ["OTEL_EXPORTER_OTLP_ENDPOINT", tracesUrl(base.value)]
    : [undefined, undefined]
  if (name === undefined) return undefined
  const problem = endpointProblem(url)
  if (problem !== undefined) return yield* Effect.fail(invalidEnv(name, `${problem}, got ${HttpOptions.shown(url)}`))
  return url
})

const protocolFromEnv = Effect.gen(function*() {
  const signal = yield* env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
  const name = Option.isSome(signal) ? "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL" : "OTEL_EXPORTER_OTLP_PROTOCOL"
  const value = Option.isSome(signal) ? signal : yield* env("OTEL_EXPORTER_OTLP_PROTOCOL")
  if (Option.isNone(value)) return undefined
  if ((protocols as ReadonlyArray<string>).includes(value.value)) return value.value as Protocol
  return yield* Effect.fail(invalidEnv(
    name,
    `must be "http/json" or "http/protobuf" (gRPC is not supported: use port 4318), got ${JSON.stringify(value.value)}`
  ))
})

const headersFromEnv = Effect.gen(function*() {
  for (const name of ["OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"]) {
    const value = yield* secretEnv(name)
    if (Option.isSome(value)) return yield* parseHeaders(name, Redacted.value(value.value))
  }
  return undefined
})

const serviceNameFromEnv = Effect.map(env("OTEL_SERVICE_NAME"), Option.getOrUndefined)

/**
 * The options the standard OpenTelemetry environment variables give, or `undefined` when they name no endpoint
 * (or turn export off): `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is) or `OTEL_EXPORTER_OTLP_ENDPOINT` (plus
 * `/v1/traces`), `OTEL_EXPORTER_OTLP[_TRACES]_HEADERS`, `OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL`,
 * `OTEL_SERVICE_NAME`; `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` turn it off. A bad value is a
 * `ConfigError` naming its variable.
 *
 * @since 0.2.0
 * @category constructors
 */
export const fromEnv: Effect.Effect<Options | undefined, ConfigError.ConfigError> = Effect.gen(function*() {
  if (yield* disabledByEnv) return undefined
  const endpoint = yield* endpointFromEnv
  if (endpoint === undefined) return undefined
  return {
    endpoint,
    headers: yield* headersFromEnv,
    protocol: yield* protocolFromEnv,
    serviceName: yield* serviceNameFromEnv
  }
})

/**
 * {@link layer} from {@link fromEnv}; no tracer at all when the variables name no endpoint.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Server, Telemetry } from "liter-llm/gateway"
 * import type { Runtime } from "liter-llm/gateway"
 * declare const runtime: Runtime.Runtime
 *
 * const main = Layer.launch(Server.layer({ runtime }).pipe(Layer.provide(Telemetry.layerFromEnv)))
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layerFromEnv: Layer.Layer<never, ConfigError.ConfigError> = Layer.unwrapEffect(
  Effect.map(fromEnv, (options) => options === undefined ? Layer.empty : layer(options))
)

/**
 * The export a loaded config asks for: its `telemetry.otlp` section (its headers read from the environment when
 * it was loaded), else the standard environment variables ({@link fromEnv}); the service name from the file, else
 * `OTEL_SERVICE_NAME`. `undefined`: nothing to export.
 *
 * @since 0.2.0
 * @category constructors
 */
export const forConfig = (
  loaded: GatewayConfig.Loaded
): Effect.Effect<Options | undefined, ConfigError.ConfigError> =>
  Effect.gen(function*() {
    if (yield* disabledByEnv) return undefined
    const file = loaded.telemetry ?? (yield* fromEnv)
    if (file === undefined) return undefined
    // A value read from a variable the file names: the error names the variable, never showing the value.
    for (const [header, variable] of Object.entries(loaded.config.telemetry?.otlp?.headersEnv ?? {})) {
      const value = loaded.telemetry?.headers?.[header]
      yield* HttpOptions.headerValues(Messages.pathText(["telemetry", "otlp", "headersEnv", header]), [
        [variable, Redacted.isRedacted(value) ? Redacted.value(value) : value]
      ])
    }
    const serviceName = loaded.config.telemetry?.serviceName ?? file.serviceName ?? (yield* serviceNameFromEnv)
    const options = { ...file, serviceName }
    // The layer's own checks, so that what `check-config` accepts the gateway starts with.
    yield* check(options)
    return options
  })

/**
 * An endpoint as shown in a summary: no credentials, no query.
 *
 * @since 0.2.0
 * @category accessors
 */
export const describe = (options: Options): string => {
  const url = new URL(options.endpoint)
  return `OTLP ${options.protocol ?? "http/json"} to ${url.origin}${url.pathname} as "${
    options.serviceName ?? defaultServiceName
  }"`
}
