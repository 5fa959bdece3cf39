import { FetchHttpClient } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, Redacted } from "effect"
import * as TestClock from "effect/TestClock"
import * as Headers from "../src/internal/headers.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { failure, openAiLayer, runGenerate, secretKey } from "./support/loopback.js"

// HTTP-dates are UTC whatever the host's zone: each case runs under zones on both sides of UTC.
const zones = ["UTC", "America/Los_Angeles", "Asia/Tokyo", "Pacific/Kiritimati", "America/St_Johns"]

/** 2026-11-30T02:00:27Z; the dates below are 3 s later, in the three forms of RFC 9110. */
const now = Date.UTC(2026, 10, 30, 2, 0, 27)
const forms = {
  "IMF-fixdate": "Mon, 30 Nov 2026 02:00:30 GMT",
  "RFC 850": "Monday, 30-Nov-26 02:00:30 GMT",
  "asctime": "Mon Nov 30 02:00:30 2026"
}

const underZone = <A, E, R>(zone: string, self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const previous = process.env.TZ
      process.env.TZ = zone
      return previous
    }),
    () => self,
    (previous) =>
      Effect.sync(() => {
        if (previous === undefined) delete process.env.TZ
        else process.env.TZ = previous
      })
  )

describe("Retry-After HTTP-dates are UTC on every host", () => {
  for (const zone of zones) {
    for (const [form, date] of Object.entries(forms)) {
      it(`${form} under TZ=${zone} is 3 s ahead`, () =>
        Effect.runSync(underZone(
          zone,
          Effect.sync(() => {
            const retryAfter = Headers.retryAfterFromHeaders({ "retry-after": date }, now)
            expect(retryAfter && Duration.toMillis(retryAfter)).toBe(3000)
          })
        )))
    }
  }

  it("an RFC 850 two-digit year more than 50 years ahead is in the past century", () => {
    expect((Headers as any).parseHttpDate?.("Sunday, 06-Nov-94 08:49:37 GMT", now)).toBe(
      Date.UTC(1994, 10, 6, 8, 49, 37)
    )
    expect((Headers as any).parseHttpDate?.("Tuesday, 06-Nov-40 08:49:37 GMT", now)).toBe(
      Date.UTC(2040, 10, 6, 8, 49, 37)
    )
  })

  it("impossible dates and times are ignored, not rolled over into another date", () => {
    for (
      const date of [
        "Tue, 31 Feb 2026 00:00:00 GMT",
        "Mon, 30 Nov 2026 24:00:00 GMT",
        "Mon, 30 Nov 2026 02:60:00 GMT",
        "Mon Nov 31 02:00:30 2026",
        "Mon, 30 Nov 2026 02:00:30 PST"
      ]
    ) {
      expect(Headers.retryAfterFromHeaders({ "retry-after": date }, now)).toBeUndefined()
    }
  })

  const rateLimited = (date: string) =>
    OpenAiMock.error(429, "rate_limit_exceeded", { headers: { "retry-after": date } })
  const fetchLayer = (server: { readonly url: string }) =>
    OpenAi.layer({ apiKey: Redacted.make(secretKey), baseUrl: `${server.url}/v1`, model: "gpt-4o-mini" })
      .pipe(Layer.provide(FetchHttpClient.layer), Layer.orDie)

  for (const zone of ["America/Los_Angeles", "Asia/Tokyo"]) {
    for (const [transport, layerOf] of [["undici", openAiLayer], ["fetch", fetchLayer]] as const) {
      it.scoped(`a 429 with an asctime Retry-After 3 s ahead waits 3 s under TZ=${zone} (${transport})`, () =>
        underZone(
          zone,
          Effect.gen(function*() {
            yield* TestClock.setTime(now)
            const { arrivals, exit } = yield* runGenerate(
              layerOf,
              [rateLimited(forms.asctime), OpenAiMock.completion()],
              [now + 3000]
            )
            expect(exit._tag).toBe("Success")
            expect(arrivals).toEqual([now, now + 3000])
          })
        ))
    }

    it.scoped(`an asctime Retry-After past maxRetryAfter fails at once with it under TZ=${zone}`, () =>
      underZone(
        zone,
        Effect.gen(function*() {
          yield* TestClock.setTime(now)
          const { arrivals, exit } = yield* runGenerate(openAiLayer, [rateLimited("Mon Nov 30 03:00:27 2026")], [])
          expect(arrivals).toEqual([now])
          const error = failure(exit)
          expect(error._tag).toBe("RateLimited")
          expect(error.retryAfter && Duration.toMillis(error.retryAfter)).toBe(3_600_000)
        })
      ))
  }
})
