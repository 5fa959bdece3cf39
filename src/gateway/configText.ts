/**
 * A config file's text read as data: JSON, or YAML as plain data (every mapping key as the text written, no tag
 * outside YAML's core schema), with a message for each problem, naming its path or its line.
 *
 * @since 0.2.0
 */
import * as Either from "effect/Either"
import * as Yaml from "yaml"
import * as Text from "../internal/text.js"
import * as Messages from "./configPaths.js"
import * as JsonText from "./jsonText.js"

/**
 * A file's data, with the problems that still leave it readable: a key written twice (the data holds its last
 * value), a second YAML document (the data is the first), a value with a tag outside plain data. `covered` are
 * the paths of those values, whose own decoding problems would only repeat them.
 *
 * @since 0.2.0
 * @category models
 */
export interface Parsed {
  readonly data: unknown
  readonly problems: ReadonlyArray<string>
  readonly covered: ReadonlyArray<string>
}

/**
 * The data of a config file's text, read as its name says: YAML for `.yaml` / `.yml`, JSON for `.json`; or its
 * problems (an empty text, another kind of file, a syntax error...).
 *
 * @since 0.2.0
 * @category decoding
 */
export const parseFile = (text: string, source: string): Either.Either<Parsed, Array<string>> => {
  // Said alike whatever the file's type (`JSON.parse` would say "Unexpected end of JSON input").
  if (text.trim() === "") return Either.left([Messages.emptyFile])
  if (/\.json$/i.test(source)) {
    let data: unknown
    try {
      data = JSON.parse(text)
    } catch (error) {
      return Either.left([`not valid JSON: ${JsonText.syntaxError(text, error)}`])
    }
    return parseJson(text, data)
  }
  if (!/\.ya?ml$/i.test(source)) return Either.left(["unknown file type: name it .yaml, .yml or .json"])
  return parseYaml(text)
}

/**
 * The data of a YAML file's text, or its problems. The problems of {@link Parsed} leave the data readable, so the
 * file's other problems can be found too; any other leaves no data.
 *
 * @since 0.2.0
 * @category decoding
 */
export const parseYaml = (text: string): Either.Either<Parsed, Array<string>> => {
  try {
    return parseYamlChecked(text)
  } catch (error) {
    // Nested past the stack of a walk over the document: no config nests like that.
    if (error instanceof RangeError) return Either.left([tooDeep(undefined)])
    throw error
  }
}

const stackOverflow = "Maximum call stack size exceeded"

const tooDeep = (where: string | undefined) =>
  `${where === undefined ? "" : `${where}: `}the file nests too deeply to be read (a config nests a few levels)`

/** How many syntax errors are listed: past the first few, the rest follow from them. */
const maxSyntaxErrors = 20

/**
 * A JSON file's `data` (what `JSON.parse` made of its `text`), with the keys the text writes twice, which
 * `JSON.parse` silently keeps the last of (found by a scan of the text, see `jsonText.ts`); or why it is refused.
 *
 * @since 0.2.0
 * @category decoding
 */
export const parseJson = (text: string, data: unknown): Either.Either<Parsed, Array<string>> => {
  // Written, not empty (an empty file is refused before): a `null` is a value of the wrong kind.
  if (data === null) return Either.left([Messages.notTopLevelMapping("null")])
  return Either.right({
    data,
    problems: writtenAgain(JsonText.repeatedKeys(text), (offset) => {
      const at = JsonText.position(text, offset)
      return `line ${at.line}, column ${at.col}`
    }).map(({ text }) => text),
    covered: []
  })
}

/**
 * What each key written again says: `models.a: written twice (again at line 7, column 3)`; a key written three
 * times is said twice, "twice" then "3 times".
 */
const writtenAgain = (
  repeated: ReadonlyArray<{ readonly path: ReadonlyArray<PropertyKey>; readonly offset: number }>,
  where: (offset: number) => string
): Array<{ readonly offset: number; readonly text: string }> => {
  const writes = new Map<string, number>()
  const said = repeated.slice(0, maxRepeatedKeys).map(({ offset, path }) => {
    const at = Messages.pathText(path)
    const times = (writes.get(at) ?? 1) + 1
    writes.set(at, times)
    return {
      offset,
      text: `${shortPath(at)}: written ${times === 2 ? "twice" : `${times} times`} (again at ${where(offset)})`
    }
  })
  if (repeated.length > maxRepeatedKeys) {
    said.push({
      offset: Number.POSITIVE_INFINITY,
      text: `and ${repeated.length - maxRepeatedKeys} more keys written again after these`
    })
  }
  return said
}

/** How many keys written again are listed: past the first few, the rest are the same mistake. */
const maxRepeatedKeys = 20

/** A path as an error line shows it: its start and its end when it is longer than a line. */
const shortPath = (path: string): string => path.length <= 200 ? path : `${path.slice(0, 100)}...${path.slice(-97)}`

const parseYamlChecked = (text: string): Either.Either<Parsed, Array<string>> => {
  const lines = new Yaml.LineCounter()
  const document = Yaml.parseDocument(text, {
    prettyErrors: false,
    // Checked by `repeatedKeys`, in one pass: the parser's own check compares each key with every key before it,
    // minutes for a file of a million keys.
    uniqueKeys: false,
    lineCounter: lines,
    // Merge keys in YAML (in JSON, "<<" is a key like any other, refused as an unknown field).
    merge: true,
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
  // A key that is not a string is reported by `notPlain`, with its path.
  const yamlErrors = document.errors.filter((error) => error.code !== "NON_STRING_KEY")
  const located = writtenAgain(repeatedKeys(document), where)
  const syntax: Array<string> = []
  for (const error of yamlErrors) {
    if (error.code === "MULTIPLE_DOCS") {
      located.push({ offset: error.pos[0], text: `${where(error.pos[0])}: ${multipleDocuments}` })
    } else syntax.push(`${where(error.pos[0])}: ${error.message.split("\n")[0]}`)
  }
  const readable = located.sort((a, b) => a.offset - b.offset).map(({ text }) => text)
  // The parser's own stack overflowed: one line saying so, not one per level it unwound.
  const overflow = syntax.find((line) => line.endsWith(`: ${stackOverflow}`))
  if (overflow !== undefined) return Either.left([tooDeep(overflow.slice(0, -stackOverflow.length - 2))])
  // Said as a JSON file's are: `not valid YAML: line 3, column 1: ...`.
  const more = syntax.length - maxSyntaxErrors
  syntax.splice(maxSyntaxErrors, syntax.length)
  for (const [i, line] of syntax.entries()) syntax[i] = `not valid YAML: ${line}`
  if (more > 0) syntax.push(`and ${more} more syntax errors after these`)
  const plain = notPlain(document, where)
  const problems = [...readable, ...plain.values.map(({ message }) => message)]
  const errors = [...syntax, ...plain.keys]
  if (errors.length > 0) return Either.left([...problems, ...errors])
  const covered = plain.values.map(({ path }) => path)
  // A `null` or `~` written at the top is a value of the wrong kind; only a document with no content is empty.
  if (Yaml.isScalar(document.contents) && document.contents.value === null) {
    return Either.left([...problems, Messages.notTopLevelMapping("null")])
  }
  const aliases = expandAliases(document, Math.max(minAliasValues, text.length), where)
  if (aliases !== undefined) return Either.left([...problems, aliases])
  try {
    return Either.right({ data: document.toJS(), problems, covered })
  } catch (error) {
    // A merge of something other than a mapping is found again to say where.
    return Either.left([
      ...problems,
      mergeIssue(document, where) ??
        `not valid YAML: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`
    ])
  }
}

/**
 * The values aliases may add to a file, at least: about what a JSON config of the largest size a config may have
 * holds (so a YAML file sharing blocks is not refused where the same config written out in JSON is read). Past it,
 * and past one per character of the file, it is refused: an alias bomb of a few lines would expand to billions.
 */
const minAliasValues = 4_000_000

/**
 * Puts in place of each alias the node its anchor names, in one pass over the document, so that `toJS` meets no
 * alias (the same node met twice is read twice); or why the file cannot be read: an alias with no anchor before
 * it, an alias inside its own anchor's value, or aliases that add more than `limit` values (an alias bomb).
 *
 * Why not the parser's own aliases: `toJS` looks for each alias's anchor among every alias and anchor before it,
 * so a file of 40 000 aliases (20 000 tenants sharing one anchored budget) took a minute, and its alias limit
 * refuses a file where one anchor is used more than 100 times.
 */
const expandAliases = (
  document: Yaml.Document,
  limit: number,
  where: (offset: number) => string
): string | undefined => {
  const anchors = new Map<string, Yaml.Node>()
  // The values each finished node holds, its aliases counted as what they name; a node still being read has none.
  const sizes = new Map<Yaml.Node, number>()
  let added = 0
  let issue: string | undefined
  /** The node to put in place of `node`, and the values it holds; `undefined` once an issue is found. */
  const expand = (node: unknown): { readonly node: unknown; readonly size: number } | undefined => {
    if (!Yaml.isNode(node)) return { node, size: 0 }
    if (Yaml.isAlias(node)) {
      const target = anchors.get(node.source)
      // Where and what, for an alias refused: not worked out for each of thousands that are not.
      const at = () => where(node.range?.[0] ?? 0)
      const name = () => asWritten(node.source)
      if (target === undefined) issue = `${at()}: the alias *${name()} has no anchor &${name()} before it`
      else if (!sizes.has(target)) {
        issue = `${at()}: the alias *${name()} is inside the value of its own anchor &${name()}`
      } else {
        const size = sizes.get(target)!
        added += size
        if (added <= limit) return { node: target, size }
        issue = `not valid YAML: its aliases expand it by more than ${
          limit.toLocaleString("en-US")
        } values (an alias bomb?)`
      }
      return undefined
    }
    if (node.anchor) anchors.set(node.anchor, node)
    let size = 1
    const child = (value: unknown): unknown => {
      const expanded = expand(value)
      if (expanded === undefined) return undefined
      size += expanded.size
      return expanded.node
    }
    if (Yaml.isMap(node)) {
      for (const pair of node.items) {
        // A key is a name (anything else is refused before), but may carry an anchor.
        child(pair.key)
        pair.value = child(pair.value) as typeof pair.value
        if (issue !== undefined) return undefined
      }
    } else if (Yaml.isSeq(node)) {
      for (let i = 0; i < node.items.length; i++) {
        node.items[i] = child(node.items[i])
        if (issue !== undefined) return undefined
      }
    }
    sizes.set(node, size)
    return { node, size }
  }
  const top = expand(document.contents)
  if (top !== undefined) document.contents = top.node as typeof document.contents
  return issue
}

/** The first merge of something other than mappings, with its line (after the aliases are expanded). */
const mergeIssue = (document: Yaml.Document, where: (offset: number) => string): string | undefined => {
  let issue: string | undefined
  Yaml.visit(document, {
    Pair: (_, pair) => {
      if (!Yaml.isScalar(pair.key) || pair.key.value !== "<<") return undefined
      const value = pair.value
      if (Yaml.isMap(value) || (Yaml.isSeq(value) && value.items.every((item) => Yaml.isMap(item)))) return undefined
      issue = `${where(pair.key.range?.[0] ?? 0)}: a merge (<<) takes a mapping, an alias of one, or a list of them`
      return Yaml.visit.BREAK
    }
  })
  return issue
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

/**
 * Every mapping key written again in its mapping (a name only: another key is refused by `notPlain`), with its
 * path and where it is written again, in the file's order. A merge key (`<<`) may be written more than once.
 */
const repeatedKeys = (
  document: Yaml.Document
): Array<{ readonly path: Array<PropertyKey>; readonly offset: number }> => {
  const repeated: Array<{ readonly path: Array<PropertyKey>; readonly offset: number }> = []
  for (const { isKey, node, path } of nodesOf(document.contents, [])) {
    if (isKey || !Yaml.isMap(node)) continue
    const seen = new Set<string>()
    for (const pair of node.items) {
      const name = keyName(pair.key)
      if (name === undefined || name === "<<") continue
      if (seen.has(name)) repeated.push({ path: [...path, name], offset: (pair.key as Yaml.Node).range?.[0] ?? 0 })
      else seen.add(name)
    }
  }
  return repeated.sort((a, b) => a.offset - b.offset)
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

/**
 * What in a YAML document is not plain data: a key that is no name (the data cannot be read), a value with another
 * tag than plain data's (with its path: the rest can still be read).
 */
const notPlain = (
  document: Yaml.Document,
  where: (offset: number) => string
): { readonly keys: Array<string>; readonly values: Array<{ readonly path: string; readonly message: string }> } => {
  const keys: Array<string> = []
  const values: Array<{ readonly path: string; readonly message: string }> = []
  const said = (at: string, message: string) => at === "" ? message : `${at}: ${message}`
  for (const visited of nodesOf(document.contents, [])) {
    const { node, path } = visited
    const at = Messages.pathText(path)
    if (visited.isKey) {
      if (keyName(node) !== undefined) continue
      const offset = Yaml.isNode(node) ? node.range?.[0] : undefined
      const position = offset === undefined ? "" : ` (${where(offset)})`
      keys.push(said(at, `a key must be a name (a string), not ${keyKind(node)}${position}`))
      continue
    }
    const tag = visited.node.tag
    if (!tag) continue
    const fits = plainTags[tag]
    if (fits === undefined) {
      values.push({ path: at, message: said(at, `a ${shownTag(tag)} value is not allowed here; ${plainYaml}`) })
    } else if (!fits(visited.node)) {
      values.push({ path: at, message: said(at, `not a valid ${shownTag(tag)} value; ${plainYaml}`) })
    }
  }
  return { keys, values }
}
