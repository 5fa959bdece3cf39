import { describe, expect, it } from "@effect/vitest"
import { ConfigError, Context, Effect, Exit, Layer, Stream } from "effect"
import * as ChatResponse from "../src/ChatResponse.js"
import * as Guardrail from "../src/Guardrail.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import * as StreamPart from "../src/StreamPart.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import * as TestModel from "../src/testing/TestModel.js"
import { failure, openAiLayer, textOf } from "./support/loopback.js"

const ask = (content: string) => ({ messages: [{ role: "user" as const, content }] })

const scripted = (script: ReadonlyArray<TestModel.Reply>) =>
  Effect.map(TestModel.make(script), (model) => ({
    ...model,
    layer: Layer.succeed(LanguageModel.LanguageModel, model.service)
  }))

/** Runs a stream, keeping every part the consumer received, and how it ended. */
const consume = <E, R>(stream: Stream.Stream<StreamPart.StreamPart, E, R>) =>
  Effect.gen(function*() {
    const received: Array<StreamPart.StreamPart> = []
    const exit = yield* stream.pipe(
      Stream.runForEach((part) => Effect.sync(() => received.push(part))),
      Effect.exit
    )
    return { received, exit }
  })

const pii = Guardrail.redactPii()
const secrets = Guardrail.denyList(["forbidden"], { name: "secrets" })

describe("Guardrail.layer: generate", () => {
  it.effect("passes the request and the response unchanged when every check passes", () =>
    Effect.gen(function*() {
      const response: ChatResponse.ChatResponse = {
        id: "1",
        provider: "test",
        model: "test-model",
        content: [{ type: "text", text: "Paris" }],
        finishReason: "stop"
      }
      const model = yield* scripted([response])
      const layer = Guardrail.layer(model.layer, { input: [pii, secrets], output: [pii, secrets] })
      const request = ask("Capital of France?")
      const answer = yield* LanguageModel.generate(request).pipe(Effect.provide(layer))
      expect(answer).toBe(response)
      expect((yield* model.requests)[0]!.messages).toEqual(request.messages)
    }))

  it.effect("redacts the input before the call and the output after it", () =>
    Effect.gen(function*() {
      const model = yield* scripted([{ text: "Sure, I will write to alice@example.org." }])
      const layer = Guardrail.layer(model.layer, { input: [pii], output: [pii] })
      const answer = yield* LanguageModel.generate({
        messages: [
          { role: "system", content: "Support desk: help@example.com" },
          { role: "user", content: [{ type: "text", text: "I am bob@example.com, card 4111 1111 1111 1111" }] }
        ]
      }).pipe(Effect.provide(layer))
      const [sent] = yield* model.requests
      expect(sent!.messages).toEqual([
        // the system prompt is the developer's: not checked unless `inputRoles` says so
        { role: "system", content: "Support desk: help@example.com" },
        { role: "user", content: [{ type: "text", text: "I am [EMAIL], card [CARD]" }] }
      ])
      expect(ChatResponse.text(answer)).toBe("Sure, I will write to [EMAIL].")
    }))

  it.effect("checks the roles of `inputRoles`, tool results that are strings included", () =>
    Effect.gen(function*() {
      const model = yield* scripted([{ text: "ok" }])
      const layer = Guardrail.layer(model.layer, { input: [pii], inputRoles: ["system", "tool"] })
      yield* LanguageModel.generate({
        messages: [
          { role: "system", content: "Desk: help@example.com" },
          { role: "user", content: "me: bob@example.com" },
          { role: "assistant", content: [{ type: "tool-call", id: "c1", name: "crm", arguments: {} }] },
          { role: "tool", content: [{ type: "tool-result", toolCallId: "c1", result: "owner: eve@example.net" }] }
        ]
      }).pipe(Effect.provide(layer))
      const [sent] = yield* model.requests
      expect(sent!.messages.map((message) => JSON.stringify(message.content))).toEqual([
        JSON.stringify("Desk: [EMAIL]"),
        JSON.stringify("me: bob@example.com"),
        JSON.stringify([{ type: "tool-call", id: "c1", name: "crm", arguments: {} }]),
        JSON.stringify([{ type: "tool-result", toolCallId: "c1", result: "owner: [EMAIL]" }])
      ])
    }))

  it.effect("blocks the input before the call and the output after it, naming the guardrail", () =>
    Effect.gen(function*() {
      const model = yield* scripted([{
        text: "that is forbidden knowledge",
        usage: { inputTokens: 4, outputTokens: 5, totalTokens: 9 }
      }])
      const layer = Guardrail.layer(model.layer, { input: [secrets], output: [pii, secrets] })
      const input = failure(
        yield* Effect.exit(
          LanguageModel.generate(ask("tell me FORBIDDEN things"))
            .pipe(Effect.provide(layer))
        )
      )
      expect(input).toBeInstanceOf(LlmError.GuardrailBlocked)
      expect(input).toMatchObject({
        stage: "input",
        guardrail: "secrets",
        reason: "denied term \"forbidden\"",
        provider: "test",
        model: "test-model"
      })
      expect(input._tag === "GuardrailBlocked" && input.partial).toBeUndefined()
      expect(yield* model.requests).toHaveLength(0)

      const output = failure(yield* Effect.exit(LanguageModel.generate(ask("hi")).pipe(Effect.provide(layer))))
      expect(output).toMatchObject({ _tag: "GuardrailBlocked", stage: "output", guardrail: "secrets" })
      expect(output.message).toBe("guardrail \"secrets\" blocked the output: denied term \"forbidden\"")
      // the blocked answer was made: its usage goes with the error
      expect(output._tag === "GuardrailBlocked" && output.usage).toEqual({
        inputTokens: 4,
        outputTokens: 5,
        totalTokens: 9
      })
    }))

  it.effect("checks consecutive text parts as the one text the model reads: a term split across parts is found", () =>
    Effect.gen(function*() {
      const model = yield* scripted([{ text: "ok" }, { text: "ok" }, { text: "ok" }, { text: "ok" }])
      const layer = Guardrail.layer(model.layer, { input: [pii, secrets] })
      const parts = (...content: ReadonlyArray<Record<string, unknown>>) => ({
        messages: [{ role: "user" as const, content: content as never }]
      })
      const text = (value: string) => ({ type: "text", text: value })
      const image = { type: "image", url: "https://example.com/a.png" }
      const split = failure(
        yield* Effect.exit(
          LanguageModel.generate(parts(text("say forb"), text("idden"), text(" now"))).pipe(Effect.provide(layer))
        )
      )
      expect(split).toMatchObject({ _tag: "GuardrailBlocked", stage: "input", guardrail: "secrets" })
      expect(yield* model.requests).toHaveLength(0)
      // Parts that pass are sent as they are, one by one.
      yield* LanguageModel.generate(parts(text("Hello "), text("there"), image, text("bye"))).pipe(
        Effect.provide(layer)
      )
      // A rewrite across parts makes the run one part; a part after an image is another text.
      yield* LanguageModel.generate(parts(text("mail bob@exa"), text("mple.com"), image, text("forb"))).pipe(
        Effect.provide(layer)
      )
      // A rewrite within a part keeps the parts: the address is not read into the next part's words.
      yield* LanguageModel.generate(parts(text("one a@b.com"), text("two"), text("three"))).pipe(
        Effect.provide(layer)
      )
      const sent = (yield* model.requests).map((request) => request.messages[0]!.content)
      expect(sent).toEqual([
        [text("Hello "), text("there"), image, text("bye")],
        [text("mail [EMAIL]"), image, text("forb")],
        [text("one [EMAIL]"), text("two"), text("three")]
      ])
    }))

  it.effect("gives checks the services they need, taken when the layer is built, and passes on their errors", () =>
    Effect.gen(function*() {
      class Banned extends Context.Tag("test/Banned")<Banned, ReadonlyArray<string>>() {}
      const banned = Guardrail.make({
        name: "banned",
        check: (text) =>
          Effect.map(
            Banned,
            (words) => words.some((word) => text.includes(word)) ? Guardrail.block("banned") : Guardrail.pass
          )
      })
      const broken = Guardrail.make({
        name: "moderation",
        check: () => Effect.fail(new LlmError.Timeout({ provider: "moderation", phase: "total", message: "slow" }))
      })
      const model = yield* scripted([{ text: "fine" }, { text: "unchecked" }])
      const layer = Guardrail.layer(model.layer, { input: [banned] }).pipe(
        Layer.provide(Layer.succeed(Banned, ["zebra"]))
      )
      expect(yield* LanguageModel.generate(ask("a horse")).pipe(Effect.provide(layer), Effect.map(ChatResponse.text)))
        .toBe("fine")
      const error = failure(yield* Effect.exit(LanguageModel.generate(ask("a zebra")).pipe(Effect.provide(layer))))
      expect(error).toMatchObject({ _tag: "GuardrailBlocked", guardrail: "banned" })
      const failing = Guardrail.layer(model.layer, { output: [broken] })
      const timeout = failure(yield* Effect.exit(LanguageModel.generate(ask("x")).pipe(Effect.provide(failing))))
      expect(timeout._tag).toBe("Timeout")
    }))
})

describe("Guardrail.checkInput", () => {
  it.effect("the request as the input guardrails let it through: rewritten, blocked, or refused options", () =>
    Effect.gen(function*() {
      const request = (content: string) => ({ messages: [{ role: "user" as const, content }] })
      const sent = yield* Guardrail.checkInput({ input: [pii, secrets] }, request("mail carol@example.org"))
      expect(sent.messages).toEqual([{ role: "user", content: "mail [EMAIL]" }])
      const unchanged = request("hello")
      expect(yield* Guardrail.checkInput({ input: [pii] }, unchanged)).toBe(unchanged)
      const blocked = yield* Effect.flip(Guardrail.checkInput({ input: [secrets] }, request("forbidden")))
      expect(blocked).toMatchObject({ _tag: "GuardrailBlocked", stage: "input", guardrail: "secrets" })
      const refused = yield* Effect.flip(Guardrail.checkInput({ input: null } as never, request("hi")))
      expect(refused).toMatchObject({ _tag: "InvalidRequest", provider: "guardrail" })
      expect(refused.message).toContain("Guardrail.checkInput: input")
    }))
})

describe("Guardrail.layer: stream", () => {
  it.effect("redacts PII split across deltas: the delivered text is the redaction of the whole text", () =>
    Effect.gen(function*() {
      const chunks = ["Mail me at bo", "b@exam", "ple.com or call +1 (555) ", "123-4567, card 4242 42", "42 4242 4242."]
      const model = yield* scripted([{ text: chunks.join(""), chunks }])
      const layer = Guardrail.layer(model.layer, { output: [pii] })
      const { exit, received } = yield* consume(LanguageModel.stream(ask("contact?")).pipe(Stream.provideLayer(layer)))
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(textOf(received)).toBe("Mail me at [EMAIL] or call [PHONE], card [CARD].")
      // No piece of the raw data was ever delivered, and text went out before the stream ended.
      const deltas = received.flatMap((part) => part.type === "text-delta" ? [part.text] : [])
      expect(deltas.some((delta) => /[@\d]|bob|exam/.test(delta))).toBe(false)
      expect(deltas.length).toBeGreaterThan(1)
      expect(received.at(-1)).toMatchObject({ type: "finish" })
    }))

  it.effect("ends a stream blocked mid-way with GuardrailBlocked carrying what was delivered", () =>
    Effect.gen(function*() {
      const chunks = ["Hello ", "there, ", "this is forb", "idden stuff", " and more"]
      const model = yield* scripted([{ text: chunks.join(""), chunks }])
      const layer = Guardrail.layer(model.layer, { output: [secrets] })
      const { exit, received } = yield* consume(LanguageModel.stream(ask("hi")).pipe(Stream.provideLayer(layer)))
      const error = failure(exit)
      expect(error).toMatchObject({ _tag: "GuardrailBlocked", stage: "output", guardrail: "secrets" })
      const delivered = textOf(received)
      // "forb" was held back: it could still become the denied word
      expect(delivered).toBe("Hello there, this is ")
      expect(error._tag === "GuardrailBlocked" && error.partial?.text).toBe(delivered)
      expect(error.message).toContain("blocked the output mid-stream")
    }))

  it.effect("fails like generate when blocked before any content reached the caller", () =>
    Effect.gen(function*() {
      const model = yield* scripted([{ text: "forbidden, all of it", chunks: ["forbidden,", " all of it"] }])
      const layer = Guardrail.layer(model.layer, { output: [secrets] })
      const { exit, received } = yield* consume(LanguageModel.stream(ask("hi")).pipe(Stream.provideLayer(layer)))
      const error = failure(exit)
      expect(error._tag).toBe("GuardrailBlocked")
      expect(error._tag === "GuardrailBlocked" && error.partial).toBeUndefined()
      expect(received.filter(StreamPart.isContent)).toEqual([])
    }))

  it.effect("waits for the next delta before judging a word at the end of the text", () =>
    Effect.gen(function*() {
      const words = Guardrail.denyList(["bad"])
      const model = yield* scripted([{ text: "a badge here", chunks: ["a bad", "ge here"] }])
      const layer = Guardrail.layer(model.layer, { output: [words] })
      const { exit, received } = yield* consume(LanguageModel.stream(ask("hi")).pipe(Stream.provideLayer(layer)))
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(textOf(received)).toBe("a badge here")
    }))

  it.effect("never delivers text a later rewrite would change: a match longer than the hold-back blocks", () =>
    Effect.gen(function*() {
      const masking = Guardrail.make({
        name: "mask",
        check: (text) =>
          Effect.succeed(text.includes("secret") ? Guardrail.rewrite(text.replaceAll("secret", "***")) : Guardrail.pass)
      })
      const model = yield* scripted([{ text: "the secret", chunks: ["the sec", "ret"] }])
      const layer = Guardrail.layer(model.layer, { output: [masking] })
      const { exit, received } = yield* consume(LanguageModel.stream(ask("hi")).pipe(Stream.provideLayer(layer)))
      const error = failure(exit)
      expect(error).toMatchObject({ _tag: "GuardrailBlocked", guardrail: "mask" })
      expect(error._tag === "GuardrailBlocked" && error.partial?.text).toBe("the sec")
      expect(textOf(received)).toBe("the sec")

      // with a hold-back as long as the match, the same stream is rewritten exactly
      const held = yield* scripted([{ text: "the secret", chunks: ["the sec", "ret"] }])
      const holding = Guardrail.layer(held.layer, { output: [{ ...masking, holdBack: 6 }] })
      const ok = yield* consume(LanguageModel.stream(ask("hi")).pipe(Stream.provideLayer(holding)))
      expect(textOf(ok.received)).toBe("the ***")
    }))

  it.effect("checks the text around a tool call as separate segments and passes the tool call through", () =>
    Effect.gen(function*() {
      const model = yield* scripted([{
        id: "r",
        provider: "test",
        model: "test-model",
        content: [
          { type: "text", text: "Looking up bob@example.com" },
          { type: "tool-call", id: "c1", name: "crm", arguments: { q: 1 }, rawArguments: "{\"q\":1}" }
        ],
        finishReason: "tool-calls"
      }])
      const layer = Guardrail.layer(model.layer, { output: [pii] })
      const response = yield* StreamPart.collect(LanguageModel.stream(ask("who?"))).pipe(Effect.provide(layer))
      expect(response.content).toEqual([
        { type: "text", text: "Looking up [EMAIL]" },
        { type: "tool-call", id: "c1", name: "crm", arguments: { q: 1 }, rawArguments: "{\"q\":1}" }
      ])
    }))

  it.effect("blocks a stream's input before the call", () =>
    Effect.gen(function*() {
      const model = yield* scripted([{ text: "never" }])
      const layer = Guardrail.layer(model.layer, { input: [secrets] })
      const { exit } = yield* consume(LanguageModel.stream(ask("forbidden?")).pipe(Stream.provideLayer(layer)))
      expect(failure(exit)).toMatchObject({ _tag: "GuardrailBlocked", stage: "input" })
      expect(yield* model.requests).toHaveLength(0)
    }))
})

describe("Guardrail.layer: options", () => {
  it.effect("refuses bad options with a ConfigError when built", () =>
    Effect.gen(function*() {
      const inner = TestModel.layer([])
      const cases: ReadonlyArray<readonly [Guardrail.Options, string]> = [
        [{}, "give at least one input or output guardrail"],
        [{ input: [pii, pii] }, "input has two guardrails named \"pii\""],
        [{ output: [{ ...pii, name: " " }] }, "output[0] needs a name"],
        [{ output: [{ ...secrets, holdBack: -1 }] }, "holdBack must be an integer >= 0 (characters), got -1"],
        [{ input: [Guardrail.denyList([])] }, "input \"deny-list\": the deny-list is empty"],
        [{ input: [Guardrail.denyList(["ok", ""])] }, "the deny-list has an empty or blank string"],
        [{ input: [Guardrail.denyList(["ok", "  "])] }, "the deny-list has an empty or blank string"],
        [{ output: [Guardrail.denyList(["x"], { holdBack: -1 })] }, "holdBack must be an integer >= 0 (characters)"],
        [{ output: [Guardrail.denyList(["x"], { holdBack: NaN })] }, "holdBack must be an integer >= 0 (characters)"],
        [{ output: [Guardrail.denyList(["x"], { holdBack: 1.5 })] }, "holdBack must be an integer >= 0 (characters)"],
        [{ input: [pii], inputRoles: [] }, "inputRoles must list at least one role"],
        [{ input: [pii], inputRole: ["user"] } as Guardrail.Options, `unknown option "inputRole"`],
        [undefined as unknown as Guardrail.Options, "options must be an object, got undefined"],
        [{ input: [Guardrail.redactPii({ kinds: ["ssn" as "email"] })] }, "unknown kind \"ssn\""],
        [{ input: [pii], inputRoles: ["admin" as "user"] }, "inputRoles has an unknown role \"admin\""],
        // from JavaScript: one guardrail, or something else, where a list goes
        [
          { input: Guardrail.redactPii() } as unknown as Guardrail.Options,
          "input must be an array of guardrails (one guardrail: put it in a list, [guardrail]), got the guardrail \"pii\""
        ],
        [
          { input: [pii], output: secrets } as unknown as Guardrail.Options,
          "output must be an array of guardrails (one guardrail: put it in a list, [guardrail])"
        ],
        [{ input: "pii" } as unknown as Guardrail.Options, "input must be an array of guardrails, got \"pii\""],
        [{ output: null } as unknown as Guardrail.Options, "output must be an array of guardrails, got null"],
        [
          { input: [pii, "secrets"] } as unknown as Guardrail.Options,
          "input[1] must be a guardrail (an object with a name and a check function), got \"secrets\""
        ],
        [{ output: [null] } as unknown as Guardrail.Options, "output[0] must be a guardrail"],
        [{ input: [[pii]] } as unknown as Guardrail.Options, "input[0] must be a guardrail"],
        [
          { input: [undefined, pii] } as unknown as Guardrail.Options,
          "input[0] must be a guardrail (an object with a name and a check function), got undefined"
        ],
        [{ input: [{ name: "x" }] } as unknown as Guardrail.Options, "input \"x\" has no check function"],
        [
          { output: [{ ...secrets, holdBack: "3" }] } as unknown as Guardrail.Options,
          "holdBack must be an integer >= 0 (characters), got \"3\""
        ]
      ]
      for (const [options, message] of cases) {
        const exit = yield* Layer.build(Guardrail.layer(inner, options)).pipe(Effect.scoped, Effect.exit)
        if (Exit.isFailure(exit) && exit.cause._tag === "Fail" && ConfigError.isConfigError(exit.cause.error)) {
          expect(String(exit.cause.error)).toContain(`Guardrail.layer: `)
          expect(String(exit.cause.error)).toContain(message)
        } else {
          expect.fail(`expected a ConfigError for: ${message}`)
        }
      }
    }))
})

describe("Guardrail built-ins and wrap: options from a JavaScript caller", () => {
  it.effect("null, non-object or misspelt built-in options fail the layer with a ConfigError naming them", () =>
    Effect.gen(function*() {
      const inner = TestModel.layer([])
      const cases: ReadonlyArray<readonly [Guardrail.Guardrail, string]> = [
        [Guardrail.redactPii(null as never), "input \"pii\": Guardrail.redactPii: options must be an object, got null"],
        [Guardrail.redactPii("x" as never), "Guardrail.redactPii: options must be an object, got \"x\""],
        [
          Guardrail.redactPii({ kind: ["email"] } as never),
          "Guardrail.redactPii: unknown option \"kind\" (the options are name, kinds, replacements)"
        ],
        [
          Guardrail.redactPii({ name: null } as never),
          "Guardrail.redactPii: name must be a non-empty string, got null"
        ],
        [
          Guardrail.redactPii({ kinds: "email" } as never),
          "Guardrail.redactPii: kinds must be an array of \"email\", \"phone\" or \"card\", got \"email\""
        ],
        [
          Guardrail.redactPii({ replacements: { email: 5 } } as never),
          "Guardrail.redactPii: replacements.email must be a string, got 5"
        ],
        [
          Guardrail.redactPii({ replacements: { mail: "[M]" } } as never),
          "Guardrail.redactPii: unknown option \"replacements.mail\""
        ],
        [
          Guardrail.denyList(["a"], null as never),
          "input \"deny-list\": Guardrail.denyList: options must be an object, got null"
        ],
        [
          Guardrail.denyList(["a"], { tyop: 1 } as never),
          "Guardrail.denyList: unknown option \"tyop\" (the options are name, wholeWords, caseSensitive, holdBack)"
        ],
        [Guardrail.denyList(["a"], { name: 5 } as never), "Guardrail.denyList: name must be a non-empty string, got 5"],
        [
          Guardrail.denyList(["a"], { wholeWords: "no" } as never),
          "Guardrail.denyList: wholeWords must be true or false, got \"no\""
        ],
        [
          Guardrail.denyList(["a"], { caseSensitive: null } as never),
          "Guardrail.denyList: caseSensitive must be true or false, got null"
        ]
      ]
      for (const [guardrail, message] of cases) {
        const exit = yield* Layer.build(Guardrail.layer(inner, { input: [guardrail] })).pipe(Effect.scoped, Effect.exit)
        if (Exit.isFailure(exit) && exit.cause._tag === "Fail" && ConfigError.isConfigError(exit.cause.error)) {
          expect(String(exit.cause.error)).toContain("Guardrail.layer: ")
          expect(String(exit.cause.error)).toContain(message)
        } else {
          expect.fail(`expected a ConfigError for: ${message}`)
        }
      }
    }))

  it.effect("wrap with options the layer would refuse fails every call with InvalidRequest, nothing unchecked", () =>
    Effect.gen(function*() {
      const model = yield* scripted([{ text: "never" }, { text: "never" }])
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        [null, "Guardrail.wrap: options must be an object, got null"],
        [{ input: [pii], inputRole: ["user"] }, "Guardrail.wrap: unknown option \"inputRole\""],
        [{ input: [Guardrail.denyList([])] }, "Guardrail.wrap: input \"deny-list\": the deny-list is empty"],
        [{ input: [Guardrail.denyList(["a"], null as never)] }, "Guardrail.denyList: options must be an object"]
      ]
      for (const [options, message] of cases) {
        const service = Guardrail.wrap(model.service, options as Guardrail.Options)
        const call = yield* Effect.exit(service.generate(ask("hello")))
        expect(failure(call)).toMatchObject({ _tag: "InvalidRequest" })
        expect(failure(call).message).toContain(message)
        const stream = yield* Effect.exit(Stream.runDrain(service.stream(ask("hello"))))
        expect(failure(stream).message).toContain(message)
      }
      expect((yield* model.requests).length).toBe(0)
    }))
})

describe("Guardrail.layer over HTTP", () => {
  it.scoped("a stream cut mid-way fails with what the caller was delivered, not the text held back or redacted", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [
          OpenAiMock.stream({ deltas: ["Hello, write to ", "bob.secret@exa", "mple.com please"] }, { cutAfter: 3 }),
          OpenAiMock.stream({ deltas: ["mail bob.secret@example.com ", "now ", "and then ", "more"] }, { cutAfter: 4 }),
          OpenAiMock.stream({ deltas: ["The admin pass", "word is hunter2"] }, { cutAfter: 2 })
        ]
      })
      const cases = [
        { output: [pii], delivered: "Hello, write to " },
        { output: [pii], delivered: "mail [EMAIL] now and then " },
        { output: [Guardrail.denyList(["password"])], delivered: "The admin " }
      ]
      for (const { delivered, output } of cases) {
        const layer = Guardrail.layer(openAiLayer(server, { retry: false }), { output })
        const { exit, received } = yield* consume(LanguageModel.stream(ask("hi")).pipe(Stream.provideLayer(layer)))
        const error = failure(exit)
        expect(textOf(received)).toBe(delivered)
        expect(error).toMatchObject({ _tag: "StreamInterrupted", causeTag: "NetworkError" })
        expect(error._tag === "StreamInterrupted" && error.partial.text).toBe(delivered)
        expect(JSON.stringify(error)).not.toMatch(/secret|example\.com|pass/)
      }
    }))

  it.scoped("a blocked input never reaches the provider; a streamed answer is redacted", () =>
    Effect.gen(function*() {
      const server = yield* MockProvider.make({
        script: [OpenAiMock.stream({ deltas: ["Write to ca", "rol@exa", "mple.com", " today"] })]
      })
      const layer = Guardrail.layer(openAiLayer(server, { retry: false }), { input: [secrets], output: [pii] })
      const generated = failure(
        yield* Effect.exit(LanguageModel.generate(ask("forbidden")).pipe(Effect.provide(layer)))
      )
      const streamed = yield* consume(LanguageModel.stream(ask("forbidden")).pipe(Stream.provideLayer(layer)))
      expect(generated).toMatchObject({ _tag: "GuardrailBlocked", stage: "input", provider: "openai" })
      expect(failure(streamed.exit)).toMatchObject({ _tag: "GuardrailBlocked", stage: "input" })
      expect(yield* server.requests).toHaveLength(0)

      const ok = yield* consume(LanguageModel.stream(ask("who?")).pipe(Stream.provideLayer(layer)))
      expect(Exit.isSuccess(ok.exit)).toBe(true)
      expect(textOf(ok.received)).toBe("Write to [EMAIL] today")
      expect(yield* server.requests).toHaveLength(1)
    }))
})
