/**
 * The shape of each client's streaming cost: how much CPU a stream costs whatever its length (the fixed cost)
 * and how much each token adds, and how much heap an open stream holds. Part of `npm run bench` (scenario
 * `shape`; `BENCH_SKIP=shape` leaves it out, `BENCH_SKIP=heap` only its heap part), or alone:
 *
 *   npx tsx bench/shape.ts
 *
 * Every client streams answers of 1, 20, 50, 200 and 1000 tokens from the mock server (a child process, so
 * only the clients' CPU is measured), in two modes: `burst` (the whole body in one write: few, large reads)
 * and `paced` (one event per tick of the server's timer: one event per read, as a model generating tokens
 * sends them), one stream at a time and 64 at a time. For each client, mode and concurrency the CPU time per
 * stream (`process.cpuUsage`, user + system, GC included) at every length is fitted with a line,
 * `cpu = fixed + perToken × tokens`, by least squares weighted by 1/cpu² (each point's relative error counts
 * alike, so the short streams, which carry the fixed cost, are not drowned by the long ones). The raw points
 * are printed with the fit, and the socket reads per stream (counted on `net.Socket`) show whether pacing
 * gave one event per read.
 *
 * Heap: each client opens `BENCH_SHAPE_HOLD` (1 000) streams that the server holds open after the first
 * content token, and the `heapUsed` delta (after a forced GC, before and after opening) is reported per 1 000
 * open streams; then they are released. The forced GC costs JIT state, so this part runs last.
 *
 * Clients are measured in interleaved rounds (each point: every client once per round, median kept), so drift
 * on a shared machine hits all of them alike. Points a client cannot run within the budget (a 64-stream batch
 * estimated over `BENCH_SHAPE_MAX_BATCH_MS` of CPU) are skipped and shown as `–`.
 *
 * Environment (quick runs): BENCH_SHAPE_LENGTHS (1,20,50,200,1000), BENCH_SHAPE_CONCURRENCY (1,64),
 * BENCH_SHAPE_MODES (burst,paced), BENCH_SHAPE_ROUNDS (3), BENCH_SHAPE_MIN_CPU_MS (CPU per round, 80),
 * BENCH_SHAPE_MAX_ROUND_MS (wall per round, 400), BENCH_SHAPE_MAX_POINT_MS (wall per point and client, 2500),
 * BENCH_SHAPE_MAX_BATCH_MS (6000), BENCH_SHAPE_PACE_MS (pace at concurrency 1, 1),
 * BENCH_SHAPE_PACE_MS_CONCURRENT (pace above concurrency 1, 4), BENCH_SHAPE_WARMUP_MS (per client, 1500),
 * BENCH_SHAPE_HOLD (streams held for the heap figure, 1000), BENCH_ONLY, BENCH_SKIP (shape, heap).
 */
import * as Net from "node:net"
import { performance } from "node:perf_hooks"
import { pathToFileURL } from "node:url"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { type Client, makeClients, RAW, type Release } from "./clients.js"
import * as Payloads from "./payloads.js"
import { envList, envNumber, fixed, log, machine, median, runScript, table, timed } from "./report.js"
import { type ServerProcess, startServer } from "./server.js"

type Mode = "burst" | "paced"

export interface ShapeConfig {
  readonly lengths: ReadonlyArray<number>
  readonly concurrencies: ReadonlyArray<number>
  readonly modes: ReadonlyArray<Mode>
  readonly rounds: number
  readonly minCpuMs: number
  readonly maxRoundMs: number
  readonly maxPointMs: number
  readonly maxBatchMs: number
  readonly paceMs: number
  readonly concurrentPaceMs: number
  readonly warmupMs: number
  readonly hold: number
  readonly heap: boolean
}

const envNumbers = (name: string, fallback: ReadonlyArray<number>): Array<number> => {
  const list = envList(name)
  if (list.length === 0) return [...fallback]
  return list.map((item) => {
    const value = Number(item)
    if (!Number.isInteger(value) || value <= 0) throw new Error(`${name}: "${item}" is not a positive integer`)
    return value
  })
}

/** The configuration from the environment. */
export const shapeConfig = (): ShapeConfig => {
  const modes = envList("BENCH_SHAPE_MODES")
  for (const mode of modes) {
    if (mode !== "burst" && mode !== "paced") throw new Error(`BENCH_SHAPE_MODES: unknown mode "${mode}"`)
  }
  return {
    lengths: envNumbers("BENCH_SHAPE_LENGTHS", [1, 20, 50, 200, 1000]).sort((a, b) => a - b),
    concurrencies: envNumbers("BENCH_SHAPE_CONCURRENCY", [1, 64]).sort((a, b) => a - b),
    modes: modes.length === 0 ? ["burst", "paced"] : modes as Array<Mode>,
    rounds: envNumber("BENCH_SHAPE_ROUNDS", 3),
    minCpuMs: envNumber("BENCH_SHAPE_MIN_CPU_MS", 80),
    maxRoundMs: envNumber("BENCH_SHAPE_MAX_ROUND_MS", 400),
    maxPointMs: envNumber("BENCH_SHAPE_MAX_POINT_MS", 2500),
    maxBatchMs: envNumber("BENCH_SHAPE_MAX_BATCH_MS", 6000),
    paceMs: envNumber("BENCH_SHAPE_PACE_MS", 1),
    concurrentPaceMs: envNumber("BENCH_SHAPE_PACE_MS_CONCURRENT", 4),
    warmupMs: envNumber("BENCH_SHAPE_WARMUP_MS", 1500),
    hold: process.env.BENCH_SHAPE_HOLD === "0" ? 0 : envNumber("BENCH_SHAPE_HOLD", 1000),
    heap: !envList("BENCH_SKIP").includes("heap")
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------------------------------------------

/**
 * Counts the reads of every socket of this process (the server is another process, so they are all client
 * sockets): each network read ends in one `push` on its `net.Socket`.
 */
const socketReads = () => {
  const proto = Net.Socket.prototype as unknown as Record<string, unknown> & {
    push: (chunk: unknown, encoding?: BufferEncoding) => boolean
  }
  const own = Object.prototype.hasOwnProperty.call(proto, "push")
  const original = proto.push
  let reads = 0
  proto.push = function(this: unknown, chunk: unknown, encoding?: BufferEncoding) {
    if (chunk !== null) reads++
    return original.call(this, chunk, encoding)
  }
  return {
    count: () => reads,
    restore: () => {
      if (own) proto.push = original
      else Reflect.deleteProperty(proto, "push")
    }
  }
}

type Reads = ReturnType<typeof socketReads>

interface Sample {
  readonly cpuUs: number
  readonly wallMs: number
  readonly reads: number
}

/** Runs `count` streams, `concurrency` at a time; CPU µs, wall ms and socket reads of the whole run. */
const timedWithReads = async (operation: () => Promise<string>, count: number, concurrency: number, reads: Reads) => {
  const reads0 = reads.count()
  const { cpuUs, wallMs } = await timed(operation, count, concurrency)
  return { cpuUs, wallMs, reads: reads.count() - reads0 } satisfies Sample
}

/** One client's figure at one length, mode and concurrency. */
interface Point {
  /** Median over rounds of CPU µs per stream. */
  readonly us: number
  readonly min: number
  readonly max: number
  readonly readsPerStream: number
  readonly streams: number
  readonly rounds: number
}

type Skipped = { readonly skipped: string }

const key = (client: string, mode: Mode, concurrency: number, tokens: number) =>
  `${client}|${mode}|${concurrency}|${tokens}`

/** Events besides the tokens: chat has a role, a finish and a usage chunk and `[DONE]`; the Responses API 8. */
const extraEvents = (client: Client) => client.name.startsWith("@effect/ai") ? 8 : 4

/** `cpu = fixed + perToken × tokens`, least squares weighted by 1/cpu² (relative errors). */
export const fit = (points: ReadonlyArray<{ readonly x: number; readonly y: number }>) => {
  if (points.length < 2) return undefined
  let sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0
  for (const { x, y } of points) {
    const w = 1 / (y * y)
    sw += w
    sx += w * x
    sy += w * y
    sxx += w * x * x
    sxy += w * x * y
  }
  const det = sw * sxx - sx * sx
  if (det === 0) return undefined
  const perToken = (sw * sxy - sx * sy) / det
  const fixedUs = (sy - perToken * sx) / sw
  const worst = Math.max(...points.map(({ x, y }) => Math.abs(fixedUs + perToken * x - y) / y))
  return { fixedUs, perToken, worstResidual: worst }
}

const paceFor = (config: ShapeConfig, concurrency: number) =>
  concurrency === 1 ? config.paceMs : config.concurrentPaceMs

/** Checks, at every length, that every client returns exactly the expected text. */
const verify = async (server: ServerProcess, clients: ReadonlyArray<Client>, lengths: ReadonlyArray<number>) => {
  for (const tokens of lengths) {
    await server.shape({ tokens, mode: "burst", paceMs: 1 })
    const expected = Payloads.expectedText(tokens)
    for (const client of clients) {
      const text = await client.stream()
      if (text !== expected) {
        throw new Error(
          `${client.name} (shape, ${tokens} tokens) returned ${text.length} chars, expected ${expected.length}`
        )
      }
    }
  }
}

const measure = async (
  server: ServerProcess,
  clients: ReadonlyArray<Client>,
  config: ShapeConfig,
  reads: Reads
): Promise<Map<string, Point | Skipped>> => {
  const points = new Map<string, Point | Skipped>()
  const known = (name: string, mode: Mode, concurrency: number, tokens: number) => {
    const point = points.get(key(name, mode, concurrency, tokens))
    return point === undefined || "skipped" in point ? undefined : point.us
  }

  log("  shape: warming up")
  await server.shape({ tokens: 50, mode: "burst", paceMs: 1 })
  for (const client of clients) {
    const start = performance.now()
    let done = 0
    while (done < 20 || performance.now() - start < config.warmupMs) {
      await client.stream()
      done++
    }
  }

  for (const concurrency of config.concurrencies) {
    for (const mode of config.modes) {
      const paceMs = paceFor(config, concurrency)
      for (const [index, tokens] of config.lengths.entries()) {
        await server.shape({ tokens, mode, paceMs })
        log(`  shape: ${mode}, concurrency ${concurrency}, ${tokens} tokens`)
        const plans: Array<{ client: Client; count: number; rounds: number; samples: Array<Sample> }> = []
        for (const client of clients) {
          // CPU µs per stream, from what was measured already: the previous length at this mode and
          // concurrency, scaled by the events (an overestimate: the fixed part is scaled too), else this length
          // at concurrency 1 (paced at concurrency 1 pays a wake-up per event, so only as a fallback), else burst.
          const previous = index === 0 ? undefined : config.lengths[index - 1]!
          const scaled = previous === undefined || concurrency === 1
            ? undefined
            : known(client.name, mode, concurrency, previous)
          let estimate = (scaled === undefined
            ? undefined
            : scaled * (tokens + extraEvents(client)) / (previous! + extraEvents(client))) ??
            known(client.name, mode, 1, tokens) ?? known(client.name, "burst", 1, tokens)
          if (estimate === undefined) {
            const probe = await timedWithReads(client.stream, Math.min(3, concurrency), Math.min(3, concurrency), reads)
            estimate = probe.cpuUs / Math.min(3, concurrency)
          }
          const batchCpuMs = estimate * concurrency / 1000
          if (batchCpuMs > config.maxBatchMs) {
            points.set(key(client.name, mode, concurrency, tokens), {
              skipped: `a batch would take about ${fixed(batchCpuMs / 1000)} s of CPU`
            })
            continue
          }
          const events = tokens + extraEvents(client)
          const batchWallMs = mode === "paced" ? events * paceMs * 1.1 + 2 : batchCpuMs
          const batches = Math.max(
            1,
            Math.min(Math.ceil(config.minCpuMs / batchCpuMs), Math.floor(config.maxRoundMs / batchWallMs))
          )
          const rounds = Math.max(1, Math.min(config.rounds, Math.floor(config.maxPointMs / (batches * batchWallMs))))
          // The first point of a concurrency opens the connections its pool will keep.
          if (index === 0 && concurrency > 1) await timedWithReads(client.stream, concurrency, concurrency, reads)
          plans.push({ client, count: batches * concurrency, rounds, samples: [] })
        }
        const most = Math.max(0, ...plans.map((plan) => plan.rounds))
        for (let round = 0; round < most; round++) {
          for (const plan of plans) {
            if (round < plan.rounds) {
              plan.samples.push(await timedWithReads(plan.client.stream, plan.count, concurrency, reads))
            }
          }
        }
        for (const plan of plans) {
          const us = plan.samples.map((sample) => sample.cpuUs / plan.count)
          points.set(key(plan.client.name, mode, concurrency, tokens), {
            us: median(us),
            min: Math.min(...us),
            max: Math.max(...us),
            readsPerStream: median(plan.samples.map((sample) => sample.reads / plan.count)),
            streams: plan.count,
            rounds: plan.rounds
          })
        }
      }
    }
  }
  return points
}

// ---------------------------------------------------------------------------------------------------------------
// Heap of open streams
// ---------------------------------------------------------------------------------------------------------------

/** `gc()`, exposed at run time when the process was not started with `--expose-gc`. */
const exposeGc = (): () => void => {
  const existing = (globalThis as { gc?: () => void }).gc
  if (existing !== undefined) return existing
  setFlagsFromString("--expose-gc")
  return runInNewContext("gc") as () => void
}

interface Heap {
  /** heapUsed delta per 1 000 open streams, bytes. */
  readonly heapPer1000: number
  /** external + arrayBuffers delta per 1 000 open streams, bytes. */
  readonly externalPer1000: number
  /** CPU µs per stream to open it and read up to its first token. */
  readonly openUs: number
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const settledHeap = async (gc: () => void) => {
  // Let closed sockets and interrupted fibers finish, then collect twice (weak references, finalizers).
  await sleep(50)
  gc()
  await sleep(10)
  gc()
  const usage = process.memoryUsage()
  return { heap: usage.heapUsed, external: usage.external + usage.arrayBuffers }
}

const holdAll = async (client: Client, count: number): Promise<Array<Release>> => {
  const releases: Array<Release> = []
  // 100 openings in flight at a time: no connection storm, every stream ends up open at once.
  for (let opened = 0; opened < count; opened += 100) {
    for (const release of await Promise.all(Array.from({ length: Math.min(100, count - opened) }, client.hold))) {
      releases.push(release)
    }
  }
  return releases
}

const measureHeap = async (
  server: ServerProcess,
  clients: ReadonlyArray<Client>,
  count: number
): Promise<Map<string, Heap>> => {
  const gc = exposeGc()
  const heaps = new Map<string, Heap>()
  await server.shape({ tokens: 200, mode: "hold", paceMs: 1 })
  for (const client of clients) {
    log(`  shape: heap of ${count} open streams, ${client.name}`)
    // Warm the hold path and the pool.
    for (const release of await holdAll(client, 100)) await release()
    const before = await settledHeap(gc)
    const cpu = process.cpuUsage()
    const releases = await holdAll(client, count)
    const used = process.cpuUsage(cpu)
    const held = await settledHeap(gc)
    await Promise.all(releases.map((release) => release()))
    await settledHeap(gc)
    heaps.set(client.name, {
      heapPer1000: (held.heap - before.heap) / count * 1000,
      externalPer1000: (held.external - before.external) / count * 1000,
      openUs: (used.user + used.system) / count
    })
  }
  return heaps
}

// ---------------------------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------------------------

const ratio = (value: number | undefined, base: number | undefined) =>
  value === undefined || base === undefined || base <= 0 ? "–" : `${fixed(value / base, 2)}×`

const us = (value: number | undefined) => value === undefined ? "–" : fixed(value, 0)

const modeTitle = (config: ShapeConfig, mode: Mode, concurrency: number) =>
  mode === "burst"
    ? `burst (whole body in one write), concurrency ${concurrency}`
    : `paced (one event per read, ${paceFor(config, concurrency)} ms between events), concurrency ${concurrency}`

const report = (
  clients: ReadonlyArray<Client>,
  config: ShapeConfig,
  points: Map<string, Point | Skipped>,
  heaps: Map<string, Heap> | undefined,
  print: (line?: string) => void
) => {
  const openai = clients.find((client) => client.name.startsWith("openai"))?.name
  const undici = RAW.undici
  const lengths = config.lengths
  const longest = lengths[lengths.length - 1]!
  const targets: Array<string> = []
  print(`## Streaming cost by length: fixed CPU per stream and CPU per token`)
  print()
  print(
    `CPU µs per stream (client process, user + system, GC included) at ${lengths.join(", ")} tokens; ` +
      "`fixed` and `per token` are a least-squares line through them (weighted by 1/cpu², so each point's " +
      "relative error counts alike); `fit error` is its worst relative residual. Median of " +
      `up to ${config.rounds} interleaved rounds per point; \`–\`: not run (over the CPU budget of a batch).`
  )
  print()
  for (const concurrency of config.concurrencies) {
    for (const mode of config.modes) {
      const get = (name: string | undefined, tokens: number) => {
        const point = name === undefined ? undefined : points.get(key(name, mode, concurrency, tokens))
        return point === undefined || "skipped" in point ? undefined : point
      }
      const fits = new Map(clients.map((client) => [
        client.name,
        fit(lengths.flatMap((tokens) => {
          const point = get(client.name, tokens)
          return point === undefined ? [] : [{ x: tokens, y: point.us }]
        }))
      ]))
      const baseUndici = fits.get(undici)
      const baseOpenai = openai === undefined ? undefined : fits.get(openai)
      print(`### ${modeTitle(config, mode, concurrency)}`)
      print()
      print(table(
        [
          "client",
          "fixed µs/stream",
          "µs/token",
          "fixed × raw undici",
          "fixed × openai",
          "per token × raw undici",
          "per token × openai",
          "fit error"
        ],
        clients.map((client) => {
          const line = fits.get(client.name)
          return [
            client.name,
            us(line?.fixedUs),
            line === undefined ? "–" : fixed(line.perToken, 1),
            ratio(line?.fixedUs, baseUndici?.fixedUs),
            ratio(line?.fixedUs, baseOpenai?.fixedUs),
            ratio(line?.perToken, baseUndici?.perToken),
            ratio(line?.perToken, baseOpenai?.perToken),
            line === undefined ? "–" : `${fixed(line.worstResidual * 100, 0)} %`
          ]
        })
      ))
      print()
      print(table(
        [
          "client (CPU µs per stream)",
          ...lengths.map((tokens) => `${tokens} tok`),
          "worst × openai",
          `socket reads, ${longest}-tok stream`
        ],
        clients.map((client) => {
          const ratios = lengths.flatMap((tokens) => {
            const point = get(client.name, tokens)
            const base = get(openai, tokens)
            return point === undefined || base === undefined ? [] : [point.us / base.us]
          })
          const last = get(client.name, longest)
          return [
            client.name,
            ...lengths.map((tokens) => us(get(client.name, tokens)?.us)),
            ratios.length === 0 ? "–" : `${fixed(Math.max(...ratios), 2)}×`,
            last === undefined ? "–" : fixed(last.readsPerStream, 0)
          ]
        })
      ))
      print()
      for (const client of clients.filter((each) => each.name.startsWith("liter-llm"))) {
        const line = fits.get(client.name)
        const over = lengths.filter((tokens) => {
          const point = get(client.name, tokens)
          const base = get(openai, tokens)
          return point !== undefined && base !== undefined && point.us > base.us
        })
        targets.push(
          `- ${client.name}, ${mode}, concurrency ${concurrency}: CPU per stream above openai at ${
            over.length === 0 ? "no length" : `${over.join(", ")} tokens`
          }; fixed cost over raw undici ${
            line === undefined || baseUndici === undefined ? "–" : `${fixed(line.fixedUs - baseUndici.fixedUs, 0)} µs`
          } (target < 300 µs)`
        )
      }
    }
  }
  if (heaps !== undefined) {
    const base = heaps.get(undici)?.heapPer1000
    const baseOpenai = openai === undefined ? undefined : heaps.get(openai)?.heapPer1000
    print(`### Heap held by open streams (per 1 000 streams open mid-body, after a forced GC)`)
    print()
    print(table(
      [
        "client",
        "heap MB per 1 000",
        "KB per stream",
        "× raw undici",
        "× openai",
        "external + ArrayBuffer MB per 1 000",
        "CPU µs to open one"
      ],
      clients.flatMap((client) => {
        const heap = heaps.get(client.name)
        if (heap === undefined) return []
        return [[
          client.name,
          fixed(heap.heapPer1000 / 1e6, 2),
          fixed(heap.heapPer1000 / 1000 / 1024, 1),
          ratio(heap.heapPer1000, base),
          ratio(heap.heapPer1000, baseOpenai),
          fixed(heap.externalPer1000 / 1e6, 2),
          fixed(heap.openUs, 0)
        ]]
      })
    ))
    print()
  }
  if (targets.length > 0) {
    print(`### Targets (liter-llm: CPU per stream at or below openai at every length; fixed cost over raw undici)`)
    print()
    for (const line of targets) print(line)
    print()
  }
}

/** The shape scenario against a running server, printing its tables. */
export const runShape = async (options: {
  readonly server: ServerProcess
  readonly clients: ReadonlyArray<Client>
  readonly config: ShapeConfig
  readonly print: (line?: string) => void
}) => {
  const { clients, config, server } = options
  log("  shape: checking every client at every length...")
  await verify(server, clients, config.lengths)
  const reads = socketReads()
  let points: Map<string, Point | Skipped>
  try {
    points = await measure(server, clients, config, reads)
  } finally {
    reads.restore()
  }
  const heaps = config.heap && config.hold > 0 ? await measureHeap(server, clients, config.hold) : undefined
  report(clients, config, points, heaps, options.print)
}

// Alone: `npx tsx bench/shape.ts`.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const main = async () => {
    const started = performance.now()
    const server = await startServer({ tokens: Payloads.TOKENS, paceMs: 4 })
    const only = envList("BENCH_ONLY")
    const all = makeClients(`${server.url}/shape/v1`)
    const clients = only.length === 0 ? all : all.filter((client) => only.some((part) => client.name.includes(part)))
    const print = (line = "") => process.stdout.write(`${line}\n`)
    try {
      if (clients.length === 0) throw new Error(`BENCH_ONLY=${only.join(",")} matches no client`)
      print("# liter-llm streaming cost by length")
      print()
      print(`- date: ${new Date().toISOString()}`)
      print(`- machine: ${machine()}`)
      print()
      await runShape({ server, clients, config: shapeConfig(), print })
      print(`(shape run time ${fixed((performance.now() - started) / 1000)} s)`)
    } finally {
      for (const client of clients) await client.dispose().catch(() => {})
      server.close()
    }
  }
  runScript("shape", main)
}
