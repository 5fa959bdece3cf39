/**
 * CPU per call of the governance policies (`npx tsx bench/governance.ts`, also the `governance` scenario of
 * `npm run bench`).
 *
 * Each policy alone, and the whole stack in the recommended order (Guardrail → ContextWindow → Cache → RateLimit →
 * Budget → Fallback over a CircuitBreaker), wraps an in-process model that answers at once with a fixed response
 * and its usage. What is reported is the median over interleaved rounds of the CPU time (user + system, GC
 * included) per call, minus that of the bare model. Stores in memory, `Pricing` from its bundled data, the default
 * `Tokenizer` (`gpt-tokenizer`'s `o200k_base` for gpt-4o-mini); the stack again with `Tokenizer.charEstimate` for
 * the tokenizer's share. Every call has its own prompt and one of 500 tenants, so the cache misses; a row of
 * cache hits (one prompt asked again and again) is apart.
 *
 * Environment: BENCH_GOVERNANCE_ROUNDS (default 5), BENCH_GOVERNANCE_SCALE (multiplies the calls per round).
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Budget from "../src/Budget.js"
import * as Cache from "../src/Cache.js"
import type * as ChatRequest from "../src/ChatRequest.js"
import type * as ChatResponse from "../src/ChatResponse.js"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import * as ContextWindow from "../src/ContextWindow.js"
import * as Fallback from "../src/Fallback.js"
import * as Guardrail from "../src/Guardrail.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as Pricing from "../src/Pricing.js"
import * as RateLimit from "../src/RateLimit.js"
import type * as StreamPart from "../src/StreamPart.js"
import * as Tokenizer from "../src/Tokenizer.js"
import { envNumber, fixed, log, machine, median, runScript, signed, table } from "./report.js"

const model = "gpt-4o-mini"
const usage: ChatResponse.Usage = { inputTokens: 40, outputTokens: 12, totalTokens: 52 }
const answer = "The capital of France is Paris, on the Seine."
const costUsd = Pricing.dataset.cost(usage, model, "openai")

const response: ChatResponse.ChatResponse = {
  id: "bench",
  provider: "openai",
  model,
  content: [{ type: "text", text: answer }],
  finishReason: "stop",
  usage,
  ...(costUsd === undefined ? {} : { costUsd })
}

/** Ten parts: metadata, seven text deltas, usage, finish. */
const parts: ReadonlyArray<StreamPart.StreamPart> = [
  { type: "response-metadata", id: "bench", model },
  ...answer.match(/.{1,7}/g)!.slice(0, 7).map((text): StreamPart.StreamPart => ({ type: "text-delta", text })),
  { type: "usage", usage, ...(costUsd === undefined ? {} : { costUsd }) },
  { type: "finish", finishReason: "stop" }
]

/** A model that answers at once, as a provider layer would (with usage and cost). */
const bare = Layer.succeed(
  LanguageModel.LanguageModel,
  LanguageModel.make({
    provider: "openai",
    defaultModel: model,
    generate: () => Effect.succeed(response),
    stream: () => Stream.fromIterable(parts)
  })
)

type ModelLayer = Layer.Layer<LanguageModel.LanguageModel, unknown, never>

const guardrail = (inner: ModelLayer) =>
  Guardrail.layer(inner, {
    input: [Guardrail.denyList(["ignore previous instructions"]), Guardrail.redactPii()],
    output: [Guardrail.redactPii()]
  })
const contextWindow = (inner: ModelLayer) => ContextWindow.layer(inner, {})
const cache = (inner: ModelLayer) => Cache.layer(inner, {})
const rateLimit = (inner: ModelLayer) =>
  RateLimit.layer(inner, {
    default: {
      requests: { limit: 1_000_000_000, window: "1 minute" },
      tokens: { limit: 1_000_000_000_000, window: "1 minute" }
    }
  })
const budget = (inner: ModelLayer) => Budget.layer(inner, { defaultLimit: { limitUsd: 1_000_000_000, period: "day" } })
const resilient = (inner: ModelLayer) =>
  Fallback.layer([{ provide: CircuitBreaker.layer(inner, { key: "primary" }) }, { provide: inner }])
const stack = (inner: ModelLayer) => guardrail(contextWindow(cache(rateLimit(budget(resilient(inner))))))

/** A configuration measured: how its layer wraps the model, the tokenizer, and whether prompts repeat. */
interface Variant {
  readonly name: string
  readonly wrap: (inner: ModelLayer) => ModelLayer
  readonly tokenizer?: Tokenizer.Service
  /** The same prompt and tenant on every call (cache hits). */
  readonly repeat?: boolean
}

const variants: ReadonlyArray<Variant> = [
  { name: "bare model", wrap: (inner) => inner },
  { name: "Guardrail (deny-list, PII in and out)", wrap: guardrail },
  { name: "ContextWindow", wrap: contextWindow },
  { name: "Cache (miss, memory)", wrap: cache },
  { name: "RateLimit (requests + tokens, memory)", wrap: rateLimit },
  { name: "Budget (memory)", wrap: budget },
  { name: "Fallback over a CircuitBreaker", wrap: resilient },
  { name: "whole stack", wrap: stack },
  { name: "whole stack, Tokenizer.charEstimate", wrap: stack, tokenizer: Tokenizer.charEstimate },
  { name: "whole stack, cache hit", wrap: stack, repeat: true }
]

/** Names of the policies measured alone (their sum is compared with the stack). */
const alone = variants.slice(1, 7).map((variant) => variant.name)

const tenants = 500
let serial = 0

const chat = (n: number, repeat: boolean): ChatRequest.ChatRequest => ({
  model,
  messages: [
    { role: "system", content: "You are a helpful assistant. Answer in one sentence." },
    { role: "user", content: `Question ${repeat ? 0 : n}: what is the capital of France, and why?` }
  ],
  maxTokens: 100,
  metadata: { tenant: `tenant-${repeat ? 0 : n % tenants}` }
})

const turn = (i: number) =>
  i % 2 === 0
    ? `Turn ${i}: could you tell me more about the history of the city and its main monuments?`
    : `Turn ${i}: it was founded over two thousand years ago; its monuments span every century since.`

const history = (n: number, repeat: boolean): ChatRequest.ChatRequest => ({
  model,
  messages: [
    { role: "system", content: "You are a helpful assistant. Answer in one sentence." },
    ...Array.from(
      { length: 18 },
      (_, i) => ({ role: i % 2 === 0 ? "user" as const : "assistant" as const, content: turn(i) })
    ),
    { role: "user", content: `Question ${repeat ? 0 : n}: and what should I visit first?` }
  ],
  maxTokens: 100,
  metadata: { tenant: `tenant-${repeat ? 0 : n % tenants}` }
})

/** A kind of call, with the calls per round at scale 1. */
interface Workload {
  readonly name: string
  readonly calls: number
  readonly run: (service: LanguageModel.Service, request: ChatRequest.ChatRequest) => Effect.Effect<string, unknown>
  readonly request: (n: number, repeat: boolean) => ChatRequest.ChatRequest
}

const workloads: ReadonlyArray<Workload> = [
  {
    name: "generate, short chat",
    calls: 200,
    request: chat,
    run: (service, request) =>
      Effect.map(service.generate(request), (r) => r.content.map((p) => p.type === "text" ? p.text : "").join(""))
  },
  {
    name: "generate, 20 messages",
    calls: 100,
    request: history,
    run: (service, request) =>
      Effect.map(service.generate(request), (r) => r.content.map((p) => p.type === "text" ? p.text : "").join(""))
  },
  {
    name: "stream, 10 parts",
    calls: 100,
    request: chat,
    run: (service, request) =>
      Stream.runFold(service.stream(request), "", (text, part) => part.type === "text-delta" ? text + part.text : text)
  }
]

interface Built {
  readonly variant: Variant
  readonly service: LanguageModel.Service
  readonly context: Context.Context<never>
}

const build = (variant: Variant, scope: Scope.Scope): Promise<Built> =>
  Effect.runPromise(
    Layer.buildWithScope(
      variant.wrap(bare).pipe(
        Layer.provide(Layer.mergeAll(Budget.layerMemory, RateLimit.layerMemory, CircuitBreaker.layerMemory))
      ),
      scope
    ).pipe(
      Effect.map((context) => ({
        variant,
        service: Context.get(context, LanguageModel.LanguageModel),
        context: (variant.tokenizer === undefined
          ? Context.empty()
          : Context.make(Tokenizer.Tokenizer, variant.tokenizer)) as Context.Context<never>
      }))
    )
  )

/** Runs `count` calls one after another; returns the CPU µs per call. */
const batch = async (built: Built, workload: Workload, count: number): Promise<number> => {
  const repeat = built.variant.repeat === true
  const program = Effect.gen(function*() {
    for (let i = 0; i < count; i++) {
      const text = yield* workload.run(built.service, workload.request(serial++, repeat))
      if (text !== answer) return yield* Effect.dieMessage(`${built.variant.name}: unexpected answer ${text}`)
    }
  }).pipe(Effect.provide(built.context))
  const start = process.cpuUsage()
  const exit = await Effect.runPromiseExit(program)
  const used = process.cpuUsage(start)
  if (Exit.isFailure(exit)) throw new Error(`${built.variant.name}, ${workload.name}: ${String(exit.cause)}`)
  return (used.user + used.system) / count
}

/** Median CPU µs per call of every variant (by name) for every workload (by name). */
export interface GovernanceResult {
  readonly rounds: number
  readonly calls: Readonly<Record<string, number>>
  readonly us: Readonly<Record<string, Readonly<Record<string, number>>>>
}

/** Measures every variant in every workload: untimed warm-up rounds, then `rounds` interleaved timed rounds. */
export const runGovernance = async (options: { readonly rounds: number; readonly scale: number }) => {
  const scope = Effect.runSync(Scope.make())
  try {
    const built: Array<Built> = []
    for (const variant of variants) built.push(await build(variant, scope))
    const samples = new Map<string, Array<number>>()
    const calls: Record<string, number> = {}
    for (const workload of workloads) calls[workload.name] = Math.max(10, Math.round(workload.calls * options.scale))
    const warmup = 1
    for (let round = 0; round < warmup + options.rounds; round++) {
      log(`  governance: ${round < warmup ? "warm-up" : "round"} ${round < warmup ? round + 1 : round - warmup + 1}`)
      for (const workload of workloads) {
        for (const each of built) {
          const us = await batch(each, workload, calls[workload.name]!)
          if (round < warmup) continue
          const key = `${each.variant.name}\u0000${workload.name}`
          samples.set(key, [...(samples.get(key) ?? []), us])
        }
      }
    }
    const us: Record<string, Record<string, number>> = {}
    for (const variant of variants) {
      us[variant.name] = {}
      for (const workload of workloads) {
        us[variant.name]![workload.name] = median(samples.get(`${variant.name}\u0000${workload.name}`)!)
      }
    }
    return { rounds: options.rounds, calls, us } satisfies GovernanceResult
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

/** The table: the bare model's µs per call, then each row's extra over it, the sum of the policies alone and the tokenizer's share. */
export const governanceTable = (result: GovernanceResult): string => {
  const names = workloads.map((workload) => workload.name)
  const base = result.us["bare model"]!
  const extra = (name: string, workload: string) => result.us[name]![workload]! - base[workload]!
  const rows = variants.map((variant) =>
    variant.name === "bare model"
      ? [`${variant.name} (µs per call)`, ...names.map((workload) => fixed(base[workload]!))]
      : [variant.name, ...names.map((workload) => signed(extra(variant.name, workload)))]
  )
  rows.splice(variants.findIndex((variant) => variant.name === "whole stack") + 1, 0, [
    "(sum of the policies alone)",
    ...names.map((workload) => signed(alone.reduce((sum, name) => sum + extra(name, workload), 0)))
  ])
  rows.push([
    "tokenizer's share of the stack (byModel − charEstimate)",
    ...names.map((workload) =>
      signed(extra("whole stack", workload) - extra("whole stack, Tokenizer.charEstimate", workload))
    )
  ])
  return table(["CPU µs per call, extra over the bare model (median)", ...names], rows)
}

/** Stream lengths (text deltas of 9 characters) of the long-stream rows. */
const longStreams = [1_000, 4_000, 8_000]

/** A model that streams `deltas` text deltas of 9 characters, with an address now and then. */
const longStreamModel = (deltas: number) => {
  const streamed: Array<StreamPart.StreamPart> = [{ type: "response-metadata", id: "bench", model }]
  for (let i = 0; i < deltas; i++) {
    streamed.push({ type: "text-delta", text: i % 50 === 0 ? ` u${i}@ex.com` : ` word ${i % 10}..` })
  }
  streamed.push({ type: "finish", finishReason: "stop" })
  return Layer.succeed(
    LanguageModel.LanguageModel,
    LanguageModel.make({
      provider: "openai",
      defaultModel: model,
      generate: () => Effect.die("unused"),
      stream: () => Stream.fromIterable(streamed)
    })
  )
}

/**
 * CPU ms per stream of an output guardrail (`redactPii`) on long streams, and of the same stream bare: the
 * guardrail's work per delta stays flat as the stream grows (each check sees a window of the text, not all of it).
 */
export const runLongStreams = async (rounds: number) => {
  const rows: Array<{ readonly deltas: number; readonly bareMs: number; readonly guardedMs: number }> = []
  for (const deltas of longStreams) {
    const cpu = async (guarded: boolean) => {
      const inner = longStreamModel(deltas)
      const layer = guarded ? Guardrail.layer(inner, { output: [Guardrail.redactPii()] }) : inner
      const program = LanguageModel.stream({ messages: [{ role: "user", content: "long" }] }).pipe(
        Stream.provideLayer(layer),
        Stream.runDrain
      )
      const start = process.cpuUsage()
      await Effect.runPromise(program)
      const used = process.cpuUsage(start)
      return (used.user + used.system) / 1000
    }
    await cpu(true)
    const bare: Array<number> = []
    const guarded: Array<number> = []
    for (let round = 0; round < rounds; round++) {
      bare.push(await cpu(false))
      guarded.push(await cpu(true))
    }
    rows.push({ deltas, bareMs: median(bare), guardedMs: median(guarded) })
  }
  return rows
}

/** The scenario's options from the environment. */
export const governanceConfig = () => ({
  rounds: envNumber("BENCH_GOVERNANCE_ROUNDS", 5),
  scale: envNumber("BENCH_GOVERNANCE_SCALE", 1)
})

/** Runs the scenario and prints its section of the report. */
export const printGovernance = async (print: (line?: string) => void): Promise<void> => {
  const result = await runGovernance(governanceConfig())
  print("## Governance policies, CPU per call over a bare in-process model")
  print()
  print(
    `Calls per round: ${Object.entries(result.calls).map(([name, n]) => `${name} ${n}`).join(", ")}; ` +
      `${result.rounds} interleaved rounds, the median round reported.`
  )
  print()
  print(governanceTable(result))
  print()
  log("  governance: long streams through an output guardrail")
  const long = await runLongStreams(Math.max(3, result.rounds))
  print("Output guardrail (`redactPii`) on long streams: CPU ms per stream (median), text deltas of 9 characters")
  print()
  print(table(
    ["deltas", "bare stream", "with the guardrail", "guardrail µs per delta"],
    long.map((row) => [
      String(row.deltas),
      fixed(row.bareMs),
      fixed(row.guardedMs),
      fixed((1000 * (row.guardedMs - row.bareMs)) / row.deltas)
    ])
  ))
  print()
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, "/"))

if (isMain) {
  runScript("bench/governance", async () => {
    const started = Date.now()
    const print = (line = "") => process.stdout.write(`${line}\n`)
    print(`- machine: ${machine()}`)
    print()
    await printGovernance(print)
    print(`(run time ${fixed((Date.now() - started) / 1000)} s)`)
  })
}
