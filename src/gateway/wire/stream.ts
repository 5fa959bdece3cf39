/**
 * Encoding stream parts as OpenAI `chat.completion.chunk` SSE events, the way OpenAI sends them. Strings are
 * built directly: this runs once per token.
 *
 * @since 0.2.0
 */
import * as ChatResponse from "../../ChatResponse.js"
import type * as LlmError from "../../LlmError.js"
import type * as StreamPart from "../../StreamPart.js"
import * as Errors from "./errors.js"
import * as Response from "./response.js"
import type * as WireError from "./WireError.js"

/**
 * What every chunk of a stream says: the model the client asked for, the completion id and time, and whether usage
 * is sent.
 *
 * @since 0.2.0
 * @category models
 */
export interface ChunkEncoderOptions {
  /** The model name the client asked for. */
  readonly model: string
  /** The completion id, the same on every chunk. */
  readonly id: string
  /** Unix time in seconds, the same on every chunk. */
  readonly created: number
  /** `stream_options.include_usage`: every chunk has `"usage":null` and a last chunk carries the usage. */
  readonly includeUsage: boolean
  /** Stream the legacy `function_call` (the first tool call) instead of `tool_calls`. */
  readonly legacyFunctions?: boolean | undefined
}

/**
 * A stateful encoder of one stream.
 *
 * @since 0.2.0
 * @category models
 */
export interface ChunkEncoder {
  /** The SSE text to write for a part: `data: {...}\n\n`, or `""` when the part maps to nothing. */
  readonly part: (part: StreamPart.StreamPart) => string
  /** The last chunks (finish reason if not sent yet, usage when asked) and `data: [DONE]`. */
  readonly end: () => string
  /**
   * A failure after the commit point: an SSE event holding OpenAI's error object, which the official SDKs raise
   * as an `APIError` with its message. Nothing follows it: close the stream after writing it.
   */
  readonly errorEvent: (error: LlmError.LlmError | WireError.WireError) => string
}

interface Call {
  readonly index: number
  sent: number
}

/**
 * A chunk encoder. The first chunk carries `delta.role: "assistant"`; text is `delta.content`, reasoning
 * `delta.reasoning_content`, a refusal `delta.refusal`; each tool call gets the next `index` at its start
 * (`id`, `type`, `function.name`, empty `arguments`), then argument deltas; the finish chunk has an empty
 * delta and the `finish_reason`; with `includeUsage`, a last chunk with `choices: []` and the usage (in
 * tokens; none when the provider reported none).
 *
 * @example
 * ```ts
 * import { makeChunkEncoder } from "liter-llm/gateway/wire"
 *
 * const encoder = makeChunkEncoder({ model: "gpt-4o-mini", id: "chatcmpl-1", created: 1_700_000_000, includeUsage: true })
 * let sse = encoder.part({ type: "text-delta", text: "Hello" })
 * sse += encoder.part({ type: "finish", finishReason: "stop" })
 * sse += encoder.end() // ... data: [DONE]
 * ```
 *
 * @since 0.2.0
 * @category encoding
 */
export const makeChunkEncoder = (options: ChunkEncoderOptions): ChunkEncoder => {
  const meta = `data: {"id":${JSON.stringify(options.id)},"object":"chat.completion.chunk",` +
    `"created":${options.created},"model":${JSON.stringify(options.model)},`
  const head = `${meta}${options.includeUsage ? "\"usage\":null," : ""}"choices":[`
  const open = `${head}{"index":0,"delta":{`
  const close = `},"logprobs":null,"finish_reason":null}]}\n\n`
  const legacy = options.legacyFunctions === true
  // The calls started and not yet ended, by id; `callCount` numbers them. Two calls of one stream may share an id
  // (a provider's bug, or ids that only tell calls apart within a step): each start opens a call of its own.
  const openCalls = new Map<string, Call>()
  let callCount = 0
  let role = "\"role\":\"assistant\","
  let finished = false
  let usage: ChatResponse.Usage | undefined

  /** A chunk with these delta fields (a JSON object body without braces, ending without a comma). */
  const chunk = (fields: string): string => {
    const out = open + role + fields + close
    role = ""
    return out
  }

  const startCall = (id: string, name: string, args: string): string => {
    const index = callCount++
    openCalls.set(id, { index, sent: args.length })
    if (legacy) {
      // The legacy form has a single call: later ones have nowhere to go.
      return index === 0
        ? chunk(`"function_call":{"name":${JSON.stringify(name)},"arguments":${JSON.stringify(args)}}`)
        : ""
    }
    return chunk(
      `"tool_calls":[{"index":${index},"id":${JSON.stringify(id)},"type":"function","function":{"name":${
        JSON.stringify(name)
      },"arguments":${JSON.stringify(args)}}}]`
    )
  }

  const callArguments = (call: Call, text: string): string => {
    call.sent += text.length
    if (legacy) return call.index === 0 ? chunk(`"function_call":{"arguments":${JSON.stringify(text)}}`) : ""
    return chunk(`"tool_calls":[{"index":${call.index},"function":{"arguments":${JSON.stringify(text)}}}]`)
  }

  const finish = (reason: ChatResponse.FinishReason): string => {
    finished = true
    const wire = Response.finishReason(ChatResponse.finishReasonFor(reason, callCount > 0), legacy)
    const out = `${open}${
      role === "" ? "" : "\"role\":\"assistant\""
    }},"logprobs":null,"finish_reason":"${wire}"}]}\n\n`
    role = ""
    return out
  }

  const part = (part: StreamPart.StreamPart): string => {
    switch (part.type) {
      case "text-delta":
        return part.text === "" ? "" : chunk(`"content":${JSON.stringify(part.text)}`)
      case "reasoning-delta":
        // A signature-only or redacted delta has no text a client can show.
        return part.text === "" || part.redacted === true
          ? ""
          : chunk(`"reasoning_content":${JSON.stringify(part.text)}`)
      case "refusal-delta":
        return part.text === "" ? "" : chunk(`"refusal":${JSON.stringify(part.text)}`)
      case "tool-call-start":
        return openCalls.has(part.id) ? "" : startCall(part.id, part.name, "")
      case "tool-call-delta": {
        const call = openCalls.get(part.id)
        if (call === undefined || part.argumentsDelta === "") return ""
        return callArguments(call, part.argumentsDelta)
      }
      case "tool-call-end": {
        // A provider that sends the arguments whole, or only at the end: send what the client has not seen. A call
        // without arguments gets `{}`, as OpenAI sends it and as a whole answer has it: clients parse the text.
        const call = openCalls.get(part.id)
        const raw = Response.argumentsText(part.rawArguments)
        const text = call === undefined
          ? startCall(part.id, part.name, raw)
          : call.sent === 0
          ? callArguments(call, raw)
          : call.sent < part.rawArguments.length
          ? callArguments(call, part.rawArguments.slice(call.sent))
          : ""
        openCalls.delete(part.id)
        return text
      }
      case "usage":
        usage = part.usage
        return ""
      case "finish":
        return finished ? "" : finish(part.finishReason)
      case "response-metadata":
        return ""
    }
  }

  const end = (): string => {
    // A stream that ended without a finish part still ends its choice: clients require a finish reason.
    let out = finished ? "" : finish("other")
    if (options.includeUsage && usage !== undefined) {
      out += `${meta}"usage":${JSON.stringify(Response.usage(usage))},"choices":[]}\n\n`
    }
    return out + "data: [DONE]\n\n"
  }

  const errorEvent = (error: LlmError.LlmError | WireError.WireError): string =>
    `data: ${JSON.stringify(Errors.errorBody(error))}\n\n`

  return { part, end, errorEvent }
}
