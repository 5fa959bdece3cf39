/**
 * `npm run demo` in its own process: it exits 0, its governance scene shows a budget refusal before the
 * provider and a cache hit at no cost, and its gateway scene the same over HTTP, with a fallback and a client
 * leaving mid-stream.
 */
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { budgets, prices, usages } from "../examples/gatewayScene.js"
import { program } from "./support/programs.js"

/** Runs the demo (killed after 60 s) and returns what it printed. */
const runDemo = Effect.async<string, Error>((resume) => {
  const child = execFile(
    process.execPath,
    [program("examples/demo.ts")],
    { timeout: 60_000, killSignal: "SIGKILL", cwd: process.cwd() },
    (error, stdout, stderr) =>
      resume(error ? Effect.fail(new Error(`the demo failed: ${error.message}\n${stderr}`)) : Effect.succeed(stdout))
  )
  return Effect.sync(() => child.kill("SIGKILL"))
})

/** The cost of an answer at the scene's prices, USD. */
const cost = (model: keyof typeof prices, usage: { inputTokens: number; outputTokens: number }) =>
  (usage.inputTokens * prices[model].inputPerMillion + usage.outputTokens * prices[model].outputPerMillion) / 1e6

/** The text of the gateway scene's step `n`. */
const step = (scene: string, n: number) => {
  const start = scene.indexOf(`\n${n}. `)
  const end = scene.indexOf(`\n${n + 1}. `)
  return scene.slice(start, end < 0 ? undefined : end)
}

const header = (text: string, name: string) => text.match(new RegExp(`\\n {5}${name}: (.*)`))?.[1]

/** Runs the demo once for every test of this file. */
let output: Promise<string> | undefined
const demoOutput = Effect.promise(() => (output ??= Effect.runPromise(runDemo)))

it.live(
  "the demo plays its scenes and exits 0; acme runs out of budget, globex's repeat is a cache hit",
  () =>
    Effect.gen(function*() {
      const output = yield* demoOutput
      const governance = output.slice(
        output.indexOf("── Governance per tenant ──"),
        output.indexOf("── The gateway ──")
      )
      expect(output).toContain("── A fallback chain ──")
      expect(governance).toMatch(
        /acme 3\. .*\n {2}✗ BudgetExceeded: 0\.003080 USD spent \+ [\d.]+ USD estimated > 0\.005000 USD limit/
      )
      expect(governance).toContain("the provider was not called (provider calls 2)")
      expect(governance).toMatch(/globex 2\. .*\n {2}✓ from the cache: Paris\. \(cost 0 USD, provider calls still 3\)/)
      expect(governance).toMatch(/acme +2 +0 +332 +0\.003080/)
      expect(governance).toMatch(/globex +2 +1 +15 +0\.000053/)
    }),
  90_000
)

it.live(
  "the gateway scene: a fallback, a cache hit, a budget refusal as OpenAI's error JSON, a client leaving mid-stream",
  () =>
    Effect.gen(function*() {
      const output = yield* demoOutput
      const scene = output.slice(output.indexOf("── The gateway ──"))
      expect(scene).toContain("── The gateway ──")

      const fallback = step(scene, 1)
      expect(fallback).toContain("→ 200")
      expect(header(fallback, "x-liter-provider")).toBe("backup")
      expect(header(fallback, "x-liter-attempts")).toBe("2")
      expect(header(fallback, "x-liter-cache")).toBe("miss")
      expect(header(fallback, "x-request-id")).toMatch(/^req_[0-9a-f]{32}$/)
      expect(Number(header(fallback, "x-liter-cost-usd"))).toBeCloseTo(cost("demo-small", usages.fallback), 12)
      expect(fallback).toContain("provider calls so far: primary 1, backup 1")

      const hit = step(scene, 2)
      expect(header(hit, "x-liter-cache")).toBe("hit")
      expect(header(hit, "x-liter-attempts")).toBe("0")
      expect(header(hit, "x-liter-cost-usd")).toBe("0")
      expect(hit).toContain("provider calls so far: primary 1, backup 1")

      const report = cost("demo-small", usages.report)
      expect(Number(header(step(scene, 3), "x-liter-cost-usd"))).toBeCloseTo(report, 12)

      const refused = step(scene, 4)
      expect(refused).toContain("→ 429")
      expect(Number(header(refused, "retry-after"))).toBeGreaterThan(0)
      const body = JSON.parse(refused.match(/body: (.*)/)![1]!)
      expect(body.error).toMatchObject({ type: "insufficient_quota", code: "budget_exceeded", param: null })
      const [, spent, limit] = body.error.message.match(/has spent ([\d.]+) USD .* of ([\d.]+) USD per/)
      expect(Number(spent)).toBeCloseTo(report, 12)
      expect(Number(limit)).toBe(budgets.globex)
      expect(refused).toContain("provider calls so far: primary 2, backup 1")

      const left = step(scene, 5)
      expect(left).toContain("→ 200 text/event-stream")
      expect(left).toContain("received \"Once word1 word2\", then the client disconnected")
      expect(left).toMatch(/the gateway closed its upstream call within \d+ ms/)
      const charged = Number(left.match(/acme was charged ([\d.]+) USD/)![1])
      expect(charged).toBeGreaterThan(0)
      // less than the whole story would have cost: only what was received
      expect(charged).toBeLessThan(cost("demo-large", usages.story))
    }),
  90_000
)
