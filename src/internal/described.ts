/**
 * How a value a caller gave is shown in an error message about it.
 */

// A key naming a secret in a `key=value` or `key: value` form (a connection string's `;password=` or
// `,password=`, a JSON `"password":`), and all that follows it: where the secret ends cannot be told (it may hold
// the separator).
const secretKey = /[\w-]*(?:pass(?:word|wd|phrase)?|pwd|secret|auth(?:orization)?|token|api[-_]?key|credentials?)/
const secretValue = new RegExp(`(?<![\\w-])(${secretKey.source}["']?\\s*[=:]).*$`, "is")

/**
 * A text with every password-like value masked (`host:6379,password=***`): a value a message quotes may be a
 * connection string, which holds its password in no URL's userinfo.
 */
export const withoutSecrets = (text: string): string => text.replace(secretValue, "$1***")

/**
 * A value as shown in an option's message: JSON where it can be (bounded), else its type. A string is quoted,
 * so that `"5"` reads as the string a JavaScript caller passed, not the number it should have been.
 */
export const described = (value: unknown): string => {
  if (value === undefined) return "undefined"
  // As written: JSON would show NaN and Infinity as null, and has no bigint.
  if (typeof value === "number") return String(value)
  if (typeof value === "bigint") return `${value}n`
  if (typeof value === "function") return "a function"
  // An instance (a `URL`, a `Date`) serialises as a string: name its class instead.
  const prototype: unknown = typeof value === "object" && value !== null ? Object.getPrototypeOf(value) : null
  if (prototype !== null && prototype !== Object.prototype && prototype !== Array.prototype) {
    return `a ${(prototype as { constructor?: { name?: string } }).constructor?.name ?? "object"}`
  }
  try {
    // A string masked before it is quoted, so that it stays one quoted string.
    const text: string | undefined = JSON.stringify(typeof value === "string" ? withoutSecrets(value) : value)
    const json = text === undefined || typeof value === "string" ? text : withoutSecrets(text)
    return json === undefined ? typeof value : json.length > 80 ? `${json.slice(0, 80)}...` : json
  } catch {
    return typeof value
  }
}
