/**
 * The in-memory cache store: least-recently-used eviction under a bound on entries and on bytes, expiry by
 * Effect's `Clock`. Every operation is synchronous, so no fiber sees a half-applied one.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

interface Slot {
  readonly value: string
  /** Epoch ms of Effect's `Clock` from which the entry is gone. */
  readonly expiresAt: number
  readonly bytes: number
}

/** The bounds of a memory store. */
export interface Bounds {
  readonly maxEntries: number
  readonly maxBytes: number
}

/**
 * The operations of a store that never fails (the public `Cache.Store` without its error type): memory never
 * raises one, and the Redis store serves its outages itself.
 */
export interface Operations {
  readonly get: (key: string) => Effect.Effect<Option.Option<string>>
  readonly set: (key: string, value: string, ttl: Duration.Duration) => Effect.Effect<void>
  readonly delete: (key: string) => Effect.Effect<void>
}

/** What an entry weighs against `maxBytes`: its key and value as UTF-8. */
export const sizeOf = (key: string, value: string): number => Buffer.byteLength(key) + Buffer.byteLength(value)

export const make = (bounds: Bounds): Operations => {
  // A Map iterates in insertion order: re-inserting an entry on each read keeps the least recently used first.
  const slots = new Map<string, Slot>()
  let bytes = 0

  const remove = (key: string) => {
    const slot = slots.get(key)
    if (slot === undefined) return
    slots.delete(key)
    bytes -= slot.bytes
  }

  return {
    get: (key) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const slot = slots.get(key)
        if (slot === undefined) return Option.none()
        if (now >= slot.expiresAt) {
          remove(key)
          return Option.none()
        }
        slots.delete(key)
        slots.set(key, slot)
        return Option.some(slot.value)
      }),
    set: (key, value, ttl) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        remove(key)
        const size = sizeOf(key, value)
        // An entry that alone exceeds the bound would evict everything and still not fit.
        if (size > bounds.maxBytes || Duration.isZero(ttl)) return
        slots.set(key, { value, expiresAt: now + Duration.toMillis(ttl), bytes: size })
        bytes += size
        for (const oldest of slots.keys()) {
          if (slots.size <= bounds.maxEntries && bytes <= bounds.maxBytes) break
          remove(oldest)
        }
      }),
    delete: (key) => Effect.sync(() => remove(key))
  }
}
