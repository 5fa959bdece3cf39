import { describe, expect, it } from "@effect/vitest"
import { Duration } from "effect"
import * as Headers from "../src/internal/headers.js"

/** An arbitrary "now", whole seconds (HTTP-dates have second precision). */
const now = Date.UTC(2025, 0, 21, 16, 32, 48)

const retryAfterMillis = (headers: Headers.HeaderRecord, nowMillis = now): number | undefined => {
  const retryAfter = Headers.retryAfterFromHeaders(headers, nowMillis)
  return retryAfter === undefined ? undefined : Duration.toMillis(retryAfter)
}

describe("retryAfterFromHeaders", () => {
  it("retry-after-ms: 1500 is 1.5 s", () => {
    expect(retryAfterMillis({ "retry-after-ms": "1500" })).toBe(1500)
  })

  it("x-ms-retry-after-ms (Azure)", () => {
    expect(retryAfterMillis({ "x-ms-retry-after-ms": "250" })).toBe(250)
  })

  it("retry-after in seconds, whole or decimal", () => {
    expect(retryAfterMillis({ "retry-after": "2" })).toBe(2000)
    expect(retryAfterMillis({ "retry-after": "1.5" })).toBe(1500)
    expect(retryAfterMillis({ "retry-after": "0" })).toBe(0)
    expect(retryAfterMillis({ "retry-after": " 3 " })).toBe(3000)
  })

  it("retry-after as an HTTP-date 3 s ahead of now is 3 s, measured from nowMillis (not the wall clock)", () => {
    const date = new Date(now + 3000).toUTCString()
    expect(retryAfterMillis({ "retry-after": date })).toBe(3000)
    expect(retryAfterMillis({ "retry-after": date }, now + 1000)).toBe(2000)
  })

  it("an HTTP-date in the past means now (0)", () => {
    expect(retryAfterMillis({ "retry-after": new Date(now - 60_000).toUTCString() })).toBe(0)
  })

  it("no header: undefined", () => {
    expect(retryAfterMillis({})).toBeUndefined()
    expect(retryAfterMillis({ "content-type": "application/json", "retry-after": undefined })).toBeUndefined()
  })

  it("precedence: retry-after-ms, then x-ms-retry-after-ms, then retry-after", () => {
    expect(retryAfterMillis({ "retry-after-ms": "1500", "x-ms-retry-after-ms": "700", "retry-after": "9" })).toBe(1500)
    expect(retryAfterMillis({ "x-ms-retry-after-ms": "700", "retry-after": "9" })).toBe(700)
    expect(retryAfterMillis({ "retry-after-ms": "1500", "retry-after": "9" })).toBe(1500)
  })

  const invalid = ["abc", "-5", "-0.5", "NaN", "Infinity", "", "   ", "1e3", "0x10", "1.", ".5", "+3", "1,5"]

  for (const value of invalid) {
    it(`ignores ${JSON.stringify(value)} in every header`, () => {
      expect(retryAfterMillis({ "retry-after-ms": value })).toBeUndefined()
      expect(retryAfterMillis({ "x-ms-retry-after-ms": value })).toBeUndefined()
      expect(retryAfterMillis({ "retry-after": value })).toBeUndefined()
    })

    it(`falls through past an invalid ${JSON.stringify(value)} to the next source`, () => {
      expect(retryAfterMillis({ "retry-after-ms": value, "x-ms-retry-after-ms": "700", "retry-after": "9" })).toBe(700)
      expect(retryAfterMillis({ "retry-after-ms": value, "retry-after": "2" })).toBe(2000)
      expect(retryAfterMillis({ "x-ms-retry-after-ms": value, "retry-after": "2" })).toBe(2000)
    })
  }

  it("the three HTTP-date forms of RFC 9110 are read", () => {
    // 1970-01-01T00:00:05Z in IMF-fixdate, RFC 850 and asctime forms
    for (
      const date of ["Thu, 01 Jan 1970 00:00:05 GMT", "Thursday, 01-Jan-70 00:00:05 GMT", "Thu Jan  1 00:00:05 1970"]
    ) {
      expect(retryAfterMillis({ "retry-after": date }, 0)).toBe(5000)
    }
  })

  it("text that Date.parse would accept but is no HTTP-date is ignored", () => {
    expect(retryAfterMillis({ "retry-after": "Retry 2099" })).toBeUndefined()
    expect(retryAfterMillis({ "retry-after": "2099-01-01T00:00:00Z" })).toBeUndefined()
  })

  it("an unparseable date is ignored", () => {
    expect(retryAfterMillis({ "retry-after": "soon" })).toBeUndefined()
    expect(retryAfterMillis({ "retry-after": "Mon, 99 Foo 2025 99:99:99 GMT" })).toBeUndefined()
  })
})

describe("shouldRetryFromHeaders", () => {
  it("reads true and false, case- and space-insensitively", () => {
    expect(Headers.shouldRetryFromHeaders({ "x-should-retry": "true" })).toBe(true)
    expect(Headers.shouldRetryFromHeaders({ "x-should-retry": "false" })).toBe(false)
    expect(Headers.shouldRetryFromHeaders({ "x-should-retry": " TRUE " })).toBe(true)
    expect(Headers.shouldRetryFromHeaders({ "x-should-retry": "False" })).toBe(false)
  })

  it("anything else is no verdict", () => {
    expect(Headers.shouldRetryFromHeaders({})).toBeUndefined()
    expect(Headers.shouldRetryFromHeaders({ "x-should-retry": "" })).toBeUndefined()
    expect(Headers.shouldRetryFromHeaders({ "x-should-retry": "yes" })).toBeUndefined()
    expect(Headers.shouldRetryFromHeaders({ "x-should-retry": "1" })).toBeUndefined()
  })
})

describe("requestIdFromHeaders", () => {
  it("reads each known header", () => {
    expect(Headers.requestIdFromHeaders({ "x-request-id": "req_1" })).toBe("req_1")
    expect(Headers.requestIdFromHeaders({ "request-id": "req_2" })).toBe("req_2")
    expect(Headers.requestIdFromHeaders({ "apim-request-id": "apim_3" })).toBe("apim_3")
    expect(Headers.requestIdFromHeaders({ "x-goog-request-id": "goog_4" })).toBe("goog_4")
    expect(Headers.requestIdFromHeaders({ "cf-ray": "9058b3cc3bcdd63c-IAD" })).toBe("9058b3cc3bcdd63c-IAD")
  })

  it("x-request-id wins over request-id, which wins over cf-ray; empty values are skipped", () => {
    expect(Headers.requestIdFromHeaders({ "cf-ray": "ray", "request-id": "rid", "x-request-id": "xrid" })).toBe("xrid")
    expect(Headers.requestIdFromHeaders({ "cf-ray": "ray", "request-id": "rid" })).toBe("rid")
    expect(Headers.requestIdFromHeaders({ "x-request-id": "", "cf-ray": "ray" })).toBe("ray")
  })

  it("none: undefined", () => {
    expect(Headers.requestIdFromHeaders({ "content-type": "application/json" })).toBeUndefined()
  })
})

describe("parseGoogleDuration", () => {
  const millis = (value: unknown) => {
    const duration = Headers.parseGoogleDuration(value)
    return duration === undefined ? undefined : Duration.toMillis(duration)
  }

  it("reads seconds with an s suffix", () => {
    expect(millis("1.5s")).toBe(1500)
    expect(millis("30s")).toBe(30_000)
    expect(millis("0s")).toBe(0)
    expect(millis("0.001s")).toBe(1)
    expect(millis(" 2s ")).toBe(2000)
  })

  it("rejects anything else", () => {
    for (
      const value of ["1.5", "s", "-1s", "1.5 s", "1.5ms", "abc", "", "1e3s", 1.5, null, undefined, { seconds: 1 }]
    ) {
      expect(millis(value)).toBeUndefined()
    }
  })
})
