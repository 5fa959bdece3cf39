/**
 * The config messages that reading a file's text needs (`configText.ts`): kept apart from the schema's messages
 * so that the worker thread a reload parses in loads no Schema.
 *
 * @since 0.2.0
 */
import * as Text from "../internal/text.js"

/** The message of a file with nothing in it (or only whitespace or comments). */
export const emptyFile = "the config file is empty"

/** The message of a file whose data is not a mapping (`kind`: what it is, e.g. `a list`, `null`). */
export const notTopLevelMapping = (kind: string) =>
  `the top level must be a mapping of sections (providers, models, ...), got ${kind}`

// A name written bare in a path: no character that would make the path ambiguous (`.`, `[`, `]`, a quote) or
// hard to read (whitespace, a control or invisible character). Anything else is quoted: `tenants[" sp"].keys`.
const bare = /^[^\s.[\]"'\\\p{C}]+$/u

/**
 * A config path from its keys: `models.gpt-4o.fallback[1].provider`; a name that is empty or holds a dot, a
 * bracket, a quote or whitespace is quoted, so each path names one place: `tenants[""].keys`,
 * `pricing.models["llama3.2"]`.
 */
export const pathText = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>((text, key) => {
    if (typeof key === "number") return `${text}[${key}]`
    const name = String(key)
    if (!bare.test(name)) return `${text}[${Text.escapedJson(name)}]`
    return text === "" ? name : `${text}.${name}`
  }, "")
