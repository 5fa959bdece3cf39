/**
 * Provider layer options: checked when the layer is built (a `ConfigError` naming the option, no request
 * made), the same names on every provider, and `layerConfig` errors that say what to do.
 */
import { NodeHttpClient } from "@effect/platform-node"
import type * as HttpClient from "@effect/platform/HttpClient"
import { describe, expect, it } from "@effect/vitest"
import { ConfigError, ConfigProvider, Duration, Effect, Exit, Layer, Redacted } from "effect"
import * as HttpOptions from "../src/internal/httpOptions.js"
import * as OptionChecks from "../src/internal/optionChecks.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as Anthropic from "../src/providers/Anthropic.js"
import * as Cohere from "../src/providers/Cohere.js"
import * as Gemini from "../src/providers/Gemini.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as AnthropicMock from "../src/testing/AnthropicMock.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import type * as Timeout from "../src/Timeout.js"
import { failure, overUndici, secretKey } from "./support/loopback.js"

type ModelLayer = Layer.Layer<LanguageModel.LanguageModel, ConfigError.ConfigError, HttpClient.HttpClient>

const apiKey = Redacted.make(secretKey)
const ask = LanguageModel.generate({ messages: [{ role: "user", content: "hi" }] })

/** Every layer that takes a URL option, by the name a user calls it and the option's name. */
const urlLayers: ReadonlyArray<
  { readonly layer: string; readonly option: string; readonly make: (url: string) => ModelLayer }
> = [
  { layer: "OpenAi.layer", option: "baseUrl", make: (url) => OpenAi.layer({ apiKey, baseUrl: url, model: "m" }) },
  {
    layer: "OpenAi.layerAzure",
    option: "endpoint",
    make: (url) => OpenAi.layerAzure({ endpoint: url, deployment: "d", apiKey })
  },
  { layer: "Anthropic.layer", option: "baseUrl", make: (url) => Anthropic.layer({ apiKey, baseUrl: url, model: "m" }) },
  { layer: "Cohere.layer", option: "baseUrl", make: (url) => Cohere.layer({ apiKey, baseUrl: url, model: "m" }) },
  { layer: "Gemini.layer", option: "baseUrl", make: (url) => Gemini.layer({ apiKey, baseUrl: url, model: "m" }) }
]

/** The error of building a layer (fails the test when it builds). */
const buildError = (layer: ModelLayer) =>
  Effect.gen(function*() {
    const exit = yield* Layer.build(layer.pipe(Layer.provide(NodeHttpClient.layerUndici))).pipe(
      Effect.scoped,
      Effect.exit
    )
    if (Exit.isSuccess(exit) || exit.cause._tag !== "Fail") throw new Error(`expected a ConfigError: ${String(exit)}`)
    return exit.cause.error
  })

const absolute = "must be an absolute http(s) URL"

describe("a bad URL option fails the layer at build time", () => {
  const cases: ReadonlyArray<readonly [value: string, reason: string, shown: string]> = [
    ["localhost:8080/v1", absolute, "localhost:8080/v1"],
    ["ftp://example.com/v1", absolute, "ftp://example.com/v1"],
    ["", absolute, ""],
    ["http://", absolute, "http://"],
    ["http://example.com/v 1", "must not contain spaces or control characters", "http://example.com/v 1"],
    ["https://example.com/v1\n", "must not contain spaces or control characters", "https://example.com/v1\n"],
    [
      "https://user:hunter2@example.com/v1",
      "must not contain credentials (pass the key as apiKey)",
      "https://***@example.com/v1"
    ],
    [
      "https://example.com/v1?key=hunter2",
      "must not have a query or fragment (the layer appends the API path)",
      "https://example.com/v1?***"
    ],
    [
      "https://example.com/v1#hunter2",
      "must not have a query or fragment (the layer appends the API path)",
      "https://example.com/v1#***"
    ],
    // A password-like key=value anywhere: masked from its value on (where a secret ends cannot be told).
    [
      "https://example.com/v1 api_key=hunter2 x=1",
      "must not contain spaces or control characters",
      "https://example.com/v1 api_key=***"
    ],
    ["example.com;Password:hunter2", absolute, "example.com;Password:***"],
    [
      "https://u:hunter2@example.com/v 1;token=hunter2",
      "must not contain spaces or control characters",
      "https://***@example.com/v 1;token=***"
    ]
  ]

  for (const { layer, make, option } of urlLayers) {
    it.effect(`${layer}: a ConfigError naming ${option} and the value, credentials masked`, () =>
      Effect.gen(function*() {
        for (const [value, reason, shown] of cases) {
          const error = yield* buildError(make(value))
          expect(error).toMatchObject({ _op: "InvalidData", path: [option] })
          expect(error.message).toBe(`${layer}: ${option} ${reason}, got ${JSON.stringify(shown)}`)
          expect(error.message).not.toContain("hunter2")
        }
      }))

    it.scoped(`${layer}: a bad ${option} makes no request at all`, () =>
      Effect.gen(function*() {
        const server = yield* MockProvider.make({ onExhausted: MockProvider.json({}) })
        // Each would reach the server without the check (the space percent-encoded, the query kept).
        for (const url of [`${server.url}/v 1`, `${server.url}/v1?x=1`]) {
          const exit = yield* ask.pipe(
            Effect.provide(make(url).pipe(Layer.provide(NodeHttpClient.layerUndici))),
            Effect.exit
          )
          expect(Exit.isFailure(exit) && exit.cause._tag === "Fail" && ConfigError.isConfigError(exit.cause.error))
            .toBe(true)
        }
        expect(yield* server.requests).toHaveLength(0)
      }))
  }

  it.effect("the message for the common mistake reads as it should", () =>
    Effect.gen(function*() {
      const error = yield* buildError(OpenAi.layer({ baseUrl: "localhost:8080/v1" }))
      expect(error.message).toBe("OpenAi.layer: baseUrl must be an absolute http(s) URL, got \"localhost:8080/v1\"")
    }))

  it.effect("an Azure deployment of . or .. (a URL would resolve it to another path) is refused", () =>
    Effect.gen(function*() {
      for (const deployment of [".", ".."]) {
        const error = yield* buildError(OpenAi.layerAzure({ endpoint: "https://x.example", deployment, apiKey }))
        expect(error).toMatchObject({ _op: "InvalidData", path: ["deployment"] })
        expect(String(error)).toContain(`deployment must be a deployment name, got "${deployment}"`)
      }
    }))

  it.effect("Gemini apiVersion must be one path segment", () =>
    Effect.gen(function*() {
      const error = yield* buildError(Gemini.layer({ apiKey, apiVersion: "v1beta/../x" }))
      expect(error).toMatchObject({ _op: "InvalidData", path: ["apiVersion"] })
      expect(error.message).toBe(
        "Gemini.layer: apiVersion must be one URL path segment such as \"v1beta\", got \"v1beta/../x\""
      )
    }))

  it.effect("Anthropic defaultMaxTokens must be a positive integer", () =>
    Effect.gen(function*() {
      for (const value of [0, -1, 1.5, Number.NaN]) {
        const error = yield* buildError(Anthropic.layer({ apiKey, defaultMaxTokens: value }))
        expect(error.message).toBe(`Anthropic.layer: defaultMaxTokens must be a positive integer, got ${value}`)
      }
    }))
})

describe("apiKey and timeout options are checked at build time", () => {
  const layersWith = (options: { readonly apiKey: Redacted.Redacted; readonly timeout?: Timeout.Options }) =>
    [
      ["OpenAi.layer", OpenAi.layer(options)],
      ["OpenAi.layerAzure", OpenAi.layerAzure({ endpoint: "https://r.openai.azure.com", ...options })],
      ["Anthropic.layer", Anthropic.layer(options)],
      ["Cohere.layer", Cohere.layer(options)],
      ["Gemini.layer", Gemini.layer(options)]
    ] as const

  for (const [name, layer] of layersWith({ apiKey: Redacted.make(" ") })) {
    it.effect(`${name}: a blank apiKey (an unset variable read as "") is refused, not sent as an empty key`, () =>
      Effect.gen(function*() {
        const error = yield* buildError(layer)
        expect(error.message).toBe(
          `${name}: apiKey is empty (an unset environment variable?): give the key (or, for a server that needs none, leave apiKey out)`
        )
      }))
  }

  for (
    const [name, layer, envName] of [
      ["Anthropic.layer", Anthropic.layer, "ANTHROPIC_API_KEY"],
      ["Cohere.layer", Cohere.layer, "COHERE_API_KEY"]
    ] as const
  ) {
    it.effect(`${name}: no apiKey (from JavaScript, or an env read typed away) is a ConfigError, not a TypeError`, () =>
      Effect.gen(function*() {
        const error = yield* buildError(layer({ apiKey: undefined as unknown as Redacted.Redacted }))
        expect(error).toMatchObject({ _op: "MissingData", path: ["apiKey"] })
        expect(error.message).toBe(
          `${name}: apiKey is required: pass it as a Redacted, or use layerConfig, which reads ${envName}`
        )
      }))
  }

  const badTimeouts: ReadonlyArray<readonly [Duration.DurationInput, string]> = [
    ["soon" as Duration.DurationInput, "\"soon\""],
    // a number as written, a string quoted: `0` (milliseconds) and `"0"` (text) read differently
    [-5, "-5"],
    ["-1 seconds", "\"-1 seconds\""],
    [0, "0"],
    ["0" as Duration.DurationInput, "\"0\""],
    [Duration.zero, "0"],
    // any value shown is masked from a password-like key on
    ["5 s;password=hunter2" as Duration.DurationInput, "\"5 s;password=***\""],
    [{ secret: "hunter2" } as unknown as Duration.DurationInput, "{\"secret\":***"]
  ]
  for (const [input, shown] of badTimeouts) {
    for (const [name, layer] of layersWith({ apiKey, timeout: { firstToken: "5 seconds", request: input } })) {
      it.effect(`${name}: timeout.request ${shown} is refused`, () =>
        Effect.gen(function*() {
          const error = yield* buildError(layer)
          expect(error.message).toBe(`${name}: timeout.request must be a positive duration, got ${shown}`)
          expect(error.message).not.toContain("hunter2")
        }))
    }
  }

  it.scoped("a refused timeout makes no request", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [] })
      const layer = OpenAi.layer({ apiKey, baseUrl: `${server.url}/v1`, model: "m", timeout: { idle: -1 } })
      const exit = yield* ask.pipe(Effect.provide(layer.pipe(Layer.provide(NodeHttpClient.layerUndici))), Effect.exit)
      expect(Exit.isFailure(exit) && exit.cause._tag === "Fail" && ConfigError.isConfigError(exit.cause.error))
        .toBe(true)
      expect(yield* server.requests).toHaveLength(0)
    }))
})

describe("header options are checked at build time, values never shown", () => {
  const badKey = Redacted.make(`${secretKey}\n`)
  const layers: ReadonlyArray<readonly [string, ModelLayer]> = [
    ["OpenAi.layer", OpenAi.layer({ apiKey: badKey })],
    ["OpenAi.layerAzure", OpenAi.layerAzure({ endpoint: "https://r.openai.azure.com", apiKey: badKey })],
    ["Anthropic.layer", Anthropic.layer({ apiKey: badKey })],
    ["Cohere.layer", Cohere.layer({ apiKey: badKey })],
    ["Gemini.layer", Gemini.layer({ apiKey: badKey })]
  ]
  const notAllowed = "has a character not allowed in an HTTP header"

  for (const [name, layer] of layers) {
    it.effect(`${name}: an apiKey with a line break`, () =>
      Effect.gen(function*() {
        const error = yield* buildError(layer)
        expect(error.message).toContain(`${name}: apiKey ${notAllowed}`)
        expect(String(error)).not.toContain(secretKey)
      }))
  }

  it.effect("a header value with a line break, a non-Latin-1 character, or a bad header name", () =>
    Effect.gen(function*() {
      const value = yield* buildError(Cohere.layer({ apiKey, headers: { "x-team": `a\r\nx-injected: ${secretKey}` } }))
      expect(value.message).toContain(`Cohere.layer: headers["x-team"] ${notAllowed}`)
      expect(value.message).not.toContain(secretKey)
      const wide = yield* buildError(Gemini.layer({ headers: { "x-team": "équipe €" } }))
      expect(wide.message).toContain(`Gemini.layer: headers["x-team"] ${notAllowed}`)
      const name = yield* buildError(OpenAi.layer({ headers: { "x team": "a" } }))
      expect(name.message).toBe("OpenAi.layer: headers has an invalid header name \"x team\"")
      const beta = yield* buildError(Anthropic.layer({ apiKey, betas: ["a\nb"] }))
      expect(beta.message).toContain(`Anthropic.layer: betas ${notAllowed}`)
      const blank = yield* buildError(OpenAi.layer({ model: " " }))
      expect(blank.message).toBe("OpenAi.layer: model must not be empty")
    }))

  it.effect("a header the HTTP client sets itself (undici refuses a request carrying one) is refused", () =>
    Effect.gen(function*() {
      for (const name of ["transfer-encoding", "Upgrade", "expect", "keep-alive", "connection", "host"]) {
        const error = yield* buildError(OpenAi.layer({ apiKey, headers: { [name]: "x" } }))
        expect(error.message).toBe(
          `OpenAi.layer: headers cannot set "${name}": the HTTP client sets it (a header of the connection or of the body's framing)`
        )
      }
    }))
})

/** Every `layerConfig`, with its variables and a reply its provider would send. */
const configLayers = [
  {
    layer: "OpenAi.layerConfig",
    make: (options: { readonly baseUrl?: string }) => OpenAi.layerConfig(options),
    key: "OPENAI_API_KEY",
    keyNames: "OPENAI_API_KEY",
    baseUrl: "OPENAI_BASE_URL"
  },
  {
    layer: "Anthropic.layerConfig",
    make: (options: { readonly baseUrl?: string }) => Anthropic.layerConfig(options),
    key: "ANTHROPIC_API_KEY",
    keyNames: "ANTHROPIC_API_KEY",
    baseUrl: "ANTHROPIC_BASE_URL"
  },
  {
    layer: "Cohere.layerConfig",
    make: (options: { readonly baseUrl?: string }) => Cohere.layerConfig(options),
    key: "COHERE_API_KEY",
    keyNames: "COHERE_API_KEY (or CO_API_KEY)",
    baseUrl: "COHERE_BASE_URL"
  },
  {
    layer: "Gemini.layerConfig",
    make: (options: { readonly baseUrl?: string }) => Gemini.layerConfig(options),
    key: "GEMINI_API_KEY",
    keyNames: "GEMINI_API_KEY (or GOOGLE_API_KEY)",
    baseUrl: "GEMINI_BASE_URL"
  }
] as const

const withEnv = (entries: ReadonlyArray<readonly [string, string]>) =>
  Effect.withConfigProvider(ConfigProvider.fromMap(new Map(entries)))

describe("layerConfig errors say what to do", () => {
  for (const { baseUrl, key, keyNames, layer, make } of configLayers) {
    it.effect(`${layer}: a missing or blank key names the variable and the option`, () =>
      Effect.gen(function*() {
        const one = keyNames === key ? "it" : "one"
        for (const [env, state] of [[[], "is not set"], [[[key, "  "]], "is empty"]] as const) {
          const error = yield* buildError(make({})).pipe(withEnv(env))
          expect(error).toMatchObject({ _op: "MissingData", path: [key] })
          expect(error.message).toBe(`${keyNames} ${state}: export ${one}, or pass apiKey to ${layer}`)
          expect(String(error)).not.toContain("<redacted>")
        }
      }))

    it.effect(`${layer}: a bad ${baseUrl} is a ConfigError naming the variable, the key never shown`, () =>
      Effect.gen(function*() {
        const error = yield* buildError(make({})).pipe(withEnv([[key, secretKey], [baseUrl, "localhost:8080/v1"]]))
        expect(error).toMatchObject({ _op: "InvalidData", path: [baseUrl] })
        expect(error.message).toBe(`${layer}: ${baseUrl} ${absolute}, got "localhost:8080/v1"`)
        expect(String(error)).not.toContain(secretKey)
      }))

    it.effect(`${layer}: a bad baseUrl option is named as the option of ${layer}`, () =>
      Effect.gen(function*() {
        const error = yield* buildError(make({ baseUrl: "ftp://x" })).pipe(withEnv([[key, secretKey]]))
        expect(error.message).toBe(`${layer}: baseUrl ${absolute}, got "ftp://x"`)
      }))
  }

  it.scoped("a baseUrl option wins: the variable is then not read; a key is trimmed of its newline", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ script: [AnthropicMock.message()] })
      const env = [["ANTHROPIC_API_KEY", `${secretKey}\n`], ["ANTHROPIC_BASE_URL", "not a url"]] as const
      yield* ask.pipe(
        Effect.provide(overUndici(Anthropic.layerConfig({ baseUrl: server.url, model: "m" }))),
        withEnv(env)
      )
      const [request] = yield* server.requests
      expect(request?.headers["x-api-key"]).toBe(secretKey)
    }))
})

describe("one vocabulary: name and apiVersion on every provider", () => {
  const named: ReadonlyArray<readonly [string, (url: string) => ModelLayer]> = [
    ["openai", (url) => OpenAi.layer({ name: "proxy", apiKey, baseUrl: url, model: "m", retry: false })],
    ["azure", (url) => OpenAi.layerAzure({ name: "proxy", endpoint: url, deployment: "d", apiKey, retry: false })],
    ["anthropic", (url) => Anthropic.layer({ name: "proxy", apiKey, baseUrl: url, model: "m", retry: false })],
    ["cohere", (url) => Cohere.layer({ name: "proxy", apiKey, baseUrl: url, model: "m", retry: false })],
    ["gemini", (url) => Gemini.layer({ name: "proxy", apiKey, baseUrl: url, model: "m", retry: false })]
  ]

  for (const [provider, make] of named) {
    it.scoped(`${provider}: name is the provider reported by the service and its errors`, () =>
      Effect.gen(function*() {
        const server = yield* MockProvider.make({ script: [MockProvider.error(400)] })
        const layer = overUndici(make(server.url))
        const service = yield* Effect.provide(LanguageModel.LanguageModel, layer)
        expect(service.provider).toBe("proxy")
        const exit = yield* ask.pipe(Effect.provide(layer), Effect.exit)
        expect(failure(exit)).toMatchObject({ _tag: "InvalidRequest", provider: "proxy", status: 400 })
      }))
  }

  it.scoped("Anthropic apiVersion sets anthropic-version; the deprecated version still works, apiVersion wins", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({ onExhausted: AnthropicMock.message() })
      const send = (options: Partial<Anthropic.Options>) =>
        ask.pipe(
          Effect.provide(overUndici(Anthropic.layer({ apiKey, baseUrl: server.url, model: "m", ...options })))
        )
      yield* send({ apiVersion: "2024-01-01" })
      yield* send({ version: "2023-01-01" })
      yield* send({ apiVersion: "2024-01-01", version: "2023-01-01" })
      yield* send({})
      const versions = (yield* server.requests).map((request) => request.headers["anthropic-version"])
      expect(versions).toEqual(["2024-01-01", "2023-01-01", "2024-01-01", Anthropic.defaultApiVersion])
    }))
})

/** Every provider layer, built from options a JavaScript caller may get wrong. */
const providerLayers: ReadonlyArray<
  readonly [layer: string, make: (extra: Record<string, unknown>) => ModelLayer]
> = [
  ["OpenAi.layer", (extra) => OpenAi.layer({ apiKey, model: "m", ...extra } as OpenAi.Options)],
  [
    "OpenAi.layerAzure",
    (extra) => OpenAi.layerAzure({ endpoint: "https://r.openai.azure.com", apiKey, ...extra } as OpenAi.AzureOptions)
  ],
  ["Anthropic.layer", (extra) => Anthropic.layer({ apiKey, model: "m", ...extra } as Anthropic.Options)],
  ["Cohere.layer", (extra) => Cohere.layer({ apiKey, model: "m", ...extra } as Cohere.Options)],
  ["Gemini.layer", (extra) => Gemini.layer({ apiKey, model: "m", ...extra } as Gemini.Options)]
]

describe("a provider layer refuses options of the wrong name or type at build time", () => {
  const cases: ReadonlyArray<readonly [extra: Record<string, unknown>, path: ReadonlyArray<string>, message: string]> =
    [
      [{ modle: "gpt-4o" }, ["modle"], "unknown option \"modle\""],
      [{ model: 123 }, ["model"], "model must be a string, got 123"],
      [{ name: null }, ["name"], "name must be a string, got null"],
      [{ apiKey: secretKey }, ["apiKey"], "apiKey must be a Redacted value (Redacted.make(key)), got a plain string"],
      [{ retry: 3 }, ["retry"], "retry must be a policy from Retry.policy(...) or false, got 3"],
      [{ timeout: { reqest: "1 second" } }, ["timeout", "reqest"], "unknown option \"timeout.reqest\""],
      [{ headers: { "x-team": 7 } }, ["headers[\"x-team\"]"], "headers[\"x-team\"] must be a string, got 7"],
      [{ capabilities: { tool: true } }, ["capabilities", "tool"], "unknown option \"capabilities.tool\""],
      [{ capabilities: { tools: "yes" } }, ["capabilities.tools"], "capabilities.tools must be true or false"],
      [{ apiKey: Redacted.make(123) }, ["apiKey"], "apiKey must hold a string, got a Redacted number"]
    ]
  for (const [layer, make] of providerLayers) {
    it.effect(`${layer}: each mistake is a ConfigError naming the option, the key never shown`, () =>
      Effect.gen(function*() {
        for (const [extra, path, message] of cases) {
          const error = yield* buildError(make(extra))
          expect(error._op).toBe("InvalidData")
          expect(ConfigError.isInvalidData(error) && error.path).toEqual(path)
          expect(error.message).toContain(`${layer}: `)
          expect(error.message).toContain(message)
          expect(error.message).not.toContain(secretKey)
        }
      }))
  }
})

describe("OpenAi.layer's own options are checked the same way", () => {
  it.effect("maxTokensField is one of its two names; baseUrl is a string, not a URL object", () =>
    Effect.gen(function*() {
      const misspelt = yield* buildError(
        OpenAi.layer({ apiKey, maxTokensField: "max_token" } as unknown as OpenAi.Options)
      )
      expect(misspelt.message).toBe(
        "OpenAi.layer: maxTokensField must be \"max_tokens\" or \"max_completion_tokens\", got \"max_token\""
      )
      const url = yield* buildError(
        OpenAi.layer({ apiKey, baseUrl: new URL("http://127.0.0.1:1/v1") } as unknown as OpenAi.Options)
      )
      expect(url.message).toBe("OpenAi.layer: baseUrl must be a string, got a URL")
    }))
})

describe("a JavaScript caller's null or wrong shape is a ConfigError, never a TypeError", () => {
  it.effect("Anthropic betas must be an array of strings, from layer and layerConfig alike", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [betas: unknown, path: string, message: string]> = [
        [null, "betas", "betas must be an array of strings, got null"],
        ["x", "betas", "betas must be an array of strings, got \"x\""],
        [["a", 1], "betas", "betas must be an array of strings, got [\"a\",1]"],
        [["a", " "], "betas[1]", "betas[1] must not be empty"]
      ]
      for (const [betas, path, message] of cases) {
        const direct = yield* buildError(Anthropic.layer({ apiKey, betas } as unknown as Anthropic.Options))
        expect(direct).toMatchObject({ _op: "InvalidData", path: [path] })
        expect(direct.message).toBe(`Anthropic.layer: ${message}`)
        const fromEnv = yield* buildError(Anthropic.layerConfig({ betas } as unknown as Anthropic.ConfigOptions)).pipe(
          withEnv([["ANTHROPIC_API_KEY", secretKey]])
        )
        expect(fromEnv.message).toBe(`Anthropic.layerConfig: ${message}`)
      }
    }))

  it.effect("layerConfig(null) fails to build with the ConfigError layer(null) gives, it does not throw", () =>
    Effect.gen(function*() {
      const layers: ReadonlyArray<readonly [string, (options: unknown) => ModelLayer]> = [
        ["OpenAi", (options) => OpenAi.layerConfig(options as OpenAi.Options)],
        ["Anthropic", (options) => Anthropic.layerConfig(options as Anthropic.ConfigOptions)],
        ["Cohere", (options) => Cohere.layerConfig(options as Cohere.ConfigOptions)],
        ["Gemini", (options) => Gemini.layerConfig(options as Gemini.Options)]
      ]
      for (const [provider, make] of layers) {
        const error = yield* buildError(make(null))
        expect(error).toMatchObject({ _op: "InvalidData", path: [] })
        expect(error.message).toBe(`${provider}.layerConfig: options must be an object, got null`)
      }
    }))

  it.effect("OpenAi.layerAzure: endpoint is required, and apiKey and token are not both given", () =>
    Effect.gen(function*() {
      const missing = yield* buildError(OpenAi.layerAzure({ apiKey } as unknown as OpenAi.AzureOptions))
      expect(missing).toMatchObject({ _op: "MissingData", path: ["endpoint"] })
      expect(missing.message).toBe(
        "OpenAi.layerAzure: endpoint is required: the resource URL, e.g. \"https://<resource>.openai.azure.com\""
      )
      const both = yield* buildError(
        OpenAi.layerAzure({ endpoint: "https://r.openai.azure.com", apiKey, token: Redacted.make(secretKey) })
      )
      expect(both).toMatchObject({ _op: "InvalidData", path: ["token"] })
      expect(both.message).toContain("OpenAi.layerAzure: apiKey and token are both given: give one")
      expect(both.message).not.toContain(secretKey)
    }))
})

describe("a URL that may hold a password is shown only when it is a well-formed URL", () => {
  const secret = "Tr0ub4dor&3-hunter2"
  it.each(
    [
      [secret, "a value of 19 characters that does not start with a scheme:// (not shown: it may hold a password)"],
      [`redis://127.0.0.1:6379 password ${secret}`, "a value of 51 characters with spaces"],
      [`redis://127.0.0.1:6379\n${secret}`, "a value of 42 characters with a line break or a control character"],
      [`redis:///${secret}`, "a value of 28 characters without a host"],
      [`redis://h:6379;password=${secret}`, "a value of 43 characters that is not a valid URL"],
      ["x", "a value of 1 character that does not start with a scheme://"]
    ] as const
  )("%s is described, never quoted", (value, described) => {
    const text = HttpOptions.shownSecretUrl(value)
    expect(text).toContain(described)
    expect(text).not.toContain("hunter2")
    expect(text).not.toContain("\"")
  })

  it.each(
    [
      [`redis://:${secret}@h:6379/0`, "\"redis://***@h:6379/0\""],
      [`redis://h:6379/0?password=${secret}`, "\"redis://h:6379/0?***\""],
      [`https://h/x#${secret}`, "\"https://h/x#***\""],
      [`redis://h,password=${secret}`, "\"redis://h,password=***\""]
    ] as const
  )("%s is shown masked, as any URL", (value, shown) => {
    expect(HttpOptions.shownSecretUrl(value)).toBe(shown)
    expect(HttpOptions.shownSecretUrl(value)).toBe(HttpOptions.shown(value))
  })
})

describe("a host is a host name, an IPv4 address or an IPv6 one (Redis and the gateway's server share the check)", () => {
  it.each(
    [
      "localhost",
      "redis.internal",
      "my_redis",
      "cache-1.example.com",
      "example.com.",
      `${"a".repeat(63)}.example`,
      "0.0.0.0",
      "255.255.255.255",
      "::",
      "::1",
      "fe80::1%eth0",
      "::ffff:10.0.0.1"
    ]
  )("%s is taken", (host) => {
    expect(OptionChecks.hostIssue(host)).toBeUndefined()
  })

  it.each(
    [
      ["", "must not be empty"],
      ["127.0.0.1 ", "must not contain spaces or control characters"],
      ["not a host", "must not contain spaces or control characters"],
      ["http://127.0.0.1", "must be a host name or an IP address, not a URL (the port goes in port:)"],
      ["127.0.0.1:4000", "must be a host name or an IP address without a port (the port goes in port:)"],
      ["[::1]:4000", "must be a host name or an IP address without a port (the port goes in port:)"],
      ["[::1]", "must be an IPv6 address without brackets"],
      ["1::2::3", "is not a valid IPv6 address"],
      ["256.1.1.1", "is not a valid IPv4 address (four numbers from 0 to 255)"],
      ["1.2.3.4.5", "is not a valid IPv4 address (four numbers from 0 to 255)"],
      ["10.1", "is not a valid IPv4 address (four numbers from 0 to 255)"],
      ["host.123", "is not a valid IPv4 address (four numbers from 0 to 255)"],
      ["-bad-", "is not a valid host name"],
      ["bad-.example", "is not a valid host name"],
      ["a..b", "is not a valid host name"],
      ["h;password=x", "is not a valid host name"],
      [`${"a".repeat(64)}.example`, "is not a valid host name"],
      [`${"a.".repeat(126)}abc`, "is not a valid host name"]
    ] as const
  )("%s is refused: %s", (host, issue) => {
    expect(OptionChecks.hostIssue(host)).toContain(issue)
  })
})
