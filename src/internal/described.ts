/**
 * How a value a caller gave is shown in an error message about it.
 */

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
    const json = JSON.stringify(value)
    return json === undefined ? typeof value : json.length > 80 ? `${json.slice(0, 80)}...` : json
  } catch {
    return typeof value
  }
}
