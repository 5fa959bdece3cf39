/**
 * What `LanguageModel.generateObject` needs besides the call: the JSON Schema providers are sent, and how an
 * answer that holds no object (a refusal, a fenced one) is read.
 */
import * as JSONSchema from "effect/JSONSchema"
import * as Option from "effect/Option"
import type * as Schema from "effect/Schema"
import * as SchemaAST from "effect/SchemaAST"
import * as ChatResponse from "../ChatResponse.js"
import * as LlmError from "../LlmError.js"

/** The name providers see for a schema: its `identifier` or `title` when a provider accepts it as a name. */
export const schemaName = (schema: Schema.Schema.Any): string | undefined => {
  const name = Option.orElse(
    SchemaAST.getIdentifierAnnotation(schema.ast),
    () => SchemaAST.getTitleAnnotation(schema.ast)
  )
  return Option.isSome(name) && /^[a-zA-Z0-9_-]{1,64}$/.test(name.value) ? name.value : undefined
}

/**
 * The JSON Schema of a Schema, with its root inlined: a Schema with an `identifier` becomes `{"$ref": ...}` at
 * the root, which OpenAI strict mode and Gemini refuse (they want an object there).
 */
export const toJsonSchema = (schema: Schema.Schema.Any): Record<string, unknown> => {
  const { $defs, $ref, $schema: _, ...rest } = JSONSchema.make(schema) as unknown as {
    readonly $defs?: Record<string, Record<string, unknown>>
    readonly $ref?: string
    readonly $schema?: string
  }
  const name = $ref?.startsWith("#/$defs/") ? $ref.slice("#/$defs/".length) : undefined
  const root = name === undefined ? undefined : $defs?.[name]
  if (name === undefined || root === undefined) {
    return { ...rest, ...($defs === undefined ? {} : { $defs }), ...($ref === undefined ? {} : { $ref }) }
  }
  const others = Object.fromEntries(Object.entries($defs ?? {}).filter(([key]) => key !== name))
  // A recursive root still needs its definition.
  const recursive = JSON.stringify(root).includes(`"#/$defs/${name}"`) ||
    JSON.stringify(others).includes(`"#/$defs/${name}"`)
  const defs = recursive ? $defs : others
  return { ...root, ...(defs === undefined || Object.keys(defs).length === 0 ? {} : { $defs: defs }) }
}

/** How much of a refusal an error's message quotes (all of it is in `refusal`). */
const maxRefusalInMessage = 1024

/** The error of an answer that holds no object: the model refused, or the provider's content filter stopped it. */
export const refusalError = (response: ChatResponse.ChatResponse): LlmError.ContentFiltered | undefined => {
  const refusal = ChatResponse.refusal(response)
  if (refusal === undefined && response.finishReason !== "content-filter") return undefined
  const quoted = refusal !== undefined && refusal.length > maxRefusalInMessage
    ? `${refusal.slice(0, maxRefusalInMessage)}… [truncated]`
    : refusal
  return new LlmError.ContentFiltered({
    provider: response.provider,
    model: response.model,
    body: LlmError.truncateBody(refusal ?? ChatResponse.text(response)),
    ...(refusal === undefined ? {} : { refusal }),
    message: quoted === undefined
      ? `${response.provider}: the content filter stopped the answer (finish reason ${
        response.rawFinishReason ?? response.finishReason
      })`
      : `${response.provider}: the model refused: ${quoted}`
  })
}

// Models sometimes fence JSON in markdown even when asked for JSON only.
export const unfence = (text: string): string => {
  const match = /^\s*```(?:json)?\s*\n([\s\S]*?)\n?```\s*$/.exec(text)
  return match === null ? text : match[1]!
}
