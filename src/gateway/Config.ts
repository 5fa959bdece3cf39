/**
 * The gateway's config file (YAML or JSON): its schema, and how a file becomes a checked config. A bad file is
 * refused with every problem at once, each naming its path, e.g.
 * `models.gpt-4o.fallback[1].provider: unknown provider "antropic"`.
 *
 * @since 0.2.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Config_ from "effect/Config"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Yaml from "yaml"
import * as RedisOptions from "../internal/redisOptions.js"
import * as Text from "../internal/text.js"
import * as Check from "./configCheck.js"
import * as Messages from "./configMessages.js"
import * as Schema_ from "./configSchema.js"
import type * as Telemetry from "./Telemetry.js"

/**
 * The provider types a config may name.
 *
 * @since 0.2.0
 * @category models
 */
export const providerTypes = Schema_.providerTypes

/**
 * The schema of a config file.
 *
 * @since 0.2.0
 * @category schemas
 */
export const ConfigSchema = Schema_.ConfigSchema

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
  /** The `telemetry.otlp` section with its headers read; `undefined` when the file has none. */
  readonly telemetry?: Telemetry.Options | undefined
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
    const at = Messages.pathText(issue.path)
    const message = issue._tag !== "Unexpected"
      ? issue.message
      : issue.path.at(-1) === Messages.reservedName
      ? Messages.reservedNameMessage
      : "unknown field"
    return at === "" ? message : `${at}: ${message}`
  })
  return [...new Set(lines)]
}

const strict = { errors: "all", onExcessProperty: "error" } as const
const decodeSchema = Schema.decodeUnknownEither(ConfigSchema, strict)

const decodeTimeouts = Schema.decodeUnknownEither(Schema.Struct({ server: Schema_.ServerTimeouts }), { errors: "all" })

const recordEntries: Record<string, (entry: unknown) => Either.Either<unknown, ParseResult.ParseError>> = {
  providers: Schema.decodeUnknownEither(Schema_.Provider, strict),
  models: Schema.decodeUnknownEither(Schema_.Route, strict),
  tenants: Schema.decodeUnknownEither(Schema_.Tenant, strict)
}

const isMapping = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * The parts of a refused file whose own shape is valid (each section, each provider, route and tenant on its
 * own), so their references and variables are checked with the shape errors: every problem in one pass. The
 * names are the file's, valid or not, so an entry with a wrong field is not also reported as unknown.
 */
const validParts = (
  input: unknown
): { readonly config: Config; readonly names: Check.Names; readonly errors: Array<string> } | undefined => {
  if (!isMapping(input)) return undefined
  let errors: Array<string> = []
  const parts: Record<string, unknown> = { providers: {}, models: {} }
  for (const [section, field] of Object.entries(ConfigSchema.fields)) {
    if (!(section in input)) continue
    const value = input[section]
    const entries = recordEntries[section]
    if (entries !== undefined) {
      if (!isMapping(value)) continue
      parts[section] = Object.fromEntries(
        Object.entries(value).flatMap(([name, entry]) => {
          const decoded = entries(entry)
          return Either.isRight(decoded) ? [[name, decoded.right]] : []
        })
      )
      continue
    }
    const decoded = Schema.decodeUnknownEither(Schema.Struct({ [section]: field }), strict)({ [section]: value })
    if (Either.isRight(decoded)) parts[section] = decoded.right[section]
    else if (section === "server" && isMapping(value)) {
      // The one check across fields of a section: made on those two fields when another one is wrong.
      const timeouts = Object.fromEntries(
        Object.entries(value).filter(([name]) => name === "headersTimeout" || name === "requestTimeout")
      )
      const order = decodeTimeouts({ server: timeouts })
      if (Either.isLeft(order)) errors = issues(order.left)
    }
  }
  const namesOf = (value: unknown) => isMapping(value) ? Object.keys(value) : undefined
  return {
    config: parts as unknown as Config,
    names: { providers: namesOf(input.providers), models: namesOf(input.models), tenants: namesOf(input.tenants) },
    errors
  }
}

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
    if (Either.isLeft(decoded)) {
      const shape = issues(decoded.left)
      const parts = validParts(input)
      if (parts === undefined) return yield* new InvalidConfig({ source, errors: shape })
      const env = yield* readEnv(parts.config)
      const errors = [...shape, ...parts.errors, ...Check.references(parts.config, parts.names), ...env.errors]
      return yield* new InvalidConfig({ source, errors: [...new Set(errors)] })
    }
    const config = decoded.right
    const problems = Check.references(config)
    const env = yield* readEnv(config)
    const errors = [...problems, ...env.errors]
    if (errors.length > 0) return yield* new InvalidConfig({ source, errors })
    return { config, keys: env.keys, redisUrl: env.redisUrl, telemetry: env.telemetry, source }
  })

// An empty (or blank) variable is refused like an unset one (`FOO= liter-llm gateway` is a mistake, not a key),
// saying which, as the provider layers do.
const readVar = (name: string): Effect.Effect<Either.Either<Redacted.Redacted, string>> =>
  Effect.map(
    Effect.orElseSucceed(Config_.option(Config_.redacted(name)), Option.none<Redacted.Redacted>),
    Option.match({
      onNone: () => Either.left(`environment variable ${name} is not set`),
      onSome: (secret) =>
        Redacted.value(secret).trim() === ""
          ? Either.left(`environment variable ${name} is empty`)
          : Either.right(secret)
    })
  )

const readEnv = Effect.fn("Config.readEnv")(function*(config: Config) {
  const errors: Array<string> = []
  const keys = new Map<string, Redacted.Redacted>()
  for (const [name, provider] of Object.entries(config.providers)) {
    if (provider.apiKeyEnv === undefined) continue
    const value = yield* readVar(provider.apiKeyEnv)
    if (Either.isRight(value)) keys.set(name, value.right)
    else errors.push(`${Messages.pathText(["providers", name, "apiKeyEnv"])}: ${value.left}`)
  }
  let redisUrl: Redacted.Redacted | undefined
  if (config.redis !== undefined) {
    const name = config.redis.urlEnv ?? "REDIS_URL"
    const value = yield* readVar(name)
    if (Either.isLeft(value)) errors.push(`redis.urlEnv: ${value.left}`)
    else {
      // Checked here, by the parser Redis.layer uses, so check-config refuses what the gateway would.
      const url = RedisOptions.parseUrl("redis.urlEnv", name, Redacted.value(value.right))
      if (Either.isLeft(url)) errors.push(url.left._op === "InvalidData" ? url.left.message : String(url.left))
      else redisUrl = value.right
    }
  }
  const otlp = config.telemetry?.otlp
  let telemetry: Telemetry.Options | undefined
  if (otlp !== undefined) {
    const headers: Record<string, Redacted.Redacted> = {}
    for (const [header, name] of Object.entries(otlp.headersEnv ?? {})) {
      const value = yield* readVar(name)
      if (Either.isRight(value)) headers[header] = value.right
      else errors.push(`${Messages.pathText(["telemetry", "otlp", "headersEnv", header])}: ${value.left}`)
    }
    telemetry = {
      endpoint: otlp.endpoint,
      headers,
      serviceName: config.telemetry?.serviceName,
      protocol: otlp.protocol,
      exportInterval: otlp.exportInterval
    }
  }
  return { errors, keys, redisUrl, telemetry }
})

/**
 * Parses a file's text: YAML for `.yaml` / `.yml` (with anchors, aliases and `<<` merge keys), JSON for `.json`.
 * YAML is read as plain data: every mapping key as the text written (`null:` names `"null"`), and a key that is
 * a list or a mapping, or a value with a tag outside YAML's core schema (`!!binary`, `!!timestamp`, a custom
 * `!tag`), is refused with its path.
 *
 * @since 0.2.0
 * @category decoding
 */
export const parse = (text: string, source: string): Either.Either<unknown, InvalidConfig> => {
  const refuse = (errors: Array<string>) => Either.left(new InvalidConfig({ source, errors }))
  // Said alike whatever the file's type (`JSON.parse` would say "Unexpected end of JSON input").
  if (text.trim() === "") return refuse([Messages.emptyFile])
  const isJson = /\.json$/i.test(source)
  if (isJson) {
    try {
      JSON.parse(text)
    } catch (error) {
      return refuse([`not valid JSON: ${error instanceof Error ? error.message : String(error)}`])
    }
  } else if (!/\.ya?ml$/i.test(source)) return refuse(["unknown file type: name it .yaml, .yml or .json"])
  // JSON is parsed as YAML too (JSON is YAML), so a key written twice is refused in both; `JSON.parse` alone
  // would silently keep the last.
  const lines = new Yaml.LineCounter()
  const document = Yaml.parseDocument(text, {
    prettyErrors: false,
    uniqueKeys: true,
    lineCounter: lines,
    // Merge keys only in YAML: in JSON, "<<" is a key like any other (and refused as an unknown field).
    merge: !isJson,
    // A key as written (`null`, `~`, `1.50`), not the scalar it would resolve to (`""`, `1.5`).
    stringKeys: true,
    // The core schema alone: no YAML 1.1 types (`!!binary` as bytes, `!!timestamp` as a Date, `!!set`...).
    resolveKnownTags: false,
    // Problems are reported as errors of the file, never as process warnings on stderr.
    logLevel: "error"
  })
  const where = (offset: number) => {
    const at = lines.linePos(offset)
    return `line ${at.line}, column ${at.col}`
  }
  // For JSON, only a repeated key counts: its syntax was checked by `JSON.parse`. A key that is not a string is
  // reported by `notPlain`, with its path.
  const yamlErrors = isJson
    ? document.errors.filter((error) => error.code === "DUPLICATE_KEY")
    : document.errors.filter((error) => error.code !== "NON_STRING_KEY")
  const syntax = yamlErrors.map((error) => {
    if (error.code === "DUPLICATE_KEY") {
      const path = keyPathAt(document, error.pos[0])
      if (path !== undefined) return `${Messages.pathText(path)}: written twice (again at ${where(error.pos[0])})`
    }
    if (error.code === "MULTIPLE_DOCS") return `${where(error.pos[0])}: ${multipleDocuments}`
    return `${where(error.pos[0])}: ${error.message.split("\n")[0]}`
  })
  const errors = isJson ? syntax : [...syntax, ...notPlain(document, where)]
  if (errors.length > 0) return refuse(errors)
  if (isJson) return Either.right(JSON.parse(text))
  try {
    return Either.right(document.toJS({ maxAliasCount: 100 }))
  } catch (error) {
    // An alias bomb (aliases of aliases, expanding to millions of values) past the alias limit, or a merge of
    // something other than a mapping: refused like a syntax error, with the YAML library's reason.
    return refuse([`not valid YAML: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`])
  }
}

const multipleDocuments = "the file holds more than one YAML document (each `---` starts one); a config is one document"

const plainYaml = "write plain YAML (strings, numbers, booleans, lists, maps)"

const yamlTag = "tag:yaml.org,2002:"

/** A node with its path, or a mapping key (any node, or none) with its mapping's path. */
type Visited =
  | { readonly isKey: false; readonly node: Yaml.Node; readonly path: ReadonlyArray<PropertyKey> }
  | { readonly isKey: true; readonly node: unknown; readonly path: ReadonlyArray<PropertyKey> }

/** A key that is a string as written (a name), or `undefined`. */
const keyName = (key: unknown): string | undefined =>
  Yaml.isScalar(key) && typeof key.value === "string" && (!key.tag || key.tag === "!" || key.tag === `${yamlTag}str`)
    ? key.value
    : undefined

/**
 * Every node and mapping key of a document with its path, depth first. An alias is not followed (its anchor's
 * node is met where it is written), nor is a key that is no name, nor its value (refused with the key).
 */
function* nodesOf(node: unknown, path: ReadonlyArray<PropertyKey>): Generator<Visited> {
  if (!Yaml.isNode(node) || Yaml.isAlias(node)) return
  yield { node, path, isKey: false }
  if (Yaml.isMap(node)) {
    for (const pair of node.items) {
      yield { node: pair.key, path, isKey: true }
      const name = keyName(pair.key)
      if (name !== undefined) yield* nodesOf(pair.value, [...path, name])
    }
  } else if (Yaml.isSeq(node)) {
    for (const [i, item] of node.items.entries()) yield* nodesOf(item, [...path, i])
  }
}

/** The path of the mapping key that starts at `offset`, e.g. `["models", "gpt-4o", "fallback", 1, "model"]`. */
const keyPathAt = (document: Yaml.Document, offset: number): Array<PropertyKey> | undefined => {
  for (const { isKey, node, path } of nodesOf(document.contents, [])) {
    const name = isKey && Yaml.isScalar(node) && node.range?.[0] === offset ? keyName(node) : undefined
    if (name !== undefined) return [...path, name]
  }
  return undefined
}

const scalarOf = (type: string) => (node: Yaml.Node) => Yaml.isScalar(node) && typeof node.value === type

// The tags of plain data (YAML's core schema), each with the value it must tag: `!!int abc` stays a string.
const plainTags: Record<string, (node: Yaml.Node) => boolean> = {
  // The non-specific tag: the value's own kind.
  "!": () => true,
  [`${yamlTag}str`]: scalarOf("string"),
  [`${yamlTag}int`]: scalarOf("number"),
  [`${yamlTag}float`]: scalarOf("number"),
  [`${yamlTag}bool`]: scalarOf("boolean"),
  [`${yamlTag}null`]: (node) => Yaml.isScalar(node) && node.value === null,
  [`${yamlTag}map`]: Yaml.isMap,
  [`${yamlTag}seq`]: Yaml.isSeq
}

/** A tag or an alias as written, escaped where it holds more than printable ASCII (a `%0A` in a tag is a newline). */
const asWritten = (text: string): string => /^[\x21-\x7e]+$/.test(text) ? text : Text.escapedJson(text)

/** A tag as written: `!!binary`, `!local`, `!<tag:example.com,2000:x>`. */
const shownTag = (tag: string): string =>
  asWritten(tag.startsWith(yamlTag) ? `!!${tag.slice(yamlTag.length)}` : tag.startsWith("!") ? tag : `!<${tag}>`)

const keyKind = (key: unknown): string =>
  Yaml.isSeq(key)
    ? "a list"
    : Yaml.isMap(key)
    ? "a mapping"
    : Yaml.isAlias(key)
    ? `an alias (${asWritten(`*${key.source}`)})`
    : Yaml.isScalar(key) && key.tag
    ? `a ${shownTag(key.tag)} value`
    : "a value of another kind"

/** What in a YAML document is not plain data: a key that is no name, a value with another tag than plain data's. */
const notPlain = (document: Yaml.Document, where: (offset: number) => string): Array<string> => {
  const problems: Array<string> = []
  const add = (path: ReadonlyArray<PropertyKey>, message: string) => {
    const at = Messages.pathText(path)
    problems.push(at === "" ? message : `${at}: ${message}`)
  }
  for (const visited of nodesOf(document.contents, [])) {
    const { node, path } = visited
    if (visited.isKey) {
      if (keyName(node) !== undefined) continue
      const offset = Yaml.isNode(node) ? node.range?.[0] : undefined
      const at = offset === undefined ? "" : ` (${where(offset)})`
      add(path, `a key must be a name (a string), not ${keyKind(node)}${at}`)
      continue
    }
    const tag = visited.node.tag
    if (!tag) continue
    const fits = plainTags[tag]
    if (fits === undefined) add(path, `a ${shownTag(tag)} value is not allowed here; ${plainYaml}`)
    else if (!fits(visited.node)) add(path, `not a valid ${shownTag(tag)} value; ${plainYaml}`)
  }
  return problems
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
