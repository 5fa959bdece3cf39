/**
 * A compiler host for the suite's TypeScript programs, which share their parsed files. Every such program reads
 * the same lib files, the same declarations of effect and the other dependencies and the same sources of the
 * package (over a thousand files: parsing and binding them was about half the time a program took), and differs
 * only in a few user modules. So each of those files is parsed and bound once per process, and shared by every
 * later program that reads the same text under the same settings, as a language service's document registry
 * shares files between its programs. No diagnostic changes: a file whose text changed is parsed again, and each
 * program still has its own checker.
 *
 * The files stay in memory for the rest of the process (some 350 MB once the docs examples' program has read
 * them), for the test files that run after the first program in the same worker.
 */
import ts from "typescript"

/** The options parsing and binding read (the others only concern checking and emit). */
const parseSettings = (options: ts.CompilerOptions): string =>
  JSON.stringify([
    options.target,
    options.module,
    options.moduleDetection,
    options.jsx,
    options.strict,
    options.alwaysStrict,
    options.allowUnreachableCode,
    options.allowUnusedLabels,
    options.preserveConstEnums,
    options.isolatedModules,
    options.verbatimModuleSyntax
  ])

/** The files parsed in this process, by settings, how the file was parsed and its name. */
const parsed = new Map<string, ts.SourceFile>()

/**
 * A host for `ts.createProgram(roots, options, host)`: the default one, but that it reuses the files parsed in
 * this process. `written`: files made for this program alone (a user's modules), parsed for it and not kept.
 * Like `tsc`, it parses JSDoc only where it can make a type error (in JavaScript), not the documentation in the
 * comments of every declaration file: diagnostics and emitted declarations are the same.
 */
export const compilerHost = (options: ts.CompilerOptions, written: ReadonlyArray<string> = []): ts.CompilerHost => {
  const host = ts.createCompilerHost(options)
  host.jsDocParsingMode = ts.JSDocParsingMode.ParseForTypeErrors
  const settings = parseSettings(options)
  const parseAnew = new Set(written)
  host.getSourceFile = (fileName, languageVersionOrOptions, onError) => {
    let text: string | undefined
    try {
      text = host.readFile(fileName)
    } catch (error) {
      onError?.(error instanceof Error ? error.message : String(error))
      text = ""
    }
    if (text === undefined) return undefined
    if (parseAnew.has(fileName)) return ts.createSourceFile(fileName, text, languageVersionOrOptions)
    const how = typeof languageVersionOrOptions === "object"
      ? [
        languageVersionOrOptions.languageVersion,
        languageVersionOrOptions.impliedNodeFormat,
        languageVersionOrOptions.jsDocParsingMode
      ]
      : [languageVersionOrOptions]
    const key = `${settings}${JSON.stringify(how)}${fileName}`
    const cached = parsed.get(key)
    if (cached?.text === text) return cached
    const file = ts.createSourceFile(fileName, text, languageVersionOrOptions)
    parsed.set(key, file)
    return file
  }
  return host
}
