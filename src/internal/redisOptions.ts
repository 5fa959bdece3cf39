/**
 * Checks of the Redis connection options, run when the layer is built: a bad URL, port or timeout is a
 * `ConfigError` naming the option (or the environment variable) at startup. A password never appears in a
 * message: URLs are shown with their userinfo masked, a value that is no URL only described, and every value with
 * its password-like `key=value` masked.
 */
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import type * as Redis from "../Redis.js"
import * as Durations from "./duration.js"
import { shownSecretUrl } from "./httpOptions.js"
import * as OptionChecks from "./optionChecks.js"

/** Where the server is and how to log in (the password stays redacted until the client is made). */
export interface Target {
  readonly host: string
  readonly port: number
  readonly username: string | undefined
  readonly password: Redacted.Redacted | undefined
  readonly db: number
  readonly tls: boolean
}

/** Everything the client is made from, checked. */
export interface Resolved {
  readonly target: Target
  readonly keyPrefix: string
  readonly commandTimeoutMillis: number
  readonly connectTimeoutMillis: number
  readonly awaitConnection: boolean
}

export const defaults = {
  keyPrefix: "liter-llm:",
  commandTimeout: Duration.millis(500),
  connectTimeout: Duration.seconds(2)
} as const

const invalid = (path: string, message: string) => Either.left(ConfigError.InvalidData([path], message))

const isPort = (value: number) => Number.isInteger(value) && value >= 1 && value <= 65535

/**
 * A `redis://[user:password@]host[:port][/db]` (or `rediss://` for TLS) URL checked, `path` naming the option or
 * the variable in the error. A value that is no well-formed URL is never quoted (see `shownSecretUrl`), nor is a
 * database part that is no number: either may be a password set in the wrong place.
 */
export const parseUrl = (
  layer: string,
  path: string,
  value: string
): Either.Either<Target, ConfigError.ConfigError> => {
  const expected = `${layer}: ${path} must be a redis://[user:password@]host[:port][/db] (or rediss://) URL`
  const url = URL.canParse(value) ? new URL(value) : undefined
  if (
    url === undefined || (url.protocol !== "redis:" && url.protocol !== "rediss:") || url.hostname === "" ||
    /\s/.test(value)
  ) {
    return invalid(path, `${expected}, got ${shownSecretUrl(value)}`)
  }
  // IPv6 hosts come bracketed from `URL`; the socket wants them bare.
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1")
  // A host name or an address only: `host;password=...` from another client's connection string would be shown
  // in every connection error.
  const hostIssue = OptionChecks.hostIssue(host)
  if (hostIssue !== undefined) {
    return invalid(path, `${layer}: ${path} has an invalid host: it ${hostIssue}, got ${shownSecretUrl(value)}`)
  }
  if (url.search !== "" || url.hash !== "") {
    return invalid(path, `${layer}: ${path} must not have a query or fragment, got ${shownSecretUrl(value)}`)
  }
  const dbText = url.pathname.replace(/^\//, "")
  if (dbText !== "" && !/^\d{1,5}$/.test(dbText)) {
    return invalid(
      path,
      `${layer}: ${path} has a database part (after the host) that is not a number such as /0 (not shown: it may hold a password)`
    )
  }
  const port = url.port === "" ? 6379 : Number(url.port)
  if (!isPort(port)) return invalid(path, `${expected}, got ${shownSecretUrl(value)}`)
  let username: string | undefined
  let password: string | undefined
  try {
    username = url.username === "" ? undefined : decodeURIComponent(url.username)
    password = url.password === "" ? undefined : decodeURIComponent(url.password)
  } catch {
    return invalid(path, `${layer}: ${path} has a badly escaped user or password`)
  }
  return Either.right({
    host,
    port,
    username,
    password: password === undefined ? undefined : Redacted.make(password),
    db: dbText === "" ? 0 : Number(dbText),
    tls: url.protocol === "rediss:"
  })
}

const positiveMillis = (
  layer: string,
  option: string,
  input: Duration.DurationInput | undefined,
  fallback: Duration.Duration
): Either.Either<number, ConfigError.ConfigError> => {
  if (input === undefined) return Either.right(Duration.toMillis(fallback))
  const decoded = Durations.decodeNonNegative(input)
  if (decoded === undefined || Duration.isZero(decoded) || !Duration.isFinite(decoded)) {
    return invalid(option, `${layer}: ${option} must be a positive finite duration, got ${Durations.show(input)}`)
  }
  return Either.right(Duration.toMillis(decoded))
}

/** The connection options a caller may give. */
export type Input = Redis.Options

/**
 * The options' kinds checked before they are read: a JavaScript caller's `host: 6379` is a `ConfigError`, not a
 * `TypeError` later. `password` must be `Redacted`, as its type and a provider's `apiKey` say (refused without
 * being shown); `url` is typed to take a plain string too, since most URLs hold no password.
 */
const kinds = (layer: string, input: Input): Either.Either<void, ConfigError.ConfigError> =>
  Either.gen(function*() {
    const url: unknown = input.url
    if (url !== undefined && typeof url !== "string") {
      // Never shown: a URL may hold a password.
      const inner: unknown = Redacted.isRedacted(url) ? Redacted.value(url) : undefined
      if (typeof inner !== "string") {
        return yield* invalid(
          "url",
          `${layer}: url must be a string or a Redacted string, got ${
            Redacted.isRedacted(url) ? `a Redacted ${typeof inner}` : url === null ? "null" : typeof url
          }`
        )
      }
    }
    for (const option of ["host", "username", "keyPrefix"] as const) {
      yield* OptionChecks.stringOption(layer, option, input[option])
    }
    yield* OptionChecks.redactedOption(layer, "password", input.password, "password")
    for (const option of ["tls", "awaitConnection"] as const) {
      yield* OptionChecks.booleanOption(layer, option, input[option])
    }
  })

const target = (layer: string, input: Input, urlPath: string): Either.Either<Target, ConfigError.ConfigError> => {
  if (input.url !== undefined) {
    if (input.host !== undefined || input.port !== undefined) {
      return invalid(urlPath, `${layer}: give either url or host/port, not both`)
    }
    return parseUrl(layer, urlPath, Redacted.isRedacted(input.url) ? Redacted.value(input.url) : input.url)
  }
  if (input.host === undefined) return invalid("url", `${layer}: give url (redis://host:port) or host`)
  const hostIssue = OptionChecks.hostIssue(input.host)
  if (hostIssue !== undefined) {
    return invalid("host", `${layer}: host ${hostIssue}, got ${OptionChecks.described(input.host)}`)
  }
  // Only `undefined` takes the default: `null` is refused, not read as 6379 (or db 0).
  const port = input.port === undefined ? 6379 : input.port
  if (!isPort(port)) {
    return invalid("port", `${layer}: port must be an integer in 1..65535, got ${OptionChecks.described(port)}`)
  }
  const db = input.db === undefined ? 0 : input.db
  if (!(Number.isInteger(db) && db >= 0)) {
    return invalid("db", `${layer}: db must be an integer >= 0, got ${OptionChecks.described(db)}`)
  }
  return Either.right({
    host: input.host,
    port,
    username: input.username,
    password: input.password,
    db,
    tls: input.tls ?? false
  })
}

/** Where the URL and the key prefix came from, for the errors: the options, or environment variables. */
export interface Sources {
  readonly url: string
  readonly keyPrefix: string
}

/** Every option checked; `sources` names where the URL and the prefix came from (options, or `REDIS_URL`...). */
export const resolve = (
  layer: string,
  input: Input,
  sources: Sources = { url: "url", keyPrefix: "keyPrefix" }
): Either.Either<Resolved, ConfigError.ConfigError> =>
  Either.gen(function*() {
    yield* OptionChecks.knownOptions(
      layer,
      input,
      OptionChecks.optionNames<Input>({
        url: true,
        host: true,
        port: true,
        username: true,
        password: true,
        db: true,
        tls: true,
        keyPrefix: true,
        commandTimeout: true,
        connectTimeout: true,
        awaitConnection: true
      })
    )
    yield* kinds(layer, input)
    const resolvedTarget = yield* target(layer, input, sources.url)
    const keyPrefix = input.keyPrefix ?? defaults.keyPrefix
    // An empty prefix is refused, not read as "no prefix": it is mostly an unset variable in a template, and
    // keys at the root of a shared Redis could meet another application's.
    if (keyPrefix.trim() === "" || /\s/.test(keyPrefix)) {
      return yield* invalid(
        sources.keyPrefix,
        `${layer}: ${sources.keyPrefix} must be a non-empty string without spaces (leave it out for the default ${
          JSON.stringify(defaults.keyPrefix)
        }), got ${OptionChecks.described(keyPrefix)}`
      )
    }
    return {
      target: resolvedTarget,
      keyPrefix,
      commandTimeoutMillis: yield* positiveMillis(
        layer,
        "commandTimeout",
        input.commandTimeout,
        defaults.commandTimeout
      ),
      connectTimeoutMillis: yield* positiveMillis(
        layer,
        "connectTimeout",
        input.connectTimeout,
        defaults.connectTimeout
      ),
      awaitConnection: input.awaitConnection ?? true
    }
  })
