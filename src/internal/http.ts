import * as Headers from "@effect/platform/Headers"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { Readable } from "node:stream"
import * as LlmError from "../LlmError.js"
import * as Timeout from "../Timeout.js"
import * as Decompress from "./decompress.js"
import * as Errors from "./errors.js"
import type * as HeaderUtils from "./headers.js"
import * as UndiciClient from "./undiciClient.js"

/** Header names that carry provider keys, added to the platform's redaction list for spans and logs. */
const secretHeaderNames: ReadonlyArray<string> = ["api-key", "x-goog-api-key"]

/** Runs an effect with every key-carrying header redacted in spans and logs of the HTTP client. */
export const withRedactedHeaders = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.locallyWith(self, Headers.currentRedactedNames, (names) => [...names, ...secretHeaderNames])

/** The error of a failed transport: a bad URL or body is the caller's; anything else is the network's. */
export const fromHttpClientError = (
  context: Errors.ErrorContext,
  error: HttpClientError.HttpClientError
): LlmError.LlmError => {
  const stalled = transportTimeout(error.cause)
  const description = error.description ?? (error.cause instanceof Error ? error.cause.message : undefined)
  const message = Errors.scrub(
    stalled !== undefined
      ? `${context.provider}: ${stalled}`
      : `${context.provider}: ${error.reason} error${description === undefined ? "" : `: ${description}`}`,
    context.secrets
  )
  return error.reason === "InvalidUrl" || error.reason === "Encode"
    ? new LlmError.InvalidRequest({ ...Errors.baseFields(context), message })
    : new LlmError.NetworkError({ ...Errors.baseFields(context), message })
}

/** The HTTP client's own backstop timeouts (undici's, 300 s by default), in words. */
const transportTimeouts: Readonly<Record<string, string>> = {
  UND_ERR_HEADERS_TIMEOUT: "no response headers within the HTTP client's headers timeout (undici's headersTimeout)",
  UND_ERR_BODY_TIMEOUT: "the body stalled past the HTTP client's body timeout (undici's bodyTimeout)"
}

const transportTimeout = (error: unknown): string | undefined => {
  for (let cause = error, depth = 0; cause instanceof Error && depth < 5; cause = cause.cause, depth++) {
    const code = (cause as { readonly code?: unknown }).code
    if (typeof code === "string" && Object.hasOwn(transportTimeouts, code)) return transportTimeouts[code]
  }
  return undefined
}

/**
 * When an error, or one of its causes, is a connection that ended before its response did: the innermost
 * cause's message (fetch's "terminated" wraps undici's "other side closed").
 */
const connectionClosed = (error: unknown): string | undefined => {
  let closed = false
  let innermost: string | undefined
  for (let cause = error, depth = 0; cause instanceof Error && depth < 5; cause = cause.cause, depth++) {
    const code = (cause as { readonly code?: unknown }).code
    closed ||= code === "UND_ERR_SOCKET" || code === "ECONNRESET" || code === "ERR_STREAM_PREMATURE_CLOSE" ||
      /^(terminated|aborted|other side closed|premature close)$/i.test(cause.message)
    innermost = cause.message
  }
  return closed ? innermost : undefined
}

/**
 * The error of a body that could not be read to its end: undici says "other side closed", fetch "terminated",
 * `node:http` "aborted"; all mean the connection closed before the body ended, which is what the message says.
 *
 * @since 0.1.0
 * @category errors
 */
export const fromBodyError = (
  context: Errors.ErrorContext,
  error: HttpClientError.HttpClientError
): LlmError.LlmError => {
  const cause = error.reason === "Decode" ? connectionClosed(error.cause) : undefined
  if (cause === undefined) return fromHttpClientError(context, error)
  return new LlmError.NetworkError({
    ...Errors.baseFields(context),
    message: Errors.scrub(
      `${context.provider}: the connection closed before the body ended (${cause})`,
      context.secrets
    )
  })
}

/**
 * How much of a failing response's body is read, once decoded: far more than any provider's error JSON.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxErrorBodyBytes = 64 * 1024

/**
 * How large a whole body may grow once decoded: a compressed body cannot make it exhaust memory.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxDecodedBodyBytes = 64 * 1024 * 1024

/** A body's bytes, decoded from its content-coding; the identity case is the transport's stream as it is. */
const bodyBytes = <E>(
  context: Errors.ErrorContext,
  response: HttpClientResponse.HttpClientResponse,
  headers: HeaderUtils.HeaderRecord,
  corrupt: (reason: string) => E,
  maxOutput?: number
): Stream.Stream<Uint8Array, LlmError.LlmError | E> => {
  const raw = Stream.mapError(response.stream, (error) => fromBodyError(context, error))
  const coding = Decompress.contentCoding(headers)
  return coding._tag === "Identity"
    ? raw
    : Decompress.decode<LlmError.LlmError | E, never>(raw, coding, { corrupt, maxOutput })
}

/** Reads at most `max` bytes of a stream (stopping the transfer there), as UTF-8 text. */
const readBounded = <E>(
  body: Stream.Stream<Uint8Array, E>,
  max: number
): Effect.Effect<{ readonly text: string; readonly exceeded: boolean }, E> =>
  Effect.map(
    Stream.runFoldWhile(
      body,
      { chunks: [] as Array<Uint8Array>, bytes: 0 },
      (read) => read.bytes <= max,
      (read, chunk) => {
        read.chunks.push(chunk)
        return { chunks: read.chunks, bytes: read.bytes + chunk.byteLength }
      }
    ),
    (read) => ({
      text: new TextDecoder().decode(Buffer.concat(read.chunks).subarray(0, max)),
      exceeded: read.bytes > max
    })
  )

/** The reason a body could not be decoded, kept apart from transport errors. */
class Undecodable {
  constructor(readonly reason: string) {}
}

/**
 * The body of a failing response as text, read up to {@link maxErrorBodyBytes}. A body that does not decode
 * is described rather than failed: the status still says what went wrong.
 */
const readErrorBody = (
  context: Errors.ErrorContext,
  response: HttpClientResponse.HttpClientResponse,
  headers: HeaderUtils.HeaderRecord
): Effect.Effect<string, LlmError.LlmError> =>
  readBounded(
    bodyBytes(context, response, headers, (reason) => new Undecodable(reason), maxErrorBodyBytes),
    maxErrorBodyBytes
  )
    .pipe(
      Effect.map((read) => read.text),
      Effect.catchIf(
        (error): error is Undecodable => error instanceof Undecodable,
        (error) => Effect.succeed(`[body not decoded: ${error.reason}]`)
      )
    )

/**
 * The body of a successful response as a stream of bytes, decoded from its content-coding.
 *
 * @since 0.1.0
 * @category reading
 */
export const bodyStream = (
  context: Errors.ErrorContext,
  ok: OkResponse
): Stream.Stream<Uint8Array, LlmError.LlmError> =>
  bodyBytes(
    context,
    ok.response,
    ok.headers,
    (reason) => Errors.malformed(context, reason, "", { status: ok.response.status, requestId: ok.requestId })
  )

/**
 * A successful body to read without a `Stream` of bytes: the Node body of a response of this library's undici
 * client (see `UndiciClient`) when it has no content-coding, with the `LlmError` of a failed read; `undefined`
 * otherwise (read {@link bodyStream}).
 */
export const nodeBody = (
  context: Errors.ErrorContext,
  ok: OkResponse
): { readonly body: Readable; readonly error: (cause: unknown) => LlmError.LlmError } | undefined => {
  if (Decompress.contentCoding(ok.headers)._tag !== "Identity") return undefined
  const node = UndiciClient.nodeBody(ok.response)
  return node === undefined
    ? undefined
    : { body: node.body, error: (cause) => fromBodyError(context, node.error(cause)) }
}

/**
 * A response whose status is below 400, with its headers read once: each read of `response.headers` of the
 * platform's undici client builds the record anew.
 */
export interface OkResponse {
  readonly response: HttpClientResponse.HttpClientResponse
  readonly headers: HeaderUtils.HeaderRecord
  readonly requestId: string | undefined
}

/**
 * Sends a request and waits for the response headers, within the `request` deadline. A failing status is
 * read (bounded) and mapped to its `LlmError`. Unless the caller set one, the request says which
 * content-codings the library decodes.
 */
export const send = (
  client: HttpClient.HttpClient,
  context: Errors.ErrorContext,
  classify: Errors.ClassifyError,
  request: HttpClientRequest.HttpClientRequest,
  deadline: Timeout.Timeouts["request"]
): Effect.Effect<OkResponse, LlmError.LlmError> =>
  client.execute(
    request.headers["accept-encoding"] === undefined
      ? HttpClientRequest.setHeader(request, "accept-encoding", Decompress.acceptEncoding)
      : request
  ).pipe(
    // Not for an unwrapped `UndiciClient`, which never reads them (a bracket per call saved).
    (sent) => UndiciClient.isUnwrapped(client) ? sent : withRedactedHeaders(sent),
    Effect.mapError((error) => fromHttpClientError(context, error)),
    Timeout.within(context, "request", deadline),
    Effect.flatMap((response) => {
      const headers = response.headers
      // Only a 2xx is an answer: a redirect the client did not follow (undici does not) is classified with the
      // errors (`MalformedResponse`, its status kept), not read as if it were one.
      return response.status >= 200 && response.status < 300
        ? Effect.succeed({ response, headers, requestId: Errors.requestIdOf(context, headers) })
        : Effect.flatMap(
          readErrorBody(context, response, headers),
          (bodyText) =>
            Effect.flatMap(Clock.currentTimeMillis, (now) =>
              Effect.fail(
                Errors.fromResponse(context, classify, { status: response.status, headers, bodyText }, now)
              ))
        )
    })
  )

/**
 * Reads a whole successful body as text, decoded from its content-coding; a cut connection is a
 * `NetworkError`, a body that does not decode (or decodes past {@link maxDecodedBodyBytes}) a
 * `MalformedResponse`.
 */
export const readText = (
  context: Errors.ErrorContext,
  ok: OkResponse
): Effect.Effect<string, LlmError.LlmError> => {
  const { response } = ok
  if (Decompress.contentCoding(ok.headers)._tag === "Identity") {
    return Effect.mapError(response.text, (error) => fromBodyError(context, error))
  }
  return Effect.flatMap(readBounded(bodyStream(context, ok), maxDecodedBodyBytes), (read) =>
    read.exceeded
      ? Effect.fail(
        Errors.malformed(context, `the decoded body exceeds ${maxDecodedBodyBytes} bytes`, read.text, {
          status: response.status,
          requestId: ok.requestId
        })
      )
      : Effect.succeed(read.text))
}

/**
 * Sends a request and reads a JSON body. For a non-streaming call the `request` deadline spans the whole
 * body: providers only send headers once the completion is written.
 */
export const sendJson = (
  client: HttpClient.HttpClient,
  context: Errors.ErrorContext,
  classify: Errors.ClassifyError,
  request: HttpClientRequest.HttpClientRequest,
  deadline: Timeout.Timeouts["request"]
): Effect.Effect<{ readonly json: unknown; readonly text: string; readonly ok: OkResponse }, LlmError.LlmError> =>
  send(client, context, classify, request, undefined).pipe(
    Effect.flatMap((ok) =>
      Effect.flatMap(readText(context, ok), (text) => {
        try {
          return Effect.succeed({ json: JSON.parse(text) as unknown, text, ok })
        } catch (cause) {
          return Effect.fail(
            Errors.malformed(context, `invalid JSON (${Errors.jsonParseReason(cause)})`, text, {
              status: ok.response.status,
              requestId: ok.requestId
            })
          )
        }
      })
    ),
    Timeout.within(context, "request", deadline)
  )
