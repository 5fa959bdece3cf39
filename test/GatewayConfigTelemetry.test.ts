import { describe, expect, it } from "@effect/vitest"
import { ConfigError, Duration, Effect, Exit, Layer, Redacted } from "effect"
import * as Telemetry from "../src/gateway/Telemetry.js"
import { decode, env, errorsOf, withEnv } from "./support/gatewayConfig.js"

const local = { type: "openai-compatible", baseUrl: "http://127.0.0.1:9/v1" }
const minimal = { providers: { local }, models: { small: { provider: "local", model: "m" } } }

const vars = (entries: Record<string, string>) => new Map([...env, ...Object.entries(entries)])

/** What a loaded config asks to export, under `entries` as the environment. */
const resolved = (input: unknown, entries: Record<string, string> = {}) =>
  Effect.flatMap(decode(input, vars(entries)), (loaded) => withEnv(Telemetry.forConfig(loaded), vars(entries)))

const fromEnvError = (entries: Record<string, string>) =>
  withEnv(Effect.flip(Telemetry.fromEnv), vars(entries)).pipe(
    Effect.map((error) => ConfigError.isConfigError(error) && error._op === "InvalidData" ? error : undefined)
  )

describe("Gateway config: telemetry", () => {
  it.effect("telemetry.otlp: the endpoint as is, headers read from the variables they name (Redacted), the service name", () =>
    Effect.gen(function*() {
      const options = yield* resolved({
        ...minimal,
        telemetry: {
          serviceName: "gw",
          otlp: {
            endpoint: "https://collector.example:4318/v1/traces",
            protocol: "http/protobuf",
            headersEnv: { authorization: "OTLP_AUTH" },
            exportInterval: "2 seconds"
          }
        }
      }, { OTLP_AUTH: "Bearer abc", OTEL_EXPORTER_OTLP_ENDPOINT: "http://ignored:4318" })
      expect(options?.endpoint).toBe("https://collector.example:4318/v1/traces")
      expect(options?.serviceName).toBe("gw")
      expect(options?.protocol).toBe("http/protobuf")
      expect(Duration.toMillis(Duration.decode(options!.exportInterval!))).toBe(2000)
      const header = options?.headers?.authorization
      expect(Redacted.isRedacted(header) && Redacted.value(header)).toBe("Bearer abc")
      expect(Telemetry.describe(options!)).toBe(
        "OTLP http/protobuf to https://collector.example:4318/v1/traces as \"gw\""
      )
    }))

  it.effect("without the section: the OTEL_* variables, then nothing; the file's service name wins over OTEL_SERVICE_NAME", () =>
    Effect.gen(function*() {
      expect(yield* resolved(minimal)).toBeUndefined()
      expect(yield* resolved({ ...minimal, telemetry: { serviceName: "gw" } })).toBeUndefined()
      const base = yield* resolved({ ...minimal, telemetry: { serviceName: "gw" } }, {
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/",
        OTEL_SERVICE_NAME: "env-name"
      })
      expect(base).toMatchObject({ endpoint: "http://collector:4318/v1/traces", serviceName: "gw" })
      // the path is added to the base's path, its query kept after it
      const withQuery = yield* resolved(minimal, { OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/otlp/?token=q" })
      expect(withQuery?.endpoint).toBe("http://collector:4318/otlp/v1/traces?token=q")
      const traces = yield* resolved(minimal, {
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://traces:9999/custom",
        OTEL_SERVICE_NAME: "env-name"
      })
      expect(traces).toMatchObject({ endpoint: "http://traces:9999/custom", serviceName: "env-name" })
      expect(Telemetry.describe({ endpoint: "http://collector:4318/v1/traces?token=x" })).toBe(
        "OTLP http/json to http://collector:4318/v1/traces as \"liter-llm-gateway\""
      )
    }))

  it.effect("OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none turn it off, even with the section", () =>
    Effect.gen(function*() {
      const input = { ...minimal, telemetry: { otlp: { endpoint: "http://collector:4318/v1/traces" } } }
      expect(yield* resolved(input)).toBeDefined()
      expect(yield* resolved(input, { OTEL_SDK_DISABLED: "true" })).toBeUndefined()
      expect(yield* resolved(input, { OTEL_TRACES_EXPORTER: "none" })).toBeUndefined()
      expect(yield* resolved(minimal, { OTEL_SDK_DISABLED: "TRUE", OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" }))
        .toBeUndefined()
    }))

  it.effect("a bad section is refused with its path; a URL with a password is refused without showing it", () =>
    Effect.gen(function*() {
      const otlp = (fields: Record<string, unknown>) => ({ ...minimal, telemetry: { otlp: fields } })
      expect(yield* errorsOf(otlp({ endpoint: "collector:4318" }))).toEqual([
        "telemetry.otlp.endpoint: expected the traces URL, e.g. \"http://127.0.0.1:4318/v1/traces\": must be an absolute http(s) URL, got \"collector:4318\""
      ])
      const withPassword = yield* errorsOf(otlp({ endpoint: "https://user:hunter2@collector/v1/traces" }))
      expect(withPassword).toEqual([
        "telemetry.otlp.endpoint: expected the traces URL, e.g. \"http://127.0.0.1:4318/v1/traces\": must not contain credentials (send them in a header from the environment), got \"https://***@collector/v1/traces\""
      ])
      expect(yield* errorsOf(otlp({ endpoint: "http://c/v1/traces", headers: { authorization: "Bearer x" } })))
        .toEqual([
          "telemetry.otlp.headers: secrets are never written in the config: name the environment variable holding each header's value in headersEnv"
        ])
      expect(yield* errorsOf(otlp({ endpoint: "http://c/v1/traces", protocol: "grpc" }))).toEqual([
        "telemetry.otlp.protocol: expected \"http/json\" or \"http/protobuf\" (gRPC is not supported), got \"grpc\""
      ])
      expect(
        yield* errorsOf(otlp({ endpoint: "http://c/v1/traces", headersEnv: { authorization: "NOT_SET_ANYWHERE" } }))
      )
        .toEqual(["telemetry.otlp.headersEnv.authorization: environment variable NOT_SET_ANYWHERE is not set"])
      expect(
        yield* errorsOf(
          otlp({ endpoint: "http://c/v1/traces", headersEnv: { authorization: "EMPTY_AUTH" } }),
          vars({ EMPTY_AUTH: "" })
        )
      ).toEqual(["telemetry.otlp.headersEnv.authorization: environment variable EMPTY_AUTH is empty"])
      expect(yield* errorsOf({ ...minimal, telemetry: { otlp: { url: "http://c/v1/traces" } } })).toEqual([
        "telemetry.otlp.url: unknown field",
        "telemetry.otlp.endpoint: is missing"
      ])
    }))

  it.effect("a bad OTEL_* variable is a ConfigError naming it, never showing a header's value", () =>
    Effect.gen(function*() {
      const endpoint = yield* fromEnvError({ OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318" })
      expect(endpoint?.path).toEqual(["OTEL_EXPORTER_OTLP_ENDPOINT"])
      expect(endpoint?.message).toMatch(/^OTEL_EXPORTER_OTLP_ENDPOINT must be an absolute http\(s\) URL/)
      const protocol = yield* fromEnvError({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4317",
        OTEL_EXPORTER_OTLP_PROTOCOL: "grpc"
      })
      expect(protocol?.message).toMatch(/^OTEL_EXPORTER_OTLP_PROTOCOL must be "http\/json" or "http\/protobuf"/)
      const headers = yield* fromEnvError({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318",
        OTEL_EXPORTER_OTLP_HEADERS: "authorization=Bearer ok,SECRETVALUE-no-equals"
      })
      expect(headers?.message).toBe(
        "OTEL_EXPORTER_OTLP_HEADERS must be name=value pairs separated by commas (entry 2 is not)"
      )
      const encoding = yield* fromEnvError({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318",
        OTEL_EXPORTER_OTLP_HEADERS: "authorization=Bearer%zzSECRETVALUE"
      })
      expect(encoding?.message).toBe(
        "OTEL_EXPORTER_OTLP_HEADERS has a value that is not valid percent-encoding (entry 1)"
      )
      // A value the exporter could not send in a header: refused here, naming its entry, never shown.
      for (
        const value of ["Bearer%0ASECRETVALUE", "Bearer%0D%0Ax-injected:%20SECRETVALUE", "Bearer%E2%82%ACSECRETVALUE"]
      ) {
        const header = yield* fromEnvError({
          OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318",
          OTEL_EXPORTER_OTLP_TRACES_HEADERS: `x-team=a,authorization=${value}`
        })
        expect(header?.path).toEqual(["OTEL_EXPORTER_OTLP_TRACES_HEADERS"])
        expect(header?.message).toBe(
          "OTEL_EXPORTER_OTLP_TRACES_HEADERS entry 2 (authorization) has a character not allowed in an HTTP header (a line break, a control or a non-Latin-1 character)"
        )
      }
      const exporter = yield* fromEnvError({ OTEL_TRACES_EXPORTER: "zipkin" })
      expect(exporter?.message).toBe("OTEL_TRACES_EXPORTER must be \"otlp\" or \"none\", got \"zipkin\"")
    }))

  it.effect("forConfig runs the layer's own checks: a header value from headersEnv it would refuse, never shown", () =>
    Effect.gen(function*() {
      const input = {
        ...minimal,
        telemetry: { otlp: { endpoint: "http://c:4318/v1/traces", headersEnv: { authorization: "OTLPAUTH" } } }
      }
      for (const value of ["Bearer abc\nSECRETVALUE", "Bearer abc€SECRETVALUE", "Bearer \u0000SECRETVALUE"]) {
        const loaded = yield* decode(input, vars({ OTLPAUTH: value }))
        const error = yield* Effect.flip(withEnv(Telemetry.forConfig(loaded), vars({ OTLPAUTH: value })))
        expect(error).toMatchObject({ _op: "InvalidData", path: ["OTLPAUTH"] })
        expect((error as ConfigError.ConfigError & { readonly message: string }).message).toBe(
          "telemetry.otlp.headersEnv.authorization: OTLPAUTH has a character not allowed in an HTTP header (a line break, a control or a non-Latin-1 character)"
        )
        expect(String(error)).not.toContain("SECRETVALUE")
      }
      // Latin-1 and a tab are what HTTP clients send.
      expect((yield* resolved(input, { OTLPAUTH: "Bearer\tabc-é" }))?.endpoint).toBe("http://c:4318/v1/traces")
      // The layer's check runs on the options from the variables as well (here a blank service name from a
      // caller's own loaded config).
      const loaded = yield* decode(minimal)
      const blank = yield* Effect.flip(withEnv(
        Telemetry.forConfig({ ...loaded, telemetry: { endpoint: "http://c:4318/v1/traces", serviceName: " " } }),
        vars({})
      ))
      expect(String(blank)).toContain("Telemetry.layer: serviceName must not be empty")
    }))

  it.effect("a blank service name in the file is refused with its path", () =>
    Effect.gen(function*() {
      expect(
        yield* errorsOf({
          ...minimal,
          telemetry: { serviceName: "  ", otlp: { endpoint: "http://c:4318/v1/traces" } }
        })
      ).toEqual(["telemetry.serviceName: expected a non-empty string, got only whitespace"])
    }))

  it.effect("Telemetry.layer: a bad option is a ConfigError naming it when the layer is built", () =>
    Effect.gen(function*() {
      const built = (options: Telemetry.Options) =>
        Effect.scoped(Layer.build(Telemetry.layer(options))).pipe(
          Effect.exit,
          Effect.map((exit) =>
            Exit.isFailure(exit) && exit.cause._tag === "Fail" && ConfigError.isConfigError(exit.cause.error)
              ? (exit.cause.error as ConfigError.ConfigError & { readonly message: string }).message
              : exit._tag
          )
        )
      expect(yield* built({ endpoint: "ftp://c/v1/traces" })).toBe(
        "Telemetry.layer: endpoint must be an absolute http(s) URL, got \"ftp://c/v1/traces\""
      )
      expect(yield* built({ endpoint: "http://c/v1/traces", exportInterval: "0 seconds" })).toBe(
        "Telemetry.layer: exportInterval must be a positive duration, got \"0 seconds\""
      )
      expect(yield* built({ endpoint: "http://c/v1/traces", headers: { "bad header": Redacted.make("x") } })).toBe(
        "Telemetry.layer: headers has an invalid header name \"bad header\""
      )
      expect(yield* built({ endpoint: "http://c/v1/traces", protocol: "grpc" as never })).toBe(
        "Telemetry.layer: protocol must be \"http/json\" or \"http/protobuf\", got \"grpc\""
      )
      expect(yield* built({ endpoint: "http://c/v1/traces", sampler: 1 } as never)).toMatch(
        /^Telemetry.layer: unknown option "sampler"/
      )
      // A valid one builds (and sends nothing: no span was made).
      expect(yield* built({ endpoint: "http://127.0.0.1:9/v1/traces" })).toBe("Success")
    }))
})
