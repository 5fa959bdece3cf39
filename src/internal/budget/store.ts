/**
 * The budget store's operations and their in-memory implementation. Each operation is one atomic step that
 * prunes, checks and updates a tenant's totals, so a shared store can run each as one script (e.g. Redis Lua).
 */
import * as Effect from "effect/Effect"
import type { Position } from "./period.js"

/** What every operation names: whose totals, in which period, and where `now` stands in it. */
export interface Target extends Position {
  readonly tenant: string
  /** The period's identity, e.g. `"day"`, `"month"` or `"window:3600000"`: one set of totals per tenant and id. */
  readonly period: string
  /** Epoch ms of Effect's `Clock`. */
  readonly now: number
}

/** The totals of a tenant in a period, after the operation. */
export interface Totals {
  /** USD charged in the buckets that still count. */
  readonly spentUsd: number
  /** USD held by reservations that have not expired. */
  readonly reservedUsd: number
  /** Start of the oldest bucket with spend that still counts. */
  readonly oldestBucket: number | undefined
}

/** A reservation to make: refused when spent + reserved + `amountUsd` would pass `limitUsd`. */
export interface Reservation extends Target {
  readonly id: string
  readonly amountUsd: number
  readonly limitUsd: number
  /** When the reservation stops holding budget if it is never settled or released (its process died). */
  readonly expiresAt: number
}

/** The answer to a reservation. */
export type Reserved =
  | { readonly _tag: "Reserved"; readonly totals: Totals }
  | { readonly _tag: "Refused"; readonly totals: Totals }

/** The store interface. */
export interface Store {
  /** Checks the limit and, when the amount fits, holds it under the reservation's id, in one step. */
  readonly reserve: (reservation: Reservation) => Effect.Effect<Reserved>
  /**
   * Drops the reservation (if still held) and charges `actualUsd` to the bucket of `now`, in one step. A
   * reservation that expired is still charged: the call was made.
   */
  readonly settle: (target: Target & { readonly id: string; readonly actualUsd: number }) => Effect.Effect<Totals>
  /** Drops the reservation without charging anything (the call failed). */
  readonly release: (target: Target & { readonly id: string }) => Effect.Effect<Totals>
  /** The totals, without changing them. */
  readonly read: (target: Target) => Effect.Effect<Totals>
}

/** Float sums drift by a few ulps: an amount that fits to a billionth of a USD fits. */
export const tolerance = 1e-9

/** The memory store, and how many tenant-period entries it holds (to observe its bounds). */
export interface MemoryStore extends Store {
  readonly size: Effect.Effect<number>
}

interface Entry {
  readonly buckets: Map<number, number>
  readonly reservations: Map<string, { readonly amountUsd: number; readonly expiresAt: number }>
  /** When nothing in the entry counts any more: the sweep drops it then. */
  staleAt: number
}

/** How often (ms of `Clock`) the memory store looks for tenants whose totals all ran out. */
const sweepEvery = 60_000

/**
 * A store in this process's memory. It never grows without bound: buckets that no longer count and expired
 * reservations go at each operation on their tenant, and a sweep (at most once a minute) drops every tenant
 * whose entry holds nothing that counts.
 */
export const makeMemory = (): MemoryStore => {
  const entries = new Map<string, Entry>()
  let nextSweep = 0

  const sweep = (now: number) => {
    if (now < nextSweep) return
    nextSweep = now + sweepEvery
    for (const [key, entry] of entries) if (entry.staleAt <= now) entries.delete(key)
  }

  // Synchronous: no other fiber can interleave with an operation.
  const current = (target: Target): { readonly entry: Entry; readonly totals: Totals } => {
    sweep(target.now)
    const key = `${target.period}\u0000${target.tenant}`
    let entry = entries.get(key)
    if (entry === undefined) {
      entry = { buckets: new Map(), reservations: new Map(), staleAt: target.until }
      entries.set(key, entry)
    }
    let spentUsd = 0
    let oldestBucket: number | undefined
    for (const [start, usd] of entry.buckets) {
      if (start < target.since) {
        entry.buckets.delete(start)
        continue
      }
      spentUsd += usd
      if (oldestBucket === undefined || start < oldestBucket) oldestBucket = start
    }
    let reservedUsd = 0
    for (const [id, reservation] of entry.reservations) {
      if (reservation.expiresAt <= target.now) entry.reservations.delete(id)
      else reservedUsd += reservation.amountUsd
    }
    return { entry, totals: { spentUsd, reservedUsd, oldestBucket } }
  }

  const touch = (entry: Entry, until: number) => {
    if (until > entry.staleAt) entry.staleAt = until
  }

  return {
    reserve: (reservation) =>
      Effect.sync((): Reserved => {
        const { entry, totals } = current(reservation)
        if (totals.spentUsd + totals.reservedUsd + reservation.amountUsd > reservation.limitUsd + tolerance) {
          return { _tag: "Refused", totals }
        }
        entry.reservations.set(reservation.id, { amountUsd: reservation.amountUsd, expiresAt: reservation.expiresAt })
        touch(entry, reservation.expiresAt)
        return { _tag: "Reserved", totals: { ...totals, reservedUsd: totals.reservedUsd + reservation.amountUsd } }
      }),
    settle: (target) =>
      Effect.sync((): Totals => {
        const { entry, totals } = current(target)
        const held = entry.reservations.get(target.id)
        entry.reservations.delete(target.id)
        entry.buckets.set(target.bucket, (entry.buckets.get(target.bucket) ?? 0) + target.actualUsd)
        touch(entry, target.until)
        return {
          spentUsd: totals.spentUsd + target.actualUsd,
          reservedUsd: totals.reservedUsd - (held?.amountUsd ?? 0),
          oldestBucket: totals.oldestBucket === undefined ? target.bucket : Math.min(totals.oldestBucket, target.bucket)
        }
      }),
    release: (target) =>
      Effect.sync((): Totals => {
        const { entry, totals } = current(target)
        const held = entry.reservations.get(target.id)
        entry.reservations.delete(target.id)
        return { ...totals, reservedUsd: totals.reservedUsd - (held?.amountUsd ?? 0) }
      }),
    read: (target) => Effect.sync(() => current(target).totals),
    size: Effect.sync(() => entries.size)
  }
}
