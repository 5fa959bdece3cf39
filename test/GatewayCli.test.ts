import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Console, Data, Effect, Either, FiberRef } from "effect"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Cli from "../src/gateway/Cli.js"
import * as Config from "../src/gateway/Config.js"
import * as Keys from "../src/gateway/Keys.js"
import { serveFile } from "../src/gateway/serveFile.js"
import { acme, env, withEnv } from "./support/gatewayConfig.js"

/** A Console that keeps what is written to stdout and stderr. */
const capture = () => {
  const out: Array<string> = []
  const err: Array<string> = []
  const write = (into: Array<string>) => (...args: ReadonlyArray<unknown>) =>
    Effect.sync(() => {
      into.push(args.map(String).join(" "))
    })
  const console = new Proxy({} as Console.Console, {
    get: (_, name) => {
      if (name === Console.TypeId) return Console.TypeId
      if (name === "log" || name === "info") return write(out)
      if (name === "error" || name === "warn") return write(err)
      if (name === "unsafe") return globalThis.console
      return () => Effect.void
    }
  })
  return { console, out, err }
}

const run = (
  args: ReadonlyArray<string>,
  options: Partial<Cli.MakeOptions> = {},
  vars: ReadonlyMap<string, string> = env
) =>
  Effect.gen(function*() {
    const served: Array<unknown> = []
    const cli = Cli.make({
      serve: (serveOptions) => Effect.zipRight(Effect.sync(() => served.push(serveOptions)), Effect.fail("stopped")),
      ...options
    })
    const { console, err, out } = capture()
    const code = yield* withEnv(cli.main(args), vars).pipe(
      Effect.withConsole(console),
      Effect.provide(NodeContext.layer)
    )
    return { code, out: out.join("\n"), err: err.join("\n"), served }
  })

/**
 * What `check-config` and `gateway` print for a file both must refuse: each exits 1, serves nothing, and prints
 * the same.
 */
const refusedByBoth = (file: string, vars: ReadonlyMap<string, string> = env) =>
  Effect.gen(function*() {
    const checked = yield* run(["check-config", file], {}, vars)
    const started = yield* run(["gateway", "--config", file], {}, vars)
    for (const result of [checked, started]) {
      expect(result.code).toBe(1)
      expect(result.served).toEqual([])
    }
    expect(started.err).toBe(checked.err)
    return checked.err
  })

const configFile = (content: string, name = "gateway.yaml") =>
  Effect.acquireRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "gateway-cli-"))),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true }))
  ).pipe(Effect.map((dir) => {
    const file = Path.join(dir, name)
    Fs.writeFileSync(file, content)
    return file
  }))

/** A port of 127.0.0.1 held by another listener for the test's scope. */
const occupiedPort = Effect.acquireRelease(
  Effect.async<Net.Server>((resume) => {
    const server = Net.createServer()
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
  }),
  (server) =>
    Effect.async<void>((resume) => {
      server.close(() => resume(Effect.void))
    })
).pipe(Effect.map((server) => (server.address() as Net.AddressInfo).port))

class Broken extends Data.TaggedError("Broken")<{ readonly cause: unknown }> {}

const valid = `
server: { port: 4100 }
providers:
  local: { type: openai-compatible, baseUrl: "http://127.0.0.1:9/v1" }
models:
  small: { provider: local, model: m }
tenants:
  acme: { keys: ["${acme.hash}"], models: "*" }
`

describe("liter-llm CLI", () => {
  it.scoped("check-config: a valid file exits 0 with a summary", () =>
    Effect.gen(function*() {
      const file = yield* configFile(valid)
      const result = yield* run(["check-config", file])
      expect(result.code).toBe(0)
      expect(result.out).toContain(`${file}: valid`)
      expect(result.out).toContain("1 provider, 1 model route, 1 tenant, no admin key")
      expect(result.out).toContain("listens on 127.0.0.1:4100")
    }))

  it.scoped("check-config: an invalid file exits 1 listing every error with its path", () =>
    Effect.gen(function*() {
      const file = yield* configFile(
        valid.replace("provider: local", "provider: lokal").replace("models: \"*\"", "models: [big]")
      )
      const result = yield* run(["check-config", file])
      expect(result.code).toBe(1)
      expect(result.err).toContain("invalid config (2 errors)")
      expect(result.err).toContain("models.small.provider: unknown provider \"lokal\" (known: \"local\")")
      expect(result.err).toContain("tenants.acme.models[0]: unknown model \"big\" (routes: \"small\")")
      const missing = yield* run(["check-config", `${file}.absent`])
      expect(missing.code).toBe(1)
    }))

  it.scoped("check-config and gateway: where spans go, from the file or the OTEL_* variables; a bad variable exits 1", () =>
    Effect.gen(function*() {
      const file = yield* configFile(valid)
      expect((yield* run(["check-config", file])).out).toContain("spans: not exported")
      const fromEnv = yield* run(
        ["check-config", file],
        {},
        new Map([...env, ["OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"]])
      )
      expect(fromEnv.out).toContain("spans: OTLP http/json to http://c:4318/v1/traces as \"liter-llm-gateway\"")
      const withSection = yield* configFile(
        `${valid}telemetry: { serviceName: gw, otlp: { endpoint: "http://c:4318/v1/traces" } }\n`
      )
      expect((yield* run(["check-config", withSection])).out).toContain(
        "spans: OTLP http/json to http://c:4318/v1/traces as \"gw\""
      )
      const bad = new Map([...env, ["OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"], [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "http://c:4317"
      ]])
      for (const command of [["check-config", file], ["gateway", "--config", file]]) {
        const refused = yield* run(command, {}, bad)
        expect(refused.code).toBe(1)
        expect(refused.served).toEqual([])
        expect(refused.err).toContain(`${file}: span export refused: OTEL_EXPORTER_OTLP_PROTOCOL must be`)
      }
    }))

  it.scoped("hash-key: reads the key on stdin and prints its hash; a short key exits 1", () =>
    Effect.gen(function*() {
      const ok = yield* run(["hash-key"], { readStdin: Effect.succeed(`${acme.key}\n`) })
      expect(ok).toMatchObject({ code: 0, out: acme.hash })
      const short = yield* run(["hash-key"], { readStdin: Effect.succeed("sk-short\n") })
      expect(short.code).toBe(1)
      expect(short.err).toContain("at least 20 characters")
      expect(short.out).toBe("")
      // Not a key: far more than one line (what `< /dev/zero` gives), refused whole, never hashed.
      const flood = yield* run(["hash-key"], { readStdin: Effect.succeed("k".repeat(70_000)) })
      expect(flood).toMatchObject({ code: 1, out: "" })
      expect(flood.err).toContain("hash-key: standard input holds more than 65536 bytes: a key is one line")
    }))

  it.scoped("hash-key --generate: a new key and its hash", () =>
    Effect.gen(function*() {
      const result = yield* run(["hash-key", "--generate"], { readStdin: Effect.die("stdin is not read") })
      expect(result.code).toBe(0)
      const [, key] = /key: {2}(\S+)/.exec(result.out)!
      const [, hash] = /hash: (\S+)/.exec(result.out)!
      expect(Keys.hashKey(key!)).toEqual(Either.right(hash))
    }))

  it.scoped("gateway: checks the config, then serves with the host and port of the flags, the config, or the defaults", () =>
    Effect.gen(function*() {
      const file = yield* configFile(valid)
      const fromConfig = yield* run(["gateway", "--config", file])
      expect(fromConfig.served).toMatchObject([{ configPath: file, host: "127.0.0.1", port: 4100 }])
      expect(fromConfig.code).toBe(1) // the fake server stopped with an error
      // The config it checked is handed to the server, which need not read the file again.
      const handed = (fromConfig.served[0] as { readonly loaded?: Config.Loaded }).loaded
      expect(handed?.source).toBe(file)
      const written = Either.getOrThrow(Config.parse(valid, file)) as { readonly models: object }
      expect(Object.keys(handed?.config.models ?? {})).toEqual(Object.keys(written.models))
      const flags = yield* run(["gateway", "-c", file, "--host", "0.0.0.0", "--port", "8080"])
      expect(flags.served).toMatchObject([{ configPath: file, host: "0.0.0.0", port: 8080 }])
      const bare = yield* configFile(valid.replace("server: { port: 4100 }", ""))
      expect((yield* run(["gateway", "--config", bare])).served).toMatchObject([
        { configPath: bare, host: "127.0.0.1", port: 4000 }
      ])
      const invalid = yield* configFile(valid.replace("type: openai-compatible", "type: antropic"))
      const refused = yield* run(["gateway", "--config", invalid])
      expect(refused.code).toBe(1)
      expect(refused.served).toEqual([])
      expect(refused.err).toContain("providers.local.type: unknown provider type \"antropic\"")
    }))

  it.scoped("--log-level anywhere on the line sets the minimum log level; a level it does not know is refused", () =>
    Effect.gen(function*() {
      const file = yield* configFile(valid)
      const levels: Array<string> = []
      const serve: Cli.MakeOptions["serve"] = () =>
        Effect.zipRight(
          Effect.flatMap(FiberRef.get(FiberRef.currentMinimumLogLevel), (level) =>
            Effect.sync(() => levels.push(level._tag))),
          Effect.fail("stopped")
        )
      for (
        const args of [
          ["--log-level", "debug", "gateway", "--config", file],
          ["gateway", "--config", file, "--log-level", "error"],
          ["gateway", "--log-level=Warning", "--config", file]
        ]
      ) {
        const result = yield* run(args, { serve })
        expect(result.err).not.toContain("unknown argument")
      }
      expect(levels).toEqual(["Debug", "Error", "Warning"])
      const loud = yield* run(["gateway", "--config", file, "--log-level", "loud"], { serve })
      expect(loud.code).toBe(2)
      expect(loud.err).toContain(
        "--log-level takes one of all, trace, debug, info, warning, error, fatal, none, not \"loud\""
      )
      // An error @effect/cli reports itself is printed once, --log-level or not.
      const missing = yield* run(["check-config", "--log-level", "debug"], { serve })
      expect(missing.code).toBe(2)
      expect(missing.err.split("check-config needs a FILE")).toHaveLength(2)
      const none = yield* run(["gateway", "--config", file, "--log-level"], { serve })
      expect(none).toMatchObject({ code: 2, err: expect.stringContaining("--log-level needs a value") })
      expect(levels).toHaveLength(3)
    }))

  it.scoped("the command line is checked first: an unknown or repeated option, a port not in digits, in one line", () =>
    Effect.gen(function*() {
      const file = yield* configFile(valid)
      const refusals: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
        [
          ["check-config", "--frob", file],
          "check-config has no option \"--frob\" (it takes only the options every command takes: --help, --version, --wizard, --completions, --log-level)"
        ],
        [["check-config", "--frob"], "check-config has no option \"--frob\""],
        [
          ["gateway", "--config", file, "--verbose"],
          "gateway has no option \"--verbose\" (its options: --config, -c, --host, --port; every command takes --help, --version, --wizard, --completions, --log-level)"
        ],
        [["gateway", "--port", "1", "--port", "2", "-c", file], "--port is given more than once"],
        [["gateway", "-c", file, "--config", file], "--config is given more than once"],
        [
          ["gateway", "--config", file, "--port", "1e3"],
          "--port must be a port number from 0 to 65535 (0: any free port), not \"1e3\""
        ],
        [["gateway", "--config", file, "--port=0x100"], "not \"0x100\""],
        [
          ["gateway", "--config", file, "--port", "70000"],
          "--port must be a port number from 0 to 65535 (0: any free port), not \"70000\""
        ],
        [["gateway", "--config"], "--config needs a value"],
        [["--wizard"], "--wizard needs a terminal"],
        [["gateway", "--config="], "--config needs a value"],
        [
          ["GATEWAY", "--config", file],
          "unknown command \"GATEWAY\": did you mean gateway? (commands: gateway, check-config, hash-key)"
        ],
        [["check-confg", file], "unknown command \"check-confg\": did you mean check-config?"],
        [["--hlep"], "unknown option \"--hlep\": did you mean --help?"],
        [
          ["gateway", "-c", file, "--log-levl", "info"],
          "gateway has no option \"--log-levl\": did you mean --log-level?"
        ],
        [["serve", file], "unknown command \"serve\" (commands: gateway, check-config, hash-key)"],
        [
          ["gateway", "--confg", file],
          "gateway has no option \"--confg\": did you mean --config? (its options: --config, -c, --host, --port;"
        ],
        [["--config", file, "gateway"], "\"--config\" is an option of gateway: put it after the command"],
        [["--completions", "foo"], "--completions takes one of sh, bash, fish, zsh, not \"foo\""],
        [["gateway"], "gateway needs --config FILE"],
        [["gateway", "--port", "1"], "gateway needs --config FILE"],
        [["gateway", "extra", "-c", file], "gateway takes no arguments, only options (got \"extra\")"],
        [["check-config"], "check-config needs a FILE"],
        [["check-config", ""], "check-config needs a FILE, not an empty argument"],
        [["check-config", "--", ""], "check-config needs a FILE, not an empty argument"],
        [["check-config", file, "b"], "check-config takes one FILE, not more (also got \"b\")"],
        [["check-config", "--", file, "b"], "check-config takes one FILE, not more (also got \"b\")"],
        [["hash-key", "sk-key"], "hash-key takes no arguments, only options (got \"sk-key\")"]
      ]
      for (const [args, said] of refusals) {
        const result = yield* run(args, { interactive: false })
        expect(result, args.join(" ")).toMatchObject({ code: 2, served: [] })
        expect(result.err.split("\n")[0]).toContain(said)
      }
      const equals = yield* run(["gateway", `--config=${file}`, "--port=8080"])
      expect(equals.served).toMatchObject([{ configPath: file, host: "127.0.0.1", port: 8080 }])
    }))

  it.scoped("a config path that is no readable file: exit 1 saying why, whatever it is", () =>
    Effect.gen(function*() {
      const file = yield* configFile(valid)
      const cases: ReadonlyArray<readonly [string, string]> = [
        [Path.dirname(file), "cannot read the file: it is a directory"],
        [`${file}.absent`, "cannot read the file: no such file"],
        ["/dev/zero", "cannot read the file: it is not a regular file"],
        [`${file}/inside.yaml`, "cannot read the file: a part of the path is not a directory"],
        [
          yield* configFile("#".repeat(16 * 1024 * 1024 + 1)),
          "cannot read the file: it has 16777217 bytes, more than a config may have (16777216)"
        ]
      ]
      for (const [path, said] of cases) {
        for (const args of [["check-config", path], ["gateway", "--config", path]]) {
          const result = yield* run(args)
          expect(result, args.join(" ")).toMatchObject({ code: 1, served: [] })
          expect(result.err).toContain(said)
        }
      }
    }))

  it.effect("--version prints the version alone", () =>
    Effect.gen(function*() {
      const result = yield* run(["--version"], { version: "9.8.7" })
      expect(result).toMatchObject({ code: 0, out: "9.8.7", err: "" })
    }))

  it.effect("--version with a command or other options prints the version alone; with --help, the help", () =>
    Effect.gen(function*() {
      for (
        const args of [
          ["--version", "--log-level", "debug"],
          ["gateway", "--version"],
          ["--version", "check-config", "gateway.yaml"],
          ["hash-key", "--version"]
        ]
      ) {
        const result = yield* run(args, { version: "9.8.7" })
        expect(result, args.join(" ")).toMatchObject({ code: 0, out: "9.8.7", err: "", served: [] })
      }
      const help = yield* run(["--version", "--help"], { version: "9.8.7" })
      expect(help.out).toContain("check-config")
      // After `--`, `--version` is a file name, not the option.
      const file = yield* run(["check-config", "--", "--version"], { version: "9.8.7" })
      expect(file).toMatchObject({ code: 1 })
      expect(file.err).toContain("cannot read the file")
    }))

  it.scoped(
    "gateway on a port in use: exit 1 with one line saying why, not an empty one",
    () =>
      Effect.gen(function*() {
        const file = yield* configFile(valid)
        const port = yield* occupiedPort
        const result = yield* run(["gateway", "--config", file, "--port", String(port)], { serve: serveFile })
        expect(result).toMatchObject({
          code: 1,
          err: `cannot listen on 127.0.0.1:${port}: address already in use (EADDRINUSE)`
        })
      }),
    20_000
  )

  it.scoped("any other failure of the server prints its reason: its message, else its tag and its cause's", () =>
    Effect.gen(function*() {
      const file = yield* configFile(valid)
      const serve = () => Effect.fail(new Broken({ cause: new Error("disk full") }))
      expect(yield* run(["gateway", "--config", file], { serve })).toMatchObject({ code: 1, err: "Broken: disk full" })
      const serveError = () => Effect.fail(Object.assign(new Error(""), { _tag: "ServeError", cause: "no socket" }))
      expect(yield* run(["gateway", "--config", file, "--host", "::1", "--port", "4100"], { serve: serveError }))
        .toMatchObject({ code: 1, err: "cannot listen on [::1]:4100: no socket" })
    }))

  it.scoped("check-config and gateway: a Redis URL the gateway would refuse exits 1 at its config path", () =>
    Effect.gen(function*() {
      const file = yield* configFile(`${valid}redis: {}\n`)
      for (const url of ["not a url", "http://127.0.0.1:6390", "redis://:hunter2@127.0.0.1:6390/abc"]) {
        for (const command of [["check-config", file], ["gateway", "--config", file]]) {
          const result = yield* run(command, {}, new Map([...env, ["REDIS_URL", url]]))
          expect(result.code).toBe(1)
          expect(result.served).toEqual([])
          expect(result.err).toMatch(/\n {2}redis\.urlEnv: REDIS_URL (must be a redis:\/\/|has a database part)/)
          expect(result.err).not.toContain("hunter2")
        }
      }
      const ok = yield* run(["check-config", file], {}, new Map([...env, ["REDIS_URL", "redis://127.0.0.1:6390/1"]]))
      expect(ok.code).toBe(0)
      // The prefix in use is said: the file's, else the default (the REDIS_KEY_PREFIX variable is not read).
      expect(ok.out).toContain("state: Redis, keys under \"liter-llm:\" (shared by every instance with that prefix)")
      const prefixed = yield* configFile(`${valid}redis: { keyPrefix: "gw-a:" }\n`)
      const vars = new Map([...env, ["REDIS_URL", "redis://127.0.0.1:6390/1"], ["REDIS_KEY_PREFIX", "other:"]])
      expect((yield* run(["check-config", prefixed], {}, vars)).out).toContain("keys under \"gw-a:\"")
    }))

  it.scoped("check-config and gateway: a password in the Redis URL's variable is never printed, whatever it holds", () =>
    Effect.gen(function*() {
      // The variable named by mistake holds the password itself, or a URL garbled around it.
      const file = yield* configFile(`${valid}redis: { urlEnv: REDIS_PASSWORD }\n`)
      for (
        const [value, described] of [
          ["Tr0ub4dor&3-hunter2", "got a value of 19 characters that does not start with a scheme://"],
          ["hunter2secret", "got a value of 13 characters that does not start with a scheme://"],
          ["redis://127.0.0.1:6379 password hunter2secret", "got a value of 45 characters with spaces"],
          ["redis:///hunter2secret", "got a value of 22 characters without a host"],
          ["redis://127.0.0.1/hunter2secret", "has a database part (after the host) that is not a number"],
          ["redis://:hunter2@256.1.1.1", "has an invalid host: it is not a valid IPv4 address"],
          ["redis://:hunter2@1.2.3.4.5", "has an invalid host: it is not a valid IPv4 address"],
          ["redis://:hunter2@-bad-:6379", "has an invalid host: it is not a valid host name"]
        ] as const
      ) {
        const err = yield* refusedByBoth(file, new Map([...env, ["REDIS_PASSWORD", value]]))
        expect(err).toContain(`\n  redis.urlEnv: REDIS_PASSWORD `)
        expect(err).toContain(described)
        expect(err).not.toContain("hunter2")
        expect(err).not.toContain("Tr0ub4dor")
      }
    }))

  it.scoped("check-config and gateway: a server.host the server would refuse is an invalid config, not a failed start", () =>
    Effect.gen(function*() {
      for (
        const [host, error] of [
          ["127.0.0.1 ", "must not contain spaces or control characters, got \"127.0.0.1 \""],
          ["not a host", "must not contain spaces or control characters, got \"not a host\""],
          ["http://127.0.0.1", "must be a host name or an IP address, not a URL (the port goes in port:)"],
          ["127.0.0.1:4000", "must be a host name or an IP address without a port (the port goes in port:)"],
          ["[::1]", "must be an IPv6 address without brackets"],
          ["256.0.0.1", "is not a valid IPv4 address (four numbers from 0 to 255)"],
          ["-gateway", "is not a valid host name"]
        ] as const
      ) {
        const file = yield* configFile(valid.replace("server: { port: 4100 }", `server: { host: "${host}" }`))
        expect(yield* refusedByBoth(file)).toContain(`invalid config (1 error):\n  server.host: ${error}`)
      }
      for (const host of ["0.0.0.0", "::", "::1", "localhost", "gateway.internal"]) {
        const file = yield* configFile(valid.replace("server: { port: 4100 }", `server: { host: "${host}" }`))
        expect((yield* run(["check-config", file])).code).toBe(0)
      }
    }))

  it.scoped("check-config and gateway: an OTLP header value the exporter could not send is refused, never printed", () =>
    Effect.gen(function*() {
      const file = yield* configFile(
        `${valid}telemetry: { otlp: { endpoint: "http://127.0.0.1:4318/v1/traces", headersEnv: { authorization: OTLPAUTH } } }\n`
      )
      for (const value of ["Bearer abc\ndef-secret", "Bearer abc€-secret", "Bearer abc\r-secret"]) {
        expect(yield* refusedByBoth(file, new Map([...env, ["OTLPAUTH", value]]))).toBe(
          `${file}: span export refused: telemetry.otlp.headersEnv.authorization: OTLPAUTH has a character not allowed in an HTTP header (a line break, a control or a non-Latin-1 character)`
        )
      }
      expect((yield* run(["check-config", file], {}, new Map([...env, ["OTLPAUTH", "Bearer abc-é"]]))).code).toBe(0)
      // The same from the standard variable, its value percent-encoded.
      const bare = yield* configFile(valid)
      const vars = new Map([
        ...env,
        ["OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"],
        ["OTEL_EXPORTER_OTLP_HEADERS", "x-team=a,authorization=abc%0Adef-secret"]
      ])
      expect(yield* refusedByBoth(bare, vars)).toBe(
        `${bare}: span export refused: OTEL_EXPORTER_OTLP_HEADERS entry 2 (authorization) has a character not allowed in an HTTP header (a line break, a control or a non-Latin-1 character)`
      )
    }))

  it.scoped("check-config refuses what a provider or policy layer refuses when the gateway builds it, as the gateway does", () =>
    Effect.gen(function*() {
      const withKey = valid.replace("type: openai-compatible,", "type: openai-compatible, apiKeyEnv: LOCAL_KEY,")
      const cases: ReadonlyArray<
        readonly [config: string, vars: ReadonlyArray<readonly [string, string]>, error: string]
      > = [
        // a key from the environment that cannot be sent in a header: a line break (a file's last), a non-Latin-1 character
        // (said by the variable, where the fix is, not by each route over the provider)
        [
          withKey,
          [["LOCAL_KEY", "sk-secret-123\n"]],
          "providers.local.apiKeyEnv: environment variable LOCAL_KEY has a character not allowed"
        ],
        [
          withKey,
          [["LOCAL_KEY", "sk-secret-€"]],
          "providers.local.apiKeyEnv: environment variable LOCAL_KEY has a character not allowed"
        ],
        // settings only a provider's layer knows the rules of
        [
          valid.replace(
            "type: openai-compatible, baseUrl: \"http://127.0.0.1:9/v1\"",
            "type: gemini, apiKeyEnv: LOCAL_KEY, apiVersion: v1/beta"
          ),
          [["LOCAL_KEY", "sk-secret-123"]],
          "models.small: Gemini.layer: apiVersion must be one URL path segment such as \"v1beta\", got \"v1/beta\""
        ],
        [
          valid.replace(
            "type: openai-compatible, baseUrl: \"http://127.0.0.1:9/v1\"",
            "type: anthropic, apiKeyEnv: LOCAL_KEY, apiVersion: 2023-06-01€"
          ),
          [["LOCAL_KEY", "sk-secret-123"]],
          "models.small: Anthropic.layer: apiVersion has a character not allowed in an HTTP header"
        ],
        [
          `${valid}contextWindow: { maxOutputTokens: 0 }\n`,
          [],
          "models.small: ContextWindow.layer: maxOutputTokens must be a positive integer (tokens), got 0"
        ]
      ]
      for (const [config, vars, error] of cases) {
        const file = yield* configFile(config)
        const err = yield* refusedByBoth(file, new Map([...env, ...vars]))
        expect(err).toContain(`${file}: invalid config (1 error):\n  ${error}`)
        expect(err).not.toContain("secret")
      }
    }))

  it.scoped("check-config and gateway warn (and go on) of a budgeted tenant whose model's price bounds no output", () =>
    Effect.gen(function*() {
      const priced = (price: string, budget: string) =>
        configFile(
          valid.replace("models: \"*\" }", `models: "*"${budget} }`) +
            `pricing: { dataset: false, models: { m: { inputPerMillion: 1, outputPerMillion: 2${price} } } }\n`
        )
      const budget = ", budget: { limitUsd: 5, period: day }"
      const unbounded = yield* run(["check-config", yield* priced("", budget)])
      expect(unbounded.code).toBe(0)
      expect(unbounded.out).toContain(
        "  warning: tenants.acme: budgeted, but the price of \"m\" has neither maxOutputTokens nor contextWindow"
      )
      for (
        const file of [yield* priced(", maxOutputTokens: 100", budget), yield* priced(", contextWindow: 8000", budget)]
      ) {
        expect((yield* run(["check-config", file])).out).not.toContain("warning")
      }
      expect((yield* run(["check-config", yield* priced("", "")])).out).not.toContain("warning")
      // `gateway` says the same on stderr and starts anyway.
      const started = yield* run(["gateway", "--config", yield* priced("", budget)])
      expect(started.err).toContain("warning: tenants.acme: budgeted, but the price of \"m\"")
      expect(started.served).toHaveLength(1)
    }))

  it.scoped("check-config and gateway: an alias bomb, an empty file, a timing Node refuses are invalid configs", () =>
    Effect.gen(function*() {
      const ten = (alias: string) => `[${Array.from({ length: 10 }, () => `*${alias}`).join(", ")}]`
      const bomb = yield* configFile(
        `${valid}a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b ${ten("a")}\nc: &c ${ten("b")}\nd: &d ${ten("c")}\n` +
          `e: &e ${ten("d")}\nf: &f ${ten("e")}\ng: ${ten("f")}\n`
      )
      const empty = yield* configFile(" \n", "gateway.json")
      const nanos = yield* configFile(
        valid.replace("server: { port: 4100 }", "server: { requestTimeout: \"1 nanos\" }")
      )
      for (
        const [file, error] of [
          [bomb, "not valid YAML: its aliases expand it by more than 4,000,000 values (an alias bomb?)"],
          [empty, "the config file is empty"],
          [nanos, "server.requestTimeout: expected a duration from 1 ms to 24.8 days, got \"1 nanos\""]
        ] as const
      ) {
        for (const command of [["check-config", file], ["gateway", "--config", file]]) {
          const result = yield* run(command)
          expect(result.code).toBe(1)
          expect(result.served).toEqual([])
          expect(result.err).toBe(`${file}: invalid config (1 error):\n  ${error}`)
        }
      }
    }))

  it.scoped("the server missing from the build: exit 1 saying so", () =>
    Effect.gen(function*() {
      const file = yield* configFile(valid)
      const missing = Object.assign(new Error("Cannot find module './Server.js'"), { code: "ERR_MODULE_NOT_FOUND" })
      const result = yield* run(["gateway", "--config", file], { serve: Cli.serveFrom(() => Promise.reject(missing)) })
      expect(result).toMatchObject({ code: 1, err: "the gateway server is not part of this build" })
    }))

  it.scoped("usage errors exit 2; --help explains each command", () =>
    Effect.gen(function*() {
      expect((yield* run(["check-config"])).code).toBe(2)
      const missing = yield* run(["gateway"])
      expect(missing.code).toBe(2)
      expect(missing.err).toContain("liter-llm --help")
      expect((yield* run(["serve-it"])).code).toBe(2)
      // A port out of range is a usage error naming --port, before the config is read.
      const file = yield* configFile(valid)
      for (const port of ["99999", "-1"]) {
        const outOfRange = yield* run(["gateway", "--config", file, "--port", port])
        expect(outOfRange.code).toBe(2)
        expect(outOfRange.err).toContain("--port must be a port number from 0 to 65535")
      }
      // So is a host the server could not listen on, with the server's own reason.
      const url = yield* run(["gateway", "--config", file, "--host", "http://x"])
      expect(url.code).toBe(2)
      // One line, then the hint, as every command-line error (no blank line between).
      expect(url.err).toBe(
        "--host must be a host name or an IP address, not a URL (the port goes in --port), got \"http://x\"\n" +
          "Run `liter-llm --help`, or `liter-llm <command> --help`, for the usage."
      )
      const help = yield* run(["--help"])
      expect(help.code).toBe(0)
      for (const text of ["gateway", "check-config", "hash-key"]) expect(help.out).toContain(text)
      const hashHelp = yield* run(["hash-key", "--help"])
      expect(hashHelp.out).toContain("Reads a virtual key on stdin")
      expect(hashHelp.out).toContain("--generate")
      // Wherever it is on the line, after the command's options too, and whatever else the line lacks.
      for (
        const [args, said] of [
          [["gateway", "--config", file, "--port", "4001", "--help"], "Starts the OpenAI-compatible gateway"],
          [["gateway", "--port", "4001", "-h"], "Starts the OpenAI-compatible gateway"],
          [["gateway", "--config", file, "--version", "--help"], "Starts the OpenAI-compatible gateway"],
          [["hash-key", "--generate", "--help"], "Reads a virtual key on stdin"],
          [["check-config", file, "other", "--help"], "check-config"]
        ] as const
      ) {
        const result = yield* run(args)
        expect(result, args.join(" ")).toMatchObject({ code: 0, err: "", served: [] })
        expect(result.out).toContain(said)
      }
    }))

  it.effect("the help is coloured for a terminal, plain for a pipe or under NO_COLOR (plainConsole)", () =>
    Effect.gen(function*() {
      const help = (plain: boolean) =>
        Effect.gen(function*() {
          const { console, err, out } = capture()
          // The capture is a Proxy: the methods plainConsole keeps are given as own properties.
          const base = { [Console.TypeId]: Console.TypeId, log: console.log, error: console.error } as Console.Console
          const cli = Cli.make({ serve: () => Effect.fail("stopped") })
          yield* cli.main(["--help"]).pipe(
            Effect.withConsole(Cli.plainConsole(base, { log: plain, error: plain })),
            Effect.provide(NodeContext.layer)
          )
          return out.join("\n") + err.join("\n")
        })
      expect(yield* help(false)).toContain("\u001b[")
      const plain = yield* help(true)
      expect(plain).not.toContain("\u001b")
      expect(plain).toContain("check-config")
    }))
})
