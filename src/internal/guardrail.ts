/**
 * Running guardrails: the layer's options checked, the texts of a message, a chain of checks over one text, and
 * the output checks of a stream, which release the text as it accumulates while holding back the tail that a
 * later delta could still change.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Stream from "effect/Stream"
import type * as ChatRequest from "../ChatRequest.js"
import type * as Guardrail from "../Guardrail.js"
import * as LlmError from "../LlmError.js"
import * as StreamPart from "../StreamPart.js"
import * as EventLoop from "./eventLoop.js"
import * as OptionChecks from "./optionChecks.js"

const roles: ReadonlyArray<Guardrail.Role> = ["system", "user", "assistant", "tool"]

const optionNames = OptionChecks.optionNames<Guardrail.Options>({ input: true, output: true, inputRoles: true })

/** What is wrong with a `holdBack` count (characters), or undefined: the layer's and the built-ins' one check. */
export const holdBackProblem = (hold: unknown): string | undefined =>
  hold === undefined || typeof hold === "function" || (Number.isSafeInteger(hold) && (hold as number) >= 0)
    ? undefined
    : `holdBack must be an integer >= 0 (characters), got ${OptionChecks.described(hold)}`

/**
 * What is wrong with a built-in guardrail's options object (`constructor` names it), or undefined: an object
 * (a JavaScript caller may pass `null`) holding only `known` keys, a `name` that is a non-empty string, and
 * the flags booleans. The guardrail carries it as its `problem`.
 */
export const builtinOptionsProblem = (
  constructor: string,
  options: unknown,
  known: ReadonlyArray<string>
): string | undefined => {
  const keys = OptionChecks.knownOptions(constructor, options, known)
  if (Either.isLeft(keys)) return keys.left.message
  const record = options as Readonly<Record<string, unknown>>
  if (record.name !== undefined && (typeof record.name !== "string" || record.name.trim() === "")) {
    return `${constructor}: name must be a non-empty string, got ${OptionChecks.described(record.name)}`
  }
  for (const flag of ["wholeWords", "caseSensitive"]) {
    if (known.includes(flag)) {
      const bad = OptionChecks.booleanOption(constructor, flag, record[flag])
      if (Either.isLeft(bad)) return bad.left.message
    }
  }
  return undefined
}

/** A built-in's name: the one given when usable, else its default (the problem is reported with the name). */
export const builtinName = (name: unknown, fallback: string): string =>
  typeof name === "string" && name.trim() !== "" ? name : fallback

/** What is wrong with `redactPii`'s `kinds` and `replacements`, or undefined (unknown kinds are named later). */
export const piiProblem = (options: Guardrail.RedactPiiOptions): string | undefined => {
  const { kinds, replacements } = options as Readonly<Record<string, unknown>>
  if (kinds !== undefined && (!Array.isArray(kinds) || kinds.some((kind) => typeof kind !== "string"))) {
    return `Guardrail.redactPii: kinds must be an array of "email", "phone" or "card", got ${
      OptionChecks.described(kinds)
    }`
  }
  if (replacements === undefined) return undefined
  const known = OptionChecks.knownOptions("Guardrail.redactPii", replacements, ["email", "phone", "card"], [
    "replacements"
  ])
  if (Either.isLeft(known)) return known.left.message
  const bad = Object.entries(replacements as Readonly<Record<string, unknown>>).find(([, value]) =>
    value !== undefined && typeof value !== "string"
  )
  return bad === undefined
    ? undefined
    : `Guardrail.redactPii: replacements.${bad[0]} must be a string, got ${OptionChecks.described(bad[1])}`
}

/** A message of `LayerOptions` without its `"Guardrail.layer: "` prefix, which the layer adds. */
const afterLayer = (message: string): string => message.replace(/^Guardrail\.layer: /, "")

/** Looks like one guardrail (a name and a check), to say that it goes in a list. */
const isGuardrailLike = (value: unknown): boolean =>
  typeof value === "object" && value !== null && typeof (value as { readonly check?: unknown }).check === "function"

/** A value as a message shows it; a guardrail by its name, as its JSON would drop the check function. */
const shownValue = (value: unknown): string =>
  isGuardrailLike(value) && typeof (value as { readonly name?: unknown }).name === "string"
    ? `the guardrail ${JSON.stringify((value as { readonly name: string }).name)}`
    : OptionChecks.described(value)

/** What is wrong with a layer's options: the path and a message, or undefined. */
export const problemOf = <R>(options: Guardrail.Options<R>): readonly [ReadonlyArray<string>, string] | undefined => {
  const keys = OptionChecks.knownOptions("Guardrail.layer", options, optionNames)
  if (Either.isLeft(keys)) return [keys.left._op === "InvalidData" ? keys.left.path : [], afterLayer(keys.left.message)]
  // Only `undefined` means not given: `null` is refused below, never read as no guardrails.
  const stages = [
    ["input", options.input === undefined ? [] : options.input],
    ["output", options.output === undefined ? [] : options.output]
  ] as const
  for (const [stage, guardrails] of stages) {
    // A JavaScript caller may pass one guardrail, or a string or record, where a list goes.
    if (!Array.isArray(guardrails)) {
      const one = isGuardrailLike(guardrails) ? " (one guardrail: put it in a list, [guardrail])" : ""
      return [[stage], `${stage} must be an array of guardrails${one}, got ${shownValue(guardrails)}`]
    }
  }
  if (stages.every(([, guardrails]) => guardrails.length === 0)) {
    return [["input"], "give at least one input or output guardrail"]
  }
  for (const [stage, guardrails] of stages) {
    const names = new Set<string>()
    // By index, not `entries()`: a hole in a sparse array is refused as an element, like `undefined`.
    for (let index = 0; index < guardrails.length; index++) {
      const guardrail: Guardrail.Guardrail<R> | undefined = guardrails[index]
      const path = [stage, String(index)]
      if (typeof guardrail !== "object" || guardrail === null || Array.isArray(guardrail)) {
        return [
          path,
          `${stage}[${index}] must be a guardrail (an object with a name and a check function), got ${
            shownValue(guardrail)
          }`
        ]
      }
      if (typeof guardrail.name !== "string" || guardrail.name.trim() === "") {
        return [path, `${stage}[${index}] needs a name`]
      }
      if (names.has(guardrail.name)) return [path, `${stage} has two guardrails named "${guardrail.name}"`]
      names.add(guardrail.name)
      if (typeof guardrail.check !== "function") return [path, `${stage} "${guardrail.name}" has no check function`]
      if (guardrail.problem !== undefined) return [path, `${stage} "${guardrail.name}": ${guardrail.problem}`]
      const hold = holdBackProblem(guardrail.holdBack)
      if (hold !== undefined) return [path, `${stage} "${guardrail.name}": ${hold}`]
      if (guardrail.local !== undefined && typeof guardrail.local !== "boolean") {
        return [path, `${stage} "${guardrail.name}": local must be true or false, got ${shownValue(guardrail.local)}`]
      }
    }
  }
  if (options.inputRoles !== undefined && (!Array.isArray(options.inputRoles) || options.inputRoles.length === 0)) {
    // An empty list would make the input guardrails check nothing.
    return [["inputRoles"], "inputRoles must list at least one role (leave it out for the user's messages)"]
  }
  const unknown = (options.inputRoles ?? []).find((role) => !roles.includes(role))
  if (unknown !== undefined) return [["inputRoles"], `inputRoles has an unknown role ${JSON.stringify(unknown)}`]
  return undefined
}

/**
 * The message with each text the input guardrails see (string content, runs of consecutive text parts, string
 * tool results) replaced by what `run` made of it: the same message when nothing changed.
 *
 * Consecutive text parts are one text to the model, so they are checked as one: a term split across two parts
 * (`"say forbidden-"`, `"word"`) is still found. When a check rewrites such a run, the run becomes one text part
 * holding the rewritten text.
 */
export const checkMessage = (
  message: ChatRequest.Message,
  run: (text: string) => Effect.Effect<string, LlmError.LlmError>
): Effect.Effect<ChatRequest.Message, LlmError.LlmError> => {
  if (message.role === "tool") {
    return Effect.map(
      Effect.forEach(message.content, (part) =>
        typeof part.result === "string"
          ? Effect.map(run(part.result), (result) => result === part.result ? part : { ...part, result })
          : Effect.succeed(part)),
      (content) => content.every((part, i) => part === message.content[i]) ? message : { ...message, content }
    )
  }
  if (typeof message.content === "string") {
    return Effect.map(
      run(message.content),
      (content) => content === message.content ? message : { ...message, content } as ChatRequest.Message
    )
  }
  type Part = { readonly type: string; readonly text?: string }
  const parts: ReadonlyArray<Part> = message.content
  const isText = (part: Part) => part.type === "text" && part.text !== undefined
  const runs: Array<Array<Part>> = []
  for (const part of parts) {
    const last = runs[runs.length - 1]
    if (last !== undefined && isText(part) && isText(last[0]!)) last.push(part)
    else runs.push([part])
  }
  return Effect.map(
    Effect.forEach(runs, (texts): Effect.Effect<ReadonlyArray<Part>, LlmError.LlmError> => {
      if (!isText(texts[0]!)) return Effect.succeed(texts)
      if (texts.length === 1) {
        const part = texts[0]!
        return Effect.map(run(part.text!), (text) => text === part.text ? texts : [{ ...part, text }])
      }
      const whole = texts.map((part) => part.text!).join("")
      return Effect.flatMap(run(whole), (text) => {
        if (text === whole) return Effect.succeed(texts)
        // Rewritten. A rewrite of the joined text can run over a part's end (an address followed by a part that
        // starts with letters), so each part is rewritten on its own, and those parts are kept when their joined
        // text then passes unchanged; else the run becomes the one rewritten text (the last part's other fields
        // stay: a cache breakpoint marks the end of the run).
        const merged = [{ ...texts[texts.length - 1]!, text }]
        return Effect.flatMap(Effect.forEach(texts, (part) => run(part.text!)), (each) => {
          const joined = each.join("")
          return Effect.map(run(joined), (again) =>
            again !== joined
              ? merged
              : texts.map((part, i) => each[i] === part.text ? part : { ...part, text: each[i]! }))
        })
      })
    }),
    (checked) => {
      const content = checked.flat()
      return content.length === parts.length && content.every((part, i) => part === parts[i])
        ? message
        : { ...message, content } as ChatRequest.Message
    }
  )
}

/** What a chain made of a text: the text to use (the last guardrail that rewrote it), or who blocked and why. */
export type Outcome =
  | { readonly _tag: "Text"; readonly text: string; readonly rewrittenBy: string | undefined }
  | { readonly _tag: "Blocked"; readonly guardrail: string; readonly reason: string }

const isVerdict = (value: unknown): value is Guardrail.Verdict => {
  if (typeof value !== "object" || value === null) return false
  const verdict = value as { readonly _tag?: unknown; readonly text?: unknown; readonly reason?: unknown }
  return verdict._tag === "Pass" || (verdict._tag === "Rewrite" && typeof verdict.text === "string") ||
    (verdict._tag === "Block" && typeof verdict.reason === "string")
}

/** A check that answered something else than a verdict blocks (fails closed): the text was not checked. */
const notAVerdict = (guardrail: string, value: unknown): Outcome => {
  let shown: string
  try {
    shown = JSON.stringify(value) ?? String(value)
  } catch {
    shown = typeof value
  }
  return {
    _tag: "Blocked",
    guardrail,
    reason: `the check answered ${shown.length > 80 ? `${shown.slice(0, 80)}...` : shown}, not a verdict`
  }
}

/** Runs the guardrails in order, each on the text the previous one passed on; the first block ends it. */
export const runChain = (
  guardrails: ReadonlyArray<Guardrail.Guardrail<never>>,
  text: string,
  context: Guardrail.CheckContext
): Effect.Effect<Outcome, LlmError.LlmError> =>
  Effect.suspend(() => {
    let current = text
    let rewrittenBy: string | undefined
    let index = 0
    const next: Effect.Effect<Outcome, LlmError.LlmError> = Effect.suspend(() => {
      const guardrail = guardrails[index++]
      if (guardrail === undefined) return Effect.succeed({ _tag: "Text", text: current, rewrittenBy })
      const checked = guardrail.check(current, context)
      if (!Effect.isEffect(checked)) return Effect.succeed(notAVerdict(guardrail.name, checked))
      return Effect.flatMap(checked, (verdict): Effect.Effect<Outcome, LlmError.LlmError> => {
        if (!isVerdict(verdict)) return Effect.succeed(notAVerdict(guardrail.name, verdict))
        if (verdict._tag === "Block") {
          return Effect.succeed({ _tag: "Blocked", guardrail: guardrail.name, reason: verdict.reason })
        }
        if (verdict._tag === "Rewrite" && verdict.text !== current) {
          current = verdict.text
          rewrittenBy = guardrail.name
        }
        return next
      })
    })
    return next
  })

/** How many characters at the end of `text` the guardrails hold back on a stream: the most any asks for. */
export const holdBackOf = (guardrails: ReadonlyArray<Guardrail.Guardrail<never>>, text: string): number => {
  let most = 0
  for (const guardrail of guardrails) {
    const hold = guardrail.holdBack
    const wanted = hold === undefined ? 0 : typeof hold === "number" ? hold : hold(text)
    if (wanted > most) most = wanted
  }
  return Math.min(most, text.length)
}

/** How the stream guard fails: the blocking guardrail, its reason, and what the caller had received. */
export type BlockError = (
  guardrail: string,
  reason: string,
  partial: LlmError.PartialResponse | undefined
) => LlmError.GuardrailBlocked

/** Text deltas checked between two turns of the event loop. */
const deltasPerTurn = 64

/** Characters of released text a window keeps before it when every guardrail is `local`: word and number edges. */
const windowContext = 128

/** Released characters past the context at which a window moves on. */
const windowStep = 256

/**
 * The output checks of a stream. Text deltas are checked as one growing text per segment (consecutive text,
 * up to the next non-text content part or the finish): at each delta the chain runs on the text so far; the
 * part of it no guardrail holds back is released once its checked form is a prefix of the checked form of the
 * whole text so far, so what is delivered is always the start of the final checked text, and at the end
 * exactly it. Parts that carry no text (metadata, usage) pass at once: Gemini sends usage with every chunk.
 *
 * When every guardrail is `local`, "the text so far" is a window: once more than {@link windowStep} characters
 * are released past {@link windowContext}, the segment restarts that many characters before the released point,
 * provided that checking the text cut there, in two parts, gives what checking it whole gives (no match spans
 * the cut); else it tries again later. Each check then sees a bounded text, and a long answer costs linear
 * work rather than quadratic (a stream of 8 000 deltas took seconds of CPU, blocking every other request).
 */
export const guardStream = (
  source: Stream.Stream<StreamPart.StreamPart, LlmError.LlmError>,
  guardrails: ReadonlyArray<Guardrail.Guardrail<never>>,
  request: Guardrail.CheckContext["request"],
  blocked: BlockError
): Stream.Stream<StreamPart.StreamPart, LlmError.LlmError> =>
  Stream.suspend(() => {
    const delivered = new StreamPart.Accumulator()
    let contentDelivered = false
    // The segment: its raw text, how much of it was released, and the checked text released for it.
    let raw = ""
    let releasedRaw = 0
    let emitted = ""

    const fail = (guardrail: string, reason: string) =>
      Effect.fail(blocked(guardrail, reason, contentDelivered ? delivered.partial() : undefined))

    const deliver = (parts: Array<StreamPart.StreamPart>, part: StreamPart.StreamPart) => {
      delivered.add(part)
      if (StreamPart.isContent(part)) contentDelivered = true
      parts.push(part)
    }

    const run = (text: string, final: boolean) => runChain(guardrails, text, { stage: "output", request, final })

    /** The text to release now, or the failure of a block. */
    const step = (final: boolean): Effect.Effect<string, LlmError.LlmError> =>
      Effect.gen(function*() {
        const whole = yield* run(raw, final)
        if (whole._tag === "Blocked") return yield* fail(whole.guardrail, whole.reason)
        if (!whole.text.startsWith(emitted)) {
          // A rewrite reached back into text already delivered: the match was longer than the hold-back.
          return yield* fail(
            whole.rewrittenBy ?? guardrails[0]!.name,
            "a rewrite changed text already delivered (a match longer than the hold-back)"
          )
        }
        if (final) return whole.text.slice(emitted.length)
        const settled = raw.length - holdBackOf(guardrails, raw)
        if (settled <= releasedRaw) return ""
        const prefix = settled === raw.length ? whole : yield* run(raw.slice(0, settled), false)
        // A match across the cut checks differently in part and in whole: hold it until it is settled.
        if (prefix._tag === "Blocked" || !prefix.text.startsWith(emitted) || !whole.text.startsWith(prefix.text)) {
          return ""
        }
        releasedRaw = settled
        return prefix.text.slice(emitted.length)
      })

    const release = (parts: Array<StreamPart.StreamPart>, text: string) => {
      emitted += text
      if (text !== "") deliver(parts, { type: "text-delta", text })
    }

    const windowed = guardrails.every((guardrail) => guardrail.local === true)
    let deltasSinceTurn = 0
    let moveAt = windowContext + windowStep
    /** Restarts the segment `windowContext` characters before the released point, if no match spans the cut. */
    const moveWindow: Effect.Effect<void, LlmError.LlmError> = Effect.gen(function*() {
      const cut = releasedRaw - windowContext
      const whole = yield* run(raw, false)
      const head = yield* run(raw.slice(0, cut), false)
      const tail = yield* run(raw.slice(cut), false)
      if (
        whole._tag === "Text" && head._tag === "Text" && tail._tag === "Text" &&
        head.text + tail.text === whole.text && emitted.startsWith(head.text)
      ) {
        raw = raw.slice(cut)
        releasedRaw -= cut
        emitted = emitted.slice(head.text.length)
        moveAt = windowContext + windowStep
      } else {
        // A match across the cut: try again once a quarter step more is released.
        moveAt = releasedRaw + windowStep / 4
      }
    })

    const endSegment = (parts: Array<StreamPart.StreamPart>) =>
      raw === "" ? Effect.void : Effect.map(step(true), (text) => {
        release(parts, text)
        raw = ""
        releasedRaw = 0
        emitted = ""
        moveAt = windowContext + windowStep
      })

    const onPart = (part: StreamPart.StreamPart): Effect.Effect<Array<StreamPart.StreamPart>, LlmError.LlmError> =>
      Effect.gen(function*() {
        const parts: Array<StreamPart.StreamPart> = []
        if (part.type === "text-delta") {
          raw += part.text
          release(parts, yield* step(false))
          if (windowed && releasedRaw >= moveAt) yield* moveWindow
          // A read that brings thousands of deltas at once is checked in one go: let other work in (a server's
          // other requests) every `deltasPerTurn` of them.
          if (++deltasSinceTurn >= deltasPerTurn) {
            deltasSinceTurn = 0
            yield* EventLoop.nextTurn
          }
        } else if (part.type === "finish" || StreamPart.isContent(part)) {
          yield* endSegment(parts)
          deliver(parts, part)
        } else {
          deliver(parts, part)
        }
        return parts
      })

    // A failure tells the caller what it was delivered: the source's `partial` holds the text held back here
    // (the start of a denied word, an address not yet redacted) and the text before its rewrite.
    const deliveredOf = (error: LlmError.LlmError): LlmError.LlmError => {
      const received = error._tag === "StreamInterrupted" || error._tag === "GuardrailBlocked"
        ? error.partial
        : undefined
      if (received === undefined) return error
      const partial = delivered.partial()
      return LlmError.withPartial(
        error,
        received.usage === undefined || partial.usage !== undefined ? partial : { ...partial, usage: received.usage }
      )
    }

    return Stream.concat(
      Stream.mapConcatEffect(Stream.mapError(source, deliveredOf), onPart),
      Stream.flattenIterables(Stream.fromEffect(Effect.suspend(() => {
        const parts: Array<StreamPart.StreamPart> = []
        return Effect.as(endSegment(parts), parts)
      })))
    )
  })
