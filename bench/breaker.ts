/**
 * Circuit breaker cost per call, against the number of outcomes its window holds (`npx tsx bench/breaker.ts`,
 * also a part of `npm run bench`).
 *
 * A breaker over an in-process model that answers at once (every other call an `Overloaded`) starts with a
 * window already holding N outcomes spread evenly over its one hour (on a virtual clock), then is timed over
 * more calls in the same window. The cost reported is the median CPU time (user + system) per call through the breaker
 * minus that of the bare model: it should not depend on how many outcomes the window holds.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import * as Circuit from "../src/internal/circuit.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"

/** The breaker's extra cost at one window size. */
export interface BreakerResult {
  /** Outcomes in the window when the timed calls start. */
  readonly window: number
  /** Median over rounds of CPU µs per call, breaker minus bare model. */
  readonly extraUs: number
  readonly calls: number
}

const WINDOW_MILLIS = 3_600_000

/** A clock that only moves when told: a call at `now`, as many calls as wanted per virtual millisecond. */
const virtualClock = () => {
  let now = 0
  const clock: Clock.Clock = {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => now,
    currentTimeMillis: Effect.sync(() => now),
    unsafeCurrentTimeNanos: () => BigInt(Math.round(now)) * 1_000_000n,
    currentTimeNanos: Effect.sync(() => BigInt(Math.round(now)) * 1_000_000n),
    sleep: () => Effect.void
  }
  return { clock, set: (millis: number) => void (now = millis) }
}

const overloaded = new LlmError.Overloaded({ provider: "bench", status: 503, message: "bench overloaded" })

const model = (): LanguageModel.Service => {
  let calls = 0
  return LanguageModel.make({
    provider: "bench",
    defaultModel: "bench-model",
    capabilities: { tools: true, vision: true, jsonSchema: true, streamingUsage: true },
    generate: () =>
      ++calls % 2 === 0 ? Effect.fail(overloaded) : Effect.succeed({
        id: "bench",
        provider: "bench",
        model: "bench-model",
        content: [{ type: "text", text: "ok" }],
        finishReason: "stop"
      }),
    stream: () => Effect.dieMessage("not used") as never
  })
}

const request = { messages: [{ role: "user" as const, content: "hi" }] }

/** A registry whose breaker `key` already holds `window` outcomes spread evenly over `spacing` ms each. */
const filledRegistry = (key: string, window: number, spacing: number, config: Circuit.Config) => {
  let state = Circuit.initial
  for (let i = 0; i < window; i++) {
    state = Circuit.release(
      state,
      { probe: undefined },
      i % 2 === 0 ? { _tag: "Success" } : { _tag: "Failure" },
      i * spacing,
      config
    )
  }
  const store = CircuitBreaker.makeMemoryStore()
  Effect.runSync(store.modify(key, () => [undefined, state]))
  return CircuitBreaker.makeRegistry(store)
}

/** Calls `service` `count` times, the i-th at `at(i)` of a virtual clock; returns CPU ms (user + system). */
const timed = (
  service: LanguageModel.Service,
  registry: CircuitBreaker.RegistryService,
  count: number,
  at: (i: number) => number
) => {
  const { clock, set } = virtualClock()
  const start = process.cpuUsage()
  Effect.runSync(
    Effect.gen(function*() {
      for (let i = 0; i < count; i++) {
        set(at(i))
        yield* Effect.exit(service.generate(request))
      }
    }).pipe(Effect.withClock(clock), Effect.provideService(CircuitBreaker.Registry, registry))
  )
  const used = process.cpuUsage(start)
  return (used.user + used.system) / 1000
}

const viewAt = (registry: CircuitBreaker.RegistryService, millis: number) => {
  const { clock, set } = virtualClock()
  set(millis)
  return Effect.runSync(
    CircuitBreaker.state("bench").pipe(
      Effect.withClock(clock),
      Effect.provideService(CircuitBreaker.Registry, registry)
    )
  )
}

const median = (values: ReadonlyArray<number>): number => [...values].sort((a, b) => a - b)[values.length >> 1]!

/** One window size: `rounds` rounds of `calls` timed calls through a breaker and through the bare model. */
const measure = (window: number, calls: number, rounds: number): BreakerResult => {
  const total = window + calls
  const spacing = WINDOW_MILLIS / total
  const breakerOptions = { key: "bench", window: WINDOW_MILLIS, minimumCalls: total + 1 }
  const config: Circuit.Config = {
    failureRateThreshold: 0.5,
    minimumCalls: total + 1,
    windowMillis: WINDOW_MILLIS,
    cooldownMillis: 30_000,
    halfOpenProbes: 1,
    probeLeaseMillis: 60_000
  }
  const at = (i: number) => (window + i) * spacing
  const guardedUs: Array<number> = []
  const bareUs: Array<number> = []
  for (let round = 0; round < rounds; round++) {
    const registry = filledRegistry("bench", window, spacing, config)
    const held = viewAt(registry, at(0))
    if (held.calls !== window) throw new Error(`breaker: the window holds ${held.calls} outcomes, not ${window}`)
    const guarded = CircuitBreaker.wrap(model(), breakerOptions)
    guardedUs.push(timed(guarded, registry, calls, at) * 1000 / calls)
    bareUs.push(timed(model(), registry, calls, at) * 1000 / calls)
    const after = viewAt(registry, at(calls - 1))
    if (after.state !== "closed" || after.calls !== total) throw new Error(`breaker: ${JSON.stringify(after)}`)
  }
  return { window, extraUs: median(guardedUs) - median(bareUs), calls }
}

/**
 * Runs the benchmark: `calls` timed calls per round, `rounds` rounds per window size, after one untimed pass
 * over every size (V8 speeds the first few thousand calls up).
 */
export const runBreaker = (options: {
  readonly windows: ReadonlyArray<number>
  readonly calls: number
  readonly rounds: number
}): Array<BreakerResult> => {
  for (const window of options.windows) measure(window, options.calls, 1)
  return options.windows.map((window) => measure(window, options.calls, options.rounds))
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, "/"))

if (isMain) {
  const results = runBreaker({ windows: [0, 5_000, 30_000, 300_000], calls: 5_000, rounds: 7 })
  process.stdout.write("| outcomes in window | extra µs per call |\n|---:|---:|\n")
  for (const result of results) process.stdout.write(`| ${result.window} | ${result.extraUs.toFixed(2)} |\n`)
}
