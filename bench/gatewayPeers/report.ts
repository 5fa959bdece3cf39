/** The gateway benchmark's figures: summaries of the measured points, and the tables and targets printed. */
import { loadavg } from "node:os"
import type { GatewayConfig } from "../gateway.js"
import { fixed, median, signed, table } from "../report.js"
import type { Mode, Run } from "./load.js"

/** Tokens of the mock's answer. */
export const TOKENS = 50

export const MOCK = "mock directly"
export const FLOOR = "node:http + undici pass-through"
export const EFFECT_FLOOR = "@effect/platform pass-through"
export const PORTKEY = "Portkey 1.15.2"
export const GATEWAY = "liter-llm gateway"

/** One measured point: a closed-loop run, with the CPU its candidate's process spent meanwhile. */
export interface Point extends Run {
  readonly cpuUs: number | undefined
}

const percentile = (values: ReadonlyArray<number>, p: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? Number.NaN
}

export interface Summary {
  readonly rps: number
  readonly cpuMsPerRequest: number | undefined
  readonly p50: number
  readonly p99: number
  readonly ttft50: number
  readonly ttft99: number
  readonly failed: number
  readonly firstFailure: string | undefined
}

export const summarize = (points: ReadonlyArray<Point>): Summary => {
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
export interface Held {
  readonly heapFirst: number
  readonly heapSecond: number
  readonly rssFirst: number
  readonly rssSecond: number
  /** Heap after the streams are released, over the heap before they were opened, bytes. */
  readonly heapLeft: number
}

export const MODES: ReadonlyArray<Mode> = ["json", "stream"]
export const CONNECTIONS = [1, 32] as const

const kib = (bytes: number) => fixed(bytes / 1024)
const ms = (value: number | undefined, digits = 2) => value === undefined ? "n/a" : fixed(value, digits)
const ratio = (value: number) => `${fixed(value, 2)}×`
const verdict = (met: boolean) => met ? "MET" : "NOT MET"

/** Prints the scenario's tables and the specification's targets, met or not. */
export const report = (options: {
  readonly names: ReadonlyArray<string>
  readonly summary: (name: string, mode: Mode, connections: number) => Summary
  readonly held: ReadonlyMap<string, Held | undefined>
  readonly config: Pick<GatewayConfig, "pointMs" | "warmupMs" | "warmupMaxMs" | "repeats" | "hold" | "tenants">
  readonly print: (line?: string) => void
  readonly redis: boolean
}) => {
  const { config, held, names, print, summary } = options
  const has = (name: string) => names.includes(name)
  const at32 = (name: string, mode: Mode) => summary(name, mode, 32).rps
  const pair = (f: (mode: Mode) => string) => MODES.map(f).join(" / ")

  print("## Gateway: throughput and added latency")
  print()
  print(
    `Loopback; mock upstream in its own process (${TOKENS}-token answer, JSON or SSE stream); every candidate in ` +
      `its own process; closed loop of undici \`Pool\` workers, ${config.pointMs / 1000} s per point after ` +
      `a warm-up per candidate and mode of ${config.warmupMs / 1000} s, then until its CPU per request settles ` +
      `(two 1 s slices within 10 %; at most ${config.warmupMaxMs / 1000} s), ${config.repeats} interleaved repeats ` +
      `(median req/s; latency percentiles over every request). Load average at the start: ${
        loadavg().map((load) => fixed(load, 2)).join(", ")
      }${options.redis ? "" : "; no Redis row (redis-server not found, or not selected)"}${
        config.tenants > 0 ? `; the gateway's config holds ${config.tenants} tenants besides the measured one` : ""
      }.`
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
  readonly names: ReadonlyArray<string>
  readonly summary: (name: string, mode: Mode, connections: number) => Summary
  readonly held: ReadonlyMap<string, Held | undefined>
}): Array<string> => {
  const { held, names, summary } = options
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
