/**
 * The checks of a router's options and deployments: each names what is wrong, as the message of the
 * `InvalidRequest` every call of a router with unusable options fails with.
 */
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type { Deployment, Options, Strategy } from "../Router.js"
import * as CircuitPolicy from "./circuitPolicy.js"
import * as Durations from "./duration.js"
import * as OptionChecks from "./optionChecks.js"

const optionNames = OptionChecks.optionNames<Options>({
  strategy: true,
  name: true,
  latencyAlpha: true,
  resampleAfter: true
})

const strategies: ReadonlyArray<Strategy> = ["priority", "weighted", "least-latency"]

export interface Settings {
  readonly strategy: Strategy
  readonly name: string | undefined
  readonly alpha: number
  readonly resampleMillis: number
}

// Never used to route: a router whose options are unusable fails every call before choosing.
export const fallbackSettings: Settings = { strategy: "priority", name: undefined, alpha: 0.3, resampleMillis: 30_000 }

const deploymentFields = OptionChecks.optionNames<Deployment>({
  name: true,
  provide: true,
  model: true,
  priority: true,
  weight: true,
  contextWindow: true,
  circuit: true
})

/**
 * What is wrong with the deployment at `index`, naming the field, or undefined. `provide` is checked by
 * `Router.layer`, which builds it; `Router.make` is given services already built.
 */
export const deploymentProblem = (deployment: unknown, index: number, checkProvide: boolean): string | undefined => {
  const at = `deployments[${index}]`
  if (!OptionChecks.isRecord(deployment)) {
    return `router: ${at} must be a deployment (an object with a name and a provide Layer), got ${
      OptionChecks.described(deployment)
    }`
  }
  const unknown = Object.keys(deployment).filter((key) => !deploymentFields.includes(key))
  if (unknown.length > 0) {
    return `router: ${at} has unknown field${unknown.length === 1 ? "" : "s"} ${
      unknown.map((key) => JSON.stringify(key)).join(", ")
    } (a deployment has ${deploymentFields.join(", ")})`
  }
  const { circuit, contextWindow, model, name, priority, provide, weight } = deployment
  if (typeof name !== "string" || name.trim() === "") {
    return `router: ${at}.name must be a non-empty string, got ${OptionChecks.described(name)}`
  }
  const label = `router: deployment ${JSON.stringify(name)}`
  if (checkProvide && !Layer.isLayer(provide)) {
    return `router: ${at}.provide (deployment ${JSON.stringify(name)}) must be a Layer, got ${
      OptionChecks.described(provide)
    }`
  }
  if (model !== undefined && (typeof model !== "string" || model.trim() === "")) {
    return `${label} has model ${OptionChecks.described(model)}; a model is a non-empty string`
  }
  if (priority !== undefined && !(typeof priority === "number" && Number.isFinite(priority))) {
    return `${label} has priority ${OptionChecks.described(priority)}; a priority is a finite number (default 0)`
  }
  if (weight !== undefined && !OptionChecks.isNonNegativeFinite(weight)) {
    return `${label} has weight ${OptionChecks.described(weight)}; a weight is a finite number >= 0`
  }
  if (contextWindow !== undefined && !(Number.isSafeInteger(contextWindow) && (contextWindow as number) > 0)) {
    return `${label} has contextWindow ${
      OptionChecks.described(contextWindow)
    }; a contextWindow is a positive integer (tokens)`
  }
  if (circuit !== undefined) {
    if (!OptionChecks.isRecord(circuit)) {
      return `${label} has circuit ${
        OptionChecks.described(circuit)
      }; it is CircuitBreaker options ({} for the defaults)`
    }
    // Checked here too, so that the message names the deployment, not only the breaker. The key defaults to one
    // made from the router's name, unknown here: the deployment's name stands in for it.
    const checked = CircuitPolicy.settingsOf(circuit.key === undefined ? { ...circuit, key: name } : circuit)
    if (Either.isLeft(checked)) return `${label} has unusable circuit options: ${checked.left}`
  }
  return undefined
}

/** What is wrong with a list of deployments (`entry` checks each), or undefined. */
export const deploymentsProblem = (
  deployments: unknown,
  entry: (item: unknown, index: number) => string | undefined
): string | undefined => {
  if (!Array.isArray(deployments)) {
    return `router: deployments must be an array of deployments, got ${OptionChecks.described(deployments)}`
  }
  for (let index = 0; index < deployments.length; index++) {
    const problem = entry(deployments[index], index)
    if (problem !== undefined) return problem
  }
  return undefined
}

const isService = (value: unknown): boolean =>
  OptionChecks.isRecord(value) && typeof value.generate === "function" && typeof value.stream === "function" &&
  OptionChecks.isRecord(value.capabilities)

/** What is wrong with `Router.make`'s built deployments, or undefined. */
export const builtProblem = (deployments: unknown): string | undefined =>
  deploymentsProblem(deployments, (item, index) => {
    if (!OptionChecks.isRecord(item)) {
      return `router: deployments[${index}] must be { deployment, service }, got ${OptionChecks.described(item)}`
    }
    if (!isService(item.service)) {
      return `router: deployments[${index}].service must be a LanguageModel service, got ${
        OptionChecks.described(item.service)
      }`
    }
    return deploymentProblem(item.deployment, index, false)
  })

/**
 * A router's options checked, with their defaults, or what is wrong with them, naming the option. A value given
 * is never replaced by a default, `null` included.
 */
export const settingsOf = (options: unknown): Either.Either<Settings, string> => {
  const known = OptionChecks.knownOptions("router", options, optionNames)
  if (Either.isLeft(known)) return Either.left(known.left.message)
  const { latencyAlpha, name, resampleAfter, strategy } = options as Readonly<Record<string, unknown>>
  if (!strategies.includes(strategy as Strategy)) {
    return Either.left(
      `router: strategy must be "priority", "weighted" or "least-latency", got ${OptionChecks.described(strategy)}`
    )
  }
  if (name !== undefined && (typeof name !== "string" || name.trim() === "")) {
    return Either.left(`router: name must be a non-empty string, got ${OptionChecks.described(name)}`)
  }
  if (
    latencyAlpha !== undefined &&
    !(typeof latencyAlpha === "number" && latencyAlpha > 0 && latencyAlpha <= 1)
  ) {
    return Either.left(`router: latencyAlpha must be a number in (0, 1], got ${OptionChecks.described(latencyAlpha)}`)
  }
  const resample = resampleAfter === undefined
    ? Duration.seconds(30)
    : Durations.decodeNonNegative(resampleAfter as Duration.DurationInput)
  if (resample === undefined) {
    return Either.left(
      `router: resampleAfter must be a duration such as "30 seconds", got ${
        Durations.show(resampleAfter as Duration.DurationInput)
      }`
    )
  }
  return Either.right({
    strategy: strategy as Strategy,
    name: name as string | undefined,
    alpha: latencyAlpha ?? 0.3,
    resampleMillis: Duration.toMillis(resample)
  })
}
