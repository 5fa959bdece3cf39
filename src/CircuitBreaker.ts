/**
 * A circuit breaker per provider or deployment key, around any `LanguageModel` Layer.
 *
 * - **closed**: calls go through; outcomes are counted over a rolling `window`, in 20 time buckets of
 *   `window / 20` each (constant work per call, however busy). When at least `minimumCalls` calls in the
 *   window failed at a rate of `failureRateThreshold` or more, it opens.
 * - **open**: calls fail at once with `LlmError.CircuitOpen{until}`, without reaching the provider, until the
 *   `cooldown` has passed. A failure carrying a Retry-After longer than `maxRetryAfter` opens it at once for
 *   that long. A cooldown is only ever extended, never shortened.
 * - **half-open**: up to `halfOpenProbes` probes go through; a success closes it, a failure opens it again. A
 *   probe holds its slot for at most `probeLease`, so a lost one (its process died) cannot keep it half-open.
 *
 * Only provider faults that are retryable count as failures: a 400 is the caller's fault and leaves the
 * breaker alone, and so do interrupts. State lives in a {@link Store} (in memory by default) behind the
 * {@link Registry}, observable with {@link state} and {@link transitions}.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import type * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Circuit from "./internal/circuit.js"
import * as Policy from "./internal/circuitPolicy.js"
import * as CircuitRedis from "./internal/circuitRedis.js"
import * as PolicyLayer from "./internal/policyLayer.js"
import * as PolicyStream from "./internal/policyStream.js"
import * as LanguageModel from "./LanguageModel.js"
import type * as LlmMetrics from "./LlmMetrics.js"
import * as Redis from "./Redis.js"

/**
 * The settings of a breaker: its key, when it opens (failure rate over a window of calls), how long it stays open,
 * and how many probes it lets through when half open.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The breaker's identity: calls through layers with the same key share one breaker. */
  readonly key: string
  /** Default 0.5. */
  readonly failureRateThreshold?: number | undefined
  /** Default 5. */
  readonly minimumCalls?: number | undefined
  /** Default 60 seconds, counted in 20 buckets: an outcome leaves it between `window * 19/20` and `window` later. */
  readonly window?: Duration.DurationInput | undefined
  /** Default 30 seconds. */
  readonly cooldown?: Duration.DurationInput | undefined
  /** Default 1. */
  readonly halfOpenProbes?: number | undefined
  /** How long a probe may hold its half-open slot before another may start (default 60 s). */
  readonly probeLease?: Duration.DurationInput | undefined
  /** A failure asking to wait longer than this opens the breaker at once (default 60 s, the retry cap). */
  readonly maxRetryAfter?: Duration.DurationInput | undefined
  /** The longest a Retry-After may keep the breaker open (default 24 hours). */
  readonly maxOpen?: Duration.DurationInput | undefined
}

/**
 * The state a {@link Store} keeps per key: plain JSON.
 *
 * @since 0.1.0
 * @category models
 */
export type StoredState =
  | {
    readonly state: "closed"
    /** The latest half-open period, carried through every state so a probe of an older one is told apart. */
    readonly period: number
    /** Non-empty time buckets, oldest first (at most 20): index (`floor(at / bucketMillis)`), calls, failures. */
    readonly buckets: ReadonlyArray<readonly [index: number, calls: number, failures: number]>
    /** The width (ms) the buckets were counted with, so a reader can tell which still count. */
    readonly bucketMillis?: number | undefined
  }
  | { readonly state: "open"; readonly period: number; readonly until: number }
  | {
    readonly state: "half-open"
    readonly period: number
    readonly until: number
    /** Tickets handed out in this period so far. */
    readonly issued: number
    /** The probes in flight (at most `halfOpenProbes`): ticket and end of lease (epoch ms). */
    readonly leases: ReadonlyArray<readonly [ticket: number, expires: number]>
  }

/**
 * What a breaker looks like from outside.
 *
 * @since 0.1.0
 * @category models
 */
export interface StateView {
  readonly key: string
  readonly state: StoredState["state"]
  /** While open or half-open: when the cooldown ends (epoch ms of Effect's `Clock`). */
  readonly until: number | undefined
  /** While closed: calls and failures in the window. */
  readonly calls: number
  readonly failures: number
}

/**
 * A change of state.
 *
 * @since 0.1.0
 * @category models
 */
export type Transition = LlmMetrics.CircuitEvent

/**
 * Where breaker state lives. `modify` must apply `f` atomically per key: a shared store (e.g. Redis) runs it
 * in a transaction, retrying on conflict, which is why `f` is pure.
 *
 * @since 0.1.0
 * @category models
 */
export interface Store {
  readonly modify: <A>(key: string, f: (state: StoredState) => readonly [A, StoredState]) => Effect.Effect<A>
  readonly get: (key: string) => Effect.Effect<StoredState>
}

/**
 * A store in this process's memory.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemoryStore = (): Store => {
  const states = new Map<string, Circuit.State>()
  return {
    // Synchronous read-modify-write: no other fiber can interleave.
    modify: (key, f) =>
      Effect.sync(() => {
        const [result, next] = f(states.get(key) ?? Circuit.initial)
        states.set(key, next)
        return result
      }),
    get: (key) => Effect.sync(() => states.get(key) ?? Circuit.initial)
  }
}

/**
 * The store and the transition feed every breaker uses.
 *
 * @since 0.1.0
 * @category models
 */
export interface RegistryService {
  readonly store: Store
  readonly events: PubSub.PubSub<Transition>
}

/**
 * Makes a registry over a store.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeRegistry = (store: Store = makeMemoryStore()): RegistryService => ({
  store,
  events: Effect.runSync(PubSub.unbounded<Transition>())
})

/**
 * The registry in use; by default one in-memory registry for the process. Provide {@link layerMemory} (or a
 * shared store) to choose.
 *
 * @since 0.1.0
 * @category tags
 */
export class Registry extends Context.Reference<Registry>()("liter-llm/CircuitBreaker/Registry", {
  defaultValue: () => makeRegistry()
}) {}

/**
 * A fresh in-memory registry (e.g. one per test).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<Registry> = Layer.sync(Registry, () => makeRegistry())

/**
 * How the Redis store behaves: `whenUnavailable` (`"fail-open"`, the default, or `"fail-closed"`), `rejectFor`,
 * `maxConflictRetries`, `retention` (see {@link makeRedisStore} and the fields' own docs).
 *
 * @since 0.2.0
 * @category models
 */
export interface RedisStoreOptions {
  /**
   * What a breaker does when Redis cannot be reached or is slower than its `commandTimeout`:
   * - `"fail-open"` (default): it keeps working from a breaker in this process's memory (logging a warning once
   *   per outage and counting `liter_llm.redis.unavailable`), and uses the shared state again once Redis answers.
   *   Calls do not fail because the store is down.
   * - `"fail-closed"`: it acts as open, refusing calls with `CircuitOpen` (retry after `rejectFor`), so a Fallback
   *   moves on.
   */
  readonly whenUnavailable?: "fail-open" | "fail-closed" | undefined
  /** With `"fail-closed"`: the `retryAfter` of a refusal while Redis is unavailable (default 1 s). */
  readonly rejectFor?: Duration.DurationInput | undefined
  /** How many times a change is tried again when another process changed the same key meanwhile (default 64). */
  readonly maxConflictRetries?: number | undefined
  /** How long a key outlives the state's last deadline (cooldown, probe lease, window) (default 1 hour). */
  readonly retention?: Duration.DurationInput | undefined
}

/**
 * A store in Redis, shared by every process on the same Redis and key prefix: keys `<prefix>circuit:<key>`,
 * each changed atomically (compare-and-set on a version, retried on conflict) with a TTL refreshed on write.
 * Fails with a `ConfigError` on bad options.
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeRedisStore = (
  redis: Redis.Service,
  options: RedisStoreOptions = {}
): Either.Either<Store, ConfigError.ConfigError> =>
  Either.map(CircuitRedis.config(options), (config) => CircuitRedis.make(redis, config, makeMemoryStore()))

/**
 * A registry whose breakers share their state through Redis, so a breaker opened by one process refuses calls in
 * every other. Transitions are observed ({@link transitions}) in the process that made them.
 *
 * @example
 * ```ts
 * import { Layer, Redacted } from "effect"
 * import { CircuitBreaker, OpenAi, Redis } from "liter-llm"
 *
 * // REDIS_URL=redis://redis.internal:6379
 * const Shared = CircuitBreaker.layerRedis({ whenUnavailable: "fail-open" }).pipe(Layer.provide(Redis.layerConfig()))
 * const Guarded = CircuitBreaker.layer(OpenAi.layer({ apiKey: Redacted.make("sk-...") }), { key: "openai" }).pipe(
 *   Layer.provide(Shared)
 * )
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layerRedis = (
  options: RedisStoreOptions = {}
): Layer.Layer<Registry, ConfigError.ConfigError, Redis.Redis> =>
  Layer.effect(
    Registry,
    Effect.flatMap(Redis.Redis, (redis) => Effect.map(makeRedisStore(redis, options), makeRegistry))
  )

/**
 * Wraps a service with a breaker.
 *
 * @since 0.1.0
 * @category constructors
 */
export const wrap = (service: LanguageModel.Service, options: Options): LanguageModel.Service =>
  Policy.wrap(service, options, Registry)

/**
 * Wraps a `LanguageModel` Layer with a breaker.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { CircuitBreaker, OpenAi } from "liter-llm"
 *
 * const Guarded = CircuitBreaker.layer(OpenAi.layer({ apiKey: Redacted.make("sk-...") }), {
 *   key: "openai",
 *   failureRateThreshold: 0.5,
 *   minimumCalls: 5,
 *   cooldown: "30 seconds"
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <A, E, R>(
  model: Layer.Layer<A | LanguageModel.LanguageModel, E, R>,
  options: Options
): Layer.Layer<A | LanguageModel.LanguageModel, E, R> =>
  // The registry where the layer is built is the one its calls use: a store provided to this layer
  // (`Layer.provide(CircuitBreaker.layerRedis())`) is shared as surely as one provided to the whole program.
  PolicyLayer.around(
    model,
    Effect.zipWith(
      LanguageModel.LanguageModel,
      Registry,
      // Its calls, and a stream's pulls (the breaker takes its permit on the first), run with this registry.
      (service, registry) => PolicyStream.provided(wrap(service, options), Context.make(Registry, registry))
    )
  )

/**
 * The current state of a breaker.
 *
 * @since 0.1.0
 * @category accessors
 */
export const state = (key: string): Effect.Effect<StateView> =>
  Effect.flatMap(
    Registry,
    (registry) =>
      Effect.zipWith(registry.store.get(key), Clock.currentTimeMillis, (state, now) => Policy.view(key, state, now))
  )

/**
 * Whether a call through this breaker would be refused right now (open and cooling down, or half-open with
 * every probe slot taken). Routers use it to skip a deployment without calling it.
 *
 * @since 0.1.0
 * @category accessors
 */
export const isRejecting = (key: string, options: Pick<Options, "halfOpenProbes"> = {}): Effect.Effect<boolean> =>
  Effect.flatMap(
    Registry,
    (registry) =>
      Effect.flatMap(
        registry.store.get(key),
        (current) =>
          Effect.map(Clock.currentTimeMillis, (now) =>
            Circuit.acquire(current, now, { ...Policy.configOf({ key, ...options }) })[0]._tag === "Reject")
      )
  )

/**
 * Every transition of every breaker of the registry, from the moment the stream starts running. A stream run in
 * a forked fiber starts when that fiber does, so transitions made meanwhile are not in it: use {@link subscribe}
 * to be subscribed before anything else runs.
 *
 * @since 0.1.0
 * @category accessors
 */
export const transitions: Stream.Stream<Transition> = Stream.unwrapScoped(
  Effect.map(Registry, (registry) => Stream.fromPubSub(registry.events))
)

/**
 * A subscription to every transition of every breaker of the registry, open once this effect returns and until
 * its scope closes: nothing that happens after it is missed, whenever its queue is read.
 *
 * @example
 * ```ts
 * import { Console, Effect, Stream } from "effect"
 * import { CircuitBreaker } from "liter-llm"
 *
 * const logTransitions = Effect.gen(function*() {
 *   const subscription = yield* CircuitBreaker.subscribe
 *   yield* Stream.fromQueue(subscription).pipe(
 *     Stream.runForEach((t) => Console.log(`circuit ${t.key}: ${t.from} -> ${t.to}`)),
 *     Effect.forkScoped
 *   )
 * })
 * ```
 *
 * @since 0.2.0
 * @category accessors
 */
export const subscribe: Effect.Effect<Queue.Dequeue<Transition>, never, Scope.Scope> = Effect.flatMap(
  Registry,
  (registry) => PubSub.subscribe(registry.events)
)
