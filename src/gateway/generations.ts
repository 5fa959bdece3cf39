/**
 * The runtimes a reloading gateway serves: the current one, and those a reload replaced while requests still
 * held them. A replaced runtime's scope (its connections, its cache) is closed when the last request holding
 * it ends, streams included, never under a request in flight.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"

interface Generation<A> {
  readonly value: A
  readonly scope: Scope.CloseableScope
  holders: number
  retired: boolean
}

/**
 * The generations of a value, starting with `value` owned by `scope`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = <A>(value: A, scope: Scope.CloseableScope) => {
  let current: Generation<A> = { value, scope, holders: 0, retired: false }
  let count = 0
  // Closed in the background: closing a config's stores can wait on its Redis (a polite QUIT, bounded, and the
  // stores' own finalizers), which must hold up neither the reload's log line nor the last request's end.
  const release = (generation: Generation<A>) =>
    generation.retired && generation.holders === 0
      ? Effect.asVoid(Effect.forkDaemon(Scope.close(generation.scope, Exit.void)))
      : Effect.void
  return {
    /** The current value. */
    get: Effect.sync(() => current.value),
    /** The current value, held until the caller's scope closes. */
    // Taken and its release registered on the scope in one uninterruptible step (`Scope.addFinalizer` on the
    // scope itself): 16 Effect operations per request, where `acquireRelease` cost 30.
    use: Effect.flatMap(Effect.scope, (scope) =>
      Effect.uninterruptible(Effect.suspend(() => {
        const generation = current
        generation.holders += 1
        return Effect.as(
          Scope.addFinalizer(
            scope,
            Effect.suspend(() => {
              generation.holders -= 1
              return release(generation)
            })
          ),
          generation.value
        )
      }))),
    /** Serves `value` from now on; the one it replaces closes, in the background, once nothing holds it. */
    replace: (value: A, scope: Scope.CloseableScope): Effect.Effect<void> =>
      Effect.suspend(() => {
        const previous = current
        current = { value, scope, holders: 0, retired: false }
        count += 1
        previous.retired = true
        return release(previous)
      }),
    /** How many times the value was replaced. */
    count: Effect.sync(() => count)
  }
}

/**
 * Waits until `ready` answers `true`, at most `maxMillis` (on Effect's `Clock`): a reload swaps in a config once
 * its stores answer (its Redis connection is made in the background), so the requests that follow it do not find
 * their rate limits or budget unavailable. Past the bound it swaps anyway: a Redis that stays down is reported by
 * `GET /ready` and by the policies' own refusals, as at a start.
 *
 * Succeeds with whether `ready` answered `true` in time. The reload's log line says so: a Redis outage the
 * replaced config reported ends there, since the stores that reported it are closed with that config.
 *
 * @since 0.2.0
 * @category reloading
 */
export const whenReady = (ready: Effect.Effect<boolean>, maxMillis = 5_000): Effect.Effect<boolean> =>
  Effect.map(
    Effect.timeoutOption(
      Effect.repeat(ready, { schedule: Schedule.spaced("10 millis"), until: (isReady) => isReady }),
      maxMillis
    ),
    Option.isSome
  )

/**
 * The log line of a reload that swapped in a config: INFO when its stores answer, else a WARN saying that the
 * new config serves without them for now. Then `ready` probes once more, past its first connection's grace: its
 * own line says why Redis does not answer, and it logs again when Redis does (`gateway: Redis answers again`).
 *
 * @since 0.2.0
 * @category reloading
 */
export const logReloaded = (
  message: string,
  storesReady: boolean,
  ready: Effect.Effect<boolean>
): Effect.Effect<void> =>
  storesReady
    ? Effect.logInfo(message).pipe(Effect.annotateLogs({ stores: "ready" }))
    : Effect.zipRight(
      Effect.logWarning(
        `${message}, but its Redis did not answer within 5 s: its policies act as during an outage until it does`
      ).pipe(Effect.annotateLogs({ stores: "not answering" })),
      Effect.asVoid(ready)
    )
