/**
 * Every example a user reads compiles, as a user's module under strict options against the package as installed:
 * each `@example` in the JSDoc of the public modules (all of `src/` but `internal/`), and each ```ts block of the
 * README and of `docs/` that is a module (it imports what it uses). An example that does not compile teaches the
 * wrong thing, or names an import path the package does not export.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { compile, install } from "./support/installedPackage.js"

/** The public modules' sources: `src/` without `internal/`. */
const publicSources = (dir: string): ReadonlyArray<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name)
    if (entry.isDirectory()) return entry.name === "internal" ? [] : publicSources(file)
    return entry.name.endsWith(".ts") ? [file] : []
  })

/** The ```ts blocks of a source file's JSDoc comments, without the comments' leading `*`. */
const jsdocExamples = (source: string): ReadonlyArray<string> =>
  [...source.matchAll(/^\s*\* ```ts\n([\s\S]*?)^\s*\* ```$/gm)].map((match) =>
    match[1]!.split("\n").map((line) => line.replace(/^\s*\* ?/, "")).join("\n")
  )

/** The ```ts blocks of a Markdown guide that import what they use (the others are fragments of a page). */
const guideExamples = (text: string): ReadonlyArray<string> =>
  [...text.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((match) => match[1]!).filter((code) => /^import /m.test(code))

/** The packages a module imports that are not installed here (a relative import is none). */
const notInstalled = (code: string): ReadonlyArray<string> =>
  [...code.matchAll(/^import [^"]*"([^"]+)"/gm)].map((match) => match[1]!).filter((specifier) => {
    if (specifier.startsWith(".") || specifier === "liter-llm" || specifier.startsWith("liter-llm/")) return false
    const parts = specifier.split("/")
    const name = specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!
    return !fs.existsSync(path.join("node_modules", name))
  })

let project: ReturnType<typeof install> | undefined

beforeAll(() => {
  // What examples import besides liter-llm and Effect: undici (a dependency), the OpenAI SDK, OpenTelemetry.
  project = install(["undici", "openai", "@opentelemetry"])
})

afterAll(() => project?.remove())

describe("the examples users read", () => {
  it("compile under strict options against the installed package", { timeout: 180_000 }, () => {
    const files = new Map<string, string>()
    const skipped: Array<string> = []
    const add = (name: string, code: string) => {
      if (notInstalled(code).length > 0) skipped.push(name)
      else files.set(name, `${code}\nexport {}\n`)
    }
    const sources = publicSources("src")
    for (const source of sources) {
      const stem = source.slice("src/".length, -".ts".length).replace(/[^A-Za-z]/g, "")
      jsdocExamples(fs.readFileSync(source, "utf8")).forEach((code, index) => add(`${stem}Jsdoc${index + 1}.ts`, code))
    }
    const guides = [
      "README.md",
      ...fs.readdirSync("docs").filter((file) => file.endsWith(".md")).map((f) => `docs/${f}`)
    ]
    for (const guide of guides) {
      const stem = path.basename(guide, ".md").replace(/[^A-Za-z]/g, "")
      guideExamples(fs.readFileSync(guide, "utf8")).forEach((code, index) => add(`${stem}Guide${index + 1}.ts`, code))
    }
    // A broken extraction must not pass as "nothing to check": the modules and guides hold over a hundred.
    expect(files.size).toBeGreaterThan(150)
    for (const module of ["Budget", "Cache", "Guardrail", "LanguageModel", "RateLimit", "Redis", "Retry"]) {
      expect([...files.keys()].some((file) => file.startsWith(`${module}Jsdoc`)), module).toBe(true)
    }
    // Only the OTLP example of metrics.md imports packages (OpenTelemetry's exporters) not installed here.
    expect(skipped).toEqual(["metricsGuide5.ts"])
    expect(compile(project!.dir, files).messages).toEqual([])
  })
})
