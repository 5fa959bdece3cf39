import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Child processes give the strongest isolation between test files (no shared
    // globals/timers); on a 2-core runner vitest uses a single worker by default.
    pool: "forks",
    sequence: {
      concurrent: false
    },
    // In CI, also a machine-readable report, from which .ci/run prints a one-line summary.
    ...(process.env.CI ? { reporters: ["default", "json"], outputFile: { json: "coverage/vitest.json" } } : {})
  }
})
