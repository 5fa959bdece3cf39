/**
 * The circuit breaker's state machine, as pure functions over plain JSON state, so any store (memory now,
 * Redis later) can apply them atomically. Every function does constant work, whatever the traffic: a closed
 * breaker keeps counts in a fixed number of time buckets, not one entry per call.
 */
import type * as CircuitBreaker from "../CircuitBreaker.js"
import { described } from "./described.js"

/** How many time buckets a closed breaker's window is split into. */
export const BUCKETS = 20

/** One time bucket of a closed breaker: its index (`floor(at / bucketMillis)`), calls and failures in it. */
export type Bucket = readonly [index: number, calls: number, failures: number]

/** A half-open probe's slot: its ticket and when its lease ends (epoch ms). */
export type Lease = readonly [ticket: number, expires: number]

/** The stored state of one breaker: the public `CircuitBreaker.StoredState` (buckets at most {@link BUCKETS}). */
export type State = CircuitBreaker.StoredState

export interface Config {
  readonly failureRateThreshold: number
  readonly minimumCalls: number
  readonly windowMillis: number
  readonly cooldownMillis: number
  readonly halfOpenProbes: number
  readonly probeLeaseMillis: number
}

/** A half-open probe's identity: the period it belongs to and its ticket in that period. */
export interface Probe {
  readonly period: number
  readonly ticket: number
}

/** What a call may do. */
export type Permit =
  | { readonly _tag: "Call"; readonly probe: Probe | undefined }
  | { readonly _tag: "Reject"; readonly until: number }

/** How a call ended, for the breaker: only retryable provider failures count. */
export type Outcome =
  | { readonly _tag: "Success" }
  | { readonly _tag: "Failure"; readonly openFor?: number | undefined }
  | { readonly _tag: "Ignored" }

export type Name = State["state"]

export const initial: State = { state: "closed", period: 0, buckets: [] }

const closedIn = (period: number): State => ({ state: "closed", period, buckets: [] })

const open = (previous: State, until: number): State => ({
  state: "open",
  period: previous.period,
  // A cooldown is only ever extended, never shortened.
  until: previous.state === "closed" ? until : Math.max(previous.until, until)
})

/** Asks to call: grants a call, a half-open probe, or rejects until a time. */
export const acquire = (current: State, now: number, config: Config): readonly [Permit, State] => {
  switch (current.state) {
    case "closed":
      return [{ _tag: "Call", probe: undefined }, current]
    case "open": {
      if (now < current.until) return [{ _tag: "Reject", until: current.until }, current]
      const period = current.period + 1
      return [{ _tag: "Call", probe: { period, ticket: 0 } }, {
        state: "half-open",
        period,
        until: current.until,
        issued: 1,
        leases: [[0, now + config.probeLeaseMillis]]
      }]
    }
    case "half-open": {
      // A probe whose lease ended (its process died, its release never ran) no longer holds a slot.
      const leases = current.leases.filter(([, expires]) => expires > now)
      if (leases.length >= config.halfOpenProbes) return [{ _tag: "Reject", until: current.until }, current]
      const ticket = current.issued
      return [{ _tag: "Call", probe: { period: current.period, ticket } }, {
        ...current,
        issued: ticket + 1,
        leases: [...leases, [ticket, now + config.probeLeaseMillis]]
      }]
    }
  }
}

/** Records how a granted call ended. */
export const release = (
  current: State,
  permit: { readonly probe: Probe | undefined },
  outcome: Outcome,
  now: number,
  config: Config
): State => {
  // A Retry-After longer than the retry cap opens the breaker at once, whatever its state.
  if (outcome._tag === "Failure" && outcome.openFor !== undefined) return open(current, now + outcome.openFor)
  if (current.state === "open") return current
  if (current.state === "half-open") {
    // Only this period's probes decide; a call let through before (while closed, or in an earlier half-open
    // period) neither closes it nor frees a slot.
    if (permit.probe === undefined || permit.probe.period !== current.period) return current
    const ticket = permit.probe.ticket
    switch (outcome._tag) {
      case "Success":
        return closedIn(current.period)
      case "Failure":
        return open(current, now + config.cooldownMillis)
      case "Ignored":
        return { ...current, leases: current.leases.filter(([held]) => held !== ticket) }
    }
  }
  if (outcome._tag === "Ignored") return current
  const bucketMillis = config.windowMillis / BUCKETS
  // Buckets counted with another width (a layer with another window on the same key) cannot be merged.
  const kept = current.bucketMillis === bucketMillis ? liveBuckets(current.buckets, bucketMillis, now) : []
  const buckets = record(kept, Math.floor(now / bucketMillis), outcome._tag === "Failure" ? 1 : 0)
  const { calls, failures } = sum(buckets)
  if (calls >= config.minimumCalls && failures / calls >= config.failureRateThreshold) {
    return open(current, now + config.cooldownMillis)
  }
  return { state: "closed", period: current.period, buckets, bucketMillis }
}

/** Adds one outcome to its bucket, keeping the buckets in order and at most {@link BUCKETS} of them. */
const record = (buckets: ReadonlyArray<Bucket>, index: number, failed: 0 | 1): ReadonlyArray<Bucket> => {
  const at = buckets.findIndex(([i]) => i >= index)
  if (at !== -1 && buckets[at]![0] === index) {
    const [, calls, failures] = buckets[at]!
    return buckets.map((bucket, i) => i === at ? [index, calls + 1, failures + failed] as const : bucket)
  }
  const next: Array<Bucket> = [...buckets]
  next.splice(at === -1 ? next.length : at, 0, [index, 1, failed])
  // Only a clock that went back (another process's, with a shared store) could leave more.
  return next.length > BUCKETS ? next.slice(next.length - BUCKETS) : next
}

const liveBuckets = (buckets: ReadonlyArray<Bucket>, bucketMillis: number, now: number): ReadonlyArray<Bucket> => {
  const oldest = Math.floor(now / bucketMillis) - BUCKETS
  return buckets.every(([index]) => index > oldest) ? buckets : buckets.filter(([index]) => index > oldest)
}

const sum = (buckets: ReadonlyArray<Bucket>) => {
  let calls = 0
  let failures = 0
  for (const [, c, f] of buckets) {
    calls += c
    failures += f
  }
  return { calls, failures }
}

/** The calls and failures of a closed breaker still inside its window at `now`. */
export const counts = (
  state: Extract<State, { readonly state: "closed" }>,
  now: number
): { readonly calls: number; readonly failures: number } =>
  state.bucketMillis === undefined ? sum(state.buckets) : sum(liveBuckets(state.buckets, state.bucketMillis, now))

/** What is wrong with a configuration, if anything: a breaker with one of these would never work as meant. */
export const problem = (config: Config): string | undefined => {
  const positive = (value: number) => Number.isFinite(value) && value > 0
  if (!(positive(config.failureRateThreshold) && config.failureRateThreshold <= 1)) {
    return `failureRateThreshold is ${described(config.failureRateThreshold)}; it is a share in (0, 1]`
  }
  if (!(Number.isInteger(config.minimumCalls) && config.minimumCalls >= 1)) {
    return `minimumCalls is ${described(config.minimumCalls)}; it is a whole number >= 1`
  }
  if (!(Number.isInteger(config.halfOpenProbes) && config.halfOpenProbes >= 1)) {
    return `halfOpenProbes is ${described(config.halfOpenProbes)}; it is a whole number >= 1`
  }
  // Time is read in whole milliseconds (`Clock.currentTimeMillis`, Redis's clock): a shorter span cannot be told
  // from none.
  const atLeastOneMs = (value: number) => Number.isFinite(value) && value >= 1
  if (!atLeastOneMs(config.windowMillis)) {
    return `window is ${config.windowMillis} ms; it must be finite and at least 1 ms`
  }
  if (!atLeastOneMs(config.probeLeaseMillis)) {
    return `probeLease is ${config.probeLeaseMillis} ms; it must be finite and at least 1 ms`
  }
  if (!(Number.isFinite(config.cooldownMillis) && config.cooldownMillis >= 0)) {
    return `cooldown is ${config.cooldownMillis} ms; it must be finite`
  }
  return undefined
}
