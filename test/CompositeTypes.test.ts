/**
 * A misspelt option of a fallback step or a router deployment is a type error, as it is for every other options
 * object: the steps are an inferred tuple, where TypeScript does not check for unknown fields by itself. Compiled
 * as a user's module against the package as installed.
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

const router = (deployment: string) =>
  `import { Router } from "liter-llm"
import { TestModel } from "liter-llm/testing"
const model = TestModel.layer([{ text: "ok" }])
export const router = Router.layer([{ name: "a", provide: model }, { name: "b", provide: model, ${deployment} }], {
  strategy: "weighted"
})
`

describe("Fallback.layer's steps and Router.layer's deployments", () => {
  it("a known option compiles; a misspelt one is a type error naming it", { timeout: 120_000 }, () => {
    const { messages } = compile(
      project!.dir,
      new Map([
        ["good.ts", chain(`model: "gpt-4o"`)],
        ["bad.ts", chain(`modle: "gpt-4o"`)],
        ["goodRouter.ts", router(`weight: 3`)],
        ["badRouter.ts", router(`wieght: 3`)]
      ])
    )
    const of = (file: string) => messages.filter((message) => message.startsWith(`${file}:`))
    expect([...of("good.ts"), ...of("goodRouter.ts")]).toEqual([])
    expect(of("bad.ts")).toHaveLength(1)
    expect(of("bad.ts")[0]).toMatch(/bad\.ts:4: TS2322 .*'string' is not assignable to type 'never'/)
    expect(of("badRouter.ts")).toHaveLength(1)
    expect(of("badRouter.ts")[0]).toMatch(/badRouter\.ts:4: TS2322 .*'number' is not assignable to type 'never'/)
  })
})
