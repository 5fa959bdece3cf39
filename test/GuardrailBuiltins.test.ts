import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Guardrail from "../src/Guardrail.js"

const context = (final = true): Guardrail.CheckContext => ({
  stage: "output",
  request: { messages: [{ role: "user", content: "hi" }] },
  final
})

const run = (guardrail: Guardrail.Guardrail, text: string, final = true) =>
  Effect.runSync(guardrail.check(text, context(final)))

const redacted = (text: string, options?: Guardrail.RedactPiiOptions) => {
  const verdict = run(Guardrail.redactPii(options), text)
  return verdict._tag === "Rewrite" ? verdict.text : verdict._tag === "Pass" ? text : `blocked: ${verdict.reason}`
}

const holdOf = (guardrail: Guardrail.Guardrail, text: string) => {
  const hold = guardrail.holdBack
  return typeof hold === "function" ? hold(text) : hold ?? 0
}

describe("Guardrail.redactPii", () => {
  it("redacts emails, phone numbers and Luhn-valid card numbers", () => {
    expect(redacted("Write to bob.smith+news@mail.example.co.uk now")).toBe("Write to [EMAIL] now")
    expect(redacted("Call 555-123-4567, (555) 123 4567 or +44 20 7946 0958.")).toBe(
      "Call [PHONE], [PHONE] or [PHONE]."
    )
    expect(redacted("Visa 4111 1111 1111 1111 and 4242-4242-4242-4242, Amex 378282246310005")).toBe(
      "Visa [CARD] and [CARD], Amex [CARD]"
    )
  })

  it("leaves a Luhn-invalid card number, dates, short numbers and plain text alone", () => {
    for (
      const text of [
        "Card 4111 1111 1111 1112 was declined",
        "4111111111111112",
        "Order 12345 shipped on 2024-01-15 10:30",
        "Version 1.2.3, room 555-1234",
        "Write to bob at example dot com",
        "The price is 1,299.99 USD"
      ]
    ) {
      expect(redacted(text)).toBe(text)
    }
  })

  it("redacts only the chosen kinds, with the chosen tokens", () => {
    const text = "bob@example.com 555-123-4567"
    expect(redacted(text, { kinds: ["email"] })).toBe("[EMAIL] 555-123-4567")
    expect(redacted(text, { replacements: { email: "<email>", phone: "<phone>" } })).toBe("<email> <phone>")
  })

  it("holds back the end of a streamed text that could still become PII", () => {
    const pii = Guardrail.redactPii()
    expect(holdOf(pii, "Hello there. ")).toBe(0)
    expect(holdOf(pii, "Mail me at bo")).toBe(2)
    expect(holdOf(pii, "call +1 (555) ")).toBe("+1 (555) ".length)
    expect(holdOf(pii, `x ${"a".repeat(500)}`)).toBe(128)
  })
})

describe("Guardrail.denyList", () => {
  it("blocks strings as whole words in any case, naming the entry", () => {
    const list = Guardrail.denyList(["password", "api key"])
    expect(run(list, "What is the PASSWORD?")).toEqual(Guardrail.block("denied term \"password\""))
    expect(run(list, "my Api Key is")).toEqual(Guardrail.block("denied term \"api key\""))
    expect(run(list, "passwords and bypassword are other words")).toEqual(Guardrail.pass)
  })

  it("matches inside words, or in one case only, when asked", () => {
    expect(run(Guardrail.denyList(["pass"], { wholeWords: false }), "bypassword")._tag).toBe("Block")
    expect(run(Guardrail.denyList(["Secret"], { caseSensitive: true }), "a secret")).toEqual(Guardrail.pass)
    expect(run(Guardrail.denyList(["Secret"], { caseSensitive: true }), "a Secret")._tag).toBe("Block")
  })

  it("uses a RegExp as given", () => {
    const list = Guardrail.denyList([/\bsk-[a-z0-9]{8,}/], { name: "keys" })
    expect(run(list, "key sk-abcdef123")).toEqual(Guardrail.block("denied term /\\bsk-[a-z0-9]{8,}/"))
    expect(run(list, "key SK-ABCDEF123")).toEqual(Guardrail.pass)
  })

  it("does not judge a match at the end of a text that is still growing", () => {
    const list = Guardrail.denyList(["bad"])
    expect(run(list, "a bad", false)).toEqual(Guardrail.pass)
    expect(run(list, "a bad", true)._tag).toBe("Block")
    expect(run(list, "a bad one", false)._tag).toBe("Block")
    expect(holdOf(list, "a ba")).toBe(2)
    expect(holdOf(list, "a BAD")).toBe(3)
    expect(holdOf(list, "a bat")).toBe(0)
  })
})
