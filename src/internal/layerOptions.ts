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
import { withoutSecrets } from "./described.js"
import * as Durations from "./duration.js"
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
import * as Text from "./text.js"

/** A URL's scheme and `//`, as `redis://`. */
const schemePrefix = /^[a-z][a-z0-9+.-]*:\/\//i

/**
 * A URL as shown in a message: quoted, userinfo, query, fragment and any password-like value masked (each may hold
 * a secret), bounded.
 */
export const shown = (value: string): string => {
  // Everything before the last "@" may be a password, also in a malformed URL ("redis//:pw@host"): mask it all,
  // keeping a well-formed scheme.
  const at = value.lastIndexOf("@")
  const scheme = schemePrefix.exec(value)?.[0] ?? ""
  // A query or fragment may carry a secret too (`?password=`, `?key=`): only that there is one is shown.
  // A connection string of another form holds its password elsewhere (`host:6379,password=`, `/0;password=`).
  const masked = withoutSecrets((at < 0 ? value : `${scheme}***${value.slice(at)}`).replace(/([?#]).*$/s, "$1***"))
  return JSON.stringify(masked.length > 200 ? `${masked.slice(0, 200)}...` : masked)
}

const hasControl = (value: string): boolean =>
  Array.from(value).some((char) => char.charCodeAt(0) < 0x20 || char.charCodeAt(0) === 0x7f)

const hasSpaceOrControl = (value: string): boolean => /\s/.test(value) || hasControl(value)

/** What makes a text no well-formed URL (a scheme, `//` and a host), or `undefined` when it is one. */
const notAUrl = (value: string): string | undefined => {
  if (hasControl(value)) return "with a line break or a control character"
  if (/\s/.test(value)) return "with spaces"
  if (!schemePrefix.test(value)) return "that does not start with a scheme://"
  if (!URL.canParse(value)) return "that is not a valid URL"
  return new URL(value).hostname === "" ? "without a host" : undefined
}

/**
 * A value given for a URL that may hold a password (a Redis URL), as shown in a message: a well-formed URL (a
 * scheme, `//` and a host) as {@link shown} shows it, masked; anything else is only described (its length, what
 * is wrong), never quoted: it may be the password itself, set where the URL should be.
 *
 * @since 0.2.0
 * @category formatting
 */
export const shownSecretUrl = (value: string): string => {
  const wrong = notAUrl(value)
  const length = Text.characters(value)
  return wrong === undefined
    ? shown(value)
    : `a value of ${length} character${length === 1 ? "" : "s"} ${wrong} (not shown: it may hold a password)`
}

/**
 * What is wrong with a base URL (one the layer appends paths to), or the URL without trailing slashes. `credentials`
 * says where a key goes instead of the URL's userinfo.
 */
export const parseBaseUrl = (
  value: string,
  credentials = "pass the key as apiKey"
): Either.Either<string, string> => {
  if (hasSpaceOrControl(value)) return Either.left("must not contain spaces or control characters")
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return Either.left("must be an absolute http(s) URL")
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.hostname === "") {
    return Either.left("must be an absolute http(s) URL")
  }
  if (url.username !== "" || url.password !== "") {
    return Either.left(`must not contain credentials (${credentials})`)
  }
  if (url.search !== "" || url.hash !== "" || value.includes("?") || value.includes("#")) {
    return Either.left("must not have a query or fragment (the layer appends the API path)")
  }
  return Either.right(value.replace(/\/+$/, ""))
}

/**
 * A base URL option checked: the URL without trailing slashes, or `InvalidData` at `path` whose message names
 * the layer, the option and the value, e.g. `OpenAi.layer: baseUrl must be an absolute http(s) URL, got "x"`.
 * (An `Either` is also an `Effect`: `yield*` it in a layer's constructor.)
 */
export const baseUrl = (
  layer: string,
  option: string,
  value: string,
  path: ReadonlyArray<string> = [option]
): Either.Either<string, ConfigError.ConfigError> =>
  Either.mapLeft(
    parseBaseUrl(value),
    (reason) => ConfigError.InvalidData([...path], `${layer}: ${option} ${reason}, got ${shown(value)}`)
  )

// RFC 9110 `token` for names; values may hold tab, visible ASCII and Latin-1 (what HTTP clients accept).
const headerName = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const headerValue = /^[\t\u0020-\u007e\u0080-\u00ff]*$/

/**
 * Whether a text is an HTTP header name (an RFC 9110 token).
 *
 * @since 0.2.0
 * @category checks
 */
export const isHeaderName = (name: string): boolean => headerName.test(name)

/**
 * Why a header value cannot be sent, or `undefined`. The value is not in the text: it may be a key.
 *
 * @since 0.2.0
 * @category checks
 */
export const headerValueIssue = (value: string): string | undefined =>
  headerValue.test(value)
    ? undefined
    : "has a character not allowed in an HTTP header (a line break, a control or a non-Latin-1 character)"

/**
 * Header values checked, each labelled by the option it comes from. A value is never shown: it may be a key.
 */
export const headerValues = (
  layer: string,
  values: ReadonlyArray<readonly [option: string, value: string | undefined]>
): Effect.Effect<void, ConfigError.ConfigError> => {
  for (const [option, value] of values) {
    const issue = value === undefined ? undefined : headerValueIssue(value)
    if (issue !== undefined) return Effect.fail(ConfigError.InvalidData([option], `${layer}: ${option} ${issue}`))
  }
  return Effect.void
}

// Headers of the connection and of the message's framing, which the HTTP client sets: undici refuses a request
// carrying one (so every call would fail as a network error), and a proxy could read a wrong one differently.
const clientHeaders = new Set([
  "connection",
  "content-length",
  "expect",
  "host",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade"
])

/**
 * The `headers` option checked: names are HTTP tokens and none the client sets itself (`transfer-encoding`,
 * `connection`, `host`...), values valid header values (never shown).
 */
export const headers = (
  layer: string,
  record: Readonly<Record<string, string>> | undefined
): Effect.Effect<void, ConfigError.ConfigError> => {
  const entries = Object.entries(record ?? {})
  const badName = entries.find(([name]) => !isHeaderName(name))
  if (badName !== undefined) {
    return Effect.fail(ConfigError.InvalidData(
      ["headers"],
      `${layer}: headers has an invalid header name ${shown(badName[0])}`
    ))
  }
  const framing = entries.find(([name]) => clientHeaders.has(name.toLowerCase()))
  if (framing !== undefined) {
    return Effect.fail(ConfigError.InvalidData(
      ["headers"],
      `${layer}: headers cannot set ${
        JSON.stringify(framing[0])
      }: the HTTP client sets it (a header of the connection or of the body's framing)`
    ))
  }
  return headerValues(layer, entries.map(([name, value]) => [`headers[${JSON.stringify(name)}]`, value] as const))
}

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
      onSome: (url) => Either.map(baseUrl(layer, name, url), Option.some)
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
    headers(layer, options.headers),
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
        `${layer}: ${option} must be one URL path segment such as "v1beta", got ${shown(value)}`
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
