/**
 * The circuit breaker's state machine, as pure functions over plain JSON state, so any store (memory now,
 * Redis later) can apply them atomically.
 */

/** The stored state of one breaker. */
export type State =
  | {
    readonly state: "closed"
    readonly outcomes: ReadonlyArray<readonly [at: number, failed: 0 | 1]>
    /** The window the outcomes were kept for, so a reader can tell which still count. */
    readonly windowMillis?: number | undefined
  }
  | { readonly state: "open"; readonly until: number }
  | { readonly state: "half-open"; readonly until: number; readonly inFlight: number }

export interface Config {
  readonly failureRateThreshold: number
  readonly minimumCalls: number
  readonly windowMillis: number
  readonly cooldownMillis: number
  readonly halfOpenProbes: number
}

/** What a call may do. */
export type Permit =
  | { readonly _tag: "Call"; readonly probe: boolean }
  | { readonly _tag: "Reject"; readonly until: number }

/** How a call ended, for the breaker: only retryable provider failures count. */
export type Outcome =
  | { readonly _tag: "Success" }
  | { readonly _tag: "Failure"; readonly openFor?: number | undefined }
  | { readonly _tag: "Ignored" }

export type Name = State["state"]

export const initial: State = { state: "closed", outcomes: [] }

const open = (previous: State, until: number): State => ({
  state: "open",
  // A cooldown is only ever extended, never shortened.
  until: previous.state === "closed" ? until : Math.max(previous.until, until)
})

/** Asks to call: grants a call, a half-open probe, or rejects until a time. */
export const acquire = (current: State, now: number, config: Config): readonly [Permit, State] => {
  switch (current.state) {
    case "closed":
      return [{ _tag: "Call", probe: false }, current]
    case "open":
      return now < current.until
        ? [{ _tag: "Reject", until: current.until }, current]
        : [{ _tag: "Call", probe: true }, { state: "half-open", until: current.until, inFlight: 1 }]
    case "half-open":
      return current.inFlight < config.halfOpenProbes
        ? [{ _tag: "Call", probe: true }, { ...current, inFlight: current.inFlight + 1 }]
        : [{ _tag: "Reject", until: current.until }, current]
  }
}

/** Records how a granted call ended. */
export const release = (
  current: State,
  permit: { readonly probe: boolean },
  outcome: Outcome,
  now: number,
  config: Config
): State => {
  // A Retry-After longer than the retry cap opens the breaker at once, whatever its state.
  if (outcome._tag === "Failure" && outcome.openFor !== undefined) return open(current, now + outcome.openFor)
  if (current.state === "open") return current
  if (current.state === "half-open") {
    if (!permit.probe) return current
    switch (outcome._tag) {
      case "Success":
        return initial
      case "Failure":
        return open(current, now + config.cooldownMillis)
      case "Ignored":
        return { ...current, inFlight: Math.max(0, current.inFlight - 1) }
    }
  }
  if (outcome._tag === "Ignored") return current
  const since = now - config.windowMillis
  const outcomes = [
    ...current.outcomes.filter(([at]) => at > since),
    [now, outcome._tag === "Failure" ? 1 : 0] as const
  ]
  const failures = outcomes.reduce((sum, [, failed]) => sum + failed, 0)
  if (outcomes.length >= config.minimumCalls && failures / outcomes.length >= config.failureRateThreshold) {
    return open(current, now + config.cooldownMillis)
  }
  return { state: "closed", outcomes, windowMillis: config.windowMillis }
}

/** The outcomes of a closed breaker still inside its window at `now`. */
export const liveOutcomes = (
  state: Extract<State, { readonly state: "closed" }>,
  now: number
): ReadonlyArray<readonly [number, 0 | 1]> =>
  state.windowMillis === undefined ? state.outcomes : state.outcomes.filter(([at]) => at > now - state.windowMillis!)
