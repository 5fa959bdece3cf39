/**
 * Every `@example` in the JSDoc of the governance and Redis modules compiles, as a user's module under strict
 * options against the package as installed: an example that does not compile teaches the wrong thing.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { compile, install } from "./support/installedPackage.js"

const modules = ["Budget", "Cache", "ContextWindow", "Guardrail", "Pricing", "RateLimit", "Redis", "Tokenizer"]

/** The ```ts blocks of a source file's JSDoc comments, without the comments' leading `*`. */
const examples = (source: string): ReadonlyArray<string> =>
  [...source.matchAll(/^\s*\* ```ts\n([\s\S]*?)^\s*\* ```$/gm)].map((match) =>
    match[1]!.split("\n").map((line) => line.replace(/^\s*\* ?/, "")).join("\n")
  )

let project: ReturnType<typeof install> | undefined

beforeAll(() => {
  project = install()
})

afterAll(() => project?.remove())

describe("JSDoc examples of the governance and Redis modules", () => {
  it("compile under strict options against the installed package", { timeout: 120_000 }, () => {
    const files = new Map<string, string>()
    for (const name of modules) {
      const source = fs.readFileSync(path.join(process.cwd(), "src", `${name}.ts`), "utf8")
      examples(source).forEach((example, index) =>
        files.set(`${name}Example${index + 1}.ts`, `${example}\nexport {}\n`)
      )
    }
    // Every module has examples: a broken extraction must not pass as "nothing to check".
    for (const name of modules) {
      expect([...files.keys()].some((file) => file.startsWith(`${name}Example`)), name).toBe(true)
    }
    expect(compile(project!.dir, files).messages).toEqual([])
  })
})
