/**
 * `Config.load` with `parseOffThread` (what a reload uses): the file's text is parsed in a worker thread, with the
 * same data and the same problems as on the calling thread, and without falling back to it.
 */
import { NodeFileSystem } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Logger } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Config from "../src/gateway/Config.js"

const folder = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "gateway-parse-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true }))
)

const valid = `
providers:
  local: { type: openai-compatible, baseUrl: "http://127.0.0.1:1/v1" }
models:
  small: &base { provider: local, model: llama3.2 }
  big: { <<: *base, model: llama3.3 }
`

// Each file's name says how it is read; the texts cover data, syntax errors and the problems that leave data.
const files: ReadonlyArray<readonly [string, string]> = [
  ["anchors.yaml", valid],
  [
    "plain.json",
    JSON.stringify({
      providers: { p: { type: "openai-compatible", baseUrl: "http://127.0.0.1:1/v1" } },
      models: { m: { provider: "p", model: "m" } }
    })
  ],
  ["broken.yaml", "models: [\n  a: 1"],
  ["broken.json", "{ \"models\": "],
  ["twice.json", "{ \"models\": {}, \"models\": {} }"],
  ["tagged.yaml", "models: !custom { a: 1 }"],
  ["empty.yml", "  \n# nothing\n"],
  ["config.txt", "models: {}"]
]

describe("Config.load, parsed in a worker thread", () => {
  it.scoped(
    "gives what parsing on this thread gives, for data and for every kind of problem, with no fallback",
    () =>
      Effect.gen(function*() {
        const dir = yield* folder
        const logged: Array<string> = []
        const logger = Logger.make(({ message }) => {
          logged.push(String(message))
        })
        for (const [name, text] of files) {
          const path = Path.join(dir, name)
          Fs.writeFileSync(path, text)
          const here = yield* Effect.either(Config.load(path))
          const there = yield* Effect.either(Config.load(path, { parseOffThread: true })).pipe(
            Effect.provide(Logger.replace(Logger.defaultLogger, logger))
          )
          const shown = (result: typeof here) =>
            Either.match(result, {
              onLeft: (error) => ({ errors: error.errors }),
              onRight: (loaded) => ({ config: loaded.config })
            })
          expect(shown(there), name).toEqual(shown(here))
        }
        // Both outcomes occur: the comparison covers data as well as problems.
        const outcomes = yield* Effect.forEach(files, ([name]) => Effect.either(Config.load(Path.join(dir, name))))
        expect(outcomes.filter(Either.isRight)).toHaveLength(2)
        // The worker answered each time: no "parsed on the serving thread" warning.
        expect(logged).toEqual([])
      }).pipe(Effect.provide(NodeFileSystem.layer)),
    60_000
  )
})
