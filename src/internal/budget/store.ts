/**
 * The budget store's operations and their in-memory implementation. Each operation is one atomic step that
 * prunes, checks and updates a tenant's totals, so a shared store can run each as one script (e.g. Redis Lua).
 *
 * Amounts are kept as whole micro-USD (millionths of a USD) in every store: sums are exact, in JavaScript and in
 * Lua alike (whose numbers are doubles, exact up to 2^53 micro-USD, about 9 billion USD), so two stores given the
 * same operations answer the very same totals.
 */
import * as Effect from "effect/Effect"
import type * as Budget from "../../Budget.js"

// The shapes are the public ones (`Budget.Store` and its arguments), named here as the stores use them.
/** What every operation names: whose totals, in which period, and where `now` stands in it. */
export type Target = Budget.StoreTarget
export type Totals = Budget.Totals
export type Reservation = Budget.StoreReservation
export type Reserved = Budget.Reserved
export type StoreUnavailable = Budget.StoreUnavailable
export type Store = Budget.Store

/** Float sums drift by a few ulps: an amount that fits to a billionth of a USD fits. */
export const tolerance = 1e-9

/** USD as whole micro-USD, the unit every store counts in (rounded to the nearest). */
export const toMicros = (usd: number): number => Math.round(usd * 1_000_000)

/** Micro-USD as USD. */
export const toUsd = (micros: number): number => micros / 1_000_000

/** The memory store, and how many tenant-period entries it holds (to observe its bounds). */
export type MemoryStore = Budget.MemoryStore

interface Entry {
  /** Micro-USD per bucket start. */
  readonly buckets: Map<number, number>
  readonly reservations: Map<string, { readonly micros: number; readonly expiresAt: number }>
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

  // Synchronous: no other fiber can interleave with an operation. Totals in micro-USD.
  const current = (target: Target) => {
    sweep(target.now)
    const key = `${target.period}\u0000${target.tenant}`
    let entry = entries.get(key)
    if (entry === undefined) {
      entry = { buckets: new Map(), reservations: new Map(), staleAt: target.until }
      entries.set(key, entry)
    }
    let spent = 0
    let oldestBucket: number | undefined
    for (const [start, micros] of entry.buckets) {
      if (start < target.since) {
        entry.buckets.delete(start)
        continue
      }
      spent += micros
      if (oldestBucket === undefined || start < oldestBucket) oldestBucket = start
    }
    let reserved = 0
    for (const [id, reservation] of entry.reservations) {
      if (reservation.expiresAt <= target.now) entry.reservations.delete(id)
      else reserved += reservation.micros
    }
    return { entry, spent, reserved, oldestBucket }
  }

  const totals = (spent: number, reserved: number, oldestBucket: number | undefined): Totals => ({
    spentUsd: toUsd(spent),
    reservedUsd: toUsd(reserved),
    oldestBucket
  })

  const touch = (entry: Entry, until: number) => {
    if (until > entry.staleAt) entry.staleAt = until
  }

  return {
    reserve: (reservation) =>
      Effect.sync((): Reserved => {
        const { entry, oldestBucket, reserved, spent } = current(reservation)
        const micros = toMicros(reservation.amountUsd)
        // A retried reservation holds once.
        if (entry.reservations.has(reservation.id)) {
          return { _tag: "Reserved", totals: totals(spent, reserved, oldestBucket) }
        }
        if (spent + reserved + micros > toMicros(reservation.limitUsd)) {
          return { _tag: "Refused", totals: totals(spent, reserved, oldestBucket) }
        }
        entry.reservations.set(reservation.id, { micros, expiresAt: reservation.expiresAt })
        touch(entry, reservation.expiresAt)
        return { _tag: "Reserved", totals: totals(spent, reserved + micros, oldestBucket) }
      }),
    settle: (target) =>
      Effect.sync((): Totals => {
        const { entry, oldestBucket, reserved, spent } = current(target)
        const held = entry.reservations.get(target.id)?.micros ?? 0
        const micros = toMicros(target.actualUsd)
        entry.reservations.delete(target.id)
        entry.buckets.set(target.bucket, (entry.buckets.get(target.bucket) ?? 0) + micros)
        touch(entry, target.until)
        return totals(
          spent + micros,
          reserved - held,
          oldestBucket === undefined ? target.bucket : Math.min(oldestBucket, target.bucket)
        )
      }),
    release: (target) =>
      Effect.sync((): Totals => {
        const { entry, oldestBucket, reserved, spent } = current(target)
        const held = entry.reservations.get(target.id)?.micros ?? 0
        entry.reservations.delete(target.id)
        return totals(spent, reserved - held, oldestBucket)
      }),
    read: (target) =>
      Effect.sync(() => {
        const { oldestBucket, reserved, spent } = current(target)
        return totals(spent, reserved, oldestBucket)
      }),
    size: Effect.sync(() => entries.size)
  }
}
