/**
 * One tagged error union for every failure of an LLM call, grouped in three fault domains:
 *
 * - **caller**: the request cannot succeed as sent (`InvalidRequest`, `AuthenticationFailed`, `NotFound`,
 *   `ContextLengthExceeded`, `ContentFiltered`, `QuotaExhausted`);
 * - **provider**: the provider or the network failed (`RateLimited`, `Overloaded`, `ServerError`, `Timeout`,
 *   `NetworkError`, `MalformedResponse`, `EmptyResponse`, `StreamInterrupted`);
 * - **policy**: a policy of this library refused the call (`CircuitOpen`, `RateLimitExceeded`, `BudgetExceeded`,
 *   `CostLimitExceeded`, `GuardrailBlocked`, `PolicyUnavailable`); only `PolicyUnavailable` is retryable.
 *
 * Every error carries the `provider`, and where known the `model`, HTTP `status`, `requestId`, `retryAfter`
 * and a bounded raw `body`. Messages never contain a secret.
 *
 * @since 0.1.0
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/**
 * One attempt of a fallback chain: which step, which provider and model, how it ended, how long it took.
 *
 * @since 0.1.0
 * @category fields
 */
export const Attempt = Schema.Struct({
  step: Schema.Number,
  provider: Schema.String,
  model: Schema.optional(Schema.String),
  /** `"success"` or the `_tag` of the error. */
  outcome: Schema.String,
  durationMs: Schema.Number
})

/**
 * One provider attempt of a call: who was called, with which model, how it failed and how long it took.
 *
 * @since 0.1.0
 * @category fields
 */
export type Attempt = typeof Attempt.Type

/**
 * The fields every `LlmError` carries.
 *
 * @since 0.1.0
 * @category fields
 */
export const commonFields = {
  /** The provider that failed, e.g. `"openai"`, or `"liter-llm"` for errors raised before any provider. */
  provider: Schema.String,
  model: Schema.optional(Schema.String),
  status: Schema.optional(Schema.Number),
  requestId: Schema.optional(Schema.String),
  /**
   * How long the provider asked us to wait before trying again. Encoded as JSON-compatible data
   * (`Schema.Duration`), so an encoded error survives `JSON.stringify`.
   */
  retryAfter: Schema.optional(Schema.Duration),
  /** The raw response body, truncated to {@link maxBodyLength} characters. */
  body: Schema.optional(Schema.String),
  /** The provider's own verdict (`x-should-retry`), which overrides the tag's default retryability. */
  shouldRetry: Schema.optional(Schema.Boolean),
  /** Set on the error a fallback chain ends with: every attempt it made, in order. */
  attempts: Schema.optional(Schema.Array(Attempt)),
  message: Schema.String
}

/**
 * How many characters of a raw body an error keeps.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxBodyLength = 4096

/**
 * Truncates a raw body to {@link maxBodyLength}, saying how much was cut.
 *
 * @since 0.1.0
 * @category constructors
 */
export const truncateBody = (body: string): string =>
  body.length <= maxBodyLength ? body : `${body.slice(0, maxBodyLength)}… [${body.length - maxBodyLength} more chars]`

// ---------------------------------------------------------------------------------------------------------------
// caller faults
// ---------------------------------------------------------------------------------------------------------------

/**
 * The request is malformed or rejected as invalid (HTTP 400, 413, 422, or local validation).
 *
 * @since 0.1.0
 * @category caller
 */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", commonFields) {}

/**
 * The credentials were refused (HTTP 401 / 403).
 *
 * @since 0.1.0
 * @category caller
 */
export class AuthenticationFailed
  extends Schema.TaggedError<AuthenticationFailed>()("AuthenticationFailed", commonFields)
{}

/**
 * The model, deployment or endpoint does not exist (HTTP 404).
 *
 * @since 0.1.0
 * @category caller
 */
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", commonFields) {}

/**
 * The prompt plus the requested output does not fit the model's context window.
 *
 * @since 0.1.0
 * @category caller
 */
export class ContextLengthExceeded
  extends Schema.TaggedError<ContextLengthExceeded>()("ContextLengthExceeded", commonFields)
{}

/**
 * The provider's content filter blocked the prompt; for `LanguageModel.generateObject`, also an answer the model
 * refused (its words in `refusal`) or the filter stopped.
 *
 * @since 0.1.0
 * @category caller
 */
export class ContentFiltered extends Schema.TaggedError<ContentFiltered>()("ContentFiltered", {
  ...commonFields,
  /** What the model said when it refused (OpenAI `refusal`, Anthropic's `stop_details.explanation`). */
  refusal: Schema.optional(Schema.String)
}) {}

/**
 * The account is out of quota or credit: a 429 (or 402) that retrying cannot fix.
 *
 * @since 0.1.0
 * @category caller
 */
export class QuotaExhausted extends Schema.TaggedError<QuotaExhausted>()("QuotaExhausted", commonFields) {}

// ---------------------------------------------------------------------------------------------------------------
// provider faults
// ---------------------------------------------------------------------------------------------------------------

/**
 * Too many requests or tokens (HTTP 429).
 *
 * @since 0.1.0
 * @category provider
 */
export class RateLimited extends Schema.TaggedError<RateLimited>()("RateLimited", commonFields) {}

/**
 * The provider is overloaded (HTTP 529, 503, Anthropic `overloaded_error`).
 *
 * @since 0.1.0
 * @category provider
 */
export class Overloaded extends Schema.TaggedError<Overloaded>()("Overloaded", commonFields) {}

/**
 * Any other server-side failure (other 5xx, 409 conflicts).
 *
 * @since 0.1.0
 * @category provider
 */
export class ServerError extends Schema.TaggedError<ServerError>()("ServerError", commonFields) {}

/**
 * Which deadline expired: until response headers, until the first content, between content events, or the
 * whole attempt.
 *
 * @since 0.1.0
 * @category provider
 */
export const TimeoutPhase = Schema.Literal("request", "first-token", "idle", "total")

/**
 * Which deadline a `Timeout` missed: the request, the first token, the wait between two events, or the whole call.
 *
 * @since 0.1.0
 * @category provider
 */
export type TimeoutPhase = typeof TimeoutPhase.Type

/**
 * A deadline expired (or the server answered HTTP 408).
 *
 * @since 0.1.0
 * @category provider
 */
export class Timeout extends Schema.TaggedError<Timeout>()("Timeout", {
  ...commonFields,
  phase: TimeoutPhase
}) {}

/**
 * The connection failed or was cut before a complete response arrived.
 *
 * @since 0.1.0
 * @category provider
 */
export class NetworkError extends Schema.TaggedError<NetworkError>()("NetworkError", commonFields) {}

/**
 * The response was not valid JSON or did not match the provider's schema; `body` keeps the raw text.
 *
 * @since 0.1.0
 * @category provider
 */
export class MalformedResponse extends Schema.TaggedError<MalformedResponse>()("MalformedResponse", commonFields) {}

/**
 * The provider answered successfully but with nothing in it (no choices, no candidates).
 *
 * @since 0.1.0
 * @category provider
 */
export class EmptyResponse extends Schema.TaggedError<EmptyResponse>()("EmptyResponse", commonFields) {}

/**
 * What a stream had delivered when it failed after its commit point.
 *
 * @since 0.1.0
 * @category provider
 */
export const PartialResponse = Schema.Struct({
  text: Schema.String,
  reasoning: Schema.String,
  toolCalls: Schema.Array(Schema.Struct({
    id: Schema.String,
    name: Schema.String,
    rawArguments: Schema.String
  })),
  usage: Schema.optional(Schema.Struct({
    inputTokens: Schema.Number,
    outputTokens: Schema.Number,
    totalTokens: Schema.Number
  }))
})

/**
 * What a stream delivered before it failed: its text, reasoning, tool calls and usage so far.
 *
 * @since 0.1.0
 * @category provider
 */
export type PartialResponse = typeof PartialResponse.Type

/**
 * A stream failed after content had reached the caller. It is never retried nor spliced with another
 * provider; `partial` holds what was received, `cause` the error that ended it.
 *
 * @since 0.1.0
 * @category provider
 */
export class StreamInterrupted extends Schema.TaggedError<StreamInterrupted>()("StreamInterrupted", {
  ...commonFields,
  partial: PartialResponse,
  /** The `_tag` of the failure that cut the stream (e.g. `"NetworkError"`, `"Timeout"`). */
  causeTag: Schema.String
}) {}

// ---------------------------------------------------------------------------------------------------------------
// policy faults
// ---------------------------------------------------------------------------------------------------------------

/**
 * A circuit breaker is open for this provider or deployment: the call was refused without reaching it.
 * `until` is when the breaker lets a probe through (epoch milliseconds of Effect's `Clock`).
 *
 * @since 0.1.0
 * @category policy
 */
export class CircuitOpen extends Schema.TaggedError<CircuitOpen>()("CircuitOpen", {
  ...commonFields,
  key: Schema.String,
  until: Schema.Number
}) {}

/**
 * A tenant's request or token rate limit (the `RateLimit` policy) refused the call before it reached the
 * provider. `retryAfter` is when the window lets the call through; `limit` says which limit, e.g.
 * `"60 requests per 1 minute"`.
 *
 * @since 0.2.0
 * @category policy
 */
export class RateLimitExceeded extends Schema.TaggedError<RateLimitExceeded>()("RateLimitExceeded", {
  ...commonFields,
  tenant: Schema.String,
  /** `"requests"` or `"tokens"`. */
  kind: Schema.Literal("requests", "tokens"),
  limit: Schema.String
}) {}

/**
 * A tenant's budget (the `Budget` policy) cannot hold the estimated cost of this call. Amounts in USD;
 * `resetsAt` is when the period ends (epoch milliseconds of Effect's `Clock`), absent for a rolling window
 * that nothing will leave. When the spend alone leaves room for the estimate and only the reservations of calls
 * in flight are in the way, it is retryable (`shouldRetry: true`) after a short `retryAfter`, without `resetsAt`.
 *
 * @since 0.2.0
 * @category policy
 */
export class BudgetExceeded extends Schema.TaggedError<BudgetExceeded>()("BudgetExceeded", {
  ...commonFields,
  tenant: Schema.String,
  limitUsd: Schema.Number,
  spentUsd: Schema.Number,
  reservedUsd: Schema.Number,
  /** The estimate that did not fit. */
  requestedUsd: Schema.Number,
  resetsAt: Schema.optional(Schema.Number)
}) {}

/**
 * The estimated cost of this one request exceeds the per-request cost guard (USD), or its model has no known
 * price while the guard needs one. Refused before any network call.
 *
 * @since 0.2.0
 * @category policy
 */
export class CostLimitExceeded extends Schema.TaggedError<CostLimitExceeded>()("CostLimitExceeded", {
  ...commonFields,
  tenant: Schema.String,
  limitUsd: Schema.Number,
  /** Absent when the model has no known price. */
  estimatedUsd: Schema.optional(Schema.Number)
}) {}

/**
 * A guardrail blocked the request (`stage: "input"`) or the answer (`stage: "output"`). When a stream was
 * blocked after content reached the caller, `partial` holds what was delivered. When a whole answer was
 * blocked, `usage` and `costUsd` are what the provider reported and what it cost: the call was made and paid for.
 *
 * @since 0.2.0
 * @category policy
 */
export class GuardrailBlocked extends Schema.TaggedError<GuardrailBlocked>()("GuardrailBlocked", {
  ...commonFields,
  stage: Schema.Literal("input", "output"),
  /** The name of the guardrail that blocked. */
  guardrail: Schema.String,
  reason: Schema.String,
  partial: Schema.optional(PartialResponse),
  /** The blocked answer's usage, in tokens, when the provider reported one. */
  usage: Schema.optional(Schema.Struct({
    inputTokens: Schema.Number,
    outputTokens: Schema.Number,
    totalTokens: Schema.Number
  })),
  /** The blocked answer's cost in USD, when priced (see `ChatResponse.costUsd`). */
  costUsd: Schema.optional(Schema.Number)
}) {}

/**
 * A policy could not reach the shared store that holds its state (Redis down or slow) and is configured to
 * fail closed: the call was refused rather than let through unchecked. Retryable: the store may be back soon
 * (`retryAfter` when the policy knows how soon).
 *
 * @since 0.2.0
 * @category policy
 */
export class PolicyUnavailable extends Schema.TaggedError<PolicyUnavailable>()("PolicyUnavailable", {
  ...commonFields,
  /** The policy that refused, e.g. `"budget"`, `"rate-limit"`, `"circuit-breaker"`. */
  policy: Schema.String,
  /**
   * Why its store could not answer (`"timed out"`, `"not connected"`, `"could not connect to redis://***@host:6379
   * ..."`): never a secret (passwords are masked), but it may name the store's host, so show it to operators,
   * not to end users (the gateway's error bodies do not carry it).
   */
  reason: Schema.String
}) {}

// ---------------------------------------------------------------------------------------------------------------
// the union
// ---------------------------------------------------------------------------------------------------------------

/**
 * Every error a `LanguageModel` call can fail with.
 *
 * @since 0.1.0
 * @category models
 */
export type LlmError =
  | InvalidRequest
  | AuthenticationFailed
  | NotFound
  | ContextLengthExceeded
  | ContentFiltered
  | QuotaExhausted
  | RateLimited
  | Overloaded
  | ServerError
  | Timeout
  | NetworkError
  | MalformedResponse
  | EmptyResponse
  | StreamInterrupted
  | CircuitOpen
  | RateLimitExceeded
  | BudgetExceeded
  | CostLimitExceeded
  | GuardrailBlocked
  | PolicyUnavailable

/**
 * The schema of the whole union, for encoding errors (e.g. to a cache or across processes).
 *
 * @since 0.1.0
 * @category schemas
 */
export const LlmError: Schema.Union<[
  typeof InvalidRequest,
  typeof AuthenticationFailed,
  typeof NotFound,
  typeof ContextLengthExceeded,
  typeof ContentFiltered,
  typeof QuotaExhausted,
  typeof RateLimited,
  typeof Overloaded,
  typeof ServerError,
  typeof Timeout,
  typeof NetworkError,
  typeof MalformedResponse,
  typeof EmptyResponse,
  typeof StreamInterrupted,
  typeof CircuitOpen,
  typeof RateLimitExceeded,
  typeof BudgetExceeded,
  typeof CostLimitExceeded,
  typeof GuardrailBlocked,
  typeof PolicyUnavailable
]> = Schema.Union(
  InvalidRequest,
  AuthenticationFailed,
  NotFound,
  ContextLengthExceeded,
  ContentFiltered,
  QuotaExhausted,
  RateLimited,
  Overloaded,
  ServerError,
  Timeout,
  NetworkError,
  MalformedResponse,
  EmptyResponse,
  StreamInterrupted,
  CircuitOpen,
  RateLimitExceeded,
  BudgetExceeded,
  CostLimitExceeded,
  GuardrailBlocked,
  PolicyUnavailable
)

/**
 * The `_tag` of every error.
 *
 * @since 0.1.0
 * @category models
 */
export type Tag = LlmError["_tag"]

/**
 * Who is at fault, and so who can fix it.
 *
 * @since 0.1.0
 * @category models
 */
export type Fault = "caller" | "provider" | "policy"

const faults: Record<Tag, Fault> = {
  InvalidRequest: "caller",
  AuthenticationFailed: "caller",
  NotFound: "caller",
  ContextLengthExceeded: "caller",
  ContentFiltered: "caller",
  QuotaExhausted: "caller",
  RateLimited: "provider",
  Overloaded: "provider",
  ServerError: "provider",
  Timeout: "provider",
  NetworkError: "provider",
  MalformedResponse: "provider",
  EmptyResponse: "provider",
  StreamInterrupted: "provider",
  CircuitOpen: "policy",
  RateLimitExceeded: "policy",
  BudgetExceeded: "policy",
  CostLimitExceeded: "policy",
  GuardrailBlocked: "policy",
  PolicyUnavailable: "policy"
}

const retryableTags: ReadonlySet<Tag> = new Set<Tag>([
  "PolicyUnavailable",
  "RateLimited",
  "Overloaded",
  "ServerError",
  "Timeout",
  "NetworkError"
])

/**
 * The fault domain of an error.
 *
 * @example
 * ```ts
 * import { LlmError } from "liter-llm"
 *
 * LlmError.fault(new LlmError.RateLimited({ provider: "openai", message: "slow down" })) // "provider"
 * ```
 *
 * @since 0.1.0
 * @category predicates
 */
export const fault = (error: LlmError): Fault => faults[error._tag]

/**
 * Whether a value is one of the `LlmError`s.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isLlmError = (u: unknown): u is LlmError =>
  Predicate.hasProperty(u, "_tag") && typeof u._tag === "string" && u._tag in faults && u instanceof Error

/**
 * Whether trying the same call again may succeed: `RateLimited`, `Overloaded`, `ServerError`, `Timeout` and
 * `NetworkError` are; the provider's `x-should-retry` header, when present, overrides the tag.
 *
 * @example
 * ```ts
 * import { LlmError } from "liter-llm"
 *
 * LlmError.isRetryable(new LlmError.ServerError({ provider: "openai", status: 500, message: "boom" })) // true
 * LlmError.isRetryable(new LlmError.ServerError({ provider: "openai", status: 500, message: "boom", shouldRetry: false })) // false
 * ```
 *
 * @since 0.1.0
 * @category predicates
 */
export const isRetryable = (error: LlmError): boolean => error.shouldRetry ?? retryableTags.has(error._tag)

/**
 * Whether errors of this tag are retryable by default (e.g. the `causeTag` of a `StreamInterrupted`).
 *
 * @since 0.1.0
 * @category predicates
 */
export const isRetryableTag = (tag: string): boolean => retryableTags.has(tag as Tag)

/**
 * The same error with the attempts of a fallback chain attached.
 *
 * @since 0.1.0
 * @category constructors
 */
export const withAttempts = <E extends LlmError>(error: E, attempts: ReadonlyArray<Attempt>): E =>
  copyWith(error, { attempts })

/**
 * The same error with its `partial` replaced, for a `StreamInterrupted` or a `GuardrailBlocked` that has one (any
 * other error is returned as is): what a stream stage that holds text back or rewrites it (an output guardrail)
 * says its caller was delivered, rather than what it received.
 *
 * @example
 * ```ts
 * import { LlmError } from "liter-llm"
 *
 * const received = new LlmError.StreamInterrupted({
 *   provider: "openai",
 *   message: "the stream was cut",
 *   causeTag: "NetworkError",
 *   partial: { text: "write to bob@exa", reasoning: "", toolCalls: [] }
 * })
 * LlmError.withPartial(received, { text: "write to ", reasoning: "", toolCalls: [] }).partial?.text // "write to "
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const withPartial = <E extends LlmError>(error: E, partial: PartialResponse): E =>
  (error._tag === "StreamInterrupted" || (error._tag === "GuardrailBlocked" && error.partial !== undefined))
    ? copyWith(error, { partial })
    : error

const copyWith = <E extends LlmError>(error: E, fields: object): E => {
  const copy = Object.create(Object.getPrototypeOf(error)) as E
  Object.assign(copy, error, fields)
  // `message` and `stack` are own, non-enumerable properties of an Error: Object.assign skips them.
  for (const key of ["message", "stack"]) {
    const descriptor = Object.getOwnPropertyDescriptor(error, key)
    if (descriptor !== undefined) Object.defineProperty(copy, key, descriptor)
  }
  return copy
}
