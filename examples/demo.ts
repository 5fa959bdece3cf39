/**
 * The liter-llm demo: no network, no API key, four scenes against local mock providers.
 *
 * 1. Retry-After: the mock answers the first call with `429 retry-after: 1` and the second with an answer; the
 *    OpenAI layer's default retry policy waits the second the provider asked for and tries again. The demo
 *    prints each attempt, each wait, and the answer.
 * 2. A fallback chain: a failing OpenAI-style provider behind a circuit breaker, then a healthy Anthropic-style
 *    one. The demo prints every provider call, retry, fallback and breaker transition as it happens, a stream
 *    cut after its first words (which is never handed to the fallback), the attempt trail of a call that no
 *    step could answer, and the usage summary per provider.
 * 3. Governance per tenant: a cache around a budget around an OpenAI-style provider, priced by `Pricing`. Tenant
 *    "acme" runs out of budget (its third call is refused with `BudgetExceeded` before reaching the provider);
 *    tenant "globex" asks the same question twice and the second answer comes from the cache, at no cost. The
 *    demo prints each call's cost, the budget, and the metrics summary per tenant.
 * 4. The gateway: the OpenAI-compatible server on a loopback port in front of two mocks, called over HTTP. Two
 *    tenants, a fallback, a cache hit, a budget refusal (429 with OpenAI's error JSON), and a client leaving
 *    mid-stream (the upstream call is cut, the tenant charged for what it received); see examples/gatewayScene.ts.
 *
 *   npm run demo
 */
import { NodeHttpClient, NodeRuntime } from "@effect/platform-node"
import { Clock, Console, Effect, Layer, Logger, LogLevel, Redacted, Stream } from "effect"
import type { LlmError } from "../src/index.js"
import {
  Anthropic,
  Budget,
  Cache,
  ChatResponse,
  CircuitBreaker,
  Fallback,
  LanguageModel,
  LlmMetrics,
  OpenAi,
  Pricing,
  Retry,
  StreamPart
} from "../src/index.js"
import { AnthropicMock, MockProvider, OpenAiMock } from "../src/testing/index.js"
import { gatewayScene } from "./gatewayScene.js"

// Print the library's debug line for each retry it schedules.
const retryLogger = Logger.make(({ annotations, message }) => {
  const text = Array.isArray(message) ? message.join(" ") : String(message)
  if (!text.includes("retrying")) return
  const get = (key: string) => annotations.pipe((map) => [...map].find(([k]) => k === key)?.[1])
  console.log(`  ↻ retry ${get("retry")} after ${get("error")}: waiting ${Math.round(Number(get("delayMs")))} ms`)
})

const printRetries = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  self.pipe(
    Effect.provide(Logger.replace(Logger.defaultLogger, retryLogger)),
    Logger.withMinimumLogLevel(LogLevel.Debug)
  )

// ---------------------------------------------------------------------------------------------------------------
// Scene 1: Retry-After
// ---------------------------------------------------------------------------------------------------------------

const retryScene = Effect.gen(function*() {
  const server = yield* MockProvider.make({
    script: [
      OpenAiMock.error(429, "rate_limit_exceeded", {
        message: "Rate limit reached for requests per min. Please try again in 1s.",
        headers: { "retry-after": "1", "x-request-id": "req_demo_1" }
      }),
      OpenAiMock.completion({ text: "Paris is the capital of France.", usage: { inputTokens: 14, outputTokens: 8 } })
    ]
  })
  yield* Console.log(`Mock OpenAI-compatible provider listening on ${server.url}`)
  yield* Console.log("Calling LanguageModel.generate with the default retry policy…")

  const started = Date.now()
  const response = yield* LanguageModel.generate({
    messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Capital of France?" }],
    maxTokens: 50
  }).pipe(
    Effect.provide(
      OpenAi.layer({
        apiKey: Redacted.make("sk-demo-not-a-real-key"),
        baseUrl: `${server.url}/v1`,
        model: "gpt-4o-mini"
      })
    ),
    printRetries
  )

  const requests = yield* server.requests
  const first = requests[0]?.arrivedAt ?? 0
  yield* Console.log("\nWhat the provider saw:")
  for (const [i, request] of requests.entries()) {
    const status = i === 0 ? "429 rate_limit_exceeded, retry-after: 1" : "200 OK"
    yield* Console.log(`  attempt ${i + 1} at +${request.arrivedAt - first} ms → ${status}`)
  }
  yield* Console.log(`\nAnswer (${Date.now() - started} ms in all): ${ChatResponse.text(response)}`)
  yield* Console.log(
    `Usage: ${response.usage?.inputTokens} input + ${response.usage?.outputTokens} output tokens, finish: ${response.finishReason}`
  )
}).pipe(Effect.scoped)

// ---------------------------------------------------------------------------------------------------------------
// Scene 2: a fallback chain
// ---------------------------------------------------------------------------------------------------------------

// The in-memory metrics of `LlmMetrics.layerMemory`, with a line printed for each event as it is recorded: one
// per provider call (after its retries) and one per fallback.
const PrintedMetrics = Layer.effect(
  LlmMetrics.LlmMetrics,
  Effect.map(LlmMetrics.LlmMetrics, (memory): LlmMetrics.Service => ({
    ...memory,
    recordCall: (event) =>
      Effect.zipRight(
        Console.log(
          `  • ${event.provider} ${event.operation}: ${event.outcome}` +
            (event.retries > 0 ? ` after ${event.retries} ${event.retries === 1 ? "retry" : "retries"}` : "") +
            (event.usage === undefined ? "" : `, ${event.usage.inputTokens}+${event.usage.outputTokens} tokens`) +
            ` (${event.durationMs} ms)`
        ),
        memory.recordCall(event)
      ),
    recordFallback: (event) =>
      // Yield first, so that a breaker transition caused by the same failure is printed before this line.
      Effect.yieldNow().pipe(
        Effect.zipRight(
          Console.log(`  ↪ step ${event.fromStep} (${event.provider}) failed with ${event.error}: moving on`)
        ),
        Effect.zipRight(memory.recordFallback(event))
      )
  }))
).pipe(Layer.provide(LlmMetrics.layerMemory))

const trail = (attempts: ReadonlyArray<LlmError.Attempt> | undefined) =>
  (attempts ?? []).map((a) => `step ${a.step} ${a.provider}/${a.model} ${a.outcome} (${a.durationMs} ms)`).join(" → ")

const ask = (n: number, question: string) =>
  Effect.gen(function*() {
    yield* Console.log(`\n${n}. generate: "${question}"`)
    const response = yield* LanguageModel.generate({ messages: [{ role: "user", content: question }] })
    yield* Console.log(`  ✓ answered by ${response.provider}/${response.model}: ${ChatResponse.text(response)}`)
  }).pipe(
    Effect.catchAll((error) =>
      Console.log(`  ✗ ${error._tag}: no step could answer\n    attempts: ${trail(error.attempts)}`)
    )
  )

const askStreaming = (n: number, question: string) =>
  Effect.gen(function*() {
    yield* Console.log(`\n${n}. stream: "${question}"`)
    const response = yield* StreamPart.collect(
      LanguageModel.stream({ messages: [{ role: "user", content: question }] })
    )
    yield* Console.log(`  ✓ streamed by ${response.provider}/${response.model}: ${ChatResponse.text(response)}`)
  }).pipe(
    Effect.catchTag("StreamInterrupted", (error) =>
      Console.log(
        `  ✗ StreamInterrupted (${error.causeTag}) after "${error.partial.text}"\n` +
          `    the answer had started, so the chain did not move on; attempts: ${trail(error.attempts)}`
      )),
    Effect.catchAll((error) =>
      Console.log(`  ✗ ${error._tag}: no step could answer\n    attempts: ${trail(error.attempts)}`)
    )
  )

const fallbackScene = Effect.gen(function*() {
  const openai = yield* MockProvider.make({
    script: [
      OpenAiMock.error(429, "rate_limit_exceeded", { headers: { "retry-after": "1" } }),
      OpenAiMock.error(500),
      OpenAiMock.error(500),
      OpenAiMock.error(500),
      // the role chunk and three words, then the connection drops
      OpenAiMock.stream(
        { deltas: ["Paris", " is", " the", " capital", " of", " France."] },
        { chunkDelay: "50 millis", cutAfter: 4 }
      )
    ]
  })
  const anthropic = yield* MockProvider.make({
    script: [
      AnthropicMock.message({ text: "Paris.", usage: { inputTokens: 12, outputTokens: 2 } }),
      AnthropicMock.message({ text: "Rome.", usage: { inputTokens: 13, outputTokens: 2 } }),
      AnthropicMock.stream({ deltas: ["The", " Seine,", " the", " Loire", " and", " the", " Rhône."] }),
      AnthropicMock.error(529, "overloaded_error"),
      AnthropicMock.error(529, "overloaded_error")
    ]
  })

  // Small retry bases keep the demo short: in production keep the defaults (0.5 s doubling to 8 s). A provider's
  // Retry-After still wins over the backoff, so the first call waits the full second it asks for.
  const quickRetry = Retry.policy({ times: 1, base: "50 millis" })
  const Chain = Fallback.layer([
    {
      provide: CircuitBreaker.layer(
        OpenAi.layer({ apiKey: Redacted.make("sk-demo"), baseUrl: `${openai.url}/v1`, model: "gpt-4o-mini" }),
        // Opens when 2 calls in the window failed at a rate of 50 % or more; a short cooldown for the demo.
        { key: "openai", minimumCalls: 2, cooldown: "1500 millis" }
      ),
      retry: quickRetry
    },
    {
      provide: Anthropic.layer({
        apiKey: Redacted.make("sk-ant-demo"),
        baseUrl: anthropic.url,
        model: "claude-sonnet-4-5"
      }),
      retry: quickRetry
    }
  ])

  yield* Console.log("\n\n── A fallback chain ──")
  yield* Console.log(
    "step 0: OpenAI-style mock behind a circuit breaker (429 retry-after: 1, then 500s, then a stream cut mid-way)"
  )
  yield* Console.log("step 1: Anthropic-style mock (healthy, until it is overloaded at the end)")

  // Print each state change of the breaker as it happens (subscribed before the first call).
  const transitions = yield* CircuitBreaker.subscribe
  yield* Stream.fromQueue(transitions).pipe(
    Stream.runForEach((t) => Console.log(`  ⚡ circuit "${t.key}": ${t.from} → ${t.to}`)),
    Effect.forkScoped
  )

  const calls = Effect.gen(function*() {
    yield* ask(1, "Capital of France?")
    yield* ask(2, "Capital of Italy?")
    yield* askStreaming(3, "Name three French rivers.")

    const breaker = yield* CircuitBreaker.state("openai")
    const now = yield* Clock.currentTimeMillis
    const wait = Math.max(0, (breaker.until ?? now) - now)
    yield* Console.log(`\n   (the "openai" circuit is ${breaker.state}; waiting ${wait} ms for its cooldown to end)`)
    yield* Effect.sleep(wait)

    yield* askStreaming(4, "Tell me about Paris.")
    yield* ask(5, "Capital of Spain?")
  })
  yield* calls.pipe(Effect.provide(Chain), printRetries)

  const summary = yield* LlmMetrics.summary
  yield* Console.log("\nUsage summary (LlmMetrics.summary):")
  const row = (cells: ReadonlyArray<string | number>) =>
    `  ${cells.map((cell, i) => String(cell)[i === 0 ? "padEnd" : "padStart"](i === 0 ? 10 : 9)).join(" ")}`
  yield* Console.log(row(["provider", "requests", "failures", "tokens", "retries", "fallbacks"]))
  for (const [provider, t] of [...Object.entries(summary.byProvider), ["total", summary.total] as const]) {
    yield* Console.log(
      row([provider, t.requests, t.failures, t.inputTokens + t.outputTokens, t.retries, t.fallbacks])
    )
  }
  yield* Console.log(
    `  circuit transitions: ${summary.circuitTransitions.map((t) => `${t.from} → ${t.to}`).join(", ")}`
  )
  yield* Console.log(
    "  (requests are provider calls after their retries; a call refused by an open circuit is not one. Fallbacks " +
      "count against the step that failed.)"
  )
}).pipe(
  Effect.scoped,
  Effect.provide(PrintedMetrics),
  // A fresh registry of breakers, rather than the process-wide default one.
  Effect.provide(CircuitBreaker.layerMemory)
)

// ---------------------------------------------------------------------------------------------------------------
// Scene 3: governance per tenant
// ---------------------------------------------------------------------------------------------------------------

const usd = (amount: number | undefined) =>
  amount === undefined ? "unknown" : amount === 0 ? "0 USD" : `${amount.toFixed(6)} USD`

const governanceScene = Effect.gen(function*() {
  const server = yield* MockProvider.make({
    script: [
      OpenAiMock.completion({ text: "Revenue grew 12 %.", usage: { inputTokens: 16, outputTokens: 150 } }),
      OpenAiMock.completion({ text: "Costs fell 3 %.", usage: { inputTokens: 16, outputTokens: 150 } }),
      OpenAiMock.completion({ text: "Paris.", usage: { inputTokens: 13, outputTokens: 2 } })
    ]
  })
  const acmeLimit = 0.005 // USD per day
  // The recommended order, outermost first: the cache answers before the budget is touched (a hit costs nothing).
  const Governed = Cache.layer(
    Budget.layer(
      OpenAi.layer({ apiKey: Redacted.make("sk-demo"), baseUrl: `${server.url}/v1`, model: "gpt-4o" }),
      { tenants: { acme: { limitUsd: acmeLimit, period: "day" } }, defaultLimit: { limitUsd: 1, period: "day" } }
    ),
    { ttl: "10 minutes" }
  )
  const price = yield* Pricing.price("gpt-4o", "openai")

  yield* Console.log("\n\n── Governance per tenant ──")
  yield* Console.log("Cache → Budget → OpenAI-style mock (gpt-4o)")
  yield* Console.log(
    `prices (Pricing): ${price?.inputPerMillion} / ${price?.outputPerMillion} USD per million input / output tokens`
  )
  yield* Console.log(`budgets: acme ${acmeLimit} USD per day, every other tenant 1 USD per day`)

  const ask = (tenant: string, n: number, question: string) =>
    Effect.gen(function*() {
      yield* Console.log(`\n${tenant} ${n}. "${question}" (maxTokens 200)`)
      const response = yield* LanguageModel.generate({
        messages: [{ role: "user", content: question }],
        maxTokens: 200,
        metadata: { tenant }
      })
      const calls = (yield* server.requests).length
      yield* Console.log(
        response.cached === true
          ? `  ✓ from the cache: ${ChatResponse.text(response)} (cost ${
            usd(response.costUsd)
          }, provider calls still ${calls})`
          : `  ✓ ${ChatResponse.text(response)} (cost ${usd(response.costUsd)}, provider calls ${calls})`
      )
      const budget = yield* Budget.status(tenant)
      if (budget !== undefined) {
        yield* Console.log(`  budget: ${usd(budget.spentUsd)} spent of ${usd(budget.limitUsd)}`)
      }
    }).pipe(
      Effect.catchTag("BudgetExceeded", (error) =>
        Effect.gen(function*() {
          yield* Console.log(
            `  ✗ BudgetExceeded: ${usd(error.spentUsd)} spent + ${usd(error.requestedUsd)} estimated > ` +
              `${usd(error.limitUsd)} limit; resets at ${new Date(error.resetsAt ?? 0).toISOString()}`
          )
          yield* Console.log(`  the provider was not called (provider calls ${(yield* server.requests).length})`)
        }))
    )

  yield* Effect.gen(function*() {
    yield* ask("acme", 1, "Summarise the Q1 report.")
    yield* ask("acme", 2, "Summarise the Q2 report.")
    yield* ask("acme", 3, "Summarise the Q3 report.")
    yield* ask("globex", 1, "Capital of France?")
    yield* ask("globex", 2, "Capital of France?")
  }).pipe(Effect.provide(Governed))

  const summary = yield* LlmMetrics.summary
  yield* Console.log("\nPer tenant (LlmMetrics.summary.byTenant):")
  const row = (cells: ReadonlyArray<string | number>) =>
    `  ${cells.map((cell, i) => String(cell)[i === 0 ? "padEnd" : "padStart"](i === 0 ? 8 : 11)).join(" ")}`
  yield* Console.log(row(["tenant", "requests", "cache hits", "tokens", "cost USD"]))
  for (const [tenant, t] of Object.entries(summary.byTenant)) {
    yield* Console.log(row([tenant, t.requests, t.cacheHits, t.inputTokens + t.outputTokens, t.costUsd.toFixed(6)]))
  }
  yield* Console.log("  (a call refused by the budget never reached the provider: it is not a request)")
}).pipe(Effect.scoped, Effect.provide(LlmMetrics.layerMemory))

retryScene.pipe(
  Effect.zipRight(fallbackScene),
  Effect.zipRight(governanceScene),
  Effect.zipRight(gatewayScene),
  Effect.provide(NodeHttpClient.layerUndici),
  NodeRuntime.runMain({ disablePrettyLogger: true })
)
