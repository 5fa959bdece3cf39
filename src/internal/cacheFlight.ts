/**
 * Single flight: concurrent calls with the same key share one run of the work. The run belongs to no caller:
 * a caller that is interrupted leaves it to the others, and only when every caller has left is it interrupted.
 * The run is paid once, by its owner: the caller that started it, or, when that caller left before the result,
 * the first of the others to get it (so its cost is reported by someone, not by no one).
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"

interface Flight<A, E> {
  readonly result: Deferred.Deferred<A, E>
  waiters: number
  fiber: Fiber.RuntimeFiber<unknown> | undefined
  /** Whether a caller still owns the run: its starter until it leaves, then the first other caller answered. */
  owned: boolean
}

/** A group of flights, one per key at a time. */
export interface Group {
  /**
   * Runs `work` for `key`, or joins the run already in flight for it. `joined` is false for the run's owner:
   * the caller that started it, or the first other caller answered once that one has left.
   */
  readonly run: <A, E>(
    key: string,
    work: Effect.Effect<A, E>
  ) => Effect.Effect<{ readonly value: A; readonly joined: boolean }, E>
  /** How many keys have a run in flight. */
  readonly size: () => number
}

export const make = (): Group => {
  // Each key's flight has its own A and E: the map holds them erased, `run` knows them again.
  const flights = new Map<string, Flight<unknown, unknown>>()
  const erased = <A, E>(flight: Flight<A, E>) => flight as unknown as Flight<unknown, unknown>

  const leave = <A, E>(key: string, flight: Flight<A, E>, owner: boolean) =>
    Effect.suspend(() => {
      if (owner) flight.owned = false
      flight.waiters--
      if (flight.waiters > 0 || flight.fiber === undefined) return Effect.void
      if (flights.get(key) === erased(flight)) flights.delete(key)
      return Fiber.interrupt(flight.fiber)
    })

  return {
    run: <A, E>(key: string, work: Effect.Effect<A, E>) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          // The lookup and the registration are one synchronous step: no other fiber can start a second run.
          let flight = flights.get(key) as unknown as Flight<A, E> | undefined
          const joined = flight !== undefined
          if (flight === undefined) {
            const created: Flight<A, E> = {
              result: Deferred.unsafeMake<A, E>(FiberId.none),
              waiters: 0,
              fiber: undefined,
              owned: true
            }
            flights.set(key, erased(created))
            flight = created
            // The run inherits this caller's services (metrics, tracer, clock) and outlives it while others wait.
            created.fiber = yield* Effect.forkDaemon(
              Effect.interruptible(work).pipe(
                Effect.exit,
                Effect.flatMap((exit) =>
                  Effect.suspend(() => {
                    if (flights.get(key) === erased(created)) flights.delete(key)
                    return Deferred.done(created.result, exit)
                  })
                )
              )
            )
          }
          flight.waiters++
          const waited = flight
          return yield* restore(Deferred.await(waited.result)).pipe(
            Effect.map((value) => {
              if (!joined || waited.owned) return { value, joined }
              waited.owned = true
              return { value, joined: false }
            }),
            Effect.onInterrupt(() => leave(key, waited, !joined))
          )
        })
      ),
    size: () => flights.size
  }
}
