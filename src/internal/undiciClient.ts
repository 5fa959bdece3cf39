/**
 * An `HttpClient` straight over an undici `Dispatcher`, for hot paths (see the public `UndiciClient` module).
 *
 * Why not the platform's `NodeHttpClient.layerUndici`: measured per streamed call, its `HttpClient.make`
 * wrapper (a `FinalizationRegistry` entry, an interruptible response wrapper that aborts an `AbortController`,
 * raising a `DOMException`, at the end of every body) and its `Readable`-to-`Stream` bridge cost about as much
 * as the rest of a liter-llm stream. Here the request is one `Effect.async` whose interruption aborts it, and a
 * body is read by a channel that takes what the socket has buffered in one `read()` loop per pull and waits
 * for `readable` only when there is nothing; ending the body early (interruption, a consumer that stops)
 * destroys it, which closes the connection.
 */
import * as Cookies from "@effect/platform/Cookies"
import * as Headers from "@effect/platform/Headers"
import type * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as IncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as UrlParams from "@effect/platform/UrlParams"
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Inspectable from "effect/Inspectable"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { Readable } from "node:stream"
import type * as Undici from "undici"
import * as NodeBody from "./nodeBody.js"

type Body = Exclude<Undici.Dispatcher.DispatchOptions["body"], undefined>

const requestBody = (body: HttpBody.HttpBody): Body | Effect.Effect<Body> => {
  switch (body._tag) {
    case "Empty":
      return null
    case "Uint8Array":
    case "Raw":
      return body.body as Uint8Array
    case "FormData":
      return body.formData as Undici.FormData
    case "Stream":
      // Not `@effect/platform-node`'s `toReadable`: that package stays an optional peer.
      return Effect.sync(() => Readable.from(Stream.toAsyncIterable(body.stream)))
  }
}

const transportError = (request: HttpClientRequest.HttpClientRequest, cause: unknown) =>
  new HttpClientError.RequestError({ request, reason: "Transport", cause })

const dispatch = (
  dispatcher: Undici.Dispatcher,
  request: HttpClientRequest.HttpClientRequest,
  url: URL,
  body: Body
): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.RequestError> =>
  Effect.async((resume) => {
    const controller = new AbortController()
    dispatcher.request({
      signal: controller.signal,
      method: request.method,
      headers: request.headers,
      origin: url.origin,
      path: url.pathname + url.search + url.hash,
      body
      // The dispatcher's `headersTimeout` and `bodyTimeout` (undici's default: 300 s each) stay, as the backstop
      // the caller's own deadlines (`Timeout`, on Effect's clock) may come before: without them, a stream whose
      // upstream stalls and that sets no deadline would hold its connection, and its caller, for ever.
    }).then(
      (source) => resume(Effect.succeed(new Response(request, source))),
      (cause) => resume(Effect.fail(transportError(request, cause)))
    )
    // Aborting also destroys a body that arrived after the interruption.
    return Effect.sync(() => controller.abort())
  })

// The clients `make` returned, not a client derived from one (a derived client may add spans or logs).
const unwrapped = new WeakSet<HttpClient.HttpClient>()

/**
 * Whether `client` is one `make` returned: it has no span and logs nothing, so it never reads the platform's
 * redacted header names, and a call through it need not set them.
 */
export const isUnwrapped = (client: HttpClient.HttpClient): boolean => unwrapped.has(client)

/** An `HttpClient` over `dispatcher`: no span of its own, no response wrapper. */
export const make = (dispatcher: Undici.Dispatcher): HttpClient.HttpClient => {
  const client = HttpClient.makeWith<never, never, HttpClientError.HttpClientError, never>(
    (effect) =>
      Effect.flatMap(effect, (request) => {
        const url = UrlParams.makeUrl(request.url, request.urlParams, request.hash)
        if (url._tag === "Left") {
          return Effect.fail(new HttpClientError.RequestError({ request, reason: "InvalidUrl", cause: url.left }))
        }
        const body = requestBody(request.body)
        return Effect.isEffect(body)
          ? Effect.flatMap(body, (body) => dispatch(dispatcher, request, url.right, body))
          : dispatch(dispatcher, request, url.right, body as Body)
      }),
    Effect.succeed
  )
  unwrapped.add(client)
  return client
}

type Pull<E> = Channel.Channel<Chunk.Chunk<Uint8Array>, unknown, E, unknown, void, unknown>

/**
 * The bytes of a Node `Readable` as a stream: each pull takes every buffered piece at once; the body is
 * destroyed if the stream ends before it does.
 */
export const readableStream = <E>(body: Readable, onError: (cause: unknown) => E): Stream.Stream<Uint8Array, E> =>
  Stream.suspend(() => {
    const reader = NodeBody.make(body)
    const pull: Pull<E> = Channel.suspend(() => {
      let pieces: Array<Uint8Array> | undefined
      let piece: Uint8Array | null
      while ((piece = body.read() as Uint8Array | null) !== null) (pieces ??= []).push(piece)
      if (pieces !== undefined) return Channel.zipRight(Channel.write(Chunk.unsafeFromArray(pieces)), pull)
      const failure = reader.failure()
      if (failure !== undefined) return Channel.fail(onError(failure.cause))
      if (reader.ended()) return Channel.void
      return Channel.zipRight(Channel.fromEffect(reader.wait), pull)
    })
    return Stream.fromChannel(Channel.ensuring(pull, reader.release))
  })

/** Reads a whole body with one of undici's body mixins; interruption destroys it. */
const readWhole = <A>(
  body: Readable,
  read: () => Promise<A>,
  onError: (cause: unknown) => HttpClientError.ResponseError
) =>
  Effect.async<A, HttpClientError.ResponseError>((resume) => {
    read().then((value) => resume(Effect.succeed(value)), (cause) => resume(Effect.fail(onError(cause))))
    return Effect.sync(() => body.destroy())
  })

class Response extends Inspectable.Class implements HttpClientResponse.HttpClientResponse {
  readonly [IncomingMessage.TypeId]: IncomingMessage.TypeId = IncomingMessage.TypeId
  readonly [HttpClientResponse.TypeId]: HttpClientResponse.TypeId = HttpClientResponse.TypeId
  private cachedHeaders: Headers.Headers | undefined
  private cachedCookies: Cookies.Cookies | undefined
  private cachedText: Effect.Effect<string, HttpClientError.ResponseError> | undefined
  private textRead: Promise<string> | undefined

  constructor(
    readonly request: HttpClientRequest.HttpClientRequest,
    readonly source: Undici.Dispatcher.ResponseData
  ) {
    super()
    // An error after the body is no longer read (a reset socket) must not be unhandled.
    source.body.on("error", ignore)
  }

  readonly decodeError = (cause: unknown) =>
    new HttpClientError.ResponseError({ request: this.request, response: this, reason: "Decode", cause })

  get status() {
    return this.source.statusCode
  }

  get headers(): Headers.Headers {
    return this.cachedHeaders ??= Headers.fromInput(this.source.headers as Headers.Input)
  }

  get cookies(): Cookies.Cookies {
    if (this.cachedCookies !== undefined) return this.cachedCookies
    const header = this.source.headers["set-cookie"]
    return this.cachedCookies = header === undefined
      ? Cookies.empty
      : Cookies.fromSetCookie(Array.isArray(header) ? header : [header])
  }

  get remoteAddress(): Option.Option<string> {
    return Option.none()
  }

  get stream(): Stream.Stream<Uint8Array, HttpClientError.ResponseError> {
    return readableStream(this.source.body, this.decodeError)
  }

  get text(): Effect.Effect<string, HttpClientError.ResponseError> {
    // Read once, and every later read gets the same text: one promise, not `Effect.cached` (a fiber to run it
    // and a memo, most of a JSON call's cost in this client).
    return this.cachedText ??= readWhole(
      this.source.body,
      () => this.textRead ??= this.source.body.text(),
      this.decodeError
    )
  }

  get json(): Effect.Effect<unknown, HttpClientError.ResponseError> {
    return Effect.flatMap(this.text, (text) =>
      Effect.try({
        try: () => text === "" ? null : JSON.parse(text) as unknown,
        catch: this.decodeError
      }))
  }

  get urlParamsBody(): Effect.Effect<UrlParams.UrlParams, HttpClientError.ResponseError> {
    return Effect.flatMap(this.text, (text) =>
      Effect.try({
        try: () => UrlParams.fromInput(new URLSearchParams(text)),
        catch: this.decodeError
      }))
  }

  get formData(): Effect.Effect<FormData, HttpClientError.ResponseError> {
    return readWhole(this.source.body, () => this.source.body.formData() as Promise<FormData>, this.decodeError)
  }

  get arrayBuffer(): Effect.Effect<ArrayBuffer, HttpClientError.ResponseError> {
    return readWhole(this.source.body, () => this.source.body.arrayBuffer(), this.decodeError)
  }

  toJSON(): unknown {
    return IncomingMessage.inspect(this, {
      _id: "@effect/platform/HttpClientResponse",
      request: this.request.toJSON(),
      status: this.status
    })
  }
}

const ignore = () => {}

/**
 * The Node body of a response of this client, with the error a failed read of it is (as its `stream` reports
 * it), for a reader that skips the `Stream` of bytes; `undefined` for any other client's response.
 */
export const nodeBody = (
  response: HttpClientResponse.HttpClientResponse
): { readonly body: Readable; readonly error: (cause: unknown) => HttpClientError.ResponseError } | undefined =>
  response instanceof Response ? { body: response.source.body, error: response.decodeError } : undefined
