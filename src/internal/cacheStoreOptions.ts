/**
 * The cache layers' options checked when a layer is built, each bad one a `ConfigError` naming it and the
 * constructor; and the store a layer gets from them.
 */
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type { Options, Store } from "../Cache.js"
import * as MemoryStore from "./cacheStore.js"
import * as Durations from "./duration.js"
import * as OptionChecks from "./optionChecks.js"

/** The option names of `Cache.layer`. */
export const layerNames = OptionChecks.optionNames<Options>({
  ttl: true,
  maxEntries: true,
  maxBytes: true,
  store: true
})

export const defaults = { ttl: Duration.hours(1), maxEntries: 1_000, maxBytes: 64 * 1024 * 1024 }

const invalid = (layer: string, option: string, message: string) =>
  ConfigError.InvalidData([option], `${layer}: ${message}`)

/** A count option (`maxEntries`, `maxBytes`...) checked, or its default. */
export const countOption = (layer: string, option: string, value: number | undefined, fallback: number) =>
  Effect.map(OptionChecks.positiveInt(layer, option, value), (count) => count ?? fallback)

/** What a `Store` must have: each is called on every cached call, so a missing one is refused at build. */
const storeOperations = OptionChecks.optionNames<Store>({ get: true, set: true, delete: true })

/** What a `store` option is, shown when it is refused. */
const storeProblem = (layer: string, store: unknown): string | undefined => {
  const missing = storeOperations.filter((name) =>
    typeof (store as Partial<Record<string, unknown>> | null)?.[name] !== "function"
  )
  if (typeof store === "object" && store !== null && missing.length === 0) return undefined
  return `${layer}: store must be a Cache.Store (an object with get, set and delete functions, e.g. from makeMemoryStore), got ${
    typeof store === "object" && store !== null
      ? `an object whose ${missing.join(", ")} ${missing.length === 1 ? "is not a function" : "are not functions"}`
      : OptionChecks.described(store)
  }`
}

/**
 * What is wrong with `Cache.wrap`'s options, naming the option, or undefined: an object holding only `ttl` (a
 * finite `Duration` of at least 1 ms) and `store` (a `Cache.Store`), both required.
 */
export const wrapProblem = (options: unknown): string | undefined => {
  const keys = OptionChecks.knownOptions("Cache.wrap", options, ["ttl", "store"])
  if (Either.isLeft(keys)) return keys.left.message
  const { store, ttl } = options as Readonly<Record<string, unknown>>
  if (!Duration.isDuration(ttl) || !Duration.isFinite(ttl) || Duration.toMillis(ttl) < 1) {
    return `Cache.wrap: ttl must be a finite Duration of at least 1 millisecond (e.g. Duration.minutes(5)), got ${
      Duration.isDuration(ttl) ? Duration.format(ttl) : OptionChecks.described(ttl)
    }`
  }
  return storeProblem("Cache.wrap", store)
}

/** The layer's options checked, with their defaults; `layer` names the constructor in errors. */
export const settle = (
  options: Options,
  layer = "Cache.layer"
): Effect.Effect<{ readonly ttl: Duration.Duration; readonly store: Store }, ConfigError.ConfigError> =>
  Effect.gen(function*() {
    yield* OptionChecks.knownOptions(layer, options, layerNames)
    const decoded = options.ttl === undefined ? defaults.ttl : Durations.decodeNonNegative(options.ttl)
    // At least 1 ms, counted in whole ms (rounded up): Redis keeps an entry `PX <whole ms>`, so a fraction
    // would otherwise last longer there than in memory, and under 1 ms it would be no cache at all.
    if (decoded === undefined || !Duration.isFinite(decoded) || Duration.toMillis(decoded) < 1) {
      return yield* Effect.fail(invalid(
        layer,
        "ttl",
        `ttl must be a finite duration of at least 1 millisecond (entries are kept in whole milliseconds), got ${
          options.ttl === undefined ? "none" : Durations.show(options.ttl)
        }`
      ))
    }
    const ttl = Duration.millis(Math.ceil(Duration.toMillis(decoded)))
    if (options.store !== undefined) {
      const badStore = storeProblem(layer, options.store)
      if (badStore !== undefined) {
        return yield* Effect.fail(ConfigError.InvalidData(["store"], badStore))
      }
      const bound = options.maxEntries !== undefined
        ? "maxEntries"
        : options.maxBytes !== undefined
        ? "maxBytes"
        : undefined
      if (bound !== undefined) {
        return yield* Effect.fail(
          invalid(layer, bound, `${bound} bounds the memory store, not a given store: pass it to makeMemoryStore`)
        )
      }
      return { ttl, store: options.store }
    }
    const maxEntries = yield* countOption("Cache.layer", "maxEntries", options.maxEntries, defaults.maxEntries)
    const maxBytes = yield* countOption("Cache.layer", "maxBytes", options.maxBytes, defaults.maxBytes)
    return { ttl, store: MemoryStore.make({ maxEntries, maxBytes }) }
  })
