/**
 * Loading a config file into a `Runtime`, and swapping it on reload: a valid new config replaces the old one
 * atomically; an invalid one is refused, its errors logged, and the old one keeps serving.
 *
 * @since 0.2.0
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Build from "./buildRuntime.js"
import * as Stores from "./buildStores.js"
import * as Config from "./Config.js"
import * as Generations from "./generations.js"
import type * as Runtime from "./Runtime.js"

/**
 * Options of {@link loadRuntime} and {@link makeRef}.
 *
 * @since 0.2.0
 * @category models
 */
export interface LoadOptions {
  /** The Redis store of each kind of state (default {@link Stores.redisStoreLayers}). */
  readonly redisStores?: Stores.RedisStoreLayers | undefined
}

/**
 * A runtime from a loaded config, in the current scope, with the given memory stores.
 *
 * @since 0.2.0
 * @category constructors
 */
export const fromLoaded = (
  loaded: Config.Loaded,
  memory: Context.Context<Stores.StoreServices>,
  options: LoadOptions = {}
): Effect.Effect<Runtime.Runtime, Config.InvalidConfig, Scope.Scope> =>
  Effect.gen(function*() {
    const stores = yield* Stores.make(loaded, memory, options.redisStores)
    if (stores.local.length > 0) {
      yield* Effect.logWarning(
        `Redis is configured, but these stay in each instance's memory (no Redis store in this build): ${
          stores.local.join(", ")
        }`
      )
    }
    return yield* Build.make(loaded, stores)
  }).pipe(
    // A layer refusing an option (a bad header, a bad limit) is a config error like any other.
    Effect.mapError((error) => new Config.InvalidConfig({ source: loaded.source, errors: [error.message] })),
    Effect.withSpan("Runtime.fromLoaded")
  )

/**
 * Loads a config file into a runtime that lives as long as the current scope (its connections are closed with
 * it). State lives in fresh memory stores, or in Redis when configured.
 *
 * @example
 * ```ts
 * import { NodeFileSystem } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import { loadRuntime } from "liter-llm/gateway"
 *
 * const models = Effect.scoped(Effect.map(loadRuntime("gateway.yaml"), (runtime) => runtime.tenants)).pipe(
 *   Effect.provide(NodeFileSystem.layer)
 * )
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const loadRuntime = (
  path: string,
  options: LoadOptions = {}
): Effect.Effect<Runtime.Runtime, Config.InvalidConfig, Scope.Scope | FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const loaded = yield* Config.load(path)
    return yield* fromLoaded(loaded, yield* Stores.makeMemory, options)
  })

/**
 * The runtime being served, swapped by {@link RuntimeRef.reload}.
 *
 * @since 0.2.0
 * @category models
 */
export interface RuntimeRef {
  /** The current runtime (for a request: prefer {@link RuntimeRef.use}). */
  readonly get: Effect.Effect<Runtime.Runtime>
  /**
   * The current runtime, held until the scope closes: a runtime replaced by a reload is closed only once
   * every request holding it has finished (its streams too), so nothing in flight loses its connections.
   */
  readonly use: Effect.Effect<Runtime.Runtime, never, Scope.Scope>
  /**
   * Loads the file again (or `path`, which the reloads after then read too, once it serves): valid, it replaces
   * the current runtime for every request that starts after; invalid, it is refused with its errors (also
   * logged) and the current one keeps serving.
   */
  readonly reload: (path?: string) => Effect.Effect<Runtime.Runtime, Config.InvalidConfig>
  /** How many reloads have replaced the runtime. */
  readonly generation: Effect.Effect<number>
  /**
   * The config the current runtime was built from: what the runtime does not serve itself, read by whoever
   * starts the server (`Config.serverOptions` for `Server.layer`, `Telemetry.forConfig` for `Telemetry.layer`).
   */
  readonly loaded: Effect.Effect<Config.Loaded>
}

/**
 * Loads a config file and keeps its runtime in a {@link RuntimeRef} for the life of the current scope. The
 * memory stores (breakers, budgets, rate limits) are the process's, kept across reloads; the cache and the
 * connections belong to each loaded runtime.
 *
 * @example
 * ```ts
 * import { NodeFileSystem } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import { makeRef } from "liter-llm/gateway"
 *
 * const program = Effect.gen(function*() {
 *   const ref = yield* makeRef("gateway.yaml")
 *   // on SIGHUP:
 *   yield* Effect.ignore(ref.reload()) // an invalid file is logged and refused; the old config keeps serving
 * }).pipe(Effect.scoped, Effect.provide(NodeFileSystem.layer))
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeRef = (
  path: string,
  options: LoadOptions = {}
): Effect.Effect<RuntimeRef, Config.InvalidConfig, Scope.Scope | FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const parent = yield* Effect.scope
    const memory = yield* Stores.makeMemory
    const fs = yield* Effect.context<FileSystem.FileSystem>()
    const lock = yield* Effect.makeSemaphore(1)

    // A reload parses the file in a worker thread: the requests served meanwhile are not held by a large YAML file.
    const build = (from: string, parseOffThread: boolean) =>
      Effect.gen(function*() {
        const loaded = yield* Config.load(from, { parseOffThread })
        const scope = yield* Scope.fork(parent, ExecutionStrategy.sequential)
        const runtime = yield* fromLoaded(loaded, memory, options).pipe(
          Scope.extend(scope),
          Effect.onError(() => Scope.close(scope, Exit.void))
        )
        return { runtime, scope, loaded }
      }).pipe(Effect.provide(fs))

    const first = yield* build(path, false)
    const generations = Generations.make(first.runtime, first.scope)
    let loaded = first.loaded

    // The file reloads read: the last one a reload was given and served.
    let current = path
    const reload = (given?: string) =>
      lock.withPermits(1)(
        Effect.gen(function*() {
          const from = given ?? current
          const next = yield* build(from, true).pipe(
            Effect.tapError((error) =>
              Effect.logError(`reload refused, the current config keeps serving\n${error.message}`)
            )
          )
          const storesReady = yield* Generations.whenReady(next.runtime.ready)
          yield* generations.replace(next.runtime, next.scope)
          current = from
          loaded = next.loaded
          yield* Generations.logReloaded(`config reloaded from ${from}`, storesReady, next.runtime.ready)
          return next.runtime
        })
      ).pipe(Effect.withSpan("RuntimeRef.reload"))

    return {
      get: generations.get,
      use: generations.use,
      reload,
      generation: generations.count,
      loaded: Effect.sync(() => loaded)
    }
  })
