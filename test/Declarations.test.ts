/**
 * A user's module that exports values made by the testing kit, compiled with `declaration: true` against the
 * package as installed (its `package.json` exports, the sources standing in for `dist`), must get declarations
 * that name every type: no TS2742 "cannot be named without a reference to ...".
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as AnthropicMock from "../src/testing/AnthropicMock.js"
import * as CohereMock from "../src/testing/CohereMock.js"
import * as GeminiMock from "../src/testing/GeminiMock.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import * as TestModel from "../src/testing/TestModel.js"
import { compileUses, install, type Use } from "./support/installedPackage.js"

/**
 * Per module of the testing kit, an expression using each of its runtime exports. Each user module imports only
 * that one namespace, so a type from another module is never in scope there.
 */
const uses: ReadonlyArray<Use> = [
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

let project: ReturnType<typeof install> | undefined

beforeAll(() => {
  project = install()
})

afterAll(() => project?.remove())

describe("declarations of a user's module", () => {
  it("cover every runtime export of the testing kit", () => {
    for (const { exports, module, name } of uses) {
      expect(Object.keys(exports).sort(), name).toEqual(Object.keys(module).sort())
    }
  })

  it("name every type of the testing kit's values (no TS2742)", { timeout: 120_000 }, () => {
    compileUses(project!.dir, "liter-llm/testing", uses)
  })
})
