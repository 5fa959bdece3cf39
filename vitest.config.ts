import { availableParallelism } from "node:os"
import { defineConfig } from "vitest/config"

// Many tests wait on loopback servers and child processes rather than compute: a fork per CPU, and at least 3
// (vitest's default, one fork fewer than the CPUs, runs the whole suite in one process on 2 cores: 176 s there,
// against 138 s with 3).
const forks = Math.max(3, availableParallelism())

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/globalSetup.ts"],
    environment: "node",
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Test files run in child processes, each reusing its loaded modules across the files it runs: loading
    // effect and the platform anew for every file was two thirds of the suite's time. Tests keep no state in
    // modules (every test builds its own layers, servers and TestClock; globals they touch are restored), and
    // the suite passes in shuffled order.
    pool: "forks",
    poolOptions: { forks: { isolate: false, maxForks: forks, minForks: forks } },
    sequence: {
      concurrent: false
    },
    // In CI, also a machine-readable report, from which .ci/run prints a one-line summary.
    ...(process.env.CI ? { reporters: ["default", "json"], outputFile: { json: "coverage/vitest.json" } } : {})
  }
})
