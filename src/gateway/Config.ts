/**
 * The gateway's config file (YAML or JSON): its schema, and how a file becomes a checked config. A bad file is
 * refused with every problem at once, each naming its path, e.g.
 * `models.gpt-4o.fallback[1].provider: unknown provider "antropic"`.
 *
 * @since 0.2.0
 */
import type * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Config_ from "effect/Config"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as AST from "effect/SchemaAST"
import { isUtf8 } from "node:buffer"
import * as EventLoop from "../internal/eventLoop.js"
import * as HttpOptions from "../internal/httpOptions.js"
import * as RedisOptions from "../internal/redisOptions.js"
import * as Check from "./configCheck.js"
import * as Messages from "./configMessages.js"
import * as Schema_ from "./configSchema.js"
import * as ConfigText from "./configText.js"
import type * as ServerOptions from "./http/serverOptions.js"
import * as ParseOffThread from "./parseOffThread.js"
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
  /**
   * Every error on a line of its own; an error said alike at many paths (one mistake in a value that many tenants
   * share, through a YAML anchor or a generated file) once, with how many more paths have it.
   *
   * @since 0.2.0
   */
  override get message(): string {
    const count = this.errors.length === 1 ? "1 error" : `${this.errors.length} errors`
    return `${this.source}: invalid config (${count}):\n${
      sameErrors(this.errors).map((error) => `  ${error}`).join("\n")
    }`
  }
}

/** Errors with the same text after their path (`path: text`), past a few, said once with their count. */
const sameErrors = (errors: ReadonlyArray<string>): Array<string> =>
  Messages.sameText(errors).flatMap(({ line, others }) =>
    others.length === 0 ? [line] : [line, `  ${Messages.morePaths(others)}`]
  )

/**
 * Default server settings: 127.0.0.1:4000, 1 MiB bodies, nothing dropped, no content in logs.
 *
 * @since 0.2.0
 * @category constants
 */
export const defaults = { host: "127.0.0.1", port: 4000, maxBodyBytes: 1024 * 1024 } as const

// A path as one string, for a set: its keys' kinds kept apart (`1` the index from `"1"` the name).
const pathKey = (path: ReadonlyArray<PropertyKey>, length = path.length): string => {
  let key = ""
  for (let i = 0; i < length; i++) {
    const part = path[i]!
    key += typeof part === "number" ? `[${part}]` : `.${JSON.stringify(String(part))}`
  }
  return key
}

/**
 * The schema's issues as `path: message`. A union reports every member's mismatch; where one of them went
 * deeper (the value has the right shape but a wrong field), only that deeper one is kept.
 */
const issues = (error: ParseResult.ParseError): Array<string> => {
  const all = ParseResult.ArrayFormatter.formatErrorSync(error)
  // Every path another issue went deeper than, in one pass: a file of many errors is not compared pair by pair.
  const deeper = new Set<string>()
  for (const issue of all) {
    for (let length = 0; length < issue.path.length; length++) deeper.add(pathKey(issue.path, length))
  }
  const kept = all.filter((issue) => !deeper.has(pathKey(issue.path)))
  const lines = kept.map((issue) => {
    const at = Messages.pathText(issue.path)
    const message = issue._tag !== "Unexpected"
      ? issue.message
      : issue.path.at(-1) === Messages.reservedName
      ? Messages.reservedNameMessage
      : Messages.unknownField(String(issue.path.at(-1)), knownFields(issue.path.slice(0, -1)))
    return at === "" ? message : `${at}: ${message}`
  })
  return [...new Set(lines)]
}

/**
 * The field names the schema knows at a path (`tenants.acme`: a tenant's), across the members of a union: what an
 * unknown field there may be a slip of.
 */
const knownFields = (path: ReadonlyArray<PropertyKey>): Array<string> => {
  const names = new Set<string>()
  const visit = (ast: AST.AST, rest: ReadonlyArray<PropertyKey>): void => {
    switch (ast._tag) {
      case "Refinement":
      case "Transformation":
        return visit(ast.from, rest)
      case "Suspend":
        return visit(ast.f(), rest)
      case "Union":
        return ast.types.forEach((member) => visit(member, rest))
      case "TupleType": {
        // A list's entries (a fallback step, a deployment): the element at that index, else the rest's.
        const index = rest[0]
        const element = typeof index === "number" ? ast.elements[index]?.type ?? ast.rest[0]?.type : undefined
        return element === undefined ? undefined : visit(element, rest.slice(1))
      }
      case "TypeLiteral": {
        if (rest.length === 0) return ast.propertySignatures.forEach((field) => names.add(String(field.name)))
        const field = ast.propertySignatures.find((signature) => signature.name === rest[0])
        // A record's entries (a tenant, a route) are its index signature's values.
        if (field !== undefined) return visit(field.type, rest.slice(1))
        return ast.indexSignatures.forEach((entry) => visit(entry.type, rest.slice(1)))
      }
    }
  }
  visit(ConfigSchema.ast, path)
  return [...names]
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
    // Decoding a file of many tenants takes a while: a reloading server lets its requests in between.
    yield* EventLoop.nextTurn
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

// A variable sent in a header (a key): one the HTTP client cannot send is said here, naming the variable, not later
// by the layer of each route it serves. Its value is not shown: it is a secret.
const readHeaderVar = (name: string): Effect.Effect<Either.Either<Redacted.Redacted, string>> =>
  Effect.map(readVar(name), (value) => {
    if (Either.isLeft(value)) return value
    const issue = HttpOptions.headerValueIssue(Redacted.value(value.right))
    return issue === undefined ? value : Either.left(`environment variable ${name} ${issue}`)
  })

const readEnv = Effect.fn("Config.readEnv")(function*(config: Config) {
  const errors: Array<string> = []
  const keys = new Map<string, Redacted.Redacted>()
  for (const [name, provider] of Object.entries(config.providers)) {
    if (provider.apiKeyEnv === undefined) continue
    const value = yield* readHeaderVar(provider.apiKeyEnv)
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
export const parse = (text: string, source: string): Either.Either<unknown, InvalidConfig> =>
  Either.flatMap(
    parseParts(text, source),
    ({ data, problems }) =>
      problems.length === 0 ? Either.right(data) : Either.left(new InvalidConfig({ source, errors: [...problems] }))
  )

/** Whether an error names a path at or under one of `paths` (`a.b: ...`, `a.b.c: ...`, `a.b[0]: ...`). */
const isUnder = (error: string, paths: ReadonlyArray<string>): boolean =>
  paths.some((path) => path === "" || [":", ".", "["].some((next) => error.startsWith(path + next)))

/** The data and the problems that leave it readable, or the text's other problems. */
const parseParts = (text: string, source: string): Either.Either<ConfigText.Parsed, InvalidConfig> =>
  Either.mapLeft(ConfigText.parseFile(text, source), (errors) => new InvalidConfig({ source, errors }))

/** The most bytes a config file may have: far more than any config needs, and read whole in memory. */
const maxConfigBytes = 16 * 1024 * 1024

/** Why a file could not be read, in words (the platform's message names the call and the errno). */
const readProblem = (error: PlatformError.PlatformError): string => {
  if (error._tag === "SystemError") {
    if (error.reason === "NotFound") return "no such file"
    if (error.reason === "PermissionDenied") return "permission denied"
    if (error.message.includes("ELOOP")) return "too many symbolic links (a loop?)"
    if (error.message.includes("ENOTDIR")) return "a part of the path is not a directory"
  }
  return error.message
}

/**
 * Options of {@link load}.
 *
 * @since 0.2.0
 * @category models
 */
export interface LoadOptions {
  /**
   * Parse the file's text in a worker thread (default `false`): what a server reloading its config does, so that
   * the requests it serves meanwhile are not held while a large YAML file is read (the `yaml` package is
   * synchronous: seconds for 20 000 tenants). The text is read, and the data decoded and checked, on this thread.
   */
  readonly parseOffThread?: boolean | undefined
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
export const load = (
  path: string,
  options: LoadOptions = {}
): Effect.Effect<Loaded, InvalidConfig, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const unreadable = (reason: string) =>
      new InvalidConfig({ source: path, errors: [`cannot read the file: ${reason}`] })
    // Looked at before it is read: a directory, a pipe or a device (`/dev/zero` would be read forever) is no config.
    const info = yield* Effect.mapError(fs.stat(path), (error) => unreadable(readProblem(error)))
    if (info.type !== "File") {
      return yield* unreadable(info.type === "Directory" ? "it is a directory" : "it is not a regular file")
    }
    if (Number(info.size) > maxConfigBytes) {
      return yield* unreadable(`it has ${info.size} bytes, more than a config may have (${maxConfigBytes})`)
    }
    const bytes = yield* Effect.mapError(fs.readFile(path), (error) => unreadable(readProblem(error)))
    // Read as text only when it is text: a byte that is no UTF-8 would become U+FFFD inside a name or a key.
    if (!isUtf8(bytes)) {
      return yield* new InvalidConfig({
        source: path,
        errors: ["the file is not valid UTF-8 text (save it as UTF-8)"]
      })
    }
    const text = new TextDecoder().decode(bytes)
    const parsed = options.parseOffThread === true ? yield* ParseOffThread.parseOffThread(text, path) : undefined
    if (parsed !== undefined) yield* EventLoop.nextTurn
    const { covered, data, problems } = yield* (parsed === undefined
      ? parseParts(text, path)
      : Either.mapLeft(parsed, (errors) => new InvalidConfig({ source: path, errors })))
    if (problems.length === 0) return yield* decode(data, path)
    // Refused with the file's other problems, found in the data as read; a tagged value's own are said already.
    const decoded = yield* Effect.either(decode(data, path))
    const others = Either.isLeft(decoded) ? decoded.left.errors.filter((error) => !isUnder(error, covered)) : []
    return yield* new InvalidConfig({ source: path, errors: [...problems, ...others] })
  }).pipe(Effect.withSpan("Config.load"))

/**
 * The options of `Server.layer` a config's `server:` section sets (host, port and timings; those it leaves out
 * are `undefined`, the layer's defaults). The CLI serves a file with them; an application that embeds the
 * gateway passes them itself, since `Server.layer` reads only its own options.
 *
 * @example
 * ```ts
 * import { NodeFileSystem } from "@effect/platform-node"
 * import { Effect, Layer } from "effect"
 * import { Config, makeRef, Server } from "liter-llm/gateway"
 *
 * const program = Effect.gen(function*() {
 *   const ref = yield* makeRef("gateway.yaml")
 *   const { config } = yield* ref.loaded
 *   return yield* Layer.launch(Server.layer({ runtime: ref, ...Config.serverOptions(config) }))
 * }).pipe(Effect.scoped, Effect.provide(NodeFileSystem.layer))
 * ```
 *
 * @since 0.2.0
 * @category options
 */
export const serverOptions = (config: Config): Omit<ServerOptions.LayerOptions, "runtime"> => {
  const server = config.server ?? {}
  return {
    host: server.host,
    port: server.port,
    headersTimeout: server.headersTimeout,
    requestTimeout: server.requestTimeout,
    keepAliveTimeout: server.keepAliveTimeout,
    shutdownGrace: server.shutdownGrace,
    holdHeaders: server.holdHeaders,
    keepAlive: server.keepAlive,
    sendTimeout: server.sendTimeout,
    readyTimeout: server.readyTimeout,
    usageTimeout: server.usageTimeout
  }
}
