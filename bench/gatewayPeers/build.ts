/**
 * The gateway benchmark measures the built package, as the `liter-llm` command runs it: this builds `dist/`
 * first when it is missing or older than a file of `src/` (BENCH_GATEWAY_SOURCE=src measures the TypeScript
 * sources under `tsx` instead, with no build).
 */
import { execFileSync } from "node:child_process"
import { readdirSync, statSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { log } from "../report.js"

const root = fileURLToPath(new URL("../..", import.meta.url))

const newest = (dir: string): number =>
  readdirSync(dir, { withFileTypes: true }).reduce((latest, entry) => {
    const path = join(dir, entry.name)
    return Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs)
  }, 0)

/** `"dist"` once the build is fresh, or `"src"` when BENCH_GATEWAY_SOURCE=src. */
export const ensureBuilt = (): "dist" | "src" => {
  if (process.env.BENCH_GATEWAY_SOURCE === "src") return "src"
  let built = 0
  try {
    built = statSync(join(root, "dist", "gateway", "index.js")).mtimeMs
  } catch {
    // Not built yet.
  }
  if (built < newest(join(root, "src"))) {
    log("gateway: building dist/ (npm run build), the package the benchmark measures...")
    execFileSync("npm", ["run", "build"], { cwd: root, stdio: ["ignore", "ignore", "inherit"] })
  }
  return "dist"
}
