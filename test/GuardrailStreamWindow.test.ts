/**
 * Output guardrails on long streams: when every guardrail is `local` (the built-ins), each check sees a bounded
 * window of the text, so a long answer costs linear work, and what is delivered is still exactly the check of
 * the whole text.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Stream } from "effect"
import * as Guardrail from "../src/Guardrail.js"
import * as LanguageModel from "../src/LanguageModel.js"
import type * as StreamPart from "../src/StreamPart.js"
import * as TestModel from "../src/testing/TestModel.js"
import { failure, textOf } from "./support/loopback.js"

const ask = { messages: [{ role: "user" as const, content: "a long answer" }] }

/** `guardrail` with a count of the characters its checks were given. */
const counted = (guardrail: Guardrail.Guardrail) => {
  const seen = { characters: 0, finalLengths: [] as Array<number> }
  const wrapped: Guardrail.Guardrail = {
    ...guardrail,
    check: (text, context) => {
      seen.characters += text.length
      if (context.final) seen.finalLengths.push(text.length)
      return guardrail.check(text, context)
    }
  }
  return { seen, guardrail: wrapped }
}

/** A long answer with addresses, numbers and cards throughout, cut into deltas of 1 to 13 characters. */
const longAnswer = (sentences: number) => {
  const pieces: Array<string> = []
  for (let i = 0; i < sentences; i++) {
    pieces.push(
      i % 7 === 0
        ? `Write to user${i}@example.com about case ${i}. `
        : i % 11 === 0
        ? `Call +1 (555) 201-${String(1000 + i).slice(-4)} or pay with 4242 4242 4242 4242. `
        : `Sentence ${i} says nothing in particular, at some length. `
    )
  }
  const text = pieces.join("")
  const chunks: Array<string> = []
  for (let at = 0, size = 1; at < text.length; at += size, size = (size * 7) % 13 + 1) {
    chunks.push(text.slice(at, at + size))
  }
  return { text, chunks }
}

const streamed = (chunks: ReadonlyArray<string>, output: ReadonlyArray<Guardrail.Guardrail>) =>
  Effect.gen(function*() {
    const model = yield* TestModel.make([{ text: chunks.join(""), chunks }])
    const layer = Guardrail.layer(Layer.succeed(LanguageModel.LanguageModel, model.service), { output })
    const received: Array<StreamPart.StreamPart> = []
    const exit = yield* LanguageModel.stream(ask).pipe(
      Stream.provideLayer(layer),
      Stream.runForEach((part) => Effect.sync(() => received.push(part))),
      Effect.exit
    )
    return { exit, received }
  })

/** What a guardrail makes of the whole text at once. */
const checkedWhole = (guardrail: Guardrail.Guardrail, text: string) =>
  Effect.map(
    guardrail.check(text, { stage: "output", request: ask, final: true }),
    (verdict) => verdict._tag === "Rewrite" ? verdict.text : text
  )

describe("Guardrail.layer: long streams", () => {
  it.effect("built-ins see a window: linear work, and the delivered text is the redaction of the whole text", () =>
    Effect.gen(function*() {
      const { chunks, text } = longAnswer(600)
      expect(chunks.length).toBeGreaterThan(4_000)
      const pii = counted(Guardrail.redactPii())
      const deny = counted(Guardrail.denyList(["forbidden"]))
      const { exit, received } = yield* streamed(chunks, [pii.guardrail, deny.guardrail])
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(textOf(received)).toBe(yield* checkedWhole(Guardrail.redactPii(), text))
      expect(textOf(received)).toContain("Write to [EMAIL] about case 595.")
      // Each delta checks at most a window of a few hundred characters (twice when it releases text): 60 times the
      // text's length in all, where checking the whole text so far each time was 3 600 times.
      expect(pii.seen.characters).toBeLessThan(150 * text.length)
      expect(pii.seen.finalLengths.every((length) => length < 4_000)).toBe(true)
    }))

  it.effect("a denied word split across deltas far into a long stream still blocks it", () =>
    Effect.gen(function*() {
      const { chunks } = longAnswer(300)
      const { exit, received } = yield* streamed(
        [...chunks, "and now the forb", "idden word"],
        [Guardrail.redactPii(), Guardrail.denyList(["forbidden"])]
      )
      expect(failure(exit)).toMatchObject({ _tag: "GuardrailBlocked", stage: "output", guardrail: "deny-list" })
      expect(textOf(received)).not.toContain("forb")
      expect(textOf(received).endsWith("and now the ")).toBe(true)
    }))

  it.effect("a guardrail that is not local sees the whole text, the built-ins with it too", () =>
    Effect.gen(function*() {
      const { chunks, text } = longAnswer(60)
      const whole = counted(Guardrail.make({ name: "whole", check: () => Effect.succeed(Guardrail.pass) }))
      const { exit } = yield* streamed(chunks, [Guardrail.redactPii(), whole.guardrail])
      expect(Exit.isSuccess(exit)).toBe(true)
      // The last check, at the end, is of the whole (redacted) answer.
      expect(whole.seen.finalLengths).toEqual([(yield* checkedWhole(Guardrail.redactPii(), text)).length])
    }))

  it.effect("a read of thousands of deltas lets the event loop turn while they are checked", () =>
    Effect.gen(function*() {
      const { chunks } = longAnswer(300)
      // Counts the turns of the event loop while the stream runs (a server's other requests would run there).
      let turns = 0
      let counting = true
      const turn = () => {
        if (!counting) return
        turns++
        setImmediate(turn)
      }
      setImmediate(turn)
      const { exit } = yield* streamed(chunks, [Guardrail.redactPii()])
      counting = false
      expect(Exit.isSuccess(exit)).toBe(true)
      // A turn every 64 deltas, about 30 here; none if the checks held the loop from the first to the last.
      expect(turns).toBeGreaterThan(chunks.length / 64 / 2)
    }))

  it("a deny-list with a RegExp is not local: its matches may be of any length", () => {
    expect(Guardrail.denyList(["secret"]).local).toBe(true)
    expect(Guardrail.denyList(["secret", /key-\d+/]).local).toBeUndefined()
    expect(Guardrail.redactPii().local).toBe(true)
  })
})
