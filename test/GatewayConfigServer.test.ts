import { describe, expect, it, vi } from "@effect/vitest"
import { Duration, Effect } from "effect"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { startFile, yamlConfig } from "./clients/gateway.js"
import { call, chatBody } from "./support/gateway.js"
import { acme, decode, errorsOf } from "./support/gatewayConfig.js"
import { eventually } from "./support/loopback.js"

const local = { type: "openai-compatible", baseUrl: "http://127.0.0.1:9/v1" }
const minimal = { providers: { local }, models: { small: { provider: "local", model: "m" } } }

/**
 * Sends one keep-alive request on a raw socket and measures, from the end of the answer, how long the server
 * keeps the idle connection open (bounded: gives up after `budgetMs`).
 */
const idleLifetime = (base: string, budgetMs: number) =>
  Effect.async<number, Error>((resume) => {
    const { hostname, port } = new URL(base)
    const socket = Net.connect(Number(port), hostname)
    let answered: number | undefined
    let text = ""
    const timer = setTimeout(() => {
      socket.destroy()
      resume(Effect.fail(new Error(`the idle connection stayed open over ${budgetMs} ms`)))
    }, budgetMs)
    socket.on("connect", () => socket.write("GET /health HTTP/1.1\r\nhost: gateway\r\nconnection: keep-alive\r\n\r\n"))
    socket.on("data", (data: Buffer) => {
      text += data.toString()
      if (answered === undefined && /\r\n\r\n/.test(text) && /"ok"|ok/.test(text)) answered = performance.now()
    })
    socket.on("close", () => {
      clearTimeout(timer)
      if (answered === undefined) resume(Effect.fail(new Error(`closed before an answer: ${text}`)))
      else resume(Effect.succeed(performance.now() - answered))
    })
    return Effect.sync(() => {
      clearTimeout(timer)
      socket.destroy()
    })
  })

describe("Gateway config: server", () => {
  it.effect("the server's timings decode as durations; shutdownGrace and holdHeaders may be 0", () =>
    Effect.gen(function*() {
      const { config } = yield* decode({
        ...minimal,
        server: {
          headersTimeout: "5 seconds",
          requestTimeout: "1 minute",
          keepAliveTimeout: 2000,
          shutdownGrace: 0,
          holdHeaders: "0 millis",
          keepAlive: "10 seconds",
          readyTimeout: "1 second",
          usageTimeout: "100 millis"
        }
      })
      const ms = (duration: Duration.Duration | undefined) =>
        duration === undefined ? undefined : Duration.toMillis(duration)
      const server = config.server!
      expect([
        ms(server.headersTimeout),
        ms(server.requestTimeout),
        ms(server.keepAliveTimeout),
        ms(server.shutdownGrace),
        ms(server.holdHeaders),
        ms(server.keepAlive),
        ms(server.readyTimeout),
        ms(server.usageTimeout)
      ]).toEqual([5000, 60000, 2000, 0, 0, 10000, 1000, 100])
    }))

  it.effect("a bad timing is refused with its path; requestTimeout below headersTimeout too", () =>
    Effect.gen(function*() {
      expect(yield* errorsOf({ ...minimal, server: { keepAliveTimeout: "0 seconds", shutdownGrace: "-1 seconds" } }))
        .toEqual([
          "server.keepAliveTimeout: expected a positive duration such as \"30 seconds\", got \"0 seconds\"",
          "server.shutdownGrace: expected a duration >= 0 such as \"30 seconds\", got \"-1 seconds\""
        ])
      expect(yield* errorsOf({ ...minimal, server: { headersTimeout: "20 seconds", requestTimeout: "10 seconds" } }))
        .toEqual(["server.requestTimeout: must be at least headersTimeout"])
    }))

  it.scopedLive("server.keepAliveTimeout from the file reaches the Node server: an idle connection closes after it", () =>
    Effect.gen(function*() {
      const a = yield* MockProvider.make()
      const b = yield* MockProvider.make()
      const gateway = yield* startFile(yamlConfig(a, b, "server: { keepAliveTimeout: \"300 millis\" }"))
      yield* Effect.addFinalizer(() => gateway.stop)
      // Node's default is 5 s: closing well within 2.5 s is the file's value at work.
      const lifetime = yield* idleLifetime(gateway.base, 2_500)
      expect(lifetime).toBeGreaterThanOrEqual(250)
      expect(lifetime).toBeLessThan(2_500)
    }))

  it.scopedLive("a reload applies the per-request server settings now, and says which start-only ones wait for a restart", () =>
    Effect.gen(function*() {
      const a = yield* MockProvider.make()
      const b = yield* MockProvider.make({ onExhausted: OpenAiMock.completion({ text: "Paris." }) })
      const gateway = yield* startFile(yamlConfig(a, b))
      yield* Effect.addFinalizer(() => gateway.stop)
      const written: Array<string> = []
      const write = process.stdout.write.bind(process.stdout)
      const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk, ...rest) => {
        written.push(String(chunk))
        return write(chunk as string, ...(rest as []))
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => spy.mockRestore()))
      const big = chatBody("small", { messages: [{ role: "user", content: "x".repeat(2_000) }] })
      const first = yield* call(gateway.base, "/v1/chat/completions", { method: "POST", body: big, key: acme.key })
      expect(first.status, yield* Effect.promise(() => first.text())).toBe(200)
      Fs.writeFileSync(
        gateway.file,
        yamlConfig(a, b, "server: { maxBodyBytes: 1000, port: 4999, shutdownGrace: \"1 second\" }")
      )
      process.emit("SIGHUP")
      yield* eventually(
        Effect.sync(() => written.some((line) => line.includes("read only at start"))),
        "the start-only warning"
      )
      const warning = written.find((line) => line.includes("read only at start"))!
      expect(warning).toContain("changes server.shutdownGrace, server.port, read only at start: restart the gateway")
      expect(warning).not.toContain("maxBodyBytes")
      yield* eventually(
        Effect.map(
          call(gateway.base, "/v1/chat/completions", { method: "POST", body: big, key: acme.key }),
          (r) => r.status === 413
        ),
        "the new body limit applied"
      )
    }))

  it.scopedLive("x-ratelimit-remaining-requests counts the request it answers, behind a cache too", () =>
    Effect.gen(function*() {
      const a = yield* MockProvider.make()
      const b = yield* MockProvider.make({ onExhausted: OpenAiMock.completion({ text: "Paris." }) })
      // The cache's lookup comes before the rate limit: a read started with the call ran before the limit took it.
      const limited = "cache: { ttl: \"1 minute\" }\n".concat(
        yamlConfig(a, b).replace(
          `acme: { keys: ["${acme.hash}"], models: "*" }`,
          `acme: { keys: ["${acme.hash}"], models: "*", rateLimit: { requests: { limit: 3, window: "1 minute" } } }`
        )
      )
      expect(limited).toContain("rateLimit")
      const gateway = yield* startFile(limited)
      yield* Effect.addFinalizer(() => gateway.stop)
      const seen: Array<string | null> = []
      for (let i = 0; i < 4; i++) {
        const body = chatBody("small", { messages: [{ role: "user", content: `question ${i}` }] })
        const response = yield* call(gateway.base, "/v1/chat/completions", { method: "POST", body, key: acme.key })
        seen.push(`${response.status} ${response.headers.get("x-ratelimit-remaining-requests")}`)
        expect(response.headers.get("x-ratelimit-reset-requests")).not.toBe("0ms")
      }
      expect(seen).toEqual(["200 2", "200 1", "200 0", "429 0"])
    }))
})
