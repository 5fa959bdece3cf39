import { describe, expect, it, vi } from "@effect/vitest"
import { Duration, Effect, Either } from "effect"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Config from "../src/gateway/Config.js"
import * as ServerOptions from "../src/gateway/http/serverOptions.js"
import * as Server from "../src/gateway/Server.js"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { freePort, startFile, yamlConfig } from "./clients/gateway.js"
import { call, chatBody } from "./support/gateway.js"
import { acme, decode, env, errorsOf } from "./support/gatewayConfig.js"
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

/** What is written to standard output (the CLI's log lines) until the scope closes; still written through. */
const stdoutWrites = Effect.gen(function*() {
  const written: Array<string> = []
  const write = process.stdout.write.bind(process.stdout)
  const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk, ...rest) => {
    written.push(String(chunk))
    return write(chunk as string, ...(rest as []))
  })
  yield* Effect.addFinalizer(() => Effect.sync(() => spy.mockRestore()))
  return written
})

/**
 * The config file `yaml` served (on `port`, else a free one given as the command line would give it) for the
 * scope, with its log lines, and a reload: `yaml` written over the file, `SIGHUP`, then a wait for a line holding
 * `until`.
 */
const servedLogged = (yaml: string, port?: number) =>
  Effect.gen(function*() {
    const gateway = yield* startFile(yaml, env, port)
    yield* Effect.addFinalizer(() => gateway.stop)
    const written = yield* stdoutWrites
    const reload = (next: string, until: string) =>
      Effect.zipRight(
        Effect.sync(() => {
          Fs.writeFileSync(gateway.file, next)
          process.emit("SIGHUP")
        }),
        eventually(Effect.sync(() => written.some((line) => line.includes(until))), `a log line with "${until}"`)
      )
    return { gateway, written, reload }
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
          sendTimeout: "2 minutes",
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
        ms(server.sendTimeout),
        ms(server.readyTimeout),
        ms(server.usageTimeout)
      ]).toEqual([5000, 60000, 2000, 0, 0, 10000, 120000, 1000, 100])
      // And the server takes it.
      expect((yield* ServerOptions.check(Config.serverOptions(config))).stream.sendTimeoutMs).toBe(120_000)
      expect((yield* ServerOptions.check({})).stream.sendTimeoutMs).toBe(60_000)
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

  it.effect("server.host is checked by Server.layer's own check: a host the server would refuse is refused here", () =>
    Effect.gen(function*() {
      const hosts = [
        "127.0.0.1 ",
        "not a host",
        "",
        "http://127.0.0.1",
        "127.0.0.1:4000",
        "localhost:4000",
        "[::1]",
        "[::1]:4000",
        "fe80::1::2",
        "256.1.1.1",
        "1.2.3.4.5",
        "-gateway",
        "gateway-",
        `${"a".repeat(64)}.internal`,
        `${"a.".repeat(127)}ab`
      ]
      for (const host of hosts) {
        const errors = yield* errorsOf({ ...minimal, server: { host } })
        const refused = yield* Effect.flip(
          ServerOptions.checkLayer({ runtime: Server.fromRuntime(undefined as never), host })
        )
        // The same words: "Server: host <problem>" at start, "server.host: <problem>" in the file.
        expect(refused.message.replace(/^Server: host /, "server.host: ")).toBe(errors[0])
        expect(errors).toHaveLength(1)
      }
      expect(yield* errorsOf({ ...minimal, server: { host: "127.0.0.1:4000" } })).toEqual([
        "server.host: must be a host name or an IP address without a port (the port goes in port:), got \"127.0.0.1:4000\""
      ])
      expect(yield* errorsOf({ ...minimal, server: { host: "http://127.0.0.1" } })).toEqual([
        "server.host: must be a host name or an IP address, not a URL (the port goes in port:), got \"http://127.0.0.1\""
      ])
      expect(yield* errorsOf({ ...minimal, server: { host: 4000 } })).toEqual([
        "server.host: expected a host name or an IP address, got 4000"
      ])
      for (const host of ["127.0.0.1", "0.0.0.0", "::", "::1", "fe80::1%lo", "localhost", "gateway.internal."]) {
        const { config } = yield* decode({ ...minimal, server: { host } })
        expect(config.server?.host).toBe(host)
        yield* ServerOptions.checkLayer({ runtime: Server.fromRuntime(undefined as never), host })
      }
    }))

  it.effect("the timeout left out counts as its default in the order check, as the server's own check at start", () =>
    Effect.gen(function*() {
      expect(yield* errorsOf({ ...minimal, server: { headersTimeout: "1 minute" } })).toEqual([
        "server.headersTimeout: must be at most requestTimeout (default 30 seconds)"
      ])
      expect(yield* errorsOf({ ...minimal, server: { requestTimeout: "5 seconds" } })).toEqual([
        "server.requestTimeout: must be at least headersTimeout (default 10 seconds)"
      ])
      // With another field wrong too.
      expect(yield* errorsOf({ ...minimal, server: { headersTimeout: "1 minute", port: -1 } })).toEqual([
        "server.port: expected a port 0-65535, got -1",
        "server.headersTimeout: must be at most requestTimeout (default 30 seconds)"
      ])
      const { config } = yield* decode({ ...minimal, server: { headersTimeout: "30 seconds" } })
      expect(Duration.toMillis(config.server!.headersTimeout!)).toBe(30_000)
    }))

  it.effect("a duration under 1 ms is refused everywhere in the file, with its path: it would be 0 where it is used", () =>
    Effect.gen(function*() {
      expect(
        yield* errorsOf({
          providers: {
            local: {
              ...local,
              timeout: { request: "1 nanos" },
              circuitBreaker: { window: 0.4 },
              retry: { base: "1e-7 millis" }
            }
          },
          models: { small: { provider: "local", model: "m", timeout: { total: "999 micros" } } },
          tenants: {
            acme: {
              keys: [acme.hash],
              models: "*",
              budget: { limitUsd: 1, period: "1 nanos" },
              rateLimit: { requests: { limit: 10, window: 0.4 } }
            }
          },
          cache: { ttl: "500 micros" }
        })
      ).toEqual([
        "providers.local.retry.base: expected a duration of at least 1 ms, such as \"30 seconds\", got \"1e-7 millis\"",
        "providers.local.timeout.request: expected a duration of at least 1 ms, such as \"30 seconds\", got \"1 nanos\"",
        "providers.local.circuitBreaker.window: expected a duration of at least 1 ms, such as \"30 seconds\", got 0.4",
        "models.small.timeout.total: expected a duration of at least 1 ms, such as \"30 seconds\", got \"999 micros\"",
        "tenants.acme.budget.period: expected \"day\", \"month\" or a duration of at least 1 ms, such as \"12 hours\", got \"1 nanos\"",
        "tenants.acme.rateLimit.requests.window: expected a duration of at least 1 ms, such as \"30 seconds\", got 0.4",
        "cache.ttl: expected a duration of at least 1 ms, such as \"30 seconds\", got \"500 micros\""
      ])
    }))

  it.effect("a positive duration under 1 ms is said to be under 1 ms, however it is written, in every field", () =>
    Effect.gen(function*() {
      // An exponent, or an amount under 1 ns (which a Duration would hold as 0), is still a positive duration.
      const tiny = ["1e-7 millis", "0.0000001 millis", 1e-7, "1e-4 seconds"]
      for (const value of tiny) {
        const shown = typeof value === "string" ? JSON.stringify(value) : String(value)
        expect(
          yield* errorsOf({
            ...minimal,
            server: { headersTimeout: value, holdHeaders: value },
            cache: { ttl: value },
            tenants: { acme: { keys: [acme.hash], models: "*", budget: { limitUsd: 1, period: value } } }
          })
        ).toEqual([
          `server.headersTimeout: expected a duration from 1 ms to 24.8 days, got ${shown}`,
          `server.holdHeaders: expected 0 or a duration from 1 ms to 24.8 days, got ${shown}`,
          `tenants.acme.budget.period: expected "day", "month" or a duration of at least 1 ms, such as "12 hours", got ${shown}`,
          `cache.ttl: expected a duration of at least 1 ms, such as "30 seconds", got ${shown}`
        ])
      }
      // A zero or a word is no positive duration, in a period too.
      expect(
        yield* errorsOf({
          ...minimal,
          cache: { ttl: "0e3 millis" },
          tenants: { acme: { keys: [acme.hash], models: "*", budget: { limitUsd: 1, period: "-1 hours" } } }
        })
      ).toEqual([
        "tenants.acme.budget.period: expected \"day\", \"month\" or a positive duration such as \"12 hours\", got \"-1 hours\"",
        "cache.ttl: expected a positive duration such as \"30 seconds\", got \"0e3 millis\""
      ])
      // An exponent at or over 1 ms is a duration like any other.
      const { config } = yield* decode({
        ...minimal,
        server: { headersTimeout: "1e3 millis" },
        cache: { ttl: "1.5e1 seconds" },
        tenants: { acme: { keys: [acme.hash], models: "*", budget: { limitUsd: 1, period: "1E+0 hours" } } }
      })
      expect(Duration.toMillis(config.server!.headersTimeout!)).toBe(1000)
      expect(Duration.toMillis(config.cache!.ttl!)).toBe(15_000)
      expect(config.tenants!.acme!.budget!.period).toEqual(Duration.hours(1))
    }))

  it.effect("a timing Node's server or timers cannot take is refused with its path: under 1 ms, over 2^31 - 1 ms", () =>
    Effect.gen(function*() {
      expect(
        yield* errorsOf({
          ...minimal,
          server: {
            headersTimeout: "0.5 millis",
            requestTimeout: "1 nanos",
            keepAliveTimeout: 3_000_000_000,
            shutdownGrace: Infinity,
            holdHeaders: "0.5 millis",
            keepAlive: 1e300,
            readyTimeout: "9999999999 days",
            usageTimeout: "2147483648 millis"
          }
        })
      ).toEqual([
        "server.headersTimeout: expected a duration from 1 ms to 24.8 days, got \"0.5 millis\"",
        "server.requestTimeout: expected a duration from 1 ms to 24.8 days, got \"1 nanos\"",
        "server.keepAliveTimeout: expected a duration from 1 ms to 24.8 days, got 3000000000",
        "server.shutdownGrace: expected 0 or a duration from 1 ms to 24.8 days, got Infinity",
        "server.holdHeaders: expected 0 or a duration from 1 ms to 24.8 days, got \"0.5 millis\"",
        "server.keepAlive: expected a duration from 1 ms to 24.8 days, got 1e+300",
        "server.readyTimeout: expected a duration from 1 ms to 24.8 days, got \"9999999999 days\"",
        "server.usageTimeout: expected a duration from 1 ms to 24.8 days, got \"2147483648 millis\""
      ])
      // YAML's .inf and JSON's 1e999 are Infinity, shown as such (JSON would write null).
      const yaml = Either.getOrThrow(Config.parse("server: { shutdownGrace: .inf }", "gateway.yaml"))
      const json = Either.getOrThrow(Config.parse("{\"server\": {\"shutdownGrace\": 1e999}}", "gateway.json"))
      for (const input of [yaml, json]) {
        expect(yield* errorsOf({ ...minimal, ...(input as object) })).toEqual([
          "server.shutdownGrace: expected 0 or a duration from 1 ms to 24.8 days, got Infinity"
        ])
      }
      // The order check runs on the two timeouts alone when another field is wrong: with the same bounds.
      expect(yield* errorsOf({ ...minimal, server: { requestTimeout: "1 nanos", port: -1 } })).toEqual([
        "server.port: expected a port 0-65535, got -1",
        "server.requestTimeout: expected a duration from 1 ms to 24.8 days, got \"1 nanos\""
      ])
    }))

  it.effect("a timing is rounded up to whole ms, up to 2^31 - 1 ms; 0 where it may be", () =>
    Effect.gen(function*() {
      const { config } = yield* decode({
        ...minimal,
        server: {
          headersTimeout: "1.5 millis",
          requestTimeout: 2 ** 31 - 1,
          keepAliveTimeout: "1000001 micros",
          shutdownGrace: "0 seconds",
          holdHeaders: 1
        }
      })
      const server = config.server!
      expect([server.headersTimeout, server.requestTimeout, server.keepAliveTimeout, server.shutdownGrace].map((d) =>
        Duration.toMillis(d!)
      )).toEqual([2, 2 ** 31 - 1, 1001, 0])
      expect(Duration.toMillis(server.holdHeaders!)).toBe(1)
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

  it.scopedLive("a reload logs the price warnings a start prints: a budgeted tenant may call an unpriced model", () =>
    Effect.gen(function*() {
      const a = yield* MockProvider.make()
      const b = yield* MockProvider.make()
      const { reload, written } = yield* servedLogged(yamlConfig(a, b))
      const unpriced = yamlConfig(a, b)
        .replace("    model-b: { inputPerMillion: 1, outputPerMillion: 2 }\n", "")
        .replace(`models: "*" }`, `models: "*", budget: { limitUsd: 10, period: day } }`)
      expect(unpriced).not.toContain("model-b: {")
      yield* reload(unpriced, "config reloaded")
      const warning = written.find((line) => line.includes("has no price"))
      expect(warning).toBeDefined()
      expect(warning).toContain("tenants.acme")
      expect(warning).toContain("\"logLevel\":\"WARN\"")
    }))

  it.scopedLive("a reload applies the per-request server settings now, and says which start-only ones wait for a restart", () =>
    Effect.gen(function*() {
      const a = yield* MockProvider.make()
      const b = yield* MockProvider.make({ onExhausted: OpenAiMock.completion({ text: "Paris." }) })
      // Served on the port the file names, as `liter-llm gateway --config FILE` does without --port.
      const port = yield* freePort
      const { gateway, reload, written } = yield* servedLogged(yamlConfig(a, b, `server: { port: ${port} }`), port)
      const big = chatBody("small", { messages: [{ role: "user", content: "x".repeat(2_000) }] })
      const first = yield* call(gateway.base, "/v1/chat/completions", { method: "POST", body: big, key: acme.key })
      expect(first.status, yield* Effect.promise(() => first.text())).toBe(200)
      yield* reload(
        yamlConfig(a, b, "server: { maxBodyBytes: 1000, port: 4999, shutdownGrace: \"1 second\" }"),
        "read only at start"
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

  it.scopedLive("a reload that changes the address the command line gave (--host, --port win) says nothing of it", () =>
    Effect.gen(function*() {
      const a = yield* MockProvider.make()
      const b = yield* MockProvider.make()
      // Served on a port of the command line's, not the file's 4999.
      const { reload, written } = yield* servedLogged(yamlConfig(a, b, "server: { port: 4999 }"))
      yield* reload(yamlConfig(a, b, "server: { port: 4998, shutdownGrace: \"1 second\" }"), "read only at start")
      expect(written.find((line) => line.includes("read only at start"))).toContain(
        "changes server.shutdownGrace, read only at start: restart the gateway to apply it"
      )
    }))

  it.scopedLive("a reload that writes a start-only setting out, or as its default, changes nothing: no warning", () =>
    Effect.gen(function*() {
      const a = yield* MockProvider.make()
      const b = yield* MockProvider.make()
      const { reload, written } = yield* servedLogged(
        yamlConfig(a, b, "server: { host: 127.0.0.1, keepAliveTimeout: \"5 seconds\", holdHeaders: 2000 }")
      )
      // The defaults written out, or written otherwise (2 000 ms as "2 seconds"); only the body limit changes.
      yield* reload(yamlConfig(a, b, "server: { holdHeaders: \"2 seconds\", maxBodyBytes: 5000 }"), "config reloaded")
      expect(written.filter((line) => line.includes("read only at start"))).toEqual([])
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

  it.scopedLive("a request the cost guard refuses, streamed or not, counts in no rate limit nor in its headers", () =>
    Effect.gen(function*() {
      const a = yield* MockProvider.make()
      const b = yield* MockProvider.make({ onExhausted: OpenAiMock.completion({ text: "Paris." }) })
      const guarded = yamlConfig(a, b).replace(
        `acme: { keys: ["${acme.hash}"], models: "*" }`,
        `acme: { keys: ["${acme.hash}"], models: "*", maxRequestCostUsd: 0.01, ` +
          `rateLimit: { requests: { limit: 3, window: "1 minute" } } }`
      )
      const gateway = yield* startFile(guarded)
      yield* Effect.addFinalizer(() => gateway.stop)
      const ask = (extra: Record<string, unknown>) =>
        Effect.map(
          call(gateway.base, "/v1/chat/completions", {
            method: "POST",
            body: chatBody("small", { messages: [{ role: "user", content: "Capital?" }], ...extra }),
            key: acme.key
          }),
          (response) => `${response.status} ${response.headers.get("x-ratelimit-remaining-requests")}`
        )
      // 1 M tokens of output at 2 USD per million pass the 0.01 USD guard.
      const costly = { max_tokens: 1_000_000 }
      const cheap = { max_tokens: 10 }
      expect(yield* ask(cheap)).toBe("200 2")
      expect(yield* ask(costly)).toBe("400 2")
      expect(yield* ask({ ...costly, stream: true })).toBe("400 2")
      expect(yield* ask(cheap)).toBe("200 1")
    }))
})
