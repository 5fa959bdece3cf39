/**
 * Deadlines of a provider call, each failing with `LlmError.Timeout` naming its phase:
 *
 * - `request`: until the response headers arrive (for a non-streaming call, until the whole body);
 * - `firstToken`: for a stream, until the first content part;
 * - `idle`: for a stream, the longest gap between content events (keep-alive pings do not count);
 * - `total`: the whole of one attempt.
 *
 * A stream's deadlines bound the provider, not its consumer: the time the consumer spends with a part before it
 * pulls the next does not count, and a part received before a deadline passed is never followed by its
 * `Timeout`.
 *
 * All run on Effect's `Clock`, so a `TestClock` drives them in tests. None is set by default (a phase given an
 * infinite duration, `Duration.infinity`, has none either): `request` costs
 * a timer and a fiber race per call; a stream's `firstToken`, `idle` and `total` together cost one worker
 * fiber and one or two timers per attempt, not a race per read. `UndiciClient` and `fetch` keep undici's own
 * backstop, ending a call whose headers or body stall for 300 s with a retryable `NetworkError`;
 * `NodeHttpClient.layerUndici` turns undici's body timeout off and waits an hour for headers. Set the phases
 * your service level needs.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as LlmError from "./LlmError.js"

/**
 * The `timeout` option of a provider layer.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { OpenAi } from "liter-llm"
 *
 * const layer = OpenAi.layer({
 *   apiKey: Redacted.make("sk-..."),
 *   timeout: { request: "30 seconds", firstToken: "10 seconds", idle: "15 seconds", total: "2 minutes" }
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly request?: Duration.DurationInput | undefined
  readonly firstToken?: Duration.DurationInput | undefined
  readonly idle?: Duration.DurationInput | undefined
  readonly total?: Duration.DurationInput | undefined
}

/**
 * Options with every duration decoded; an absent phase has no deadline.
 *
 * @since 0.1.0
 * @category models
 */
export interface Timeouts {
  readonly request: Duration.Duration | undefined
  readonly firstToken: Duration.Duration | undefined
  readonly idle: Duration.Duration | undefined
  readonly total: Duration.Duration | undefined
}

const decodeOptional = (input: Duration.DurationInput | undefined) =>
  input === undefined ? undefined : Duration.decode(input)

/**
 * Decodes options; an absent phase has no deadline.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Timeouts => ({
  request: decodeOptional(options.request),
  firstToken: decodeOptional(options.firstToken),
  idle: decodeOptional(options.idle),
  total: decodeOptional(options.total)
})

/**
 * Where a timeout happened, for the error it raises.
 *
 * @since 0.1.0
 * @category models
 */
export interface Context {
  readonly provider: string
  readonly model?: string | undefined
}

/**
 * The error of a deadline.
 *
 * @since 0.1.0
 * @category constructors
 */
export const error = (context: Context, phase: LlmError.TimeoutPhase, duration: Duration.Duration): LlmError.Timeout =>
  new LlmError.Timeout({
    provider: context.provider,
    ...(context.model === undefined ? {} : { model: context.model }),
    phase,
    message: `${context.provider}: no ${describe[phase]} within ${Duration.format(duration)}`
  })

const describe: Record<LlmError.TimeoutPhase, string> = {
  request: "response",
  "first-token": "first token",
  idle: "stream event",
  total: "complete answer"
}

/**
 * Bounds an effect by the deadline of one phase (no bound when `duration` is undefined), interrupting it
 * when the deadline passes.
 *
 * @since 0.1.0
 * @category combinators
 */
export const within = (
  context: Context,
  phase: LlmError.TimeoutPhase,
  duration: Duration.Duration | undefined
) =>
<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | LlmError.Timeout, R> =>
  duration === undefined
    ? self
    : Effect.timeoutFail(self, { duration, onTimeout: () => error(context, phase, duration) })
