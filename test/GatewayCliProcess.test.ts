/**
 * The `liter-llm` executable's signals, where Node's defaults would stop it at the wrong moment:
 *
 * - a SIGHUP while it starts (a deploy script reloading right after a restart): the command holds it from its
 *   first step and reloads the file once it serves. A module hook sends the signal at a known moment of the
 *   start: when the command first imports Effect (its first dependency), long before it reads its config or
 *   listens;
 * - a SIGINT delivered twice (Ctrl-C under `npm run`: from the terminal, and again from npm): one stop, which
 *   drains; a later one stops the process at once;
 * - standard output closed under it (EPIPE): it serves on.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { configFile, freePort, yamlConfig } from "./clients/gateway.js"
import { call, chatBody } from "./support/gateway.js"
import { acme, env } from "./support/gatewayConfig.js"
import { eventually } from "./support/loopback.js"
import { program } from "./support/programs.js"

const bin = fileURLToPath(new URL("../src/gateway/bin.ts", import.meta.url))

// The hooks run on a thread of their own: the resolve hook tells the main thread, which signals its process.
const hangupOnImport = `import { register } from "node:module"
import { MessageChannel } from "node:worker_threads"
const { port1, port2 } = new MessageChannel()
port1.once("message", () => {
  process.kill(process.pid, "SIGHUP")
  port1.close()
})
port1.unref()
register("data:text/javascript," + encodeURIComponent(\`let port
let sent = false
export async function initialize(data) { port = data.port }
export async function resolve(specifier, context, next) {
  if (!sent && (specifier.startsWith("effect") || specifier.startsWith("@effect/"))) {
    sent = true
    port.postMessage("hangup")
  }
  return next(specifier, context)
}\`), { data: { port: port2 }, transferList: [port2] })
`

/**
 * `liter-llm gateway --config <config> --port <port>`, killed with the scope: its bundle, or, with `nodeOptions`
 * (a module hook), its sources through tsx, loaded module by module as the installed package's are.
 */
const gateway = (config: string, port: number, nodeOptions: ReadonlyArray<string> = []) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child = spawn(
        process.execPath,
        [
          ...(nodeOptions.length === 0 ? [program("src/gateway/bin.ts")] : ["--import", "tsx", ...nodeOptions, bin]),
          "gateway",
          "--config",
          config,
          "--port",
          String(port)
        ],
        { env: { ...process.env, ...Object.fromEntries(env) }, stdio: ["ignore", "pipe", "pipe"], timeout: 90_000 }
      )
      let output = ""
      child.stdout.on("data", (data: Buffer) => output += data.toString())
      child.stderr.on("data", (data: Buffer) => output += data.toString())
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
      return { child, exited, output: () => output }
    }),
    ({ child }) => Effect.sync(() => child.kill("SIGKILL"))
  )

/** Waits until the gateway on `port` is ready (its start takes seconds on a busy machine); its base URL. */
const readyAt = (port: number) =>
  Effect.as(
    eventually(
      Effect.promise(() => fetch(`http://127.0.0.1:${port}/ready`).then((response) => response.ok, () => false)),
      "the gateway ready",
      60_000
    ),
    `http://127.0.0.1:${port}`
  )

const stillRunning = (child: ChildProcess) => child.exitCode === null && child.signalCode === null

describe("the liter-llm executable's process", () => {
  it.scopedLive(
    "a SIGHUP while it starts does not end the process: the file is loaded again once it serves",
    () =>
      Effect.gen(function*() {
        const a = yield* MockProvider.make()
        const b = yield* MockProvider.make()
        const config = yield* configFile(yamlConfig(a, b))
        const hook = Path.join(Path.dirname(config), "hangup.mjs")
        Fs.writeFileSync(hook, hangupOnImport)
        const port = yield* freePort
        const { child, output } = yield* gateway(config, port, ["--import", hook])
        yield* eventually(
          Effect.sync(() => output().includes("gateway: config reloaded") || !stillRunning(child)),
          "the reload logged, or the process ended",
          60_000
        )
        expect(stillRunning(child), output()).toBe(true)
        const ready = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/ready`))
        expect(ready.status).toBe(200)
        expect(output().split("\n").filter((line) => line.includes("gateway: config reloaded"))).toHaveLength(1)
      }),
    { timeout: 90_000 }
  )

  it.scopedLive(
    "a SIGINT delivered twice is one stop, which drains; a later one stops the process at once",
    () =>
      Effect.gen(function*() {
        // A stream of 12 tokens, one every 200 ms: in flight through the signals.
        const deltas = Array.from({ length: 12 }, (_, i) => `t${i} `)
        const a = yield* MockProvider.make({
          script: [OpenAiMock.stream({ deltas }, { chunkDelay: "200 millis" })]
        })
        const b = yield* MockProvider.make()
        const config = yield* configFile(yamlConfig(a, b))
        const port = yield* freePort
        const { child, exited, output } = yield* gateway(config, port)
        const base = yield* readyAt(port)
        const stream = yield* call(base, "/v1/chat/completions", {
          method: "POST",
          body: chatBody("smart", { stream: true }),
          key: acme.key
        })
        expect(stream.status).toBe(200)
        const text = yield* Effect.fork(
          Effect.promise(() => stream.text().catch((error: unknown) => `cut: ${String(error)}`))
        )
        child.kill("SIGINT")
        yield* eventually(Effect.sync(() => output().includes("gateway: shutting down")), "the shutdown logged")
        // The same Ctrl-C, forwarded: ignored, the stream goes on.
        child.kill("SIGINT")
        yield* Effect.sleep("500 millis")
        expect(stillRunning(child), output()).toBe(true)
        // A second stop, past the echo: at once, the stream cut.
        yield* Effect.sleep("600 millis")
        child.kill("SIGINT")
        yield* Effect.promise(() => exited)
        expect(child.exitCode, output()).toBe(130)
        expect(yield* Fiber.join(text)).not.toContain("[DONE]")
      }),
    { timeout: 90_000 }
  )

  it.scopedLive(
    "standard output closed under it (a log pipe gone): it serves on and stops as usual, its log lines dropped",
    () =>
      Effect.gen(function*() {
        const paris = OpenAiMock.completion({ text: "Paris" })
        const a = yield* MockProvider.make({ script: [paris, paris, paris] })
        const b = yield* MockProvider.make()
        const config = yield* configFile(yamlConfig(a, b))
        const port = yield* freePort
        const { child, exited, output } = yield* gateway(config, port)
        const base = yield* readyAt(port)
        child.stdout!.destroy()
        for (let i = 0; i < 3; i++) {
          const answer = yield* call(base, "/v1/chat/completions", {
            method: "POST",
            body: chatBody("smart"),
            key: acme.key
          })
          expect(answer.status).toBe(200)
          // Past the logger's 20 ms batch: its write meets the closed pipe.
          yield* Effect.sleep("50 millis")
        }
        expect(stillRunning(child), output()).toBe(true)
        // And it stops as usual, its last lines dropped, not an unhandled EPIPE.
        child.kill("SIGTERM")
        yield* Effect.promise(() => exited)
        expect(child.exitCode, output()).toBe(0)
      }),
    { timeout: 90_000 }
  )
})
