/**
 * `npm run demo` in its own process: it exits 0 and its governance scene shows a budget refusal before the
 * provider and a cache hit at no cost.
 */
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"

const demo = fileURLToPath(new URL("../examples/demo.ts", import.meta.url))

/** Runs the demo (killed after 60 s) and returns what it printed. */
const runDemo = Effect.async<string, Error>((resume) => {
  const child = execFile(
    process.execPath,
    ["--import", "tsx", demo],
    { timeout: 60_000, killSignal: "SIGKILL", cwd: process.cwd() },
    (error, stdout, stderr) =>
      resume(error ? Effect.fail(new Error(`the demo failed: ${error.message}\n${stderr}`)) : Effect.succeed(stdout))
  )
  return Effect.sync(() => child.kill("SIGKILL"))
})

it.live(
  "the demo plays its scenes and exits 0; acme runs out of budget, globex's repeat is a cache hit",
  () =>
    Effect.gen(function*() {
      const output = yield* runDemo
      const governance = output.slice(output.indexOf("── Governance per tenant ──"))
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
