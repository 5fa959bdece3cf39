/**
 * The mock provider of the benchmark, meant to run in its own process (`startServer` forks it) so its CPU is
 * not counted against the clients.
 *
 * Routes (POST only):
 * - `/v1/chat/completions`: `stream: true` gives `TOKENS` chunks of the OpenAI chunk format then `data: [DONE]`,
 *   otherwise a `chat.completion` JSON body;
 * - `/v1/responses`: the same answer in the Responses API format (streamed or not).
 *
 * Under `/v1/...` a streamed body is written in a few 16 KiB writes, so the client sees few, large reads and
 * the network pacing is not measured. Under `/paced/v1/...` every SSE event is written on its own after a
 * pause of `BENCH_PACE_MS`, as a model generating tokens would: each event then arrives in its own read.
 */
import { fork } from "node:child_process"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { fileURLToPath } from "node:url"
import * as Payloads from "./payloads.js"

const PIECE = 16 * 1024

const streamHeaders = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  "x-request-id": "req_bench",
  "openai-processing-ms": "120"
}

const jsonHeaders = (body: Buffer) => ({
  "content-type": "application/json",
  "content-length": String(body.length),
  "x-request-id": "req_bench",
  "openai-processing-ms": "120"
})

interface Answer {
  readonly events: ReadonlyArray<Buffer>
  readonly pieces: ReadonlyArray<Buffer>
  readonly json: Buffer
}

const answer = (events: ReadonlyArray<string>, json: string): Answer => {
  const whole = Buffer.from(events.join(""), "utf-8")
  const pieces: Array<Buffer> = []
  for (let offset = 0; offset < whole.length; offset += PIECE) pieces.push(whole.subarray(offset, offset + PIECE))
  return { events: events.map((event) => Buffer.from(event, "utf-8")), pieces, json: Buffer.from(json, "utf-8") }
}

const readBody = (req: Http.IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const parts: Array<Buffer> = []
    req.on("data", (part: Buffer) => parts.push(part))
    req.on("end", () => resolve(Buffer.concat(parts).toString("utf-8")))
    req.on("error", reject)
  })

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const fail = (res: Http.ServerResponse, status: number, message: string) => {
  const body = Buffer.from(JSON.stringify({ error: { message, type: "invalid_request_error", code: null } }))
  res.writeHead(status, jsonHeaders(body)).end(body)
}

/** Starts the server on 127.0.0.1 with a free port. */
export const listen = (options: { readonly tokens: number; readonly paceMs: number }): Promise<Http.Server> => {
  const chat = answer(Payloads.chatStreamEvents(options.tokens), Payloads.chatCompletionBody(options.tokens))
  const responses = answer(Payloads.responsesStreamEvents(options.tokens), Payloads.responseBody(options.tokens))

  const handle = async (req: Http.IncomingMessage, res: Http.ServerResponse) => {
    const url = req.url ?? "/"
    const paced = url.startsWith("/paced/")
    const path = paced ? url.slice("/paced".length) : url
    const route = path === "/v1/chat/completions" ? chat : path === "/v1/responses" ? responses : undefined
    if (req.method !== "POST" || route === undefined) return fail(res, 404, `no route ${req.method} ${url}`)
    let body: Record<string, unknown>
    try {
      body = JSON.parse(await readBody(req)) as Record<string, unknown>
    } catch {
      return fail(res, 400, "the request body is not JSON")
    }
    const input = route === chat ? body.messages : body.input
    if (typeof body.model !== "string" || !Array.isArray(input) || input.length === 0) {
      return fail(res, 400, "the request needs `model` and non-empty `messages` / `input`")
    }
    if (body.stream !== true) {
      res.writeHead(200, jsonHeaders(route.json)).end(route.json)
      return
    }
    res.writeHead(200, streamHeaders)
    if (paced) {
      res.flushHeaders()
      for (const event of route.events) {
        await sleep(options.paceMs)
        if (res.destroyed) return
        res.write(event)
      }
    } else {
      for (const piece of route.pieces) res.write(piece)
    }
    res.end()
  }

  const server = Http.createServer({ keepAliveTimeout: 60_000, noDelay: true }, (req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) fail(res, 500, String(error))
      else res.destroy()
    })
  })
  return new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => resolve(server))
  })
}

/** Messages from the server process to its parent. */
type Message = { readonly type: "ready"; readonly port: number } | { readonly type: "error"; readonly message: string }

/** A running server process. */
export interface ServerProcess {
  readonly url: string
  readonly close: () => void
}

// Profiling or debugging flags of the parent are not passed on to the server.
const inheritedExecArgv = () => process.execArgv.filter((flag) => !/^--(cpu-prof|heap-prof|prof|inspect)/.test(flag))

/**
 * Forks this file as the server process (with the parent's TypeScript loader) and waits for its port. `close`
 * (also run when the parent exits) kills it, and it exits by itself when its IPC channel to the parent closes,
 * so it never outlives the benchmark.
 */
export const startServer = (options: { readonly tokens: number; readonly paceMs: number }): Promise<ServerProcess> =>
  new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ["--serve", String(options.tokens), String(options.paceMs)], {
      execArgv: inheritedExecArgv(),
      stdio: ["ignore", "inherit", "inherit", "ipc"]
    })
    let closing = false
    const close = () => {
      closing = true
      if (child.exitCode === null && child.signalCode === null) child.kill()
    }
    process.once("exit", close)
    const timer = setTimeout(() => {
      close()
      reject(new Error("the mock server did not start within 30 s"))
    }, 30_000)
    child.once("exit", (code, signal) => {
      clearTimeout(timer)
      if (closing) return
      const error = new Error(`the mock server exited unexpectedly (code ${code}, signal ${signal})`)
      reject(error)
      // Once started, a dead server would only make every client fail: stop here with a clear message.
      process.stderr.write(`bench: ${error.message}\n`)
      process.exit(1)
    })
    child.once("message", (message: Message) => {
      clearTimeout(timer)
      if (message.type === "error") {
        close()
        reject(new Error(`the mock server failed: ${message.message}`))
        return
      }
      // Keep the channel (the server watches it) without letting it hold the parent's event loop open.
      child.channel?.unref()
      child.unref()
      resolve({ url: `http://127.0.0.1:${message.port}`, close })
    })
  })

// The server process itself.
if (process.argv[2] === "--serve" && process.send !== undefined) {
  const send = process.send.bind(process)
  process.once("disconnect", () => process.exit(0))
  listen({ tokens: Number(process.argv[3]), paceMs: Number(process.argv[4]) }).then(
    (server) => send({ type: "ready", port: (server.address() as AddressInfo).port } satisfies Message),
    (error: unknown) => {
      send({ type: "error", message: String(error) } satisfies Message, undefined, undefined, () => process.exit(1))
    }
  )
}
