/**
 * The `Runtime` of a loaded config: each route's service built once, with its policies around it, outermost
 * first: Guardrail → ContextWindow → Cache → RateLimit → Budget → Fallback / Router → CircuitBreaker →
 * provider. One instance of each policy serves every tenant: the tenant is the request's `metadata.tenant`.
 *
 * @since 0.2.0
 */
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Budget from "../Budget.js"
import * as Cache from "../Cache.js"
import * as ChatRequest from "../ChatRequest.js"
import * as ContextWindow from "../ContextWindow.js"
import * as Guardrail from "../Guardrail.js"
import * as EventLoop from "../internal/eventLoop.js"
import * as PolicyStream from "../internal/policyStream.js"
import * as Span from "../internal/span.js"
import * as LanguageModel from "../LanguageModel.js"
import * as LlmError from "../LlmError.js"
import * as Pricing from "../Pricing.js"
import * as RateLimit from "../RateLimit.js"
import * as Redis from "../Redis.js"
import * as UndiciClient from "../UndiciClient.js"
import * as Routes from "./buildRoutes.js"
import * as Stores from "./buildStores.js"
import type * as Config from "./Config.js"
import { defaults, InvalidConfig } from "./Config.js"
import { pathText } from "./configMessages.js"
import * as Keys from "./Keys.js"
import type * as Runtime from "./Runtime.js"

type Decoded = Config.Config
type Services = Stores.StoreServices | Pricing.Pricing

/**
 * The limiter namespace of the gateway's rate limits: one for every route, so a tenant's limits count all its
 * calls whatever the route.
 */
const rateLimitKey = "gateway"

/** Calls go to the route's first model: each step of a chain or router then sets its own. */
const withModel = (service: LanguageModel.Service, model: string): LanguageModel.Service => ({
  ...service,
  defaultModel: model,
  generate: (request) => service.generate({ ...request, model }),
  stream: LanguageModel.withPull(
    (request) => service.stream({ ...request, model }),
    (request) => LanguageModel.toPull(service, { ...request, model })
  )
})

/** Wraps a built service with a policy layer, built now (in the load's scope) over the stores of `context`. */
const around = (
  context: Context.Context<Services>,
  service: LanguageModel.Service,
  policy: (
    inner: Layer.Layer<LanguageModel.LanguageModel>
  ) => Layer.Layer<LanguageModel.LanguageModel, ConfigError.ConfigError, Services>
) =>
  Effect.map(
    Effect.provide(Layer.build(policy(Layer.succeed(LanguageModel.LanguageModel, service))), context),
    (built) => Context.get(built, LanguageModel.LanguageModel)
  )

/** Budgets: one `Budget` service per distinct per-request cost guard, each sharing the budget store. */
const makeBudgets = (config: Decoded) =>
  Effect.gen(function*() {
    const tenants = Object.entries(config.tenants ?? {})
    const globalGuard = config.budgets?.maxRequestCostUsd
    const limits = Object.fromEntries(
      tenants.flatMap(([id, tenant]) => tenant.budget === undefined ? [] : [[id, tenant.budget] as const])
    )
    const guardOf = (id: string) => config.tenants?.[id]?.maxRequestCostUsd ?? globalGuard
    const guards = new Set([globalGuard, ...tenants.map(([id]) => guardOf(id))])
    if (Object.keys(limits).length === 0 && [...guards].every((guard) => guard === undefined)) return undefined
    const byGuard = new Map<number | undefined, Budget.Service>()
    for (const guard of guards) {
      byGuard.set(
        guard,
        yield* Budget.make({
          tenants: limits,
          ...(guard === undefined ? {} : { maxRequestCostUsd: guard }),
          ...(config.budgets?.unpricedModels === undefined ? {} : { unpricedModels: config.budgets.unpricedModels }),
          ...(config.budgets?.reservationTimeout === undefined
            ? {}
            : { reservationTimeout: config.budgets.reservationTimeout })
        })
      )
    }
    return { of: (tenant: string) => byGuard.get(guardOf(tenant))!, guards: [...byGuard.values()] }
  })

const rateLimitOptions = (config: Decoded): RateLimit.Options | undefined => {
  const tenants = Object.fromEntries(
    Object.entries(config.tenants ?? {}).flatMap(([id, tenant]) =>
      tenant.rateLimit === undefined ? [] : [[id, tenant.rateLimit] as const]
    )
  )
  return Object.keys(tenants).length === 0 ? undefined : { tenants, key: rateLimitKey }
}

/** A deny list's options: its config section without `terms`, which `Guardrail.denyList` takes apart. */
const withoutTerms = <A extends { readonly terms: unknown }>({ terms: _terms, ...options }: A) => options

/**
 * Every role a chat message can have: behind the gateway the client writes every message, the system prompt and
 * the history too, so an input guardrail checks them all unless the config names fewer.
 */
const everyRole: ReadonlyArray<Guardrail.Role> = ["system", "user", "assistant", "tool"]

const guardrailOptions = (config: Decoded): Guardrail.Options | undefined => {
  const section = config.guardrails
  const of = (guards: NonNullable<Decoded["guardrails"]>["input"]) =>
    (guards ?? []).map((guard) =>
      guard.denyList !== undefined
        ? Guardrail.denyList(guard.denyList.terms, withoutTerms(guard.denyList))
        : Guardrail.redactPii(guard.pii ?? {})
    )
  if (section === undefined) return undefined
  const input = of(section.input)
  const output = of(section.output)
  if (input.length === 0 && output.length === 0) return undefined
  return { input, output, inputRoles: section.inputRoles ?? everyRole }
}

/**
 * What the request log shows as the prompt of a request an input guardrail blocked: nothing of what it blocked.
 *
 * @since 0.2.0
 * @category constants
 */
export const blockedPrompt = "[blocked by an input guardrail]"

/**
 * The prompt as the request log shows it, with input guardrails: the messages after their rewrites (a PII
 * redaction), as the provider is sent them, so that the log keeps nothing the guardrails keep from it. Run again,
 * only for a request whose prompt is logged.
 */
const loggedPrompt = (options: Guardrail.Options) => (request: ChatRequest.ChatRequest): Effect.Effect<unknown> =>
  Effect.match(Guardrail.checkInput(options, request), {
    onFailure: () => blockedPrompt,
    onSuccess: (checked) => checked.messages
  })

/** The error of a tenant's rate-limit status that its store cannot read. */
const rateLimitUnavailable = (tenant: string, reason: string) =>
  new LlmError.PolicyUnavailable({
    provider: "gateway",
    policy: "rate-limit",
    reason,
    retryAfter: Duration.seconds(1),
    message: `rate limit of tenant ${JSON.stringify(tenant)} unavailable: ${reason}`
  })

/**
 * Builds the runtime of a loaded config in the current scope (closing it releases the routes' connections).
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (
  loaded: Config.Loaded,
  stores: Stores.Stores
): Effect.Effect<Runtime.Runtime, ConfigError.ConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const { config } = loaded
    const pricing = yield* Pricing.make({
      ...(config.pricing?.dataset === undefined ? {} : { dataset: config.pricing.dataset }),
      ...(config.pricing?.models === undefined ? {} : { models: config.pricing.models })
    })
    const context: Context.Context<Services> = Context.add(stores.context, Pricing.Pricing, pricing)
    // The lean undici client: the platform's `NodeHttpClient.layerUndici` costs more per call than the rest of a
    // proxied stream (see docs/performance.md, "Gateway").
    const http = yield* Layer.build(UndiciClient.layer())
    // Policies read their stores when built (Budget, RateLimit) or when called (breakers, prices): both get these.
    // Each step over every tenant takes a while with many tenants (tenths of a second for 20 000): a reload lets
    // the requests it serves meanwhile in between.
    const budgets = yield* Effect.provide(makeBudgets(config), context)
    yield* EventLoop.nextTurn
    const rateLimits = rateLimitOptions(config)
    // Checked once for every route and every status read: checking a tenant's limits is O(tenants).
    const rateLimiter = rateLimits === undefined
      ? undefined
      : yield* Effect.provide(RateLimit.make(rateLimits), context)
    yield* EventLoop.nextTurn
    const guardrails = guardrailOptions(config)
    const cacheStore = config.cache === undefined ? undefined : yield* stores.cacheStore(config.cache)

    const ttl = config.cache?.ttl
    const services = new Map<string, LanguageModel.Service>()
    for (const [name, route] of Object.entries(config.models)) {
      yield* Effect.mapError(
        buildRoute(name, route),
        (error) => ConfigError.InvalidData(["models", name], `${pathText(["models", name])}: ${error.message}`)
      )
    }
    // A window from the price data is the model's own: an output reserve that fills it would refuse every request
    // (`ContextWindow.layer` checks a window given in its options itself).
    function outputFitsPricedWindows(route: Decoded["models"][string], maxOutputTokens: number | undefined) {
      for (const step of Routes.stepsOf(route)) {
        const provider = Routes.pricingProviderOf(step.provider, config.providers[step.provider]!)
        const window = pricing.price(step.model, provider)?.contextWindow
        if (maxOutputTokens !== undefined && window !== undefined && maxOutputTokens >= window) {
          return Effect.fail(ConfigError.InvalidData(
            ["contextWindow", "maxOutputTokens"],
            `contextWindow.maxOutputTokens (${maxOutputTokens}) must be smaller than the context window of ${step.model} at ${provider} (${window} tokens, from the prices): no room would be left for the input`
          ))
        }
      }
      return Effect.void
    }
    function buildRoute(name: string, route: Decoded["models"][string]) {
      return Effect.gen(function*() {
        // Built with the stores too: a breaker takes the registry it is built with (Redis: shared by every
        // instance), not the process's default one.
        const built = yield* Effect.map(
          Effect.provide(Layer.build(Routes.routeLayer(loaded, name, route)), Context.merge(http, context)),
          (built) => Context.get(built, LanguageModel.LanguageModel)
        )
        let service = built
        if (budgets !== undefined) {
          const inner = service
          const wrapped = new Map(budgets.guards.map((budget) => [budget, budget.wrap(inner)] as const))
          const pick = (request: ChatRequest.ChatRequest) => wrapped.get(budgets.of(ChatRequest.tenantOf(request)))!
          service = {
            ...inner,
            generate: (request) => pick(request).generate(request),
            stream: LanguageModel.withPull(
              (request) => pick(request).stream(request),
              (request) => LanguageModel.toPull(pick(request), request)
            )
          }
        }
        if (rateLimiter !== undefined) service = rateLimiter.wrap(service)
        if (cacheStore !== undefined && route.cache !== false) {
          service = yield* around(
            context,
            service,
            (inner) => Cache.layer(inner, { ...(ttl === undefined ? {} : { ttl }), store: cacheStore })
          )
        }
        if (config.contextWindow !== undefined) {
          const window = route.contextWindow ?? Routes.stepsOf(route)[0]?.contextWindow
          const options = { ...config.contextWindow, ...(window === undefined ? {} : { contextWindow: window }) }
          if (options.contextWindow === undefined) {
            yield* outputFitsPricedWindows(route, options.maxOutputTokens)
          }
          service = yield* around(context, service, (inner) => ContextWindow.layer(inner, options))
        }
        if (guardrails !== undefined) {
          service = yield* around(context, service, (inner) => Guardrail.layer(inner, guardrails))
        }
        services.set(name, PolicyStream.provided(withModel(service, Routes.stepsOf(route)[0]!.model), context))
      })
    }

    yield* EventLoop.nextTurn
    const routeNames = [...services.keys()]
    const tenants = new Map<string, Runtime.Tenant>(
      Object.entries(config.tenants ?? {}).map(([id, tenant]) => [id, { id, models: tenant.models }])
    )
    const admin: Runtime.Caller = { _tag: "Admin" }
    const callers = Keys.makeTable<Runtime.Caller>([
      ...(config.admin?.keys ?? []).map((hash) => [hash, admin] as const),
      ...Object.entries(config.tenants ?? {}).flatMap(([id, tenant]) =>
        tenant.keys.map((hash) => [hash, { _tag: "Tenant", tenant: tenants.get(id)! }] as const)
      )
    ])
    const allowed = (tenant: Runtime.Tenant, model: string) => tenant.models === "*" || tenant.models.includes(model)

    // Own keys only: a tenant named `constructor` must not find `Object` on the prototype.
    const rateLimited = (tenant: string) =>
      rateLimits?.tenants !== undefined && Object.hasOwn(rateLimits.tenants, tenant) &&
      rateLimits.tenants[tenant] !== undefined
    const rateLimitsOf = (tenant: string) =>
      rateLimited(tenant)
        ? rateLimiter!.status({ tenant }).pipe(
          // A limit that cannot be read is unavailable, not absent: a store outage is not reported as "no limits".
          Effect.mapError((error) =>
            rateLimitUnavailable(tenant, error.cause instanceof Redis.RedisError ? error.cause.reason : error.message)
          )
        )
        : Effect.succeed(undefined)
    const usage = (tenant: string): Effect.Effect<Runtime.Usage, LlmError.PolicyUnavailable> =>
      Effect.gen(function*() {
        const budget = budgets === undefined ? undefined : yield* budgets.of(tenant).status(tenant)
        const rates = yield* rateLimitsOf(tenant)
        return {
          tenant,
          ...(budget === undefined ? {} : { budget }),
          ...(rates === undefined ? {} : { rateLimits: rates })
        }
      }).pipe(Effect.provide(context), Span.withSpan("Runtime.usage"))

    const runtime: Runtime.Runtime = {
      settings: {
        maxBodyBytes: config.server?.maxBodyBytes ?? defaults.maxBodyBytes,
        dropUnsupported: config.server?.dropUnsupported ?? false,
        logContent: config.server?.logContent ?? false
      },
      authenticate: (key) => callers.lookup(key),
      models: (tenant) => routeNames.filter((name) => allowed(tenant, name)),
      route: (tenant, model) => allowed(tenant, model) ? services.get(model) : undefined,
      usage,
      rateLimited,
      rateLimits: (tenant) => Span.withSpan("Runtime.rateLimits")(rateLimitsOf(tenant)),
      ready: stores.ping,
      tenants: [...tenants.keys()],
      pricing,
      ...(guardrails?.input === undefined || guardrails.input.length === 0
        ? {}
        : { loggedPrompt: loggedPrompt(guardrails) })
    }
    return runtime
  })

/**
 * Builds the runtime of a loaded config as the gateway does when it starts, over fresh memory stores (no Redis is
 * connected, no provider called), then closes it: whatever its layers refuse (a key with a line break, a Gemini
 * `apiVersion` that is no path segment, an Anthropic one that cannot be a header...) refuses the config here, with
 * the message the gateway would stop with. `check-config` runs it, so that a config it accepts is one the gateway accepts.
 *
 * @since 0.2.0
 * @category checks
 */
export const check = (loaded: Config.Loaded): Effect.Effect<void, InvalidConfig> =>
  Effect.scoped(Effect.flatMap(Stores.makeMemory, (memory) => make(loaded, Stores.inMemory(memory)))).pipe(
    Effect.asVoid,
    Effect.mapError((error) => new InvalidConfig({ source: loaded.source, errors: [error.message] }))
  )
