/**
 * Effect operations and fibers per request of the gateway, counted in this process with a `Supervisor` that
 * sees every operation of the server's fibers (`RuntimeFlags.OpSupervision`). Unlike CPU time, the counts do
 * not depend on what else the machine is doing: a change that removes work on the hot path shows here even on
 * a loaded machine, where the throughput figures are noise. Counted over 100 requests after 20 of warm-up, one
 * at a time, for each config file of the scenario (JSON and a 50-token stream).
 */
import { NodeContext } from "@effect/platform-node"
import * as HttpServer from "@effect/platform/HttpServer"
import { Context, Effect, Layer, Logger, LogLevel, RuntimeFlags, Supervisor } from "effect"
import { request } from "undici"
import { makeRef, Server } from "../../src/gateway/index.js"
import * as Payloads from "../payloads.js"
import type { Mode } from "./load.js"

class Counter extends Supervisor.AbstractSupervisor<void> {
  ops = 0
  fibers = 0
  get value() {
    return Effect.void
  }
  override onStart() {
    this.fibers++
  }
  override onEffect() {
    this.ops++
  }
}

/** Per request: Effect operations and fibers started. */
export interface OpCount {
  readonly ops: number
  readonly fibers: number
}

const WARMUP = 20
const COUNTED = 100

/** Serves `config` in this process and counts each mode's operations per request through `key`. */
export const countOps = async (
  config: string,
  key: string,
  modes: ReadonlyArray<Mode>
): Promise<Map<Mode, OpCount>> => {
  const counter = new Counter()
  let resolve: (port: number) => void = () => {}
  let reject: (error: Error) => void = () => {}
  const started = new Promise<number>((ok, fail) => {
    resolve = ok
    reject = fail
  })
  const fiber = Effect.runFork(
    Effect.gen(function*() {
      const runtime = yield* makeRef(config)
      const context = yield* Layer.build(Server.layer({ runtime, host: "127.0.0.1", port: 0 }))
      const address = Context.get(context, HttpServer.HttpServer).address
      resolve(address._tag === "TcpAddress" ? address.port : 0)
      return yield* Effect.never
    }).pipe(
      Effect.scoped,
      Effect.provide(NodeContext.layer),
      Logger.withMinimumLogLevel(LogLevel.None),
      Effect.supervised(counter),
      Effect.provide(RuntimeFlags.enableOpSupervision),
      Effect.tapErrorCause((cause) => Effect.sync(() => reject(new Error(String(cause)))))
    )
  )
  const port = await started
  // Ready once its stores answer (a Redis connection is made in the background).
  for (let tries = 0;; tries++) {
    const ready = await request(`http://127.0.0.1:${port}/ready`)
    await ready.body.dump()
    if (ready.statusCode === 200) break
    if (tries === 100) throw new Error("the gateway did not become ready within 5 s")
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  let sent = 0
  const call = async (mode: Mode) => {
    const answer = await request(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({
        model: Payloads.MODEL,
        stream: mode === "stream",
        messages: [{ role: "user", content: `${Payloads.USER_PROMPT} #${sent++}` }]
      })
    })
    const text = await answer.body.text()
    if (answer.statusCode !== 200) throw new Error(`${answer.statusCode}: ${text.slice(0, 200)}`)
  }
  // The request's finalizers (log line, metrics) run after the answer is written: let them finish.
  const settle = () => new Promise((resolve) => setTimeout(resolve, 50))
  const counts = new Map<Mode, OpCount>()
  try {
    for (const mode of modes) {
      for (let i = 0; i < WARMUP; i++) await call(mode)
      await settle()
      const before = { ops: counter.ops, fibers: counter.fibers }
      for (let i = 0; i < COUNTED; i++) await call(mode)
      await settle()
      counts.set(mode, {
        ops: (counter.ops - before.ops) / COUNTED,
        fibers: (counter.fibers - before.fibers) / COUNTED
      })
    }
  } finally {
    await Effect.runPromise(fiber.interruptAsFork(fiber.id()).pipe(Effect.zipRight(fiber.await)))
  }
  return counts
}
