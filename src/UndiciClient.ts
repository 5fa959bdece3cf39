/**
 * An `HttpClient` straight over an undici `Dispatcher`: the same `HttpClient` service the provider layers take,
 * with less work per call than `NodeHttpClient.layerUndici`. No response wrapper, `FinalizationRegistry` entry
 * or `AbortController` abort at the end of each body, and no `http.client` span (a provider's `chat <model>`
 * span covers the call); a streamed SSE body is decoded straight from the socket's buffer. Interrupting a call
 * aborts its request, and a body left unread is destroyed, which closes its connection. Node only; it needs
 * `undici` (a dependency of this package), not `@effect/platform-node`.
 *
 * @since 0.2.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Undici from "undici"
import * as internal from "./internal/undiciClient.js"

/**
 * An `HttpClient` sending every request through `dispatcher` (an undici `Agent`, `Pool` or `ProxyAgent`).
 *
 * @example
 * ```ts
 * import { Agent } from "undici"
 * import { UndiciClient } from "liter-llm"
 *
 * const client = UndiciClient.make(new Agent({ connections: 128 }))
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const make: (dispatcher: Undici.Dispatcher) => HttpClient.HttpClient = internal.make

/**
 * The `HttpClient` over an undici `Agent` of its own, closed with the layer. `options` are the `Agent`'s
 * (connections per origin, keep-alive, TLS).
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { LanguageModel, OpenAi, UndiciClient } from "liter-llm"
 *
 * const Model = OpenAi.layerConfig().pipe(Layer.provide(UndiciClient.layer()))
 * const program = LanguageModel.generate({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hello" }] })
 * Effect.runPromise(program.pipe(Effect.provide(Model)))
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (options?: Undici.Agent.Options): Layer.Layer<HttpClient.HttpClient> =>
  Layer.scoped(
    HttpClient.HttpClient,
    Effect.map(
      Effect.acquireRelease(
        Effect.sync(() => new Undici.Agent(options)),
        (agent) => Effect.promise(() => agent.destroy())
      ),
      make
    )
  )
