/**
 * The schema of the gateway's config file: every section and field, with the messages a bad value gets. The
 * `Config` module decodes a file with it and re-exports what is public.
 *
 * @since 0.2.0
 */
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { isHeaderName, shown } from "../internal/httpOptions.js"
import * as Text from "../internal/text.js"
import {
  Bool,
  BudgetUsd,
  CircuitBreaker,
  DurationInput,
  EnvName,
  KeyHash,
  Name,
  nonEmptyProblem,
  NonNegativeInt,
  Period,
  PositiveInt,
  Retry,
  secretField,
  Timeout,
  TimerDuration,
  TimerDurationOrZero,
  Usd,
  withoutSecretHeaders
} from "./configFields.js"
import {
  describedBy,
  either,
  emptyFile,
  isMapping,
  kindOf,
  list,
  mapping,
  nonEmptyList,
  notTopLevelMapping,
  oneOf,
  opt,
  record,
  withMessage,
  wordOf,
  written
} from "./configMessages.js"
import * as ServerOptions from "./http/serverOptions.js"
import * as Telemetry from "./Telemetry.js"
import * as Wire from "./wire/request.js"

/**
 * The provider types a config may name.
 *
 * @since 0.2.0
 * @category models
 */
export const providerTypes = ["openai", "openai-compatible", "azure", "anthropic", "cohere", "gemini"] as const

const ProviderType = withMessage(
  Schema.Literal(...providerTypes),
  (actual) =>
    `unknown provider type ${written(actual)}; expected one of ${providerTypes.map((type) => `"${type}"`).join(", ")}`
)

const keyInApiKeyEnv = "name the environment variable holding the key in apiKeyEnv"

const ProviderFields = Schema.Struct({
  type: ProviderType,
  /** The API's base URL (Azure: the resource endpoint); default the provider's public one. */
  baseUrl: opt(Name),
  /** The NAME of the environment variable holding the key. */
  apiKeyEnv: opt(EnvName),
  apiKey: secretField(keyInApiKeyEnv),
  headers: opt(
    mapping(
      record(Schema.String, withMessage(Schema.String, "expected a header value (a string)")),
      "a mapping of header names to values"
    ).pipe(withoutSecretHeaders(keyInApiKeyEnv))
  ),
  retry: opt(Retry),
  timeout: opt(Timeout),
  circuitBreaker: opt(CircuitBreaker),
  /** Azure: the deployment (else the `/openai/v1` path); Azure, Anthropic, Gemini: the API version. */
  deployment: opt(Name),
  apiVersion: opt(Name),
  maxTokensField: opt(oneOf("max_tokens", "max_completion_tokens")),
  capabilities: opt(mapping(
    Schema.Struct({
      tools: opt(Bool),
      vision: opt(Bool),
      jsonSchema: opt(Bool),
      streamingUsage: opt(Bool)
    }),
    "a mapping of capabilities (tools, vision, jsonSchema, streamingUsage)"
  ))
})

/**
 * One provider of the `providers:` section.
 *
 * @since 0.2.0
 * @category schemas
 */
export const Provider = mapping(
  ProviderFields,
  "a provider: a mapping with its type, e.g. { type: openai, apiKeyEnv: ... }"
)

const stepFields = {
  provider: Name,
  model: Name,
  retry: opt(Retry),
  timeout: opt(Timeout),
  /** The model's context window in tokens: a context overflow moves a fallback on to a larger one. */
  contextWindow: opt(PositiveInt)
}

const Step = mapping(Schema.Struct(stepFields), "a step: a mapping with provider and model")

const Deployment = mapping(
  Schema.Struct({
    ...stepFields,
    name: opt(Name),
    priority: opt(
      withMessage(Schema.Number.pipe(Schema.finite()), (actual) => `expected a number, got ${kindOf(actual)}`)
    ),
    weight: opt(withMessage(
      Schema.Number.pipe(Schema.finite(), Schema.nonNegative()),
      (actual) => `expected a weight >= 0, got ${kindOf(actual)}`
    ))
  }),
  "a deployment: a mapping with provider and model"
)

/**
 * One route of the `models:` section.
 *
 * @since 0.2.0
 * @category schemas
 */
export const Route = mapping(
  Schema.Struct({
    provider: opt(Name),
    model: opt(Name),
    retry: opt(Retry),
    timeout: opt(Timeout),
    contextWindow: opt(PositiveInt),
    fallback: opt(nonEmptyList(Step, "fallback step")),
    router: opt(mapping(
      Schema.Struct({
        strategy: oneOf("priority", "weighted", "least-latency"),
        deployments: nonEmptyList(Deployment, "deployment")
      }),
      "a router: a mapping with strategy and deployments"
    )),
    /** Whether the cache (when configured) serves this route; default true. */
    cache: opt(Bool)
  }),
  "a route: a mapping with provider + model, fallback or router"
)

const Limit = mapping(
  Schema.Struct({
    limit: PositiveInt,
    window: DurationInput,
    algorithm: opt(oneOf("fixed-window", "token-bucket"))
  }),
  "a limit: a mapping with limit and window"
)

/**
 * One tenant of the `tenants:` section.
 *
 * @since 0.2.0
 * @category schemas
 */
export const Tenant = mapping(
  Schema.Struct({
    keys: nonEmptyList(KeyHash, "key hash", "key hashes"),
    models: either(
      Schema.Union(Schema.Literal("*"), Schema.Array(Name)),
      "\"*\" (every route) or a list of route names",
      wordOf
    ),
    budget: opt(mapping(
      Schema.Struct({
        limitUsd: BudgetUsd,
        period: Period
      }),
      "a budget: a mapping with limitUsd and period"
    )),
    rateLimit: opt(mapping(
      Schema.Struct({ requests: opt(Limit), tokens: opt(Limit) }),
      "a mapping with requests, tokens or both"
    )),
    maxRequestCostUsd: opt(BudgetUsd)
  }),
  "a tenant: a mapping with keys and models"
)

const Guard = mapping(
  Schema.Struct({
    denyList: opt(mapping(
      Schema.Struct({
        terms: nonEmptyList(Name, "term"),
        name: opt(Name),
        wholeWords: opt(Bool),
        caseSensitive: opt(Bool)
      }),
      "a deny list: a mapping with terms"
    )),
    pii: opt(mapping(
      Schema.Struct({
        name: opt(Name),
        kinds: opt(list(oneOf("email", "phone", "card"), "kinds"))
      }),
      "a mapping of PII settings (name, kinds)"
    ))
  }),
  "a guardrail: a mapping with denyList or pii"
)

const Price = mapping(
  Schema.Struct({
    inputPerMillion: Usd,
    outputPerMillion: Usd,
    cachedInputPerMillion: opt(Usd),
    contextWindow: opt(PositiveInt),
    maxOutputTokens: opt(PositiveInt)
  }),
  "a price: a mapping with inputPerMillion and outputPerMillion"
).pipe(Schema.filter((price) =>
  // As `Pricing.layer` checks it, here with the entry's path.
  price.contextWindow !== undefined && price.maxOutputTokens !== undefined &&
    price.maxOutputTokens > price.contextWindow
    ? {
      path: ["maxOutputTokens"],
      message: `must not be more than contextWindow (${price.contextWindow}), got ${price.maxOutputTokens}`
    }
    : undefined
))

/**
 * Whether the gateway ever drops `name` when `dropUnsupported` lists it. Asked of the request decoder itself, so
 * the config cannot drift from its tables: `{}` is refused by every parameter it refuses (`n`, `logprobs`, ...),
 * an unknown parameter is dropped whatever its value, and one it maps or passes on (`model`, `messages`, `stream`,
 * `metadata`...) is never dropped. A dotted name is a field of its parameter (`stream_options.include_obfuscation`).
 */
const droppable = (name: string): boolean => {
  const dot = name.indexOf(".")
  const parameter = dot < 0 ? { [name]: {} } : { stream: true, [name.slice(0, dot)]: { [name.slice(dot + 1)]: true } }
  const decoded = Wire.decodeChatCompletionRequest(
    { model: "m", messages: [{ role: "user", content: "x" }], ...parameter },
    { dropUnsupported: [name] }
  )
  return Either.isRight(decoded) && decoded.right.dropped.includes(name)
}

const droppableNames = Wire.refusedParameters.map((name) => JSON.stringify(name)).join(", ")

/**
 * A `dropUnsupported` list names each parameter once, and only parameters the gateway may drop. Its items are
 * checked here, not by the list's item schema: an item that schema refuses would stop the list there, hiding
 * the other items' problems.
 */
const dropList = (drop: boolean | ReadonlyArray<unknown>) => {
  if (typeof drop === "boolean") return undefined
  return drop.flatMap((name, i) =>
    typeof name !== "string" || name === ""
      ? [{ path: [i], message: nonEmptyProblem(name) }]
      : drop.indexOf(name) < i
      ? [{ path: [i], message: `${Text.escapedJson(name)} is listed twice: list each parameter once` }]
      : droppable(name)
      ? []
      : [{
        path: [i],
        message: `${
          Text.escapedJson(name)
        } is never dropped: list what the gateway refuses (${droppableNames}) or does not know`
      }]
  )
}

// `Server.layer`'s defaults: the one the file leaves out is compared too, as Node's server and the layer do at start.
const defaultHeadersTimeout = Duration.seconds(10)
const defaultRequestTimeout = Duration.seconds(30)

const timeoutOrder = (
  server: { readonly headersTimeout?: Duration.Duration; readonly requestTimeout?: Duration.Duration }
) => {
  const { headersTimeout, requestTimeout } = server
  if (headersTimeout === undefined && requestTimeout === undefined) return undefined
  if (!Duration.lessThan(requestTimeout ?? defaultRequestTimeout, headersTimeout ?? defaultHeadersTimeout)) {
    return undefined
  }
  return requestTimeout === undefined
    ? { path: ["headersTimeout"], message: "must be at most requestTimeout (default 30 seconds)" }
    : {
      path: ["requestTimeout"],
      message: `must be at least headersTimeout${headersTimeout === undefined ? " (default 10 seconds)" : ""}`
    }
}

// `Server.layer`'s own check, so that a host the server would refuse (`127.0.0.1:4000`, a URL) is refused here.
const Host = withMessage(Schema.String, (actual) => `expected a host name or an IP address, got ${kindOf(actual)}`)
  .pipe(Schema.filter((host) => ServerOptions.hostProblem(host)))

const Server = mapping(
  Schema.Struct({
    host: opt(Host),
    port: opt(withMessage(
      Schema.Number.pipe(Schema.int(), Schema.between(0, 65535)),
      (actual) => `expected a port 0-65535, got ${kindOf(actual)}`
    )),
    maxBodyBytes: opt(PositiveInt),
    dropUnsupported: opt(
      either(
        Schema.Union(Bool, Schema.Array(Schema.Unknown)),
        "true, false or a list of field names"
      ).pipe(
        Schema.filter(dropList),
        Schema.compose(Schema.Union(Bool, Schema.Array(Schema.String)), { strict: false })
      )
    ),
    logContent: opt(Bool),
    // The Node server's and the streams' timings: read at start (a reload keeps them, like host and port). Each
    // ends in the Node server or a timer, which take whole ms up to 24.8 days.
    headersTimeout: opt(TimerDuration),
    requestTimeout: opt(TimerDuration),
    keepAliveTimeout: opt(TimerDuration),
    shutdownGrace: opt(TimerDurationOrZero),
    holdHeaders: opt(TimerDurationOrZero),
    keepAlive: opt(TimerDuration),
    sendTimeout: opt(TimerDuration),
    readyTimeout: opt(TimerDuration),
    usageTimeout: opt(TimerDuration)
  }),
  "a mapping of server settings (host, port, ...)"
).pipe(Schema.filter(timeoutOrder))

/**
 * The server's two timeouts alone, checked in order: a refused file's `server:` section with a wrong field is
 * still checked for this.
 *
 * @since 0.2.0
 * @category schemas
 */
export const ServerTimeouts = Schema.Struct({
  headersTimeout: opt(TimerDuration),
  requestTimeout: opt(TimerDuration)
}).pipe(Schema.filter(timeoutOrder))

const Endpoint = Schema.String.pipe(Schema.filter((url) => {
  const problem = Telemetry.endpointProblem(url)
  return problem === undefined
    ? undefined
    : `expected the traces URL, e.g. "http://127.0.0.1:4318/v1/traces": ${problem}, got ${shown(url)}`
}))

const HeaderName = withMessage(
  Schema.String.pipe(Schema.filter(isHeaderName)),
  (actual) => `expected an HTTP header name, got ${JSON.stringify(actual)}`
)

const TelemetrySection = mapping(
  Schema.Struct({
    /** The `service.name` of the exported spans; default OTEL_SERVICE_NAME, else liter-llm-gateway. */
    serviceName: opt(Name),
    otlp: opt(mapping(
      Schema.Struct({
        endpoint: Endpoint,
        protocol: opt(withMessage(
          Schema.Literal(...Telemetry.protocols),
          (actual) => `expected "http/json" or "http/protobuf" (gRPC is not supported), got ${written(actual)}`
        )),
        /** Header name → the NAME of the environment variable holding its value (e.g. an authorization). */
        headersEnv: opt(mapping(
          record(HeaderName, EnvName),
          "a mapping of header names to environment variable names"
        )),
        headers: secretField("name the environment variable holding each header's value in headersEnv"),
        exportInterval: opt(DurationInput)
      }),
      "a mapping with the OTLP endpoint"
    ))
  }),
  "a mapping of telemetry settings (serviceName, otlp)"
)

/**
 * The schema of a config file.
 *
 * @since 0.2.0
 * @category schemas
 */
export const ConfigSchema = describedBy(
  Schema.Struct({
    server: opt(Server),
    admin: opt(mapping(
      Schema.Struct({ keys: nonEmptyList(KeyHash, "key hash", "key hashes") }),
      "a mapping with the admin keys"
    )),
    redis: opt(mapping(
      Schema.Struct({
        /** The NAME of the environment variable holding the URL (it may carry a password); default REDIS_URL. */
        urlEnv: opt(EnvName),
        url: secretField("name the environment variable holding the URL in urlEnv"),
        // The rule Redis.layer applies: an empty prefix is an unset template variable, not "no prefix".
        keyPrefix: opt(withMessage(
          // No space, control or invisible character: a prefix is read back in logs and `check-config`'s summary.
          Schema.String.pipe(Schema.pattern(/^[^\s\p{C}]+$/u)),
          (actual) =>
            actual === ""
              ? "an empty prefix would put the keys at the root of a shared Redis: give one, e.g. \"gw:\" (leave it out for the default)"
              : typeof actual === "string"
              ? "expected a prefix without spaces, control or invisible characters, e.g. \"gw:\" (leave it out for the default)"
              : `expected a prefix (a string) such as "gw:", got ${kindOf(actual)} (leave it out for the default)`
        )),
        commandTimeout: opt(DurationInput)
      }),
      "a mapping of Redis settings (urlEnv, keyPrefix, commandTimeout)"
    )),
    pricing: opt(mapping(
      Schema.Struct({
        dataset: opt(Bool),
        models: opt(mapping(record(Schema.String, Price), "a mapping of model names to prices"))
      }),
      "a mapping of pricing settings (dataset, models)"
    )),
    providers: mapping(record(Schema.String, Provider), "a mapping of provider names to providers"),
    models: mapping(record(Schema.String, Route), "a mapping of route names to routes"),
    // Its names are checked with the references (configCheck.ts), so that a bad one is reported with the shape errors.
    tenants: opt(mapping(record(Schema.String, Tenant), "a mapping of tenant names to tenants")),
    budgets: opt(mapping(
      Schema.Struct({
        unpricedModels: opt(oneOf("refuse", "allow")),
        maxRequestCostUsd: opt(BudgetUsd),
        reservationTimeout: opt(DurationInput)
      }),
      "a mapping of budget settings (unpricedModels, maxRequestCostUsd, reservationTimeout)"
    )),
    cache: opt(mapping(
      Schema.Struct({
        ttl: opt(DurationInput),
        maxEntries: opt(PositiveInt),
        maxBytes: opt(PositiveInt)
      }),
      "a mapping of cache settings (ttl, maxEntries, maxBytes)"
    )),
    guardrails: opt(mapping(
      Schema.Struct({
        input: opt(list(Guard, "guardrails")),
        output: opt(list(Guard, "guardrails")),
        inputRoles: opt(list(oneOf("system", "user", "assistant", "tool"), "roles"))
      }),
      "a mapping of guardrails (input, output, inputRoles)"
    )),
    contextWindow: opt(mapping(
      Schema.Struct({
        maxInputTokens: opt(PositiveInt),
        maxOutputTokens: opt(NonNegativeInt)
      }),
      "a mapping with maxInputTokens, maxOutputTokens or both"
    )),
    telemetry: opt(TelemetrySection)
  }),
  (actual) =>
    actual === null || actual === undefined
      ? emptyFile
      : notTopLevelMapping(kindOf(actual)),
  (issue) => isMapping(issue.actual)
)
