/** A layer of every provider, pointed at a mock server, for tests that run the same case against each. */
import type * as HttpClient from "@effect/platform/HttpClient"
import type { Layer } from "effect"
import { Redacted } from "effect"
import * as Anthropic from "../../src/providers/Anthropic.js"
import * as Cohere from "../../src/providers/Cohere.js"
import * as Gemini from "../../src/providers/Gemini.js"
import * as OpenAi from "../../src/providers/OpenAi.js"
import type * as MockProvider from "../../src/testing/MockProvider.js"
import { openAiLayer, overUndici, secretKey } from "./loopback.js"

const apiKey = Redacted.make(secretKey)
/** Options every provider layer accepts. */
export interface CommonOptions {
  readonly retry?: false | undefined
}

/** An OpenAI layer (model `gpt-4o-mini`). */
export const openAi = openAiLayer

/** An Azure OpenAI layer (deployment `d`). */
export const azure = (
  server: MockProvider.MockProvider,
  options: Partial<OpenAi.AzureOptions> = {},
  client?: Layer.Layer<HttpClient.HttpClient>
) => overUndici(OpenAi.layerAzure({ endpoint: server.url, deployment: "d", apiKey, ...options }), client)

/** An Anthropic layer (model `claude-sonnet-4-5`). */
export const anthropic = (
  server: MockProvider.MockProvider,
  options: Partial<Anthropic.Options> = {},
  client?: Layer.Layer<HttpClient.HttpClient>
) => overUndici(Anthropic.layer({ apiKey, baseUrl: server.url, model: "claude-sonnet-4-5", ...options }), client)

/** An Cohere layer (model `command-a-03-2025`). */
export const cohere = (
  server: MockProvider.MockProvider,
  options: Partial<Cohere.Options> = {},
  client?: Layer.Layer<HttpClient.HttpClient>
) => overUndici(Cohere.layer({ apiKey, baseUrl: server.url, model: "command-a-03-2025", ...options }), client)

/** An Gemini layer (model `gemini-2.5-flash`). */
export const gemini = (
  server: MockProvider.MockProvider,
  options: Partial<Gemini.Options> = {},
  client?: Layer.Layer<HttpClient.HttpClient>
) => overUndici(Gemini.layer({ apiKey, baseUrl: server.url, model: "gemini-2.5-flash", ...options }), client)
