/**
 * The gateway's throughput and added latency, side by side in one run (scenario `gateway` of `npm run bench`,
 * `BENCH_SKIP=gateway` leaves it out, `BENCH_ONLY=gateway` runs it alone; or `npx tsx bench/gateway.ts`).
 *
 * A fast mock upstream (`bench/server.ts`, its own process) answers a 50-token chat completion, as JSON or as a
 * 50-token SSE stream in one write. In front of it, each in its own process (`bench/gatewayPeers/`): a plain
 * `node:http` + undici pass-through (the floor), the same pass-through on `@effect/platform` (its server's
 * `HttpServer.serve` and the gateway's undici `HttpClient`: what the stack costs before any gateway work), the
 * liter-llm gateway with one tenant and one route to the
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
 * Environment: BENCH_GATEWAY_MS (per point, 2000), BENCH_GATEWAY_WARMUP_MS (per candidate and mode, at least,
 * 2000), BENCH_GATEWAY_WARMUP_MAX_MS (at most, 12000: past the minimum, a candidate warms up in 1 s slices until
 * its CPU per request settles),
 * BENCH_GATEWAY_REPEATS (2), BENCH_GATEWAY_HOLD (streams held, 1000), BENCH_GATEWAY_TENANTS (tenants in the
 * gateway's config besides the measured one, each with its own key and limits: what a request costs with many,
 * 0), BENCH_GATEWAY_SOURCE (`src`: the gateway from
 * the TypeScript sources under `tsx`; by default the built package, built first when `src/` is newer),
 * BENCH_GATEWAY_CPU_PROF (a directory:
 * the gateway processes write `--cpu-prof` profiles there), BENCH_ONLY (parts of candidate names; `gateway`
 * and `governance`, the names of scenarios, select no candidate).
 */
import { Either } from "effect"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import * as Keys from "../src/gateway/Keys.js"
import { findBinary, type RedisServer, startServer as startRedis } from "../test/support/redisServer.js"
import { ensureBuilt } from "./gatewayPeers/build.js"
import { closedLoop, holdStreams, type Mode, type Target } from "./gatewayPeers/load.js"
import { countOps } from "./gatewayPeers/ops.js"
import { type Peer, type PeerStats, startPeer } from "./gatewayPeers/process.js"
import {
  CONNECTIONS,
  EFFECT_FLOOR,
  FLOOR,
  GATEWAY,
  type Held,
  MOCK,
  MODES,
  type Point,
  PORTKEY,
  report,
  summarize,
  TOKENS
} from "./gatewayPeers/report.js"
import * as Payloads from "./payloads.js"
import { envList, envNumber, fixed, log, machine, runScript, table } from "./report.js"
import { type ServerProcess, startServer } from "./server.js"

const KEY = "sk-liter-bench-tenant-0123456789abcdef"

export interface GatewayConfig {
  readonly pointMs: number
  readonly warmupMs: number
  readonly warmupMaxMs: number
  readonly repeats: number
  readonly hold: number
  readonly tenants: number
  readonly cpuProf: string | undefined
  readonly only: ReadonlyArray<string>
}

export const gatewayConfig = (): GatewayConfig => ({
  pointMs: envNumber("BENCH_GATEWAY_MS", 2_000),
  warmupMs: envNumber("BENCH_GATEWAY_WARMUP_MS", 2_000),
  warmupMaxMs: envNumber("BENCH_GATEWAY_WARMUP_MAX_MS", 12_000),
  repeats: envNumber("BENCH_GATEWAY_REPEATS", 2),
  hold: Math.max(2, Math.round(envNumber("BENCH_GATEWAY_HOLD", 1_000) / 2) * 2),
  tenants: Math.round(envNumber("BENCH_GATEWAY_TENANTS", 0, { allowZero: true })),
  cpuProf: process.env.BENCH_GATEWAY_CPU_PROF || undefined,
  only: envList("BENCH_ONLY").filter((part) => part !== "gateway" && part !== "governance")
})

interface Candidate {
  readonly name: string
  readonly run: Target
  readonly hold: Target
  readonly peer?: Peer
}

/**
 * A gateway config file in `dir`: the measured tenant and `others` more (each with its own key and, with
 * governance, its own limits), a route to the mock and one to its held streams.
 */
const writeConfig = (
  dir: string,
  name: string,
  mock: string,
  options: { governance: boolean; redis: boolean; others: number }
) => {
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
    tenants: {
      bench: { keys: [hash], models: "*", ...governance },
      ...Object.fromEntries(Array.from({ length: options.others }, (_, i) => {
        const key = Either.getOrThrow(Keys.hashKey(`sk-liter-bench-other-${i}-0123456789abcdef`))
        return [`other-${i}`, { keys: [key], models: "*", ...governance }]
      }))
    },
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
  // The two pass-throughs: plain Node, and the same on @effect/platform.
  for (const [name, kind] of [[FLOOR, "passthrough"], [EFFECT_FLOOR, "effectPassthrough"]] as const) {
    if (!wanted(name)) continue
    const peer = await startPeer(kind, { upstream: mock })
    candidates.push({
      name,
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
  const source = gateways.some((gateway) => wanted(gateway.name)) ? ensureBuilt() : "dist"
  const configs: Array<{ readonly name: string; readonly file: string }> = []
  for (const [i, gateway] of gateways.entries()) {
    if (!wanted(gateway.name)) continue
    const file = writeConfig(dir, `gateway-${i}`, mock, { ...gateway, others: config.tenants })
    configs.push({ name: gateway.name, file })
    const peer = await startPeer("gateway", { config: file, source }, {
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
  return { candidates, configs }
}

/** Per candidate, mode and connections: the points of every repeat. */
type Points = Map<string, Array<Point>>
const pointKey = (name: string, mode: Mode, connections: number) => `${name}|${mode}|${connections}`

const measure = async (candidate: Candidate, mode: Mode, connections: number, ms: number): Promise<Point> => {
  const before = await candidate.peer?.stats()
  const run = await closedLoop(candidate.run, mode, connections, ms)
  const after = await candidate.peer?.stats()
  const cpuUs = before === undefined || after === undefined ? undefined : after.cpuUs - before.cpuUs
  return { ...run, cpuUs }
}

/**
 * Warms a candidate up: `warmupMs` of load, then 1 s slices until two in a row cost the same CPU per request
 * (within 10 %), at most `warmupMaxMs` in all. V8 goes on optimizing a server for thousands of requests (the
 * gateway's CPU per request fell by half, Portkey's by two thirds, over 12 s on this machine): a fixed short
 * warm-up measures each candidate at a different point of its curve. The mock called directly is not measured.
 */
const warmUp = async (
  candidate: Candidate,
  mode: Mode,
  config: Pick<GatewayConfig, "warmupMs" | "warmupMaxMs">
): Promise<number> => {
  await closedLoop(candidate.run, mode, 32, config.warmupMs)
  let spent = config.warmupMs
  if (candidate.peer === undefined) return spent
  let last: number | undefined
  while (spent < config.warmupMaxMs) {
    const point = await measure(candidate, mode, 32, 1_000)
    spent += 1_000
    if (point.cpuUs === undefined || point.requests === 0) break
    const perRequest = point.cpuUs / point.requests
    if (last !== undefined && Math.abs(perRequest - last) <= 0.1 * last) break
    last = perRequest
  }
  return spent
}

const holdMemory = async (candidate: Candidate, count: number): Promise<Held | undefined> => {
  const peer = candidate.peer
  if (peer === undefined) return undefined
  const half = count / 2
  // The held route's first streams make what every later one reuses (code, pools): not counted per stream.
  const warm = await holdStreams(candidate.hold, Math.min(50, half))
  await warm.release()
  await new Promise((resolve) => setTimeout(resolve, 200))
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

/** The operation counts of each gateway config (see `gatewayPeers/ops.ts`), as a table. */
const printOps = async (
  configs: ReadonlyArray<{ readonly name: string; readonly file: string }>,
  redis: RedisServer | undefined,
  print: (line?: string) => void
) => {
  if (configs.length === 0) return
  log("  gateway: counting Effect operations per request...")
  process.env.BENCH_MOCK_KEY = Payloads.API_KEY
  if (redis !== undefined) process.env.BENCH_REDIS_URL = redis.url
  const rows: Array<Array<string>> = []
  for (const { file, name } of configs) {
    const counts = await countOps(file, KEY, MODES)
    const cell = (mode: Mode, field: "ops" | "fibers") => fixed(counts.get(mode)![field], field === "ops" ? 0 : 1)
    rows.push([
      name,
      `${cell("json", "ops")} / ${cell("stream", "ops")}`,
      `${cell("json", "fibers")} / ${cell("stream", "fibers")}`
    ])
  }
  print("Effect operations and fibers per request (JSON / stream), counted in-process, one request at a time:")
  print()
  print(table(["candidate", "operations", "fibers started"], rows))
  print()
}

/** Runs the scenario and prints its tables and targets. */
export const runGateway = async (
  options: { readonly config: GatewayConfig; readonly print: (line?: string) => void }
) => {
  const { config, print } = options
  const startedAt = Date.now()
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
    const started = await startCandidates(server.url, config, dir, redis)
    for (const candidate of started.candidates) candidates.push(candidate)
    if (candidates.length === 0) throw new Error(`BENCH_ONLY=${config.only.join(",")} matches no gateway candidate`)

    for (const candidate of candidates) {
      for (const mode of MODES) {
        const spent = await warmUp(candidate, mode, config)
        log(`  gateway: warmed up ${candidate.name} (${mode}) for ${spent / 1000} s`)
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
    report({
      names: candidates.map((candidate) => candidate.name),
      summary,
      held,
      config,
      print,
      redis: redis !== undefined
    })
    await printOps(started.configs, redis, print)
    print(`(gateway scenario: ${fixed((Date.now() - startedAt) / 1000)} s)`)
    print()
  } finally {
    for (const candidate of candidates) await candidate.peer?.close().catch(() => {})
    await redis?.stop().catch(() => {})
    server?.close()
    rmSync(dir, { recursive: true, force: true })
  }
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
