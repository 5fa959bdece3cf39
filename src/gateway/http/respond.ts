/**
 * Response builders of the gateway: JSON bodies, OpenAI error bodies, and the errors of the HTTP layer itself
 * (authentication, routing, body size), all in OpenAI's error JSON so that its SDKs raise the right class.
 *
 * @since 0.2.0
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Http from "node:http"
import type * as LlmError from "../../LlmError.js"
import * as Wire from "../wire/index.js"
import type * as StreamBody from "./streamBody.js"

/**
 * Headers as a plain record (lower-case names).
 *
 * @since 0.2.0
 * @category models
 */
export type HeaderRecord = Record<string, string>

/**
 * An answer, before it is written: status, headers (the content type among them) and a body, whole or the
 * `StreamBody` of a streamed one. Plain data, so that the same handlers serve the platform's `HttpApp` and the
 * server's own Node handler.
 *
 * @since 0.2.0
 * @category models
 */
export interface Answer {
  readonly status: number
  readonly headers: HeaderRecord
  readonly body: string | StreamBody.StreamBody
}

/**
 * The answer as the platform's response (for the gateway's `HttpApp`).
 *
 * @since 0.2.0
 * @category conversions
 */
export const toServerResponse = (answer: Answer): HttpServerResponse.HttpServerResponse =>
  typeof answer.body === "string"
    ? HttpServerResponse.raw(answer.body, { status: answer.status, headers: withLength(answer.headers, answer.body) })
    : HttpServerResponse.raw(answer.body.toReadable(), { status: answer.status, headers: answer.headers })

// A whole body's length, in the headers written before it (Node would send it chunked): the answer to a HEAD,
// whose body Node and the platform leave out, then says what GET would send, and keeps its connection.
const withLength = (headers: HeaderRecord, body: string): HeaderRecord => ({
  ...headers,
  "content-length": String(Buffer.byteLength(body))
})

/**
 * Writes the answer to a Node response; done when the body is written (a streamed body: when it has ended, or
 * the client left). Interrupting it stops the stream. A whole body goes with its `content-length`.
 *
 * @since 0.2.0
 * @category conversions
 */
export const write = (answer: Answer, response: Http.ServerResponse): Effect.Effect<void> => {
  if (response.writableEnded) return Effect.void
  const body = answer.body
  if (typeof body === "string") {
    writeHead(response, answer.status, withLength(answer.headers, body))
    response.end(body)
    return Effect.void
  }
  writeHead(response, answer.status, answer.headers)
  return body.writeTo(response)
}

// The reason phrase given, not left to Node: after a failed `writeHead` Node keeps the first one's ("500 OK").
const writeHead = (response: Http.ServerResponse, status: number, headers: HeaderRecord) =>
  response.writeHead(status, Http.STATUS_CODES[status] ?? "", headers)

/**
 * Writes a whole answer but leaves the response open until {@link end}: the client reads all of it at once (its
 * `content-length` says where it ends), and Node, which closes the socket of a `connection: close` answer as
 * soon as the response ends, keeps it open meanwhile. A streamed body is written as {@link write} does.
 *
 * @since 0.2.0
 * @category conversions
 */
export const writeHeld = (answer: Answer, response: Http.ServerResponse): Effect.Effect<void> => {
  const body = answer.body
  if (typeof body !== "string" || response.writableEnded) return write(answer, response)
  writeHead(response, answer.status, withLength(answer.headers, body))
  response.write(body)
  return Effect.void
}

/**
 * Ends a response left open by {@link writeHeld} (nothing if it has ended or its client left).
 *
 * @since 0.2.0
 * @category conversions
 */
export const end = (response: Http.ServerResponse): Effect.Effect<void> =>
  Effect.sync(() => {
    if (!response.writableEnded && !response.destroyed) response.end()
  })

/**
 * Runs a request's handling (`handled` writes its answer to `response`); a defect is logged and, unless the
 * answer has started, answered with a 500 in OpenAI's error JSON.
 *
 * @since 0.2.0
 * @category conversions
 */
export const orInternalError = <R>(
  handled: Effect.Effect<void, never, R>,
  response: Http.ServerResponse
): Effect.Effect<void, never, R> =>
  Effect.catchAllCause(handled, (cause) =>
    Cause.isInterruptedOnly(cause) ? Effect.failCause(cause) : Effect.zipRight(
      Effect.logError("gateway: a request failed unexpectedly", Cause.pretty(cause)),
      Effect.suspend(() =>
        response.headersSent ? Effect.sync(() => response.destroy()) : write(internalError({}), response)
      )
    ))

/**
 * A JSON response (the body stringified once, written as is).
 *
 * @since 0.2.0
 * @category constructors
 */
export const json = (body: unknown, status = 200, headers: HeaderRecord = {}): Answer =>
  jsonText(JSON.stringify(body), status, headers)

/**
 * A JSON response from text already stringified.
 *
 * @since 0.2.0
 * @category constructors
 */
export const jsonText = (text: string, status = 200, headers: HeaderRecord = {}): Answer => ({
  status,
  headers: { ...headers, "content-type": "application/json" },
  body: text
})

/**
 * An OpenAI error response: status, `type`, `code`, `param`, message.
 *
 * @since 0.2.0
 * @category constructors
 */
export const openAiError = (
  status: number,
  error: { readonly message: string; readonly type: string; readonly code: string | null; readonly param?: string },
  headers: HeaderRecord = {}
): Answer =>
  json(
    { error: { message: error.message, type: error.type, param: error.param ?? null, code: error.code } },
    status,
    headers
  )

/**
 * The response of an `LlmError` or `WireError`, with the wire's status and retry headers (see the error table of
 * the wire docs) and `extra` headers. `now` is epoch ms, for waits counted from it; `attempts`, the provider
 * attempts the route made (past one, a 5xx tells the SDKs not to retry).
 *
 * @since 0.2.0
 * @category constructors
 */
export const fromError = (
  error: LlmError.LlmError | Wire.WireError,
  now: number,
  extra: HeaderRecord = {},
  attempts?: number
): Answer => {
  const encoded = Wire.encodeError(error, { now, attempts })
  return json(encoded.body, encoded.status, { ...extra, ...encoded.headers })
}

/**
 * 500: the gateway failed (a defect), whatever the request; what failed is in its log, never in the answer.
 *
 * @since 0.2.0
 * @category constructors
 */
export const internalError = (extra: HeaderRecord): Answer =>
  openAiError(500, {
    message: "The gateway failed to answer this request.",
    type: "server_error",
    code: "internal_error"
  }, extra)

/** HTTP authentication schemes (IANA's registry, and common others): a client that sent one is told which. */
const knownSchemes: ReadonlySet<string> = new Set([
  "basic",
  "digest",
  "dpop",
  "gnap",
  "hoba",
  "mutual",
  "negotiate",
  "ntlm",
  "oauth",
  "privatetoken",
  "scram-sha-1",
  "scram-sha-256",
  "vapid",
  "token",
  "apikey",
  "aws4-hmac-sha256"
])

/**
 * 401: no key, a key in another scheme than `Bearer` (`Basic ...`), or a key no tenant has (OpenAI's
 * `invalid_api_key`, which its SDKs raise as `AuthenticationError`). The message never repeats the key.
 *
 * @since 0.2.0
 * @category constructors
 */
export const unauthorized = (
  extra: HeaderRecord,
  problem: { readonly _tag: "Missing" } | { readonly _tag: "OtherScheme"; readonly scheme: string } | {
    readonly _tag: "Incorrect"
  }
): Answer =>
  openAiError(401, {
    message: problem._tag === "Incorrect"
      ? "Incorrect API key provided."
      : `${
        problem._tag === "Missing"
          ? "Missing API key"
          // The scheme named only when it is a known one: the header's value may be a bare key.
          : knownSchemes.has(problem.scheme.toLowerCase())
          ? `The Authorization header uses the ${problem.scheme} scheme`
          : "The Authorization header is not a Bearer key"
      }: send the key as \`Authorization: Bearer <key>\` (or in an \`api-key\` header).`,
    type: "invalid_request_error",
    code: "invalid_api_key"
  }, { ...extra, "www-authenticate": "Bearer" })

/**
 * 403: the admin key on an endpoint that serves tenants (it reads usage; models are called with tenant keys).
 *
 * @since 0.2.0
 * @category constructors
 */
export const adminOnTenantEndpoint = (extra: HeaderRecord): Answer =>
  openAiError(403, {
    message: "The admin key reads usage; call models with a tenant's key.",
    type: "invalid_request_error",
    code: "permission_denied"
  }, extra)

/**
 * A name or path the client chose, as the gateway repeats it (the request log, a 404's message): at most 256
 * characters, so that the client does not set the size of what is written.
 *
 * @since 0.2.0
 * @category formatting
 */
export const clientText = (text: string): string => {
  if (text.length <= 256) return text
  // Not between the two halves of a character outside the BMP (an emoji): a lone half is no valid UTF-8.
  const high = text.charCodeAt(254)
  return `${text.slice(0, high >= 0xd800 && high <= 0xdbff ? 254 : 255)}…`
}

/**
 * 404 `model_not_found`: a route that does not exist or that this key may not use (the same answer for both,
 * so a key cannot probe which routes exist).
 *
 * @since 0.2.0
 * @category constructors
 */
export const modelNotFound = (model: string, extra: HeaderRecord): Answer =>
  openAiError(404, {
    message: `The model \`${clientText(model)}\` does not exist or you do not have access to it.`,
    type: "invalid_request_error",
    param: "model",
    code: "model_not_found"
  }, extra)

/**
 * 413: a body over the configured limit (bytes).
 *
 * @since 0.2.0
 * @category constructors
 */
export const tooLarge = (maxBytes: number, extra: HeaderRecord): Answer =>
  openAiError(413, {
    message: `The request body is larger than the ${maxBytes} bytes this gateway accepts.`,
    type: "invalid_request_error",
    code: "request_too_large"
  }, { ...extra, connection: "close" })

/**
 * 404 for a path the gateway does not serve, 405 for a method it does not accept there, with `allow` (a path
 * served with GET is served with HEAD too).
 *
 * @since 0.2.0
 * @category constructors
 */
export const noRoute = (method: string, path: string, allowed: string | undefined, extra: HeaderRecord) =>
  allowed === undefined
    ? openAiError(404, {
      message: `Unknown path: ${method} ${clientText(path)}`,
      type: "invalid_request_error",
      code: "unknown_url"
    }, extra)
    : openAiError(405, {
      message: `${method} is not allowed on ${clientText(path)}; use ${allowed}.`,
      type: "invalid_request_error",
      code: "method_not_allowed"
    }, { ...extra, allow: allowed === "GET" ? "GET, HEAD" : allowed })
