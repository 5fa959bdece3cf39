/**
 * The `liter-llm` executable sent a SIGHUP while it starts (a deploy script reloading right after a restart):
 * Node's default for the signal ends the process, so the command holds it from its first step and reloads the
 * file once it serves. A module hook sends the signal at a known moment of the start: when the command imports
 * `@effect/platform-node`, long before it reads its config or listens.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import * as MockProvider from "../src/testing/MockProvider.js"
import { configFile, freePort, yamlConfig } from "./clients/gateway.js"
import { env } from "./support/gatewayConfig.js"
import { eventually } from "./support/loopback.js"

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
  if (!sent && specifier.startsWith("@effect/platform-node")) {
    sent = true
    port.postMessage("hangup")
  }
  return next(specifier, context)
}\`), { data: { port: port2 }, transferList: [port2] })
`

describe("the liter-llm executable: a SIGHUP while it starts", () => {
  it.scopedLive(
    "does not end the process: the file is loaded again once the gateway serves",
    () =>
      Effect.gen(function*() {
        const a = yield* MockProvider.make()
        const b = yield* MockProvider.make()
        const config = yield* configFile(yamlConfig(a, b))
        const hook = Path.join(Path.dirname(config), "hangup.mjs")
        Fs.writeFileSync(hook, hangupOnImport)
        const port = yield* freePort
        const child = yield* Effect.acquireRelease(
          Effect.sync(() =>
            spawn(
              process.execPath,
              ["--import", "tsx", "--import", hook, bin, "gateway", "--config", config, "--port", String(port)],
              {
                env: { ...process.env, ...Object.fromEntries(env) },
                stdio: ["ignore", "pipe", "pipe"],
                timeout: 90_000
              }
            )
          ),
          (child) => Effect.sync(() => child.kill("SIGKILL"))
        )
        let output = ""
        child.stdout.on("data", (data: Buffer) => output += data.toString())
        child.stderr.on("data", (data: Buffer) => output += data.toString())
        yield* eventually(
          Effect.sync(() =>
            output.includes("gateway: config reloaded") || child.exitCode !== null || child.signalCode !== null
          ),
          "the reload logged, or the process ended",
          60_000
        )
        expect(child.signalCode, output).toBeNull()
        expect(child.exitCode, output).toBeNull()
        const ready = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/ready`))
        expect(ready.status).toBe(200)
        expect(output.split("\n").filter((line) => line.includes("gateway: config reloaded"))).toHaveLength(1)
      }),
    { timeout: 90_000 }
  )
})
