/**
 * A real `redis-server` on a free port of 127.0.0.1, without persistence, for the Redis test suites and the Redis
 * benchmark (so no test runner is imported here). `stop()` and `start()` again on the same port play "Redis went
 * away, then came back".
 */
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import * as Net from "node:net"
import { delimiter, join } from "node:path"

/** Why a suite was skipped. */
export const missingMessage =
  "redis-server not found: install it (apt-get install -y redis-server) to run the Redis suites"

/** The `redis-server` binary on the PATH (or `REDIS_SERVER`), if any. */
export const findBinary = (): string | undefined => {
  const explicit = process.env.REDIS_SERVER
  if (explicit !== undefined && explicit !== "") return existsSync(explicit) ? explicit : undefined
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue
    const candidate = join(dir, "redis-server")
    if (existsSync(candidate)) return candidate
  }
  return undefined
}

const withTimeout = <A>(promise: Promise<A>, millis: number, what: string): Promise<A> =>
  new Promise<A>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${millis} ms: ${what}`)), millis)
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (error) => {
        clearTimeout(timer)
        reject(error)
      }
    )
  })

/** A port the OS says is free on 127.0.0.1 right now. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = Net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as Net.AddressInfo
      server.close(() => resolve(port))
    })
  })

/** One PING over a raw socket: true on `+PONG` (or `-NOAUTH`: the server is up, it wants a password). */
const ping = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    const done = (up: boolean) => {
      socket.destroy()
      resolve(up)
    }
    socket.setTimeout(500, () => done(false))
    socket.once("error", () => done(false))
    socket.once("connect", () => socket.write("PING\r\n"))
    socket.once("data", (data) => done(/^(\+PONG|-NOAUTH)/.test(data.toString())))
  })

const waitForPing = async (port: number, child: ChildProcess, budgetMs: number): Promise<void> => {
  const start = Date.now()
  while (Date.now() - start < budgetMs) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`redis-server on port ${port} exited (${child.exitCode ?? child.signalCode}) before answering`)
    }
    if (await ping(port)) return
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  throw new Error(`redis-server on port ${port} did not answer PING within ${budgetMs} ms`)
}

const waitForExit = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once("exit", () => resolve()))

/** A redis-server this process started. */
export interface RedisServer {
  /** The port, fixed for the server's life (also across `stop()` / `start()`). */
  readonly port: number
  /** `redis://127.0.0.1:<port>` (with the password, when the server requires one). */
  readonly url: string
  /** Starts it (again) on the same port and waits until it answers PING. */
  readonly start: () => Promise<void>
  /** Kills it (SIGKILL, as a crash would) and waits for it to exit. */
  readonly stop: () => Promise<void>
  readonly running: () => boolean
}

/** Starts a server (bounded: it answers PING within 10 s or this fails). */

// The servers to kill if the run ends abruptly: one `exit` listener for all of them (one each passed Node's
// limit of 10 listeners in a file that starts many).
const killOnExit = new Set<() => void>()

export const startServer = async (
  options: { readonly binary?: string; readonly password?: string } = {}
): Promise<RedisServer> => {
  const binary = options.binary ?? findBinary()
  if (binary === undefined) throw new Error(missingMessage)
  const port = await freePort()
  let child: ChildProcess | undefined
  const kill = () => child?.kill("SIGKILL")
  const start = async () => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) return
    const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    if (options.password !== undefined) args.push("--requirepass", options.password)
    const started = spawn(binary, [...args, "--loglevel", "warning"], { stdio: "ignore" })
    child = started
    try {
      await waitForPing(port, started, 10_000)
    } catch (error) {
      started.kill("SIGKILL")
      throw error
    }
  }
  const stop = async () => {
    const current = child
    if (current === undefined) return
    current.kill("SIGKILL")
    await withTimeout(waitForExit(current), 10_000, `redis-server on port ${port} to exit`)
  }
  // A test run that ends abruptly must not leave a server behind.
  killOnExit.add(kill)
  if (killOnExit.size === 1) process.once("exit", () => killOnExit.forEach((killServer) => killServer()))
  await start()
  const auth = options.password === undefined ? "" : `:${encodeURIComponent(options.password)}@`
  return {
    port,
    url: `redis://${auth}127.0.0.1:${port}`,
    start,
    stop,
    running: () => child !== undefined && child.exitCode === null && child.signalCode === null
  }
}
