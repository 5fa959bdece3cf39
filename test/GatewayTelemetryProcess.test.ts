/**
 * The `liter-llm` executable in a process of its own, exporting spans as the `OTEL_*` variables say: SIGTERM
 * drains it and the spans of its last requests still reach the collector before it exits. Its start (loading
 * the price data and the tokenizer) takes seconds, more on a busy machine: bounds are wide.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { configFile, freePort, yamlConfig } from "./clients/gateway.js"
import { call, chatBody } from "./support/gateway.js"
import { acme, env } from "./support/gatewayConfig.js"
import { eventually } from "./support/loopback.js"
import { receiver, spansOf } from "./support/otlp.js"
import { program } from "./support/programs.js"

/** The CLI serving `file` on `port`, killed with the scope (and after 90 s); `exited` resolves with its code. */
const cli = (file: string, port: number, vars: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child = spawn(
        process.execPath,
        [program("src/gateway/bin.ts"), "gateway", "--config", file, "--port", String(port)],
        { env: { ...process.env, ...vars }, cwd: process.cwd(), stdio: ["ignore", "pipe", "pipe"] }
      )
      let stderr = ""
      let stdout = ""
      child.stderr.on("data", (data: Buffer) => stderr += data.toString())
      child.stdout.on("data", (data: Buffer) => stdout += data.toString())
      const timer = setTimeout(() => child.kill("SIGKILL"), 90_000)
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
      return { child, timer, exited, stderr: () => stderr, stdout: () => stdout }
    }),
    ({ child, timer }) =>
      Effect.sync(() => {
        clearTimeout(timer)
        child.kill("SIGKILL")
      })
  )

describe("Gateway telemetry: the CLI process", () => {
  it.scopedLive(
    "OTEL_EXPORTER_OTLP_ENDPOINT: the spans reach the collector when SIGTERM stops the CLI, which logs its shutdown",
    () =>
      Effect.gen(function*() {
        const collector = yield* receiver
        const a = yield* MockProvider.make({ script: [OpenAiMock.completion({ text: "Paris" })] })
        const b = yield* MockProvider.make()
        const file = yield* configFile(yamlConfig(a, b))
        const port = yield* freePort
        const gateway = yield* cli(file, port, {
          ...Object.fromEntries(env),
          OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
          OTEL_SERVICE_NAME: "gateway-process",
          OTEL_SDK_DISABLED: "",
          OTEL_TRACES_EXPORTER: ""
        })
        const base = `http://127.0.0.1:${port}`
        yield* eventually(
          Effect.promise(() => fetch(`${base}/ready`).then((response) => response.ok, () => false)),
          "the gateway ready",
          60_000
        )
        const response = yield* call(base, "/v1/chat/completions", {
          method: "POST",
          body: chatBody("smart"),
          key: acme.key
        })
        expect(response.status).toBe(200)
        gateway.child.kill("SIGTERM")
        const code = yield* Effect.promise(() => gateway.exited)
        expect(code, gateway.stderr()).toBe(0)
        // The shutdown is logged, as a JSON line, with the requests still in flight.
        const shutdown = gateway.stdout().split("\n").filter((line) => line.includes("gateway: shutting down"))
        expect(shutdown.map((line) => JSON.parse(line).annotations.inFlight)).toEqual([0])
        const spans = spansOf(
          collector.received.filter((request) => request.path === "/v1/traces").map((request) => request.body)
        )
        const server = spans.find((span) => span.name === "gateway.chat.completions")
        expect(server?.service).toBe("gateway-process")
        expect(server?.attributes["liter_llm.tenant"]).toBe("acme")
        expect(spans.some((span) => span.name === "chat model-a" && span.traceId === server?.traceId)).toBe(true)
      }),
    { timeout: 90_000 }
  )
})
