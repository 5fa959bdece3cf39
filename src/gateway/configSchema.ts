/**
 * The schema of the gateway's config file: every section and field, with the messages a bad value gets. The
 * `Config` module decodes a file with it and re-exports what is public.
 *
 * @since 0.2.0
 */
import * as Duration from "effect/Duration"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Durations from "../internal/duration.js"
import { shown } from "../internal/layerOptions.js"
import * as Keys from "./Keys.js"
import * as Telemetry from "./Telemetry.js"

/** A schema whose every failure says `message` (or the message made from the value). */
export const withMessage = <S extends Schema.Schema.Any>(schema: S, message: string | ((actual: unknown) => string)) =>
  schema.annotations({
    message: (issue) => ({
      message: typeof message === "string" ? message : message("actual" in issue ? issue.actual : undefined),
      override: true
    })
  }) as S

// Exact: an absent field is absent, so a wrong value is reported once, not also as "expected undefined".
export const opt = <S extends Schema.Schema.All>(schema: S) => Schema.optionalWith(schema, { exact: true })

/** A duration as the file writes it: `"30 seconds"`, `"1 minute"`, or a number of milliseconds. */
const duration = (allowZero: boolean) =>
  Schema.transformOrFail(Schema.Union(Schema.String, Schema.Number), Schema.DurationFromSelf, {
    strict: true,
    decode: (input, _, ast) => {
      // Not `Duration.decodeUnknown` alone: it reads "-1 seconds" as 0.
      const decoded = Durations.decodeNonNegative(input as Duration.DurationInput)
      return decoded !== undefined && Duration.isFinite(decoded) && (allowZero || Duration.toMillis(decoded) > 0)
        ? ParseResult.succeed(decoded)
        : ParseResult.fail(
          new ParseResult.Type(
            ast,
            input,
            `expected a ${allowZero ? "duration >= 0" : "positive duration"} such as "30 seconds", got ${
              JSON.stringify(input)
            }`
          )
        )
    },
    encode: (duration) => ParseResult.succeed(Duration.toMillis(duration))
  })

const DurationInput = duration(false)
/** A duration where 0 means "at once" (a grace period, a hold). */
const DurationOrZero = duration(true)

const Name = withMessage(Schema.String.pipe(Schema.minLength(1)), "expected a non-empty string")
const PositiveInt = withMessage(Schema.Number.pipe(Schema.int(), Schema.positive()), "expected a positive integer")
const NonNegativeInt = withMessage(Schema.Number.pipe(Schema.int(), Schema.nonNegative()), "expected an integer >= 0")
const Usd = withMessage(Schema.Number.pipe(Schema.finite(), Schema.nonNegative()), "expected an amount in USD >= 0")
const Fraction = withMessage(Schema.Number.pipe(Schema.between(0, 1)), "expected a number between 0 and 1")
const EnvName = withMessage(
  Schema.String.pipe(Schema.pattern(/^[A-Za-z_][A-Za-z0-9_]*$/)),
  "expected the NAME of an environment variable, e.g. OPENAI_API_KEY"
)
const KeyHash = withMessage(
  Schema.String.pipe(Schema.pattern(Keys.hashPattern)),
  "expected a key hash: \"sha256:\" and 64 hex digits, from `liter-llm hash-key`"
)
/** Keys and URLs with secrets are never written in the file: the field exists to say so. */
const secretField = (instead: string) =>
  opt(
    Schema.Unknown.pipe(Schema.filter(() => `secrets are never written in the config: ${instead}`))
  )

const Retry = Schema.Union(
  Schema.Literal(false),
  Schema.Struct({
    times: opt(NonNegativeInt),
    base: opt(DurationInput),
    cap: opt(DurationInput),
    jitter: opt(Fraction),
    maxRetryAfter: opt(DurationInput),
    deadline: opt(DurationInput)
  })
)

const Timeout = Schema.Struct({
  request: opt(DurationInput),
  firstToken: opt(DurationInput),
  idle: opt(DurationInput),
  total: opt(DurationInput)
})

const CircuitBreaker = Schema.Struct({
  failureRateThreshold: opt(Fraction),
  minimumCalls: opt(PositiveInt),
  window: opt(DurationInput),
  cooldown: opt(DurationInput),
  halfOpenProbes: opt(PositiveInt),
  maxRetryAfter: opt(DurationInput)
})

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
    `unknown provider type ${JSON.stringify(actual)}; expected one of ${
      providerTypes.map((type) => `"${type}"`).join(", ")
    }`
)

const Provider = Schema.Struct({
  type: ProviderType,
  /** The API's base URL (Azure: the resource endpoint); default the provider's public one. */
  baseUrl: opt(Name),
  /** The NAME of the environment variable holding the key. */
  apiKeyEnv: opt(EnvName),
  apiKey: secretField("name the environment variable holding the key in apiKeyEnv"),
  headers: opt(Schema.Record({ key: Schema.String, value: Schema.String })),
  retry: opt(Retry),
  timeout: opt(Timeout),
  circuitBreaker: opt(CircuitBreaker),
  /** Azure: the deployment (else the `/openai/v1` path); Azure, Anthropic, Gemini: the API version. */
  deployment: opt(Name),
  apiVersion: opt(Name),
  maxTokensField: opt(Schema.Literal("max_tokens", "max_completion_tokens")),
  capabilities: opt(Schema.Struct({
    tools: opt(Schema.Boolean),
    vision: opt(Schema.Boolean),
    jsonSchema: opt(Schema.Boolean),
    streamingUsage: opt(Schema.Boolean)
  }))
})

const stepFields = {
  provider: Name,
  model: Name,
  retry: opt(Retry),
  timeout: opt(Timeout),
  /** The model's context window in tokens: a context overflow moves a fallback on to a larger one. */
  contextWindow: opt(PositiveInt)
}

const Step = Schema.Struct(stepFields)

const Deployment = Schema.Struct({
  ...stepFields,
  name: opt(Name),
  priority: opt(Schema.Number.pipe(Schema.finite())),
  weight: opt(withMessage(Schema.Number.pipe(Schema.finite(), Schema.nonNegative()), "expected a weight >= 0"))
})

const Route = Schema.Struct({
  provider: opt(Name),
  model: opt(Name),
  retry: opt(Retry),
  timeout: opt(Timeout),
  contextWindow: opt(PositiveInt),
  fallback: opt(Schema.NonEmptyArray(Step)),
  router: opt(Schema.Struct({
    strategy: Schema.Literal("priority", "weighted", "least-latency"),
    deployments: Schema.NonEmptyArray(Deployment)
  })),
  /** Whether the cache (when configured) serves this route; default true. */
  cache: opt(Schema.Boolean)
})

const Limit = Schema.Struct({
  limit: PositiveInt,
  window: DurationInput,
  algorithm: opt(Schema.Literal("fixed-window", "token-bucket"))
})

const Tenant = Schema.Struct({
  keys: Schema.NonEmptyArray(KeyHash),
  models: withMessage(
    Schema.Union(Schema.Literal("*"), Schema.Array(Name)),
    "expected \"*\" (every route) or a list of route names"
  ),
  budget: opt(Schema.Struct({
    limitUsd: Usd,
    period: withMessage(
      Schema.Union(Schema.Literal("day", "month"), DurationInput),
      "expected \"day\", \"month\" or a duration such as \"12 hours\""
    )
  })),
  rateLimit: opt(Schema.Struct({ requests: opt(Limit), tokens: opt(Limit) })),
  maxRequestCostUsd: opt(Usd)
})

const Guard = Schema.Struct({
  denyList: opt(Schema.Struct({
    terms: Schema.NonEmptyArray(Name),
    name: opt(Name),
    wholeWords: opt(Schema.Boolean),
    caseSensitive: opt(Schema.Boolean)
  })),
  pii: opt(Schema.Struct({
    name: opt(Name),
    kinds: opt(Schema.Array(Schema.Literal("email", "phone", "card")))
  }))
})

const Price = Schema.Struct({
  inputPerMillion: Usd,
  outputPerMillion: Usd,
  cachedInputPerMillion: opt(Usd),
  contextWindow: opt(PositiveInt),
  maxOutputTokens: opt(PositiveInt)
})

const Server = Schema.Struct({
  host: opt(Name),
  port: opt(withMessage(Schema.Number.pipe(Schema.int(), Schema.between(0, 65535)), "expected a port 0-65535")),
  maxBodyBytes: opt(PositiveInt),
  dropUnsupported: opt(Schema.Union(Schema.Boolean, Schema.Array(Name))),
  logContent: opt(Schema.Boolean),
  // The Node server's and the streams' timings: read at start (a reload keeps them, like host and port).
  headersTimeout: opt(DurationInput),
  requestTimeout: opt(DurationInput),
  keepAliveTimeout: opt(DurationInput),
  shutdownGrace: opt(DurationOrZero),
  holdHeaders: opt(DurationOrZero),
  keepAlive: opt(DurationInput),
  readyTimeout: opt(DurationInput),
  usageTimeout: opt(DurationInput)
}).pipe(Schema.filter((server) =>
  server.headersTimeout !== undefined && server.requestTimeout !== undefined &&
    Duration.lessThan(server.requestTimeout, server.headersTimeout)
    ? { path: ["requestTimeout"], message: "must be at least headersTimeout" }
    : undefined
))

const Endpoint = Schema.String.pipe(Schema.filter((url) => {
  const problem = Telemetry.endpointProblem(url)
  return problem === undefined
    ? undefined
    : `expected the traces URL, e.g. "http://127.0.0.1:4318/v1/traces": ${problem}, got ${shown(url)}`
}))

const HeaderName = withMessage(
  Schema.String.pipe(Schema.pattern(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/)),
  (actual) => `expected an HTTP header name, got ${JSON.stringify(actual)}`
)

const TelemetrySection = Schema.Struct({
  /** The `service.name` of the exported spans; default OTEL_SERVICE_NAME, else liter-llm-gateway. */
  serviceName: opt(Name),
  otlp: opt(Schema.Struct({
    endpoint: Endpoint,
    protocol: opt(withMessage(
      Schema.Literal(...Telemetry.protocols),
      (actual) => `expected "http/json" or "http/protobuf" (gRPC is not supported), got ${JSON.stringify(actual)}`
    )),
    /** Header name → the NAME of the environment variable holding its value (e.g. an authorization). */
    headersEnv: opt(Schema.Record({ key: HeaderName, value: EnvName })),
    headers: secretField("name the environment variable holding each header's value in headersEnv"),
    exportInterval: opt(DurationInput)
  }))
})

/**
 * The schema of a config file.
 *
 * @since 0.2.0
 * @category schemas
 */
export const ConfigSchema = Schema.Struct({
  server: opt(Server),
  admin: opt(Schema.Struct({ keys: Schema.NonEmptyArray(KeyHash) })),
  redis: opt(Schema.Struct({
    /** The NAME of the environment variable holding the URL (it may carry a password); default REDIS_URL. */
    urlEnv: opt(EnvName),
    url: secretField("name the environment variable holding the URL in urlEnv"),
    keyPrefix: opt(Schema.String),
    commandTimeout: opt(DurationInput)
  })),
  pricing: opt(Schema.Struct({
    dataset: opt(Schema.Boolean),
    models: opt(Schema.Record({ key: Schema.String, value: Price }))
  })),
  providers: Schema.Record({ key: Schema.String, value: Provider }),
  models: Schema.Record({ key: Schema.String, value: Route }),
  tenants: opt(Schema.Record({ key: Schema.String, value: Tenant })),
  budgets: opt(Schema.Struct({
    unpricedModels: opt(Schema.Literal("refuse", "allow")),
    maxRequestCostUsd: opt(Usd),
    reservationTimeout: opt(DurationInput)
  })),
  cache: opt(Schema.Struct({
    ttl: opt(DurationInput),
    maxEntries: opt(PositiveInt),
    maxBytes: opt(PositiveInt)
  })),
  guardrails: opt(Schema.Struct({
    input: opt(Schema.Array(Guard)),
    output: opt(Schema.Array(Guard)),
    inputRoles: opt(Schema.Array(Schema.Literal("system", "user", "assistant", "tool")))
  })),
  contextWindow: opt(Schema.Struct({
    maxInputTokens: opt(PositiveInt),
    maxOutputTokens: opt(NonNegativeInt)
  })),
  telemetry: opt(TelemetrySection)
})
