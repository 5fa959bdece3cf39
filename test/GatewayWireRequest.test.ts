import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import type OpenAI from "openai"
import * as Wire from "../src/gateway/wire/index.js"

const user = { role: "user", content: "Hi" } as const
const body = (extra: Record<string, unknown>) => ({ model: "gpt-4o-mini", messages: [user], ...extra })

const decoded = (input: unknown, options?: Wire.DecodeOptions): Wire.DecodedRequest => {
  const result = Wire.decodeChatCompletionRequest(input, options)
  if (Either.isLeft(result)) throw new Error(`expected a decoded request, got: ${result.left.message}`)
  return result.right
}

const refused = (input: unknown, options?: Wire.DecodeOptions): Wire.WireError => {
  const result = Wire.decodeChatCompletionRequest(input, options)
  if (Either.isRight(result)) throw new Error("expected a WireError")
  expect(result.left).toBeInstanceOf(Wire.WireError)
  expect(result.left.status).toBe(400)
  return result.left
}

const weather = {
  type: "function",
  function: {
    name: "get_weather",
    description: "The weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
    strict: true
  }
} as const

describe("decodeChatCompletionRequest: messages", () => {
  it("system, developer (as system), user text, image URL and data URL with detail", () => {
    const params: OpenAI.ChatCompletionCreateParams = {
      model: "gpt-4o",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "developer", content: [{ type: "text", text: "One" }, { type: "text", text: "Two" }] },
        {
          role: "user",
          name: "ann",
          content: [
            { type: "text", text: "What is this?" },
            { type: "image_url", image_url: { url: "https://example.com/cat.png", detail: "low" } },
            { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0K" } }
          ]
        }
      ]
    }
    expect(decoded(params).request.messages).toEqual([
      { role: "system", content: "Be brief." },
      { role: "system", content: "One\nTwo" },
      {
        role: "user",
        content: [
          { type: "text", text: "What is this?" },
          { type: "image", url: "https://example.com/cat.png", detail: "low" },
          { type: "image", data: "iVBORw0K", mediaType: "image/png" }
        ]
      }
    ])
  })

  it("assistant text, reasoning_content, tool calls with parsed arguments, and tool results", () => {
    const messages = [
      user,
      { role: "assistant", content: "Let me look.", reasoning_content: "The user wants weather." },
      {
        role: "assistant",
        content: null,
        tool_calls: [{
          id: "call_1",
          type: "function",
          function: { name: "get_weather", arguments: "{\"city\":\"Paris\"}" }
        }]
      },
      { role: "tool", tool_call_id: "call_1", content: "21 C" },
      { role: "tool", tool_call_id: "call_2", name: "get_time", content: [{ type: "text", text: "noon" }] }
    ]
    expect(decoded(body({ messages })).request.messages.slice(1)).toEqual([
      {
        role: "assistant",
        content: [{ type: "reasoning", text: "The user wants weather." }, { type: "text", text: "Let me look." }]
      },
      {
        role: "assistant",
        content: [{ type: "tool-call", id: "call_1", name: "get_weather", arguments: { city: "Paris" } }]
      },
      { role: "tool", content: [{ type: "tool-result", toolCallId: "call_1", result: "21 C" }] },
      { role: "tool", content: [{ type: "tool-result", toolCallId: "call_2", toolName: "get_time", result: "noon" }] }
    ])
  })

  it("a plain assistant answer stays a string; a refusal sent back is text", () => {
    const messages = [user, { role: "assistant", content: "Hello" }, user, { role: "assistant", refusal: "I can't." }]
    const out = decoded(body({ messages })).request.messages
    expect(out[1]).toEqual({ role: "assistant", content: "Hello" })
    expect(out[3]).toEqual({ role: "assistant", content: [{ type: "text", text: "I can't." }] })
  })

  it("legacy function_call and function messages share an id", () => {
    const messages = [
      user,
      { role: "assistant", content: null, function_call: { name: "get_weather", arguments: "{\"city\":\"Oslo\"}" } },
      { role: "function", name: "get_weather", content: "-3 C" }
    ]
    const out = decoded(body({ messages })).request.messages
    expect(out[1]).toEqual({
      role: "assistant",
      content: [{ type: "tool-call", id: "call_1", name: "get_weather", arguments: { city: "Oslo" } }]
    })
    expect(out[2]).toEqual({
      role: "tool",
      content: [{ type: "tool-result", toolCallId: "call_1", toolName: "get_weather", result: "-3 C" }]
    })
  })
})

describe("decodeChatCompletionRequest: parameters", () => {
  it("model, sampling, limits, stop, seed, penalties, user", () => {
    const params: OpenAI.ChatCompletionCreateParams = {
      model: "gpt-4o-mini",
      messages: [user],
      temperature: 0.2,
      top_p: 0.9,
      max_tokens: 100,
      stop: ["END", "STOP"],
      seed: 7,
      presence_penalty: 0.5,
      frequency_penalty: -0.5,
      user: "user-42"
    }
    const out = decoded(params)
    expect(out.model).toBe("gpt-4o-mini")
    expect(out.request).toEqual({
      model: "gpt-4o-mini",
      messages: [user],
      temperature: 0.2,
      topP: 0.9,
      maxTokens: 100,
      stop: ["END", "STOP"],
      seed: 7,
      presencePenalty: 0.5,
      frequencyPenalty: -0.5,
      metadata: { user: "user-42" }
    })
    expect(out.stream).toBe(false)
    expect(out.includeUsage).toBe(false)
  })

  it("max_completion_tokens, a string stop, top_k, and null as absent", () => {
    const out = decoded(body({ max_completion_tokens: 50, stop: "END", top_k: 40, temperature: null, n: null }))
    expect(out.request.maxTokens).toBe(50)
    expect(out.request.stop).toBe("END")
    expect(out.request.topK).toBe(40)
    expect(out.request.temperature).toBeUndefined()
  })

  it("tools and every tool_choice", () => {
    const noParameters = { type: "function", function: { name: "now" } }
    const choices: Array<[unknown, unknown]> = [
      ["auto", "auto"],
      ["none", "none"],
      ["required", "required"],
      [{ type: "function", function: { name: "now" } }, { type: "tool", name: "now" }]
    ]
    for (const [wire, unified] of choices) {
      const out = decoded(body({ tools: [weather, noParameters], tool_choice: wire }))
      expect(out.request.toolChoice).toEqual(unified)
      expect(out.request.tools).toEqual([
        { ...weather.function },
        { name: "now", parameters: { type: "object", properties: {} } }
      ])
      expect(out.legacyFunctions).toBe(false)
    }
  })

  it("legacy functions and function_call", () => {
    const out = decoded(body({ functions: [weather.function], function_call: { name: "get_weather" } }))
    expect(out.request.tools).toEqual([weather.function])
    expect(out.request.toolChoice).toEqual({ type: "tool", name: "get_weather" })
    expect(out.legacyFunctions).toBe(true)
    expect(decoded(body({ functions: [weather.function], function_call: "none" })).request.toolChoice).toBe("none")
  })

  it("response_format: text, json_object, json_schema", () => {
    expect(decoded(body({ response_format: { type: "text" } })).request.responseFormat).toEqual({ type: "text" })
    expect(decoded(body({ response_format: { type: "json_object" } })).request.responseFormat).toEqual({ type: "json" })
    const schema = { type: "object", properties: { answer: { type: "string" } } }
    expect(
      decoded(body({
        response_format: {
          type: "json_schema",
          json_schema: { name: "answer", schema, strict: true, description: "An answer" }
        }
      })).request.responseFormat
    ).toEqual({ type: "json-schema", name: "answer", schema, strict: true, description: "An answer" })
    // OpenAI's default is not strict: the client's meaning is kept.
    expect(
      decoded(body({ response_format: { type: "json_schema", json_schema: { name: "answer", schema } } })).request
        .responseFormat
    ).toEqual({ type: "json-schema", name: "answer", schema, strict: false })
  })

  it("stream and stream_options.include_usage", () => {
    expect(decoded(body({ stream: true }))).toMatchObject({ stream: true, includeUsage: false })
    expect(decoded(body({ stream: true, stream_options: { include_usage: true } }))).toMatchObject({
      stream: true,
      includeUsage: true
    })
    expect(decoded(body({ stream: true, stream_options: { include_obfuscation: false } })).includeUsage).toBe(false)
  })

  it("parallel_tool_calls is the unified parallelToolCalls, which every provider with the setting honours", () => {
    const out = decoded(body({ parallel_tool_calls: false }))
    expect(out.request.parallelToolCalls).toBe(false)
    expect(out.request.providerOptions).toBeUndefined()
  })

  it("OpenAI-only parameters pass on in providerOptions.openai", () => {
    const out = decoded(body({
      reasoning_effort: "low",
      service_tier: "flex",
      store: true,
      metadata: { team: "search" },
      logit_bias: { "50256": -100 },
      prompt_cache_key: "k",
      safety_identifier: "s",
      verbosity: "low"
    }))
    expect(out.request.providerOptions).toEqual({
      openai: {
        reasoning_effort: "low",
        service_tier: "flex",
        store: true,
        metadata: { team: "search" },
        logit_bias: { "50256": -100 },
        prompt_cache_key: "k",
        safety_identifier: "s",
        verbosity: "low"
      }
    })
    // A client cannot pick its tenant: that is the server's, from the key.
    expect(out.request.metadata).toBeUndefined()
  })

  it("n: 1, logprobs: false and modalities: [\"text\"] are what is supported anyway", () => {
    const out = decoded(body({ n: 1, logprobs: false, modalities: ["text"] }))
    expect(out.dropped).toEqual([])
    expect(out.request).toEqual({ model: "gpt-4o-mini", messages: [user] })
  })
})

describe("decodeChatCompletionRequest: unsupported parameters", () => {
  const cases: Array<[string, unknown]> = [
    ["n", 2],
    ["logprobs", true],
    ["top_logprobs", 3],
    ["modalities", ["text", "audio"]],
    ["audio", { voice: "alloy", format: "mp3" }],
    ["prediction", { type: "content", content: "x" }],
    ["web_search_options", {}],
    ["moderation", { model: "omni-moderation-latest" }]
  ]
  for (const [param, value] of cases) {
    it(`${param} is refused naming it, and dropped when configured`, () => {
      const error = refused(body({ [param]: value }))
      expect(error.param).toBe(param)
      expect(error.code).toBe("unsupported_parameter")
      expect(Wire.encodeError(error).body.error).toMatchObject({
        type: "invalid_request_error",
        param,
        code: "unsupported_parameter"
      })
      expect(decoded(body({ [param]: value }), { dropUnsupported: [param] }).dropped).toEqual([param])
      expect(decoded(body({ [param]: value }), { dropUnsupported: true }).dropped).toEqual([param])
      // Dropping another parameter does not drop this one.
      expect(refused(body({ [param]: value }), { dropUnsupported: ["other"] }).param).toBe(param)
    })
  }

  it("an unknown parameter is refused, or dropped when configured", () => {
    const error = refused(body({ repetition_penalty: 1.1 }))
    expect(error).toMatchObject({ param: "repetition_penalty", code: "unknown_parameter" })
    expect(decoded(body({ repetition_penalty: 1.1 }), { dropUnsupported: true }).dropped).toEqual([
      "repetition_penalty"
    ])
  })

  it("include_obfuscation: true is refused, or dropped", () => {
    const input = body({ stream: true, stream_options: { include_obfuscation: true } })
    expect(refused(input).param).toBe("stream_options.include_obfuscation")
    expect(decoded(input, { dropUnsupported: true }).dropped).toEqual(["stream_options.include_obfuscation"])
  })

  it("audio and file content parts, custom tools and tool choices are refused", () => {
    const audioPart = { type: "input_audio", input_audio: { data: "AAAA", format: "wav" } }
    expect(refused(body({ messages: [{ role: "user", content: [audioPart] }] }))).toMatchObject({
      param: "messages[0].content[0].type",
      code: "unsupported_parameter"
    })
    expect(refused(body({ tools: [{ type: "custom", custom: { name: "x" } }] })).param).toBe("tools[0].type")
    expect(refused(body({ tools: [weather], tool_choice: { type: "allowed_tools", allowed_tools: {} } })).param).toBe(
      "tool_choice.type"
    )
  })
})

describe("decodeChatCompletionRequest: malformed bodies", () => {
  const cases: Array<[string, unknown, string | undefined]> = [
    ["not an object", "hello", "body"],
    ["an array", [], "body"],
    ["no model", { messages: [user] }, "model"],
    ["an empty model", body({ model: "" }), "model"],
    ["no messages", { model: "m" }, "messages"],
    ["empty messages", body({ messages: [] }), "messages"],
    ["a message that is not an object", body({ messages: [user, 3] }), "messages[1]"],
    ["an unknown role", body({ messages: [user, user, { role: "robot", content: "x" }] }), "messages[2].role"],
    [
      "a content of the wrong type",
      body({ messages: [user, user, { role: "user", content: 42 }] }),
      "messages[2].content"
    ],
    [
      "a user message with an empty list of parts",
      body({ messages: [user, { role: "user", content: [] }] }),
      "messages[1].content"
    ],
    [
      "a bad part type",
      body({ messages: [{ role: "user", content: [{ type: "video" }] }] }),
      "messages[0].content[0].type"
    ],
    [
      "an image without url",
      body({ messages: [{ role: "user", content: [{ type: "image_url", image_url: {} }] }] }),
      "messages[0].content[0].image_url.url"
    ],
    ...["file:///etc/passwd", "gopher://x/1", "javascript:alert(1)", "cat.png", "https://"].map((
      url
    ): [string, unknown, string] => [
      `an image URL that is neither http(s) nor a data URL: ${url}`,
      body({ messages: [{ role: "user", content: [{ type: "image_url", image_url: { url } }] }] }),
      "messages[0].content[0].image_url.url"
    ]),
    ...["data:image/png;base64,%%%", "data:image/png;base64,AAAAA", "data:png;base64,AA=="].map((
      url
    ): [string, unknown, string] => [
      `a data URL that is not a base64 image: ${url}`,
      body({ messages: [{ role: "user", content: [{ type: "image_url", image_url: { url } }] }] }),
      "messages[0].content[0].image_url.url"
    ]),
    [
      "a bad image detail",
      body({
        messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "https://x", detail: "max" } }] }]
      }),
      "messages[0].content[0].image_url.detail"
    ],
    ["an unknown message field", body({ messages: [{ ...user, id: "x" }] }), "messages[0].id"],
    ["an assistant with nothing", body({ messages: [user, { role: "assistant" }] }), "messages[1].content"],
    [
      "tool call arguments not JSON",
      body({
        messages: [user, {
          role: "assistant",
          tool_calls: [{ id: "a", type: "function", function: { name: "f", arguments: "{oops" } }]
        }]
      }),
      "messages[1].tool_calls[0].function.arguments"
    ],
    [
      "a tool message without tool_call_id",
      body({ messages: [user, { role: "tool", content: "x" }] }),
      "messages[1].tool_call_id"
    ],
    [
      "a function message answering nothing",
      body({ messages: [user, { role: "function", name: "f", content: "x" }] }),
      "messages[1]"
    ],
    ["temperature not a number", body({ temperature: "hot" }), "temperature"],
    ["temperature out of range", body({ temperature: 3 }), "temperature"],
    ["top_p out of range", body({ top_p: 1.5 }), "top_p"],
    ["max_tokens not an integer", body({ max_tokens: 1.5 }), "max_tokens"],
    ["max_completion_tokens zero", body({ max_completion_tokens: 0 }), "max_completion_tokens"],
    ["both max_tokens fields", body({ max_tokens: 1, max_completion_tokens: 2 }), "max_tokens"],
    ["seed not an integer", body({ seed: 0.5 }), "seed"],
    ["stop entries not strings", body({ stop: ["a", 1] }), "stop[1]"],
    ["user not a string", body({ user: 42 }), "user"],
    ["stream not a boolean", body({ stream: "yes" }), "stream"],
    ["stream_options without stream", body({ stream_options: { include_usage: true } }), "stream_options"],
    [
      "a tool name the model refuses",
      body({ tools: [{ type: "function", function: { name: "bad name!" } }] }),
      "tools[0].function.name"
    ],
    ["duplicate tool names", body({ tools: [weather, weather] }), "tools"],
    [
      "tool_choice naming no tool",
      body({ tools: [weather], tool_choice: { type: "function", function: { name: "nope" } } }),
      "tool_choice"
    ],
    ["tool_choice required without tools", body({ tool_choice: "required" }), "tool_choice"],
    ["a bad tool_choice string", body({ tools: [weather], tool_choice: "always" }), "tool_choice"],
    ["a legacy function with a bad name", body({ functions: [{ name: "a b" }] }), "functions[0].name"],
    ["tools and functions together", body({ tools: [weather], functions: [weather.function] }), "functions"],
    ["a bad response_format type", body({ response_format: { type: "xml" } }), "response_format.type"],
    [
      "a json_schema without schema",
      body({ response_format: { type: "json_schema", json_schema: { name: "a" } } }),
      "response_format.json_schema.schema"
    ],
    ["a passthrough of the wrong type", body({ store: "yes" }), "store"],
    ["parallel_tool_calls of the wrong type", body({ parallel_tool_calls: "yes" }), "parallel_tool_calls"]
  ]
  for (const [name, input, param] of cases) {
    it(`${name}: 400 at ${param}`, () => {
      const error = refused(input)
      expect(error.param).toBe(param)
      expect(error.code).not.toBe("unsupported_parameter")
      expect(error.message).toContain(param === "body" ? "body" : param!.split("[")[0])
    })
  }
})

describe("decodeChatCompletionRequest: values nested too deeply", () => {
  const deep = (levels: number) => JSON.parse("[".repeat(levels) + "]".repeat(levels)) as unknown
  const schema = (levels: number) => ({ type: "object", properties: { a: deep(levels) } })

  it("a member nested more than 64 levels deep is a 400 naming it, however deep, never a stack overflow", () => {
    const cases: ReadonlyArray<readonly [unknown, string]> = [
      [body({ metadata: { a: deep(100_000) } }), "metadata"],
      [body({ tools: [{ type: "function", function: { name: "f", parameters: schema(5_000) } }] }), "tools"],
      [
        body({ response_format: { type: "json_schema", json_schema: { name: "s", schema: schema(70) } } }),
        "response_format"
      ],
      [
        body({
          messages: [user, {
            role: "assistant",
            tool_calls: [{
              id: "c",
              type: "function",
              function: { name: "f", arguments: "[".repeat(5_000) + "]".repeat(5_000) }
            }]
          }, { role: "tool", tool_call_id: "c", content: "x" }]
        }),
        "messages[1].tool_calls[0].function.arguments"
      ]
    ]
    for (const [input, param] of cases) {
      const error = Either.getOrThrow(Either.flip(Wire.decodeChatCompletionRequest(input)))
      expect(error).toMatchObject({ param, code: "nested_too_deeply" })
      expect(error.message).toBe(`\`${param}\` is nested more than 64 levels deep`)
    }
  })

  it("a tool schema 60 levels deep is no problem", () => {
    const decoded = Wire.decodeChatCompletionRequest(
      body({ tools: [{ type: "function", function: { name: "f", parameters: schema(58) } }] })
    )
    expect(Either.isRight(decoded)).toBe(true)
  })
})

describe("decodeChatCompletionRequest: keys named like Object.prototype members", () => {
  // JSON.parse makes these own keys (an object literal's `__proto__` would set the prototype instead).
  const parsed = (extra: string) => JSON.parse(`{"model":"m","messages":[{"role":"user","content":"Hi"}],${extra}}`)
  const names = [
    "constructor",
    "__proto__",
    "hasOwnProperty",
    "valueOf",
    "toString",
    "isPrototypeOf",
    "__defineGetter__"
  ]

  for (const name of names) {
    it(`a top-level \`${name}\` is an unknown parameter like any other, or dropped when configured`, () => {
      for (const value of ["1", "null", "{}", "{\"a\":1}"]) {
        const error = refused(parsed(`"${name}":${value}`))
        expect(error).toMatchObject({
          param: name,
          code: "unknown_parameter",
          message: `unknown parameter \`${name}\``
        })
        expect(decoded(parsed(`"${name}":${value}`), { dropUnsupported: true }).dropped).toEqual([name])
        expect(decoded(parsed(`"${name}":${value}`), { dropUnsupported: [name] }).dropped).toEqual([name])
      }
    })
  }

  it("nested keys of that kind are unknown parameters, or values that name nothing", () => {
    for (const name of names) {
      expect(refused(parsed(`"tools":[{"type":"function","function":{"name":"f"}}],"${name}":1`)).param).toBe(name)
      expect(refused(JSON.parse(`{"model":"m","messages":[{"role":"user","content":"Hi","${name}":1}]}`)).param)
        .toBe(`messages[0].${name}`)
      expect(refused(parsed(`"stream":true,"stream_options":{"${name}":true}`)).param).toBe(`stream_options.${name}`)
      expect(refused(JSON.parse(`{"model":"m","messages":[{"role":"${name}","content":"Hi"}]}`)).param).toBe(
        "messages[0].role"
      )
      expect(refused(parsed(`"response_format":{"type":"${name}"}`)).param).toBe("response_format.type")
      expect(
        refused(JSON.parse(`{"model":"m","messages":[{"role":"user","content":[{"type":"${name}"}]}]}`)).param
      ).toBe("messages[0].content[0].type")
    }
  })

  it("`__proto__` in free-form JSON (tool parameters, a response schema, metadata) stays the client's own key", () => {
    const schema = "{\"type\":\"object\",\"__proto__\":{\"polluted\":true},\"properties\":{\"__proto__\":{}}}"
    const out = decoded(parsed(
      `"tools":[{"type":"function","function":{"name":"f","parameters":${schema}}}],` +
        `"response_format":{"type":"json_schema","json_schema":{"name":"a","schema":${schema}}},` +
        `"metadata":{"__proto__":{"polluted":true}},"logit_bias":{"__proto__":1}`
    ))
    const parameters = out.request.tools![0]!.parameters
    const format = out.request.responseFormat as { readonly schema: Record<string, unknown> }
    for (const json of [parameters, format.schema]) {
      expect(Object.getPrototypeOf(json)).toBe(Object.prototype)
      expect(Object.hasOwn(json, "__proto__")).toBe(true)
      expect("polluted" in json).toBe(false)
      expect(JSON.stringify(json)).toBe(schema)
    }
    expect(JSON.stringify(out.request.providerOptions)).toBe(
      "{\"openai\":{\"metadata\":{\"__proto__\":{\"polluted\":true}},\"logit_bias\":{\"__proto__\":1}}}"
    )
    expect("polluted" in {}).toBe(false)
  })
})

describe("decodeChatCompletionRequest: numbers JSON cannot hold", () => {
  // JSON.parse reads 1e999 as Infinity.
  // [param, said of ±Infinity, said of NaN]: an integer out of range is too large, not "not an integer".
  const cases: Array<[string, string, string]> = [
    ["temperature", "must be a finite number", "must be a finite number"],
    ["top_p", "must be a finite number", "must be a finite number"],
    ["presence_penalty", "must be a finite number", "must be a finite number"],
    ["frequency_penalty", "must be a finite number", "must be a finite number"],
    ["max_tokens", "is too large", "must be an integer"],
    ["max_completion_tokens", "is too large", "must be an integer"],
    ["seed", "is too large", "must be an integer"],
    ["top_k", "is too large", "must be an integer"]
  ]
  for (const [param, expected, nan] of cases) {
    it(`${param}: 1e999 and -1e999 are refused saying what is wrong`, () => {
      for (const text of ["1e999", "-1e999"]) {
        const error = refused(
          JSON.parse(`{"model":"m","messages":[{"role":"user","content":"Hi"}],"${param}":${text}}`)
        )
        expect(error).toMatchObject({ param, code: "invalid_value" })
        expect(error.message).toContain(`\`${param}\` ${expected}`)
        expect(error.message).not.toContain("got a number")
      }
      // A caller in JavaScript may pass NaN.
      expect(refused(body({ [param]: Number.NaN })).message).toContain(`\`${param}\` ${nan}, got NaN`)
    })
  }

  it("a fraction where an integer is needed says so", () => {
    expect(refused(body({ max_tokens: 1.5 })).message).toBe("`max_tokens` must be an integer, got 1.5")
    expect(refused(body({ max_tokens: 1e20 })).message).toBe(
      "`max_tokens` is too large: at most 9007199254740991 in magnitude, got 100000000000000000000"
    )
    expect(refused(body({ seed: "1" })).message).toBe("`seed` must be a number, got a string")
  })
})

describe("checkDecodeOptions", () => {
  it("accepts a boolean or a list of names, refuses anything else with a ConfigError", () => {
    expect(Either.isRight(Wire.checkDecodeOptions({ dropUnsupported: ["n"] }))).toBe(true)
    expect(Either.isRight(Wire.checkDecodeOptions({ dropUnsupported: true }))).toBe(true)
    const bad = Wire.checkDecodeOptions({ dropUnsupported: "n" as never })
    expect(Either.isLeft(bad) && bad.left._op).toBe("InvalidData")
    expect(Either.isLeft(Wire.checkDecodeOptions({ dropUnsupported: [""] }))).toBe(true)
  })
})

describe("decodeChatCompletionRequest: refusals in the wire's words", () => {
  it("content of neither kind names both; types with their article; the wire's field names", () => {
    expect(refused({ model: "m", messages: [{ role: "user", content: 5 }] }).message).toBe(
      "`messages[0].content` must be a string or an array of parts, got a number"
    )
    expect(refused({ model: "m", messages: [{ role: "system", content: true }] }).message).toBe(
      "`messages[0].content` must be a string or an array of parts, got a boolean"
    )
    expect(refused({ model: "m", messages: {} }).message).toBe("`messages` must be an array, got an object")
    const required = refused(body({ tool_choice: "required" }))
    expect(required.param).toBe("tool_choice")
    expect(required.message).toBe("tool_choice: `tool_choice` requires `tools`")
    expect(refused(body({ tool_choice: 5 })).message).toBe(
      "`tool_choice` must be \"auto\", \"none\", \"required\" or a named function (an object), got a number"
    )
    expect(refused(body({ tool_choice: "sometimes" })).message).toBe(
      "`tool_choice` must be \"auto\", \"none\", \"required\" or a named function (an object), got \"sometimes\""
    )
  })

  it("a bad image URL is named without the prompt beside it", () => {
    const error = refused({
      model: "m",
      messages: [{
        role: "user",
        content: [{ type: "text", text: "my private prompt" }, {
          type: "image_url",
          image_url: { url: "http://a b.com/x.png" }
        }]
      }]
    })
    expect(error.message).toContain("messages[0].content")
    expect(error.message).not.toContain("my private prompt")
  })
})
