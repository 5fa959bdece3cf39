/**
 * Checks of provider layer options, run when a layer is built: a bad URL, header or key is a `ConfigError`
 * naming the option at startup, never a retried `NetworkError` at the first call.
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as LanguageModel from "../LanguageModel.js"
import * as Retry from "../Retry.js"
import type * as Timeout from "../Timeout.js"
import * as Durations from "./duration.js"
import * as HttpOptions from "./httpOptions.js"
import {
  booleanOption,
  described,
  isRecord,
  knownOptions,
  nonEmpty,
  optionNames,
  recordOption,
  redactedOption,
  stringListOption,
  stringOption
} from "./optionChecks.js"

const orList = (names: readonly [string, ...Array<string>]) =>
  names.length === 1 ? names[0] : `${names[0]} (or ${names.slice(1).join(", or ")})`

/**
 * An API key from the environment, the first of `names` that is set and not blank, trimmed (as the official
 * SDKs do: a key read from a file often ends in a newline). Without one, `MissingData` at the first name with
 * a message saying what to do. `Config.redacted` alone would say only `"<redacted>"`: it redacts every error
 * message of the config it wraps, the "not set" one included.
 */
export const apiKeyConfig = (
  layer: string,
  names: readonly [string, ...Array<string>]
): Config.Config<Redacted.Redacted> =>
  Config.all(names.map((name) => Config.option(Config.redacted(name)))).pipe(
    Config.mapOrFail((values) => {
      const set = values.flatMap((value) => Option.isSome(value) ? [Redacted.value(value.value).trim()] : [])
      const key = set.find((value) => value !== "")
      if (key !== undefined) return Either.right(Redacted.make(key))
      const state = set.length === 0 ? "is not set" : "is empty"
      return Either.left(ConfigError.MissingData(
        [names[0]],
        `${orList(names)} ${state}: export ${names.length === 1 ? "it" : "one"}, or pass apiKey to ${layer}`
      ))
    })
  )

/** An optional environment variable, trimmed; blank counts as unset. */
export const optionalEnv = (name: string): Config.Config<Option.Option<string>> =>
  Config.map(
    Config.option(Config.string(name)),
    Option.flatMap((value) => Option.liftPredicate(value.trim(), (trimmed) => trimmed !== ""))
  )

/** An optional base URL from the environment, checked like the option, the error naming the variable. */
export const baseUrlEnv = (layer: string, name: string): Config.Config<Option.Option<string>> =>
  Config.mapOrFail(optionalEnv(name), (value) =>
    Option.match(value, {
      onNone: () => Either.right(Option.none()),
      onSome: (url) => Either.map(HttpOptions.baseUrl(layer, name, url), Option.some)
    }))

/**
 * The key of a provider that cannot be called without one (`undefined` from a JavaScript caller, or a
 * `process.env` read typed away): `MissingData` saying where a key can come from, not a `TypeError`.
 */
export const requiredApiKey = (
  layer: string,
  apiKey: Redacted.Redacted | undefined,
  envName: string
): Effect.Effect<string, ConfigError.ConfigError> =>
  apiKey === undefined
    ? Effect.fail(ConfigError.MissingData(
      ["apiKey"],
      `${layer}: apiKey is required: pass it as a Redacted, or use layerConfig, which reads ${envName}`
    ))
    : Effect.succeed(Redacted.value(apiKey))

/** A blank `apiKey` would be sent as `Bearer ` and refused at the first call: refuse it at startup instead. */
const apiKeyNotBlank = (
  layer: string,
  apiKey: Redacted.Redacted | undefined
): Effect.Effect<void, ConfigError.ConfigError> =>
  apiKey !== undefined && Redacted.value(apiKey).trim() === ""
    ? Effect.fail(ConfigError.InvalidData(
      ["apiKey"],
      `${layer}: apiKey is empty (an unset environment variable?): give the key (or, for a server that needs none, leave apiKey out)`
    ))
    : Effect.void

const timeoutPhases = ["request", "firstToken", "idle", "total"] as const

/** Each `timeout` phase given is a positive duration: zero or a negative value would fail every attempt at once. */
const timeouts = (
  layer: string,
  timeout: Timeout.Options | undefined
): Effect.Effect<void, ConfigError.ConfigError> => {
  for (const phase of timeoutPhases) {
    const input = timeout?.[phase]
    if (input === undefined) continue
    const decoded = Durations.decodeNonNegative(input)
    if (decoded === undefined || Duration.isZero(decoded)) {
      return Effect.fail(ConfigError.InvalidData(
        ["timeout", phase],
        `${layer}: timeout.${phase} must be a positive duration, got ${Durations.show(input)}`
      ))
    }
  }
  return Effect.void
}

/**
 * The options every provider layer shares, checked: `name`, `pricingProvider` and `model` not blank, `headers`
 * valid, `apiKey` not blank, each `timeout` phase a positive duration.
 */
export const shared = (
  layer: string,
  options: {
    readonly name?: string | undefined
    readonly pricingProvider?: string | undefined
    readonly model?: string | undefined
    readonly headers?: Readonly<Record<string, string>> | undefined
    readonly apiKey?: Redacted.Redacted | undefined
    readonly timeout?: Timeout.Options | undefined
  }
): Effect.Effect<void, ConfigError.ConfigError> =>
  Effect.all([
    nonEmpty(layer, [["name", options.name], ["pricingProvider", options.pricingProvider], ["model", options.model]]),
    HttpOptions.headers(layer, options.headers),
    apiKeyNotBlank(layer, options.apiKey),
    timeouts(layer, options.timeout)
  ], { discard: true })

/** An option that becomes one segment of the URL path (e.g. Gemini's `apiVersion`). */
export const pathSegment = (
  layer: string,
  option: string,
  value: string
): Either.Either<string, ConfigError.ConfigError> =>
  /^[A-Za-z0-9._~-]+$/.test(value) && value !== "." && value !== ".."
    ? Either.right(value)
    : Either.left(
      ConfigError.InvalidData(
        [option],
        `${layer}: ${option} must be one URL path segment such as "v1beta", got ${HttpOptions.shown(value)}`
      )
    )

/** The names of `LanguageModel.ProviderOptions`, which every provider's options hold: spread into its own list. */
export const sharedOptionNames = {
  name: true,
  pricingProvider: true,
  model: true,
  headers: true,
  retry: true,
  timeout: true,
  capabilities: true
} as const satisfies { readonly [K in keyof Required<LanguageModel.ProviderOptions>]: true }

// Provider options by kind, whichever provider takes them: each is checked where a provider's options hold it.
const stringOptions: ReadonlySet<string> = new Set([
  "name",
  "pricingProvider",
  "model",
  "baseUrl",
  "endpoint",
  "organization",
  "project",
  "deployment",
  "apiVersion",
  "version",
  "clientName",
  "maxTokensField"
])
const secretOptions: ReadonlySet<string> = new Set(["apiKey", "token"])
const stringListOptions: ReadonlySet<string> = new Set(["betas"])
const capabilityNames = optionNames<LanguageModel.Capabilities>({
  tools: true,
  vision: true,
  jsonSchema: true,
  streamingUsage: true
})

/** The first failure of `checks`, in order. */
const firstFailure = (
  checks: ReadonlyArray<() => Either.Either<void, ConfigError.ConfigError>>
): Either.Either<void, ConfigError.ConfigError> => {
  for (const check of checks) {
    const result = check()
    if (Either.isLeft(result)) return result
  }
  return Either.void
}

/**
 * A provider layer's options object checked before anything reads it, so that a JavaScript caller's mistake is
 * a `ConfigError` naming the option, never a `TypeError` or a silently ignored option: an object holding only
 * `names` (a misspelt option would be ignored), strings where strings go, `Redacted` keys (a key passed as a
 * plain string is refused without being shown), lists of strings (Anthropic's `betas`), `headers` of strings, `capabilities` of booleans, `timeout` of
 * known phases, `retry` a `Retry.policy(...)` or `false`.
 */
export const providerOptions = (
  layer: string,
  options: unknown,
  names: ReadonlyArray<string>
): Either.Either<void, ConfigError.ConfigError> => {
  const known = knownOptions(layer, options, names)
  if (Either.isLeft(known) || !isRecord(options)) return known
  const invalid = (option: string, message: string) =>
    Either.left(ConfigError.InvalidData([option], `${layer}: ${option} ${message}`))
  return firstFailure([
    ...Object.entries(options).map(([option, value]) => () =>
      value === undefined
        ? Either.void
        : stringOptions.has(option) && typeof value !== "string"
        ? stringOption(layer, option, value)
        : secretOptions.has(option)
        ? redactedOption(layer, option, value)
        : stringListOptions.has(option)
        ? stringListOption(layer, option, value)
        : option === "maxTokensField" && value !== "max_tokens" && value !== "max_completion_tokens"
        ? invalid(option, `must be "max_tokens" or "max_completion_tokens", got ${described(value)}`)
        : Either.void
    ),
    () => recordOption(layer, "headers", options.headers),
    () => {
      const bad = Object.entries((options.headers ?? {}) as Record<string, unknown>).find(([, value]) =>
        typeof value !== "string"
      )
      return bad === undefined
        ? Either.void
        : invalid(`headers[${JSON.stringify(bad[0])}]`, `must be a string, got ${described(bad[1])}`)
    },
    () =>
      options.capabilities === undefined
        ? Either.void
        : knownOptions(layer, options.capabilities, capabilityNames, ["capabilities"]),
    ...capabilityNames.map((name) => () =>
      booleanOption(
        layer,
        `capabilities.${name}`,
        (options.capabilities as Record<string, unknown> | undefined)?.[name]
      )
    ),
    () =>
      options.timeout === undefined ? Either.void : knownOptions(layer, options.timeout, timeoutPhases, ["timeout"]),
    () =>
      options.retry === undefined || options.retry === false || options.retry instanceof Retry.Policy
        ? Either.void
        : invalid("retry", `must be a policy from Retry.policy(...) or false, got ${described(options.retry)}`)
  ])
}
