/** The budget suites, run once per store: in memory, and in Redis on a real server. */
import { describe } from "@effect/vitest"
import { Layer } from "effect"
import * as Budget from "../../src/Budget.js"
import type * as Pricing from "../../src/Pricing.js"
import * as Redis from "../../src/Redis.js"
import type * as Tokenizer from "../../src/Tokenizer.js"
import { environment, environmentWith } from "./budget.js"
import { describeRedis, uniquePrefix } from "./redis.js"

/** A Redis store over a connection of its own to `url`, on a key prefix no other test uses. */
export const redisStore = (url: string, options: Budget.RedisStoreOptions & { readonly keyPrefix?: string } = {}) =>
  Budget.layerRedis(options).pipe(
    Layer.provide(Redis.layer({ url, keyPrefix: options.keyPrefix ?? uniquePrefix("budget") })),
    Layer.orDie
  )

/** Suites run once per store: in memory, and in Redis on a real server (skipped with a message without one). */
export const describeStores = (
  name: string,
  suites: (environment: () => Layer.Layer<Pricing.Pricing | Tokenizer.Tokenizer | Budget.BudgetStore>) => void
): void => {
  describe(`${name} (memory store)`, () => suites(() => environment))
  describeRedis(`${name} (Redis store)`, (server) => suites(() => environmentWith(redisStore(server.url))))
}
