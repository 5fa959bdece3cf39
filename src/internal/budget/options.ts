/** The budget layer's options, checked at construction, and how limits read in messages. */
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Durations from "../duration.js"
import * as OptionChecks from "../optionChecks.js"
import * as Period from "./period.js"

/** A limit checked. */
export interface Limit {
  readonly limitUsd: number
  readonly period: Period.Period
}

/** The options checked. */
export interface Config {
  readonly tenants: ReadonlyMap<string, Limit>
  readonly defaultLimit: Limit | undefined
  readonly maxRequestCostUsd: number | undefined
  readonly unpricedModels: "refuse" | "allow"
  readonly reservationTimeoutMillis: number
}

/** The options as given (see `Budget.Options`). */
export interface Input {
  readonly tenants?:
    | Readonly<Record<string, { readonly limitUsd: number; readonly period: Period.PeriodInput }>>
    | undefined
  readonly defaultLimit?: { readonly limitUsd: number; readonly period: Period.PeriodInput } | undefined
  readonly maxRequestCostUsd?: number | undefined
  readonly unpricedModels?: "refuse" | "allow" | undefined
  readonly reservationTimeout?: Duration.DurationInput | undefined
}

const optionNames = OptionChecks.optionNames<Input>({
  tenants: true,
  defaultLimit: true,
  maxRequestCostUsd: true,
  unpricedModels: true,
  reservationTimeout: true
})

const limitNames = ["limitUsd", "period"]

const fail = (path: ReadonlyArray<string>, message: string) =>
  Either.left(ConfigError.InvalidData([...path], `Budget.layer: ${message}`))

const decodeLimit = (
  input: { readonly limitUsd: number; readonly period: Period.PeriodInput } | undefined,
  path: ReadonlyArray<string>
): Either.Either<Limit, ConfigError.ConfigError> => {
  if (typeof input !== "object" || input === null) {
    return fail(path, `${path.join(".")} must be { limitUsd, period }, got ${OptionChecks.described(input)}`)
  }
  const keys = OptionChecks.knownOptions("Budget.layer", input, limitNames, path)
  if (Either.isLeft(keys)) return Either.left(keys.left)
  const limitUsd = Period.decodeUsd(input.limitUsd, [...path, "limitUsd"])
  if (Either.isLeft(limitUsd)) return Either.left(limitUsd.left)
  if (limitUsd.right === undefined) return fail([...path, "limitUsd"], `${path.join(".")}.limitUsd is missing`)
  return Either.map(
    Period.decodePeriod(input.period, [...path, "period"]),
    (period) => ({ limitUsd: limitUsd.right!, period })
  )
}

/** The options checked, or a `ConfigError` naming the first bad one (an unknown key, a bad amount or period). */
export const decode = (input: Input): Effect.Effect<Config, ConfigError.ConfigError> =>
  Effect.gen(function*() {
    yield* OptionChecks.knownOptions("Budget.layer", input, optionNames)
    yield* OptionChecks.recordOption("Budget.layer", "tenants", input.tenants)
    yield* OptionChecks.tenantNames("Budget.layer", input.tenants)
    const tenants = new Map<string, Limit>()
    for (const [tenant, limit] of Object.entries(input.tenants ?? {})) {
      tenants.set(tenant, yield* decodeLimit(limit, ["tenants", tenant]))
    }
    const defaultLimit = input.defaultLimit === undefined
      ? undefined
      : yield* decodeLimit(input.defaultLimit, ["defaultLimit"])
    const maxRequestCostUsd = yield* Period.decodeUsd(input.maxRequestCostUsd, ["maxRequestCostUsd"])
    // `null` is refused below, not read as the default.
    const unpricedModels = input.unpricedModels === undefined ? "refuse" : input.unpricedModels
    if (unpricedModels !== "refuse" && unpricedModels !== "allow") {
      return yield* fail(
        ["unpricedModels"],
        `unpricedModels must be "refuse" or "allow", got ${OptionChecks.described(unpricedModels)}`
      )
    }
    const timeout = input.reservationTimeout === undefined ? "15 minutes" : input.reservationTimeout
    const decoded = Durations.decodeNonNegative(timeout)
    if (decoded === undefined || Duration.isZero(decoded) || !Duration.isFinite(decoded)) {
      return yield* fail(
        ["reservationTimeout"],
        `reservationTimeout must be a positive, finite duration, got ${Durations.show(timeout)}`
      )
    }
    return {
      tenants,
      defaultLimit,
      maxRequestCostUsd,
      unpricedModels,
      reservationTimeoutMillis: Duration.toMillis(decoded)
    }
  })

/**
 * The options of a budget layer checked: as {@link decode}, and enforcing something (a layer without any limit
 * or cost guard does nothing, which is a mistake in the options).
 */
export const decodeForLayer = (input: Input): Effect.Effect<Config, ConfigError.ConfigError> =>
  Effect.flatMap(
    decode(input),
    (config) =>
      config.tenants.size === 0 && config.defaultLimit === undefined && config.maxRequestCostUsd === undefined
        ? fail(["defaultLimit"], "no limit given: set defaultLimit, limits in tenants, or maxRequestCostUsd")
        : Effect.succeed(config)
  )

/** The limit of a tenant: its own, else the default, else none (unlimited). */
export const limitOf = (config: Config, tenant: string): Limit | undefined =>
  config.tenants.get(tenant) ?? config.defaultLimit

/** An amount as shown in a message. */
export const usd = (amount: number): string => `${Number(amount.toPrecision(6))} USD`

/** A period as shown in a message: "per UTC day", "per rolling 1h". */
export const periodText = (period: Period.Period): string =>
  period._tag === "Calendar"
    ? `per UTC ${period.unit}`
    : `per rolling ${Duration.format(Duration.millis(period.windowMillis))}`
