/**
 * The `liter-llm` executable's program, loaded by `bin.js` once its dependencies are found.
 *
 * @since 0.2.0
 */
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { createRequire } from "node:module"
import * as Cli from "./Cli.js"
import { serveFile } from "./serveFile.js"

const { version } = createRequire(import.meta.url)("../../package.json") as { readonly version: string }

const cli = Cli.make({ serve: serveFile, version })

// Colours only for a terminal, and not under `NO_COLOR` (https://no-color.org).
const noColor = (process.env.NO_COLOR ?? "") !== ""
const plain = { log: noColor || !process.stdout.isTTY, error: noColor || !process.stderr.isTTY }

NodeRuntime.runMain(
  Console.consoleWith((console) =>
    Effect.withConsole(cli.main(process.argv.slice(2)), Cli.plainConsole(console, plain))
  ).pipe(
    Effect.tap((code) =>
      Effect.sync(() => {
        process.exitCode = code
      })
    ),
    Effect.provide(NodeContext.layer)
  ),
  // The gateway logs JSON lines (`serveFile`); runMain's pretty logger would print each line a second time.
  { disableErrorReporting: true, disablePrettyLogger: true }
)
