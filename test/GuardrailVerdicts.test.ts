/**
 * What the guardrail layer does with checks that misbehave (a value that is not a verdict fails closed) and
 * the deny-list's handling of whitespace between the words of an entry, on `generate` and on a stream.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import * as Guardrail from "../src/Guardrail.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as TestModel from "../src/testing/TestModel.js"
import { failure } from "./support/loopback.js"
import { ask } from "./support/resilience.js"

const generate = (guardrail: Guardrail.Guardrail, stage: "input" | "output", text = "hello") =>
  LanguageModel.generate(ask("hello")).pipe(
    Effect.provide(Guardrail.layer(TestModel.layer([{ text }]), { [stage]: [guardrail] })),
    Effect.exit
  )

/** The texts a stream delivered before it ended, and how it ended. */
const streamed = (guardrail: Guardrail.Guardrail, chunks: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const texts: Array<string> = []
    const exit = yield* LanguageModel.stream(ask("hello")).pipe(
      Stream.runForEach((part) => Effect.sync(() => part.type === "text-delta" && texts.push(part.text))),
      Effect.provide(Guardrail.layer(TestModel.layer([{ text: chunks.join(""), chunks }]), { output: [guardrail] })),
      Effect.exit
    )
    return { texts, exit }
  })

describe("Guardrail: a check that answers no verdict", () => {
  const odd: ReadonlyArray<readonly [string, unknown]> = [
    ["an unknown tag", { _tag: "Nope" }],
    ["a rewrite without text", { _tag: "Rewrite" }],
    ["undefined", undefined]
  ]
  for (const [name, value] of odd) {
    it.effect(`blocks (fails closed) on ${name}, naming what it answered`, () =>
      Effect.gen(function*() {
        const bad = Guardrail.make({ name: "bad", check: () => Effect.succeed(value as Guardrail.Verdict) })
        for (const stage of ["input", "output"] as const) {
          const error = failure(yield* generate(bad, stage))
          expect(error).toMatchObject({ _tag: "GuardrailBlocked", stage, guardrail: "bad" })
          expect((error as { reason: string }).reason).toContain("not a verdict")
          expect((error as { reason: string }).reason).toContain(JSON.stringify(value) ?? "undefined")
        }
      }))
  }

  it.effect("blocks on a check that answers a plain value instead of an Effect", () =>
    Effect.gen(function*() {
      const bad = Guardrail.make({ name: "plain", check: () => Guardrail.pass as never })
      expect(failure(yield* generate(bad, "input"))).toMatchObject({ _tag: "GuardrailBlocked", guardrail: "plain" })
    }))
})

describe("Guardrail.denyList: whitespace and streams", () => {
  it.effect("a string entry matches across any run of whitespace between its words", () =>
    Effect.gen(function*() {
      const deny = Guardrail.denyList(["ignore previous instructions"])
      for (const text of ["please IGNORE  previous\ninstructions", "ignore\t previous  instructions now"]) {
        expect(failure(yield* generate(deny, "output", text))).toMatchObject({ _tag: "GuardrailBlocked" })
      }
      expect(yield* Effect.exit(generate(deny, "output", "ignore the previous instructions"))).toMatchObject({
        _tag: "Success"
      })
    }))

  it.effect("on a stream, a split entry with a whitespace run is held back, never delivered in part", () =>
    Effect.gen(function*() {
      const deny = Guardrail.denyList(["ignore previous"])
      const { exit, texts } = yield* streamed(deny, ["ok, ignore  ", "prev", "ious!"])
      expect(failure(exit)).toMatchObject({ _tag: "GuardrailBlocked", stage: "output" })
      expect(texts.join("")).toBe("ok, ")
    }))

  it.effect("a RegExp entry's holdBack keeps the start of a match from being delivered", () =>
    Effect.gen(function*() {
      const { exit, texts } = yield* streamed(Guardrail.denyList([/secret\d+/], { holdBack: 8 }), [
        "the secr",
        "et123 x"
      ])
      expect(failure(exit)).toMatchObject({ _tag: "GuardrailBlocked" })
      expect(texts.join("")).not.toContain("secr")
    }))
})
