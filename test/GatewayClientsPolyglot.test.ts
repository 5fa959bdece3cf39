/**
 * Clients in other languages against a gateway served from a YAML config as the CLI serves it: Python with its
 * standard library only, and `curl`. Each is skipped, with a message, on a machine without it.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFile, spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { servedFile, yamlConfig } from "./clients/gateway.js"
import { sseEvents } from "./support/gateway.js"
import { acme, globex } from "./support/gatewayConfig.js"

const available = (command: string) => {
  const found = spawnSync(command, ["--version"], { stdio: "ignore" }).status === 0
  if (!found) console.warn(`${command} is not installed: its gateway client tests are skipped`)
  return found
}

/** Runs a command (killed after 20 s) and returns its stdout. */
const run = (command: string, args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.async<string, Error>((resume) => {
    const child = execFile(
      command,
      args,
      { timeout: 20_000, killSignal: "SIGKILL", env: { ...process.env, ...env } },
      (error, stdout, stderr) =>
        resume(
          error ? Effect.fail(new Error(`${command} failed: ${error.message}\n${stderr}`)) : Effect.succeed(stdout)
        )
    )
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/** Provider "a" fails once, so the fallback route answers from "b"; "b" answers the single route. */
const setup = (b: ReadonlyArray<MockProvider.Reply>) =>
  Effect.gen(function*() {
    const a = yield* MockProvider.make({ script: [OpenAiMock.error(503, "overloaded")] })
    const mockB = yield* MockProvider.make({ script: b })
    return yield* servedFile(yamlConfig(a, mockB))
  })

const python = fileURLToPath(new URL("clients/openai_stdlib.py", import.meta.url))

describe.skipIf(!available("python3"))("Gateway clients: Python's standard library", () => {
  const client = (base: string, model: string, mode: "chat" | "stream", key = acme.key) =>
    Effect.map(run("python3", [python, base, model, mode], { LITER_KEY: key }), (out) => JSON.parse(out))

  it.scopedLive("a completion through the fallback, a stream read line by line, an error status", () =>
    Effect.gen(function*() {
      const base = yield* setup([
        OpenAiMock.completion({ text: "Paris.", usage: { inputTokens: 7, outputTokens: 2 } }),
        OpenAiMock.stream({ deltas: ["Par", "is", "."], usage: { inputTokens: 7, outputTokens: 3 } })
      ])
      const answer = yield* client(base, "smart", "chat")
      expect(answer).toMatchObject({ status: 200, provider: "b", text: "Paris.", usage: { total_tokens: 9 } })
      expect(answer.request_id).toMatch(/^req_/)
      const streamed = yield* client(base, "small", "stream", globex.key)
      expect(streamed).toMatchObject({
        status: 200,
        provider: "b",
        deltas: ["Par", "is", "."],
        usage: { completion_tokens: 3 },
        done: true
      })
      expect(streamed.content_type).toMatch(/^text\/event-stream/)
      const refused = yield* client(base, "smart", "chat", globex.key)
      expect(refused).toMatchObject({ status: 404, error: { error: { code: "model_not_found" } } })
      expect(refused.request_id).toMatch(/^req_/)
    }))
})

describe.skipIf(!available("curl"))("Gateway clients: curl", () => {
  /** `curl -i`: the status, the headers (lower-cased) and the body. */
  const curl = (base: string, args: ReadonlyArray<string>, key = acme.key) =>
    Effect.map(
      run("curl", ["-sS", "-i", "-H", `authorization: Bearer ${key}`, ...args, `${base}/v1/chat/completions`]),
      (out) => {
        const split = out.indexOf("\r\n\r\n")
        const [statusLine, ...lines] = out.slice(0, split).split("\r\n")
        const headers = Object.fromEntries(lines.map((line) => {
          const colon = line.indexOf(":")
          return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()]
        }))
        return { status: Number(statusLine!.split(" ")[1]), headers, body: out.slice(split + 4) }
      }
    )
  const json = (body: string) => ["-H", "content-type: application/json", "-d", body]

  it.scopedLive("a completion, a stream with -N, and an error status", () =>
    Effect.gen(function*() {
      const base = yield* setup([
        OpenAiMock.completion({ text: "Paris." }),
        OpenAiMock.stream({ deltas: ["Par", "is."] })
      ])
      const ask = (model: string, extra = "") =>
        `{"model":"${model}","messages":[{"role":"user","content":"Capital of France?"}]${extra}}`
      const answer = yield* curl(base, json(ask("smart")))
      expect(answer.status).toBe(200)
      expect(answer.headers["x-liter-provider"]).toBe("b")
      expect(answer.headers["x-request-id"]).toMatch(/^req_/)
      expect(JSON.parse(answer.body).choices[0].message.content).toBe("Paris.")

      const streamed = yield* curl(base, ["-N", ...json(ask("small", `,"stream":true`))], globex.key)
      expect(streamed.status).toBe(200)
      expect(streamed.headers["content-type"]).toMatch(/^text\/event-stream/)
      expect(streamed.headers["x-accel-buffering"]).toBe("no")
      const events = sseEvents(streamed.body) as Array<{ choices?: Array<{ delta: { content?: string } }> } | string>
      const text = events.flatMap((event) => typeof event === "string" ? [] : event.choices ?? [])
        .map((choice) => choice.delta.content ?? "").join("")
      expect(text).toBe("Paris.")
      expect(events.at(-1)).toBe("[DONE]")

      const unauthorized = yield* curl(base, json(ask("small")), "sk-liter-not-a-key-0123456789")
      expect(unauthorized.status).toBe(401)
      expect(JSON.parse(unauthorized.body).error.code).toBe("invalid_api_key")
      const malformed = yield* curl(base, json("{\"model\":"))
      expect(malformed.status).toBe(400)
      expect(JSON.parse(malformed.body).error.code).toBe("invalid_json")
    }))
})
