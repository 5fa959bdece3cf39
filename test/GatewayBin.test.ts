/**
 * The `liter-llm` executable where `@effect/platform-node`, an optional peer of the library that the command
 * needs, is not installed: one line saying what to install, exit 1, not a module-resolution stack trace. Its
 * absence is simulated with a module hook that cannot resolve it.
 */
import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const bin = fileURLToPath(new URL("../src/gateway/bin.ts", import.meta.url))

const hideHook = `import { register } from "node:module"
register("data:text/javascript," + encodeURIComponent(\`export async function resolve(specifier, context, next) {
  if (specifier === "@effect/platform-node") {
    const error = new Error("Cannot find package '@effect/platform-node' imported from bin.js")
    error.code = "ERR_MODULE_NOT_FOUND"
    throw error
  }
  return next(specifier, context)
}\`))
`

describe("the liter-llm executable", () => {
  it("without @effect/platform-node: says what to install and exits 1", { timeout: 60_000 }, () => {
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "liter-llm-bin-"))
    try {
      const hook = Path.join(dir, "hide.mjs")
      Fs.writeFileSync(hook, hideHook)
      const run = spawnSync(process.execPath, ["--import", "tsx", "--import", hook, bin, "--help"], {
        encoding: "utf8",
        timeout: 50_000
      })
      expect(run.status).toBe(1)
      expect(run.stderr.trim()).toBe(
        "liter-llm: the command needs @effect/platform-node, which is not installed: npm install @effect/platform-node@^0.108"
      )
      expect(run.stdout).toBe("")
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
