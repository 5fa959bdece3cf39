/** A layer of every provider, pointed at a mock server, for tests that run the same case against each. */
import { NodeHttpClient } from "@effect/platform-node"
import { Layer, Redacted } from "effect"
import * as Anthropic from "../../src/providers/Anthropic.js"
import * as Cohere from "../../src/providers/Cohere.js"
import * as Gemini from "../../src/providers/Gemini.js"
import * as OpenAi from "../../src/providers/OpenAi.js"
import type * as MockProvider from "../../src/testing/MockProvider.js"
import { openAiLayer, secretKey } from "./loopback.js"

const apiKey = Redacted.make(secretKey)
const undici = Layer.provide(NodeHttpClient.layerUndici)

/** Options every provider layer accepts. */
export interface CommonOptions {
  readonly retry?: false | undefined
}

export const openAi = (server: MockProvider.MockProvider, options: CommonOptions = {}) => openAiLayer(server, options)

export const azure = (server: MockProvider.MockProvider, options: CommonOptions = {}) =>
  OpenAi.layerAzure({ endpoint: server.url, deployment: "d", apiKey, ...options }).pipe(undici)

export const anthropic = (server: MockProvider.MockProvider, options: CommonOptions = {}) =>
  Anthropic.layer({ apiKey, baseUrl: server.url, model: "claude-sonnet-4-5", ...options }).pipe(undici)

export const cohere = (server: MockProvider.MockProvider, options: CommonOptions = {}) =>
  Cohere.layer({ apiKey, baseUrl: server.url, model: "command-a-03-2025", ...options }).pipe(undici)

export const gemini = (server: MockProvider.MockProvider, options: CommonOptions = {}) =>
  Gemini.layer({ apiKey, baseUrl: server.url, model: "gemini-2.5-flash", ...options }).pipe(undici)
