import { NodeFileSystem } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Option, Redacted } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Yaml from "yaml"
import * as Stores from "../src/gateway/buildStores.js"
import * as Config from "../src/gateway/Config.js"
import * as Check from "../src/gateway/configCheck.js"
import { fromLoaded } from "../src/gateway/runtimeLoad.js"
import * as Pricing from "../src/Pricing.js"
import { acme, admin, decode, env, errorsOf, globex, keyPair, withEnv } from "./support/gatewayConfig.js"

const local = { type: "openai-compatible", baseUrl: "http://127.0.0.1:9/v1" }
const minimal = { providers: { local }, models: { small: { provider: "local", model: "m" } } }

describe("Gateway config: decoding", () => {
  it.effect("every section: providers, routes, tenants, budgets, limits, cache, guardrails, window, pricing, redis, server", () =>
    Effect.gen(function*() {
      const loaded = yield* decode({
        server: { host: "0.0.0.0", port: 8080, maxBodyBytes: 2048, dropUnsupported: ["logprobs"], logContent: true },
        admin: { keys: [admin.hash] },
        redis: { urlEnv: "MY_REDIS", keyPrefix: "gw:", commandTimeout: "250 millis" },
        pricing: { dataset: false, models: { m: { inputPerMillion: 1, outputPerMillion: 2, contextWindow: 8000 } } },
        providers: {
          openai: {
            type: "openai",
            apiKeyEnv: "MOCK_A_KEY",
            retry: { times: 2, base: "100 millis", cap: "2 seconds" },
            timeout: { request: "30 seconds", firstToken: "10 seconds", idle: "5 seconds", total: "2 minutes" },
            circuitBreaker: { failureRateThreshold: 0.5, minimumCalls: 10, window: "1 minute", cooldown: "30 seconds" }
          },
          azure: { type: "azure", baseUrl: "https://r.openai.azure.com", apiKeyEnv: "MOCK_B_KEY", deployment: "d" },
          local
        },
        models: {
          "gpt-4o": {
            fallback: [
              { provider: "openai", model: "gpt-4o", retry: false },
              { provider: "azure", model: "gpt-4o", contextWindow: 128000 }
            ]
          },
          balanced: {
            router: {
              strategy: "weighted",
              deployments: [{ provider: "openai", model: "gpt-4o", weight: 3 }, {
                provider: "azure",
                model: "gpt-4o",
                weight: 1
              }]
            }
          },
          small: { provider: "local", model: "m", timeout: { request: "5 seconds" }, cache: false }
        },
        tenants: {
          acme: {
            keys: [acme.hash],
            models: "*",
            budget: { limitUsd: 100, period: "month" },
            rateLimit: { requests: { limit: 60, window: "1 minute" }, tokens: { limit: 1000, window: "1 minute" } },
            maxRequestCostUsd: 0.5
          },
          globex: { keys: [globex.hash], models: ["small"], budget: { limitUsd: 5, period: "12 hours" } }
        },
        budgets: { unpricedModels: "allow", maxRequestCostUsd: 2 },
        cache: { ttl: "10 minutes", maxEntries: 100 },
        guardrails: { input: [{ denyList: { terms: ["secret"] } }], output: [{ pii: { kinds: ["email"] } }] },
        contextWindow: { maxOutputTokens: 1000 }
      }, new Map([...env, ["MY_REDIS", "redis://127.0.0.1:6379"]]))
      const { config } = loaded
      expect(config.server?.port).toBe(8080)
      expect(Duration.toMillis(config.providers.openai!.timeout!.firstToken!)).toBe(10_000)
      expect(config.providers.openai!.retry).toMatchObject({ times: 2 })
      expect(config.models["gpt-4o"]!.fallback![0]!.retry).toBe(false)
      expect(config.models.balanced!.router!.strategy).toBe("weighted")
      const globexBudget = config.tenants!.globex!.budget!.period
      expect(Duration.isDuration(globexBudget) && Duration.toHours(globexBudget)).toBe(12)
      expect(Redacted.value(loaded.keys.get("openai")!)).toBe(env.get("MOCK_A_KEY"))
      expect(loaded.keys.has("local")).toBe(false)
      expect(Redacted.value(loaded.redisUrl!)).toBe("redis://127.0.0.1:6379")
    }))

  it.scoped("YAML and JSON by extension, from a file", () =>
    Effect.gen(function*() {
      // Removed with the test's scope, whatever its outcome.
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "gateway-config-"))),
        (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
      )
      const yaml = Path.join(dir, "gateway.yaml")
      Fs.writeFileSync(
        yaml,
        "providers:\n  local: { type: openai-compatible, baseUrl: 'http://127.0.0.1:9/v1' }\nmodels:\n  small: { provider: local, model: m }\n"
      )
      const json = Path.join(dir, "gateway.json")
      Fs.writeFileSync(json, JSON.stringify(minimal))
      const fromYaml = yield* withEnv(Config.load(yaml))
      const fromJson = yield* withEnv(Config.load(json))
      expect(fromYaml.config).toEqual(fromJson.config)
      expect(fromYaml.source).toBe(yaml)
      const bad = Path.join(dir, "bad.yaml")
      Fs.writeFileSync(bad, "providers: [\n")
      const refused = yield* Effect.flip(withEnv(Config.load(bad)))
      expect(refused.errors[0]).toMatch(/^not valid YAML: line \d+, column \d+: /)
      expect(yield* Effect.flip(withEnv(Config.load(Path.join(dir, "gateway.toml"))))).toBeDefined()
      const missing = yield* Effect.flip(withEnv(Config.load(Path.join(dir, "absent.yaml"))))
      expect(missing.errors[0]).toContain("cannot read the file")
      // A byte that is no UTF-8 (here in a model name) is refused, not read as U+FFFD.
      const latin1 = Path.join(dir, "latin1.yaml")
      Fs.writeFileSync(
        latin1,
        Buffer.concat([
          Buffer.from(Fs.readFileSync(yaml, "utf8").replace("model: m", "model: m-")),
          Buffer.from([0xe9])
        ])
      )
      expect((yield* Effect.flip(withEnv(Config.load(latin1)))).errors).toEqual([
        "the file is not valid UTF-8 text (save it as UTF-8)"
      ])
      expect(Either.isLeft(Config.parse("{}", "x.txt"))).toBe(true)
    }).pipe(Effect.provide(NodeFileSystem.layer)))
})

describe("Gateway config: a key written twice", () => {
  const refused = (text: string, source: string) =>
    Either.match(Config.parse(text, source), { onLeft: (error) => error.errors, onRight: () => [] })

  it("is refused in YAML, naming its path and where it is written again", () => {
    const yaml =
      "models:\n  a: { provider: p, model: m }\n  b:\n    fallback:\n      - provider: p\n        provider: q\n  a: { provider: p, model: n }\n"
    expect(refused(yaml, "gateway.yaml")).toEqual([
      "models.b.fallback[0].provider: written twice (again at line 6, column 9)",
      "models.a: written twice (again at line 7, column 3)"
    ])
    expect(refused("a: 1\nb: 2\na: 3\na: 4\n", "gateway.yaml")).toEqual([
      "a: written twice (again at line 3, column 1)",
      "a: written 3 times (again at line 4, column 1)"
    ])
  })

  it("is refused in JSON too, where JSON.parse alone keeps the last silently", () => {
    expect(refused(`{"models": {"a": {"model": "m"}, "a": {"model": "n"}}}`, "gateway.json")).toEqual([
      "models.a: written twice (again at line 1, column 34)"
    ])
    // Tabs, escapes and long keys are valid JSON: only a repeated key is a problem.
    const valid = `{\n\t"a": {"b": "\\u0000\\t"},\n\t"${"k".repeat(1500)}": 1\n}`
    expect(Config.parse(valid, "gateway.json")).toEqual(Either.right(JSON.parse(valid)))
  })

  it("a JSON syntax error says where, and nothing of the text (a key may be written unquoted there)", () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      [
        `{"providers": {"p": {"type": "openai",\n  "apiKey": sk-proj-0123456789abcdef}}}`,
        "line 2, column 13: Unexpected token 's'"
      ],
      [`// a comment\n{}`, "line 1, column 1: Unexpected token '/'"],
      [`{"models": {"a": 1,}}`, "line 1, column 20: Expected double-quoted property name"],
      [`{"models": {}}\n{"models": {}}`, "line 2, column 1: Unexpected non-whitespace character after JSON"],
      [`{"models": {"a": "b\nc"}}`, "line 1, column 20: Bad control character in string literal"],
      [`{"models": {"a": [1, 2,, 3]}}`, "line 1, column 24: Unexpected token ','"],
      [`{"models": {`, "line 1, column 13: Expected property name or '}'"],
      [`{"models": "ab`, "line 1, column 15: Unterminated string"],
      [`{"models":\n  tr`, "line 2, column 5: Unexpected end of JSON input"]
    ]
    for (const [text, said] of cases) {
      expect(refused(text, "gateway.json"), text).toEqual([`not valid JSON: ${said}`])
    }
    expect(refused(`{"a": sk-proj-0123456789abcdef}`, "gateway.json")[0]).not.toContain("sk-proj-0")
  })

  it("in JSON: found through escapes, lists and strings that look like JSON, on the right line", () => {
    const text = [
      `{"models": {"a": {"model": "{\\"a\\": 1, \\"a\\": 2}"},`,
      `  "b": {"fallback": [{"provider": "p"}, {"provider": "p", "model": "m", "\\u0070rovider": "q"}]},`,
      `  "c": {"model": "m"}, "c": {"model": "[,{"}, "c": {}},`,
      ` "tenants": {"t": {"models": ["a", "a"], "keys": []}, "u": {"t": {"t": 1}}}}`
    ].join("\n")
    expect(refused(text, "gateway.json")).toEqual([
      "models.b.fallback[1].provider: written twice (again at line 2, column 73)",
      "models.c: written twice (again at line 3, column 24)",
      "models.c: written 3 times (again at line 3, column 47)"
    ])
  })

  it("in JSON: a file nested 100 000 levels deep is scanned, its path built only for the key written again", () => {
    const deep = `${"[".repeat(50_000)}${"{\"a\": ".repeat(50_000)}{"b": 1, "b": 2}${"}".repeat(50_000)}${
      "]".repeat(50_000)
    }`
    const errors = refused(deep, "gateway.json")
    const path = `${"[0]".repeat(50_000)}${".a".repeat(50_000)}.b`
    // The path's start and end: a line, not 250 000 characters.
    expect(errors).toEqual([
      `${path.slice(0, 100)}...${path.slice(-97)}: written twice (again at line 1, column ${50_000 + 50_000 * 6 + 10})`
    ])
  })

  it("past 20 keys written again, the rest are counted, not listed", () => {
    const text = `{${Array.from({ length: 50 }, () => `"x": 1`).join(", ")}}`
    const errors = refused(text, "gateway.json")
    expect(errors).toHaveLength(21)
    expect(errors[19]).toMatch(/^x: written 21 times \(again at line 1, column \d+\)$/)
    expect(errors[20]).toBe("and 29 more keys written again after these")
    const yaml = refused(Array.from({ length: 50 }, () => "x: 1").join("\n"), "gateway.yaml")
    expect(yaml.slice(19)).toEqual([
      "x: written 21 times (again at line 21, column 1)",
      "and 29 more keys written again after these"
    ])
  })
})

describe("Gateway config: a key written twice, with other problems", () => {
  it.effect("loading the file reports the repeated key and the file's other problems together", () =>
    Effect.gen(function*() {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "liter-gateway-twice-"))
      const file = Path.join(dir, "gateway.yaml")
      Fs.writeFileSync(
        file,
        [
          "providers:",
          "  local: { type: openai-compatible, baseUrl: 'http://127.0.0.1:9/v1' }",
          "models:",
          "  small: { provider: antropic, model: m }",
          "server: { port: 1 }",
          "server: { port: 2 }"
        ].join("\n")
      )
      const refused = yield* Effect.flip(withEnv(Config.load(file)))
      expect(refused.errors).toEqual([
        "server: written twice (again at line 6, column 1)",
        expect.stringMatching(/^models\.small\.provider: unknown provider "antropic"/)
      ])
      // A second document and a tagged value leave the data readable too: the rest is checked, and the tagged
      // value's own problem is said once.
      const other = Path.join(dir, "other.yaml")
      Fs.writeFileSync(
        other,
        [
          "providers:",
          "  local: { type: openai-compatible, baseUrl: 'ftp://x' }",
          "models:",
          "  small: { provider: local, model: !!timestamp 2001-12-14 }",
          "foo: 1",
          "---",
          "another: document"
        ].join("\n")
      )
      const errors = (yield* Effect.flip(withEnv(Config.load(other)))).errors
      expect(errors.slice(0, 2)).toEqual([
        expect.stringMatching(/^line 6, column 1: the file holds more than one YAML document/),
        expect.stringMatching(/^models\.small\.model: a !!timestamp value is not allowed here/)
      ])
      expect(errors.some((error) => error.startsWith("providers.local.baseUrl: "))).toBe(true)
      expect(errors.some((error) => error.includes("foo"))).toBe(true)
      expect(errors.filter((error) => error.startsWith("models.small.model"))).toHaveLength(1)
      Fs.rmSync(dir, { recursive: true })
    }).pipe(Effect.provide(NodeFileSystem.layer)))
})

describe("Gateway config: YAML anchors, merge keys, alias bombs; empty files", () => {
  const refused = (text: string, source: string) =>
    Either.match(Config.parse(text, source), { onLeft: (error) => error.errors, onRight: () => [] })

  it.effect("a merge key copies its mapping's settings, the keys beside it winning", () =>
    Effect.gen(function*() {
      const yaml = [
        "providers:",
        "  local: &local { type: openai-compatible, baseUrl: 'http://127.0.0.1:9/v1', retry: { times: 1 } }",
        "  other: { <<: *local, baseUrl: 'http://127.0.0.1:10/v1' }",
        "models:",
        "  small: &small { provider: local, model: m, cache: false }",
        "  large: { <<: [*small], model: l }"
      ].join("\n")
      const loaded = yield* decode(Either.getOrThrow(Config.parse(yaml, "gateway.yaml")))
      expect(loaded.config.providers.other).toEqual({
        type: "openai-compatible",
        baseUrl: "http://127.0.0.1:10/v1",
        retry: { times: 1 }
      })
      expect(loaded.config.models.large).toEqual({ provider: "local", model: "l", cache: false })
      // Not a merge in JSON: "<<" is a key, and unknown.
      const json = JSON.stringify({ ...minimal, providers: { local: { ...local, "<<": {} } } })
      expect(yield* errorsOf(Either.getOrThrow(Config.parse(json, "gateway.json")))).toEqual([
        "providers.local.<<: unknown field"
      ])
    }))

  it("an alias bomb, or a merge of something other than a mapping, is invalid YAML, not a crash", () => {
    const ten = (alias: string) => `[${Array.from({ length: 10 }, () => `*${alias}`).join(", ")}]`
    const levels = (count: number) => {
      const lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
      for (let i = 1; i < count; i++) lines.push(`${"abcdefghij"[i]}: &${"abcdefghij"[i]} ${ten("abcdefghij"[i - 1]!)}`)
      return lines.join("\n")
    }
    // 10 + 100 + ... + 10 million values from a few lines: past the 4 million aliases may add to a short file.
    expect(refused(levels(7), "gateway.yaml")).toEqual([
      "not valid YAML: its aliases expand it by more than 4,000,000 values (an alias bomb?)"
    ])
    // Ten levels, ten billion values written out: refused as soon as the count passes the limit.
    expect(refused(levels(10), "gateway.yaml")).toEqual([
      "not valid YAML: its aliases expand it by more than 4,000,000 values (an alias bomb?)"
    ])
    expect(refused("providers:\n  local: { <<: 3 }\n", "gateway.yml")).toEqual([
      "line 2, column 12: a merge (<<) takes a mapping, an alias of one, or a list of them"
    ])
  })

  it.effect("one anchored block shared by thousands of tenants is read, each tenant with its own copy", () =>
    Effect.gen(function*() {
      const tenants = Array.from({ length: 3_000 }, (_, i) =>
        i === 0
          ? `  t0: { keys: ["${
            keyPair("t0").hash
          }"], budget: &budget { limitUsd: 5, period: month }, models: &models [small] }`
          : `  t${i}: { keys: ["${keyPair(`t${i}`).hash}"], budget: *budget, models: *models }`)
      const yaml = [
        "providers: { local: &local { type: openai-compatible, baseUrl: 'http://127.0.0.1:9/v1' } }",
        "models: { small: { provider: local, model: m } }",
        "tenants:",
        ...tenants
      ].join("\n")
      const loaded = yield* decode(Either.getOrThrow(Config.parse(yaml, "gateway.yaml")))
      const all = Object.values(loaded.config.tenants ?? {})
      expect(all).toHaveLength(3_000)
      expect(all[2_999]).toMatchObject({ budget: { limitUsd: 5, period: "month" }, models: ["small"] })
      // Copies, not one object shared by every tenant.
      expect(all[1]!.budget).not.toBe(all[2]!.budget)
    }))

  it("an error said alike at many paths (a shared anchor's mistake) is listed once, with how many more", () => {
    const tenants = Array.from(
      { length: 6 },
      (_, i) => `  t${i}: { budget: *base, models: "*", keys: ["${keyPair(`t${i}`).hash}"] }`
    )
    const yaml = [
      "providers: { local: { type: openai-compatible, baseUrl: 'http://127.0.0.1:9/v1' } }",
      "models: { small: { provider: local, model: m } }",
      "tenants:",
      "  t: { keys: [], models: \"*\", budget: &base { limitUsd: 5, period: weekly } }",
      ...tenants
    ].join("\n")
    const error = Either.getLeft(Effect.runSync(Effect.either(Config.decode(
      Either.getOrThrow(Config.parse(yaml, "gateway.yaml")),
      "gateway.yaml"
    )))).pipe(Option.getOrThrow)
    // Every error is kept; the message says the repeated one once.
    expect(error.errors.filter((line) => line.endsWith("got \"weekly\""))).toHaveLength(7)
    const period = "expected \"day\", \"month\" or a positive duration such as \"12 hours\", got \"weekly\""
    expect(error.message.split("\n").slice(1)).toEqual([
      "  tenants.t.keys: expected at least one key hash",
      `  tenants.t.budget.period: ${period}`,
      "    the same at 6 more paths: tenants.t0.budget.period, tenants.t1.budget.period, tenants.t2.budget.period " +
      "and 3 more"
    ])
    // Three paths or fewer are each listed.
    const few = new Config.InvalidConfig({ source: "gateway.json", errors: ["a: x", "b: x", "c: x", "d: y"] })
    expect(few.message).toBe("gateway.json: invalid config (4 errors):\n  a: x\n  b: x\n  c: x\n  d: y")
    const five = new Config.InvalidConfig({ source: "gateway.json", errors: ["a: x", "b: y", "c: x", "d: x", "e: x"] })
    expect(five.message).toBe(
      "gateway.json: invalid config (5 errors):\n  a: x\n    the same at 3 more paths: c, d, e\n  b: y"
    )
  })

  it("an alias inside the value of its own anchor is refused at its line, not read as a cycle", () => {
    expect(refused("providers: &p { local: { <<: *p } }\n", "gateway.yaml")).toEqual([
      "line 1, column 30: the alias *p is inside the value of its own anchor &p"
    ])
  })

  it("an alias with no anchor before it, or a merge of a list or of an alias of a list, is refused at its line", () => {
    expect(refused("providers:\n  local:\n    type: openai\n    baseUrl: *url\n", "gateway.yaml")).toEqual([
      "line 4, column 14: the alias *url has no anchor &url before it"
    ])
    // An anchor written after its alias does not count: YAML reads in order.
    expect(refused("a: *late\nb: &late 1\n", "gateway.yaml")).toEqual([
      "line 1, column 4: the alias *late has no anchor &late before it"
    ])
    expect(refused("l: &l [1]\nproviders: { local: { <<: *l } }\n", "gateway.yaml")).toEqual([
      "line 2, column 23: a merge (<<) takes a mapping, an alias of one, or a list of them"
    ])
    expect(refused("m: &m { a: 1 }\nproviders: { local: { <<: [*m, 2] } }\n", "gateway.yaml")).toEqual([
      "line 2, column 23: a merge (<<) takes a mapping, an alias of one, or a list of them"
    ])
  })

  it("an empty or blank file of any type is `the config file is empty`", () => {
    for (const source of ["gateway.json", "gateway.yaml", "gateway.yml"]) {
      for (const text of ["", "  \n\t\n"]) expect(refused(text, source)).toEqual(["the config file is empty"])
    }
    // A null written at the top is not an empty file.
    const notMapping = "the top level must be a mapping of sections (providers, models, ...), got null"
    expect(refused(" null\n", "gateway.json")).toEqual([notMapping])
    for (const text of ["null\n", "~\n", "# a comment\n~\n"]) {
      expect(refused(text, "gateway.yaml")).toEqual([notMapping])
    }
  })
})

describe("Gateway config: the example", () => {
  it.scoped("examples/gateway.yaml is valid and builds a runtime", () =>
    Effect.gen(function*() {
      const loaded = yield* withEnv(Config.load("examples/gateway.yaml"), new Map([["MOCK_KEY", "x"]]))
      const runtime = yield* Effect.orDie(fromLoaded(loaded, yield* Stores.makeMemory))
      expect(runtime.tenants).toEqual(["acme", "globex"])
      expect(runtime.authenticate("sk-liter-demo-acme-0123456789abcdef")).toMatchObject({ _tag: "Tenant" })
      expect(runtime.authenticate("sk-liter-demo-admin-0123456789abcdef")).toEqual({ _tag: "Admin" })
    }).pipe(Effect.provide(NodeFileSystem.layer)))
})

describe("Gateway config: an output reserve that fills a priced context window", () => {
  it.scoped("is refused when the runtime is built, naming the route and the window from the prices", () =>
    Effect.gen(function*() {
      const config = (maxOutputTokens: number) => ({
        ...minimal,
        pricing: { models: { m: { inputPerMillion: 1, outputPerMillion: 2, contextWindow: 1000 } } },
        contextWindow: { maxOutputTokens }
      })
      const error = yield* Effect.flip(fromLoaded(yield* decode(config(1000)), yield* Stores.makeMemory))
      expect(error.message).toContain(
        "models.small: contextWindow.maxOutputTokens (1000) must be smaller than the context window of m at local " +
          "(1000 tokens, from the prices)"
      )
      // One token of room is enough to build.
      const runtime = yield* Effect.orDie(fromLoaded(yield* decode(config(999)), yield* Stores.makeMemory))
      expect(runtime.tenants).toEqual([])
    }))
})

describe("Gateway config: errors, each with its path, all at once", () => {
  it.effect.each(
    [
      [
        "an unknown provider in a fallback",
        {
          ...minimal,
          models: { "gpt-4o": { fallback: [{ provider: "local", model: "a" }, { provider: "antropic", model: "b" }] } }
        },
        "models.gpt-4o.fallback[1].provider: unknown provider \"antropic\" (known: \"local\")"
      ],
      [
        "an unknown provider type",
        { ...minimal, providers: { local: { ...local, type: "antropic" } } },
        "providers.local.type: unknown provider type \"antropic\"; expected one of \"openai\", \"openai-compatible\", \"azure\", \"anthropic\", \"cohere\", \"gemini\""
      ],
      [
        "a key written in the file",
        { ...minimal, providers: { local: { ...local, apiKey: "sk-123" } } },
        "providers.local.apiKey: secrets are never written in the config: name the environment variable holding the key in apiKeyEnv"
      ],
      [
        "an unset key variable",
        { ...minimal, providers: { local: { ...local, apiKeyEnv: "NOT_SET_KEY" } } },
        "providers.local.apiKeyEnv: environment variable NOT_SET_KEY is not set"
      ],
      [
        "a provider that needs a key without one",
        { ...minimal, providers: { local: { type: "anthropic" } } },
        "providers.local.apiKeyEnv: required for type \"anthropic\" (the NAME of the variable holding the key)"
      ],
      [
        "a tenant naming an unknown route",
        { ...minimal, tenants: { acme: { keys: [acme.hash], models: ["small", "large"] } } },
        "tenants.acme.models[1]: unknown model \"large\" (routes: \"small\")"
      ],
      [
        "a key hash used twice",
        { ...minimal, admin: { keys: [acme.hash] }, tenants: { acme: { keys: [acme.hash], models: "*" } } },
        "tenants.acme.keys[0]: the same key as admin.keys[0] (every key must belong to one caller)"
      ],
      [
        "a key that is not a hash",
        { ...minimal, tenants: { acme: { keys: [acme.key], models: "*" } } },
        "tenants.acme.keys[0]: expected a key hash: \"sha256:\" and 64 hex digits, from `liter-llm hash-key`"
      ],
      [
        "a bad duration",
        { ...minimal, providers: { local: { ...local, timeout: { request: "3 parsecs" } } } },
        "providers.local.timeout.request: expected a positive duration such as \"30 seconds\", got \"3 parsecs\""
      ],
      [
        "a route of two shapes",
        {
          ...minimal,
          models: { small: { provider: "local", model: "m", fallback: [{ provider: "local", model: "n" }] } }
        },
        "models.small: give exactly one of provider + model, fallback, or router"
      ],
      [
        "an unknown field",
        { ...minimal, cache: { ttl: "1 minute", size: 3 } },
        "cache.size: unknown field"
      ],
      [
        "a section name with a slip: the section it is closest to",
        { ...minimal, Tenant: {} },
        "Tenant: unknown field (did you mean tenants?)"
      ],
      [
        "a section name with two letters swapped",
        { ...minimal, cahce: {} },
        "cahce: unknown field (did you mean cache?)"
      ],
      [
        "a field of a tenant with a slip: the tenant's field it is closest to",
        { ...minimal, tenants: { acme: { keys: [acme.hash], models: "*", ratelimit: {} } } },
        "tenants.acme.ratelimit: unknown field (did you mean rateLimit?)"
      ],
      [
        "a field of a provider with a slip, whatever its type",
        { ...minimal, providers: { local: { ...local, apikeyEnv: "X" } } },
        "providers.local.apikeyEnv: unknown field (did you mean apiKeyEnv?)"
      ],
      [
        "a slip in a fallback step",
        { ...minimal, models: { c: { fallback: [{ provider: "local", model: "m", timout: {} }] } } },
        "models.c.fallback[0].timout: unknown field (did you mean timeout?)"
      ],
      [
        "a slip in a router's deployment",
        {
          ...minimal,
          models: {
            r: { router: { strategy: "weighted", deployments: [{ provider: "local", model: "m", wieght: 2 }] } }
          }
        },
        "models.r.router.deployments[0].wieght: unknown field (did you mean weight?)"
      ],
      [
        "a short section name two slips from one: no guess",
        { ...minimal, tenets: {} },
        "tenets: unknown field"
      ],
      [
        "a negative budget",
        { ...minimal, tenants: { acme: { keys: [acme.hash], models: "*", budget: { limitUsd: -1, period: "day" } } } },
        "tenants.acme.budget.limitUsd: expected an amount in USD from 0 to 9007199254, got -1"
      ],
      [
        "a budget past what its stores count exactly (2^53 micro-USD)",
        {
          ...minimal,
          tenants: { acme: { keys: [acme.hash], models: "*", budget: { limitUsd: 1e308, period: "day" } } }
        },
        "tenants.acme.budget.limitUsd: expected an amount in USD from 0 to 9007199254, got 1e+308"
      ],
      [
        "a rate limit that limits nothing",
        { ...minimal, tenants: { acme: { keys: [acme.hash], models: "*", rateLimit: {} } } },
        "tenants.acme.rateLimit: give requests, tokens or both"
      ],
      [
        "an unset Redis variable",
        { ...minimal, redis: {} },
        "redis.urlEnv: environment variable REDIS_URL is not set"
      ],
      [
        "a bad base URL",
        { ...minimal, providers: { local: { ...local, baseUrl: "127.0.0.1:8000" } } },
        "providers.local.baseUrl: must be an absolute http(s) URL, got \"127.0.0.1:8000\""
      ],
      // The base URL and header checks of the provider layers themselves, with the config's paths.
      [
        "a base URL with a query",
        { ...minimal, providers: { local: { ...local, baseUrl: "http://127.0.0.1:8000/v1?key=sk-LEAK" } } },
        "providers.local.baseUrl: must not have a query or fragment (the layer appends the API path), got \"http://127.0.0.1:8000/v1?***\""
      ],
      [
        "a base URL with a space",
        { ...minimal, providers: { local: { ...local, baseUrl: " http://127.0.0.1:8000/v1" } } },
        "providers.local.baseUrl: must not contain spaces or control characters, got \" http://127.0.0.1:8000/v1\""
      ],
      [
        "a base URL with credentials",
        { ...minimal, providers: { local: { ...local, baseUrl: "http://u:sk-LEAK@127.0.0.1:8000/v1" } } },
        "providers.local.baseUrl: must not contain credentials (use apiKeyEnv), got \"http://***@127.0.0.1:8000/v1\""
      ],
      [
        "a base URL of another scheme",
        { ...minimal, providers: { local: { ...local, baseUrl: "ftp://127.0.0.1/v1" } } },
        "providers.local.baseUrl: must be an absolute http(s) URL, got \"ftp://127.0.0.1/v1\""
      ],
      [
        "a header name that is no HTTP token",
        { ...minimal, providers: { local: { ...local, headers: { "x team": "a" } } } },
        "providers.local.headers[\"x team\"]: is not an HTTP header name"
      ],
      [
        "a header the HTTP client sets itself",
        { ...minimal, providers: { local: { ...local, headers: { Host: "h" } } } },
        "providers.local.headers.Host: cannot be set: the HTTP client sets it (a header of the connection or of the body's framing)"
      ],
      [
        "a price whose output bound is over its context window",
        {
          ...minimal,
          pricing: {
            models: { m: { inputPerMillion: 1, outputPerMillion: 2, contextWindow: 10, maxOutputTokens: 100 } }
          }
        },
        "pricing.models.m.maxOutputTokens: must not be more than contextWindow (10), got 100"
      ],
      [
        "a header value with a line break",
        { ...minimal, providers: { local: { ...local, headers: { "x-team": "a\r\nx-injected: sk-LEAK" } } } },
        "providers.local.headers.x-team: has a character not allowed in an HTTP header (a line break, a control or a non-Latin-1 character)"
      ],
      [
        "a header value with a non-Latin-1 character",
        { ...minimal, providers: { local: { ...local, headers: { "x-team": "sk-LEAK-€" } } } },
        "providers.local.headers.x-team: has a character not allowed in an HTTP header (a line break, a control or a non-Latin-1 character)"
      ],
      [
        "an API version for a type whose layer takes none",
        { ...minimal, providers: { local: { ...local, apiVersion: "2024-10-21" } } },
        "providers.local.apiVersion: only for types \"azure\", \"anthropic\", \"gemini\""
      ],
      [
        "a blank model (a template's unset variable)",
        { ...minimal, models: { small: { provider: "local", model: " " } } },
        "models.small.model: expected a non-empty string, got only whitespace"
      ],
      [
        "a blank deployment",
        {
          ...minimal,
          providers: {
            local: { type: "azure", baseUrl: "https://r.openai.azure.com", apiKeyEnv: "MOCK_A_KEY", deployment: "  " }
          }
        },
        "providers.local.deployment: expected a non-empty string, got only whitespace"
      ],
      [
        "two router deployments with one name",
        {
          ...minimal,
          models: {
            r: {
              router: {
                strategy: "priority",
                deployments: [{ provider: "local", model: "a" }, { provider: "local", model: "b" }]
              }
            }
          }
        },
        "models.r.router.deployments[1].name: \"local\" is used twice in this router: name each deployment"
      ],
      [
        "a guardrail of no kind",
        { ...minimal, guardrails: { input: [{}] } },
        "guardrails.input[0]: give exactly one of denyList or pii"
      ],
      [
        "no model route",
        { ...minimal, models: {} },
        "models: no model route: define at least one"
      ],
      [
        "a key variable that is set but empty",
        { ...minimal, providers: { local: { ...local, apiKeyEnv: "EMPTY_KEY" } } },
        "providers.local.apiKeyEnv: environment variable EMPTY_KEY is empty"
      ],
      [
        "a key variable holding a line break (a file read with its last newline), said by its variable",
        { ...minimal, providers: { local: { ...local, apiKeyEnv: "BROKEN_KEY" } } },
        "providers.local.apiKeyEnv: environment variable BROKEN_KEY has a character not allowed in an HTTP header " +
        "(a line break, a control or a non-Latin-1 character)"
      ],
      [
        "a Redis variable that is set but empty",
        { ...minimal, redis: { urlEnv: "EMPTY_KEY" } },
        "redis.urlEnv: environment variable EMPTY_KEY is empty"
      ]
    ] as const
  )("%s", ([, input, message]) =>
    Effect.gen(function*() {
      const vars = new Map([...env, ["EMPTY_KEY", ""], ["BROKEN_KEY", "sk-LEAK-0123456789\n"]])
      expect(yield* errorsOf(input, vars)).toEqual([message])
      expect(message).not.toContain("sk-LEAK")
    }))

  it.effect.each(["authorization", "Proxy-Authorization", "x-api-key", "api-key", "X-Goog-Api-Key", "cookie"])(
    "a provider header carrying a credential is refused, without showing it: %s",
    (name) =>
      Effect.gen(function*() {
        const errors = yield* errorsOf({
          ...minimal,
          providers: { local: { ...local, headers: { "x-team": "platform", [name]: "Bearer sk-LEAK-123" } } }
        })
        expect(errors).toEqual([
          `providers.local.headers.${name}: secrets are never written in the config: name the environment variable holding the key in apiKeyEnv`
        ])
        expect(errors.join("\n")).not.toContain("sk-LEAK")
      })
  )

  it.scoped("a key hash in upper-case hex is its lower-case one: it authenticates, and counts as the same key", () =>
    Effect.gen(function*() {
      const upper = `sha256:${acme.hash.slice("sha256:".length).toUpperCase()}`
      const loaded = yield* decode({ ...minimal, tenants: { acme: { keys: [upper], models: "*" } } })
      expect(loaded.config.tenants?.acme?.keys).toEqual([acme.hash])
      const runtime = yield* Effect.orDie(fromLoaded(loaded, yield* Stores.makeMemory))
      expect(runtime.authenticate(acme.key)).toMatchObject({ _tag: "Tenant" })
      expect(
        yield* errorsOf({ ...minimal, admin: { keys: [acme.hash] }, tenants: { acme: { keys: [upper], models: "*" } } })
      ).toEqual(["tenants.acme.keys[0]: the same key as admin.keys[0] (every key must belong to one caller)"])
    }))

  it.effect("several errors of several kinds are reported together, in one InvalidConfig", () =>
    Effect.gen(function*() {
      const input = {
        providers: { local: { ...local, retry: { times: -1 } }, other: { type: "cohere", apiKeyEnv: "NOPE" } },
        models: { small: { provider: "local", model: "m" } },
        server: { port: 70000 },
        tenants: { acme: { keys: [acme.hash], models: "all" } }
      }
      const errors = yield* errorsOf(input)
      // the environment of the providers whose shape is valid is checked with the shape errors
      expect(errors).toEqual([
        "server.port: expected a port 0-65535, got 70000",
        "providers.local.retry.times: expected an integer >= 0, got -1",
        "tenants.acme.models: expected \"*\" (every route) or a list of route names, got \"all\"",
        "providers.other.apiKeyEnv: environment variable NOPE is not set"
      ])
      const shaped = yield* errorsOf({
        ...input,
        providers: { ...input.providers, local },
        server: {},
        tenants: { acme: { keys: [acme.hash], models: ["big"] } }
      })
      expect(shaped).toEqual([
        "tenants.acme.models[0]: unknown model \"big\" (routes: \"small\")",
        "providers.other.apiKeyEnv: environment variable NOPE is not set"
      ])
      const error = yield* Effect.flip(withEnv(Config.decode(input, "gateway.yaml")))
      expect(error.message).toMatch(/^gateway\.yaml: invalid config \(4 errors\):\n {2}server\.port/)
    }))

  it.effect("an empty key variable is refused (saying it is empty), and no message carries a key's value", () =>
    Effect.gen(function*() {
      const errors = yield* errorsOf(
        { ...minimal, providers: { local: { ...local, apiKeyEnv: "EMPTY" } } },
        new Map([["EMPTY", ""]])
      )
      expect(errors).toEqual(["providers.local.apiKeyEnv: environment variable EMPTY is empty"])
      // Blank too, as the provider layers count it: it would fail the gateway's start.
      expect(
        yield* errorsOf(
          { ...minimal, providers: { local: { ...local, apiKeyEnv: "BLANK" } } },
          new Map([["BLANK", " \n"]])
        )
      ).toEqual(["providers.local.apiKeyEnv: environment variable BLANK is empty"])
      const written = yield* errorsOf({ ...minimal, providers: { local: { ...local, apiKey: "sk-LEAK-123" } } })
      expect(written.join("\n")).not.toContain("sk-LEAK-123")
    }))
})

describe("Gateway config: names that are also JavaScript's", () => {
  const entries = (name: string, i: number) => ({
    providers: { [name]: { ...local, apiKeyEnv: "MOCK_A_KEY" } },
    models: { [name]: { provider: name, model: "m" } },
    tenants: { [name]: { keys: [keyPair(`name-${i}`).hash], models: [name] } }
  })

  it.effect("\"__proto__\" is refused with its path, in YAML and JSON alike (a decoded mapping would drop it)", () =>
    Effect.gen(function*() {
      const expected = ["providers", "models", "tenants"].map((section) =>
        `${section}.__proto__: "__proto__" cannot be a name (JavaScript reserves it): rename it`
      )
      // A computed key is an own property, as the parsers make it (not the prototype).
      const { models, providers, tenants } = entries("__proto__", 0)
      const input = {
        providers: { local, ...providers },
        models: { ...minimal.models, ...models },
        tenants: { acme: { keys: [acme.hash], models: "*" }, ...tenants }
      }
      const fromJson = Either.getOrThrow(Config.parse(JSON.stringify(input), "gateway.json"))
      const yaml = Yaml.stringify(input)
      expect(yaml).toContain("__proto__:")
      expect(yield* errorsOf(fromJson)).toEqual(expected)
      expect(yield* errorsOf(Either.getOrThrow(Config.parse(yaml, "gateway.yaml")))).toEqual(expected)
      // in a mapping's fields too, and for a header name
      expect(
        yield* errorsOf({
          ...minimal,
          providers: { local: { ...local, headers: JSON.parse("{\"__proto__\": \"x\"}") } },
          pricing: { models: JSON.parse("{\"__proto__\": {\"inputPerMillion\": 1, \"outputPerMillion\": 1}}") }
        })
      ).toEqual([
        "pricing.models.__proto__: \"__proto__\" cannot be a name (JavaScript reserves it): rename it",
        "providers.local.headers.__proto__: \"__proto__\" cannot be a name (JavaScript reserves it): rename it"
      ])
    }))

  it.effect("\"constructor\" and \"prototype\" are names like any other", () =>
    Effect.gen(function*() {
      for (const [i, name] of ["constructor", "prototype"].entries()) {
        const { models, providers, tenants } = entries(name, i)
        const { config, keys } = yield* decode({ providers, models, tenants })
        expect(Object.keys(config.providers)).toEqual([name])
        expect(config.models[name]).toEqual({ provider: name, model: "m" })
        expect(config.tenants?.[name]?.models).toEqual([name])
        expect(keys.has(name)).toBe(true)
      }
    }))
})

describe("Gateway config: warnings", () => {
  const budgeted = (extra: object = {}) =>
    decode({
      ...minimal,
      tenants: { acme: { keys: [acme.hash], models: "*", budget: { limitUsd: 5, period: "day" } } },
      ...extra
    })
  const warningsOf = ({ config }: Config.Loaded) =>
    Effect.map(
      Pricing.make({
        ...(config.pricing?.dataset === undefined ? {} : { dataset: config.pricing.dataset }),
        ...(config.pricing?.models === undefined ? {} : { models: config.pricing.models })
      }),
      (pricing) => Check.warnings(config, pricing.price)
    ).pipe(Effect.orDie)

  it.effect("a budgeted tenant that may call an unpriced model is warned of, unless unpriced models are allowed", () =>
    Effect.gen(function*() {
      expect(yield* warningsOf(yield* budgeted())).toEqual([
        "tenants.acme: budgeted, but \"local/m\" has no price: its requests will be refused (price them in " +
        "pricing.models, or set budgets.unpricedModels: allow)"
      ])
      expect(yield* warningsOf(yield* budgeted({ budgets: { unpricedModels: "allow" } }))).toEqual([])
      const priced = { pricing: { models: { m: { inputPerMillion: 1, outputPerMillion: 2, maxOutputTokens: 10 } } } }
      expect(yield* warningsOf(yield* budgeted(priced))).toEqual([])
      // A tenant without a budget is never warned of.
      expect(yield* warningsOf(yield* decode({ ...minimal, tenants: { acme: { keys: [acme.hash], models: "*" } } })))
        .toEqual([])
    }))

  it.effect("a tenant that may call no model is warned of, as check-config and a start report it", () =>
    Effect.gen(function*() {
      const { config } = yield* decode({ ...minimal, tenants: { acme: { keys: [acme.hash], models: [] } } })
      const expected = ["tenants.acme: models is an empty list: its keys can call no model, only read their usage"]
      expect(yield* Check.configWarnings(config)).toEqual(expected)
      const some = yield* decode({ ...minimal, tenants: { acme: { keys: [acme.hash], models: ["small"] } } })
      expect(yield* Check.configWarnings(some.config)).toEqual([])
    }))

  it.effect("the same warning for many tenants is said once with their count; for a few, once each", () =>
    Effect.gen(function*() {
      const tenantsOf = (count: number) =>
        Object.fromEntries(
          Array.from({ length: count }, (_, i) => [`t-${i}`, { keys: [keyPair(`t-${i}`).hash], models: [] }])
        )
      const many = yield* decode({ ...minimal, tenants: tenantsOf(300) })
      expect(yield* Check.configWarnings(many.config)).toEqual([
        "tenants.t-0: models is an empty list: its keys can call no model, only read their usage " +
        "(the same at 299 more paths: tenants.t-1, tenants.t-2, tenants.t-3 and 296 more)"
      ])
      const few = yield* decode({ ...minimal, tenants: tenantsOf(3) })
      expect(yield* Check.configWarnings(few.config)).toHaveLength(3)
    }))
})

describe("Gateway config: files no config is like", () => {
  const refused = (text: string, source: string) =>
    Either.match(Config.parse(text, source), { onLeft: (error) => error.errors, onRight: () => [] })

  it("a file nested past what the parser can read is one error saying so, not one per level", () => {
    const flow = `providers: ${"{a: ".repeat(3000)}1${"}".repeat(3000)}\n`
    const unclosed = `providers: ${"[".repeat(3000)}\n`
    const block = `providers:\n${Array.from({ length: 1500 }, (_, i) => `${"  ".repeat(i + 1)}a${i}:`).join("\n")}\n`
    for (const text of [flow, unclosed, block]) {
      expect(refused(text, "gateway.yaml")).toEqual([
        expect.stringMatching(
          /^line \d+, column \d+: the file nests too deeply to be read \(a config nests a few levels\)$/
        )
      ])
    }
  })

  it("many syntax errors are listed up to 20, then counted", () => {
    const text = Array.from({ length: 60 }, (_, i) => `k${i}: [unclosed\n`).join("")
    const errors = refused(text, "gateway.yaml")
    expect(errors.length).toBe(21)
    expect(errors.slice(0, 20).every((error) => /^not valid YAML: line \d+, column \d+: /.test(error))).toBe(true)
    expect(errors[20]).toMatch(/^and \d+ more syntax errors after these$/)
  })
})
