/**
 * Checks of options a JavaScript caller passes (no compiler stands between its values and the library): each
 * names the option, so a mistake is a `ConfigError` saying what is wrong, never a `TypeError` or a silent default.
 */
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { isIP } from "node:net"
import * as ChatRequest from "../ChatRequest.js"
import { described } from "./described.js"
import * as Text from "./text.js"

export { described }

/** A string option that must not be empty when given (e.g. `model`, `name`); a JavaScript caller may pass null. */
export const nonEmpty = (
  layer: string,
  values: ReadonlyArray<readonly [option: string, value: unknown]>
): Effect.Effect<void, ConfigError.ConfigError> => {
  const bad = values.find(([, value]) => value !== undefined && (typeof value !== "string" || value.trim() === ""))
  if (bad === undefined) return Effect.void
  const [option, value] = bad
  return Effect.fail(ConfigError.InvalidData(
    [option],
    typeof value === "string"
      ? `${layer}: ${option} must not be empty`
      : `${layer}: ${option} must be a non-empty string, got ${described(value)}`
  ))
}

/** A count option (e.g. a default `max_tokens`) checked: a positive integer when given. */
export const positiveInt = (
  layer: string,
  option: string,
  value: number | undefined
): Either.Either<number | undefined, ConfigError.ConfigError> =>
  value === undefined || (Number.isSafeInteger(value) && value > 0)
    ? Either.right(value)
    : Either.left(
      ConfigError.InvalidData(
        [option],
        Number.isInteger(value) && value > Number.MAX_SAFE_INTEGER
          ? `${layer}: ${option} must be a positive integer of at most ${Number.MAX_SAFE_INTEGER} (2^53 - 1, the largest a number holds exactly), got ${
            described(value)
          }`
          : `${layer}: ${option} must be a positive integer, got ${described(value)}`
      )
    )

/** Whether a value is a finite number at least 0 (an amount, a count, a weight): not NaN, not Infinity. */
export const isNonNegativeFinite = (value: unknown): value is number =>
  typeof value === "number" && Number.isFinite(value) && value >= 0

export const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * A policy's options object checked: an object (a JavaScript caller may pass `undefined` or `null`), holding no
 * key outside `known` (a misspelt option would otherwise be silently ignored). `path` locates a nested object
 * (e.g. `["default", "requests"]`); its keys are reported as `default.requests.<key>`.
 */
export const knownOptions = (
  layer: string,
  options: unknown,
  known: ReadonlyArray<string>,
  path: ReadonlyArray<string> = []
): Either.Either<void, ConfigError.ConfigError> => {
  const name = path.length === 0 ? "options" : path.join(".")
  if (!isRecord(options)) {
    return Either.left(
      ConfigError.InvalidData([...path], `${layer}: ${name} must be an object, got ${described(options)}`)
    )
  }
  const unknown = Object.keys(options).find((key) => !known.includes(key))
  return unknown === undefined ? Either.void : Either.left(ConfigError.InvalidData(
    [...path, unknown],
    `${layer}: unknown option ${JSON.stringify([...path, unknown].join("."))} (${
      path.length === 0 ? "the options are" : `${name} takes`
    } ${known.join(", ")})`
  ))
}

/** The option names of an options type, from a record that must list each (the compiler checks it is complete). */
export const optionNames = <A>(names: { readonly [K in keyof Required<A>]: true }): ReadonlyArray<string> =>
  Object.keys(names)

/**
 * A secret option (a key, a password) checked: a `Redacted` string when given. The value is never shown: a
 * plain string given by mistake may be the secret itself.
 */
export const redactedOption = (
  layer: string,
  option: string,
  value: unknown,
  example = "key"
): Either.Either<void, ConfigError.ConfigError> => {
  const invalid = (message: string) => Either.left(ConfigError.InvalidData([option], `${layer}: ${option} ${message}`))
  if (value === undefined) return Either.void
  if (!Redacted.isRedacted(value)) {
    return invalid(
      `must be a Redacted value (Redacted.make(${example})), got ${
        typeof value === "string" ? "a plain string" : value === null ? "null" : typeof value
      }`
    )
  }
  const inner = Redacted.value(value)
  return typeof inner === "string" ? Either.void : invalid(`must hold a string, got a Redacted ${typeof inner}`)
}

/** A check of an option that must be of one JavaScript type when given. */
const typedOption = (is: (value: unknown) => boolean, expected: string) =>
(
  layer: string,
  option: string,
  value: unknown
): Either.Either<void, ConfigError.ConfigError> =>
  value === undefined || is(value) ? Either.void : Either.left(
    ConfigError.InvalidData([option], `${layer}: ${option} must be ${expected}, got ${described(value)}`)
  )

/** An option that must be a boolean when given (a JavaScript caller may pass `"yes"`). */
export const booleanOption = typedOption((value) => typeof value === "boolean", "true or false")

/** An option that must be a string when given (a JavaScript caller may pass a number). */
export const stringOption = typedOption((value) => typeof value === "string", "a string")

/** An option that must be an array of non-blank strings when given (a JavaScript caller may pass `"x"` or `null`). */
export const stringListOption = (
  layer: string,
  option: string,
  value: unknown
): Either.Either<void, ConfigError.ConfigError> => {
  if (value === undefined) return Either.void
  if (!Array.isArray(value) || value.some((item) => typeof item !== "string")) {
    return Either.left(
      ConfigError.InvalidData([option], `${layer}: ${option} must be an array of strings, got ${described(value)}`)
    )
  }
  const blank = value.findIndex((item: string) => item.trim() === "")
  return blank < 0 ? Either.void : Either.left(
    ConfigError.InvalidData([`${option}[${blank}]`], `${layer}: ${option}[${blank}] must not be empty`)
  )
}

/**
 * A layer built from its options once `checked` passes, else one that fails with the check's `ConfigError`
 * when it is built: for a `layerConfig`, which reads its options before building (a JavaScript caller may
 * pass `null`), so that a bad value is the same `ConfigError` as from `layer`, never a thrown `TypeError`.
 */
export const layerChecked = <A, E, R>(
  checked: Either.Either<void, ConfigError.ConfigError>,
  layer: () => Layer.Layer<A, E, R>
): Layer.Layer<A, E | ConfigError.ConfigError, R> => Either.isLeft(checked) ? Layer.fail(checked.left) : layer()

/** An option that must be an object of named entries when given (not `null`, an array or a scalar). */
export const recordOption = (
  layer: string,
  option: string,
  value: unknown
): Either.Either<void, ConfigError.ConfigError> =>
  value === undefined || isRecord(value) ? Either.void : Either.left(
    ConfigError.InvalidData([option], `${layer}: ${option} must be an object of named entries, got ${described(value)}`)
  )

/**
 * The names of a `tenants` option (checked as a record first): each one a request can carry (see
 * `ChatRequest.tenantIssue`). A name no request can carry (`"acme "`) would hold a limit no call ever meets,
 * while the tenant meant goes unlimited.
 */
export const tenantNames = (
  layer: string,
  tenants: Readonly<Record<string, unknown>> | undefined
): Either.Either<void, ConfigError.ConfigError> => {
  for (const tenant of Object.keys(tenants ?? {})) {
    const issue = ChatRequest.tenantIssue(tenant)
    if (issue === undefined) continue
    // A long name is not shown: it would be most of the message.
    const shown = Text.characters(tenant) > 64 ? "a tenant id" : `the tenant id ${Text.escapedJson(tenant)}`
    return Either.left(ConfigError.InvalidData(
      ["tenants"],
      `${layer}: tenants: ${shown} ${issue}, so no request can name it`
    ))
  }
  return Either.void
}

// A DNS label: letters, digits and hyphens (underscores too, which Docker Compose service names may hold and its
// DNS resolves), at most 63 characters, neither starting nor ending with a hyphen.
const hostLabel = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/

/**
 * What is wrong with a host to connect to or listen on, or `undefined`: it must be a host name (DNS labels, 253
 * characters at most), an IPv4 address (four numbers up to 255) or a bare IPv6 one. The text leaves the host out:
 * the caller shows it its own way. A name whose last label is a number is a mistyped IPv4 address (`256.1.1.1`,
 * `1.2.3.4.5`): no top-level domain is numeric, and a resolver would read some of them as addresses.
 *
 * @since 0.2.0
 * @category checks
 */
export const hostIssue = (host: string): string | undefined => {
  if (isIP(host) !== 0) return undefined
  if (host.trim() === "") return "must not be empty"
  if (/[\s\p{C}]/u.test(host)) return "must not contain spaces or control characters"
  if (host.includes("://")) return "must be a host name or an IP address, not a URL (the port goes in port:)"
  if (/^(?:\[[^\]]*\]|[^:]*):\d*$/.test(host)) {
    return "must be a host name or an IP address without a port (the port goes in port:)"
  }
  if (/^\[.*\]$/.test(host)) return "must be an IPv6 address without brackets"
  if (host.includes(":")) return "is not a valid IPv6 address"
  // A fully qualified name may end in a dot.
  const name = host.replace(/\.$/, "")
  const labels = name.split(".")
  if (/^\d+$/.test(labels.at(-1)!)) return "is not a valid IPv4 address (four numbers from 0 to 255)"
  return name.length <= 253 && labels.every((label) => hostLabel.test(label))
    ? undefined
    : "is not a valid host name (labels of letters, digits, hyphens and underscores, at most 63 characters each and 253 in all, none starting or ending with a hyphen)"
}
