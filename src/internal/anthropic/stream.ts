/**
 * Decoding of Anthropic Messages streams (named SSE events) into parts.
 *
 * Hand-written field access rather than a Schema: this runs once per token. The event is read from the data's
 * `type` (the SSE `event:` name only as a fallback): both always agree on Anthropic, and recordings that keep
 * the data alone still decode. Anthropic pads data with spaces before the last `}`, which `JSON.parse` accepts.
 */
import * as LlmError from "../../LlmError.js"
import * as StreamPart from "../../StreamPart.js"
import * as Errors from "../errors.js"
import type * as Framing from "../framing.js"
import { isObject, type Json, nonEmpty } from "../json.js"
import * as Streaming from "../streaming.js"
import * as AnthropicErrors from "./errors.js"
import { redactedPrefix } from "./request.js"
import * as AnthropicResponse from "./response.js"

/** What one content block index is. */
type Block =
  | { readonly kind: "tool"; readonly id: string; readonly name: string; raw: string; readonly input: unknown }
  | { readonly kind: "format"; raw: string; readonly input: unknown }
  | { readonly kind: "other" }

/**
 * @internal
 */
export interface Options {
  readonly requestId: string | undefined
  /** The forced tool of a `json-schema` response format: its input is streamed as text. */
  readonly formatTool: string | undefined
  /** What the response headers said (request id, rate limits), sent with the first metadata part. */
  readonly providerMetadata: Readonly<Record<string, unknown>>
}

const usageNumbers = ["input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"]

/** The JSON text of a block's initial `input`, when it already has content (no deltas will follow). */
const initialInput = (input: unknown): string =>
  isObject(input) && Object.keys(input).length > 0 ? JSON.stringify(input) : ""

/** A decoder for one streamed response. */
export const makeDecoder = (
  context: Errors.ErrorContext,
  options: Options
): Streaming.Decoder<Framing.Frame> => {
  let done = false
  let metadataSent = false
  let formatUsed = false
  let stopReason: string | undefined
  // Usage fields are cumulative totals: a later event's value replaces the earlier one, never adds to it.
  const usage: Record<string, unknown> = {}
  const blocks = new Map<number, Block>()
  const raw = Streaming.makeRawLines(context, options.requestId)

  const closeTool = (block: Block, out: Array<StreamPart.StreamPart>) => {
    if (block.kind === "tool") {
      const raw = block.raw === "" ? initialInput(block.input) : block.raw
      out.push({
        type: "tool-call-end",
        id: block.id,
        name: block.name,
        arguments: StreamPart.parseArguments(raw),
        rawArguments: raw
      })
    } else if (block.kind === "format" && block.raw === "") {
      const text = initialInput(block.input)
      if (text !== "") out.push({ type: "text-delta", text })
    }
  }

  const pushUsage = (wire: unknown, out: Array<StreamPart.StreamPart>) => {
    if (!isObject(wire)) return
    for (const key of usageNumbers) {
      if (typeof wire[key] === "number") usage[key] = wire[key]
    }
    if (isObject(wire.output_tokens_details)) usage.output_tokens_details = wire.output_tokens_details
    out.push({ type: "usage", usage: AnthropicResponse.usage(usage as AnthropicResponse.UsageFields) })
  }

  const blockStart = (index: number, block: Json, out: Array<StreamPart.StreamPart>) => {
    // A block starting where one is still open (a proxy that reuses or drops the index) ends that one first.
    const previous = blocks.get(index)
    if (previous !== undefined) closeTool(previous, out)
    switch (block.type) {
      case "text":
        blocks.set(index, { kind: "other" })
        if (nonEmpty(block.text)) out.push({ type: "text-delta", text: block.text })
        return
      case "thinking":
        blocks.set(index, { kind: "other" })
        if (nonEmpty(block.thinking)) out.push({ type: "reasoning-delta", text: block.thinking })
        if (nonEmpty(block.signature)) out.push({ type: "reasoning-delta", text: "", signature: block.signature })
        return
      case "redacted_thinking":
        blocks.set(index, { kind: "other" })
        if (nonEmpty(block.data)) {
          out.push({
            type: "reasoning-delta",
            text: "",
            signature: redactedPrefix + block.data,
            redacted: true
          })
        }
        return
      case "tool_use": {
        const name = nonEmpty(block.name) ? block.name : ""
        if (options.formatTool !== undefined && name === options.formatTool) {
          formatUsed = true
          blocks.set(index, { kind: "format", raw: "", input: block.input })
          return
        }
        const id = nonEmpty(block.id) ? block.id : `toolu_${index}`
        blocks.set(index, { kind: "tool", id, name, raw: "", input: block.input })
        out.push({ type: "tool-call-start", id, name })
        return
      }
      default:
        // Server tools (web search, ...) and their results are not part of the unified model.
        blocks.set(index, { kind: "other" })
    }
  }

  const blockDelta = (index: number, delta: Json, out: Array<StreamPart.StreamPart>): boolean => {
    switch (delta.type) {
      case "text_delta":
        if (nonEmpty(delta.text)) out.push({ type: "text-delta", text: delta.text })
        return true
      case "thinking_delta":
        if (nonEmpty(delta.thinking)) out.push({ type: "reasoning-delta", text: delta.thinking })
        return true
      case "signature_delta":
        if (nonEmpty(delta.signature)) out.push({ type: "reasoning-delta", text: "", signature: delta.signature })
        return true
      case "input_json_delta": {
        const block = blocks.get(index)
        // The first delta of every tool block is "": nothing to say.
        if (!nonEmpty(delta.partial_json)) return true
        // Arguments of a block never started: no call to give them to, and dropping them would lose a tool call.
        if (block === undefined) return false
        if (block.kind === "tool") {
          block.raw += delta.partial_json
          out.push({ type: "tool-call-delta", id: block.id, argumentsDelta: delta.partial_json })
        } else if (block.kind === "format") {
          block.raw += delta.partial_json
          out.push({ type: "text-delta", text: delta.partial_json })
        }
        return true
      }
    }
    return true
  }

  const event = (json: Json, type: unknown, out: Array<StreamPart.StreamPart>): LlmError.LlmError | undefined => {
    const index = typeof json.index === "number" ? json.index : 0
    switch (type) {
      case "message_start": {
        const message = isObject(json.message) ? json.message : {}
        if (!metadataSent) {
          metadataSent = true
          out.push({
            type: "response-metadata",
            provider: context.provider,
            ...(nonEmpty(message.id) ? { id: message.id } : {}),
            model: nonEmpty(message.model) ? message.model : context.model,
            ...(Object.keys(options.providerMetadata).length === 0
              ? {}
              : { providerMetadata: { ...options.providerMetadata } })
          })
        }
        pushUsage(message.usage, out)
        return undefined
      }
      case "content_block_start":
        if (isObject(json.content_block)) blockStart(index, json.content_block, out)
        return undefined
      case "content_block_delta":
        if (isObject(json.delta) && !blockDelta(index, json.delta, out)) {
          return Errors.malformed(
            context,
            `tool arguments (input_json_delta) for content block ${index}, which was never started`,
            JSON.stringify(json),
            { requestId: options.requestId }
          )
        }
        return undefined
      case "content_block_stop": {
        const block = blocks.get(index)
        if (block !== undefined) closeTool(block, out)
        blocks.delete(index)
        return undefined
      }
      case "message_delta": {
        const delta = isObject(json.delta) ? json.delta : {}
        if (nonEmpty(delta.stop_reason)) stopReason = delta.stop_reason
        const stop = AnthropicResponse.stopMetadata(delta.stop_sequence, delta.stop_details)
        if (Object.keys(stop).length > 0) out.push({ type: "response-metadata", providerMetadata: stop })
        const refusal = AnthropicResponse.refusalText(delta.stop_reason, delta.stop_details)
        if (refusal !== undefined) out.push({ type: "refusal-delta", text: refusal })
        // A block cut by `max_tokens` never gets its content_block_stop: nothing more comes, close it now
        // (a tool call's arguments are then `undefined`, its `rawArguments` the text received).
        for (const block of blocks.values()) closeTool(block, out)
        blocks.clear()
        pushUsage(json.usage, out)
        return undefined
      }
      case "message_stop":
        done = true
        return undefined
      case "error":
        return AnthropicErrors.errorEvent(context, json, options.requestId)
      default:
        // `ping` and event types added later carry nothing for us; a gateway's untyped `{"error": ...}` does.
        return isObject(json.error) ? AnthropicErrors.errorEvent(context, json, options.requestId) : undefined
    }
  }

  return {
    frame: (frame, out) => {
      if (done) return undefined
      if (frame._tag === "Stray") {
        return Streaming.rawLineError(raw, frame.line, context, AnthropicErrors.classifyError, options.requestId)
      }
      const cut = raw.pending("a raw line in the stream is not a JSON object")
      if (cut !== undefined) return cut
      if (frame.data.trim() === "") return undefined
      const json = Streaming.parseEvent(context, frame.data, options.requestId)
      if (json instanceof LlmError.MalformedResponse) return json
      return event(json, json.type ?? frame.event, out)
    },
    end: (out) => {
      const cut = raw.pending("the stream ended inside a raw JSON object")
      if (cut !== undefined) return cut
      if (stopReason === undefined) {
        return new LlmError.NetworkError({
          ...Errors.baseFields(context),
          ...(options.requestId === undefined ? {} : { requestId: options.requestId }),
          message: `${context.provider}: the stream ended before its stop reason`
        })
      }
      out.push({
        type: "finish",
        finishReason: AnthropicResponse.finishReason(stopReason, formatUsed),
        rawFinishReason: stopReason
      })
      return undefined
    },
    ended: () => done
  }
}
