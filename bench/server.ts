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
 *
 * Under `/shape/v1/...` the answer follows the server's current {@link Shape}, set by the parent over the IPC
 * channel (`ServerProcess.shape`) so the same clients and connections serve every length and mode of the
 * shape scenario (`bench/shape.ts`): `burst` writes the whole body at once, `paced` writes one event per tick
 * of a shared timer (every open stream gets its next event on the same tick), `hold` writes the events up to
 * the first content token and then keeps the response open until the client goes away.
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

/** How `/shape/v1/...` answers: the number of tokens and how the body is written. */
export interface Shape {
  readonly tokens: number
  readonly mode: "burst" | "paced" | "hold"
  /** Between two events of a `paced` body. */
  readonly paceMs: number
}

/**
 * Events written before a `hold` waits: through the first content token (role chunk + first delta for chat;
 * created, in_progress, output_item.added, content_part.added + first delta for the Responses API), since a
 * client with a commit point shows nothing before it.
 */
const HOLD_HEAD = { chat: 2, responses: 5 } as const

/** How `/shape/v1/...` answers now (set by the parent). */
let currentShape: Shape = { tokens: 1, mode: "burst", paceMs: 1 }

/** One timer for every paced stream of a given pace: each tick writes the next event of every stream. */
const makeTicker = () => {
  const streams = new Map<number, Set<() => boolean>>()
  const timers = new Map<number, NodeJS.Timeout>()
  return (paceMs: number, next: () => boolean) => {
    let set = streams.get(paceMs)
    if (set === undefined) {
      const created = new Set<() => boolean>()
      set = created
      streams.set(paceMs, created)
      timers.set(
        paceMs,
        setInterval(() => {
          for (const write of created) if (!write()) created.delete(write)
          if (created.size === 0) {
            clearInterval(timers.get(paceMs))
            timers.delete(paceMs)
            streams.delete(paceMs)
          }
        }, paceMs)
      )
    }
    set.add(next)
  }
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
  // The answers of the shape route, by number of tokens.
  const shaped = new Map<number, { readonly chat: Answer; readonly responses: Answer }>()
  const shapedAnswers = (tokens: number) => {
    let answers = shaped.get(tokens)
    if (answers === undefined) {
      answers = {
        chat: answer(Payloads.chatStreamEvents(tokens), Payloads.chatCompletionBody(tokens)),
        responses: answer(Payloads.responsesStreamEvents(tokens), Payloads.responseBody(tokens))
      }
      shaped.set(tokens, answers)
    }
    return answers
  }
  const tick = makeTicker()

  const handleShape = (path: string, body: Record<string, unknown>, res: Http.ServerResponse) => {
    const shape = currentShape
    const answers = shapedAnswers(shape.tokens)
    const isChat = path === "/v1/chat/completions"
    const route = isChat ? answers.chat : answers.responses
    if (body.stream !== true) {
      res.writeHead(200, jsonHeaders(route.json)).end(route.json)
      return
    }
    res.writeHead(200, streamHeaders)
    if (shape.mode === "burst") {
      for (const piece of route.pieces) res.write(piece)
      res.end()
    } else if (shape.mode === "hold") {
      const head = HOLD_HEAD[isChat ? "chat" : "responses"]
      res.write(Buffer.concat(route.events.slice(0, head)))
      // Released when the client goes away; ended anyway after a minute.
      const timer = setTimeout(() => res.end(), 60_000)
      res.once("close", () => clearTimeout(timer))
    } else {
      res.flushHeaders()
      let next = 0
      tick(shape.paceMs, () => {
        if (res.destroyed) return false
        res.write(route.events[next++]!)
        if (next < route.events.length) return true
        res.end()
        return false
      })
    }
  }

  const handle = async (req: Http.IncomingMessage, res: Http.ServerResponse) => {
    const url = req.url ?? "/"
    const shapeRoute = url.startsWith("/shape/")
    const paced = url.startsWith("/paced/")
    const path = paced ? url.slice("/paced".length) : shapeRoute ? url.slice("/shape".length) : url
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
    if (shapeRoute) return handleShape(path, body, res)
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
type Message =
  | { readonly type: "ready"; readonly port: number }
  | { readonly type: "error"; readonly message: string }
  | { readonly type: "shape-set"; readonly id: number }

/** Messages from the parent to the server process. */
type Command = { readonly type: "shape"; readonly id: number; readonly shape: Shape }

/** A running server process. */
export interface ServerProcess {
  readonly url: string
  readonly close: () => void
  /** Sets how `/shape/v1/...` answers from now on; resolves once the server has it. */
  readonly shape: (shape: Shape) => Promise<void>
}

// Profiling or debugging flags of the parent are not passed on to the server.
export const inheritedExecArgv = () =>
  process.execArgv.filter((flag) => !/^--(cpu-prof|heap-prof|prof|inspect)/.test(flag))

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
      if (message.type !== "ready") {
        close()
        reject(new Error(`the mock server failed: ${message.type === "error" ? message.message : "no ready message"}`))
        return
      }
      // Keep the channel (the server watches it) without letting it hold the parent's event loop open.
      child.channel?.unref()
      child.unref()
      let nextId = 0
      const shape = (value: Shape) =>
        new Promise<void>((resolveShape) => {
          const id = ++nextId
          // Held open while an answer is awaited, so the parent does not exit with the promise pending.
          child.channel?.ref()
          const onMessage = (reply: Message) => {
            if (reply.type !== "shape-set" || reply.id !== id) return
            child.off("message", onMessage)
            child.channel?.unref()
            resolveShape()
          }
          child.on("message", onMessage)
          child.send({ type: "shape", id, shape: value } satisfies Command)
        })
      resolve({ url: `http://127.0.0.1:${message.port}`, close, shape })
    })
  })

// The server process itself.
if (process.argv[2] === "--serve" && process.send !== undefined) {
  const send = process.send.bind(process)
  process.once("disconnect", () => process.exit(0))
  process.on("message", (command: Command) => {
    if (command.type !== "shape") return
    currentShape = command.shape
    send({ type: "shape-set", id: command.id } satisfies Message)
  })
  listen({ tokens: Number(process.argv[3]), paceMs: Number(process.argv[4]) }).then(
    (server) => send({ type: "ready", port: (server.address() as AddressInfo).port } satisfies Message),
    (error: unknown) => {
      send({ type: "error", message: String(error) } satisfies Message, undefined, undefined, () => process.exit(1))
    }
  )
}
