/**
 * A breaker around a `LanguageModel` service: a permit taken before each call and given back with its outcome,
 * through the registry's store, transitions published and recorded.
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import type * as CircuitBreaker from "../CircuitBreaker.js"
import type * as LanguageModel from "../LanguageModel.js"
import * as LlmError from "../LlmError.js"
import * as LlmMetrics from "../LlmMetrics.js"
import * as Attribution from "./attribution.js"
import * as Circuit from "./circuit.js"
import * as Durations from "./duration.js"
import * as OptionChecks from "./optionChecks.js"
import * as PolicyStream from "./policyStream.js"

/** The defaults of the breaker's options, in one place for {@link configOf} and {@link settingsOf}. */
const numberDefaults = { failureRateThreshold: 0.5, minimumCalls: 5, halfOpenProbes: 1 } as const

const durationDefaults = {
  window: Duration.seconds(60),
  cooldown: Duration.seconds(30),
  probeLease: Duration.seconds(60),
  maxRetryAfter: Duration.seconds(60),
  maxOpen: Duration.hours(24)
} as const

/** The breaker's settings from its options, with their defaults (for options known to be valid). */
export const configOf = (options: CircuitBreaker.Options): Circuit.Config => ({
  failureRateThreshold: options.failureRateThreshold ?? numberDefaults.failureRateThreshold,
  minimumCalls: options.minimumCalls ?? numberDefaults.minimumCalls,
  windowMillis: Duration.toMillis(options.window ?? durationDefaults.window),
  cooldownMillis: Duration.toMillis(options.cooldown ?? durationDefaults.cooldown),
  halfOpenProbes: options.halfOpenProbes ?? numberDefaults.halfOpenProbes,
  probeLeaseMillis: Duration.toMillis(options.probeLease ?? durationDefaults.probeLease)
})

const optionNames = OptionChecks.optionNames<CircuitBreaker.Options>({
  key: true,
  failureRateThreshold: true,
  minimumCalls: true,
  window: true,
  cooldown: true,
  halfOpenProbes: true,
  probeLease: true,
  maxRetryAfter: true,
  maxOpen: true
})

/** A breaker's options checked, with their defaults. */
interface Settings {
  readonly key: string
  readonly config: Circuit.Config
  readonly maxRetryAfterMillis: number
  readonly maxOpenMillis: number
}

/**
 * The settings of a breaker, or what is wrong with its options, naming the option (prefixed by the breaker when
 * its key is usable). A value given is never replaced by a default, `null` included: a JavaScript caller's
 * `cooldown: null` is refused, not read as "the default cooldown".
 */
export const settingsOf = (options: unknown): Either.Either<Settings, string> => {
  const known = OptionChecks.knownOptions("circuit", options, optionNames)
  if (Either.isLeft(known)) return Either.left(known.left.message)
  const given = options as Readonly<Record<string, unknown>>
  const key = given.key
  if (key === undefined) return Either.left(`circuit: key is required: the breaker's identity, e.g. "openai"`)
  if (typeof key !== "string" || key.trim() === "") {
    return Either.left(`circuit: key must be a non-empty string, got ${OptionChecks.described(key)}`)
  }
  const problem = (message: string) => Either.left(`circuit ${JSON.stringify(key)}: ${message}`)
  const millis: Record<string, number> = {}
  for (const [option, fallback] of Object.entries(durationDefaults)) {
    const input = given[option]
    const decoded = input === undefined ? fallback : Durations.decodeNonNegative(input as Duration.DurationInput)
    if (decoded === undefined) {
      return problem(
        `${option} must be a duration such as "30 seconds", got ${Durations.show(input as Duration.DurationInput)}`
      )
    }
    millis[option] = Duration.toMillis(decoded)
  }
  const number = (option: keyof typeof numberDefaults) =>
    given[option] === undefined ? numberDefaults[option] : given[option]
  const config = {
    failureRateThreshold: number("failureRateThreshold"),
    minimumCalls: number("minimumCalls"),
    windowMillis: millis.window!,
    cooldownMillis: millis.cooldown!,
    halfOpenProbes: number("halfOpenProbes"),
    probeLeaseMillis: millis.probeLease!
  } as Circuit.Config
  const misconfigured = Circuit.problem(config)
  return misconfigured === undefined
    ? Either.right({ key, config, maxRetryAfterMillis: millis.maxRetryAfter!, maxOpenMillis: millis.maxOpen! })
    : problem(misconfigured)
}

/** How an exit counts for the breaker. */
const outcomeOf = (
  exit: Exit.Exit<unknown, LlmError.LlmError>,
  maxRetryAfterMillis: number,
  maxOpenMillis: number
): Circuit.Outcome => {
  if (Exit.isSuccess(exit)) return { _tag: "Success" }
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) return ignored
  const error = failure.value
  const counts = error._tag === "StreamInterrupted"
    ? LlmError.isRetryableTag(error.causeTag)
    : LlmError.fault(error) === "provider" && LlmError.isRetryable(error)
  if (!counts) return ignored
  const retryAfter = error.retryAfter === undefined ? undefined : Duration.toMillis(error.retryAfter)
  return {
    _tag: "Failure",
    // A Retry-After past the cap opens the breaker for that long, within reason: a header can say anything.
    openFor: retryAfter !== undefined && retryAfter > maxRetryAfterMillis
      ? Math.min(retryAfter, maxOpenMillis)
      : undefined
  }
}

const ignored: Circuit.Outcome = { _tag: "Ignored" }

/** A breaker as `CircuitBreaker.state` shows it. */
export const view = (key: string, state: Circuit.State, now: number): CircuitBreaker.StateView => {
  if (state.state !== "closed") return { key, state: state.state, until: state.until, calls: 0, failures: 0 }
  return { key, state: "closed", until: undefined, ...Circuit.counts(state, now) }
}

const inert: Settings = {
  key: "",
  config: configOf({ key: "" }),
  maxRetryAfterMillis: 0,
  maxOpenMillis: 0
}

/** `CircuitBreaker.wrap`; `registryOf` is the `Registry` reference (given: this module is below it). */
export const wrap = (
  service: LanguageModel.Service,
  options: CircuitBreaker.Options,
  registryOf: Effect.Effect<CircuitBreaker.RegistryService>
): LanguageModel.Service => {
  const settings = settingsOf(options)
  // Unusable options leave the breaker inert: every call fails at once with `InvalidRequest` (below).
  const { config, key, maxOpenMillis, maxRetryAfterMillis } = Either.getOrElse(settings, () => inert)
  const classify = (exit: Exit.Exit<unknown, LlmError.LlmError>) => outcomeOf(exit, maxRetryAfterMillis, maxOpenMillis)

  const transition = (registry: CircuitBreaker.RegistryService, from: Circuit.Name, to: Circuit.Name, at: number) =>
    from === to ? Effect.void : Effect.zipRight(
      PubSub.publish(registry.events, { key, from, to, at }),
      Effect.flatMap(LlmMetrics.LlmMetrics, (metrics) => metrics.recordCircuit({ key, from, to, at }))
    )

  const acquire = Effect.gen(function*() {
    if (Either.isLeft(settings)) {
      return yield* new LlmError.InvalidRequest({ provider: service.provider, message: settings.left })
    }
    const registry = yield* registryOf
    const now = yield* Clock.currentTimeMillis
    const [permit, from, to] = yield* registry.store.modify(key, (state) => {
      const [permit, next] = Circuit.acquire(state, now, config)
      return [[permit, state.state, next.state] as const, next]
    })
    yield* transition(registry, from, to, now)
    if (permit._tag === "Reject") {
      return yield* new LlmError.CircuitOpen({
        provider: service.provider,
        key,
        // Half-open with every probe slot taken: the cooldown has ended, a probe is deciding; try again soon.
        until: Math.max(permit.until, now),
        retryAfter: Duration.millis(Math.max(0, permit.until - now)),
        message: `circuit "${key}" is ${to}: ${service.provider} is not called for ${
          Duration.format(Duration.millis(Math.max(0, permit.until - now)))
        }`
      })
    }
    return { registry, permit }
  })

  const release = (
    registry: CircuitBreaker.RegistryService,
    permit: { readonly probe: Circuit.Probe | undefined },
    outcome: Circuit.Outcome
  ) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const [from, to] = yield* registry.store.modify(key, (state) => {
        const next = Circuit.release(state, permit, outcome, now, config)
        return [[state.state, next.state] as const, next]
      })
      yield* transition(registry, from, to, now)
    })

  return {
    ...service,
    // The permit is taken and given back as one resource: an interrupt between the two (a shared store's
    // `modify` can take a network round trip) must not leave a half-open probe slot taken forever.
    generate: (request) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(
          acquire,
          ({ permit, registry }) =>
            Effect.onExit(restore(service.generate(request)), (exit) => release(registry, permit, classify(exit)))
        )
      ),
    stream: PolicyStream.make(() =>
      Effect.gen(function*() {
        // Judged by what the provider did, not by the scope's exit, which carries the consumer's own failure: that
        // must neither count against the provider nor open the breaker for its Retry-After. A consumer that stops
        // before the finish part neither proves nor disproves the provider's health.
        const watcher = Attribution.makeWatcher()
        let finished = false
        yield* Effect.acquireRelease(
          acquire,
          ({ permit, registry }) => release(registry, permit, classify(watcher.end(finished)))
        )
        return PolicyStream.watched(service, (chunk) => {
          if (!finished && Chunk.some(chunk, (part) => part.type === "finish")) finished = true
        }, watcher.fail)
      })
    )
  }
}
