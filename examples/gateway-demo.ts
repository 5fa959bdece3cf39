/**
 * Try the gateway: two local mock providers and a gateway in front of them, on this machine only, no API key.
 *
 *   npm run gateway:demo                 # serves on 127.0.0.1:4000
 *   npm run gateway:demo -- --port 4100  # or another port (PORT=4100 works too)
 *
 * It serves examples/gateway.yaml with its providers pointed at the mocks (started on free ports), prints the
 * commands to call it with curl and with the openai SDK, and stops everything on Ctrl-C (or when its terminal
 * closes). The "primary" mock answers unless the prompt contains "fail": then it answers 503 and the route falls
 * back to "backup".
 */
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Schedule } from "effect"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import * as Yaml from "yaml"
import { Cli, serveFile } from "../src/gateway/index.js"
import { MockProvider, OpenAiMock } from "../src/testing/index.js"

const example = fileURLToPath(new URL("gateway.yaml", import.meta.url))
// The demo keys of examples/gateway.yaml (their hashes are in the file).
const acmeKey = "sk-liter-demo-acme-0123456789abcdef"
const globexKey = "sk-liter-demo-globex-0123456789abcdef"
const adminKey = "sk-liter-demo-admin-0123456789abcdef"

const portArgs = process.argv.flatMap((arg, i) =>
  arg === "--port" ? [process.argv[i + 1]] : arg.startsWith("--port=") ? [arg.slice("--port=".length)] : []
)
if (portArgs.length > 1) {
  process.stderr.write("gateway demo: --port is given more than once\n")
  process.exit(2)
}
const portText = portArgs.length === 1 ? portArgs[0] : process.env.PORT ?? "4000"
const port = Number(portText)
if (!/^\d+$/.test(portText ?? "") || port < 1 || port > 65535) {
  process.stderr.write(`gateway demo: --port (or PORT) must be a port 1-65535, got ${JSON.stringify(portText)}\n`)
  process.exit(2)
}

/** Whether 127.0.0.1:`port` can be listened on now: another program there would answer the demo's probes. */
const portFree = (port: number) =>
  Effect.async<boolean>((resume) => {
    const probe = Net.createServer()
    probe.once("error", () => resume(Effect.succeed(false)))
    probe.listen(port, "127.0.0.1", () => probe.close(() => resume(Effect.succeed(true))))
  })

const promptOf = (request: MockProvider.RecordedRequest) => JSON.stringify(request.bodyText)

/** A mock that answers every request (streamed when asked), and a 503 to prompts containing "fail" if `fails`. */
const mock = (name: string, fails: boolean) =>
  MockProvider.make({
    route: (request) => fails && promptOf(request).includes("fail") ? OpenAiMock.error(503, "overloaded") : undefined,
    onExhausted: MockProvider.fromRequest((request) => {
      const words = ["Hello", " from", ` the ${name}`, " mock."]
      return (request.body as { stream?: boolean } | undefined)?.stream === true
        ? OpenAiMock.stream({ deltas: words }, { chunkDelay: "100 millis" })
        : OpenAiMock.completion({ text: words.join("") })
    })
  })

const instructions = (base: string) => `
The gateway serves examples/gateway.yaml on ${base}
  primary mock: fails the prompts that contain "fail" (503), so the route "gpt-4o-mini" falls back to backup
  tenants: acme (every route, 50 USD a month), globex (gpt-4o-mini only, 1 USD a day)

Call it with curl:
  curl -s ${base}/v1/chat/completions -H "authorization: Bearer ${acmeKey}" \\
    -H "content-type: application/json" -D - \\
    -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello!"}]}'

  # the same again: x-liter-cache: hit. A stream (-N: print as it arrives):
  curl -sN ${base}/v1/chat/completions -H "authorization: Bearer ${acmeKey}" \\
    -H "content-type: application/json" \\
    -d '{"model":"mock-large","stream":true,"messages":[{"role":"user","content":"Stream please"}]}'

  # a fallback: x-liter-provider: backup, x-liter-attempts: 4 (primary and its 2 retries, then backup)
  curl -s ${base}/v1/chat/completions -H "authorization: Bearer ${acmeKey}" \\
    -H "content-type: application/json" -D - \\
    -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"please fail"}]}'

  # a route globex may not use (404), the models it may use, its spend; the admin reads every tenant's
  curl -s ${base}/v1/chat/completions -H "authorization: Bearer ${globexKey}" \\
    -H "content-type: application/json" -d '{"model":"mock-large","messages":[{"role":"user","content":"hi"}]}'
  curl -s ${base}/v1/models -H "authorization: Bearer ${globexKey}"
  curl -s ${base}/v1/usage -H "authorization: Bearer ${globexKey}"
  curl -s ${base}/v1/usage -H "authorization: Bearer ${adminKey}"
  curl -s ${base}/metrics | grep liter_llm_gateway_requests_total

With the openai SDK (from this repository):
  node --input-type=module -e '
    import OpenAI from "openai"
    const client = new OpenAI({ baseURL: "${base}/v1", apiKey: "${acmeKey}" })
    const answer = await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] })
    console.log(answer.choices[0].message.content)'

Ctrl-C stops the gateway and the mocks.
`

const main = Effect.gen(function*() {
  if (!(yield* portFree(port))) {
    return yield* Effect.fail(
      `127.0.0.1:${port} is in use (a gateway demo still running?): stop it, or choose another port with --port`
    )
  }
  const primary = yield* mock("primary", true)
  const backup = yield* mock("backup", false)
  // The example's config, pointed at the mocks and the chosen port, in a directory removed on exit.
  const config = Yaml.parse(Fs.readFileSync(example, "utf8"))
  config.providers.primary.baseUrl = `${primary.url}/v1`
  config.providers.backup.baseUrl = `${backup.url}/v1`
  config.server.port = port
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "liter-llm-gateway-demo-"))),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  )
  const configPath = Path.join(dir, "gateway.yaml")
  Fs.writeFileSync(configPath, Yaml.stringify(config))
  // The mocks accept any key; the config reads it from MOCK_KEY, as a real one would be read.
  process.env.MOCK_KEY ??= "sk-mock-demo-key"

  const base = `http://127.0.0.1:${port}`
  yield* Console.log(`mock providers: primary ${primary.url}, backup ${backup.url}`)
  const ready = Effect.promise(() => fetch(`${base}/ready`).then((response) => response.ok, () => false)).pipe(
    Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: (ok) => ok })
  )
  yield* Effect.forkScoped(Effect.zipRight(ready, Console.log(instructions(base))))
  // The terminal closed (SIGHUP): stop as on Ctrl-C, rather than reload and serve on with no one to stop it.
  process.once("SIGHUP", () => process.kill(process.pid, "SIGTERM"))
  // Serving runs until Ctrl-C, then drains the requests in flight before the mocks stop; if it cannot start (the
  // port is taken), its error ends the demo.
  return yield* serveFile({ configPath, host: "127.0.0.1", port, reloadOnSignal: false })
}).pipe(
  Effect.scoped,
  // One line, as the CLI says it, not a stack trace.
  Effect.catchAll((error) =>
    Effect.sync(() => {
      process.stderr.write(`gateway demo: ${typeof error === "string" ? error : Cli.failureText(error)}\n`)
      process.exitCode = 1
    })
  )
)

// The gateway logs JSON lines (`serveFile`); runMain's pretty logger would print each line a second time.
NodeRuntime.runMain(main.pipe(Effect.provide(NodeContext.layer)), { disablePrettyLogger: true })
