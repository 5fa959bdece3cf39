/**
 * The gateway's config file (YAML or JSON): its schema, and how a file becomes a checked config. A bad file is
 * refused with every problem at once, each naming its path, e.g.
 * `models.gpt-4o.fallback[1].provider: unknown provider "antropic"`.
 *
 * @since 0.2.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Config_ from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Yaml from "yaml"
import * as Check from "./configCheck.js"
import * as Keys from "./Keys.js"

const withMessage = <S extends Schema.Schema.Any>(schema: S, message: string | ((actual: unknown) => string)) =>
  schema.annotations({
    message: (issue) => ({
      message: typeof message === "string" ? message : message("actual" in issue ? issue.actual : undefined),
      override: true
    })
  }) as S

// Exact: an absent field is absent, so a wrong value is reported once, not also as "expected undefined".
const opt = <S extends Schema.Schema.All>(schema: S) => Schema.optionalWith(schema, { exact: true })

/** A duration as the file writes it: `"30 seconds"`, `"1 minute"`, or a number of milliseconds. */
const DurationInput = Schema.transformOrFail(Schema.Union(Schema.String, Schema.Number), Schema.DurationFromSelf, {
  strict: true,
  decode: (input, _, ast) => {
    const decoded = Duration.decodeUnknown(input)
    return Option.isSome(decoded) && Duration.isFinite(decoded.value) && Duration.toMillis(decoded.value) > 0
      ? ParseResult.succeed(decoded.value)
      : ParseResult.fail(
        new ParseResult.Type(
          ast,
          input,
          `expected a positive duration such as "30 seconds", got ${JSON.stringify(input)}`
        )
      )
  },
  encode: (duration) => ParseResult.succeed(Duration.toMillis(duration))
})

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

/**
 * The schema of a config file.
 *
 * @since 0.2.0
 * @category schemas
 */
export const ConfigSchema = Schema.Struct({
  server: opt(Schema.Struct({
    host: opt(Name),
    port: opt(withMessage(Schema.Number.pipe(Schema.int(), Schema.between(0, 65535)), "expected a port 0-65535")),
    maxBodyBytes: opt(PositiveInt),
    dropUnsupported: opt(Schema.Union(Schema.Boolean, Schema.Array(Name))),
    logContent: opt(Schema.Boolean)
  })),
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
  }))
})

/**
 * A decoded config file (durations decoded).
 *
 * @since 0.2.0
 * @category models
 */
export type Config = typeof ConfigSchema.Type

/**
 * A config with everything it refers to resolved: the providers' keys and the Redis URL, read from the
 * environment (Effect's `ConfigProvider`).
 *
 * @since 0.2.0
 * @category models
 */
export interface Loaded {
  readonly config: Config
  /** Provider name → its key, for providers that have one. */
  readonly keys: ReadonlyMap<string, Redacted.Redacted>
  readonly redisUrl: Redacted.Redacted | undefined
  /** Where it came from (a file path, or `"<inline>"`). */
  readonly source: string
}

/**
 * A config refused: every problem, each `path: message`.
 *
 * @since 0.2.0
 * @category errors
 */
export class InvalidConfig extends Schema.TaggedError<InvalidConfig>()("InvalidConfig", {
  source: Schema.String,
  errors: Schema.Array(Schema.String)
}) {
  /** @since 0.2.0 */
  override get message(): string {
    const count = this.errors.length === 1 ? "1 error" : `${this.errors.length} errors`
    return `${this.source}: invalid config (${count}):\n${this.errors.map((error) => `  ${error}`).join("\n")}`
  }
}

/**
 * Default server settings: 127.0.0.1:4000, 1 MiB bodies, nothing dropped, no content in logs.
 *
 * @since 0.2.0
 * @category constants
 */
export const defaults = { host: "127.0.0.1", port: 4000, maxBodyBytes: 1024 * 1024 } as const

/** `models.gpt-4o.fallback[1].provider` from a parse issue's path. */
const pathText = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>(
    (text, key) => typeof key === "number" ? `${text}[${key}]` : text === "" ? String(key) : `${text}.${String(key)}`,
    ""
  )

const isPrefix = (prefix: ReadonlyArray<PropertyKey>, path: ReadonlyArray<PropertyKey>) =>
  prefix.length < path.length && prefix.every((key, i) => path[i] === key)

/**
 * The schema's issues as `path: message`. A union reports every member's mismatch; where one of them went
 * deeper (the value has the right shape but a wrong field), only that deeper one is kept.
 */
const issues = (error: ParseResult.ParseError): Array<string> => {
  const all = ParseResult.ArrayFormatter.formatErrorSync(error)
  const kept = all.filter((issue) => !all.some((other) => isPrefix(issue.path, other.path)))
  const lines = kept.map((issue) => {
    const at = pathText(issue.path)
    const message = issue._tag === "Unexpected" ? "unknown field" : issue.message
    return at === "" ? message : `${at}: ${message}`
  })
  return [...new Set(lines)]
}

const decodeSchema = Schema.decodeUnknownEither(ConfigSchema, { errors: "all", onExcessProperty: "error" })

/**
 * Decodes and checks a parsed config (a plain object), reading the keys it names from the environment.
 *
 * @example
 * ```ts
 * import { Config } from "liter-llm/gateway"
 *
 * const loaded = Config.decode({
 *   providers: { local: { type: "openai-compatible", baseUrl: "http://127.0.0.1:8000/v1" } },
 *   models: { small: { provider: "local", model: "llama3.2" } }
 * })
 * ```
 *
 * @since 0.2.0
 * @category decoding
 */
export const decode = (input: unknown, source = "<inline>"): Effect.Effect<Loaded, InvalidConfig> =>
  Effect.gen(function*() {
    const decoded = decodeSchema(input)
    if (Either.isLeft(decoded)) return yield* new InvalidConfig({ source, errors: issues(decoded.left) })
    const config = decoded.right
    const problems = Check.references(config)
    const env = yield* readEnv(config)
    const errors = [...problems, ...env.errors]
    if (errors.length > 0) return yield* new InvalidConfig({ source, errors })
    return { config, keys: env.keys, redisUrl: env.redisUrl, source }
  })

// An empty variable counts as unset: `FOO= liter-llm gateway` is a mistake, not a key.
const readVar = (name: string): Effect.Effect<Option.Option<Redacted.Redacted>> =>
  Effect.orElseSucceed(
    Effect.map(Config_.option(Config_.redacted(name)), Option.filter((secret) => Redacted.value(secret) !== "")),
    () => Option.none()
  )

const readEnv = Effect.fn("Config.readEnv")(function*(config: Config) {
  const errors: Array<string> = []
  const keys = new Map<string, Redacted.Redacted>()
  for (const [name, provider] of Object.entries(config.providers)) {
    if (provider.apiKeyEnv === undefined) continue
    const value = yield* readVar(provider.apiKeyEnv)
    if (Option.isSome(value)) keys.set(name, value.value)
    else errors.push(`providers.${name}.apiKeyEnv: environment variable ${provider.apiKeyEnv} is not set`)
  }
  let redisUrl: Redacted.Redacted | undefined
  if (config.redis !== undefined) {
    const name = config.redis.urlEnv ?? "REDIS_URL"
    const value = yield* readVar(name)
    if (Option.isSome(value)) redisUrl = value.value
    else errors.push(`redis.urlEnv: environment variable ${name} is not set`)
  }
  return { errors, keys, redisUrl }
})

/**
 * Parses a file's text: YAML for `.yaml` / `.yml`, JSON for `.json`.
 *
 * @since 0.2.0
 * @category decoding
 */
export const parse = (text: string, source: string): Either.Either<unknown, InvalidConfig> => {
  const refuse = (errors: Array<string>) => Either.left(new InvalidConfig({ source, errors }))
  if (/\.json$/i.test(source)) {
    try {
      return Either.right(JSON.parse(text))
    } catch (error) {
      return refuse([`not valid JSON: ${error instanceof Error ? error.message : String(error)}`])
    }
  }
  if (!/\.ya?ml$/i.test(source)) return refuse(["unknown file type: name it .yaml, .yml or .json"])
  const lines = new Yaml.LineCounter()
  const document = Yaml.parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter: lines })
  if (document.errors.length > 0) {
    return refuse(document.errors.map((error) => {
      const at = lines.linePos(error.pos[0])
      return `line ${at.line}, column ${at.col}: ${error.message.split("\n")[0]}`
    }))
  }
  return Either.right(document.toJS({ maxAliasCount: 100 }))
}

/**
 * Reads, parses, decodes and checks a config file.
 *
 * @example
 * ```ts
 * import { NodeFileSystem } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import { Config } from "liter-llm/gateway"
 *
 * const loaded = Config.load("gateway.yaml").pipe(Effect.provide(NodeFileSystem.layer))
 * ```
 *
 * @since 0.2.0
 * @category decoding
 */
export const load = (path: string): Effect.Effect<Loaded, InvalidConfig, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const text = yield* Effect.mapError(
      fs.readFileString(path),
      (error) => new InvalidConfig({ source: path, errors: [`cannot read the file: ${error.message}`] })
    )
    const input = yield* parse(text, path)
    return yield* decode(input, path)
  }).pipe(Effect.withSpan("Config.load"))
