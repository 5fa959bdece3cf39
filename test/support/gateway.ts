/**
 * Gateways built by hand for tests: a `Runtime` from tenants, keys and route services (real provider layers over
 * `MockProvider`s, or `TestModel`s), served on a free loopback port.
 */
import * as HttpServer from "@effect/platform/HttpServer"
import { Context, Effect, Layer, Logger, Stream } from "effect"
import { createHash, timingSafeEqual } from "node:crypto"
import * as Net from "node:net"
import type * as Runtime from "../../src/gateway/Runtime.js"
import * as Server from "../../src/gateway/Server.js"
import * as LanguageModel from "../../src/LanguageModel.js"

/** A tenant key of the tests: distinctive, so a test can assert it never leaks. */
export const tenantKey = (tenant: string) => `lk-test-${tenant}-SECRETKEY-93b1`
export const adminKey = "lk-admin-SECRETKEY-5d2e"

const hash = (key: string) => createHash("sha256").update(key).digest()

export interface RuntimeOptions {
  readonly tenants: ReadonlyArray<{ readonly id: string; readonly models?: ReadonlyArray<string> | "*" }>
  readonly routes: Readonly<Record<string, LanguageModel.Service>>
  readonly settings?: Partial<Runtime.Settings>
  readonly usage?: (tenant: string) => Effect.Effect<Runtime.Usage>
  readonly ready?: Effect.Effect<boolean>
}

/** A runtime whose keys are {@link tenantKey} and {@link adminKey}, compared by hash in constant time. */
export const makeRuntime = (options: RuntimeOptions): Runtime.Runtime => {
  const tenants = options.tenants.map((tenant) => ({
    hash: hash(tenantKey(tenant.id)),
    tenant: { id: tenant.id, models: tenant.models ?? "*" } satisfies Runtime.Tenant
  }))
  const admin = hash(adminKey)
  const names = Object.keys(options.routes)
  const allowed = (tenant: Runtime.Tenant, model: string) =>
    tenant.models === "*" ? names.includes(model) : tenant.models.includes(model) && names.includes(model)
  return {
    settings: { maxBodyBytes: 1_000_000, dropUnsupported: false, logContent: false, ...options.settings },
    authenticate: (key) => {
      const presented = hash(key)
      let caller: Runtime.Caller | undefined
      for (const entry of tenants) {
        if (timingSafeEqual(entry.hash, presented)) caller = { _tag: "Tenant", tenant: entry.tenant }
      }
      if (timingSafeEqual(admin, presented)) caller = { _tag: "Admin" }
      return caller
    },
    models: (tenant) => names.filter((name) => allowed(tenant, name)),
    route: (tenant, model) => allowed(tenant, model) ? options.routes[model] : undefined,
    usage: options.usage ?? ((tenant) => Effect.succeed({ tenant })),
    ready: options.ready ?? Effect.succeed(true),
    tenants: options.tenants.map((tenant) => tenant.id)
  }
}

/** The `LanguageModel` service of a layer, built in the test's scope, with the other services it provides. */
export const build = <A>(layer: Layer.Layer<A | LanguageModel.LanguageModel>) =>
  Effect.map(Layer.build(layer), (context) => ({
    service: Context.get(context as Context.Context<LanguageModel.LanguageModel>, LanguageModel.LanguageModel),
    context: context as Context.Context<A>
  }))

/** A gateway over `runtime` on a free loopback port, for the test's scope; its base URL. */
export const serve = (
  runtime: Runtime.Runtime | Server.RuntimeSource,
  options: Omit<Server.LayerOptions, "runtime" | "port" | "host"> = {}
) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(Server.layer({ ...options, runtime, host: "127.0.0.1", port: 0 }))
    const address = Context.get(context, HttpServer.HttpServer).address
    if (address._tag !== "TcpAddress") return yield* Effect.dieMessage("expected a TCP address")
    return `http://127.0.0.1:${address.port}`
  })

/** Writes `text` on a raw connection to `base` and reads until the server closes it. */
export const rawExchange = (base: string, text: string) =>
  Effect.async<string>((resume) => {
    const socket = Net.connect(Number(new URL(base).port), "127.0.0.1", () => socket.write(text))
    let received = ""
    socket.on("data", (data) => received += data.toString())
    socket.on("close", () => resume(Effect.succeed(received)))
    return Effect.sync(() => socket.destroy())
  })

/** A `fetch` with a tenant's key. */
export const call = (base: string, path: string, init: RequestInit & { readonly key?: string | null } = {}) => {
  const { key = tenantKey("acme"), ...rest } = init
  const headers = new Headers(rest.headers)
  if (key !== null) headers.set("authorization", `Bearer ${key}`)
  if (rest.body !== undefined && !headers.has("content-type")) headers.set("content-type", "application/json")
  return Effect.promise(() => fetch(`${base}${path}`, { ...rest, headers }))
}

/** A chat completion body for `model` with one user message. */
export const chatBody = (model: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model, messages: [{ role: "user", content: "Capital of France?" }], ...extra })

/** A response's JSON body. */
export const json = (response: Response): Effect.Effect<any> => Effect.promise(() => response.json())

/**
 * A service whose calls run with `context` (the services its layer was built with, e.g. a budget's prices and
 * tokenizer), as a runtime built from a config serves its routes.
 */
export const withContext = <A>(service: LanguageModel.Service, context: Context.Context<A>): LanguageModel.Service => ({
  ...service,
  generate: (request) => Effect.provide(service.generate(request), context),
  stream: (request) => Stream.provideSomeContext(service.stream(request), context)
})

/** The SSE events of a body: `data` payloads (parsed unless `[DONE]`) and comments, in order. */
export const sseEvents = (text: string): Array<unknown> =>
  text.split("\n\n").filter((frame) => frame !== "").map((frame) => {
    if (frame.startsWith(":")) return { comment: frame.slice(1).trim() }
    const data = frame.slice("data: ".length)
    return data === "[DONE]" ? "[DONE]" : JSON.parse(data)
  })

/** Every log entry as a record: its message and annotations (the request log's fields). */
export const requestLogs = () => {
  const lines: Array<Record<string, unknown>> = []
  const logger = Logger.make(({ annotations, logLevel, message }) => {
    const fields: Record<string, unknown> = {
      message: Array.isArray(message) ? message.join(" ") : message,
      logLevel: logLevel.label
    }
    for (const [key, value] of annotations) fields[key] = value
    lines.push(fields)
  })
  return { lines, layer: Logger.replace(Logger.defaultLogger, logger) }
}
