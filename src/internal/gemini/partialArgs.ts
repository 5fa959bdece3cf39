/** Gemini 3 streamed function call arguments (`partialArgs`): JSON paths applied to one growing object. */

import { isObject, type Json } from "../json.js"

type Segment = string | number

/** `$.a.b[0]["c d"]` → `["a", "b", 0, "c d"]`; `undefined` when the path is not of that form. */
const parsePath = (path: string): Array<Segment> | undefined => {
  const segments: Array<Segment> = []
  const re = /\.([A-Za-z_$][\w$-]*)|\[(\d+)\]|\[(?:'([^']*)'|"([^"]*)")\]/y
  if (!path.startsWith("$")) return undefined
  re.lastIndex = 1
  while (re.lastIndex < path.length) {
    const match = re.exec(path)
    if (match === null) return undefined
    segments.push(match[2] !== undefined ? Number(match[2]) : match[1] ?? match[3] ?? match[4]!)
  }
  return segments.length === 0 ? undefined : segments
}

const hasOwn = (object: object, key: Segment) => Object.prototype.hasOwnProperty.call(object, key)

// Own data properties only, so a `__proto__` key in a path can never reach a prototype.
const define = (object: object, key: Segment, value: unknown) =>
  Object.defineProperty(object, key, { value, enumerable: true, configurable: true, writable: true })

const getPath = (root: Json, path: ReadonlyArray<Segment>): unknown => {
  let current: unknown = root
  for (const segment of path) {
    if (typeof current !== "object" || current === null || !hasOwn(current, segment)) return undefined
    current = (current as Record<Segment, unknown>)[segment]
  }
  return current
}

const setPath = (root: Json, path: ReadonlyArray<Segment>, value: unknown) => {
  let current: Record<Segment, unknown> = root
  for (let i = 0; i < path.length - 1; i++) {
    const segment = path[i]!
    const next = current[segment]
    if (!hasOwn(current, segment) || typeof next !== "object" || next === null) {
      define(current, segment, typeof path[i + 1] === "number" ? [] : {})
    }
    current = current[segment] as Record<Segment, unknown>
  }
  define(current, path[path.length - 1]!, value)
}

/**
 * A function call whose arguments stream as `partialArgs` (`{jsonPath, stringValue | numberValue | boolValue |
 * nullValue, willContinue}`; a string with `willContinue` goes on in the next chunk). The arguments are
 * rebuilt as an object; the deltas are the stable prefix of its JSON text (all of it but the closing quote of a
 * string still open and the brackets that close the path just written), so they concatenate to
 * `rawArguments`. A path written out of order would break the prefix: deltas then stop until the end.
 */
export class PartialCall {
  readonly args: Json = {}
  private emitted = ""
  private consistent = true
  /** How many closing characters end the JSON text after the last value written: the root `}` at first. */
  private closers = 1

  constructor(readonly id: string, readonly name: string) {}

  /** Applies one chunk's `partialArgs`; returns the arguments delta, or an error message. */
  apply(partialArgs: ReadonlyArray<unknown>): string | { readonly error: string } {
    for (const arg of partialArgs) {
      if (!isObject(arg) || typeof arg.jsonPath !== "string") return { error: "a partialArgs entry has no jsonPath" }
      const path = parsePath(arg.jsonPath)
      if (path === undefined) return { error: `unsupported partialArgs jsonPath "${arg.jsonPath}"` }
      const existing = getPath(this.args, path)
      const value = typeof arg.stringValue === "string"
        ? (typeof existing === "string" ? existing + arg.stringValue : arg.stringValue)
        : typeof arg.numberValue === "number" || typeof arg.boolValue === "boolean"
        ? arg.numberValue ?? arg.boolValue
        : "nullValue" in arg
        ? null
        : undefined
      if (value === undefined) return { error: `partialArgs entry for "${arg.jsonPath}" has no value` }
      setPath(this.args, path, value)
      this.closers = path.length + (typeof arg.stringValue === "string" && arg.willContinue === true ? 1 : 0)
    }
    const text = JSON.stringify(this.args)
    const stable = text.slice(0, text.length - this.closers)
    if (!this.consistent || !/^"?[}\]]*$/.test(text.slice(stable.length)) || !stable.startsWith(this.emitted)) {
      this.consistent = false
      return ""
    }
    const delta = stable.slice(this.emitted.length)
    this.emitted = stable
    return delta
  }

  /** The whole arguments text, and what of it no delta has carried yet. */
  finish(): { readonly raw: string; readonly rest: string } {
    const raw = JSON.stringify(this.args)
    return { raw, rest: this.consistent && raw.startsWith(this.emitted) ? raw.slice(this.emitted.length) : "" }
  }
}
