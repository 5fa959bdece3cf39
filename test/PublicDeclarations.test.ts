/**
 * The declarations of the package's public modules name their types through public modules only: a type that
 * lives in `internal/` would show up in a user's hover and error messages under a path the package's exports
 * block, and a user could not import it to annotate a value of that type.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import ts from "typescript"
import { compilerHost } from "./support/compilerHost.js"
import { declarationOptions } from "./support/installedPackage.js"

const src = path.join(process.cwd(), "src")

/** The public modules: the top level of `src` (the root export), the provider adapters and the testing kit. */
const publicModules = ["", "providers", "testing"].flatMap((dir) =>
  fs.readdirSync(path.join(src, dir))
    .filter((name) => name.endsWith(".ts"))
    .map((name) => path.join(src, dir, name))
)

/** The declarations TypeScript emits for `files`, by file name. */
const declarationsOf = (files: ReadonlyArray<string>): ReadonlyMap<string, string> => {
  const options: ts.CompilerOptions = {
    ...declarationOptions,
    types: ["node"],
    rootDir: src,
    outDir: path.join(process.cwd(), "dist")
  }
  const program = ts.createProgram([...files], options, compilerHost(options))
  const declarations = new Map<string, string>()
  for (const file of files) {
    program.emit(
      program.getSourceFile(file),
      (name, text) => {
        if (name.endsWith(".d.ts")) declarations.set(path.relative(options.outDir!, name), text)
      },
      undefined,
      true
    )
  }
  return declarations
}

describe("public declarations", () => {
  it("no public module's declarations import from internal/", () => {
    const declarations = declarationsOf(publicModules)
    expect(declarations.size).toBe(publicModules.length)
    const leaks = [...declarations].flatMap(([name, text]) =>
      text.split("\n").filter((line) => /from "\.\.?\/(\.\.\/)*internal\//.test(line)).map((line) => `${name}: ${line}`)
    )
    expect(leaks).toEqual([])
  }, 120_000)
})
