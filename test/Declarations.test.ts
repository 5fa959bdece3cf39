/**
 * A user's module that exports values made by the testing kit, compiled with `declaration: true` against the
 * package as installed (its `package.json` exports, the sources standing in for `dist`), must get declarations
 * that name every type: no TS2742 "cannot be named without a reference to ...".
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import ts from "typescript"
import * as AnthropicMock from "../src/testing/AnthropicMock.js"
import * as CohereMock from "../src/testing/CohereMock.js"
import * as GeminiMock from "../src/testing/GeminiMock.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import * as TestModel from "../src/testing/TestModel.js"

const root = process.cwd()

/**
 * Per module of the testing kit, an expression using each of its runtime exports. Each user module imports only
 * that one namespace, so a type from another module is never in scope there.
 */
const uses: ReadonlyArray<
  { readonly name: string; readonly module: object; readonly exports: Record<string, string> }
> = [
  {
    name: "OpenAiMock",
    module: OpenAiMock,
    exports: {
      completion: "OpenAiMock.completion({ text: \"Paris\" })",
      completionBody: "OpenAiMock.completionBody()",
      error: "OpenAiMock.error(429, \"rate_limit_exceeded\")",
      stream: "OpenAiMock.stream({ deltas: [\"a\"] })",
      streamEvents: "OpenAiMock.streamEvents()",
      requestedModel: "OpenAiMock.requestedModel"
    }
  },
  {
    name: "AnthropicMock",
    module: AnthropicMock,
    exports: {
      message: "AnthropicMock.message({ text: \"Paris\" })",
      messageBody: "AnthropicMock.messageBody()",
      error: "AnthropicMock.error(529)",
      errorBody: "AnthropicMock.errorBody(\"api_error\")",
      frame: "AnthropicMock.frame({ type: \"ping\" })",
      errorFrame: "AnthropicMock.errorFrame()",
      stream: "AnthropicMock.stream()",
      streamFrames: "AnthropicMock.streamFrames()",
      requestedModel: "AnthropicMock.requestedModel"
    }
  },
  {
    name: "CohereMock",
    module: CohereMock,
    exports: {
      chat: "CohereMock.chat()",
      chatBody: "CohereMock.chatBody()",
      error: "CohereMock.error(404)",
      errorBody: "CohereMock.errorBody(\"nope\")",
      usageBody: "CohereMock.usageBody({ inputTokens: 1, outputTokens: 2 })",
      frame: "CohereMock.frame({ type: \"message-end\" })",
      errorFrame: "CohereMock.errorFrame()",
      done: "CohereMock.done",
      stream: "CohereMock.stream()",
      streamFrames: "CohereMock.streamFrames()"
    }
  },
  {
    name: "GeminiMock",
    module: GeminiMock,
    exports: {
      response: "GeminiMock.response()",
      responseBody: "GeminiMock.responseBody()",
      error: "GeminiMock.error(429, { retryDelay: \"1s\" })",
      stream: "GeminiMock.stream()",
      streamEvents: "GeminiMock.streamEvents()",
      streamErrorText: "GeminiMock.streamErrorText({ code: 500, status: \"INTERNAL\", message: \"boom\" })",
      jsonArray: "GeminiMock.jsonArray()",
      requestedModel: "GeminiMock.requestedModel"
    }
  },
  {
    name: "MockProvider",
    module: MockProvider,
    exports: {
      json: "MockProvider.json({})",
      text: "MockProvider.text(\"{\")",
      error: "MockProvider.error(500)",
      sse: "MockProvider.sse([])",
      stream: "MockProvider.stream([])",
      fromRequest: "MockProvider.fromRequest(() => MockProvider.json({}))",
      scriptExhausted: "MockProvider.scriptExhausted(1)",
      disconnect: "MockProvider.disconnect",
      hang: "MockProvider.hang",
      make: "MockProvider.make()"
    }
  },
  {
    name: "TestModel",
    module: TestModel,
    exports: {
      make: "TestModel.make([{ text: \"Paris\" }])",
      layer: "TestModel.layer([{ text: \"Paris\" }])"
    }
  }
]

let project = ""

// A project with the package installed: its package.json, `dist` pointing at the sources, and its peers.
beforeAll(() => {
  project = fs.mkdtempSync(path.join(os.tmpdir(), "liter-llm-declarations-"))
  const pkg = path.join(project, "node_modules", "liter-llm")
  fs.mkdirSync(pkg, { recursive: true })
  fs.copyFileSync(path.join(root, "package.json"), path.join(pkg, "package.json"))
  fs.symlinkSync(path.join(root, "src"), path.join(pkg, "dist"), "dir")
  for (const peer of ["effect", "@effect"]) {
    fs.symlinkSync(fs.realpathSync(path.join(root, "node_modules", peer)), path.join(project, "node_modules", peer))
  }
  fs.writeFileSync(path.join(project, "package.json"), JSON.stringify({ type: "module" }))
})

afterAll(() => {
  if (project !== "") fs.rmSync(project, { recursive: true, force: true })
})

describe("declarations of a user's module", () => {
  it("cover every runtime export of the testing kit", () => {
    for (const { exports, module, name } of uses) {
      expect(Object.keys(exports).sort(), name).toEqual(Object.keys(module).sort())
    }
  })

  it("name every type of the testing kit's values (no TS2742)", { timeout: 120_000 }, () => {
    const files = uses.map(({ exports, name }) => {
      const file = path.join(project, `${name}.ts`)
      const lines = Object.entries(exports).map(([key, expression]) => `export const ${key} = ${expression}`)
      fs.writeFileSync(file, [`import { ${name} } from "liter-llm/testing"`, ...lines].join("\n") + "\n")
      return file
    })
    const options: ts.CompilerOptions = {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      strict: true,
      declaration: true,
      emitDeclarationOnly: true,
      skipLibCheck: true,
      types: []
    }
    const host = ts.createCompilerHost(options)
    const declarations = new Map<string, string>()
    host.writeFile = (file, text) => declarations.set(path.basename(file), text)
    const program = ts.createProgram(files, options, host)

    const messages = files.flatMap((file) => {
      const source = program.getSourceFile(file)!
      const { diagnostics } = program.emit(source, undefined, undefined, true)
      return [...program.getSemanticDiagnostics(source), ...diagnostics].map((diagnostic) =>
        `${path.basename(file)}: TS${diagnostic.code} ${ts.flattenDiagnosticMessageText(diagnostic.messageText, " ")}`
      )
    })

    expect(messages).toEqual([])
    for (const { exports, name } of uses) {
      const declaration = declarations.get(`${name}.d.ts`) ?? ""
      for (const key of Object.keys(exports)) {
        expect(declaration).toMatch(new RegExp(`export declare const ${key}[:= ]`))
      }
    }
  })
})
