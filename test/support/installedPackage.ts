/**
 * A project with the package installed (its `package.json` exports, the sources standing in for `dist`, and its
 * peers), to compile a user's modules against it with the TypeScript API as a consumer's compiler would.
 */
import { expect } from "@effect/vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import ts from "typescript"
import { compilerHost } from "./compilerHost.js"

const root = process.cwd()

/**
 * Makes the project; `remove` deletes it. `others`: more packages of this project's `node_modules` the user's
 * modules import (an OpenAI SDK, an exporter).
 */
export const install = (
  others: ReadonlyArray<string> = []
): { readonly dir: string; readonly remove: () => void } => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "liter-llm-installed-"))
  const pkg = path.join(dir, "node_modules", "liter-llm")
  fs.mkdirSync(pkg, { recursive: true })
  fs.copyFileSync(path.join(root, "package.json"), path.join(pkg, "package.json"))
  fs.symlinkSync(path.join(root, "src"), path.join(pkg, "dist"), "dir")
  for (const peer of ["effect", "@effect", ...others]) {
    fs.symlinkSync(fs.realpathSync(path.join(root, "node_modules", peer)), path.join(dir, "node_modules", peer))
  }
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ type: "module" }))
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) }
}

/** A strict consumer's options, emitting declarations only. */
export const declarationOptions: ts.CompilerOptions = {
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  target: ts.ScriptTarget.ES2022,
  strict: true,
  exactOptionalPropertyTypes: true,
  noUncheckedIndexedAccess: true,
  declaration: true,
  emitDeclarationOnly: true,
  skipLibCheck: true,
  types: []
}

/**
 * Writes each module (by file name) into the project and compiles them: each diagnostic as
 * `<file>: TS<code> <message>`, and the declarations emitted, by file name (`Foo.d.ts`).
 */
export const compile = (
  dir: string,
  modules: ReadonlyMap<string, string>
): { readonly messages: ReadonlyArray<string>; readonly declarations: ReadonlyMap<string, string> } => {
  const files = [...modules].map(([name, text]) => {
    const file = path.join(dir, name)
    fs.writeFileSync(file, text)
    return file
  })
  const host = compilerHost(declarationOptions, files)
  const declarations = new Map<string, string>()
  host.writeFile = (file, text) => declarations.set(path.basename(file), text)
  const program = ts.createProgram(files, declarationOptions, host)
  const messages = files.flatMap((file) => {
    const source = program.getSourceFile(file)!
    const { diagnostics } = program.emit(source, undefined, undefined, true)
    return [...program.getSemanticDiagnostics(source), ...program.getSyntacticDiagnostics(source), ...diagnostics]
      .map((diagnostic) => {
        const line = diagnostic.start === undefined
          ? ""
          : `:${source.getLineAndCharacterOfPosition(diagnostic.start).line + 1}`
        return `${path.basename(file)}${line}: TS${diagnostic.code} ${
          ts.flattenDiagnosticMessageText(diagnostic.messageText, " ")
        }`
      })
  })
  return { messages, declarations }
}

/**
 * A user's module per entry: it imports `name` from `from` (and `imports`), and exports `<prefix><key>` for each
 * expression of `exports` and `deeper`.
 */
export interface Use {
  readonly name: string
  readonly module: object
  readonly imports?: string
  /** An expression using each runtime export of the module, by export name. */
  readonly exports: Record<string, string>
  /** Values reached through the module's services, beyond its exports. */
  readonly deeper?: Record<string, string>
}

/**
 * Compiles one user module per use against the installed package, and checks what every such suite checks:
 * no diagnostic, and a declaration for each export's value. Returns the declarations, by file name.
 */
export const compileUses = (
  dir: string,
  from: string,
  uses: ReadonlyArray<Use>,
  prefix = ""
): ReadonlyMap<string, string> => {
  const modules = new Map(uses.map(({ deeper, exports, imports, name }) => [
    `${name}.ts`,
    [
      `import { ${name} } from "${from}"`,
      ...(imports === undefined ? [] : [imports]),
      ...Object.entries({ ...exports, ...deeper }).map(([key, expression]) =>
        `export const ${prefix}${key} = ${expression}`
      )
    ].join("\n") + "\n"
  ]))
  const { declarations, messages } = compile(dir, modules)
  expect(messages).toEqual([])
  for (const { exports, name } of uses) {
    const declaration = declarations.get(`${name}.d.ts`) ?? ""
    for (const key of Object.keys(exports)) {
      expect(declaration).toMatch(new RegExp(`export declare const ${prefix}${key}[:= ]`))
    }
  }
  return declarations
}
