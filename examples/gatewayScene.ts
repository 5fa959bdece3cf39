/**
 * The demo's gateway scene: an OpenAI-compatible gateway on a loopback port in front of two mock providers,
 * called over HTTP as any client would. Two tenants; a fallback (primary fails, backup answers); a cache hit;
 * a budget refusal (429 with OpenAI's error JSON); a client that leaves mid-stream (the upstream call is cut,
 * the tenant charged for what it received). Each call prints its HTTP status, the gateway's headers and the cost.
 */
import * as HttpServer from "@effect/platform/HttpServer"
import { ConfigProvider, Console, Context, Effect, Either, Layer, Logger, LogLevel } from "effect"
import { Config, fromLoaded, Keys, Server, Stores } from "../src/gateway/index.js"
import { MockProvider, OpenAiMock } from "../src/testing/index.js"

/** The scene's prices, USD per million tokens. */
export const prices = {
  "demo-small": { inputPerMillion: 2.5, outputPerMillion: 10 },
  "demo-large": { inputPerMillion: 5, outputPerMillion: 20 }
}

/** What the mocks report for each answer, in tokens. */
export const usages = {
  fallback: { inputTokens: 12, outputTokens: 3 },
  report: { inputTokens: 20, outputTokens: 150 },
  story: { inputTokens: 12, outputTokens: 40 }
}

/** The tenants' daily budgets, USD: globex's fits one report, not two. */
export const budgets = { acme: 1, globex: 0.003 }

const keys = { acme: "sk-liter-demo-acme-0123456789abcdef", globex: "sk-liter-demo-globex-0123456789abcdef" }
const hash = (key: string) => Either.getOrThrow(Keys.hashKey(key))

const story = Array.from({ length: 20 }, (_, i) => (i === 0 ? "Once" : ` word${i}`))

const config = (primary: MockProvider.MockProvider, backup: MockProvider.MockProvider) => ({
  providers: {
    primary: { type: "openai-compatible", baseUrl: `${primary.url}/v1`, apiKeyEnv: "MOCK_KEY", retry: false },
    backup: { type: "openai-compatible", baseUrl: `${backup.url}/v1`, apiKeyEnv: "MOCK_KEY", retry: false }
  },
  models: {
    chat: { fallback: [{ provider: "primary", model: "demo-small" }, { provider: "backup", model: "demo-small" }] },
    long: { provider: "primary", model: "demo-large" }
  },
  pricing: { dataset: false, models: prices },
  cache: { ttl: "10 minutes" },
  tenants: {
    acme: { keys: [hash(keys.acme)], models: "*", budget: { limitUsd: budgets.acme, period: "day" } },
    globex: { keys: [hash(keys.globex)], models: ["chat"], budget: { limitUsd: budgets.globex, period: "day" } }
  }
})

const headerNames = [
  "x-request-id",
  "x-liter-provider",
  "x-liter-model",
  "x-liter-attempts",
  "x-liter-cache",
  "x-liter-cost-usd",
  "x-liter-overhead-ms",
  "retry-after"
]

/** The part of a `chat.completion` the scene prints. */
interface Completion {
  readonly choices: ReadonlyArray<{ readonly message: { readonly content: string } }>
}

const scene = Effect.gen(function*() {
  const primary = yield* MockProvider.make({
    script: [
      OpenAiMock.error(503, "overloaded"),
      OpenAiMock.completion({ text: "Revenue grew 12 %.", usage: usages.report }),
      OpenAiMock.stream({ deltas: story, usage: usages.story }, { chunkDelay: "40 millis" })
    ]
  })
  const backup = yield* MockProvider.make({
    script: [OpenAiMock.completion({ text: "Paris.", usage: usages.fallback })]
  })
  const loaded = yield* Config.decode(config(primary, backup), "demo config").pipe(
    // The mocks accept any key; the config reads it from the environment, as it would a real one.
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["MOCK_KEY", "sk-mock-demo-key"]])))
  )
  const runtime = yield* fromLoaded(loaded, yield* Stores.makeMemory)
  const context = yield* Layer.build(Server.layer({ runtime, host: "127.0.0.1", port: 0 }))
  const address = Context.get(context, HttpServer.HttpServer).address
  const base = `http://127.0.0.1:${address._tag === "TcpAddress" ? address.port : 0}`

  yield* Console.log("\n\n── The gateway ──")
  yield* Console.log(`OpenAI-compatible gateway on ${base}, in front of two mock providers`)
  yield* Console.log("route \"chat\": primary then backup (demo-small); route \"long\": primary (demo-large)")
  yield* Console.log(
    `tenants: acme (${budgets.acme} USD a day), globex (${budgets.globex} USD a day, route "chat" only)`
  )

  const post = (tenant: keyof typeof keys, body: Record<string, unknown>, signal?: AbortSignal) =>
    Effect.promise(() =>
      fetch(`${base}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${keys[tenant]}`, "content-type": "application/json" },
        body: JSON.stringify(body),
        ...(signal === undefined ? {} : { signal })
      })
    )
  const ask = (n: number, tenant: keyof typeof keys, what: string, question: string) =>
    Effect.gen(function*() {
      yield* Console.log(`\n${n}. ${tenant}: ${what}\n   POST /v1/chat/completions {"model":"chat", "${question}"}`)
      const response = yield* post(tenant, {
        model: "chat",
        messages: [{ role: "user", content: question }],
        max_tokens: 200
      })
      const body = yield* Effect.promise(() => response.json() as Promise<Completion>)
      yield* Console.log(`   → ${response.status}`)
      for (const name of headerNames) {
        const value = response.headers.get(name)
        if (value !== null) yield* Console.log(`     ${name}: ${value}`)
      }
      yield* Console.log(
        response.ok ? `     answer: ${body.choices[0]?.message.content}` : `     body: ${JSON.stringify(body)}`
      )
    })
  const calls = Effect.map(
    Effect.all([primary.requests, backup.requests]),
    ([p, b]) => `primary ${p.length}, backup ${b.length}`
  )

  yield* ask(1, "acme", "the primary answers 503, the backup answers", "Capital of France?")
  yield* Console.log(`   provider calls so far: ${yield* calls}`)
  yield* ask(2, "acme", "the same question again", "Capital of France?")
  yield* Console.log(`   provider calls so far: ${yield* calls} (answered from acme's cache)`)
  yield* ask(3, "globex", "a long report", "Summarise the Q1 report.")
  yield* ask(4, "globex", "another one: its budget cannot hold it", "Summarise the Q2 report.")
  yield* Console.log(`   provider calls so far: ${yield* calls} (the refusal never reached a provider)`)

  // 5. A stream the client leaves after three parts.
  const usageOf = (tenant: keyof typeof keys) =>
    Effect.promise(() =>
      fetch(`${base}/v1/usage`, { headers: { authorization: `Bearer ${keys[tenant]}` } }).then((r) => r.json())
    ) as Effect.Effect<{ budget: { spent_usd: number; reserved_usd: number } }>
  const before = (yield* usageOf("acme")).budget.spent_usd
  yield* Console.log("\n5. acme: streams a long story from route \"long\", then leaves after three parts")
  const controller = new AbortController()
  const response = yield* post("acme", {
    model: "long",
    stream: true,
    max_tokens: 100,
    messages: [{ role: "user", content: "Tell me a long story." }]
  }, controller.signal)
  yield* Console.log(`   → ${response.status} ${response.headers.get("content-type")}`)
  const received = yield* Effect.promise(async () => {
    const reader = response.body!.getReader()
    const decoder = new TextDecoder()
    let text = ""
    let parts = 0
    while (parts < 3) {
      const { value } = await reader.read()
      for (const line of decoder.decode(value, { stream: true }).split("\n")) {
        if (!line.startsWith("data: {")) continue
        const content = JSON.parse(line.slice(6)).choices[0]?.delta?.content
        if (typeof content === "string" && content !== "") {
          text += content
          parts += 1
        }
      }
    }
    controller.abort()
    return text
  })
  const left = performance.now()
  yield* Console.log(`   received "${received}", then the client disconnected`)
  yield* primary.awaitClientClose.pipe(Effect.timeout("2 seconds"))
  yield* Console.log(
    `   the gateway closed its upstream call within ${Math.ceil(performance.now() - left)} ms ` +
      `(the mock had ${story.length} parts to send)`
  )
  const after = yield* usageOf("acme").pipe(
    Effect.delay("10 millis"),
    Effect.repeat({ until: (usage) => usage.budget.reserved_usd === 0 }),
    Effect.timeout("2 seconds")
  )
  yield* Console.log(
    `   acme was charged ${(after.budget.spent_usd - before).toFixed(6)} USD for the stream: the prompt and the ` +
      "parts received (GET /v1/usage)"
  )
}).pipe(Effect.scoped)

/**
 * The scene, with the server's request log silenced: each call prints what a client sees instead.
 */
export const gatewayScene = scene.pipe(Logger.withMinimumLogLevel(LogLevel.None))
