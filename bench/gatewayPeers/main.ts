/**
 * The entry of a peer process of the gateway benchmark (see `process.ts`): `main.ts <kind> <options as JSON>`
 * starts that server on 127.0.0.1, sends its port, then answers the parent's requests for its CPU and memory.
 */
import type { PeerCommand, PeerKind, PeerMessage } from "./process.js"

type Start = (options: Record<string, unknown>) => Promise<number>

const starts: Record<PeerKind, () => Promise<Start>> = {
  passthrough: () => import("./passthrough.js").then((module) => module.start),
  effectPassthrough: () => import("./effectPassthrough.js").then((module) => module.start),
  gateway: () => import("./liter.js").then((module) => module.start),
  portkey: () => import("./portkey.js").then((module) => module.start)
}

const send = (message: PeerMessage) => process.send?.(message)

const main = async () => {
  const kind = process.argv[2] as PeerKind
  const load = starts[kind]
  if (load === undefined) throw new Error(`unknown peer "${kind}"`)
  const port = await (await load())(JSON.parse(process.argv[3] ?? "{}") as Record<string, unknown>)
  process.on("message", (command: PeerCommand) => {
    if (command.type !== "stats") return
    if (command.gc) (globalThis as { gc?: () => void }).gc?.()
    const cpu = process.cpuUsage()
    const memory = process.memoryUsage()
    send({
      type: "stats",
      id: command.id,
      stats: { cpuUs: cpu.user + cpu.system, heapUsed: memory.heapUsed, rss: memory.rss }
    })
  })
  send({ type: "ready", port })
}

if (process.send !== undefined) {
  process.once("disconnect", () => process.exit(0))
  // An orderly exit, so a `--cpu-prof` profile is written.
  process.once("SIGTERM", () => process.exit(0))
  main().catch((error: unknown) => {
    process.send!({ type: "error", message: error instanceof Error ? error.stack ?? error.message : String(error) })
    process.exit(1)
  })
}
