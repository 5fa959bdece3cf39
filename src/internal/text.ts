/**
 * Checks of text a request carries (media types, base64, URLs, tenant ids), for the request validation.
 */

/** A media type's shape (RFC 6838: `type/subtype`, restricted name characters). */
export const mediaTypePattern = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/i

/** Base64's shape (RFC 4648, the standard alphabet; padding optional). */
export const base64Pattern = /^[A-Za-z0-9+/]*={0,2}$/

/** A base64 data URL: its media type and its data. */
export const base64DataUrl = /^data:([^;,]*);base64,(.*)$/is

/**
 * Whether a text is an absolute URL (any scheme: `https:`, `gs:`, `data:`, a File API URI). `new URL`, not
 * `URL.canParse`, which older runtimes lack.
 */
export const isAbsoluteUrl = (text: string): boolean => {
  try {
    new URL(text)
    return true
  } catch {
    return false
  }
}

// C0 and C1 controls, DEL, and the line and paragraph separators (U+2028, U+2029): text that goes into log
// lines, metric labels and store keys, where a line break or an escape sequence would forge or garble what follows.
const isControl = (code: number): boolean =>
  code <= 0x1f || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x2029

/** Whether a text holds a control character (see `isControl`). */
export const hasControlCharacter = (text: string): boolean => {
  for (let i = 0; i < text.length; i++) {
    if (isControl(text.charCodeAt(i))) return true
  }
  return false
}

// Invisible characters that change how a text is shown without showing themselves: bidirectional controls
// (U+061C, U+200E-U+200F, U+202A-U+202E, U+2066-U+2069) reorder what follows in a log line; the zero-width space,
// word joiner and byte order mark (U+200B, U+2060, U+FEFF) make two different ids look the same. Joiners
// (U+200C, U+200D) and tag characters are left alone: scripts and emoji sequences need them.
const invisibleFormatting = /[\u061c\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]/

/** Whether a text holds an invisible formatting character (see `invisibleFormatting`). */
export const hasInvisibleFormatting = (text: string): boolean => invisibleFormatting.test(text)

/**
 * A text as shown in a message: JSON, with every control and invisible formatting character escaped (JSON leaves
 * DEL, C1 and those as they are).
 */
export const escapedJson = (text: string): string =>
  JSON.stringify(text).replace(
    /[\u007f-\u009f\u2028\u2029\u061c\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`
  )

/** A text as a RegExp source that matches exactly it. */
export const regExpLiteral = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/** Whether a text holds no lone surrogate (in a `u` pattern a surrogate pair is one code point). */
export const isWellFormed = (text: string): boolean => !/\p{Surrogate}/u.test(text)

/** Characters as a reader counts them (code points): an emoji is one, not two UTF-16 units. */
export const characters = (text: string): number => {
  let count = 0
  for (const _ of text) count++
  return count
}

/**
 * What is wrong with a name that becomes a label (a tenant id, a route), as the end of a sentence about it, or
 * `undefined`: empty or blank, longer than `maxLength` characters (code points) when given, whitespace at its start
 * or end, a control or invisible formatting character, a lone surrogate. Each would make a name no one meant, or
 * garble or forge the logs, metric labels and store keys it becomes part of.
 */
export const labelIssue = (name: string, maxLength?: number): string | undefined => {
  if (name.trim() === "") return "is empty or blank"
  if (maxLength !== undefined) {
    const length = characters(name)
    if (length > maxLength) return `has ${length} characters, more than the ${maxLength} allowed`
  }
  if (name.trim() !== name) return "starts or ends with whitespace"
  if (hasControlCharacter(name)) return "contains a control character (such as a line break or a tab)"
  if (hasInvisibleFormatting(name)) {
    return "contains an invisible formatting character (a bidirectional control, a zero-width space or a byte order mark)"
  }
  // A lone surrogate is no character: it cannot be written as UTF-8 into a key, a label or a log line.
  if (!isWellFormed(name)) return "is not well-formed Unicode (a lone surrogate)"
  return undefined
}
