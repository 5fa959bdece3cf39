/**
 * Checks of the URLs and headers a layer is given, and how a URL is shown in a message (masked: it may hold a
 * password). Shared by the provider layers, the Redis options and the gateway's telemetry options.
 */
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { withoutSecrets } from "./described.js"
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

/** Whether a header is one of the connection or of the body's framing, which the HTTP client sets itself. */
export const isClientHeader = (name: string): boolean => clientHeaders.has(name.toLowerCase())

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
  const framing = entries.find(([name]) => isClientHeader(name))
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
