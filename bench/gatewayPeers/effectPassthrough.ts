/**
 * The stack's own floor: what `@effect/platform` costs before any gateway work. Its Node server
 * (`NodeHttpServer.layer`, `HttpServer.serve` with the platform's request and response wrappers, middleware
 * and its span per request) reads each request's body and forwards it to the mock with an `HttpClient`, then
 * streams the answer back, status and content type included. No parsing, no policy. The client is the one the
 * gateway calls providers with (`UndiciClient`, an `HttpClient` over an undici `Agent`), so the two rows differ
 * by the gateway's own work and its server path, which bypasses the platform's `serve` (see `Server.layer`).
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Context, Effect, Layer } from "effect"
import * as Http from "node:http"
import * as UndiciClient from "../../src/UndiciClient.js"

/** Starts the pass-through to `options.upstream` (an origin) on a free loopback port; its port. */
export const start = (options: Record<string, unknown>): Promise<number> => {
  const upstream = String(options.upstream)
  const app = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const client = yield* HttpClient.HttpClient
    const body = new Uint8Array(yield* request.arrayBuffer)
    const type = request.headers["content-type"] ?? "application/json"
    const answer = yield* client.execute(
      HttpClientRequest.post(`${upstream}${request.url}`, {
        headers: { authorization: request.headers.authorization ?? "" },
        body: HttpBody.uint8Array(body, type)
      })
    )
    return HttpServerResponse.stream(answer.stream, {
      status: answer.status,
      contentType: answer.headers["content-type"]
    })
  }).pipe(Effect.catchAll(() => HttpServerResponse.empty({ status: 502 })))
  const served = HttpServer.serve(app).pipe(
    Layer.provide(UndiciClient.layer({ keepAliveTimeout: 60_000, connections: 2_048 })),
    Layer.provideMerge(
      NodeHttpServer.layer(() => Http.createServer({ keepAliveTimeout: 60_000, noDelay: true }), {
        host: "127.0.0.1",
        port: 0
      })
    )
  )
  return new Promise((resolve, reject) => {
    const program = Effect.gen(function*() {
      const context = yield* Layer.build(served)
      const address = Context.get(context, HttpServer.HttpServer).address
      if (address._tag !== "TcpAddress") return yield* Effect.dieMessage("expected a TCP address")
      resolve(address.port)
      return yield* Effect.never
    }).pipe(Effect.scoped)
    Effect.runPromise(program).catch(reject)
  })
}
