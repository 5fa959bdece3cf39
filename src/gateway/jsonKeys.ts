/**
 * The keys written twice in a JSON text, found in one pass over it. `JSON.parse` keeps the last of them silently;
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
