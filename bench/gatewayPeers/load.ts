/**
 * The gateway benchmark's load: a closed loop of `connections` workers over one undici `Pool` (each sends a
 * request, reads the whole answer, sends the next) for a fixed time, and a batch of streams held open after
 * their first token. Every request has a distinct prompt, so a cache in front of the mock always misses.
 */
import { performance } from "node:perf_hooks"
import { Pool } from "undici"
import * as Payloads from "../payloads.js"

/** How a candidate is called: where, with which headers, and the route (`model`) it serves. */
export interface Target {
  readonly origin: string
  readonly path: string
  readonly headers: Readonly<Record<string, string>>
  readonly model: string
}

export type Mode = "json" | "stream"

/** One closed-loop run. Latencies and times to first token are in ms, one per request. */
export interface Run {
  readonly requests: number
  readonly wallMs: number
  readonly latencies: Array<number>
  readonly ttfts: Array<number>
  /** Requests answered with another status than 200, and the first such answer. */
  readonly failed: number
  readonly firstFailure: string | undefined
}

let counter = 0

const body = (model: string, mode: Mode) =>
  JSON.stringify({
    model,
    messages: [
      { role: "system", content: Payloads.SYSTEM_PROMPT },
      { role: "user", content: `${Payloads.USER_PROMPT} #${++counter}` }
    ],
    ...(mode === "stream" ? { stream: true } : {})
  })

// A content delta with text (the role chunk has `"content":""`).
const TOKEN = /"content":"[^"]/

const once = async (pool: Pool, target: Target, mode: Mode, expect: string) => {
  const start = performance.now()
  const answer = await pool.request({
    path: target.path,
    method: "POST",
    headers: { "content-type": "application/json", ...target.headers },
    body: body(target.model, mode)
  })
  let ttft = -1
  const parts: Array<Buffer> = []
  for await (const chunk of answer.body as AsyncIterable<Buffer>) {
    if (ttft < 0 && mode === "stream" && TOKEN.test(chunk.toString("latin1"))) ttft = performance.now() - start
    parts.push(chunk)
  }
  const latency = performance.now() - start
  const text = Buffer.concat(parts).toString("utf-8")
  // A refusal (a store timing out on an overloaded machine) is counted; a wrong answer stops the benchmark.
  if (answer.statusCode !== 200) return { latency, ttft, failed: `${answer.statusCode}: ${text.slice(0, 200)}` }
  if (!text.includes(expect)) throw new Error(`${target.origin}${target.path} answered: ${text.slice(0, 300)}`)
  return { latency, ttft, failed: undefined }
}

/** The last words of the answer: every candidate must pass the whole answer on. */
const tail = (mode: Mode) => {
  const tokens = Payloads.tokens(50)
  return mode === "json" ? Payloads.expectedText(50).slice(-30) : JSON.stringify(tokens.at(-1)).slice(1, -1)
}

/** `connections` workers, each calling in a loop until `durationMs` is over; req/s counts the 200s only. */
export const closedLoop = async (
  target: Target,
  mode: Mode,
  connections: number,
  durationMs: number
): Promise<Run> => {
  const pool = new Pool(target.origin, { connections, pipelining: 1, keepAliveTimeout: 60_000 })
  const latencies: Array<number> = []
  const ttfts: Array<number> = []
  const expect = tail(mode)
  const start = performance.now()
  const deadline = start + durationMs
  let failed = 0
  let firstFailure: string | undefined
  const worker = async () => {
    while (performance.now() < deadline) {
      const result = await once(pool, target, mode, expect)
      if (result.failed !== undefined) {
        failed++
        firstFailure ??= result.failed
        continue
      }
      latencies.push(result.latency)
      if (result.ttft >= 0) ttfts.push(result.ttft)
    }
  }
  try {
    await Promise.all(Array.from({ length: connections }, worker))
    return { requests: latencies.length, wallMs: performance.now() - start, latencies, ttfts, failed, firstFailure }
  } finally {
    await pool.destroy()
  }
}

/**
 * Opens `count` streams that the mock holds open after the first token, and resolves once every one has
 * received it; `release` closes them all.
 */
export const holdStreams = async (target: Target, count: number) => {
  const pool = new Pool(target.origin, { connections: count, pipelining: 1 })
  const bodies: Array<{ destroy: () => void }> = []
  const open = async () => {
    const answer = await pool.request({
      path: target.path,
      method: "POST",
      headers: { "content-type": "application/json", ...target.headers },
      body: body(target.model, "stream")
    })
    bodies.push(answer.body)
    if (answer.statusCode !== 200) throw new Error(`a held stream answered ${answer.statusCode}`)
    for await (const chunk of answer.body as AsyncIterable<Buffer>) {
      if (TOKEN.test(chunk.toString("latin1"))) return
    }
    throw new Error("a held stream ended before its first token")
  }
  // A few at a time, so the candidates are not measured on how they take a burst of connections.
  for (let opened = 0; opened < count; opened += 50) {
    await Promise.all(Array.from({ length: Math.min(50, count - opened) }, open))
  }
  return {
    release: async () => {
      for (const held of bodies) held.destroy()
      await pool.destroy()
    }
  }
}
