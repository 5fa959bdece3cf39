/**
 * The checks of a decoded config that its schema cannot make: names that refer to other entries, keys used
 * twice, fields that only make sense together. Every problem is reported, each with its path.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ChatRequest from "../ChatRequest.js"
import * as HttpOptions from "../internal/httpOptions.js"
import * as Text from "../internal/text.js"
import * as Pricing from "../Pricing.js"
import type * as Config from "./Config.js"
import * as Messages from "./configMessages.js"

type Decoded = Config.Config
type Route = Decoded["models"][string]

const quoted = (names: Iterable<string>): string => [...names].map((name) => Text.escapedJson(name)).join(", ")

/** A name in a message: quoted, escaped, and cut (a long one would be most of the line). */
const shownName = (name: string): string => Text.escapedJson(name.length > 40 ? `${name.slice(0, 40)}...` : name)

/**
 * Why a route name is refused: a client sends it as `model`, which the gateway refuses empty, and it is a label in
 * metrics, logs and breaker keys, where a control or invisible character would garble or forge what is shown. The
 * tenant names' rules (see `ChatRequest.tenantIssue`) but their length: model names have no bound.
 */
const routeIssue = (name: string): string | undefined => {
  const issue = Text.labelIssue(name)
  return issue === "is empty or blank" ? `${issue}: no client can call it` : issue
}

/**
 * The names of a section refused by `issue`, one line each. Checked here, on every name the file gives, rather than
 * by the schema: a filter on the section would run only once each of its entries is valid.
 */
const checkNames = (
  section: string,
  what: string,
  names: ReadonlyArray<string> | undefined,
  issue: (name: string) => string | undefined,
  problems: Array<string>
): void => {
  for (const name of names ?? []) {
    const found = issue(name)
    if (found !== undefined) {
      problems.push(`${section}: ${shownName(name)} cannot be a ${what} name (it ${found}): rename it`)
    }
  }
}

// The types whose layer takes an `apiVersion` (the others refuse it as an unknown option).
const apiVersionTypes: ReadonlyArray<Config.Config["providers"][string]["type"]> = ["azure", "anthropic", "gemini"]

/**
 * A provider's fields that the schema takes as strings, checked as its layer checks them when the gateway starts
 * (the same functions): its base URL, its headers' names and values (a value never shown).
 */
const providers = (config: Decoded, problems: Array<string>): void => {
  for (const [name, provider] of Object.entries(config.providers)) {
    const at = Messages.pathText(["providers", name])
    if (provider.baseUrl !== undefined) {
      const url = HttpOptions.parseBaseUrl(provider.baseUrl, "use apiKeyEnv")
      if (Either.isLeft(url)) problems.push(`${at}.baseUrl: ${url.left}, got ${HttpOptions.shown(provider.baseUrl)}`)
    }
    for (const [header, value] of Object.entries(provider.headers ?? {})) {
      const headerAt = Messages.pathText(["providers", name, "headers", header])
      const issue = !HttpOptions.isHeaderName(header)
        ? "is not an HTTP header name"
        : HttpOptions.isClientHeader(header)
        ? "cannot be set: the HTTP client sets it (a header of the connection or of the body's framing)"
        : HttpOptions.headerValueIssue(value)
      if (issue !== undefined) problems.push(`${headerAt}: ${issue}`)
    }
    if (provider.type === "azure" && provider.baseUrl === undefined) {
      problems.push(`${at}.baseUrl: required for type "azure" (the resource endpoint, https://<name>.openai.azure.com)`)
    }
    if (provider.type !== "openai-compatible" && provider.apiKeyEnv === undefined) {
      problems.push(`${at}.apiKeyEnv: required for type "${provider.type}" (the NAME of the variable holding the key)`)
    }
    if (provider.deployment !== undefined && provider.type !== "azure") {
      problems.push(`${at}.deployment: only for type "azure"`)
    }
    if (provider.apiVersion !== undefined && !apiVersionTypes.includes(provider.type)) {
      problems.push(`${at}.apiVersion: only for types ${apiVersionTypes.map((type) => `"${type}"`).join(", ")}`)
    }
  }
}

/** The steps of a route with their paths, or a problem with its shape. */
const stepsOf = (
  at: string,
  route: Route
): Array<readonly [string, { readonly provider: string; readonly model: string }]> | string => {
  const kinds = [
    route.provider !== undefined || route.model !== undefined,
    route.fallback !== undefined,
    route.router !== undefined
  ].filter(Boolean).length
  if (kinds !== 1) {
    return `${at}: give exactly one of provider + model, fallback, or router`
  }
  if (route.fallback !== undefined) return route.fallback.map((step, i) => [`${at}.fallback[${i}]`, step] as const)
  if (route.router !== undefined) {
    return route.router.deployments.map((step, i) => [`${at}.router.deployments[${i}]`, step] as const)
  }
  if (route.provider === undefined) return `${at}.provider: required with model`
  if (route.model === undefined) return `${at}.model: required with provider`
  return [[at, { provider: route.provider, model: route.model }]]
}

/**
 * The names a file gives its providers and routes, valid or not; `undefined` where the section is not a mapping
 * (its references are not checked: the section's own error says enough).
 *
 * @since 0.2.0
 * @category models
 */
export interface Names {
  readonly providers: ReadonlyArray<string> | undefined
  readonly models: ReadonlyArray<string> | undefined
  readonly tenants?: ReadonlyArray<string> | undefined
}

const routes = (config: Decoded, names: Names, problems: Array<string>): void => {
  const known = names.providers
  for (const [name, route] of Object.entries(config.models)) {
    const at = Messages.pathText(["models", name])
    const steps = stepsOf(at, route)
    if (typeof steps === "string") {
      problems.push(steps)
      continue
    }
    for (const [path, step] of steps) {
      if (known !== undefined && !known.includes(step.provider)) {
        problems.push(
          `${path}.provider: unknown provider ${Text.escapedJson(step.provider)}${
            known.length === 0 ? "" : ` (known: ${quoted(known)})`
          }`
        )
      }
    }
    const names = new Set<string>()
    for (const [i, deployment] of (route.router?.deployments ?? []).entries()) {
      const deploymentName = deployment.name ?? deployment.provider
      if (names.has(deploymentName)) {
        problems.push(
          `${at}.router.deployments[${i}].name: ${
            Text.escapedJson(deploymentName)
          } is used twice in this router: name each deployment`
        )
      }
      names.add(deploymentName)
    }
  }
}

const tenants = (config: Decoded, names: Names, problems: Array<string>): void => {
  const owners = new Map<string, string>()
  const claim = (hash: string, at: string) => {
    const first = owners.get(hash)
    if (first === undefined) owners.set(hash, at)
    else problems.push(`${at}: the same key as ${first} (every key must belong to one caller)`)
  }
  for (const [i, hash] of (config.admin?.keys ?? []).entries()) claim(hash, `admin.keys[${i}]`)
  const known = names.models
  for (const [name, tenant] of Object.entries(config.tenants ?? {})) {
    const at = Messages.pathText(["tenants", name])
    for (const [i, hash] of tenant.keys.entries()) claim(hash, `${at}.keys[${i}]`)
    const listed = new Set<string>()
    for (const [i, model] of (tenant.models === "*" ? [] : tenant.models).entries()) {
      if (listed.has(model)) {
        problems.push(`${at}.models[${i}]: ${Text.escapedJson(model)} is listed twice: list each route once`)
      } else if (known !== undefined && !known.includes(model)) {
        problems.push(
          `${at}.models[${i}]: unknown model ${Text.escapedJson(model)}${
            known.length === 0 ? "" : ` (routes: ${quoted(known)})`
          }`
        )
      }
      listed.add(model)
    }
    const rateLimit = tenant.rateLimit
    if (rateLimit !== undefined && rateLimit.requests === undefined && rateLimit.tokens === undefined) {
      problems.push(`${at}.rateLimit: give requests, tokens or both`)
    }
  }
}

const guardrails = (config: Decoded, problems: Array<string>): void => {
  for (const stage of ["input", "output"] as const) {
    for (const [i, guard] of (config.guardrails?.[stage] ?? []).entries()) {
      if ((guard.denyList === undefined) === (guard.pii === undefined)) {
        problems.push(`guardrails.${stage}[${i}]: give exactly one of denyList or pii`)
      }
    }
  }
}

/**
 * Every cross-reference problem of a decoded config (or of the valid parts of a refused one, with the names
 * its file gives), `path: message` each; empty when there is none.
 *
 * @since 0.2.0
 * @category checks
 */
export const references = (
  config: Decoded,
  names: Names = {
    providers: Object.keys(config.providers),
    models: Object.keys(config.models),
    tenants: Object.keys(config.tenants ?? {})
  }
): Array<string> => {
  const problems: Array<string> = []
  if (names.models?.length === 0) problems.push("models: no model route: define at least one")
  checkNames("models", "route", names.models, routeIssue, problems)
  // A provider's name is a label too (metrics, logs, breaker keys, the price of an openai-compatible server), and
  // the name a route refers to it by: a blank or padded one is a mistake no reference would show.
  checkNames("providers", "provider", names.providers, (name) => Text.labelIssue(name), problems)
  // A tenant's name is the `metadata.tenant` of its calls, which the gateway sets without decoding the request
  // again: a name the request validation would refuse (empty, padded, too long) is refused here, at load.
  checkNames("tenants", "tenant", names.tenants, ChatRequest.tenantIssue, problems)
  providers(config, problems)
  routes(config, names, problems)
  tenants(config, names, problems)
  guardrails(config, problems)
  return problems
}

/** A model's output bound as its price gives it, from `Pricing`. */
type PriceOf = (
  model: string,
  provider: string
) => { readonly maxOutputTokens?: number | undefined; readonly contextWindow?: number | undefined } | undefined

/**
 * Warnings (not errors) of a valid config: a tenant whose `models` is an empty list (its keys can call no model,
 * only read their usage), and, for a budgeted tenant:
 * - a model it may call has no price (the bundled dataset prices public models at their own providers, not an
 *   `openai-compatible` server), unless `budgets.unpricedModels` is `allow`: its budget cannot hold that model's
 *   cost, so every request to it is refused (400);
 * - a priced model whose price has neither `maxOutputTokens` nor `contextWindow`: its budget cannot bound such a
 *   call's cost, so every request without `max_tokens` to it is refused (400).
 *
 * @since 0.2.0
 * @category checks
 */
export const warnings = (config: Decoded, priceOf: PriceOf): Array<string> => {
  const found: Array<string> = []
  for (const [name, tenant] of Object.entries(config.tenants ?? {})) {
    const at = Messages.pathText(["tenants", name])
    if (tenant.models !== "*" && tenant.models.length === 0) {
      found.push(`${at}: models is an empty list: its keys can call no model, only read their usage`)
    }
    if (tenant.budget === undefined) continue
    const routeNames = tenant.models === "*" ? Object.keys(config.models) : tenant.models
    const unbounded = new Set<string>()
    const unpriced = new Set<string>()
    for (const routeName of routeNames) {
      const route = config.models[routeName]
      const steps = route === undefined ? [] : stepsOf(Messages.pathText(["models", routeName]), route)
      for (const [, step] of typeof steps === "string" ? [] : steps) {
        const provider = config.providers[step.provider]
        if (provider === undefined) continue
        // The layers price a compatible server under its own name, the others under their type.
        const price = priceOf(step.model, provider.type === "openai-compatible" ? step.provider : provider.type)
        if (price === undefined) {
          if (config.budgets?.unpricedModels !== "allow") unpriced.add(`${step.provider}/${step.model}`)
        } else if (price.maxOutputTokens === undefined && price.contextWindow === undefined) {
          unbounded.add(step.model)
        }
      }
    }
    if (unpriced.size > 0) {
      found.push(
        `${at}: budgeted, but ${quoted(unpriced)} ${unpriced.size === 1 ? "has" : "have"} no price: ${
          unpriced.size === 1 ? "its" : "their"
        } requests will be refused (price them in pricing.models, or set budgets.unpricedModels: allow)`
      )
    }
    if (unbounded.size > 0) {
      found.push(
        `${at}: budgeted, but the price of ${quoted(unbounded)} has neither maxOutputTokens nor ` +
          "contextWindow: its requests without max_tokens will be refused (set them in pricing.models)"
      )
    }
  }
  return found
}

/**
 * {@link warnings} with the config's own prices (its dataset and `pricing.models`), as `check-config`, a start
 * and a reload report them. Prices are loaded (the bundled data: about 2 s) only when a tenant has a budget.
 *
 * @since 0.2.0
 * @category checks
 */
export const configWarnings = (config: Config.Config): Effect.Effect<Array<string>> =>
  Effect.map(
    Object.values(config.tenants ?? {}).every((tenant) => tenant.budget === undefined)
      ? Effect.sync(() => warnings(config, () => undefined))
      : Pricing.make({
        ...(config.pricing?.dataset === undefined ? {} : { dataset: config.pricing.dataset }),
        ...(config.pricing?.models === undefined ? {} : { models: config.pricing.models })
      }).pipe(
        Effect.map((pricing) => warnings(config, pricing.price)),
        Effect.orElseSucceed(() => [])
      ),
    // The same warning for many tenants (none of them priced) is said once, with their count.
    (found) =>
      Messages.sameText(found).map(({ line, others }) =>
        others.length === 0 ? line : `${line} (${Messages.morePaths(others)})`
      )
  )
