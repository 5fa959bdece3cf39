/**
 * The `LanguageModel` Layer of each model route of a config: its providers (each step with its own model, retry
 * and timeouts, guarded by a breaker when its provider has one), as one provider, a `Fallback` chain, or a
 * `Router` of deployments. Policies go around these in `buildRuntime`.
 *
 * @since 0.2.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as ConfigError from "effect/ConfigError"
import type * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import * as CircuitBreaker from "../CircuitBreaker.js"
import * as Fallback from "../Fallback.js"
import type * as LanguageModel from "../LanguageModel.js"
import * as Anthropic from "../providers/Anthropic.js"
import * as Cohere from "../providers/Cohere.js"
import * as Gemini from "../providers/Gemini.js"
import * as OpenAi from "../providers/OpenAi.js"
import * as Retry from "../Retry.js"
import * as Router from "../Router.js"
import type * as Timeout from "../Timeout.js"
import type * as Config from "./Config.js"

type Decoded = Config.Config
type Provider = Decoded["providers"][string]
type Route = Decoded["models"][string]
type RetryInput = NonNullable<Provider["retry"]>
type TimeoutInput = NonNullable<Provider["timeout"]>

/**
 * A route's layer, over an `HttpClient`.
 *
 * @since 0.2.0
 * @category models
 */
export type RouteLayer = Layer.Layer<LanguageModel.LanguageModel, ConfigError.ConfigError, HttpClient.HttpClient>

/**
 * One call target of a route: a provider and the model it is called with.
 *
 * @since 0.2.0
 * @category models
 */
export interface Step {
  readonly provider: string
  readonly model: string
  readonly retry?: RetryInput | undefined
  readonly timeout?: TimeoutInput | undefined
  readonly contextWindow?: number | undefined
}

/**
 * A step's retry settings over its route's over its provider's, field by field (a step's `{ times: 1 }` keeps the
 * provider's `base` and `cap`); `false` at a level turns retries off there, whatever the levels below it say.
 */
const retryOf = (levels: ReadonlyArray<RetryInput | undefined>): Retry.Policy | false | undefined => {
  const settings: Array<Exclude<RetryInput, false>> = []
  let off = false
  for (const level of levels) {
    if (level === undefined) continue
    if (level === false) {
      off = true
      break
    }
    settings.push(level)
  }
  if (settings.length === 0) return off ? false : undefined
  return Retry.policy(Object.assign({}, ...settings.reverse()) as Exclude<RetryInput, false>)
}

/**
 * A step's timeouts over its route's over its provider's, phase by phase: a route's `{ request: "60 seconds" }`
 * keeps the provider's `firstToken` and `idle`. Absent phases stay absent.
 */
const timeoutOf = (levels: ReadonlyArray<TimeoutInput | undefined>): Timeout.Options | undefined => {
  const given = levels.filter((level) => level !== undefined)
  return given.length === 0 ? undefined : Object.assign({}, ...given.reverse()) as Timeout.Options
}

/** The steps of a route, in order (one for a single provider). The config was checked: exactly one shape. */
export const stepsOf = (route: Route): ReadonlyArray<Step> => {
  if (route.fallback !== undefined) return route.fallback
  if (route.router !== undefined) return route.router.deployments
  return [{
    provider: route.provider!,
    model: route.model!,
    retry: route.retry,
    timeout: route.timeout,
    contextWindow: route.contextWindow
  }]
}

/**
 * The provider whose prices apply to a configured provider: the one its type names, whatever the config calls
 * it; an OpenAI-compatible server under its own name.
 *
 * @since 0.2.0
 * @category models
 */
export const pricingProviderOf = (name: string, provider: Provider): string =>
  provider.type === "openai-compatible" ? name : provider.type

/**
 * The layer of one provider called with one model, with the step's retry and timeouts over the provider's.
 * `guarded`: behind the provider's circuit breaker, if it has one (a router's deployment is not: the router
 * holds its breaker, to skip it while it refuses).
 */
const providerLayer = (
  name: string,
  provider: Provider,
  key: Redacted.Redacted | undefined,
  step: Step,
  route: Route,
  guarded: boolean
): RouteLayer => {
  // A single provider's route is its own step: its settings are read once.
  const routeLevel = route.fallback === undefined && route.router === undefined ? undefined : route
  const retry = retryOf([step.retry, routeLevel?.retry, provider.retry])
  const timeout = timeoutOf([step.timeout, routeLevel?.timeout, provider.timeout])
  const common = {
    name,
    pricingProvider: pricingProviderOf(name, provider),
    model: step.model,
    ...(provider.headers === undefined ? {} : { headers: provider.headers }),
    ...(retry === undefined ? {} : { retry }),
    ...(timeout === undefined ? {} : { timeout }),
    ...(provider.capabilities === undefined ? {} : { capabilities: provider.capabilities }),
    ...(key === undefined ? {} : { apiKey: key }),
    ...(provider.apiVersion === undefined ? {} : { apiVersion: provider.apiVersion })
  }
  const baseUrl = provider.baseUrl === undefined ? {} : { baseUrl: provider.baseUrl }
  const layer = ((): RouteLayer => {
    switch (provider.type) {
      case "openai":
      case "openai-compatible":
        return OpenAi.layer({
          ...common,
          ...baseUrl,
          ...(provider.maxTokensField === undefined ? {} : { maxTokensField: provider.maxTokensField })
        })
      case "azure":
        return OpenAi.layerAzure({
          ...common,
          endpoint: provider.baseUrl!,
          ...(provider.deployment === undefined ? {} : { deployment: provider.deployment }),
          ...(provider.maxTokensField === undefined ? {} : { maxTokensField: provider.maxTokensField })
        })
      case "anthropic":
        return Anthropic.layer({ ...common, ...baseUrl, apiKey: key! })
      case "cohere":
        return Cohere.layer({ ...common, ...baseUrl, apiKey: key! })
      case "gemini":
        return Gemini.layer({ ...common, ...baseUrl })
    }
  })()
  const circuit = provider.circuitBreaker
  // One breaker per provider and model: one overloaded model must not close the provider's others.
  return circuit === undefined || !guarded
    ? layer
    : CircuitBreaker.layer(layer, { ...circuit, key: `${name}/${step.model}` })
}

/**
 * The layer of a route: its one provider, its fallback chain, or its router (named `route:<name>`, so its
 * breakers have stable keys across reloads and instances).
 *
 * @since 0.2.0
 * @category constructors
 */
export const routeLayer = (loaded: Config.Loaded, routeName: string, route: Route): RouteLayer => {
  const layerOf = (step: Step, guarded = true) =>
    providerLayer(
      step.provider,
      loaded.config.providers[step.provider]!,
      loaded.keys.get(step.provider),
      step,
      route,
      guarded
    )
  if (route.fallback !== undefined) {
    const [first, ...rest] = route.fallback.map((step) => ({
      provide: layerOf(step),
      model: step.model,
      ...(step.contextWindow === undefined ? {} : { contextWindow: step.contextWindow })
    }))
    return Fallback.layer([first!, ...rest])
  }
  if (route.router !== undefined) {
    return Router.layer(
      route.router.deployments.map((deployment) => {
        const circuit = loaded.config.providers[deployment.provider]!.circuitBreaker
        return {
          name: deployment.name ?? deployment.provider,
          provide: layerOf(deployment, false),
          model: deployment.model,
          // The router's own breaker (keyed `route:<name>/<deployment>`): a deployment it refuses is skipped.
          ...(circuit === undefined ? {} : { circuit }),
          ...(deployment.priority === undefined ? {} : { priority: deployment.priority }),
          ...(deployment.weight === undefined ? {} : { weight: deployment.weight }),
          ...(deployment.contextWindow === undefined ? {} : { contextWindow: deployment.contextWindow })
        }
      }),
      { strategy: route.router.strategy, name: `route:${routeName}` }
    )
  }
  return layerOf(stepsOf(route)[0]!)
}
