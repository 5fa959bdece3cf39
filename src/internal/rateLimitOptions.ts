/**
 * The `RateLimit` options checked at startup, decoded into what each call needs, and the limiter keys.
 */
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as RateLimit from "../RateLimit.js"
import * as Durations from "./duration.js"
import * as OptionChecks from "./optionChecks.js"

/** What a limit counts. */
export type Kind = "requests" | "tokens"

/** Both kinds, in the order a call takes them: a refused request unit is cheaper to lose than tokens. */
export const kinds: ReadonlyArray<Kind> = ["requests", "tokens"]

/** One limit, checked. */
export interface Checked {
  readonly limit: number
  readonly window: Duration.Duration
  readonly algorithm: RateLimit.Algorithm
  /** As errors show it, e.g. `"60 requests per 1 minute"`. */
  readonly description: string
}

/** The limits of one tenant, checked. */
export interface CheckedLimits {
  readonly requests?: Checked | undefined
  readonly tokens?: Checked | undefined
}

/** The options, checked. */
export interface Config {
  readonly key: string
  readonly defaults: CheckedLimits
  /** Each listed tenant's limits, already merged over `defaults`. */
  readonly tenants: ReadonlyMap<string, CheckedLimits>
  readonly perModel: boolean
  readonly onExceeded: RateLimit.OnExceeded
  readonly defaultOutputTokens: number
  readonly whenUnavailable: RateLimit.WhenUnavailable
  /** The longest a delayed call may wait; `undefined`: the window of the limit that delays it. */
  readonly maxDelay: Duration.Duration | undefined
}

const units: ReadonlyArray<readonly [millis: number, name: string]> = [
  [86_400_000, "day"],
  [3_600_000, "hour"],
  [60_000, "minute"],
  [1_000, "second"]
]

/** A window in words, in the largest unit that divides it: `"1 minute"`, `"90 seconds"`, `"1500 milliseconds"`. */
export const describeWindow = (window: Duration.Duration): string => {
  const millis = Duration.toMillis(window)
  const [size, name] = units.find(([size]) => millis % size === 0) ?? [1, "millisecond"]
  const count = millis / size
  return `${count} ${name}${count === 1 ? "" : "s"}`
}

const algorithms: ReadonlyArray<string> = ["fixed-window", "leaky-window", "token-bucket"]

const optionNames = OptionChecks.optionNames<RateLimit.Options>({
  default: true,
  tenants: true,
  perModel: true,
  onExceeded: true,
  maxDelay: true,
  defaultOutputTokens: true,
  key: true,
  whenUnavailable: true
})
const limitsNames = OptionChecks.optionNames<RateLimit.Limits>({ requests: true, tokens: true })
const limitNames = OptionChecks.optionNames<RateLimit.Limit>({ limit: true, window: true, algorithm: true })

const invalid = (path: ReadonlyArray<string>, message: string) =>
  Effect.fail(ConfigError.InvalidData([...path], message))

const checkLimit = (
  layer: string,
  path: ReadonlyArray<string>,
  kind: Kind,
  limit: RateLimit.Limit
): Effect.Effect<Checked, ConfigError.ConfigError> =>
  Effect.gen(function*() {
    const name = path.join(".")
    yield* OptionChecks.knownOptions(layer, limit, limitNames, path)
    const count = limit.limit
    yield* Either.mapLeft(
      OptionChecks.positiveInt(layer, `${name}.limit`, count),
      (error) => ConfigError.InvalidData([...path, "limit"], error.message)
    )
    const window = Durations.decodeNonNegative(limit.window)
    // At least 1 ms: the Redis store counts windows in whole ms (a shorter one never refuses there), and a
    // window shorter than the clock's millisecond would refuse in memory with "retry after 0".
    if (window === undefined || !Duration.isFinite(window) || Duration.toMillis(window) < 1) {
      return yield* invalid(
        [...path, "window"],
        `${layer}: ${name}.window must be a finite duration of at least 1 millisecond, got ${
          Durations.show(limit.window)
        }`
      )
    }
    // `null` is no algorithm: refused below, not read as the default.
    const algorithm = limit.algorithm === undefined ? "fixed-window" : limit.algorithm
    if (!algorithms.includes(algorithm)) {
      return yield* invalid(
        [...path, "algorithm"],
        `${layer}: ${name}.algorithm must be "fixed-window", "leaky-window" or "token-bucket", got ${
          JSON.stringify(algorithm)
        }`
      )
    }
    return { limit: count, window, algorithm, description: `${count} ${kind} per ${describeWindow(window)}` }
  })

const checkLimits = (
  layer: string,
  path: ReadonlyArray<string>,
  limits: RateLimit.Limits
): Effect.Effect<CheckedLimits, ConfigError.ConfigError> =>
  Effect.gen(function*() {
    yield* OptionChecks.knownOptions(layer, limits, limitsNames, path)
    const checked: { requests?: Checked; tokens?: Checked } = {}
    for (const kind of kinds) {
      const limit = limits?.[kind]
      if (limit !== undefined) checked[kind] = yield* checkLimit(layer, [...path, kind], kind, limit)
    }
    return checked
  })

/** `maxDelay` checked: a non-negative, finite duration, and only where calls wait (`onExceeded: "delay"`). */
const checkMaxDelay = (
  layer: string,
  input: Duration.DurationInput | undefined,
  onExceeded: RateLimit.OnExceeded
): Effect.Effect<Duration.Duration | undefined, ConfigError.ConfigError> => {
  if (input === undefined) return Effect.succeed(undefined)
  if (onExceeded !== "delay") {
    return invalid(
      ["maxDelay"],
      `${layer}: maxDelay applies only with onExceeded: "delay" (calls never wait otherwise)`
    )
  }
  const decoded = Durations.decodeNonNegative(input)
  return decoded === undefined || !Duration.isFinite(decoded)
    ? invalid(["maxDelay"], `${layer}: maxDelay must be a finite duration >= 0, got ${Durations.show(input)}`)
    : Effect.succeed(decoded)
}

const hasLimit = (limits: CheckedLimits): boolean => limits.requests !== undefined || limits.tokens !== undefined

/**
 * Every option checked: each limit a positive integer over a positive, finite window; a known algorithm and
 * `onExceeded`; `defaultOutputTokens` a non-negative integer; at least one limit somewhere.
 */
export const check = (layer: string, options: RateLimit.Options): Effect.Effect<Config, ConfigError.ConfigError> =>
  Effect.gen(function*() {
    yield* OptionChecks.knownOptions(layer, options, optionNames)
    yield* OptionChecks.recordOption(layer, "tenants", options.tenants)
    yield* OptionChecks.tenantNames(layer, options.tenants)
    yield* OptionChecks.booleanOption(layer, "perModel", options.perModel)
    yield* OptionChecks.nonEmpty(layer, [["key", options.key]])
    const defaults = yield* checkLimits(layer, ["default"], options.default ?? {})
    const tenants = new Map<string, CheckedLimits>()
    for (const [tenant, limits] of Object.entries(options.tenants ?? {})) {
      const own = yield* checkLimits(layer, ["tenants", tenant], limits)
      // Per kind: a tenant's own limit replaces the default one, a kind it leaves out keeps the default.
      tenants.set(tenant, { ...defaults, ...own })
    }
    if (!hasLimit(defaults) && ![...tenants.values()].some(hasLimit)) {
      return yield* invalid(
        ["default"],
        `${layer}: no limit given: set default.requests or default.tokens, or limits in tenants`
      )
    }
    const onExceeded = options.onExceeded === undefined ? "fail" : options.onExceeded
    if (onExceeded !== "fail" && onExceeded !== "delay") {
      return yield* invalid(
        ["onExceeded"],
        `${layer}: onExceeded must be "fail" or "delay", got ${JSON.stringify(onExceeded)}`
      )
    }
    const maxDelay = yield* checkMaxDelay(layer, options.maxDelay, onExceeded)
    const defaultOutputTokens = options.defaultOutputTokens === undefined ? 0 : options.defaultOutputTokens
    if (!Number.isSafeInteger(defaultOutputTokens) || defaultOutputTokens < 0) {
      return yield* invalid(
        ["defaultOutputTokens"],
        `${layer}: defaultOutputTokens must be a non-negative integer, got ${
          OptionChecks.described(defaultOutputTokens)
        }`
      )
    }
    const whenUnavailable = options.whenUnavailable === undefined ? "fail-closed" : options.whenUnavailable
    if (whenUnavailable !== "fail-closed" && whenUnavailable !== "fail-open") {
      return yield* invalid(
        ["whenUnavailable"],
        `${layer}: whenUnavailable must be "fail-closed" or "fail-open", got ${JSON.stringify(whenUnavailable)}`
      )
    }
    return {
      key: options.key ?? "rate-limit",
      defaults,
      tenants,
      perModel: options.perModel ?? false,
      onExceeded,
      defaultOutputTokens,
      whenUnavailable,
      maxDelay
    }
  })

/** The algorithms the limits of `config` use, none twice. */
export const algorithmsOf = (config: Config): ReadonlyArray<RateLimit.Algorithm> => {
  const used = new Set<RateLimit.Algorithm>()
  for (const limits of [config.defaults, ...config.tenants.values()]) {
    for (const kind of kinds) {
      const checked = limits[kind]
      if (checked !== undefined) used.add(checked.algorithm)
    }
  }
  return [...used]
}

/** The limits that apply to a tenant. */
export const limitsOf = (config: Config, tenant: string): CheckedLimits => config.tenants.get(tenant) ?? config.defaults

/**
 * The limiter key of one counter, `<key>:<kind>:<tenant>[:<model>]`. Segments are URI-encoded so that no tenant
 * or model name can forge another's key (`a:b` + `c` against `a` + `b:c`).
 */
export const keyOf = (config: Config, kind: Kind, tenant: string, model: string | undefined): string => {
  const base = `${encodeURIComponent(config.key)}:${kind}:${encodeURIComponent(tenant)}`
  return config.perModel ? `${base}:${encodeURIComponent(model ?? "")}` : base
}
