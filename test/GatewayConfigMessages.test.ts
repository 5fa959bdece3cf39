import { describe, expect, it, vi } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as Config from "../src/gateway/Config.js"
import { acme, decode, env, errorsOf, globex } from "./support/gatewayConfig.js"

const local = { type: "openai-compatible", baseUrl: "http://127.0.0.1:9/v1" }
const minimal = { providers: { local }, models: { small: { provider: "local", model: "m" } } }
const router = (value: unknown) => ({ ...minimal, models: { b: { router: value } } })

// No message is a schema dump: each is one short line.
const short = (errors: ReadonlyArray<string>) => {
  for (const error of errors) {
    expect(error).not.toContain("readonly")
    expect(error.length).toBeLessThan(200)
  }
  return errors
}

describe("Gateway config: one short line for a value of the wrong kind", () => {
  it.effect.each(
    [
      ["an empty file", null, "the config file is empty"],
      ["a list at the top", [1], "the top level must be a mapping of sections (providers, models, ...), got a list"],
      ["a scalar at the top", 3, "the top level must be a mapping of sections (providers, models, ...), got 3"],
      [
        "providers with no value",
        { ...minimal, providers: null },
        "providers: expected a mapping of provider names to providers, got null"
      ],
      [
        "models with no value",
        { ...minimal, models: null },
        "models: expected a mapping of route names to routes, got null"
      ],
      [
        "models as a list",
        { ...minimal, models: [] },
        "models: expected a mapping of route names to routes, got a list"
      ],
      [
        "tenants with no value",
        { ...minimal, tenants: null },
        "tenants: expected a mapping of tenant names to tenants, got null"
      ],
      [
        "a provider written as a string (never shown: it may be a key)",
        { ...minimal, providers: { local, other: "sk-LEAK-0123456789" } },
        "providers.other: expected a provider: a mapping with its type, e.g. { type: openai, apiKeyEnv: ... }, got a string"
      ],
      [
        "a route with no value",
        { ...minimal, models: { small: null } },
        "models.small: expected a route: a mapping with provider + model, fallback or router, got null"
      ],
      [
        "a tenant with no value",
        { ...minimal, tenants: { acme: null } },
        "tenants.acme: expected a tenant: a mapping with keys and models, got null"
      ],
      [
        "a route's cache as a word",
        { ...minimal, models: { small: { provider: "local", model: "m", cache: "maybe" } } },
        "models.small.cache: expected true or false, got a string"
      ],
      [
        "a port as a string",
        { ...minimal, server: { port: "4000" } },
        "server.port: expected a port 0-65535, got a string"
      ],
      [
        "server as a list",
        { ...minimal, server: [] },
        "server: expected a mapping of server settings (host, port, ...), got a list"
      ],
      [
        "redis as true",
        { ...minimal, redis: true },
        "redis: expected a mapping of Redis settings (urlEnv, keyPrefix, commandTimeout), got true"
      ],
      [
        "a price with no value",
        { ...minimal, pricing: { models: { m: null } } },
        "pricing.models.m: expected a price: a mapping with inputPerMillion and outputPerMillion, got null"
      ],
      [
        "guardrails.input with no value",
        { ...minimal, guardrails: { input: null } },
        "guardrails.input: expected a list of guardrails, got null"
      ],
      [
        "retry as true",
        { ...minimal, providers: { local: { ...local, retry: true } } },
        "providers.local.retry: expected false or a mapping of retry settings (times, base, cap, ...), got true"
      ],
      [
        "dropUnsupported as a number",
        { ...minimal, server: { dropUnsupported: 3 } },
        "server.dropUnsupported: expected true, false or a list of field names, got 3"
      ],
      [
        "a duration as a list (a key written in the wrong place is never shown)",
        {
          ...minimal,
          models: { small: { provider: "local", model: "m", timeout: { request: ["sk-LEAK-1234567890"] } } }
        },
        "models.small.timeout.request: expected a positive duration such as \"30 seconds\", got a list"
      ],
      [
        "a duration as a mapping",
        { ...minimal, cache: { ttl: { key: "sk-LEAK-abc" } } },
        "cache.ttl: expected a positive duration such as \"30 seconds\", got a mapping"
      ],
      [
        "a duration as true",
        { ...minimal, server: { shutdownGrace: true } },
        "server.shutdownGrace: expected a duration >= 0 such as \"30 seconds\", got true"
      ],
      [
        "a negative router weight",
        {
          ...minimal,
          models: {
            r: { router: { strategy: "weighted", deployments: [{ provider: "local", model: "m", weight: -1 }] } }
          }
        },
        "models.r.router.deployments[0].weight: expected a weight >= 0, got -1"
      ],
      [
        "a router priority as a string",
        {
          ...minimal,
          models: {
            r: { router: { strategy: "priority", deployments: [{ provider: "local", model: "m", priority: "1" }] } }
          }
        },
        "models.r.router.deployments[0].priority: expected a number, got a string"
      ],
      [
        "a model name YAML read as a number",
        { ...minimal, models: { small: { provider: "local", model: 3.5 } } },
        "models.small.model: expected a non-empty string, got 3.5 (quote it to make it text)"
      ],
      [
        "a base URL as true",
        { ...minimal, providers: { local: { ...local, baseUrl: true } } },
        "providers.local.baseUrl: expected a non-empty string, got true (quote it to make it text)"
      ],
      [
        "a model name as a list",
        { ...minimal, models: { small: { provider: "local", model: ["m"] } } },
        "models.small.model: expected a non-empty string, got a list"
      ],
      [
        "an empty Redis key prefix (Redis.layer refuses it at start), said to be empty",
        { ...minimal, redis: { keyPrefix: "" } },
        "redis.keyPrefix: an empty prefix would put the keys at the root of a shared Redis: give one, e.g. \"gw:\" " +
        "(leave it out for the default)"
      ],
      [
        "a Redis key prefix with a space",
        { ...minimal, redis: { keyPrefix: "gw a:" } },
        "redis.keyPrefix: expected a prefix without spaces, control or invisible characters, e.g. \"gw:\" " +
        "(leave it out for the default)"
      ],
      [
        "a Redis key prefix with a zero-width space, which would read as another",
        { ...minimal, redis: { keyPrefix: "\u200bgw:" } },
        "redis.keyPrefix: expected a prefix without spaces, control or invisible characters, e.g. \"gw:\" " +
        "(leave it out for the default)"
      ],
      [
        "a Redis key prefix that is no string",
        { ...minimal, redis: { keyPrefix: 5 } },
        "redis.keyPrefix: expected a prefix (a string) such as \"gw:\", got 5 (leave it out for the default)"
      ]
    ] as const
  )("%s", ([, input, message]) =>
    Effect.gen(function*() {
      const errors = short(yield* errorsOf(input, new Map([...env, ["REDIS_URL", "redis://127.0.0.1:6379"]])))
      expect(errors).toEqual([message])
      expect(errors.join("\n")).not.toContain("sk-LEAK")
    }))

  it.effect("a value of the right kind with a wrong part keeps the part's own path", () =>
    Effect.gen(function*() {
      expect(yield* errorsOf({ ...minimal, providers: { local: { ...local, retry: { times: -1 } } } })).toEqual([
        "providers.local.retry.times: expected an integer >= 0, got -1"
      ])
      expect(yield* errorsOf({ ...minimal, server: { dropUnsupported: [""] } })).toEqual([
        "server.dropUnsupported[0]: expected a non-empty string, got an empty string"
      ])
      expect(yield* errorsOf({ ...minimal, tenants: { acme: { keys: [acme.hash], models: ["small", ""] } } })).toEqual([
        "tenants.acme.models[1]: expected a non-empty string, got an empty string"
      ])
    }))
})

describe("Gateway config: tenant names", () => {
  // A tenant's name is the metadata.tenant of its calls: one the request validation would refuse is refused here.
  it.effect("an empty, blank, padded or over-long tenant name is refused, naming it and the rule", () =>
    Effect.gen(function*() {
      const tenant = { keys: [acme.hash], models: "*" }
      const named = (name: string) => errorsOf({ ...minimal, tenants: { [name]: tenant } })
      expect(yield* named("")).toEqual(["tenants: \"\" cannot be a tenant name (it is empty or blank): rename it"])
      expect(yield* named("   ")).toEqual([
        "tenants: \"   \" cannot be a tenant name (it is empty or blank): rename it"
      ])
      expect(yield* named(" acme")).toEqual([
        "tenants: \" acme\" cannot be a tenant name (it starts or ends with whitespace): rename it"
      ])
      const long = short(yield* named("t".repeat(100_000)))
      expect(long).toEqual([
        `tenants: "${
          "t".repeat(40)
        }..." cannot be a tenant name (it has 100000 characters, more than the 256 allowed): rename it`
      ])
      // the longest name is loaded
      const loaded = yield* decode({ ...minimal, tenants: { ["t".repeat(256)]: tenant } })
      expect(Object.keys(loaded.config.tenants ?? {})).toEqual(["t".repeat(256)])
    }))
})

describe("Gateway config: names, and the paths that name them", () => {
  const tenant = { keys: [acme.hash], models: "*" }

  it.effect("bad tenant names are all reported, with the other tenants' shape errors", () =>
    Effect.gen(function*() {
      expect(
        yield* errorsOf({
          ...minimal,
          tenants: { " sp": { keys: [], models: ["small"] }, "": tenant, globex: { keys: [globex.hash], models: "*" } }
        })
      ).toEqual([
        "tenants[\" sp\"].keys: expected at least one key hash",
        "tenants: \" sp\" cannot be a tenant name (it starts or ends with whitespace): rename it",
        "tenants: \"\" cannot be a tenant name (it is empty or blank): rename it"
      ])
    }))

  it.effect("a name that is empty or holds a dot, a bracket, a quote or whitespace is quoted in a path", () =>
    Effect.gen(function*() {
      expect(
        yield* errorsOf({
          ...minimal,
          models: { ...minimal.models, "gpt-4.1": { provider: "nope", model: "m" } },
          pricing: { models: { "llama3.2": { inputPerMillion: -1, outputPerMillion: 1 } } },
          tenants: { " sp": { keys: [acme.hash], models: ["large"] }, "": { keys: "x", models: "*" }, "a[0]": tenant }
        })
      ).toEqual([
        "pricing.models[\"llama3.2\"].inputPerMillion: expected an amount in USD >= 0, got -1",
        "tenants[\"\"].keys: expected a list of key hashes, got a string",
        "tenants: \" sp\" cannot be a tenant name (it starts or ends with whitespace): rename it",
        "tenants: \"\" cannot be a tenant name (it is empty or blank): rename it",
        "models[\"gpt-4.1\"].provider: unknown provider \"nope\" (known: \"local\")",
        "tenants[\" sp\"].models[0]: unknown model \"large\" (routes: \"small\", \"gpt-4.1\")",
        "tenants[\"a[0]\"].keys[0]: the same key as tenants[\" sp\"].keys[0] (every key must belong to one caller)"
      ])
    }))

  it.effect("a route no client can call as named is refused: empty, blank, padded, with a control character", () =>
    Effect.gen(function*() {
      const route = { provider: "local", model: "m" }
      const named = (name: string) => errorsOf({ ...minimal, models: { [name]: route } })
      expect(yield* named("")).toEqual([
        "models: \"\" cannot be a route name (it is empty or blank: no client can call it): rename it"
      ])
      expect(yield* named(" ")).toEqual([
        "models: \" \" cannot be a route name (it is empty or blank: no client can call it): rename it"
      ])
      expect(yield* named("small ")).toEqual([
        "models: \"small \" cannot be a route name (it starts or ends with whitespace): rename it"
      ])
      expect(yield* named("a\nb")).toEqual([
        "models: \"a\\nb\" cannot be a route name (it contains a control character (such as a line break or a tab)): rename it"
      ])
      // A route of a wrong shape is named too.
      expect(yield* errorsOf({ ...minimal, models: { "": null } })).toEqual([
        "models[\"\"]: expected a route: a mapping with provider + model, fallback or router, got null",
        "models: \"\" cannot be a route name (it is empty or blank: no client can call it): rename it"
      ])
      const loaded = yield* decode({ ...minimal, models: { "gpt-4.1": route, "meta/llama 3": route } })
      expect(Object.keys(loaded.config.models)).toEqual(["gpt-4.1", "meta/llama 3"])
    }))

  it.effect("a blank or padded provider name is refused like a route's, its other problems under its quoted path", () =>
    Effect.gen(function*() {
      expect(
        yield* errorsOf({
          providers: { local, "": { ...local, baseUrl: "nope" }, " p ": { type: "azure" }, "a\u200bb": local },
          models: { small: { provider: " p ", model: "m" } }
        })
      ).toEqual([
        "providers: \"\" cannot be a provider name (it is empty or blank): rename it",
        "providers: \" p \" cannot be a provider name (it starts or ends with whitespace): rename it",
        "providers: \"a\\u200bb\" cannot be a provider name (it contains an invisible formatting character (a bidirectional control, a zero-width space or a byte order mark)): rename it",
        "providers[\"\"].baseUrl: must be an absolute http(s) URL, got \"nope\"",
        "providers[\" p \"].baseUrl: required for type \"azure\" (the resource endpoint, https://<name>.openai.azure.com)",
        "providers[\" p \"].apiKeyEnv: required for type \"azure\" (the NAME of the variable holding the key)"
      ])
      // Refused though no route names it, and with a shape error of its own.
      expect(yield* errorsOf({ ...minimal, providers: { local, " ": null } })).toEqual([
        "providers[\" \"]: expected a provider: a mapping with its type, e.g. { type: openai, apiKeyEnv: ... }, got null",
        "providers: \" \" cannot be a provider name (it is empty or blank): rename it"
      ])
      const loaded = yield* decode({ ...minimal, providers: { local, "my.local llm": local } })
      expect(Object.keys(loaded.config.providers)).toEqual(["local", "my.local llm"])
    }))

  it.effect("a tenant listing a route twice is refused at the second", () =>
    Effect.gen(function*() {
      expect(yield* errorsOf({ ...minimal, tenants: { acme: { keys: [acme.hash], models: ["small", "small"] } } }))
        .toEqual(["tenants.acme.models[1]: \"small\" is listed twice: list each route once"])
      expect(yield* errorsOf({ ...minimal, tenants: { acme: { keys: [acme.hash], models: ["big", "big"] } } }))
        .toEqual([
          "tenants.acme.models[0]: unknown model \"big\" (routes: \"small\")",
          "tenants.acme.models[1]: \"big\" is listed twice: list each route once"
        ])
    }))
})

describe("Gateway config: dropUnsupported", () => {
  const droppable = [
    "n",
    "logprobs",
    "top_logprobs",
    "modalities",
    "audio",
    "prediction",
    "web_search_options",
    "moderation",
    "stream_options.include_obfuscation"
  ]
  const never = (name: string) =>
    `"${name}" is never dropped: list what the gateway refuses (${
      droppable.map((drop) => `"${drop}"`).join(", ")
    }) or does not know`

  it.effect("lists what the gateway refuses or does not know, each once", () =>
    Effect.gen(function*() {
      const loaded = yield* decode({ ...minimal, server: { dropUnsupported: [...droppable, "x_vendor_option"] } })
      expect(loaded.config.server?.dropUnsupported).toHaveLength(droppable.length + 1)
      const listed = [
        "n",
        "model",
        "n",
        "messages",
        "stream",
        "temperature",
        "metadata",
        "stream_options.include_usage"
      ]
      expect(yield* errorsOf({ ...minimal, server: { dropUnsupported: listed } })).toEqual([
        `server.dropUnsupported[1]: ${never("model")}`,
        "server.dropUnsupported[2]: \"n\" is listed twice: list each parameter once",
        `server.dropUnsupported[3]: ${never("messages")}`,
        `server.dropUnsupported[4]: ${never("stream")}`,
        `server.dropUnsupported[5]: ${never("temperature")}`,
        `server.dropUnsupported[6]: ${never("metadata")}`,
        `server.dropUnsupported[7]: ${never("stream_options.include_usage")}`
      ])
    }))

  it.effect("an empty or non-string item hides none of the list's other problems", () =>
    Effect.gen(function*() {
      expect(
        yield* errorsOf({ ...minimal, server: { dropUnsupported: ["", "model", "seed", "seed", 5, ""] } })
      ).toEqual([
        "server.dropUnsupported[0]: expected a non-empty string, got an empty string",
        `server.dropUnsupported[1]: ${never("model")}`,
        `server.dropUnsupported[2]: ${never("seed")}`,
        "server.dropUnsupported[3]: \"seed\" is listed twice: list each parameter once",
        "server.dropUnsupported[4]: expected a non-empty string, got 5 (quote it to make it text)",
        "server.dropUnsupported[5]: expected a non-empty string, got an empty string"
      ])
      // The same with another field of the section wrong, and the list still decodes to its names.
      expect(yield* errorsOf({ ...minimal, server: { port: -1, dropUnsupported: ["", "n", "n"] } })).toEqual([
        "server.port: expected a port 0-65535, got -1",
        "server.dropUnsupported[0]: expected a non-empty string, got an empty string",
        "server.dropUnsupported[2]: \"n\" is listed twice: list each parameter once"
      ])
      const loaded = yield* decode({ ...minimal, server: { dropUnsupported: ["n", "logprobs"] } })
      expect(loaded.config.server?.dropUnsupported).toEqual(["n", "logprobs"])
    }))
})

describe("Gateway config: one line for a literal out of its list, and for an empty list", () => {
  it.effect.each(
    [
      [
        "a router strategy",
        router({ strategy: "fastest", deployments: [{ provider: "local", model: "x" }] }),
        "models.b.router.strategy: expected one of \"priority\", \"weighted\", \"least-latency\", got \"fastest\""
      ],
      [
        "maxTokensField",
        { ...minimal, providers: { local: { ...local, maxTokensField: "max" } } },
        "providers.local.maxTokensField: expected one of \"max_tokens\", \"max_completion_tokens\", got \"max\""
      ],
      [
        "a rate-limit algorithm",
        {
          ...minimal,
          tenants: {
            acme: {
              keys: [acme.hash],
              models: "*",
              rateLimit: { requests: { limit: 1, window: "1 minute", algorithm: "sliding" } }
            }
          }
        },
        "tenants.acme.rateLimit.requests.algorithm: expected one of \"fixed-window\", \"token-bucket\", got \"sliding\""
      ],
      [
        "a PII kind",
        { ...minimal, guardrails: { input: [{ pii: { kinds: ["ssn"] } }] } },
        "guardrails.input[0].pii.kinds[0]: expected one of \"email\", \"phone\", \"card\", got \"ssn\""
      ],
      [
        "a guarded role",
        { ...minimal, guardrails: { inputRoles: ["developer"] } },
        "guardrails.inputRoles[0]: expected one of \"system\", \"user\", \"assistant\", \"tool\", got \"developer\""
      ],
      [
        "unpricedModels",
        { ...minimal, budgets: { unpricedModels: "warn" } },
        "budgets.unpricedModels: expected one of \"refuse\", \"allow\", got \"warn\""
      ],
      [
        "a budget period",
        { ...minimal, tenants: { acme: { keys: [acme.hash], models: "*", budget: { limitUsd: 1, period: "week" } } } },
        "tenants.acme.budget.period: expected \"day\", \"month\" or a positive duration such as \"12 hours\", got \"week\""
      ],
      [
        "a tenant's models as a word",
        { ...minimal, tenants: { acme: { keys: [acme.hash], models: "all" } } },
        "tenants.acme.models: expected \"*\" (every route) or a list of route names, got \"all\""
      ],
      [
        "no deployment",
        router({ strategy: "priority", deployments: [] }),
        "models.b.router.deployments: expected at least one deployment"
      ],
      [
        "no fallback step",
        { ...minimal, models: { b: { fallback: [] } } },
        "models.b.fallback: expected at least one fallback step"
      ],
      [
        "no key",
        { ...minimal, tenants: { acme: { keys: [], models: "*" } } },
        "tenants.acme.keys: expected at least one key hash"
      ],
      ["no admin key", { ...minimal, admin: { keys: [] } }, "admin.keys: expected at least one key hash"],
      [
        "no deny-list term",
        { ...minimal, guardrails: { input: [{ denyList: { terms: [] } }] } },
        "guardrails.input[0].denyList.terms: expected at least one term"
      ],
      [
        "a deployment without its model",
        router({ strategy: "priority", deployments: [{ provider: "local" }] }),
        "models.b.router.deployments[0].model: is missing"
      ]
    ] as const
  )("%s", ([, input, message]) =>
    Effect.gen(function*() {
      expect(short(yield* errorsOf(input))).toEqual([message])
    }))
})

describe("Gateway config: the references and the environment of the valid parts, with the shape errors", () => {
  it.effect("an unknown provider, a missing Azure URL, an unset variable and a bad timeout pair, in one pass", () =>
    Effect.gen(function*() {
      const errors = yield* errorsOf({
        server: { port: 70000, headersTimeout: "10 seconds", requestTimeout: "1 second" },
        providers: {
          local,
          azure: { type: "azure", apiKeyEnv: "MOCK_A_KEY" },
          cohere: { type: "cohere", apiKeyEnv: "UNSET_KEY" },
          broken: { type: "openai", apiKeyEnv: "ALSO_UNSET", retry: { times: -1 } }
        },
        models: {
          small: { provider: "antropic", model: "m" },
          bad: { provider: "broken", model: "m", timeout: 5 },
          other: { provider: "broken", model: "m" }
        },
        tenants: { acme: { keys: [acme.hash], models: ["small", "large", "bad"] }, globex: { keys: [] } }
      })
      expect(errors).toEqual([
        "server.port: expected a port 0-65535, got 70000",
        "providers.broken.retry.times: expected an integer >= 0, got -1",
        "models.bad.timeout: expected a mapping of timeouts (request, firstToken, idle, total), got 5",
        "tenants.globex.keys: expected at least one key hash",
        "tenants.globex.models: is missing",
        "server.requestTimeout: must be at least headersTimeout",
        "providers.azure.baseUrl: required for type \"azure\" (the resource endpoint, https://<name>.openai.azure.com)",
        "models.small.provider: unknown provider \"antropic\" (known: \"local\", \"azure\", \"cohere\", \"broken\")",
        "tenants.acme.models[1]: unknown model \"large\" (routes: \"small\", \"bad\", \"other\")",
        "providers.cohere.apiKeyEnv: environment variable UNSET_KEY is not set"
      ])
    }))

  it.effect("the server's own checks run with the other sections' shape errors", () =>
    Effect.gen(function*() {
      expect(
        yield* errorsOf({
          ...minimal,
          server: { headersTimeout: "10 seconds", requestTimeout: "1 second" },
          cache: { ttl: "soon" }
        })
      ).toEqual([
        "server.requestTimeout: must be at least headersTimeout",
        "cache.ttl: expected a positive duration such as \"30 seconds\", got \"soon\""
      ])
    }))

  it.effect("a section that is not a mapping does not make its names unknown elsewhere", () =>
    Effect.gen(function*() {
      expect(
        yield* errorsOf({ providers: [], models: { small: { provider: "local", model: "m" } } })
      ).toEqual(["providers: expected a mapping of provider names to providers, got a list"])
    }))
})

describe("Gateway config: the Redis URL from the environment is checked with the file", () => {
  const withRedis = { ...minimal, redis: { urlEnv: "MY_REDIS" } }
  it.effect.each(
    [
      // A value that is no well-formed URL is described, never shown: it may be the password itself.
      ["not a url", "got a value of 9 characters with spaces (not shown: it may hold a password)"],
      ["Tr0ub4dor&3-hunter2", "got a value of 19 characters that does not start with a scheme://"],
      ["hunter2secret", "got a value of 13 characters that does not start with a scheme://"],
      ["redis://127.0.0.1:6379 password hunter2secret", "got a value of 45 characters with spaces"],
      ["redis:///hunter2secret", "got a value of 22 characters without a host"],
      ["redis://127.0.0.1:6390;password=hunter2", "got a value of 39 characters that is not a valid URL"],
      ["127.0.0.1:6390,password=hunter2,ssl=True", "got a value of 40 characters that does not start with a scheme://"],
      // A well-formed one is shown, its userinfo, query and password-like values masked.
      ["http://127.0.0.1:6390", "\"http://127.0.0.1:6390\""],
      ["redis://:hunter2-secret@127.0.0.1:6390?x=1", "\"redis://***@127.0.0.1:6390?***\""],
      ["redis://127.0.0.1,password=hunter2", "invalid host: it is not a valid host name (labels of letters, digits"],
      ["http://u:hunter2@127.0.0.1:6390", "\"http://***@127.0.0.1:6390\""],
      // A host must be a host name, an IPv4 address (numbers up to 255) or an IPv6 one.
      [
        "redis://:hunter2@256.1.1.1",
        "it is not a valid IPv4 address (four numbers from 0 to 255), got \"redis://***@256.1.1.1\""
      ],
      ["redis://:hunter2@1.2.3.4.5", "it is not a valid IPv4 address"],
      ["redis://:hunter2@-bad-:6379", "it is not a valid host name"],
      // A database part that is no number is not shown either.
      ["redis://127.0.0.1:6390/hunter2", "has a database part (after the host) that is not a number such as /0"]
    ] as const
  )("%s", ([url, shownUrl]) =>
    Effect.gen(function*() {
      const errors = yield* errorsOf(withRedis, new Map([...env, ["MY_REDIS", url]]))
      expect(errors).toHaveLength(1)
      expect(errors[0]).toMatch(/^redis\.urlEnv: MY_REDIS (must|has)/)
      expect(errors[0]).toContain(shownUrl)
      expect(errors[0]).not.toContain("hunter2")
    }))

  it.effect("a database that is not a number; a good URL passes", () =>
    Effect.gen(function*() {
      expect(yield* errorsOf(withRedis, new Map([...env, ["MY_REDIS", "redis://127.0.0.1:6390/abc"]]))).toEqual([
        "redis.urlEnv: MY_REDIS has a database part (after the host) that is not a number such as /0 (not shown: it may hold a password)"
      ])
      for (
        const url of [
          "rediss://u:p@127.0.0.1:6390/2",
          "redis://redis.internal:6379",
          "redis://my_redis",
          "redis://[::1]:6379/0",
          "redis://cache.example.com./1"
        ]
      ) {
        const loaded = yield* decode(withRedis, new Map([...env, ["MY_REDIS", url]]))
        expect(loaded.redisUrl).toBeDefined()
      }
    }))
})

describe("Gateway config: YAML read as plain data, every key as written", () => {
  const parsed = (text: string) => Either.getOrThrow(Config.parse(text, "gateway.yaml"))
  const refused = (text: string) =>
    Either.match(Config.parse(text, "gateway.yaml"), { onLeft: (error) => error.errors, onRight: () => [] })
  const provider = "providers:\n  p: { type: openai-compatible, baseUrl: 'http://127.0.0.1:9/v1' }\n"
  const plain = "write plain YAML (strings, numbers, booleans, lists, maps)"

  it.effect("a key is the text written: `null`, `~`, `1.50`, `true` name routes, not \"\" or 1.5", () =>
    Effect.gen(function*() {
      const input = parsed(
        `${provider}models:\n  null: { provider: p, model: y }\n  ~: { provider: p, model: y }\n` +
          "  1.50: { provider: p, model: y }\n  true: { provider: p, model: y }\n  \"\": { provider: p, model: y }\n"
      )
      expect(Object.keys((input as { models: object }).models)).toEqual(["null", "~", "1.50", "true", ""])
      // Only the key written empty is refused as empty.
      expect(yield* errorsOf(input)).toEqual([expect.stringMatching(/^models: "" cannot be a route name/)])
      const loaded = yield* decode(parsed(`${provider}models:\n  null: { provider: p, model: y }\n`))
      expect(Object.keys(loaded.config.models)).toEqual(["null"])
    }))

  it("a key that is a list, a mapping, an alias or another type is refused with its path, and nothing on stderr", () => {
    const warn = vi.spyOn(process, "emitWarning")
    try {
      expect(refused("models:\n  ? [a, b]\n  : { provider: p, model: y }\n")).toEqual([
        "models: a key must be a name (a string), not a list (line 2, column 5)"
      ])
      expect(refused("models:\n  small:\n    headers: { ? {a: 1} : x }\n")).toEqual([
        "models.small.headers: a key must be a name (a string), not a mapping (line 3, column 18)"
      ])
      expect(refused("a: &k key\nmodels:\n  *k : 1\n  !!int 5: 2\n  !!str 6: 3\n")).toEqual([
        "models: a key must be a name (a string), not an alias (*k) (line 3, column 3)",
        "models: a key must be a name (a string), not a !!int value (line 4, column 9)"
      ])
      expect(warn).not.toHaveBeenCalled()
    } finally {
      warn.mockRestore()
    }
  })

  it("a value that is not plain data (!!binary, !!timestamp, !!set, !!omap, a custom tag) is refused once, with its path", () => {
    expect(refused("models:\n  m: !!binary aGVsbG8=\n")).toEqual([
      `models.m: a !!binary value is not allowed here; ${plain}`
    ])
    expect(
      refused(
        "models:\n  m: { provider: p, model: !!timestamp 2001-12-14 }\n  n: !!set { a }\n  o: !!omap [a: 1]\n" +
          "  q: [!local x, !<tag:example.com,2000:y> z]\n"
      )
    ).toEqual([
      `models.m.model: a !!timestamp value is not allowed here; ${plain}`,
      `models.n: a !!set value is not allowed here; ${plain}`,
      `models.o: a !!omap value is not allowed here; ${plain}`,
      `models.q[0]: a !local value is not allowed here; ${plain}`,
      `models.q[1]: a !<tag:example.com,2000:y> value is not allowed here; ${plain}`
    ])
    // A core tag must fit its value; one that does is plain data.
    expect(refused("server:\n  port: !!int abc\n")).toEqual([`server.port: not a valid !!int value; ${plain}`])
    expect(parsed("a: !!str 123\nb: !!int 5\nc: ! 7\nd: !!map { e: !!null null }\nf: 2001-12-14\n")).toEqual({
      a: "123",
      b: 5,
      c: "7",
      d: { e: null },
      f: "2001-12-14"
    })
  })

  it("a file of two YAML documents says so, not the YAML library's advice to its programmer", () => {
    const message = "the file holds more than one YAML document (each `---` starts one); a config is one document"
    expect(refused("models: {}\n---\nproviders: {}\n")).toEqual([`line 2, column 1: ${message}`])
    // After an end marker (`...`), the second document starts with its first line.
    expect(refused("models: {}\n...\nproviders: {}\n")).toEqual([`line 3, column 1: ${message}`])
    expect(parsed("---\nmodels: {}\n")).toEqual({ models: {} })
  })
})
