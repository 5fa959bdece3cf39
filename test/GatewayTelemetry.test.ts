import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as MockProvider from "../src/testing/MockProvider.js"
import * as OpenAiMock from "../src/testing/OpenAiMock.js"
import { startFile, yamlConfig } from "./clients/gateway.js"
import { call, chatBody, json } from "./support/gateway.js"
import { acme, env } from "./support/gatewayConfig.js"
import { secretKey } from "./support/loopback.js"
import { descendsFrom, receiver, spansOf } from "./support/otlp.js"

const otlpAuth = "Bearer otlp-SECRET-4c1d9e"
const prompt = "Capital of France?"
const answer = "Paris-ANSWER-TEXT"

/** One chat request of tenant acme to the `smart` route, answered by provider a. */
const chat = (base: string) =>
  Effect.flatMap(
    call(base, "/v1/chat/completions", { method: "POST", body: chatBody("smart"), key: acme.key }),
    json
  )

describe("Gateway telemetry: OTLP span export", () => {
  it.scopedLive("the file's otlp section: the chat span and the provider call as its child reach the collector at shutdown", () =>
    Effect.gen(function*() {
      const collector = yield* receiver
      const a = yield* MockProvider.make({ script: [OpenAiMock.completion({ text: answer }), OpenAiMock.error(500)] })
      const b = yield* MockProvider.make({ script: [OpenAiMock.error(500)] })
      const telemetry = `
telemetry:
  serviceName: gateway-under-test
  otlp:
    endpoint: "${collector.url}/v1/traces"
    headersEnv: { authorization: OTLP_AUTH }
`
      const gateway = yield* startFile(yamlConfig(a, b, telemetry), new Map([...env, ["OTLP_AUTH", otlpAuth]]))
      const body = yield* chat(gateway.base)
      expect(body.choices[0].message.content).toBe(answer)
      // Both steps of the chain fail: a 5xx answer, whose span has an error status.
      const failed = yield* call(gateway.base, "/v1/chat/completions", {
        method: "POST",
        body: chatBody("smart"),
        key: acme.key
      })
      expect(failed.status).toBe(502)
      // Sent when the tracer's scope closes (the export interval, 5 s, is longer than this test).
      yield* gateway.stop
      const exports = collector.received.filter((request) => request.path === "/v1/traces")
      expect(exports.length).toBeGreaterThan(0)
      for (const request of exports) {
        expect(request.method).toBe("POST")
        expect(request.headers["content-type"]).toMatch(/^application\/json/)
        expect(request.headers.authorization).toBe(otlpAuth)
      }
      const spans = spansOf(exports.map((request) => request.body))
      const servers = spans.filter((span) => span.name === "gateway.chat.completions")
      expect(servers.map((span) => [span.attributes["http.response.status_code"], span.status.code])).toEqual([
        [200, 1],
        [502, 2]
      ])
      expect(servers[1]!.attributes["error.type"]).toBe("ServerError")
      expect(servers[0]!.attributes).not.toHaveProperty("error.type")
      const server = servers[0]
      expect(server).toBeDefined()
      expect(server!.service).toBe("gateway-under-test")
      expect(server!.attributes).toMatchObject({
        "gen_ai.request.model": "smart",
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 5,
        "gen_ai.provider.name": "a",
        "liter_llm.tenant": "acme",
        "http.response.status_code": 200
      })
      const provider = spans.find((span) => span.name === "chat model-a")
      expect(provider).toBeDefined()
      expect(provider!.traceId).toBe(server!.traceId)
      expect(descendsFrom(spans, provider!, server!)).toBe(true)
      // No key (the tenant's, the provider's, the collector's), no prompt, no answer.
      const everything = exports.map((request) => request.body).join("\n")
      for (const secret of [acme.key, acme.hash, secretKey, otlpAuth, prompt, answer]) {
        expect(everything).not.toContain(secret)
      }
    }))

  it.scopedLive("without a telemetry section the OTEL_* variables turn it on: /v1/traces after the base, their service name", () =>
    Effect.gen(function*() {
      const collector = yield* receiver
      const a = yield* MockProvider.make({ script: [OpenAiMock.completion({ text: answer })] })
      const b = yield* MockProvider.make()
      const gateway = yield* startFile(
        yamlConfig(a, b),
        new Map([
          ...env,
          ["OTEL_EXPORTER_OTLP_ENDPOINT", `${collector.url}/`],
          ["OTEL_EXPORTER_OTLP_HEADERS", "x-collector-key=k%3Dv,x-team=llm"],
          ["OTEL_SERVICE_NAME", "from-env"]
        ])
      )
      yield* chat(gateway.base)
      yield* gateway.stop
      const exports = collector.received
      expect(exports.map((request) => request.path)).toContain("/v1/traces")
      expect(exports[0]!.headers["x-collector-key"]).toBe("k=v")
      expect(exports[0]!.headers["x-team"]).toBe("llm")
      const spans = spansOf(exports.map((request) => request.body))
      const server = spans.find((span) => span.name === "gateway.chat.completions")
      expect(server?.service).toBe("from-env")
      expect(server?.attributes["liter_llm.tenant"]).toBe("acme")
    }))

  it.scopedLive("OTEL_SDK_DISABLED=true wins over the file: nothing is sent", () =>
    Effect.gen(function*() {
      const collector = yield* receiver
      const a = yield* MockProvider.make({ script: [OpenAiMock.completion({ text: answer }), OpenAiMock.error(500)] })
      const b = yield* MockProvider.make({ script: [OpenAiMock.error(500)] })
      const telemetry = `\ntelemetry:\n  otlp: { endpoint: "${collector.url}/v1/traces" }\n`
      const gateway = yield* startFile(
        yamlConfig(a, b, telemetry),
        new Map([...env, ["OTEL_SDK_DISABLED", "true"], ["OTEL_EXPORTER_OTLP_ENDPOINT", collector.url]])
      )
      const body = yield* chat(gateway.base)
      expect(body.choices[0].message.content).toBe(answer)
      // Both steps of the chain fail: a 5xx answer, whose span has an error status.
      const failed = yield* call(gateway.base, "/v1/chat/completions", {
        method: "POST",
        body: chatBody("smart"),
        key: acme.key
      })
      expect(failed.status).toBe(502)
      yield* gateway.stop
      expect(collector.received).toEqual([])
    }))
})
