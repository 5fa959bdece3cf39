/**
 * A gateway started from a YAML config file in front of two mock providers, for the tests of real clients: the
 * file is read by the real loader, either into a runtime served on a free port (`loadRuntime`), or served as
 * the CLI serves it (`serveFile`, with reload on SIGHUP).
 */
import { NodeContext } from "@effect/platform-node"
import { Effect, Exit, Scope } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { loadRuntime } from "../../src/gateway/runtimeLoad.js"
import { serveFile } from "../../src/gateway/serveFile.js"
import type * as MockProvider from "../../src/testing/MockProvider.js"
import { serve } from "../support/gateway.js"
import { acme, env, globex, withEnv } from "../support/gatewayConfig.js"
import { eventually } from "../support/loopback.js"
import * as RedisServer from "../support/redisServer.js"

/** A port free on 127.0.0.1 right now. */
export const freePort = Effect.promise(RedisServer.freePort)

/**
 * A config in YAML: provider "a" then "b" as the fallback route `smart`, "b" alone as `small`; tenant acme may
 * use both, globex only `small`. Provider keys come from the environment (`MOCK_A_KEY`, `MOCK_B_KEY`).
 */
export const yamlConfig = (a: MockProvider.MockProvider, b: MockProvider.MockProvider, extra = "") => `
providers:
  a: { type: openai-compatible, baseUrl: "${a.url}/v1", apiKeyEnv: MOCK_A_KEY, retry: false }
  b: { type: openai-compatible, baseUrl: "${b.url}/v1", apiKeyEnv: MOCK_B_KEY, retry: false }
models:
  smart:
    fallback:
      - { provider: a, model: model-a }
      - { provider: b, model: model-b }
  small: { provider: b, model: model-b }
pricing:
  dataset: false
  models:
    model-a: { inputPerMillion: 1, outputPerMillion: 2 }
    model-b: { inputPerMillion: 1, outputPerMillion: 2 }
tenants:
  acme: { keys: ["${acme.hash}"], models: "*" }
  globex: { keys: ["${globex.hash}"], models: [small] }
${extra}`

/** Writes `content` to a file in a fresh directory, removed with the scope; its path. */
export const configFile = (content: string) =>
  Effect.acquireRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "gateway-clients-"))),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  ).pipe(Effect.map((dir) => {
    const file = Path.join(dir, "gateway.yaml")
    Fs.writeFileSync(file, content)
    return file
  }))

/** The gateway of a YAML config, loaded with `loadRuntime` and served on a free port; its base URL. */
export const fromYaml = (yaml: string) =>
  Effect.gen(function*() {
    const file = yield* configFile(yaml)
    const runtime = yield* withEnv(loadRuntime(file)).pipe(Effect.orDie, Effect.provide(NodeContext.layer))
    return yield* serve(runtime)
  })

/**
 * The gateway of a YAML config served as `liter-llm gateway --config FILE` serves it, in a scope of its own, with
 * `vars` as the environment: its base URL, its file, and `stop` (what SIGTERM does under `NodeRuntime.runMain`).
 */
export const startFile = (yaml: string, vars: ReadonlyMap<string, string> = env, at?: number) =>
  Effect.gen(function*() {
    const file = yield* configFile(yaml)
    const port = at ?? (yield* freePort)
    const scope = yield* Scope.make()
    yield* withEnv(serveFile({ configPath: file, host: "127.0.0.1", port }), vars).pipe(
      Effect.provide(NodeContext.layer),
      Effect.forkIn(scope)
    )
    const base = `http://127.0.0.1:${port}`
    yield* eventually(
      Effect.promise(() => fetch(`${base}/ready`).then((response) => response.ok, () => false)),
      "the gateway ready"
    )
    return { base, file, stop: Scope.close(scope, Exit.void) }
  })

/** The gateway of a YAML config served as `liter-llm gateway --config FILE` serves it; its base URL. */
export const servedFile = (yaml: string) =>
  Effect.gen(function*() {
    const gateway = yield* startFile(yaml)
    yield* Effect.addFinalizer(() => gateway.stop)
    return gateway.base
  })
