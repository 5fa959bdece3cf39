/**
 * The clients under test. Each one makes the same call (system + user message, `gpt-4o-mini`) and returns the
 * answer's full text, so they all do the same work: read the whole body, decode UTF-8, frame the SSE events,
 * parse every event's JSON and append its text.
 */
import { LanguageModel as AiLanguageModel } from "@effect/ai"
import { OpenAiClient, OpenAiLanguageModel } from "@effect/ai-openai"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { createParser } from "eventsource-parser"
import { readFileSync } from "node:fs"
import OpenAI from "openai"
import * as Undici from "undici"
import { ChatResponse, LanguageModel, OpenAi } from "../src/index.js"
import * as Payloads from "./payloads.js"

/** The two HTTP stacks of Node: the global `fetch` and the `undici` package's own API. */
export type Transport = "fetch" | "undici"

/**
 * A client under test: `stream` and `generate` resolve to the answer's text. `hold` opens a stream and resolves,
 * once its first text has arrived, to the function that releases it (cancels it and closes its connection).
 */
export interface Client {
  readonly name: string
  /** The HTTP stack underneath, to compare with the raw client of the same stack. */
  readonly transport: Transport
  readonly stream: () => Promise<string>
  readonly generate: () => Promise<string>
  readonly hold: () => Promise<Release>
  readonly dispose: () => Promise<void>
}

/** Ends a held stream. */
export type Release = () => Promise<void>

const devDependencies = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf-8")) as {
  readonly devDependencies: Record<string, string>
}).devDependencies

const version = (name: string): string => devDependencies[name] ?? "?"

const messages = [
  { role: "system" as const, content: Payloads.SYSTEM_PROMPT },
  { role: "user" as const, content: Payloads.USER_PROMPT }
]

const headers = {
  "content-type": "application/json",
  authorization: `Bearer ${Payloads.API_KEY}`
}

const requestBody = (stream: boolean): string =>
  JSON.stringify({
    model: Payloads.MODEL,
    messages,
    ...(stream ? { stream: true, stream_options: { include_usage: true } } : {})
  })

const streamBody = requestBody(true)
const generateBody = requestBody(false)

interface WireChunk {
  readonly choices?: ReadonlyArray<{ readonly delta?: { readonly content?: string | null } }>
}

interface WireCompletion {
  readonly choices: ReadonlyArray<{ readonly message: { readonly content: string | null } }>
}

/**
 * What a hand-written client does with a streamed body: decode, frame with `eventsource-parser`, `JSON.parse`
 * each event, append the delta's text.
 */
const makeSseText = () => {
  let text = ""
  const decoder = new TextDecoder("utf-8")
  const parser = createParser({
    onEvent: (event) => {
      if (event.data === "[DONE]") return
      const content = (JSON.parse(event.data) as WireChunk).choices?.[0]?.delta?.content
      if (typeof content === "string") text += content
    }
  })
  return {
    feed: (bytes: Uint8Array) => parser.feed(decoder.decode(bytes, { stream: true })),
    /** The text so far. */
    current: (): string => text,
    end: (): string => {
      parser.feed(decoder.decode())
      return text
    }
  }
}

const completionText = (json: unknown): string => (json as WireCompletion).choices[0]?.message.content ?? ""

const rawFetch = (baseUrl: string): Client => {
  const url = `${baseUrl}/chat/completions`
  const post = async (body: string) => {
    const response = await fetch(url, { method: "POST", headers, body })
    if (response.status !== 200 || response.body === null) {
      throw new Error(`raw fetch: status ${response.status}: ${await response.text()}`)
    }
    return response
  }
  return {
    name: "raw fetch",
    transport: "fetch",
    stream: async () => {
      const response = await post(streamBody)
      const sse = makeSseText()
      const reader = response.body!.getReader()
      while (true) {
        const { done, value } = await reader.read()
        if (done) break
        sse.feed(value)
      }
      return sse.end()
    },
    generate: async () => completionText(await (await post(generateBody)).json()),
    hold: async () => {
      const response = await post(streamBody)
      const sse = makeSseText()
      const reader = response.body!.getReader()
      while (sse.current() === "") {
        const { done, value } = await reader.read()
        if (done) throw new Error("raw fetch: the held stream ended")
        sse.feed(value)
      }
      return () => reader.cancel()
    },
    dispose: async () => {}
  }
}

const rawUndici = (baseUrl: string): Client => {
  const url = `${baseUrl}/chat/completions`
  const dispatcher = new Undici.Agent()
  const post = async (body: string) => {
    const response = await Undici.request(url, { method: "POST", headers, body, dispatcher })
    if (response.statusCode !== 200) {
      throw new Error(`raw undici: status ${response.statusCode}: ${await response.body.text()}`)
    }
    return response
  }
  return {
    name: "raw undici.request",
    transport: "undici",
    stream: async () => {
      const response = await post(streamBody)
      const sse = makeSseText()
      for await (const bytes of response.body) sse.feed(bytes as Buffer)
      return sse.end()
    },
    generate: async () => completionText(await (await post(generateBody)).body.json()),
    hold: async () => {
      const response = await post(streamBody)
      const sse = makeSseText()
      const bytes = response.body[Symbol.asyncIterator]()
      while (sse.current() === "") {
        const next = await bytes.next()
        if (next.done === true) throw new Error("raw undici: the held stream ended")
        sse.feed(next.value as Buffer)
      }
      return async () => void response.body.destroy()
    },
    dispose: () => dispatcher.close()
  }
}

const openaiSdk = (baseUrl: string): Client => {
  const openai = new OpenAI({ apiKey: Payloads.API_KEY, baseURL: baseUrl })
  return {
    name: `openai ${version("openai")}`,
    transport: "fetch",
    stream: async () => {
      const stream = await openai.chat.completions.create({
        model: Payloads.MODEL,
        messages,
        stream: true,
        stream_options: { include_usage: true }
      })
      let text = ""
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? ""
      return text
    },
    generate: async () => {
      const completion = await openai.chat.completions.create({ model: Payloads.MODEL, messages })
      return completion.choices[0]?.message.content ?? ""
    },
    hold: async () => {
      const stream = await openai.chat.completions.create({
        model: Payloads.MODEL,
        messages,
        stream: true,
        stream_options: { include_usage: true }
      })
      const chunks = stream[Symbol.asyncIterator]()
      while (true) {
        const next = await chunks.next()
        if (next.done === true) throw new Error("openai: the held stream ended")
        if ((next.value.choices[0]?.delta?.content ?? "") !== "") break
      }
      return async () => stream.controller.abort()
    },
    dispose: async () => {}
  }
}

const effectAi = (baseUrl: string): Client => {
  const runtime = ManagedRuntime.make(
    OpenAiLanguageModel.layer({ model: Payloads.MODEL }).pipe(
      Layer.provide(OpenAiClient.layer({ apiUrl: baseUrl, apiKey: Redacted.make(Payloads.API_KEY) })),
      Layer.provide(NodeHttpClient.layerUndici)
    )
  )
  const stream = AiLanguageModel.streamText({ prompt: messages }).pipe(
    Stream.runFold("", (text, part) => part.type === "text-delta" ? text + part.delta : text)
  )
  const generate = AiLanguageModel.generateText({ prompt: messages }).pipe(Effect.map((response) => response.text))
  return {
    name: `@effect/ai-openai ${version("@effect/ai-openai")} (undici)`,
    transport: "undici",
    stream: () => runtime.runPromise(stream),
    generate: () => runtime.runPromise(generate),
    hold: () =>
      holdFiber(runtime, AiLanguageModel.streamText({ prompt: messages }), (part) => part.type === "text-delta"),
    dispose: () => runtime.dispose()
  }
}

const literLlm = (baseUrl: string, transport: Transport, http: Layer.Layer<HttpClient.HttpClient>): Client => {
  const runtime = ManagedRuntime.make(
    OpenAi.layer({ baseUrl, apiKey: Redacted.make(Payloads.API_KEY), model: Payloads.MODEL }).pipe(
      Layer.provide(http)
    )
  )
  const stream = LanguageModel.stream({ messages }).pipe(
    Stream.runFold("", (text, part) => part.type === "text-delta" ? text + part.text : text)
  )
  const generate = LanguageModel.generate({ messages }).pipe(Effect.map(ChatResponse.text))
  return {
    name: `liter-llm (${transport})`,
    transport,
    stream: () => runtime.runPromise(stream),
    generate: () => runtime.runPromise(generate),
    hold: () => holdFiber(runtime, LanguageModel.stream({ messages }), (part) => part.type === "text-delta"),
    dispose: () => runtime.dispose()
  }
}

/** Runs a stream in a fiber until its first text part; the release interrupts the fiber. */
const holdFiber = <A, E, R>(
  runtime: ManagedRuntime.ManagedRuntime<R, unknown>,
  stream: Stream.Stream<A, E, R>,
  isText: (part: A) => boolean
): Promise<Release> =>
  new Promise((resolve, reject) => {
    let held = false
    const fiber = runtime.runFork(Stream.runForEach(stream, (part) =>
      held || !isText(part) ? Effect.void : Effect.sync(() => {
        held = true
        resolve(() => Effect.runPromise(Fiber.interrupt(fiber)).then(() => undefined))
      })))
    fiber.addObserver((exit) => {
      if (!held) {
        reject(new Error(`the held stream ended: ${String(exit)}`))
      }
    })
  })

/** The name of the client every other one is compared with. */
export const BASELINE = "raw fetch"

/** The raw client of each transport. */
export const RAW: Record<Transport, string> = { fetch: "raw fetch", undici: "raw undici.request" }

/** The clients liter-llm's targets apply to. */
export const isLiterLlm = (client: { readonly name: string }): boolean => client.name.startsWith("liter-llm")

/** Every client, pointed at `baseUrl` (e.g. `http://127.0.0.1:1234/v1`); the baseline first. */
export const makeClients = (baseUrl: string): Array<Client> => [
  rawFetch(baseUrl),
  rawUndici(baseUrl),
  openaiSdk(baseUrl),
  effectAi(baseUrl),
  literLlm(baseUrl, "undici", NodeHttpClient.layerUndici),
  literLlm(baseUrl, "fetch", FetchHttpClient.layer)
]
