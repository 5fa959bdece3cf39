/**
 * A JSON config's text: where its syntax fails, and the keys it writes twice.
 *
 * The keys written twice are found in one pass over the text. `JSON.parse` keeps the last of them silently;
 * the YAML parser finds them too, but builds a document of the whole file first, about a hundred times slower than
 * `JSON.parse` (a 6 MB config of 20 000 tenants: seconds of the thread that serves on each reload, and hundreds
 * of MB at the peak), and no JSON parser that is kept up to date reports repeated keys: so this scan.
 *
 * @since 0.2.0
 */

/** An object or a list open at the scan's position. */
interface Open {
  readonly parent: Open | undefined
  /** Its name or index in its parent (`undefined` at the top). */
  readonly at: PropertyKey | undefined
  /** An object's keys so far; `undefined` for a list. */
  readonly keys: Set<string> | undefined
  /** An object: whether the next string is a key. */
  expectsKey: boolean
  /** An object: its last key; a list: the index of its current item. */
  current: PropertyKey
}

const quote = 0x22
const backslash = 0x5c

const pathOf = (open: Open | undefined, key: PropertyKey): Array<PropertyKey> => {
  const path = [key]
  for (let node = open; node !== undefined && node.at !== undefined; node = node.parent) path.push(node.at)
  return path.reverse()
}

/**
 * Every key of an object written again in that object, with its path and the offset of its opening quote, in the
 * text's order. The text must be valid JSON (`JSON.parse` accepted it): nothing else is checked.
 *
 * @since 0.2.0
 * @category decoding
 */
export const repeatedKeys = (
  text: string
): Array<{ readonly path: Array<PropertyKey>; readonly offset: number }> => {
  const repeated: Array<{ readonly path: Array<PropertyKey>; readonly offset: number }> = []
  let top: Open | undefined
  const open = (keys: Set<string> | undefined) => {
    top = { parent: top, at: top?.current, keys, expectsKey: keys !== undefined, current: keys === undefined ? 0 : "" }
  }
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code === quote) {
      const start = i
      let escaped = false
      for (i++; text.charCodeAt(i) !== quote; i++) {
        if (text.charCodeAt(i) === backslash) {
          escaped = true
          i++
        }
      }
      if (top?.keys === undefined || !top.expectsKey) continue
      const key = escaped ? JSON.parse(text.slice(start, i + 1)) as string : text.slice(start + 1, i)
      if (top.keys.has(key)) repeated.push({ path: pathOf(top, key), offset: start })
      else top.keys.add(key)
      top.current = key
      top.expectsKey = false
    } else if (code === 0x7b /* { */) open(new Set())
    else if (code === 0x5b /* [ */) open(undefined)
    else if (code === 0x7d /* } */ || code === 0x5d /* ] */) top = top?.parent
    else if (code === 0x2c /* , */ && top !== undefined) {
      if (top.keys === undefined) top.current = (top.current as number) + 1
      else top.expectsKey = true
    }
  }
  return repeated
}

/**
 * The line and column (both from 1) of an offset in a text.
 *
 * @since 0.2.0
 * @category decoding
 */
export const position = (text: string, offset: number): { readonly line: number; readonly col: number } => {
  let line = 1
  let lineStart = 0
  for (let i = text.indexOf("\n"); i !== -1 && i < offset; i = text.indexOf("\n", i + 1)) {
    line++
    lineStart = i + 1
  }
  return { line, col: offset - lineStart + 1 }
}

/** Whether `JSON.parse` failed at the end of `text` (it needs more), rather than at a character of it. */
const failsAtEnd = (text: string): boolean => {
  try {
    JSON.parse(text)
    return true
  } catch (error) {
    const message = (error as Error).message
    const at = /at position (\d+)/.exec(message)
    return message.includes("end of JSON input") || (at !== null && Number(at[1]) >= text.length)
  }
}

/**
 * Why `JSON.parse` refused a text, where, and nothing of the text itself: its message quotes a few characters
 * around the error, which in a config may be a key written unquoted. `line L, column C: <reason>`, the reason
 * as the parser words it; where its message gives no position (an unexpected character), the position is found
 * by parsing prefixes of the text (a binary search: a prefix that ends before the error fails at its end).
 *
 * @since 0.2.0
 * @category decoding
 */
export const syntaxError = (text: string, error: unknown): string => {
  const message = error instanceof Error ? error.message : String(error)
  const given = /at position (\d+)/.exec(message)
  let offset: number
  if (given !== null) offset = Number(given[1])
  else if (message.includes("end of JSON input")) offset = text.length
  else {
    // The shortest prefix that fails at a character of its own ends with that character.
    let low = 0
    let high = text.length
    while (low < high) {
      const middle = (low + high) >> 1
      if (failsAtEnd(text.slice(0, middle + 1))) low = middle + 1
      else high = middle
    }
    offset = Math.min(low, text.length)
  }
  const reason = message
    .replace(/, (\.\.\.)?".*"(\.\.\.)? is not valid JSON$/s, "")
    .replace(/ at position \d+.*$/s, "")
    .replace(/ in JSON$/, "")
    .replace(/[^\x20-\x7e]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`)
  const at = position(text, offset)
  return `line ${at.line}, column ${at.col}: ${reason}`
}
