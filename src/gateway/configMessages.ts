/**
 * The messages of the config schema: one short line per wrong value, naming what was expected and the kind of
 * value found. A string is shown only where a name from a short list is expected: elsewhere it may be a key
 * written in the wrong place.
 *
 * @since 0.2.0
 */
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { shown } from "../internal/httpOptions.js"

// Used by the file's reading (`configText.ts`) too, which runs in a worker thread where Schema is not loaded.
export { emptyFile, notTopLevelMapping, pathText } from "./configPaths.js"

/** A schema whose every failure says `message` (or the message made from the value). */
export const withMessage = <S extends Schema.Schema.Any>(schema: S, message: string | ((actual: unknown) => string)) =>
  schema.annotations({
    message: (issue) => ({
      message: typeof message === "string" ? message : message("actual" in issue ? issue.actual : undefined),
      override: true
    })
  }) as S

/** How a wrong value is named in a message, without showing a string (it may be a key in the wrong place). */
export const kindOf = (actual: unknown): string =>
  actual === null
    ? "null"
    : actual === undefined
    ? "nothing"
    : Array.isArray(actual)
    ? "a list"
    : typeof actual === "object"
    ? "a mapping"
    : typeof actual === "string"
    ? "a string"
    : String(actual)

/**
 * A value as the file wrote it, where the message shows it: a string quoted, a number as a number (`Infinity`,
 * which YAML's `.inf` and JSON's `1e999` give, not JSON's `null`), another value by its kind.
 */
export const written = (actual: unknown): string => typeof actual === "string" ? JSON.stringify(actual) : kindOf(actual)

/** A word given where one of a short list is expected, shown (it is a word, not a key); another value's kind. */
export const wordOf = (actual: unknown): string => typeof actual === "string" ? shown(actual) : kindOf(actual)

/**
 * The one name a mapping may not give an entry: a decoded mapping is a plain object, where `__proto__` sets the
 * prototype instead of adding an entry, so the entry would vanish without a word.
 */
export const reservedName = "__proto__"

/** The message for an entry named {@link reservedName}. */
export const reservedNameMessage = `"${reservedName}" cannot be a name (JavaScript reserves it): rename it`

/**
 * A mapping of names to values, refusing {@link reservedName}. The refused key is reported as an unexpected one
 * (a record's key has no message of its own), which the decoder words with {@link reservedNameMessage}.
 */
export const record = <V extends Schema.Schema.Any>(key: Schema.Schema<string>, value: V) =>
  Schema.Record({ key: key.pipe(Schema.filter((name) => name !== reservedName)), value })

/** A schema whose failures read as `message(actual)`, unless `keepInner` keeps a part's own message and path. */
export const describedBy = <S extends Schema.Schema.Any>(
  schema: S,
  message: (actual: unknown) => string,
  // A value of the right kind with a wrong part keeps the part's own message (and path).
  keepInner: (issue: ParseResult.ParseIssue) => boolean
) =>
  schema.annotations({
    message: (issue) => ({
      message: message("actual" in issue ? issue.actual : undefined),
      override: !keepInner(issue)
    })
  }) as S

/** Whether a config value is a mapping: not a list, a scalar or null. */
export const isMapping = (actual: unknown) => typeof actual === "object" && actual !== null && !Array.isArray(actual)

/** A mapping (a struct or a record): a value of another kind is `expected <what>, got a list`, in one line. */
export const mapping = <S extends Schema.Schema.Any>(schema: S, what: string) =>
  describedBy(schema, (actual) => `expected ${what}, got ${kindOf(actual)}`, (issue) => isMapping(issue.actual))

/** One of some literals, in one line: `expected one of "a", "b", got "c"` (not a line per literal). */
export const oneOf = <const L extends ReadonlyArray<string>>(...literals: L) =>
  withMessage(
    Schema.Literal(...literals),
    (actual) =>
      `expected one of ${literals.map((literal) => JSON.stringify(literal)).join(", ")}, got ${wordOf(actual)}`
  )

/**
 * A union of values of different kinds, in one line when the value matches none of them; when it is of a
 * member's kind (a mapping, a list) but wrong inside, that member's messages. The value is named by `got`:
 * {@link wordOf} where a string can only be a mistaken word.
 */
export const either = <S extends Schema.Schema.Any>(
  schema: S,
  what: string,
  got: (actual: unknown) => string = kindOf
) =>
  describedBy(
    schema,
    (actual) => `expected ${what}, got ${got(actual)}`,
    (issue) => issue._tag === "Composite" && [issue.issues].flat().some((inner) => inner._tag !== "Type")
  )

/** A list of at least one item: `expected at least one <item>` for an empty one, the items' messages else. */
export const nonEmptyList = <S extends Schema.Schema.Any>(item: S, what: string, plural = `${what}s`) =>
  describedBy(
    Schema.NonEmptyArray(item),
    (actual) =>
      Array.isArray(actual) ? `expected at least one ${what}` : `expected a list of ${plural}, got ${kindOf(actual)}`,
    (issue) => Array.isArray(issue.actual) && issue.actual.length > 0
  )

/** A list: a value of another kind in one line, the items' messages else. */
export const list = <S extends Schema.Schema.Any>(item: S, what: string) =>
  describedBy(
    Schema.Array(item),
    (actual) => `expected a list of ${what}, got ${kindOf(actual)}`,
    (issue) => Array.isArray(issue.actual)
  )

/**
 * An optional field, exact: an absent field is absent, so a wrong value is reported once, not also as "expected
 * undefined".
 */
export const opt = <S extends Schema.Schema.All>(schema: S) => Schema.optionalWith(schema, { exact: true })

/**
 * `unknown field`, with the known name it is closest to when one is a slip away (`tenant` for `tenants`,
 * `Models` for `models`, `provders` for `providers`).
 */
export const unknownField = (name: string, known: ReadonlyArray<string>): string => {
  const close = closest(name, known)
  return close === undefined ? "unknown field" : `unknown field (did you mean ${close}?)`
}

/** The first of `known` that `name` is a slip of (see {@link unknownField}), if any. */
export const closest = (name: string, known: ReadonlyArray<string>): string | undefined =>
  known.find((candidate) => isSlipOf(name, candidate))

/**
 * Whether `name` is `known` written with a slip: another case, or at most one letter added, left out, changed or
 * two swapped (two for names of 8 letters or more). Written here: a suggestion among a dozen names needs no
 * library, and a general edit distance would match short names to anything.
 */
const isSlipOf = (name: string, known: string): boolean => {
  const a = name.toLowerCase()
  const b = known.toLowerCase()
  if (a === b) return name !== known
  return editDistance(a, b) <= (b.length >= 8 ? 2 : 1)
}

/** Edits (insertions, deletions, substitutions, swaps of two neighbours) from one text to the other. */
const editDistance = (a: string, b: string): number => {
  if (Math.abs(a.length - b.length) > 2) return 3
  // Rows i - 2, i - 1 and i of the table of distances between prefixes.
  let before: Array<number> = []
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let best = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, before[j - 2]! + 1)
      row.push(best)
    }
    before = previous
    previous = row
  }
  return previous[b.length]!
}

/** How many paths with the same message are listed one by one before the rest are counted. */
const sameTextListed = 3

/**
 * Lines with the same text after their path (`path: text`), when more than {@link sameTextListed} share it,
 * grouped: the first such line, in its place, with the paths of the others (a text that only a few share, or a
 * line without a path, stands alone). A file of 20 000 tenants that all miss the same price says so once.
 */
export const sameText = (
  lines: ReadonlyArray<string>
): Array<{ readonly line: string; readonly others: ReadonlyArray<string> }> => {
  // Each line split once: its path, and its text after the path (none without a path).
  const split = lines.map((line) => {
    const at = line.indexOf(": ")
    return at <= 0 ? undefined : { path: line.slice(0, at), text: line.slice(at + 2) }
  })
  const byText = new Map<string, Array<string>>()
  for (const parts of split) {
    if (parts === undefined) continue
    const paths = byText.get(parts.text)
    if (paths === undefined) byText.set(parts.text, [parts.path])
    else paths.push(parts.path)
  }
  const grouped: Array<{ readonly line: string; readonly others: ReadonlyArray<string> }> = []
  const said = new Set<string>()
  for (const [i, line] of lines.entries()) {
    const text = split[i]?.text
    const paths = text === undefined ? undefined : byText.get(text)
    if (text === undefined || paths === undefined || paths.length <= sameTextListed) {
      grouped.push({ line, others: [] })
    } else if (!said.has(text)) {
      said.add(text)
      grouped.push({ line, others: paths.slice(1) })
    }
  }
  return grouped
}

/** `the same at 19999 more paths: a, b, c and 19996 more`: the other paths of a {@link sameText} group. */
export const morePaths = (others: ReadonlyArray<string>): string =>
  `the same at ${others.length} more paths: ${others.slice(0, sameTextListed).join(", ")}${
    others.length > sameTextListed ? ` and ${others.length - sameTextListed} more` : ""
  }`
