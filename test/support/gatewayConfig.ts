/** Gateway configs for tests: keys and hashes, an environment, and a config in front of mock providers. */
import { ConfigProvider, Effect, Either } from "effect"
import * as Config from "../../src/gateway/Config.js"
import * as Keys from "../../src/gateway/Keys.js"
import type * as MockProvider from "../../src/testing/MockProvider.js"
import { secretKey } from "./loopback.js"

/** A tenant's virtual key and its hash. */
export const keyPair = (name: string) => {
  const key = `sk-liter-test-${name}-0123456789abcdef`
  return { key, hash: Either.getOrThrow(Keys.hashKey(key)) }
}

export const acme = keyPair("acme")
export const globex = keyPair("globex")
export const admin = keyPair("admin")

/** The environment the configs read their keys from. */
export const env = new Map([["MOCK_A_KEY", secretKey], ["MOCK_B_KEY", secretKey]])

export const withEnv = <A, E, R>(effect: Effect.Effect<A, E, R>, vars: ReadonlyMap<string, string> = env) =>
  Effect.withConfigProvider(effect, ConfigProvider.fromMap(new Map(vars)))

/** Priced test models: 1 USD per input token, 2 USD per output token, answers of at most 5 tokens. */
export const pricing = {
  dataset: false,
  models: {
    "model-a": { inputPerMillion: 1_000_000, outputPerMillion: 2_000_000, maxOutputTokens: 5 },
    "model-b": { inputPerMillion: 1_000_000, outputPerMillion: 2_000_000, maxOutputTokens: 5 }
  }
}

/** Two OpenAI-compatible providers over two mocks, a fallback route and a single one, two tenants and an admin. */
export const twoProviders = (a: MockProvider.MockProvider, b: MockProvider.MockProvider) => ({
  providers: {
    a: { type: "openai-compatible", baseUrl: `${a.url}/v1`, apiKeyEnv: "MOCK_A_KEY", retry: false },
    b: { type: "openai-compatible", baseUrl: `${b.url}/v1`, apiKeyEnv: "MOCK_B_KEY", retry: false }
  },
  models: {
    smart: { fallback: [{ provider: "a", model: "model-a" }, { provider: "b", model: "model-b" }] },
    small: { provider: "b", model: "model-b" }
  },
  pricing,
  admin: { keys: [admin.hash] },
  tenants: {
    acme: { keys: [acme.hash], models: "*" },
    globex: { keys: [globex.hash], models: ["small"] }
  }
})

/** Decodes a config object in the test environment, failing the test on an invalid one. */
export const decode = (input: unknown, vars: ReadonlyMap<string, string> = env) =>
  withEnv(Config.decode(input), vars).pipe(Effect.orDie)

/** The errors of a config that must be refused. */
export const errorsOf = (input: unknown, vars: ReadonlyMap<string, string> = env) =>
  withEnv(Effect.flip(Config.decode(input)), vars).pipe(Effect.map((error) => error.errors))
