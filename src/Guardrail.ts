/**
 * Checks on what goes to a model and what comes back, around any `LanguageModel` Layer.
 *
 * A guardrail is a named check of a text that passes it, rewrites it (e.g. redacts it) or blocks it:
 *
 * - **input** guardrails run before the call on the text of each message of the chosen roles (default the
 *   user's); a rewrite changes the request sent, a block fails the call with `LlmError.GuardrailBlocked`
 *   (`stage: "input"`) before any network call.
 * - **output** guardrails run after it on each text part of the answer (`generate`, `generateObject`); on a
 *   stream, on the text as it accumulates and at its end. A block before any content reached the caller fails
 *   like `generate` would; after it, the stream ends with `GuardrailBlocked` carrying in `partial` what was
 *   delivered, never a silent truncation. A rewrite on a stream holds back the tail of the text that could
 *   still become a match (each guardrail's `holdBack`), so what is delivered is exactly the rewrite of the
 *   whole text.
 *
 * Guardrails of a stage run in order, each on the text the previous one passed on. Reasoning, refusals and
 * tool-call arguments are not checked.
 *
 * @since 0.2.0
 */
import * as ConfigError from "effect/ConfigError"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import type * as ChatRequest from "./ChatRequest.js"
import type * as ChatResponse from "./ChatResponse.js"
import * as Internal from "./internal/guardrail.js"
import * as Patterns from "./internal/guardrailPatterns.js"
import * as OptionChecks from "./internal/optionChecks.js"
import * as PolicyLayer from "./internal/policyLayer.js"
import * as PolicyStream from "./internal/policyStream.js"
import * as Span from "./internal/span.js"
import * as LanguageModel from "./LanguageModel.js"
import * as LlmError from "./LlmError.js"

/**
 * What a check decided about a text.
 *
 * @since 0.2.0
 * @category models
 */
export type Verdict =
  | { readonly _tag: "Pass" }
  | { readonly _tag: "Rewrite"; readonly text: string }
  | { readonly _tag: "Block"; readonly reason: string }

/**
 * The text may go as it is.
 *
 * @since 0.2.0
 * @category verdicts
 */
export const pass: Verdict = { _tag: "Pass" }

/**
 * The text goes as `text` instead (a redaction).
 *
 * @since 0.2.0
 * @category verdicts
 */
export const rewrite = (text: string): Verdict => ({ _tag: "Rewrite", text })

/**
 * The call is refused; `reason` goes into `GuardrailBlocked.reason` (it reaches the caller: keep secrets out).
 *
 * @since 0.2.0
 * @category verdicts
 */
export const block = (reason: string): Verdict => ({ _tag: "Block", reason })

/**
 * What a check knows besides the text.
 *
 * @since 0.2.0
 * @category models
 */
export interface CheckContext {
  readonly stage: "input" | "output"
  /** The request (for output checks, as sent: after the input guardrails). */
  readonly request: ChatRequest.ChatRequest
  /**
   * `false` while a stream's text is still growing: a match that reaches the end of the text may still change
   * with the next delta. `true` for input, for `generate`, and at a stream's end.
   */
  readonly final: boolean
}

/**
 * A guardrail: a name (in errors) and a check. A check may fail with an `LlmError` of its own, e.g. when it
 * calls a moderation model, and may need services `R`, which the layer then needs.
 *
 * @since 0.2.0
 * @category models
 */
export interface Guardrail<R = never> {
  readonly name: string
  readonly check: (text: string, context: CheckContext) => Effect.Effect<Verdict, LlmError.LlmError, R>
  /**
   * On a stream, how many characters at the end of the text so far to hold back because a later delta could
   * still turn them into a match (a number, or a function of the text). Default 0: text is released as soon
   * as it passes.
   */
  readonly holdBack?: number | ((text: string) => number) | undefined
  /**
   * Whether its verdict on a text depends only on the characters near each match, as the built-ins' do (a
   * deny-list of strings, `redactPii`), its `holdBack` holding any end a later delta could still turn into a
   * match. On a stream whose output guardrails are all `local`, each check sees the text from a little before
   * the last released point on (at least 128 characters), so the work grows with the stream's length, not with
   * its square. Default `false`: each check sees the whole text so far.
   */
  readonly local?: boolean | undefined
  /** Why the guardrail cannot run (set by a constructor given bad arguments): the layer fails to build. */
  readonly problem?: string | undefined
}

/**
 * Roles whose text input guardrails check. For `"tool"`, results that are strings.
 *
 * @since 0.2.0
 * @category models
 */
export type Role = "system" | "user" | "assistant" | "tool"

/**
 * The guardrails to run: on the request's messages (`input`, for the roles in `inputRoles`) and on the answer
 * (`output`), in order.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options<R = never> {
  readonly input?: ReadonlyArray<Guardrail<R>> | undefined
  readonly output?: ReadonlyArray<Guardrail<R>> | undefined
  /** The roles whose messages input guardrails check; default `["user"]`. */
  readonly inputRoles?: ReadonlyArray<Role> | undefined
}

/**
 * Makes a guardrail (the identity: it helps inference of `R`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Guardrail } from "liter-llm"
 *
 * const noShouting = Guardrail.make({
 *   name: "no-shouting",
 *   check: (text) => Effect.succeed(text.length > 20 && text === text.toUpperCase() ? Guardrail.block("all caps") : Guardrail.pass)
 * })
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = <R = never>(guardrail: Guardrail<R>): Guardrail<R> => guardrail

// The checks of `options`, their refusals naming `service`'s provider and default model. `options` are valid.
const checksOf = (
  service: Pick<LanguageModel.Service, "provider" | "defaultModel">,
  options: Options<never>
) => {
  const input = options.input ?? []
  const output = options.output ?? []
  const inputRoles = new Set(options.inputRoles ?? ["user"])

  const blocked = (
    request: ChatRequest.ChatRequest,
    stage: "input" | "output",
    guardrail: string,
    reason: string,
    partial?: LlmError.PartialResponse,
    answered?: ChatResponse.ChatResponse
  ) => {
    const model = request.model ?? service.defaultModel
    const usage = answered?.usage
    return new LlmError.GuardrailBlocked({
      provider: service.provider,
      ...(model === undefined ? {} : { model }),
      stage,
      guardrail,
      reason,
      ...(partial === undefined ? {} : { partial }),
      ...(usage === undefined ?
        {} :
        {
          usage: { inputTokens: usage.inputTokens, outputTokens: usage.outputTokens, totalTokens: usage.totalTokens }
        }),
      ...(answered?.costUsd === undefined ? {} : { costUsd: answered.costUsd }),
      message: `guardrail "${guardrail}" blocked the ${stage}${partial === undefined ? "" : " mid-stream"}: ${reason}`
    })
  }

  const checkText = (
    request: ChatRequest.ChatRequest,
    stage: "input" | "output",
    text: string,
    answered?: ChatResponse.ChatResponse
  ) =>
    Effect.flatMap(
      Internal.runChain(stage === "input" ? input : output, text, { stage, request, final: true }),
      (outcome) =>
        outcome._tag === "Text"
          ? Effect.succeed(outcome.text)
          : Effect.fail(blocked(request, stage, outcome.guardrail, outcome.reason, undefined, answered))
    )

  const checkInput = Span.fn("Guardrail.input")(function*(request: ChatRequest.ChatRequest) {
    if (input.length === 0) return request
    const messages = yield* Effect.forEach(request.messages, (message) =>
      inputRoles.has(message.role)
        ? Internal.checkMessage(message, (text) => checkText(request, "input", text))
        : Effect.succeed(message))
    return messages.every((message, i) => message === request.messages[i]) ? request : { ...request, messages }
  })

  const checkOutput = Span.fn("Guardrail.output")(function*(
    request: ChatRequest.ChatRequest,
    response: ChatResponse.ChatResponse
  ) {
    if (output.length === 0) return response
    const content = yield* Effect.forEach(
      response.content,
      (part): Effect.Effect<ChatResponse.ContentPart, LlmError.LlmError> =>
        part.type === "text"
          ? Effect.map(
            checkText(request, "output", part.text, response),
            (text) => text === part.text ? part : { ...part, text }
          )
          : Effect.succeed(part)
    )
    return content.every((part, i) => part === response.content[i]) ? response : { ...response, content }
  })

  return { output, blocked, checkInput, checkOutput }
}

/**
 * A request as the input guardrails of `options` let it through, what {@link wrap} sends its model: their
 * rewrites applied (a PII redaction), or `GuardrailBlocked` (`stage: "input"`, provider `"guardrail"`) from the
 * first that blocks. Options `wrap` would refuse fail with `InvalidRequest` naming the option.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Guardrail } from "liter-llm"
 *
 * const sent = Guardrail.checkInput({ input: [Guardrail.redactPii()] }, {
 *   messages: [{ role: "user", content: "mail me at carol@example.org" }]
 * })
 * // Effect of the request whose message reads "mail me at [EMAIL]"
 * ```
 *
 * @since 0.2.0
 * @category checks
 */
export const checkInput = (
  options: Options<never>,
  request: ChatRequest.ChatRequest
): Effect.Effect<ChatRequest.ChatRequest, LlmError.LlmError> => {
  const problem = Internal.problemOf(options)
  if (problem !== undefined) {
    return Effect.fail(
      new LlmError.InvalidRequest({ provider: "guardrail", message: `Guardrail.checkInput: ${problem[1]}` })
    )
  }
  return checksOf({ provider: "guardrail", defaultModel: undefined }, options).checkInput(request)
}

/**
 * Wraps a service with guardrails whose requirements are already provided (see {@link layer}). Options the layer
 * would refuse (`null`, a misspelt option, a guardrail given bad arguments, ...) make every call fail with
 * `InvalidRequest` naming the option.
 *
 * @since 0.2.0
 * @category constructors
 */
export const wrap = (service: LanguageModel.Service, options: Options<never>): LanguageModel.Service => {
  // Bad options (checked as the layer checks them) fail every call with `InvalidRequest` naming the option:
  // a guardrail that cannot run must never let the text through unchecked.
  const problem = Internal.problemOf(options)
  if (problem !== undefined) return PolicyStream.refusing(service, `Guardrail.wrap: ${problem[1]}`)
  const { blocked, checkInput, checkOutput, output } = checksOf(service, options)

  return {
    ...service,
    generate: (request) =>
      Effect.flatMap(
        checkInput(request),
        (checked) => Effect.flatMap(service.generate(checked), (response) => checkOutput(checked, response))
      ),
    // Input guardrails only: a pull as well (see `LanguageModel.toPull`); output guardrails hold text back, a
    // stream stage.
    stream: output.length === 0
      ? PolicyStream.make((request) =>
        Effect.map(checkInput(request), (checked) => PolicyStream.readFrom({ service, request: checked }))
      )
      : (request) =>
        Stream.unwrap(
          Effect.map(checkInput(request), (checked) =>
            Internal.guardStream(
              service.stream(checked),
              output,
              checked,
              (guardrail, reason, partial) => blocked(checked, "output", guardrail, reason, partial)
            ))
        )
  }
}

/**
 * Wraps a `LanguageModel` Layer with input and output guardrails. Bad options (`input` or `output` not an array
 * of guardrails, no guardrail, a guardrail without a name or a check, two of a stage with the same name, a bad
 * `holdBack`, a built-in given bad arguments) fail the layer with a `ConfigError`. The services the checks need are taken when the layer is built.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { Guardrail, OpenAi } from "liter-llm"
 *
 * const Guarded = Guardrail.layer(OpenAi.layer({ apiKey: Redacted.make("sk-...") }), {
 *   input: [Guardrail.denyList(["ignore previous instructions"]), Guardrail.redactPii()],
 *   output: [Guardrail.redactPii()]
 * })
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = <A, E, R, RG = never>(
  model: Layer.Layer<A | LanguageModel.LanguageModel, E, R>,
  options: Options<RG>
): Layer.Layer<
  A | LanguageModel.LanguageModel,
  E | ConfigError.ConfigError,
  R | Exclude<RG, A | LanguageModel.LanguageModel>
> =>
  PolicyLayer.around(
    model,
    Effect.gen(function*() {
      const problem = Internal.problemOf(options)
      if (problem !== undefined) {
        return yield* Effect.fail(ConfigError.InvalidData([...problem[0]], `Guardrail.layer: ${problem[1]}`))
      }
      const context: Context.Context<RG> = yield* Effect.context<RG>()
      const provided = (guardrails: ReadonlyArray<Guardrail<RG>> | undefined) =>
        (guardrails ?? []).map((guardrail): Guardrail<never> => ({
          ...guardrail,
          check: (text, checkContext) => {
            const checked = guardrail.check(text, checkContext)
            // Not an Effect (a JavaScript check returning a plain value): left for the chain to refuse.
            return Effect.isEffect(checked) ? Effect.provide(checked, context) : checked
          }
        }))
      const service = yield* LanguageModel.LanguageModel
      return wrap(service, { ...options, input: provided(options.input), output: provided(options.output) })
    })
  )

/**
 * How a deny list matches its terms and names itself.
 *
 * @since 0.2.0
 * @category built-ins
 */
export interface DenyListOptions {
  /** Default `"deny-list"`. */
  readonly name?: string | undefined
  /** Strings match only as whole words (not inside a longer word, in any script); default `true`. */
  readonly wholeWords?: boolean | undefined
  /** Strings match in any case unless `true`; a RegExp keeps its own flags. Default `false`. */
  readonly caseSensitive?: boolean | undefined
  /**
   * Characters held back at the end of a streamed text, at least (default 0). The end that could still become a
   * string entry is always held; a RegExp's matches are not known ahead, so give this for them.
   */
  readonly holdBack?: number | undefined
}

const denyListOptionNames = OptionChecks.optionNames<DenyListOptions>({
  name: true,
  wholeWords: true,
  caseSensitive: true,
  holdBack: true
})

/**
 * Blocks a text containing any of `terms`: strings as whole words in any case (by default), RegExps as
 * given. The reason names the entry, not the text. On a stream, a string entry is never delivered even in
 * part (an end of the text that could still become one is held back), and a match at the very end of the text
 * so far waits for the next delta ("bad" may become "badge"). Bad arguments (an empty list, options that are
 * not an object, a misspelt option, a value of the wrong type) fail the layer that uses it with a `ConfigError`
 * naming them.
 *
 * @example
 * ```ts
 * import { Guardrail } from "liter-llm"
 *
 * const topics = Guardrail.denyList(["password", /\bapi[_-]?key\b/i], { name: "secrets" })
 * ```
 *
 * @since 0.2.0
 * @category built-ins
 */
export const denyList = (
  terms: ReadonlyArray<string | RegExp>,
  options: DenyListOptions = {}
): Guardrail => {
  const optionsProblem = Internal.builtinOptionsProblem("Guardrail.denyList", options, denyListOptionNames)
  // Unusable options: read as none, the guardrail carrying the problem (the layer fails to build with it).
  const usable: DenyListOptions = optionsProblem === undefined ? options : {}
  const name = Internal.builtinName(usable.name, "deny-list")
  const caseSensitive = usable.caseSensitive ?? false
  const invalid = optionsProblem !== undefined
    ? optionsProblem
    : !Array.isArray(terms) || terms.length === 0
    ? "the deny-list is empty"
    : terms.some((term) => typeof term === "string" && term.trim() === "")
    ? "the deny-list has an empty or blank string"
    : terms.some((term) => typeof term !== "string" && !(term instanceof RegExp))
    ? "the deny-list has an entry that is neither a string nor a RegExp"
    : Internal.holdBackProblem(usable.holdBack)
  const patterns = invalid === undefined
    ? terms.map((term) =>
      Patterns.denyPattern(term, {
        wholeWords: usable.wholeWords ?? true,
        caseSensitive
      })
    )
    : []
  const strings = invalid === undefined ? terms.filter((term): term is string => typeof term === "string") : []
  return {
    name,
    holdBack: (text) =>
      Math.max(invalid === undefined ? usable.holdBack ?? 0 : 0, Patterns.termTail(strings, text, caseSensitive)),
    // A RegExp's matches may be of any length: a deny-list with one checks the whole text.
    ...(invalid === undefined && strings.length === terms.length ? { local: true } : {}),
    ...(invalid === undefined ? {} : { problem: invalid }),
    check: (text, context) =>
      Effect.sync(() => {
        const found = Patterns.findDenied(patterns, text, context.final)
        return found === undefined ? pass : block(`denied term ${found.label}`)
      })
  }
}

/**
 * The kinds of personal data {@link redactPii} finds.
 *
 * @since 0.2.0
 * @category built-ins
 */
export type PiiKind = "email" | "phone" | "card"

/**
 * Which kinds of personal data the redaction replaces, and its name.
 *
 * @since 0.2.0
 * @category built-ins
 */
export interface RedactPiiOptions {
  /** Default `"pii"`. */
  readonly name?: string | undefined
  /** Default all: `["email", "phone", "card"]`. */
  readonly kinds?: ReadonlyArray<PiiKind> | undefined
  /** The text put in place of each kind; default `[EMAIL]`, `[PHONE]`, `[CARD]`. */
  readonly replacements?: Readonly<Partial<Record<PiiKind, string>>> | undefined
}

const redactPiiOptionNames = OptionChecks.optionNames<RedactPiiOptions>({ name: true, kinds: true, replacements: true })

const defaultReplacements: Record<PiiKind, string> = { email: "[EMAIL]", phone: "[PHONE]", card: "[CARD]" }

/**
 * Replaces email addresses, phone numbers and payment card numbers with tokens (`[EMAIL]`, `[PHONE]`,
 * `[CARD]`). Cards: 13 to 19 digits, spaces or dashes between them, passing the Luhn check. Phones: 10 to 15
 * digits in groups (`555-123-4567`, `(555) 123 4567`, `+44 20 7946 0958`), or 8 or more after a `+`. It misses
 * numbers written in words, 7-digit local numbers, addresses obfuscated as `bob at example dot com` or with
 * non-ASCII domains; it also redacts Luhn-valid IDs of card length and 10- to 15-digit IDs written like
 * phone numbers. On a stream it holds back the last word or digit group (up to 128 characters). Bad options
 * (not an object, a misspelt option, a value of the wrong type) fail the layer that uses it with a
 * `ConfigError` naming them.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Guardrail } from "liter-llm"
 *
 * const pii = Guardrail.redactPii()
 * const verdict = pii.check("Mail bob@example.com", { stage: "input", request: { messages: [] }, final: true })
 * // Effect.succeed({ _tag: "Rewrite", text: "Mail [EMAIL]" })
 * ```
 *
 * @since 0.2.0
 * @category built-ins
 */
export const redactPii = (options: RedactPiiOptions = {}): Guardrail => {
  const optionsProblem = Internal.builtinOptionsProblem("Guardrail.redactPii", options, redactPiiOptionNames) ??
    Internal.piiProblem(options)
  // Unusable options: read as none, the guardrail carrying the problem (the layer fails to build with it).
  const usable: RedactPiiOptions = optionsProblem === undefined ? options : {}
  const kinds = usable.kinds ?? ["email", "phone", "card"]
  const replacements: Partial<Record<PiiKind, string>> = {}
  for (const kind of kinds) replacements[kind] = usable.replacements?.[kind] ?? defaultReplacements[kind]
  const unknown = kinds.find((kind) => !(kind in defaultReplacements))
  return {
    name: Internal.builtinName(usable.name, "pii"),
    holdBack: Patterns.piiTail,
    local: true,
    ...(optionsProblem !== undefined
      ? { problem: optionsProblem }
      : kinds.length === 0
      ? { problem: "kinds is empty" }
      : unknown === undefined
      ? {}
      : { problem: `unknown kind ${JSON.stringify(unknown)}` }),
    check: (text) =>
      Effect.sync(() => {
        const redacted = Patterns.redact(text, replacements)
        return redacted === text ? pass : rewrite(redacted)
      })
  }
}
