/**
 * The headers every gateway response carries: the request id (the client's, when it sent a sane one), who
 * answered (`x-liter-*`), and OpenAI's `x-ratelimit-*` headers from the tenant's limits.
 *
 * @since 0.2.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { randomUUID } from "node:crypto"
import type * as ChatResponse from "../../ChatResponse.js"
import type * as RateLimit from "../../RateLimit.js"
import type * as Runtime from "../Runtime.js"
import type { HeaderRecord } from "./respond.js"
import * as Usd from "./usd.js"

// Printable, no spaces or separators a log or header could choke on; long enough for a UUID or a trace id.
const saneId = /^[\w.:-]{1,128}$/

/**
 * The request id: the client's `x-request-id` when it is 1 to 128 characters of `[A-Za-z0-9_.:-]`, else a new
 * `req_<uuid>`.
 *
 * @since 0.2.0
 * @category request id
 */
export const requestId = (sent: string | undefined): string =>
  sent !== undefined && saneId.test(sent) ? sent : `req_${randomUUID().replaceAll("-", "")}`

/**
 * A duration as OpenAI writes its resets: `"20ms"`, `"1s"`, `"6m0s"`, `"1h2m3s"`.
 *
 * @since 0.2.0
 * @category rate limits
 */
export const formatReset = (millis: number): string => {
  const ms = Math.max(0, Math.ceil(millis))
  if (ms < 1000) return `${ms}ms`
  const totalSeconds = Math.ceil(ms / 1000)
  const hours = Math.floor(totalSeconds / 3600)
  const minutes = Math.floor((totalSeconds % 3600) / 60)
  const seconds = totalSeconds % 60
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`
  if (minutes > 0) return `${minutes}m${seconds}s`
  return `${seconds}s`
}

const addLimit = (headers: HeaderRecord, kind: "requests" | "tokens", remaining: RateLimit.Remaining | undefined) => {
  if (remaining === undefined) return
  headers[`x-ratelimit-limit-${kind}`] = String(remaining.limit)
  headers[`x-ratelimit-remaining-${kind}`] = String(remaining.remaining)
  headers[`x-ratelimit-reset-${kind}`] = formatReset(Duration.toMillis(remaining.resetAfter))
}

/**
 * OpenAI's `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` of a tenant's limits, added to `headers`.
 * A tenant without limits gets none; a store that cannot answer leaves them out rather than failing the request.
 *
 * @since 0.2.0
 * @category rate limits
 */
export const addRateLimits = (
  headers: HeaderRecord,
  usage: Runtime.Usage | undefined
): HeaderRecord => {
  const limits = usage?.rateLimits
  if (limits !== undefined) {
    addLimit(headers, "requests", limits.requests)
    addLimit(headers, "tokens", limits.tokens)
  }
  return headers
}

/**
 * Reads a tenant's usage for the rate-limit headers, once the call has been admitted (after a completion, or
 * once a stream's first part is known), so `remaining` counts this request as OpenAI's headers do; read
 * alongside the call, it could run before the limit took this request. `undefined` when the read fails or
 * takes over `timeoutMs`.
 *
 * @since 0.2.0
 * @category rate limits
 */
export const readUsage = (
  runtime: Runtime.Runtime,
  tenant: string,
  timeoutMs: number
): Effect.Effect<Runtime.Usage | undefined> =>
  Effect.catchAllCause(
    runtime.rateLimits === undefined
      ? runtime.usage(tenant)
      : Effect.map(runtime.rateLimits(tenant), (rateLimits): Runtime.Usage => ({ tenant, rateLimits })),
    () => Effect.succeed(undefined)
  ).pipe(Effect.timeoutOption(timeoutMs), Effect.map(Option.getOrUndefined))

/**
 * Outside printable ASCII (Node throws on a line break or a letter beyond Latin-1, and clients read Latin-1
 * bytes each their own way), or a `%`, which must be encoded too for the encoded form to read back unambiguously.
 */
const notPlainText = /[^\x20-\x24\x26-\x7e]/

/**
 * A value an upstream chose (the model name it answered with), as a header value: as is when it is printable
 * ASCII without `%`, else percent-encoded (`encodeURIComponent`, UTF-8), so an odd name never turns a good answer
 * into a failed write, nor into another header, and `decodeURIComponent` of an encoded one gives it back.
 *
 * @since 0.2.0
 * @category answers
 */
export const headerValue = (value: string): string => notPlainText.test(value) ? encodeURIComponent(value) : value

/**
 * The `x-liter-*` headers of a complete answer: provider and model that answered, attempts, cache status,
 * cost (USD, rounded as the usage endpoint's amounts are) and the time the gateway added (ms).
 *
 * @since 0.2.0
 * @category answers
 */
export const addAnswer = (
  headers: HeaderRecord,
  answer: {
    readonly provider: string
    readonly model: string
    readonly attempts: number
    readonly cached: boolean
    readonly costUsd: number | undefined
    readonly overheadMs: number | undefined
  }
): HeaderRecord => {
  if (answer.provider !== "") headers["x-liter-provider"] = headerValue(answer.provider)
  if (answer.model !== "") headers["x-liter-model"] = headerValue(answer.model)
  headers["x-liter-attempts"] = String(answer.attempts)
  headers["x-liter-cache"] = answer.cached ? "hit" : "miss"
  if (answer.costUsd !== undefined) headers["x-liter-cost-usd"] = Usd.text(answer.costUsd)
  if (answer.overheadMs !== undefined) headers["x-liter-overhead-ms"] = answer.overheadMs.toFixed(2)
  return headers
}

/**
 * The attempts a response reports: the provider attempts seen, at least 1 unless the cache answered.
 *
 * @since 0.2.0
 * @category answers
 */
export const attemptsOf = (seen: number, response: Pick<ChatResponse.ChatResponse, "cached">): number =>
  response.cached === true ? seen : Math.max(1, seen)
