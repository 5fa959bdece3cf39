import * as Headers from "@effect/platform/Headers"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as LlmError from "../LlmError.js"
import * as Timeout from "../Timeout.js"
import * as Errors from "./errors.js"
import * as HeaderUtils from "./headers.js"

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
  const description = error.description ?? (error.cause instanceof Error ? error.cause.message : undefined)
  const message = Errors.scrub(
    `${context.provider}: ${error.reason} error${description === undefined ? "" : `: ${description}`}`,
    context.secrets
  )
  return error.reason === "InvalidUrl" || error.reason === "Encode"
    ? new LlmError.InvalidRequest({ ...Errors.baseFields(context), message })
    : new LlmError.NetworkError({ ...Errors.baseFields(context), message })
}

/** A response whose status is below 400. */
export interface OkResponse {
  readonly response: HttpClientResponse.HttpClientResponse
  readonly requestId: string | undefined
}

/**
 * Sends a request and waits for the response headers, within the `request` deadline. A failing status is
 * read in full and mapped to its `LlmError`.
 */
export const send = (
  client: HttpClient.HttpClient,
  context: Errors.ErrorContext,
  classify: Errors.ClassifyError,
  request: HttpClientRequest.HttpClientRequest,
  deadline: Timeout.Timeouts["request"]
): Effect.Effect<OkResponse, LlmError.LlmError> =>
  client.execute(request).pipe(
    withRedactedHeaders,
    Effect.mapError((error) => fromHttpClientError(context, error)),
    Timeout.within(context, "request", deadline),
    Effect.flatMap((response) =>
      response.status < 400
        ? Effect.succeed({ response, requestId: HeaderUtils.requestIdFromHeaders(response.headers) })
        : Effect.flatMap(
          readText(context, response),
          (bodyText) =>
            Effect.flatMap(Clock.currentTimeMillis, (now) =>
              Effect.fail(
                Errors.fromResponse(context, classify, {
                  status: response.status,
                  headers: response.headers,
                  bodyText
                }, now)
              ))
        )
    )
  )

/** Reads a whole body as text; a cut connection is a `NetworkError`. */
export const readText = (
  context: Errors.ErrorContext,
  response: HttpClientResponse.HttpClientResponse
): Effect.Effect<string, LlmError.LlmError> =>
  Effect.mapError(response.text, (error) => fromHttpClientError(context, error))

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
      Effect.flatMap(readText(context, ok.response), (text) => {
        try {
          return Effect.succeed({ json: JSON.parse(text) as unknown, text, ok })
        } catch (cause) {
          return Effect.fail(
            Errors.malformed(context, `invalid JSON (${(cause as Error).message})`, text, {
              status: ok.response.status,
              requestId: ok.requestId
            })
          )
        }
      })
    ),
    Timeout.within(context, "request", deadline)
  )
