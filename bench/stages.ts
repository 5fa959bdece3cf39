/**
 * Where the fixed cost of a liter-llm stream and its cost per read go (`npx tsx bench/stages.ts`): the stream
 * of `LanguageModel.stream` over `NodeHttpClient.layerUndici`, rebuilt here by hand from liter-llm's own
 * internal modules, one stage at a time, so each stage can be added to the bare platform client or removed
 * from the full pipeline, and its cost measured.
 *
 * Stages, in the order they are added (each a flag of {@link Flags}):
 * - `tracer`: the platform's `http.client` span (off: `HttpClient.withTracerDisabledWhen`);
 * - `send`: `Http.send` (accept-encoding, redacted header names, error mapping, status check) and
 *   `Http.bodyStream` (the body's `mapError`, content-coding check) instead of `client.execute` + `response.stream`;
 * - `decoder`: `Streaming.decodeSse` (SSE framing and decoding in one stage) with the OpenAI chunk decoder,
 *   instead of a hand-written `eventsource-parser` + `JSON.parse` stage that yields the text;
 * - `check`: the look at the body's first bytes (inside `decodeSse` with `decoder`, else `Streaming.checkBody`);
 * - `attemptScope`: each attempt in its own `Stream.unwrapScoped` (off: the attempt is built in the stream's scope);
 * - `chatSpan`: the `chat <model>` span (`Effect.makeSpanScoped`, parent of the attempt's HTTP span);
 * - `commit`: `CommitPoint.withCommitPoint` (the commit point over a stream) with the default retry policy;
 * - `instrument`: `Instrument.pull` (the stream's outcome, span attributes and end; metrics off), read as a stream;
 * - `outer`: `LanguageModel.stream`'s own work per call: request validation (`ChatRequest.decode`), capability
 *   check, encoding the request body, `Retry.effective`, `Stream.unwrap` of the service;
 * - `timeouts` (not on by default, as in liter-llm): the four deadlines set (request, first token, idle, total).
 *
 * Every variant is checked to return the expected text, then measured in interleaved rounds (median kept):
 * CPU µs per stream of 1 and 50 tokens (whole body in one write), and CPU µs per event of a 200-token stream
 * paced at one event per read. Run alone on a quiet machine; differences under about 10 % are noise.
 *
 * Environment: STAGES_ROUNDS (5), STAGES_MIN_CPU_MS (per round and point, 100), STAGES_PACED_STREAMS (3),
 * STAGES_ONLY (comma-separated variant names), STAGES_WARMUP_MS (per variant, 1500), STAGES_SKIP_PACED (1 to skip).
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Stream from "effect/Stream"
import { createParser } from "eventsource-parser"
import { performance } from "node:perf_hooks"
import * as ChatRequest from "../src/ChatRequest.js"
import * as CommitPoint from "../src/internal/commitPoint.js"
import * as Http from "../src/internal/http.js"
import * as Instrument from "../src/internal/instrument.js"
import * as OpenAiErrors from "../src/internal/openai/errors.js"
import * as OpenAiRequest from "../src/internal/openai/request.js"
import * as OpenAiStream from "../src/internal/openai/stream.js"
import * as Service from "../src/internal/service.js"
import * as Streaming from "../src/internal/streaming.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as Retry from "../src/Retry.js"
import type * as StreamPart from "../src/StreamPart.js"
import * as Timeout from "../src/Timeout.js"
import { makeClients } from "./clients.js"
import * as Payloads from "./payloads.js"
import { envList, envNumber, fixed, log, machine, median, table } from "./report.js"
import { type ServerProcess, startServer } from "./server.js"

interface Flags {
  readonly tracer: boolean
  readonly send: boolean
  readonly decoder: boolean
  readonly check: boolean
  readonly attemptScope: boolean
  readonly chatSpan: boolean
  readonly commit: boolean
  readonly instrument: boolean
  readonly outer: boolean
  readonly timeouts: boolean
}

const ORDER = [
  "tracer",
  "send",
  "decoder",
  "check",
  "attemptScope",
  "chatSpan",
  "commit",
  "instrument",
  "outer"
] as const satisfies ReadonlyArray<keyof Flags>

const none: Flags = {
  tracer: false,
  send: false,
  decoder: false,
  check: false,
  attemptScope: false,
  chatSpan: false,
  commit: false,
  instrument: false,
  outer: false,
  timeouts: false
}
const all: Flags = { ...none, ...Object.fromEntries(ORDER.map((flag) => [flag, true])) }

const messages = [
  { role: "system" as const, content: Payloads.SYSTEM_PROMPT },
  { role: "user" as const, content: Payloads.USER_PROMPT }
]

/** The stream of one call with the stages of `flags`, folded to its text. */
const pipeline = (url: string, flags: Flags): Effect.Effect<string, unknown, HttpClient.HttpClient> => {
  const provider = "openai"
  const model = Payloads.MODEL
  const context = { provider, model, secrets: [Payloads.API_KEY] }
  const timeouts = Timeout.make(
    flags.timeouts ? { request: "10 minutes", firstToken: "5 minutes", idle: "5 minutes", total: "30 minutes" } : {}
  )
  const encode = (request: ChatRequest.ChatRequest) =>
    Service.postJson(
      provider,
      model,
      url,
      { authorization: `Bearer ${Payloads.API_KEY}` },
      Either.right(OpenAiRequest.encodeRequest(request, {
        model,
        stream: true,
        maxTokensField: "max_tokens",
        topK: true,
        optionKeys: ["openai"]
      }))
    )
  // Without `outer`, the request is validated and encoded once, outside the measured calls.
  const fixedRequest = Effect.runSync(ChatRequest.decode({ messages }, provider))
  const fixedHttp = Effect.runSync(encode(fixedRequest))

  /** Text of a stream of parts. */
  const foldParts = (parts: Stream.Stream<StreamPart.StreamPart, unknown, HttpClient.HttpClient>) =>
    Stream.runFold(parts, "", (text, part) => part.type === "text-delta" ? text + part.text : text)

  /** The hand-written decoding stage: body bytes to the text of each read. */
  const handText = <E, R>(bytes: Stream.Stream<Uint8Array, E, R>) =>
    Stream.suspend(() => {
      let text = ""
      const decoder = new TextDecoder("utf-8")
      const parser = createParser({
        onEvent: (event) => {
          if (event.data === "[DONE]") return
          const content = (JSON.parse(event.data) as {
            choices?: ReadonlyArray<{ delta?: { content?: string | null } }>
          }).choices?.[0]?.delta?.content
          if (typeof content === "string") text += content
        }
      })
      return Stream.mapChunks(bytes, (chunk) => {
        for (const piece of chunk) parser.feed(decoder.decode(piece, { stream: true }))
        const out = text
        text = ""
        return out === ""
          ? Chunk.empty<StreamPart.StreamPart>()
          : Chunk.of<StreamPart.StreamPart>({ type: "text-delta", text: out })
      })
    })

  const call = (request: ChatRequest.ChatRequest, http: HttpClientRequest.HttpClientRequest) =>
    Effect.gen(function*() {
      const client = yield* HttpClient.HttpClient
      const traced = flags.tracer ? client : HttpClient.withTracerDisabledWhen(client, () => true)
      const policy = flags.outer ? yield* Retry.effective(Retry.defaults) : Retry.defaults
      const span = flags.chatSpan
        ? yield* Effect.makeSpanScoped(`chat ${model}`, {
          kind: "client",
          captureStackTrace: false,
          attributes: { "gen_ai.operation.name": "chat", "gen_ai.request.model": model, "gen_ai.request.stream": true }
        })
        : undefined
      const parent = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        span === undefined ? effect : Effect.withParentSpan(effect, span)
      type Opened = {
        readonly ok: Http.OkResponse | undefined
        readonly bytes: Stream.Stream<Uint8Array, unknown>
      }
      const opening: Effect.Effect<Opened, unknown> = flags.send
        ? Effect.map(
          Http.send(traced, context, OpenAiErrors.classifyError, http, timeouts.request),
          (ok): Opened => ({ ok, bytes: Http.bodyStream(context, ok) })
        )
        : Effect.map(traced.execute(http), (response): Opened => ({ ok: undefined, bytes: response.stream }))
      const open = parent(opening)
      const partsOf = (opened: Opened) => {
        const bytes = opened.bytes as Stream.Stream<Uint8Array, unknown>
        const info = {
          status: 200,
          contentType: opened.ok?.headers["content-type"] ?? "text/event-stream",
          requestId: opened.ok?.requestId,
          classify: OpenAiErrors.classifyError
        }
        // As in `service.ts`: an SSE body is checked, framed and decoded in one stage.
        if (flags.decoder) {
          return Streaming.decodeSse(
            bytes,
            () => OpenAiStream.makeDecoder(context, opened.ok?.requestId),
            flags.check ? { context, info } : undefined
          )
        }
        return handText(flags.check ? Streaming.checkBody(bytes, context, info) : bytes)
      }
      const attempt: Stream.Stream<StreamPart.StreamPart, unknown> = flags.attemptScope
        ? Stream.unwrapScoped(Effect.map(open, partsOf))
        : partsOf(yield* open)
      const delivered: Array<Chunk.Chunk<StreamPart.StreamPart>> = []
      const parts = flags.commit
        ? CommitPoint.withCommitPoint(
          attempt as Stream.Stream<StreamPart.StreamPart, never>,
          context,
          timeouts,
          policy === false ? (effect) => effect : Retry.retry(policy),
          delivered
        )
        : attempt
      if (!flags.instrument) return parts
      const spanForInstrument = span ?? (yield* Effect.makeSpanScoped(`chat ${model}`, { captureStackTrace: false }))
      const pulled = yield* Instrument.pull(
        { provider, model, request },
        spanForInstrument,
        () => 1,
        Stream.toPull(parts as Stream.Stream<StreamPart.StreamPart, never>),
        delivered,
        () => undefined
      )
      return Stream.repeatEffectChunkOption(pulled)
    })

  if (!flags.outer) return foldParts(Stream.unwrapScoped(call(fixedRequest, fixedHttp)))
  return foldParts(
    Stream.unwrap(
      Effect.flatMap(
        ChatRequest.decode({ messages }, provider),
        (request) =>
          Effect.succeed(Stream.unwrapScoped(Effect.flatMap(
            Effect.zipRight(
              LanguageModel.checkCapabilities(LanguageModel.defaultCapabilities, request, context),
              encode(request)
            ),
            (http) => call(request, http)
          )))
      )
    )
  )
}

interface Variant {
  readonly name: string
  readonly run: () => Promise<string>
  readonly dispose: () => Promise<void>
}

const variants = (url: string, baseUrl: string): Array<Variant> => {
  const runtime = ManagedRuntime.make(NodeHttpClient.layerUndici as Layer.Layer<HttpClient.HttpClient>)
  const make = (name: string, flags: Flags): Variant => {
    const effect = pipeline(url, flags)
    return { name, run: () => runtime.runPromise(effect), dispose: async () => {} }
  }
  const list: Array<Variant> = []
  const raw = makeClients(baseUrl)
  const rawUndici = raw.find((client) => client.name === "raw undici.request")!
  const real = raw.find((client) => client.name === "liter-llm (undici)")!
  list.push({ name: "raw undici.request", run: rawUndici.stream, dispose: rawUndici.dispose })
  let flags = none
  list.push(make("platform client + hand parser", flags))
  for (const flag of ORDER) {
    flags = { ...flags, [flag]: true }
    list.push(make(`+ ${flag}`, flags))
  }
  list.push(make("+ timeouts (all four set)", { ...all, timeouts: true }))
  for (const flag of ORDER) list.push(make(`all − ${flag}`, { ...all, [flag]: false }))
  list.push({ name: "liter-llm (undici), real", run: real.stream, dispose: real.dispose })
  list.push({ name: "(runtime)", run: async () => "", dispose: () => runtime.dispose() })
  for (const client of raw) if (client !== rawUndici && client !== real) void client.dispose()
  return list.filter((variant) => variant.name !== "(runtime)").concat(list.filter((v) => v.name === "(runtime)"))
}

const timed = async (operation: () => Promise<string>, count: number) => {
  const cpu = process.cpuUsage()
  for (let i = 0; i < count; i++) await operation()
  const used = process.cpuUsage(cpu)
  return (used.user + used.system) / count
}

interface Setting {
  readonly label: string
  readonly tokens: number
  readonly mode: "burst" | "paced"
}

const main = async () => {
  const rounds = envNumber("STAGES_ROUNDS", 5)
  const minCpuMs = envNumber("STAGES_MIN_CPU_MS", 100)
  const pacedStreams = envNumber("STAGES_PACED_STREAMS", 3)
  const warmupMs = envNumber("STAGES_WARMUP_MS", 1500)
  const only = envList("STAGES_ONLY")
  const settings: Array<Setting> = [
    { label: "burst 1 tok", tokens: 1, mode: "burst" },
    { label: "burst 50 tok", tokens: 50, mode: "burst" },
    ...(process.env.STAGES_SKIP_PACED === "1" ? [] : [{ label: "paced 200 tok", tokens: 200, mode: "paced" as const }])
  ]
  const server: ServerProcess = await startServer({ tokens: Payloads.TOKENS, paceMs: 4 })
  const url = `${server.url}/shape/v1/chat/completions`
  const every = variants(url, `${server.url}/shape/v1`)
  const list = every.filter((variant) =>
    variant.name !== "(runtime)" && (only.length === 0 || only.some((part) => variant.name.includes(part)))
  )
  const print = (line = "") => process.stdout.write(`${line}\n`)
  try {
    for (const tokens of [1, 50, 200]) {
      await server.shape({ tokens, mode: "burst", paceMs: 1 })
      for (const variant of list) {
        const text = await variant.run()
        if (text !== Payloads.expectedText(tokens)) throw new Error(`${variant.name}: wrong text at ${tokens} tokens`)
      }
    }
    await server.shape({ tokens: 50, mode: "burst", paceMs: 1 })
    for (const variant of list) {
      log(`warming up ${variant.name}`)
      const start = performance.now()
      while (performance.now() - start < warmupMs) await variant.run()
    }
    const results = new Map<string, Array<number>>()
    for (const setting of settings) {
      await server.shape({ tokens: setting.tokens, mode: setting.mode, paceMs: 1 })
      // Streams per round: enough CPU for a stable figure (paced: a fixed count, the wall time is the pace).
      const counts = new Map<string, number>()
      for (const variant of list) {
        const probe = setting.mode === "paced" ? 0 : await timed(variant.run, 3)
        counts.set(
          variant.name,
          setting.mode === "paced" ? pacedStreams : Math.max(3, Math.ceil(minCpuMs * 1000 / probe))
        )
      }
      for (let round = 1; round <= rounds; round++) {
        log(`${setting.label}: round ${round}/${rounds}`)
        for (const variant of list) {
          const us = await timed(variant.run, counts.get(variant.name)!)
          const name = `${setting.label}|${variant.name}`
          results.set(name, [...(results.get(name) ?? []), us])
        }
      }
    }
    const value = (setting: Setting, name: string) => {
      const samples = results.get(`${setting.label}|${name}`)
      if (samples === undefined) return undefined
      const perStream = median(samples)
      return setting.mode === "paced" ? perStream / (setting.tokens + 4) : perStream
    }
    const spread = (setting: Setting, name: string) => {
      const samples = results.get(`${setting.label}|${name}`) ?? []
      const m = median(samples)
      return samples.length === 0 ? 0 : (Math.max(...samples) - Math.min(...samples)) / m
    }
    print(`# liter-llm stream stages (${new Date().toISOString()})`)
    print()
    print(`- machine: ${machine()}`)
    print(`- median of ${rounds} interleaved rounds; "spread" is (max − min) / median over rounds`)
    print()
    const full = "+ outer"
    print(table(
      [
        "variant",
        ...settings.flatMap((setting) => [
          setting.mode === "paced" ? `${setting.label}: µs/event` : `${setting.label}: µs/stream`,
          "Δ"
        ]),
        "spread (burst 1)"
      ],
      list.map((variant, i) => {
        // Δ: against the previous line for the cumulative rows, against the full pipeline for the removals.
        const against = variant.name.startsWith("all −") || variant.name.startsWith("+ timeouts")
          ? full
          : variant.name.startsWith("+") || variant.name.startsWith("platform")
          ? list[i - 1]?.name
          : undefined
        return [
          variant.name,
          ...settings.flatMap((setting) => {
            const mine = value(setting, variant.name)
            const base = against === undefined ? undefined : value(setting, against)
            return [
              mine === undefined ? "–" : fixed(mine, setting.mode === "paced" ? 1 : 0),
              mine === undefined || base === undefined
                ? ""
                : `${mine - base >= 0 ? "+" : ""}${fixed(mine - base, setting.mode === "paced" ? 1 : 0)}`
            ]
          }),
          `${fixed(spread(settings[0]!, variant.name) * 100, 0)} %`
        ]
      })
    ))
    print()
    print(
      "Δ: cumulative rows against the row above; `all − x` and `+ timeouts` rows against the full pipeline (`+ outer`)."
    )
  } finally {
    for (const variant of every) await variant.dispose().catch(() => {})
    server.close()
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`stages failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
    process.exit(1)
  }
)
