#!/usr/bin/env node
/**
 * The `liter-llm` executable. `@effect/platform-node` is an optional peer of the library but the command needs it:
 * without it, the command says so instead of a module-resolution stack trace.
 *
 * @since 0.2.0
 */
import { holdEarly } from "./earlySignals.js"

// First: a SIGHUP while the command starts reloads the config once it serves, rather than ending the process.
holdEarly()

try {
  await import("@effect/platform-node")
} catch (cause) {
  const missing = (cause as { readonly code?: string }).code === "ERR_MODULE_NOT_FOUND" &&
    String((cause as Error).message).includes("@effect/platform-node")
  if (!missing) throw cause
  process.stderr.write(
    "liter-llm: the command needs @effect/platform-node, which is not installed: " +
      "npm install @effect/platform-node@^0.108\n"
  )
  process.exit(1)
}
await import("./cliMain.js")
