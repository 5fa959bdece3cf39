import type * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as AST from "effect/SchemaAST"
import type * as ChatResponse from "../ChatResponse.js"
import * as LlmError from "../LlmError.js"
import { described } from "./described.js"
import * as Headers from "./headers.js"
import { isObject, type Json } from "./json.js"
import * as Text from "./text.js"

/** Who is calling, for errors: never holds the secrets themselves beyond scrubbing. */
export interface ErrorContext {
  readonly provider: string
  readonly model?: string | undefined
  /** Secret values to scrub from any text an error keeps (a provider may echo a key back). */
  readonly secrets: ReadonlyArray<string>
}

/** Tags an HTTP error can map to. */
export type HttpErrorTag = Exclude<LlmError.Tag, "StreamInterrupted" | PolicyTag>

/** Tags only a policy of this library raises, never a provider. */
type PolicyTag =
  | "CircuitOpen"
  | "RateLimitExceeded"
  | "BudgetExceeded"
  | "CostLimitExceeded"
  | "GuardrailBlocked"
  | "PolicyUnavailable"

/** What a provider adapter reads out of its own error body. */
export interface ErrorDetails {
  readonly tag?: HttpErrorTag | undefined
  readonly message?: string | undefined
  readonly retryAfter?: Duration.Duration | undefined
}

/** A provider's reading of an error body (`body` is the parsed JSON, or undefined). */
export type ClassifyError = (status: number | undefined, body: unknown) => ErrorDetails

/** The default tag of an HTTP status. */
export const tagForStatus = (status: number): HttpErrorTag => {
  switch (status) {
    case 401:
    case 403:
      return "AuthenticationFailed"
    case 402:
      return "QuotaExhausted"
    case 404:
      return "NotFound"
    case 408:
      return "Timeout"
    // OpenAI answers 409 to lock conflicts, which resolve on their own (the official SDKs retry them).
    case 409:
      return "ServerError"
    case 429:
      return "RateLimited"
    case 503:
    case 529:
      return "Overloaded"
  }
  if (status >= 500) return "ServerError"
  if (status >= 400) return "InvalidRequest"
  return "MalformedResponse"
}

type Fields = ConstructorParameters<typeof LlmError.InvalidRequest>[0]

/** Constructs the error of a tag. */
export const make = (tag: HttpErrorTag, fields: Fields): LlmError.LlmError => {
  switch (tag) {
    case "InvalidRequest":
      return new LlmError.InvalidRequest(fields)
    case "AuthenticationFailed":
      return new LlmError.AuthenticationFailed(fields)
    case "NotFound":
      return new LlmError.NotFound(fields)
    case "ContextLengthExceeded":
      return new LlmError.ContextLengthExceeded(fields)
    case "ContentFiltered":
      return new LlmError.ContentFiltered(fields)
    case "QuotaExhausted":
      return new LlmError.QuotaExhausted(fields)
    case "RateLimited":
      return new LlmError.RateLimited(fields)
    case "Overloaded":
      return new LlmError.Overloaded(fields)
    case "ServerError":
      return new LlmError.ServerError(fields)
    case "Timeout":
      return new LlmError.Timeout({ ...fields, phase: "request" })
    case "NetworkError":
      return new LlmError.NetworkError(fields)
    case "MalformedResponse":
      return new LlmError.MalformedResponse(fields)
    case "EmptyResponse":
      return new LlmError.EmptyResponse(fields)
    default:
      // Unreachable for typed callers; a tag read from an untyped table must still yield an error.
      return new LlmError.ServerError(fields)
  }
}

/**
 * A table lookup by a key read off the wire: own keys only, so `"constructor"` or `"__proto__"` in a body
 * finds nothing rather than `Object`'s members.
 */
export const lookup = <V>(table: Readonly<Record<string, V>>, key: string | undefined): V | undefined =>
  key !== undefined && Object.hasOwn(table, key) ? table[key] : undefined

// `btoa`, not `Buffer`: the library runs where there is no Node. A key beyond Latin-1 has no such form.
// In base64 the key may start at any byte of a 3-byte group (a basic-auth value is `user:key`): for each of the
// three offsets, the characters its bytes alone determine.
const base64Forms = (text: string): Array<string> => {
  const forms: Array<string> = []
  for (const offset of [0, 1, 2]) {
    try {
      const encoded = btoa("\0".repeat(offset) + text)
      forms.push(encoded.slice(Math.ceil((8 * offset) / 6), Math.floor((8 * (offset + text.length)) / 6)))
    } catch {
      return []
    }
  }
  return forms
}

// Percent-encoded as `encodeURIComponent` writes it (`%2F`), and with lowercase hex digits (`%2f`), as others do.
const percentForms = (text: string): Array<string> => {
  const upper = encodeURIComponent(text)
  const lower = upper.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase())
  return lower === upper ? [upper] : [upper, lower]
}

// A JSON string may escape any character as `\uXXXX`, and `/` as `\/` (PHP's `json_encode` does): a key echoed in
// a body so escaped still reads as the key to any JSON parser.
const jsonEscaped = (secret: string): RegExp => {
  const forms = Array.from(secret, (char) => {
    const units = Array.from({ length: char.length }, (_, i) => char.charCodeAt(i).toString(16).padStart(4, "0"))
    const escaped = units.map((unit) => `\\\\u${unit.replace(/[a-f]/g, (d) => `[${d}${d.toUpperCase()}]`)}`).join("")
    const json = JSON.stringify(char).slice(1, -1)
    const alternatives = [Text.regExpLiteral(char), escaped, ...(char === "/" ? ["\\\\/"] : [])]
    if (json !== char) alternatives.push(Text.regExpLiteral(json))
    return `(?:${alternatives.join("|")})`
  })
  return new RegExp(forms.join(""), "g")
}

/** Replaces every secret in a text. Secrets shorter than 8 characters are not scrubbed (too many false hits). */
export const scrub = (text: string, secrets: ReadonlyArray<string>): string => {
  let out = text
  for (const secret of secrets) {
    // Every form of a key is at least as long as the key: a shorter text (a request id) holds none of them.
    if (secret.length < 8 || out.length < secret.length) continue
    // As sent, and as an echo may quote it: percent-encoded (a URL, a query) or in base64 (a basic-auth header).
    for (const form of [secret, ...percentForms(secret), ...base64Forms(secret)]) {
      if (out.includes(form)) out = out.split(form).join("<redacted>")
    }
    if (out.includes("\\")) out = out.replace(jsonEscaped(secret), "<redacted>")
  }
  return out
}

/** The request id of a response's headers, scrubbed (a proxy may echo a key into it). */
export const requestIdOf = (context: ErrorContext, headers: Headers.HeaderRecord): string | undefined => {
  const requestId = Headers.requestIdFromHeaders(headers)
  return requestId === undefined ? undefined : scrub(requestId, context.secrets)
}

/** How much of a provider's message an error message keeps (the whole body is in `body`). */
export const maxMessageDetail = 1024

/** Cuts a text to `max` characters, saying so. */
export const truncate = (text: string, max: number): string =>
  text.length <= max ? text : `${text.slice(0, max)}… [truncated]`

/**
 * A provider's text as an error message keeps it: scrubbed, then cut to {@link maxMessageDetail}. Scrubbing comes
 * first: a key cut in half by the truncation would no longer match.
 */
export const messageDetail = (text: string, secrets: ReadonlyArray<string>): string =>
  truncate(scrub(text, secrets), maxMessageDetail)

/**
 * Why `JSON.parse` refused a text, without the excerpt of the text V8 quotes (`Unexpected token 's', "sk-secretK"...
 * is not valid JSON`): that excerpt may cut a key in two, and a cut key no longer matches {@link scrub}. Keeps
 * the token and any position (`Unexpected token 's'`, `Unexpected end of JSON input`, `... at position 7`).
 */
export const jsonParseReason = (cause: unknown): string => {
  const message = cause instanceof Error ? cause.message : String(cause)
  const token = /^(.*?), (?:\.\.\.)?".*"(?:\.\.\.)? is not valid JSON$/s.exec(message)
  if (token !== null) return token[1]!
  if (/^".*" is not valid JSON$/s.test(message)) return "not valid JSON"
  // Another engine's wording: whatever it quotes may be input too.
  const quote = message.indexOf("\"")
  return quote === -1 ? message : message.slice(0, quote).trimEnd()
}

/** The most characters of a wrong value a parse issue shows (the whole value is the caller's, or in `body`). */
export const maxShownValue = 100

const formatValue = (value: unknown): string => {
  if (typeof value === "string") return JSON.stringify(value)
  if (typeof value === "bigint") return `${value}n`
  if (value === null || typeof value !== "object") return String(value)
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    // Circular, or nested deeper than the stack.
    return Array.isArray(value) ? "an array" : "an object"
  }
}

// A stand-in for a wrong value: Effect renders an object with its own `toString` as that text.
const shownValue = (actual: unknown, secrets: ReadonlyArray<string>) => {
  // Scrubbed before the cut, as in `messageDetail`: a key cut in two would no longer match.
  const text = truncate(scrub(formatValue(actual), secrets), maxShownValue)
  return { toString: () => text }
}

// A `Type` issue rendered by the default `Expected X, actual Y`, which shows the value.
const showsValue = (issue: ParseResult.Type): boolean =>
  issue.message === undefined && Option.isNone(AST.getMessageAnnotation(issue.ast)) &&
  Option.isNone(AST.getParseIssueTitleAnnotation(issue.ast))

/** The most characters of an expected type a parse issue shows: past it, the kind of value it wants. */
const maxShownType = 60

// What `Expected X` says of a long type (a whole response's schema is hundreds of characters): its kind.
const expectedKind = (ast: AST.AST): string => {
  const text = String(ast)
  if (text.length <= maxShownType) return text
  switch (ast._tag) {
    case "TupleType":
      return "an array"
    case "TypeLiteral":
      return "an object"
    case "Refinement":
    case "Transformation":
      return expectedKind(ast._tag === "Refinement" ? ast.from : ast.to)
    default:
      return "a value of another shape"
  }
}

const tidyIssue = (issue: ParseResult.ParseIssue, secrets: ReadonlyArray<string>): ParseResult.ParseIssue => {
  switch (issue._tag) {
    case "Type": {
      if (!showsValue(issue)) return issue
      const shown = shownValue(issue.actual, secrets)
      const expected = expectedKind(issue.ast)
      return expected === String(issue.ast)
        ? new ParseResult.Type(issue.ast, shown)
        : new ParseResult.Type(issue.ast, shown, `Expected ${expected}, actual ${shown}`)
    }
    case "Pointer":
      return new ParseResult.Pointer(issue.path, issue.actual, tidyIssue(issue.issue, secrets))
    case "Refinement":
      return new ParseResult.Refinement(issue.ast, issue.actual, issue.kind, tidyIssue(issue.issue, secrets))
    case "Transformation":
      return new ParseResult.Transformation(issue.ast, issue.actual, issue.kind, tidyIssue(issue.issue, secrets))
    case "Composite": {
      let members: ReadonlyArray<ParseResult.ParseIssue> = Array.isArray(issue.issues)
        ? issue.issues as ReadonlyArray<ParseResult.ParseIssue>
        : [issue.issues as ParseResult.ParseIssue]
      // A union member that failed with a bare `Type` issue does not take this kind of value at all (`Expected
      // string, actual [...]` for an array): when another member took it and failed inside, that one is the news.
      if (issue.ast._tag === "Union" && members.some((member) => member._tag !== "Type")) {
        members = members.filter((member) => member._tag !== "Type")
      }
      const [first, ...rest] = members.map((member) => tidyIssue(member, secrets))
      return new ParseResult.Composite(issue.ast, issue.actual, [first!, ...rest], issue.output)
    }
    default:
      return issue
  }
}

/**
 * A parse error as one line of `path: message` per problem: the union members a value is not the kind of left
 * out, each wrong value shown scrubbed and cut to {@link maxShownValue} characters (a 2 MB image would
 * otherwise be the message).
 */
export const describeIssues = (error: ParseResult.ParseError, secrets: ReadonlyArray<string> = []): string => {
  const issues = issueList(error, secrets)
  if (issues === undefined) return "a value nested too deeply to describe"
  const lines: Array<string> = []
  for (const issue of issues) {
    const line = `${issue.path.length > 0 ? issue.path.join(".") + ": " : ""}${issue.message}`
    if (!lines.includes(line)) lines.push(line)
  }
  return lines.join("; ")
}

/**
 * The problems of a parse error, each with its path, tidied as {@link describeIssues} does; `undefined` for a
 * value nested too deeply to describe.
 */
export const issueList = (
  error: ParseResult.ParseError,
  secrets: ReadonlyArray<string> = []
): ReadonlyArray<ParseResult.ArrayFormatterIssue> | undefined => {
  let issues: ReadonlyArray<ParseResult.ArrayFormatterIssue>
  try {
    issues = ParseResult.ArrayFormatter.formatIssueSync(tidyIssue(error.issue, secrets))
  } catch {
    // Describing a wrong value recurses into it: one nested thousands deep (JSON a provider or a model may
    // send) overflows the stack there. A short message, so the caller's typed error is still made.
    return undefined
  }
  // An optional field reports its value against `undefined` too; that second line says nothing.
  return issues.filter((issue) => !issue.message.startsWith("Expected undefined"))
}

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** Fields every error of a call shares. */
export const baseFields = (context: ErrorContext) => ({
  provider: context.provider,
  ...(context.model === undefined ? {} : { model: context.model })
})

/**
 * The error of an HTTP response with a failing status: tag from the provider's reading of the body, else
 * from the status; Retry-After from the headers, else from the body; `x-should-retry` kept as the override.
 */
export const fromResponse = (
  context: ErrorContext,
  classify: ClassifyError,
  response: {
    readonly status: number
    readonly headers: Headers.HeaderRecord
    readonly bodyText: string
  },
  nowMillis: number
): LlmError.LlmError => {
  const { bodyText, headers, status } = response
  const details = classify(status, parseJson(bodyText))
  const retryAfter = Headers.retryAfterFromHeaders(headers, nowMillis) ?? details.retryAfter
  const requestId = requestIdOf(context, headers)
  const shouldRetry = Headers.shouldRetryFromHeaders(headers)
  const detail = details.message === undefined
    ? (bodyText.trim() === "" ? "empty body" : messageDetail(bodyText.trim(), context.secrets))
    : messageDetail(details.message, context.secrets)
  return make(details.tag ?? tagForStatus(status), {
    ...baseFields(context),
    status,
    ...(requestId === undefined ? {} : { requestId }),
    ...(retryAfter === undefined ? {} : { retryAfter }),
    ...(shouldRetry === undefined ? {} : { shouldRetry }),
    ...(bodyText === "" ? {} : { body: LlmError.truncateBody(scrub(bodyText, context.secrets)) }),
    message: `${context.provider} ${status}: ${detail}`
  })
}

/** A response that does not decode: keeps the raw body, truncated. */
export const malformed = (
  context: ErrorContext,
  reason: string,
  bodyText: string,
  extra: { readonly status?: number | undefined; readonly requestId?: string | undefined } = {}
): LlmError.MalformedResponse =>
  new LlmError.MalformedResponse({
    ...baseFields(context),
    ...(extra.status === undefined ? {} : { status: extra.status }),
    ...(extra.requestId === undefined ? {} : { requestId: extra.requestId }),
    body: LlmError.truncateBody(scrub(bodyText, context.secrets)),
    message: messageDetail(`${context.provider}: malformed response: ${reason}`, context.secrets)
  })

const usageFields = [
  "inputTokens",
  "outputTokens",
  "totalTokens",
  "cachedInputTokens",
  "cacheWriteTokens",
  "reasoningTokens"
] as const

const requiredUsageFields: ReadonlySet<string> = new Set(["inputTokens", "outputTokens", "totalTokens"])

/**
 * What makes a provider's reported usage impossible (a count missing, or no whole number from 0 to 2^53 - 1:
 * negative, fractional, NaN, infinite, beyond exact, or no number at all), or `undefined` for a usable one. Such
 * a report is a malformed response: passed on, it would reach a client, a budget or a metric as if it were a count.
 */
export const impossibleUsage = (usage: ChatResponse.Usage): string | undefined => {
  for (const field of usageFields) {
    const count: unknown = usage[field]
    if (count === undefined) {
      if (requiredUsageFields.has(field)) return `usage.${field} is missing`
    } else if (!(Number.isSafeInteger(count) && (count as number) >= 0)) {
      // A string "10" shown quoted: `is 10, not a token count` would read as a contradiction.
      return `usage.${field} is ${typeof count === "number" ? count : described(count)}, not a token count`
    }
  }
  return undefined
}

/**
 * Whether a JSON object inside a 200 response is an error rather than content: an `error` member (OpenAI, Azure,
 * Gemini, llama.cpp, Ollama), vLLM's top-level `{"object": "error"}`, or Anthropic's `{"type": "error"}`.
 */
export const isErrorObject = (json: Json): boolean =>
  (json.error !== undefined && json.error !== null) || json.object === "error" || json.type === "error"

/** The HTTP status an error object carries (`error.status`, `error.code`, or vLLM's top-level `code`), if any. */
const embeddedStatus = (json: Json): number | undefined => {
  const error = isObject(json.error) ? json.error : json
  for (const value of [error.status, error.code]) {
    if (typeof value === "number" && Number.isInteger(value) && value >= 400 && value <= 599) return value
  }
  return undefined
}

/** Where an error object was found where content was expected. */
export interface ErrorObjectOptions {
  readonly requestId: string | undefined
  readonly where: "stream" | "body"
}

/**
 * The error of an error object found where content was expected: an error event in a 200 stream, or an error
 * object as a 200 body (also a 200 "stream" that is one JSON object). Tagged as the same object in an error
 * response would be: the provider's reading first, else the status it carries, else `ServerError`.
 */
export const fromErrorObject = (
  context: ErrorContext,
  classify: ClassifyError,
  json: Json,
  options: ErrorObjectOptions
): LlmError.LlmError => {
  const status = embeddedStatus(json)
  return errorOfObject(context, json, status, classify(status, json), options)
}

/** {@link fromErrorObject}, or `undefined` for an object that is not recognisably an error. */
export const recognisedErrorObject = (
  context: ErrorContext,
  classify: ClassifyError,
  json: Json,
  options: ErrorObjectOptions
): LlmError.LlmError | undefined => {
  const status = embeddedStatus(json)
  const details = classify(status, json)
  return isErrorObject(json) || details.tag !== undefined || details.message !== undefined
    ? errorOfObject(context, json, status, details, options)
    : undefined
}

const errorOfObject = (
  context: ErrorContext,
  json: Json,
  status: number | undefined,
  details: ErrorDetails,
  options: ErrorObjectOptions
): LlmError.LlmError => {
  const where = options.where === "stream" ? "error event in stream" : "error object in a 200 body"
  return make(details.tag ?? (status === undefined ? "ServerError" : tagForStatus(status)), {
    ...baseFields(context),
    // The status the error object names, else the response's own: it came in a 200.
    status: status ?? 200,
    ...(options.requestId === undefined ? {} : { requestId: options.requestId }),
    ...(details.retryAfter === undefined ? {} : { retryAfter: details.retryAfter }),
    body: LlmError.truncateBody(scrub(JSON.stringify(json), context.secrets)),
    message: messageDetail(`${context.provider}: ${where}: ${details.message ?? "unknown error"}`, context.secrets)
  })
}
