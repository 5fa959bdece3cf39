/**
 * The servers compared by the gateway benchmark each run in their own process (forked from `main.ts` with the
 * parent's TypeScript loader), so their CPU and memory are theirs alone: the parent asks for them over the IPC
 * channel (`process.cpuUsage`, `process.memoryUsage` after a forced GC).
 */
import { fork } from "node:child_process"
import { fileURLToPath } from "node:url"
import { inheritedExecArgv } from "../server.js"

/** What each peer process runs. */
export type PeerKind = "passthrough" | "effectPassthrough" | "gateway" | "portkey"

/** A peer process's CPU time (µs, user + system, since it started) and memory (bytes). */
export interface PeerStats {
  readonly cpuUs: number
  readonly heapUsed: number
  readonly rss: number
}

/** Messages from a peer process. */
export type PeerMessage =
  | { readonly type: "ready"; readonly port: number }
  | { readonly type: "error"; readonly message: string }
  | { readonly type: "stats"; readonly id: number; readonly stats: PeerStats }

/** Messages to a peer process. */
export type PeerCommand = { readonly type: "stats"; readonly id: number; readonly gc: boolean }

/** A running peer process. */
export interface Peer {
  readonly url: string
  readonly pid: number
  /** Its CPU and memory now; `gc` first runs a full GC so the heap figure is what is held. */
  readonly stats: (gc?: boolean) => Promise<PeerStats>
  /** Ends it (SIGTERM, or SIGKILL after 5 s); resolves when it has exited. */
  readonly close: () => Promise<void>
}

const entry = fileURLToPath(new URL("./main.js", import.meta.url))

/**
 * Forks a peer and waits (at most 60 s) for its port. `options` are passed to the peer as JSON; `execArgv`
 * adds Node flags (e.g. `--cpu-prof`). The peer exits by itself when its parent goes away.
 */
export const startPeer = (
  kind: PeerKind,
  options: Record<string, unknown>,
  extra: { readonly env?: Record<string, string>; readonly execArgv?: ReadonlyArray<string> } = {}
): Promise<Peer> =>
  new Promise((resolve, reject) => {
    const child = fork(entry, [kind, JSON.stringify(options)], {
      execArgv: [...inheritedExecArgv(), "--expose-gc", ...(extra.execArgv ?? [])],
      env: { ...process.env, ...extra.env },
      // The peers' own output (Portkey's banner, the gateway's request log) is not the benchmark's.
      stdio: ["ignore", "ignore", "inherit", "ipc"]
    })
    const exited = new Promise<void>((done) => child.once("exit", () => done()))
    const kill = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill()
    }
    process.once("exit", kill)
    const close = async () => {
      kill()
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000)
      await exited
      clearTimeout(timer)
    }
    const timer = setTimeout(() => {
      kill()
      reject(new Error(`the ${kind} process did not start within 60 s`))
    }, 60_000)
    child.once("exit", (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`the ${kind} process exited (code ${code}, signal ${signal})`))
    })
    let nextId = 0
    const stats = (gc = false) =>
      new Promise<PeerStats>((resolveStats, rejectStats) => {
        const id = ++nextId
        const onMessage = (message: PeerMessage) => {
          if (message.type !== "stats" || message.id !== id) return
          child.off("message", onMessage)
          resolveStats(message.stats)
        }
        child.on("message", onMessage)
        child.send({ type: "stats", id, gc } satisfies PeerCommand, (error) => error && rejectStats(error))
      })
    child.once("message", (message: PeerMessage) => {
      clearTimeout(timer)
      if (message.type !== "ready") {
        kill()
        reject(new Error(`the ${kind} process failed: ${message.type === "error" ? message.message : "no port"}`))
        return
      }
      resolve({ url: `http://127.0.0.1:${message.port}`, pid: child.pid!, stats, close })
    })
  })
