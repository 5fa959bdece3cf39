/**
 * What the worker processes of the multi-process tests (`test/processes/`) share: their settings read from the
 * environment, and the OpenAI provider layer pointed at the test's mock (`MOCK_URL`), without retries.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { Layer, Redacted } from "effect"
import * as OpenAi from "../../src/providers/OpenAi.js"

/** A setting the parent process must give: a worker started without it stops at once, saying which. */
export const env = (name: string): string => {
  const value = process.env[name]
  if (value === undefined || value === "") throw new Error(`${name} is not set`)
  return value
}

/** The OpenAI layer over undici, calling the mock at `MOCK_URL` with a test key and no retries. */
export const mockProvider = () =>
  OpenAi.layer({
    apiKey: Redacted.make("sk-test"),
    baseUrl: `${env("MOCK_URL")}/v1`,
    model: "gpt-4o-mini",
    retry: false
  }).pipe(Layer.provide(NodeHttpClient.layerUndici))
