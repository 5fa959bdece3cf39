/**
 * CPU benchmark of liter-llm against its peers (`npm run bench`).
 *
 * A mock OpenAI server runs in a child process; this process only runs the clients, and what is measured is
 * its CPU time (`process.cpuUsage`, user + system, GC included) per streamed token and per non-streamed call.
 * Every client is checked to return the exact expected text before anything is timed.
 *
 * Scenarios:
 * 1. streaming, burst: each stream's body (TOKENS events) arrives in a few large reads, one stream at a time;
 * 2. non-streaming: one call at a time;
 * 3. streaming, paced: one event per network read (the server pauses between events), a few streams at once;
 * 4. SSE framing throughput over an in-memory body;
 * 5. circuit breaker cost per call against the number of outcomes in its window (in process);
 * 6. the shape of the streaming cost (`bench/shape.ts`): fixed CPU per stream and CPU per token from streams of
 *    1 to 1000 tokens, burst and paced, one and 64 at a time, and the heap held per 1 000 open streams;
 * 7. the governance policies' CPU per call, alone and stacked, over a bare in-process model (`bench/governance.ts`);
 * 8. each Redis store's cost per call over its memory store, on a `redis-server` started for the run
 *    (`bench/redis.ts`; skipped with a line saying so when `redis-server` is not installed);
 * 9. the gateway against a plain pass-through and Portkey's gateway: req/s, added latency, CPU per request and
 *    memory per open stream, each server in its own process (`bench/gateway.ts`).
 *
 * Warm-up matters: V8 keeps speeding these clients up for thousands of calls, so each client runs for at least
 * BENCH_WARMUP_MS before it is measured. No forced GC between measurements: a full `gc()` throws away enough
 * JIT state to double the next few hundred calls' cost.
 *
 * Environment overrides (for quick runs and profiling): BENCH_STREAMS, BENCH_CALLS, BENCH_WARMUP, BENCH_WARMUP_MS,
 * BENCH_MIN_ROUND_MS, BENCH_ROUNDS, BENCH_PACED_STREAMS, BENCH_PACED_ROUNDS, BENCH_PACED_CONCURRENCY, BENCH_PACE_MS,
 * BENCH_ONLY (comma-separated parts of client names; or `governance`, `redis` and / or `gateway` for those
 * scenarios alone, the other parts then choosing the gateway scenario's candidates), BENCH_SKIP (comma-separated:
 * stream, generate, paced, framing, breaker, shape, heap, governance, redis, gateway); the shape, governance, redis
 * and gateway scenarios' own BENCH_SHAPE_*, BENCH_GOVERNANCE_*, BENCH_REDIS_* and BENCH_GATEWAY_* variables are
 * listed in their files.
 */
import { performance } from "node:perf_hooks"
import { runBreaker } from "./breaker.js"
import { BASELINE, type Client, isLiterLlm, makeClients, RAW, type Transport } from "./clients.js"
import { runFraming } from "./framing.js"
import { gatewayConfig, runGateway } from "./gateway.js"
import { printGovernance } from "./governance.js"
import * as Payloads from "./payloads.js"
import { printRedis } from "./redis.js"
import { envList, envNumber, fixed, log, machine, median, runScript, signed, table, timed } from "./report.js"
import { startServer } from "./server.js"
import { runShape, shapeConfig } from "./shape.js"

const config = {
  tokens: Payloads.TOKENS,
  warmup: envNumber("BENCH_WARMUP", 50),
  warmupMs: envNumber("BENCH_WARMUP_MS", 3000),
  minRoundMs: envNumber("BENCH_MIN_ROUND_MS", 400),
  rounds: envNumber("BENCH_ROUNDS", 5),
  pacedRounds: envNumber("BENCH_PACED_ROUNDS", 3),
  streams: envNumber("BENCH_STREAMS", 300),
  calls: envNumber("BENCH_CALLS", 1000),
  pacedStreams: envNumber("BENCH_PACED_STREAMS", 60),
  pacedConcurrency: envNumber("BENCH_PACED_CONCURRENCY", 10),
  paceMs: envNumber("BENCH_PACE_MS", 4),
  only: envList("BENCH_ONLY"),
  skip: new Set(envList("BENCH_SKIP"))
}

/** Targets for liter-llm, as extra CPU over the raw fetch baseline. */
const TARGET_US_PER_TOKEN = 10
const TARGET_US_PER_CALL = 100

interface Result {
  readonly name: string
  readonly transport: Transport
  /** Median over rounds of CPU µs per unit (token or call). */
  readonly us: number
  readonly min: number
  readonly max: number
  /** Operations per round. */
  readonly perRound: number
  /** Median wall time of one operation (stream or call), ms. */
  readonly wallMs: number
}

const roundUp = (value: number, step: number) => Math.ceil(value / step) * step

/**
 * Warms every client up (at least `warmup` operations and `warmupMs` of wall time: the JIT keeps improving for
 * hundreds of calls), then measures them in interleaved rounds (so drift hits all of them alike) and keeps each
 * client's median round. A round is `count / rounds` operations, more for clients so fast that this would last
 * under `minRoundMs` (short rounds are mostly noise).
 */
const scenario = async (options: {
  readonly clients: ReadonlyArray<Client>
  readonly operation: (client: Client) => () => Promise<string>
  readonly count: number
  readonly concurrency: number
  readonly unitsPerOperation: number
  readonly rounds: number
  readonly warmupMs: number
  readonly label: string
}): Promise<Array<Result>> => {
  const { concurrency, rounds } = options
  const perRound = new Map<string, number>()
  const samples = new Map<string, Array<{ us: number; wallMs: number }>>()
  for (const client of options.clients) {
    log(`  ${options.label}: warming up ${client.name}`)
    const operation = options.operation(client)
    let done = 0
    const start = performance.now()
    while (done < config.warmup || performance.now() - start < options.warmupMs) {
      await timed(operation, concurrency, concurrency)
      done += concurrency
    }
    // The cost of one batch now, to size the rounds.
    const probe = await timed(operation, roundUp(10, concurrency), concurrency)
    const batchMs = probe.wallMs / (roundUp(10, concurrency) / concurrency)
    const minimum = roundUp(config.minRoundMs / batchMs * concurrency, concurrency)
    perRound.set(client.name, Math.max(roundUp(options.count / rounds, concurrency), minimum))
    samples.set(client.name, [])
  }
  for (let round = 1; round <= rounds; round++) {
    log(`  ${options.label}: round ${round}/${rounds}`)
    for (const client of options.clients) {
      const count = perRound.get(client.name)!
      const { cpuUs, wallMs } = await timed(options.operation(client), count, concurrency)
      samples.get(client.name)!.push({
        us: cpuUs / (count * options.unitsPerOperation),
        wallMs: wallMs / count * concurrency
      })
    }
  }
  return options.clients.map((client) => {
    const rounds = samples.get(client.name)!
    const us = rounds.map((sample) => sample.us)
    return {
      name: client.name,
      transport: client.transport,
      us: median(us),
      min: Math.min(...us),
      max: Math.max(...us),
      perRound: perRound.get(client.name)!,
      wallMs: median(rounds.map((sample) => sample.wallMs))
    }
  })
}

const costTable = (results: ReadonlyArray<Result>, unit: string, wallUnit: string): string => {
  const byName = new Map(results.map((result) => [result.name, result]))
  const base = byName.get(BASELINE)
  return table(
    [
      "client",
      `CPU µs/${unit}`,
      "min–max of rounds",
      `extra vs ${BASELINE}`,
      `× ${BASELINE}`,
      "extra vs raw client of its transport",
      `wall ms/${wallUnit}`,
      "ops/round"
    ],
    results.map((result) => {
      const raw = byName.get(RAW[result.transport])
      return [
        result.name,
        fixed(result.us),
        `${fixed(result.min)}–${fixed(result.max)}`,
        base === undefined ? "n/a" : signed(result.us - base.us),
        base === undefined ? "n/a" : `${fixed(result.us / base.us, 2)}×`,
        raw === undefined || raw === result ? "" : `${signed(result.us - raw.us)} (${RAW[result.transport]})`,
        fixed(result.wallMs, 2),
        String(result.perRound)
      ]
    })
  )
}

const targetLines = (results: ReadonlyArray<Result>, unit: string, target: number): Array<string> => {
  const base = results.find((result) => result.name === BASELINE)
  if (base === undefined) return [`- (no ${BASELINE} baseline in this run: targets not checked)`]
  return results.filter(isLiterLlm).map((result) => {
    const extra = result.us - base.us
    return `- ${result.name}: extra CPU per ${unit} ${signed(extra)} µs (target ≤ ${target} µs): ${
      extra <= target ? "MET" : "NOT MET"
    }`
  })
}

/** Checks once, before any timing, that every client returns exactly the expected text. */
const verify = async (clients: ReadonlyArray<Client>, label: string, withGenerate: boolean) => {
  const expected = Payloads.expectedText(config.tokens)
  for (const client of clients) {
    const checks: Array<[string, () => Promise<string>]> = [["stream", client.stream]]
    if (withGenerate) checks.push(["generate", client.generate])
    for (const [kind, run] of checks) {
      let text: string
      try {
        text = await run()
      } catch (error) {
        throw new Error(`${client.name} (${label} ${kind}) failed: ${String(error)}`, { cause: error })
      }
      if (text !== expected) {
        throw new Error(
          `${client.name} (${label} ${kind}) returned ${text.length} chars, expected ${expected.length}: ${
            JSON.stringify(text.slice(0, 80))
          }...`
        )
      }
    }
  }
}

/** Scenarios that need neither the mock server nor its clients, each runnable alone with `BENCH_ONLY`. */
const standalone: Record<string, (print: (line?: string) => void) => Promise<void>> = {
  governance: printGovernance,
  redis: printRedis,
  gateway: (print) => runGateway({ config: gatewayConfig(), print })
}

/** `BENCH_ONLY=governance`, `redis` and / or `gateway`: those scenarios alone, without the server. */
const standaloneOnly = async () => {
  const started = performance.now()
  const print = (line = "") => process.stdout.write(`${line}\n`)
  print(`# liter-llm benchmark: ${config.only.filter((part) => part in standalone).join(", ")}`)
  print()
  print(`- date: ${new Date().toISOString()}`)
  print(`- machine: ${machine()}`)
  print()
  for (const name of new Set(config.only)) if (name in standalone) await standalone[name]!(print)
  print(`(total run time ${fixed((performance.now() - started) / 1000)} s)`)
}

const main = async () => {
  if (config.only.some((part) => part in standalone)) return standaloneOnly()
  const started = performance.now()
  const server = await startServer({ tokens: config.tokens, paceMs: config.paceMs })
  const select = (clients: Array<Client>) =>
    config.only.length === 0
      ? clients
      : clients.filter((client) => config.only.some((part) => client.name.includes(part)))
  const clients = select(makeClients(`${server.url}/v1`))
  const pacedClients = select(makeClients(`${server.url}/paced/v1`))
  const shapeClients = select(makeClients(`${server.url}/shape/v1`))
  const print = (line = "") => process.stdout.write(`${line}\n`)
  try {
    if (clients.length === 0) throw new Error(`BENCH_ONLY=${config.only.join(",")} matches no client`)
    print("# liter-llm CPU benchmark")
    print()
    print(`- date: ${new Date().toISOString()}`)
    print(`- machine: ${machine()}`)
    print(
      `- mock server: separate process on 127.0.0.1; ${config.tokens} tokens per answer (real OpenAI chunk format)`
    )
    print(
      "- measured: CPU time (user + system, GC included) of the client process; each client is warmed up " +
        `(≥ ${config.warmupMs / 1000} s), then measured in interleaved rounds; the median round is reported`
    )
    print()

    log("checking that every client returns the expected text...")
    await verify(clients, "burst", true)
    if (!config.skip.has("paced")) await verify(pacedClients, "paced", false)

    let stream: Array<Result> | undefined
    if (!config.skip.has("stream")) {
      stream = await scenario({
        clients,
        operation: (client) => client.stream,
        count: config.streams,
        concurrency: 1,
        unitsPerOperation: config.tokens,
        rounds: config.rounds,
        warmupMs: config.warmupMs,
        label: "stream"
      })
      print(`## Streaming (${config.streams} streams of ${config.tokens} tokens, one at a time, body in a few reads)`)
      print()
      print(costTable(stream, "token", "stream"))
      print()
    }

    let generate: Array<Result> | undefined
    if (!config.skip.has("generate")) {
      generate = await scenario({
        clients,
        operation: (client) => client.generate,
        count: config.calls,
        concurrency: 1,
        unitsPerOperation: 1,
        rounds: config.rounds,
        warmupMs: config.warmupMs,
        label: "generate"
      })
      print(`## Non-streaming (${config.calls} calls, one at a time, ${config.tokens}-token answer)`)
      print()
      print(costTable(generate, "call", "call"))
      print()
    }

    if (!config.skip.has("paced")) {
      const paced = await scenario({
        clients: pacedClients,
        operation: (client) => client.stream,
        count: config.pacedStreams,
        concurrency: config.pacedConcurrency,
        unitsPerOperation: config.tokens,
        rounds: config.pacedRounds,
        // The code is already warm from the burst scenario; this settles the new connections.
        warmupMs: 1000,
        label: "paced"
      })
      print(
        `## Streaming, one event per read (${config.pacedStreams} streams, ${config.pacedConcurrency} at a time, ` +
          `${config.paceMs} ms between events)`
      )
      print()
      print(costTable(paced, "token", "stream"))
      print()
    }

    if (!config.skip.has("framing")) {
      log("  framing...")
      const framing = runFraming({ targetBytes: 5 * 2 ** 20, pieceBytes: 16 * 1024, budgetMs: 15_000 })
      print(
        `## SSE framing throughput (${fixed(framing.bytes / 2 ** 20, 2)} MiB in memory, ${framing.pieces} pieces ` +
          `of 16 KiB, ${framing.events} events)`
      )
      print()
      const fastest = Math.max(...framing.results.map((result) => result.medianMBps))
      print(table(
        ["framer", "MB/s (median)", "MB/s (best)", "reps", "× fastest"],
        framing.results.map((result) => [
          result.name,
          fixed(result.medianMBps),
          fixed(result.bestMBps),
          String(result.reps),
          `${fixed(result.medianMBps / fastest, 3)}×`
        ])
      ))
      print()
    }

    if (!config.skip.has("breaker")) {
      log("  circuit breaker...")
      const breaker = runBreaker({ windows: [0, 5_000, 30_000, 300_000], calls: 5_000, rounds: 5 })
      print("## Circuit breaker, CPU per call over the bare model, by outcomes in the window (in process)")
      print()
      print(table(
        ["outcomes in window", "extra µs per call (median)"],
        breaker.map((result) => [String(result.window), fixed(result.extraUs, 2)])
      ))
      print()
    }

    if (!config.skip.has("governance")) {
      log("  governance policies...")
      await printGovernance(print)
    }

    if (!config.skip.has("redis")) {
      log("  Redis stores...")
      await printRedis(print)
    }

    if (!config.skip.has("shape")) {
      await runShape({ server, clients: shapeClients, config: shapeConfig(), print })
    }

    // Its candidates are servers, not the clients BENCH_ONLY names: it runs in a full run only.
    if (!config.skip.has("gateway") && config.only.length === 0) {
      await runGateway({ config: gatewayConfig(), print })
    }

    if (stream !== undefined || generate !== undefined) {
      print(`## Targets (liter-llm, extra CPU over ${BASELINE})`)
      print()
      if (stream !== undefined) {
        for (const line of targetLines(stream, "streamed token", TARGET_US_PER_TOKEN)) print(line)
      }
      if (generate !== undefined) {
        for (const line of targetLines(generate, "non-stream call", TARGET_US_PER_CALL)) print(line)
      }
      print()
    }
    print(`(total run time ${fixed((performance.now() - started) / 1000)} s)`)
  } finally {
    for (const client of [...clients, ...pacedClients, ...shapeClients]) await client.dispose().catch(() => {})
    server.close()
  }
}

runScript("bench", main)
