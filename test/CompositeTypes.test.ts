/**
 * A misspelt option of a fallback step is a type error, as it is for every other options object: the steps are
 * an inferred tuple, where TypeScript does not check for unknown fields by itself. Compiled as a user's module
 * against the package as installed.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { compile, install } from "./support/installedPackage.js"

let project: ReturnType<typeof install> | undefined
beforeAll(() => {
  project = install(["undici"])
})
afterAll(() => project?.remove())

const chain = (step: string) =>
  `import { Fallback } from "liter-llm"
import { TestModel } from "liter-llm/testing"
const model = TestModel.layer([{ text: "ok" }])
export const chain = Fallback.layer([{ provide: model }, { provide: model, ${step} }])
`

describe("Fallback.layer's steps", () => {
  it("a known option compiles; a misspelt one is a type error naming it", { timeout: 120_000 }, () => {
    const { messages } = compile(
      project!.dir,
      new Map([["good.ts", chain(`model: "gpt-4o"`)], ["bad.ts", chain(`modle: "gpt-4o"`)]])
    )
    expect(messages.filter((message) => message.startsWith("good.ts"))).toEqual([])
    const bad = messages.filter((message) => message.startsWith("bad.ts"))
    expect(bad).toHaveLength(1)
    expect(bad[0]).toMatch(/bad\.ts:4: TS2322 .*'string' is not assignable to type 'never'/)
  })
})
