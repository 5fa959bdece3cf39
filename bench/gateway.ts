/**
 * The gateway's throughput and added latency, side by side in one run (scenario `gateway` of `npm run bench`,
 * `BENCH_SKIP=gateway` leaves it out, `BENCH_ONLY=gateway` runs it alone; or `npx tsx bench/gateway.ts`).
 *
 * A fast mock upstream (`bench/server.ts`, its own process) answers a 50-token chat completion, as JSON or as a
 * 50-token SSE stream in one write. In front of it, each in its own process (`bench/gatewayPeers/`): a plain
 * `node:http` + undici pass-through (the floor), the liter-llm gateway with one tenant and one route to the
 * mock through the OpenAI provider layer (bare; with budget, rate limit and a cache that always misses; the
 * same on Redis stores when `redis-server` is present) and Portkey's open-source gateway. The mock is also
 * called directly. The load is a closed loop in this process (undici `Pool`, 1 and 32 connections, a fixed
 * time per point after a warm-up), the candidates measured in interleaved repeats.
 *
 * Reported: requests/s, latency p50 / p99 and time to first token at 1 connection (and what each adds over the
 * mock), CPU per request of the candidate's process at 32 connections, and the heap and RSS each holds per
 * 1 000 streams left open after their first token (after a forced GC, at half and at all of them: flat when
 * the second half costs what the first did). Then the specification's targets, met or not, with the ratios.
 *
 * Environment: BENCH_GATEWAY_MS (per point, 2000), BENCH_GATEWAY_WARMUP_MS (per candidate and mode, 2000),
 * BENCH_GATEWAY_REPEATS (2), BENCH_GATEWAY_HOLD (streams held, 1000), BENCH_GATEWAY_CPU_PROF (a directory:
 * the gateway processes write `--cpu-prof` profiles there), BENCH_ONLY (parts of candidate names; `gateway`
 * and `governance`, the names of scenarios, select no candidate).
 */
import { Either } from "effect"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import * as Keys from "../src/gateway/Keys.js"
import { findBinary, type RedisServer, startServer as startRedis } from "../test/support/redisServer.js"
import { closedLoop, holdStreams, type Mode, type Run, type Target } from "./gatewayPeers/load.js"
import { type Peer, type PeerStats, startPeer } from "./gatewayPeers/process.js"
import * as Payloads from "./payloads.js"
import { envList, envNumber, fixed, log, machine, median, runScript, signed, table } from "./report.js"
import { type ServerProcess, startServer } from "./server.js"

const TOKENS = 50
const KEY = "sk-liter-bench-tenant-0123456789abcdef"

export interface GatewayConfig {
  readonly pointMs: number
  readonly warmupMs: number
  readonly repeats: number
  readonly hold: number
  readonly cpuProf: string | undefined
  readonly only: ReadonlyArray<string>
}

export const gatewayConfig = (): GatewayConfig => ({
  pointMs: envNumber("BENCH_GATEWAY_MS", 2_000),
  warmupMs: envNumber("BENCH_GATEWAY_WARMUP_MS", 2_000),
  repeats: envNumber("BENCH_GATEWAY_REPEATS", 2),
  hold: Math.max(2, Math.round(envNumber("BENCH_GATEWAY_HOLD", 1_000) / 2) * 2),
  cpuProf: process.env.BENCH_GATEWAY_CPU_PROF || undefined,
  only: envList("BENCH_ONLY").filter((part) => part !== "gateway" && part !== "governance")
})

interface Candidate {
  readonly name: string
  readonly run: Target
  readonly hold: Target
  readonly peer?: Peer
}

const MOCK = "mock directly"
const FLOOR = "node:http + undici pass-through"
const PORTKEY = "Portkey 1.15.2"
const GATEWAY = "liter-llm gateway"

/** A gateway config file in `dir`: one tenant, a route to the mock and one to its held streams. */
const writeConfig = (dir: string, name: string, mock: string, options: { governance: boolean; redis: boolean }) => {
  const hash = Either.getOrThrow(Keys.hashKey(KEY))
  const provider = (path: string) => ({ type: "openai", baseUrl: `${mock}${path}`, apiKeyEnv: "BENCH_MOCK_KEY" })
  const governance = options.governance
    ? {
      budget: { limitUsd: 1_000_000, period: "month" },
      rateLimit: {
        requests: { limit: 1_000_000_000, window: "1 minute" },
        tokens: { limit: 1_000_000_000_000, window: "1 minute" }
      }
    }
    : {}
  const config = {
    providers: { mock: provider("/v1"), held: provider("/shape/v1") },
    models: {
      [Payloads.MODEL]: { provider: "mock", model: Payloads.MODEL },
      hold: { provider: "held", model: Payloads.MODEL }
    },
    tenants: { bench: { keys: [hash], models: "*", ...governance } },
    ...(options.governance ? { cache: { ttl: "10 minutes", maxEntries: 10_000 } } : {}),
    // A generous command timeout: on a loaded machine the default refuses calls, which is not what is measured.
    ...(options.redis
      ? { redis: { urlEnv: "BENCH_REDIS_URL", keyPrefix: "bench:", commandTimeout: "5 seconds" } }
      : {}),
    pricing: { models: { [Payloads.MODEL]: { inputPerMillion: 0.15, outputPerMillion: 0.6, maxOutputTokens: 4096 } } }
  }
  const path = join(dir, `${name}.json`)
  writeFileSync(path, JSON.stringify(config, null, 2))
  return path
}

const target = (origin: string, model: string, headers: Record<string, string>, path = "/v1/chat/completions") => ({
  origin,
  path,
  headers,
  model
})

const upstreamKey = { authorization: `Bearer ${Payloads.API_KEY}` }

/** Starts every candidate (those BENCH_ONLY selects), in front of `mock`. */
const startCandidates = async (mock: string, config: GatewayConfig, dir: string, redis: RedisServer | undefined) => {
  const wanted = (name: string) => config.only.length === 0 || config.only.some((part) => name.includes(part))
  const candidates: Array<Candidate> = []
  if (wanted(MOCK)) {
    candidates.push({
      name: MOCK,
      run: target(mock, Payloads.MODEL, upstreamKey),
      hold: target(mock, Payloads.MODEL, upstreamKey, "/shape/v1/chat/completions")
    })
  }
  if (wanted(FLOOR)) {
    const peer = await startPeer("passthrough", { upstream: mock })
    candidates.push({
      name: FLOOR,
      peer,
      run: target(peer.url, Payloads.MODEL, upstreamKey),
      hold: target(peer.url, Payloads.MODEL, upstreamKey, "/shape/v1/chat/completions")
    })
  }
  const gateways = [
    { name: `${GATEWAY} (memory)`, governance: false, redis: false },
    { name: `${GATEWAY} (memory, governance)`, governance: true, redis: false },
    ...(redis === undefined ? [] : [{ name: `${GATEWAY} (Redis, governance)`, governance: true, redis: true }])
  ]
  for (const [i, gateway] of gateways.entries()) {
    if (!wanted(gateway.name)) continue
    const file = writeConfig(dir, `gateway-${i}`, mock, gateway)
    const peer = await startPeer("gateway", { config: file }, {
      env: { BENCH_MOCK_KEY: Payloads.API_KEY, ...(redis === undefined ? {} : { BENCH_REDIS_URL: redis.url }) },
      execArgv: config.cpuProf === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${config.cpuProf}`]
    })
    const auth = { authorization: `Bearer ${KEY}` }
    candidates.push({
      name: gateway.name,
      peer,
      run: target(peer.url, Payloads.MODEL, auth),
      hold: target(peer.url, "hold", auth)
    })
  }
  if (wanted(PORTKEY)) {
    const peer = await startPeer("portkey", {})
    const via = (path: string) => ({ ...upstreamKey, "x-portkey-provider": "openai", "x-portkey-custom-host": path })
    candidates.push({
      name: PORTKEY,
      peer,
      run: target(peer.url, Payloads.MODEL, via(`${mock}/v1`)),
      hold: target(peer.url, Payloads.MODEL, via(`${mock}/shape/v1`))
    })
  }
  return candidates
}

/** One measured point: a closed-loop run, with the CPU its candidate's process spent meanwhile. */
interface Point extends Run {
  readonly cpuUs: number | undefined
}

const measure = async (candidate: Candidate, mode: Mode, connections: number, ms: number): Promise<Point> => {
  const before = await candidate.peer?.stats()
  const run = await closedLoop(candidate.run, mode, connections, ms)
  const after = await candidate.peer?.stats()
  const cpuUs = before === undefined || after === undefined ? undefined : after.cpuUs - before.cpuUs
  return { ...run, cpuUs }
}

const percentile = (values: ReadonlyArray<number>, p: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? Number.NaN
}

/** Per candidate, mode and connections: the points of every repeat. */
type Points = Map<string, Array<Point>>
const pointKey = (name: string, mode: Mode, connections: number) => `${name}|${mode}|${connections}`

interface Summary {
  readonly rps: number
  readonly cpuMsPerRequest: number | undefined
  readonly p50: number
  readonly p99: number
  readonly ttft50: number
  readonly ttft99: number
  readonly failed: number
  readonly firstFailure: string | undefined
}

const summarize = (points: ReadonlyArray<Point>): Summary => {
  const latencies = points.flatMap((point) => point.latencies)
  const ttfts = points.flatMap((point) => point.ttfts)
  const cpu = points.filter((point) => point.cpuUs !== undefined)
  return {
    rps: median(points.map((point) => point.requests / point.wallMs * 1000)),
    cpuMsPerRequest: cpu.length === 0 ? undefined : median(cpu.map((point) => point.cpuUs! / point.requests / 1000)),
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    ttft50: percentile(ttfts, 0.5),
    ttft99: percentile(ttfts, 0.99),
    failed: points.reduce((sum, point) => sum + point.failed, 0),
    firstFailure: points.find((point) => point.firstFailure !== undefined)?.firstFailure
  }
}

/** Memory a candidate's process holds for open streams, bytes per stream, at half and at all of them. */
interface Held {
  readonly heapFirst: number
  readonly heapSecond: number
  readonly rssFirst: number
  readonly rssSecond: number
  /** Heap after the streams are released, over the heap before they were opened, bytes. */
  readonly heapLeft: number
}

const holdMemory = async (candidate: Candidate, count: number): Promise<Held | undefined> => {
  const peer = candidate.peer
  if (peer === undefined) return undefined
  const half = count / 2
  const base = await peer.stats(true)
  const first = await holdStreams(candidate.hold, half)
  const middle = await peer.stats(true)
  const second = await holdStreams(candidate.hold, half)
  const full = await peer.stats(true)
  await first.release()
  await second.release()
  // Let the candidate see the sockets close and let its upstream calls go.
  await new Promise((resolve) => setTimeout(resolve, 1_000))
  const after = await peer.stats(true)
  const per = (from: PeerStats, to: PeerStats, field: "heapUsed" | "rss") => (to[field] - from[field]) / half
  return {
    heapFirst: per(base, middle, "heapUsed"),
    heapSecond: per(middle, full, "heapUsed"),
    rssFirst: per(base, middle, "rss"),
    rssSecond: per(middle, full, "rss"),
    heapLeft: after.heapUsed - base.heapUsed
  }
}

const MODES: ReadonlyArray<Mode> = ["json", "stream"]
const CONNECTIONS = [1, 32] as const

const kib = (bytes: number) => fixed(bytes / 1024)
const ms = (value: number | undefined, digits = 2) => value === undefined ? "n/a" : fixed(value, digits)
const ratio = (value: number) => `${fixed(value, 2)}×`
const verdict = (met: boolean) => met ? "MET" : "NOT MET"

/** Runs the scenario and prints its tables and targets. */
export const runGateway = async (
  options: { readonly config: GatewayConfig; readonly print: (line?: string) => void }
) => {
  const { config, print } = options
  const started = Date.now()
  const dir = mkdtempSync(join(tmpdir(), "liter-bench-gateway-"))
  const wantRedis = config.only.length === 0 || config.only.some((part) => "(Redis, governance)".includes(part))
  const redisBinary = wantRedis ? findBinary() : undefined
  let server: ServerProcess | undefined
  let redis: RedisServer | undefined
  const candidates: Array<Candidate> = []
  try {
    server = await startServer({ tokens: TOKENS, paceMs: 1 })
    await server.shape({ tokens: TOKENS, mode: "hold", paceMs: 1 })
    redis = redisBinary === undefined ? undefined : await startRedis({ binary: redisBinary })
    log(`gateway: starting the candidates${redis === undefined ? " (no redis-server: no Redis row)" : ""}...`)
    for (const candidate of await startCandidates(server.url, config, dir, redis)) candidates.push(candidate)
    if (candidates.length === 0) throw new Error(`BENCH_ONLY=${config.only.join(",")} matches no gateway candidate`)

    for (const candidate of candidates) {
      for (const mode of MODES) {
        log(`  gateway: warming up ${candidate.name} (${mode})`)
        await closedLoop(candidate.run, mode, 32, config.warmupMs)
      }
    }
    const points: Points = new Map()
    for (let repeat = 0; repeat < config.repeats; repeat++) {
      log(`  gateway: repeat ${repeat + 1}/${config.repeats}`)
      for (const mode of MODES) {
        for (const connections of CONNECTIONS) {
          // Rotated each repeat, so drift on a shared machine does not always favour the same candidate.
          const order = candidates.map((_, i) => candidates[(i + repeat) % candidates.length]!)
          for (const candidate of order) {
            const key = pointKey(candidate.name, mode, connections)
            const list = points.get(key) ?? []
            list.push(await measure(candidate, mode, connections, config.pointMs))
            points.set(key, list)
          }
        }
      }
    }
    const held = new Map<string, Held | undefined>()
    for (const candidate of candidates) {
      log(`  gateway: ${config.hold} open streams through ${candidate.name}`)
      held.set(candidate.name, await holdMemory(candidate, config.hold))
    }

    const summary = (name: string, mode: Mode, connections: number) =>
      summarize(points.get(pointKey(name, mode, connections))!)
    report({ candidates, summary, held, config, print, redis: redis !== undefined })
    print(`(gateway scenario: ${fixed((Date.now() - started) / 1000)} s)`)
    print()
  } finally {
    for (const candidate of candidates) await candidate.peer?.close().catch(() => {})
    await redis?.stop().catch(() => {})
    server?.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

const report = (options: {
  readonly candidates: ReadonlyArray<Candidate>
  readonly summary: (name: string, mode: Mode, connections: number) => Summary
  readonly held: ReadonlyMap<string, Held | undefined>
  readonly config: GatewayConfig
  readonly print: (line?: string) => void
  readonly redis: boolean
}) => {
  const { candidates, config, held, print, summary } = options
  const names = candidates.map((candidate) => candidate.name)
  const has = (name: string) => names.includes(name)
  const at32 = (name: string, mode: Mode) => summary(name, mode, 32).rps
  const pair = (f: (mode: Mode) => string) => MODES.map(f).join(" / ")

  print("## Gateway: throughput and added latency")
  print()
  print(
    `Loopback; mock upstream in its own process (${TOKENS}-token answer, JSON or SSE stream); every candidate in ` +
      `its own process; closed loop of undici \`Pool\` workers, ${config.pointMs / 1000} s per point after ` +
      `${config.warmupMs / 1000} s of warm-up per candidate and mode, ${config.repeats} interleaved repeats ` +
      `(median req/s; latency percentiles over every request). Load average at the start: ${
        loadavg().map((load) => fixed(load, 2)).join(", ")
      }${options.redis ? "" : "; no Redis row (redis-server not found, or not selected)"}.`
  )
  print()
  print(table(
    [
      "candidate (JSON / stream)",
      "req/s, 1 conn.",
      "req/s, 32 conn.",
      `× ${PORTKEY} at 32`,
      `× pass-through at 32`,
      "CPU ms/request at 32"
    ],
    names.map((name) => [
      name,
      pair((mode) => fixed(summary(name, mode, 1).rps, 0)),
      pair((mode) => fixed(at32(name, mode), 0)),
      has(PORTKEY) ? pair((mode) => ratio(at32(name, mode) / at32(PORTKEY, mode))) : "n/a",
      has(FLOOR) ? pair((mode) => ratio(at32(name, mode) / at32(FLOOR, mode))) : "n/a",
      pair((mode) => ms(summary(name, mode, 32).cpuMsPerRequest))
    ])
  ))
  print()
  const mock = has(MOCK) ? { json: summary(MOCK, "json", 1), stream: summary(MOCK, "stream", 1) } : undefined
  const added = (value: number, base: number | undefined) => base === undefined ? "n/a" : signed(value - base)
  print("At 1 connection (ms; added: over the mock called directly):")
  print()
  print(table(
    [
      "candidate",
      "JSON p50",
      "JSON p99",
      "added p50",
      "added p99",
      "stream TTFT p50",
      "TTFT p99",
      "added TTFT p50",
      "added TTFT p99"
    ],
    names.map((name) => {
      const json = summary(name, "json", 1)
      const stream = summary(name, "stream", 1)
      return [
        name,
        ms(json.p50),
        ms(json.p99),
        added(json.p50, mock?.json.p50),
        added(json.p99, mock?.json.p99),
        ms(stream.ttft50),
        ms(stream.ttft99),
        added(stream.ttft50, mock?.stream.ttft50),
        added(stream.ttft99, mock?.stream.ttft99)
      ]
    })
  ))
  print()
  print(`Memory held by ${config.hold} streams open after their first token (KiB per stream, after a forced GC):`)
  print()
  const heldRows = names.flatMap((name) => {
    const memory = held.get(name)
    return memory === undefined ? [] : [[
      name,
      kib(memory.heapFirst),
      kib(memory.heapSecond),
      kib(memory.rssFirst),
      kib(memory.rssSecond),
      kib(memory.heapLeft)
    ]]
  })
  print(table(
    ["candidate", "heap, 1st half", "heap, 2nd half", "RSS, 1st half", "RSS, 2nd half", "heap left after (KiB)"],
    heldRows
  ))
  print()
  for (const name of names) {
    for (const mode of MODES) {
      for (const connections of CONNECTIONS) {
        const { failed, firstFailure } = summary(name, mode, connections)
        if (failed > 0) {
          print(`- ${name}, ${mode}, ${connections} conn.: ${failed} requests refused, e.g. ${firstFailure}`)
        }
      }
    }
  }
  print()
  print("Targets (ratios in this run):")
  print()
  for (const line of targets(options)) print(line)
  print()
}

const targets = (options: {
  readonly candidates: ReadonlyArray<Candidate>
  readonly summary: (name: string, mode: Mode, connections: number) => Summary
  readonly held: ReadonlyMap<string, Held | undefined>
}): Array<string> => {
  const { held, summary } = options
  const names = options.candidates.map((candidate) => candidate.name)
  const gateways = names.filter((name) => name.startsWith(GATEWAY))
  const lines: Array<string> = []
  const mock = names.includes(MOCK)
  for (const name of gateways) {
    lines.push(`- ${name}:`)
    for (const mode of MODES) {
      const rps = summary(name, mode, 32).rps
      if (names.includes(PORTKEY)) {
        const x = rps / summary(PORTKEY, mode, 32).rps
        lines.push(`  - ${mode} req/s at 32 conn. ≥ 3× Portkey's: ${ratio(x)}: ${verdict(x >= 3)}`)
      }
      if (names.includes(FLOOR)) {
        const x = rps / summary(FLOOR, mode, 32).rps
        lines.push(
          `  - ${mode} req/s at 32 conn. ≥ 30 % of the pass-through's: ${fixed(x * 100, 0)} %: ${verdict(x >= 0.3)}`
        )
      }
    }
    if (mock && names.includes(FLOOR)) {
      const json = (who: string) => summary(who, "json", 1).p50 - summary(MOCK, "json", 1).p50
      const ttft = (who: string) => summary(who, "stream", 1).ttft50 - summary(MOCK, "stream", 1).ttft50
      for (const [label, f] of [["added p50", json], ["added TTFT p50", ttft]] as const) {
        const x = f(name) / Math.max(f(FLOOR), 0.01)
        lines.push(
          `  - ${label} at 1 conn. ≤ 3× the pass-through's: ${fixed(f(name), 2)} ms vs ${fixed(f(FLOOR), 2)} ms, ` +
            `${ratio(x)}: ${verdict(x <= 3)}`
        )
      }
    }
    const memory = held.get(name)
    if (memory !== undefined) {
      // Flat: the second half of the streams costs what the first did (within 50 %, or 2 KiB per stream).
      const flat = memory.heapSecond <= Math.max(memory.heapFirst * 1.5, memory.heapFirst + 2048)
      lines.push(
        `  - memory per open stream flat: heap ${kib(memory.heapFirst)} then ${kib(memory.heapSecond)} KiB per ` +
          `stream: ${verdict(flat)}`
      )
    }
  }
  return lines
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runScript("gateway", async () => {
    const print = (line = "") => process.stdout.write(`${line}\n`)
    print("# liter-llm gateway benchmark")
    print()
    print(`- date: ${new Date().toISOString()}`)
    print(`- machine: ${machine()}`)
    print()
    await runGateway({ config: gatewayConfig(), print })
  })
}
