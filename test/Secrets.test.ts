import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Logger, LogLevel, Option, Redacted, Tracer } from "effect"
import * as LanguageModel from "../src/LanguageModel.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as Retry from "../src/Retry.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { openAiLayer, overUndici, secretKey } from "./support/loopback.js"

/** A tracer that keeps every attribute of every span, to search them for the key. */
const recordingTracer = (attributes: Array<string>) =>
  Tracer.make({
    context: (f) => f(),
    span: (name, parent, context, links, startTime, kind) => {
      const map = new Map<string, unknown>()
      const span: Tracer.Span = {
        _tag: "Span",
        name,
        spanId: String(Math.random()),
        traceId: "trace",
        parent,
        context,
        status: { _tag: "Started", startTime },
        attributes: map,
        links: [...links],
        sampled: true,
        kind,
        end: () => {},
        attribute: (key, value) => {
          map.set(key, value)
          attributes.push(`${name} ${key}=${JSON.stringify(value)}`)
        },
        event: (event, _time, eventAttributes) => attributes.push(`${event} ${JSON.stringify(eventAttributes ?? {})}`),
        addLinks: () => {}
      }
      return span
    }
  })

// Retries without waiting, so the live runtime (real spans and logs) never sleeps.
const OpenAiRetryFast = Retry.policy({ base: 0, cap: 0 })

const ask = LanguageModel.generate({ messages: [{ role: "user", content: "hi" }] })

const echoKey = `Incorrect API key provided: ${secretKey}. You can find your API key at https://example.invalid.`

const scripts: ReadonlyArray<readonly [string, ReadonlyArray<MockProvider.Reply>]> = [
  ["a 401 that echoes the key", [OpenAiMock.error(401, "invalid_api_key", { message: echoKey })]],
  ["a 500 body that echoes the key, retried", [
    MockProvider.text(`{"error":{"message":"${echoKey}"}}`, { status: 500 }),
    MockProvider.text(`{"error":{"message":"${echoKey}"}}`, { status: 500 }),
    MockProvider.text(`{"error":{"message":"${echoKey}"}}`, { status: 500 })
  ]],
  ["a malformed body that echoes the key", [MockProvider.text(`not json ${secretKey}`)]],
  ["a dropped connection", [MockProvider.disconnect, MockProvider.disconnect, MockProvider.disconnect]]
]

describe("secrets never leak", () => {
  for (const [name, script] of scripts) {
    for (const flavour of ["openai", "azure"] as const) {
      it.live(`${flavour}: ${name}`, () =>
        Effect.gen(function*() {
          const logs: Array<string> = []
          const spans: Array<string> = []
          const server = yield* MockProvider.make({ script })
          const layer = flavour === "openai"
            ? openAiLayer(server, { retry: OpenAiRetryFast })
            : overUndici(OpenAi.layerAzure({
              endpoint: server.url,
              deployment: "d",
              apiKey: Redacted.make(secretKey),
              retry: OpenAiRetryFast
            }))
          const exit = yield* ask.pipe(
            Effect.provide(layer),
            Effect.withSpan("test"),
            Effect.withTracer(recordingTracer(spans)),
            Effect.provide(
              Logger.replace(Logger.defaultLogger, Logger.make((entry) => logs.push(Logger.stringLogger.log(entry))))
            ),
            Logger.withMinimumLogLevel(LogLevel.All),
            Effect.exit
          )
          expect(Exit.isFailure(exit)).toBe(true)
          const error = Exit.isFailure(exit) ? Option.getOrThrow(Exit.causeOption(exit)) : undefined
          const texts = [String(error), JSON.stringify(error), ...logs, ...spans]
          const failure = error?._tag === "Fail" ? error.error : undefined
          texts.push(failure?.message ?? "", failure?.body ?? "", String(failure))
          expect(logs.length + spans.length).toBeGreaterThan(0)
          for (const text of texts) expect(text).not.toContain(secretKey)
          // The provider's echo is kept, with the key scrubbed out of it.
          if (name.includes("echoes")) expect(texts.join("\n")).toContain("<redacted>")
          // The key did reach the provider, in the header it belongs in.
          const [request] = yield* server.requests
          expect(Object.values(request?.headers ?? {}).some((value) => value.includes(secretKey))).toBe(true)
        }).pipe(Effect.scoped))
    }
  }

  it("Redacted keys print as <redacted>", () => {
    const key = Redacted.make(secretKey)
    expect(String(key)).not.toContain(secretKey)
    expect(JSON.stringify({ key })).not.toContain(secretKey)
  })
})
