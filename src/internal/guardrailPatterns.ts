/**
 * The matching behind the built-in guardrails: deny-list patterns, and the PII patterns with their checks
 * (a Luhn check for card numbers, digit counts for phone numbers).
 */
import type * as Guardrail from "../Guardrail.js"
import * as Text from "./text.js"

/** A deny-list pattern: the global RegExp that finds it, and how a block names it. */
export interface DenyPattern {
  readonly regex: RegExp
  readonly label: string
}

/** A letter, digit or underscore in any script: what a whole word must not touch on either side. */
const wordChar = "[\\p{L}\\p{N}_]"

/** The words of a string entry, the whitespace around and between them dropped. */
const words = (term: string): ReadonlyArray<string> => term.trim().split(/\s+/)

/** A deny-list entry as a pattern: a string literally (a whole word, any case, by default), a RegExp as given. */
export const denyPattern = (
  term: string | RegExp,
  options: { readonly wholeWords: boolean; readonly caseSensitive: boolean }
): DenyPattern => {
  if (typeof term !== "string") {
    // `g` for scanning every match; a sticky RegExp would only look at one place.
    const flags = term.flags.replace(/[gy]/g, "")
    return { regex: new RegExp(term.source, `${flags}g`), label: String(term) }
  }
  // The words of an entry match with any run of whitespace between them ("ignore  previous", a line break).
  const literal = words(term).map(Text.regExpLiteral).join("\\s+")
  const body = options.wholeWords ? `(?<!${wordChar})${literal}(?!${wordChar})` : literal
  return { regex: new RegExp(body, options.caseSensitive ? "gu" : "giu"), label: JSON.stringify(term) }
}

/**
 * The first pattern found in the text. While a stream is still growing (`final` false), a match that reaches
 * the end of the text so far does not count yet: the next delta may extend the word ("bad" becoming "badge").
 */
export const findDenied = (
  patterns: ReadonlyArray<DenyPattern>,
  text: string,
  final: boolean
): DenyPattern | undefined => {
  for (const pattern of patterns) {
    for (const match of text.matchAll(pattern.regex)) {
      if (match[0] === "") continue
      if (final || match.index + match[0].length < text.length) return pattern
    }
  }
  return undefined
}

/**
 * How many characters at the end of a text could still become one of the string entries: the longest end that
 * is the start of an entry (a whole entry included: the next delta may still make it a longer word). A run of
 * whitespace in the text stands for the one space between an entry's words.
 */
export const termTail = (terms: ReadonlyArray<string>, text: string, caseSensitive: boolean): number => {
  const entries = terms.map((term) => {
    const joined = words(term).join(" ")
    return caseSensitive ? joined : joined.toLowerCase()
  })
  const longest = Math.max(0, ...entries.map((entry) => entry.length))
  // The end of the text with each whitespace run as one space, and where each of its characters starts.
  const tail: Array<string> = []
  const starts: Array<number> = []
  let i = text.length
  while (i > 0 && tail.length < longest) {
    let start = i - 1
    if (/\s/.test(text[start]!)) {
      while (start > 0 && /\s/.test(text[start - 1]!)) start--
      tail.push(" ")
    } else {
      // Lowercased one character at a time, keeping its length (so positions stay aligned with the text).
      const char = text[start]!
      const lower = caseSensitive ? char : char.toLowerCase()
      tail.push(lower.length === 1 ? lower : char)
    }
    starts.push(start)
    i = start
  }
  const compared = tail.reverse().join("")
  starts.reverse()
  let most = 0
  for (const entry of entries) {
    for (let length = Math.min(entry.length, compared.length); length > 0; length--) {
      if (compared.slice(compared.length - length) === entry.slice(0, length)) {
        most = Math.max(most, text.length - starts[starts.length - length]!)
        break
      }
    }
  }
  return most
}

/**
 * @since 0.2.0
 */
export type PiiKind = Guardrail.PiiKind

/** Whether a digit string passes the Luhn check of payment card numbers. */
export const luhn = (digits: string): boolean => {
  let sum = 0
  for (let i = 0; i < digits.length; i++) {
    let digit = digits.charCodeAt(digits.length - 1 - i) - 48
    if (i % 2 === 1) {
      digit *= 2
      if (digit > 9) digit -= 9
    }
    sum += digit
  }
  return sum % 10 === 0
}

const digitsOf = (text: string): string => text.replace(/\D/g, "")

/** 13 to 19 digits, single spaces or dashes allowed between them, not inside a longer run of digits. */
const card = /(?<![\d-])\d(?:[ -]?\d){12,18}(?!\d)/g
const email = /(?<![\w.%+-])[\w.%+-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])/g
/** An optional `+country` and `(area)`, then groups of 2 to 4 digits; not part of a time, path or word. */
const phone = /(?<![\w+:/])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){1,5}(?![\w:/])/g
const isoDate = /\d{4}-\d{1,2}-\d{1,2}/

/** Whether a phone-shaped match is taken for a phone number: 10 to 15 digits, or 8 or more after a `+`. */
const isPhone = (match: string): boolean => {
  const count = digitsOf(match).length
  if (count > 15 || isoDate.test(match)) return false
  return count >= 10 || (match.startsWith("+") && count >= 8)
}

/** The text with the PII of each kind replaced; cards first, so a card number is never taken for a phone. */
export const redact = (text: string, replacements: Readonly<Partial<Record<PiiKind, string>>>): string => {
  let out = text
  if (replacements.card !== undefined) {
    const token = replacements.card
    out = out.replace(card, (match) => luhn(digitsOf(match)) ? token : match)
  }
  if (replacements.email !== undefined) out = out.replace(email, replacements.email)
  if (replacements.phone !== undefined) {
    const token = replacements.phone
    out = out.replace(phone, (match) => isPhone(match) ? token : match)
  }
  return out
}

/** The most a PII match may still be growing at the end of a streamed text (characters). */
export const maxPiiHold = 128

const piiChar = /[\w.%+@()-]/
const groupStart = /[\d(+]/
const groupEnd = /[\d)]/

/**
 * How many characters at the end of a text could still become part of a PII match: the last run of characters
 * an email or number can hold, with the spaces between digit groups ("+1 555 "), up to {@link maxPiiHold}.
 */
export const piiTail = (text: string): number => {
  let i = text.length
  const floor = Math.max(0, text.length - maxPiiHold)
  while (i > floor) {
    const char = text[i - 1]!
    if (piiChar.test(char)) {
      i--
      continue
    }
    const between = char === " " && i >= 2 && groupEnd.test(text[i - 2]!) &&
      (i === text.length || groupStart.test(text[i]!))
    if (!between) break
    i--
  }
  return text.length - i
}
