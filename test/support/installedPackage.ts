/**
 * A project with the package installed (its `package.json` exports, the sources standing in for `dist`, and its
 * peers), to compile a user's modules against it with the TypeScript API as a consumer's compiler would.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import ts from "typescript"

const root = process.cwd()

/** Makes the project; `remove` deletes it. */
export const install = (): { readonly dir: string; readonly remove: () => void } => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "liter-llm-installed-"))
  const pkg = path.join(dir, "node_modules", "liter-llm")
  fs.mkdirSync(pkg, { recursive: true })
  fs.copyFileSync(path.join(root, "package.json"), path.join(pkg, "package.json"))
  fs.symlinkSync(path.join(root, "src"), path.join(pkg, "dist"), "dir")
  for (const peer of ["effect", "@effect"]) {
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
  const host = ts.createCompilerHost(declarationOptions)
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
