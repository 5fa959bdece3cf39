/**
 * Where one client's CPU goes: warms a client up against the mock server, records a V8 CPU profile of a
 * measured loop (through `node:inspector`, so the warm-up is not in it), and prints the top functions by self
 * time and the time per area (liter-llm source files, effect, @effect/platform, undici, Node internals, GC).
 *
 *   npx tsx bench/profile.ts <stream|generate|paced> [client name part, default "liter-llm (undici)"] [seconds]
 *
 * BENCH_PROFILE_TOKENS sets the length of the answer (default 200), e.g. 50 for the short-stream loop.
 *
 * The raw profile is written to the system's temporary directory (open it in Chrome DevTools or speedscope).
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { Session } from "node:inspector"
import * as Os from "node:os"
import * as Path from "node:path"
import { performance } from "node:perf_hooks"
import { type Client, makeClients } from "./clients.js"
import * as Payloads from "./payloads.js"
import { startServer } from "./server.js"

interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
  readonly columnNumber: number
}

interface ProfileNode {
  readonly id: number
  readonly callFrame: CallFrame
  readonly children?: ReadonlyArray<number>
}

interface Profile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const post = <T>(session: Session, method: string, params?: object): Promise<T> =>
  new Promise((resolve, reject) =>
    session.post(method, params ?? {}, (error, result) => error ? reject(error) : resolve(result as T))
  )

/** The area of a frame's script: a liter-llm file, a package, Node itself, or V8's pseudo-frames. */
const area = (frame: CallFrame): string => {
  const url = frame.url
  if (url === "") return frame.functionName.startsWith("(") ? frame.functionName : "(native)"
  if (url.startsWith("node:")) return "node internals"
  const nodeModules = url.lastIndexOf("/node_modules/")
  if (nodeModules >= 0) {
    const rest = url.slice(nodeModules + "/node_modules/".length).split("/")
    return rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]!
  }
  const src = url.indexOf("/src/")
  if (src >= 0) return `liter-llm ${url.slice(src + 1)}`
  const bench = url.indexOf("/bench/")
  return bench >= 0 ? url.slice(bench + 1) : url
}

const location = (frame: CallFrame): string => {
  const url = frame.url
  const nodeModules = url.lastIndexOf("/node_modules/")
  const short = nodeModules >= 0
    ? url.slice(nodeModules + "/node_modules/".length)
    : url.includes("/src/")
    ? url.slice(url.indexOf("/src/") + 1)
    : url.includes("/bench/")
    ? url.slice(url.indexOf("/bench/") + 1)
    : url
  return short === "" ? "" : `${short}:${frame.lineNumber + 1}`
}

const summarize = (profile: Profile, units: number, unitName: string) => {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const self = new Map<number, number>()
  let total = 0
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0
    self.set(id, (self.get(id) ?? 0) + delta)
    total += delta
  })
  const idle = [...self].filter(([id]) => byId.get(id)?.callFrame.functionName === "(idle)")
    .reduce((sum, [, us]) => sum + us, 0)
  const busy = total - idle
  const perUnit = (us: number) => `${(us / units).toFixed(2)} µs/${unitName}`
  const share = (us: number) => `${(us / busy * 100).toFixed(1)}%`

  const functions = new Map<string, number>()
  const areas = new Map<string, number>()
  for (const [id, us] of self) {
    const node = byId.get(id)!
    if (node.callFrame.functionName === "(idle)") continue
    const key = `${node.callFrame.functionName || "(anonymous)"} ${location(node.callFrame)}`
    functions.set(key, (functions.get(key) ?? 0) + us)
    const name = area(node.callFrame)
    areas.set(name, (areas.get(name) ?? 0) + us)
  }
  const print = (title: string, entries: Map<string, number>, limit: number) => {
    process.stdout.write(`\n${title}\n`)
    for (const [key, us] of [...entries].sort((a, b) => b[1] - a[1]).slice(0, limit)) {
      process.stdout.write(`  ${share(us).padStart(6)}  ${perUnit(us).padStart(16)}  ${key}\n`)
    }
  }
  // Inclusive time: each node's self time counts once for every distinct function on its stack.
  const inclusive = new Map<string, number>()
  const keyOf = (node: ProfileNode) => `${node.callFrame.functionName || "(anonymous)"} ${location(node.callFrame)}`
  const onStack = new Map<string, number>()
  const visit = (node: ProfileNode) => {
    const name = keyOf(node)
    onStack.set(name, (onStack.get(name) ?? 0) + 1)
    const us = node.callFrame.functionName === "(idle)" ? 0 : self.get(node.id) ?? 0
    if (us > 0) { for (const key of onStack.keys()) inclusive.set(key, (inclusive.get(key) ?? 0) + us) }
    for (const child of node.children ?? []) visit(byId.get(child)!)
    const count = onStack.get(name)! - 1
    if (count === 0) onStack.delete(name)
    else onStack.set(name, count)
  }
  if (profile.nodes[0] !== undefined) visit(profile.nodes[0])
  process.stdout.write(`busy CPU in the profile: ${(busy / 1000).toFixed(0)} ms = ${perUnit(busy)} (sampled)\n`)
  print("self time by area", areas, 25)
  print("self time by function", functions, 40)
  print("inclusive time by function", inclusive, 60)
}

const main = async () => {
  const mode = process.argv[2] ?? "stream"
  if (mode !== "stream" && mode !== "generate" && mode !== "paced") {
    throw new Error(`usage: profile.ts <stream|generate|paced> [client] [seconds]`)
  }
  const wanted = process.argv[3] ?? "liter-llm (undici)"
  const seconds = Number(process.argv[4] ?? 8)
  const tokens = Number(process.env.BENCH_PROFILE_TOKENS ?? Payloads.TOKENS)
  const server = await startServer({ tokens, paceMs: 4 })
  const clients = makeClients(mode === "paced" ? `${server.url}/paced/v1` : `${server.url}/v1`)
  const client: Client | undefined = clients.find((candidate) => candidate.name.includes(wanted))
  if (client === undefined) throw new Error(`no client matches "${wanted}"`)
  const concurrency = mode === "paced" ? 10 : 1
  const operation = mode === "generate" ? client.generate : client.stream
  const batch = () => Promise.all(Array.from({ length: concurrency }, operation))

  const run = async (ms: number) => {
    let count = 0
    const start = performance.now()
    while (performance.now() - start < ms) {
      await batch()
      count += concurrency
    }
    return count
  }
  process.stderr.write(`warming up ${client.name} (${mode})...\n`)
  await run(mode === "paced" ? 3000 : 4000)

  const session = new Session()
  session.connect()
  await post(session, "Profiler.enable")
  await post(session, "Profiler.setSamplingInterval", { interval: 100 })
  await post(session, "Profiler.start")
  const cpu = process.cpuUsage()
  const count = await run(seconds * 1000)
  const used = process.cpuUsage(cpu)
  const { profile } = await post<{ profile: Profile }>(session, "Profiler.stop")
  session.disconnect()

  const units = mode === "generate" ? count : count * tokens
  const unitName = mode === "generate" ? "call" : "token"
  const dir = Path.join(Os.tmpdir(), "liter-llm-profiles")
  mkdirSync(dir, { recursive: true })
  const file = Path.join(dir, `${mode}-${client.name.replace(/[^a-z0-9]+/gi, "-").replace(/-+$/, "")}.cpuprofile`)
  writeFileSync(file, JSON.stringify(profile))
  process.stdout.write(
    `${client.name}, ${mode}: ${count} operations, process CPU ${
      ((used.user + used.system) / units).toFixed(2)
    } µs/${unitName}, ${((used.user + used.system) / count).toFixed(0)} µs per ${
      mode === "generate" ? "call" : "stream"
    } (profiler overhead included)\nprofile: ${file}\n`
  )
  summarize(profile, units, unitName)
  for (const each of clients) await each.dispose()
  server.close()
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`profile failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
    process.exit(1)
  }
)
