/**
 * Decoding of OpenAI `chat.completion.chunk` streams (OpenAI, Azure, compatible servers) into parts.
 *
 * Hand-written field access rather than a Schema: this runs once per token, and the chunks carry many fields
 * we ignore. Every field read is type-checked; a frame that is not JSON is a `MalformedResponse`.
 */
import * as LlmError from "../../LlmError.js"
import * as StreamPart from "../../StreamPart.js"
import * as Errors from "../errors.js"
import type * as Framing from "../framing.js"
import { countOf, isObject, type Json, nonEmpty } from "../json.js"
import * as Streaming from "../streaming.js"
import * as ContentParts from "./contentParts.js"
import * as OpenAiErrors from "./errors.js"
import * as OpenAiResponse from "./response.js"

interface OpenCall {
  /** Where its pieces go: the wire `index`, `"function_call"` for a legacy call, or a key of its own. */
  readonly key: number | string
  readonly id: string
  /** The id the server gave it, if any (`id` is made unique). */
  readonly wireId: string | undefined
  readonly name: string
  raw: string
}

/** The error of an `{"error": ...}` frame inside a 200 stream: tagged as its HTTP status would be. */
export const errorFrame = (
  context: Errors.ErrorContext,
  json: Json,
  requestId: string | undefined
): LlmError.LlmError =>
  Errors.fromErrorObject(context, OpenAiErrors.classifyError, json, { requestId, where: "stream" })

/** A decoder for one streamed response. */
export const makeDecoder = (
  context: Errors.ErrorContext,
  requestId: string | undefined
): Streaming.Decoder<Framing.Frame> => {
  let done = false
  let metadataSent = false
  let finish: string | undefined
  const calls = new Map<number | string, OpenCall>()
  let latest: OpenCall | undefined
  let opened = 0
  const ids = new Set<string>()
  const providerMetadata: Json = {}
  const raw = Streaming.makeRawLines(context, requestId)

  const closeCall = (call: OpenCall, out: Array<StreamPart.StreamPart>) => {
    calls.delete(call.key)
    out.push({
      type: "tool-call-end",
      id: call.id,
      name: call.name,
      arguments: StreamPart.parseArguments(call.raw),
      rawArguments: call.raw
    })
  }

  const closeCalls = (out: Array<StreamPart.StreamPart>) => {
    for (const call of [...calls.values()]) closeCall(call, out)
    latest = undefined
  }

  /**
   * One piece of a streamed call. Its `key` (the wire `index`) says which call it continues, but a new `id` there
   * starts a new call: Ollama and some proxies number every parallel call 0. Without a key, a piece continues the
   * latest call unless it brings a new id or names a function again.
   */
  const callPiece = (
    key: number | string | undefined,
    id: string | undefined,
    name: string | undefined,
    args: string | undefined,
    out: Array<StreamPart.StreamPart>
  ) => {
    let call = key === undefined ? latest : calls.get(key)
    if (
      call !== undefined &&
      ((id !== undefined && id !== call.wireId) || (key === undefined && name !== undefined && call.name !== ""))
    ) {
      closeCall(call, out)
      call = undefined
    }
    if (call === undefined) {
      call = {
        key: key ?? `unindexed_${opened}`,
        id: OpenAiResponse.uniqueCallId(ids, id ?? `call_${opened}`, opened),
        wireId: id,
        name: name ?? "",
        raw: ""
      }
      opened++
      calls.set(call.key, call)
      out.push({ type: "tool-call-start", id: call.id, name: call.name })
    }
    latest = call
    if (args !== undefined) {
      call.raw += args
      out.push({ type: "tool-call-delta", id: call.id, argumentsDelta: args })
    }
  }

  const toolCallDeltas = (deltas: Array<unknown>, out: Array<StreamPart.StreamPart>) => {
    for (const delta of deltas) {
      if (!isObject(delta)) continue
      const fn = isObject(delta.function) ? delta.function : {}
      callPiece(
        typeof delta.index === "number" ? delta.index : undefined,
        nonEmpty(delta.id) ? delta.id : undefined,
        nonEmpty(fn.name) ? fn.name : undefined,
        nonEmpty(fn.arguments) ? fn.arguments : undefined,
        out
      )
    }
  }

  const chunk = (json: Json, out: Array<StreamPart.StreamPart>): LlmError.LlmError | undefined => {
    // `{"error": ...}`, and vLLM's top-level `{"object": "error", ...}`.
    if (Errors.isErrorObject(json)) return errorFrame(context, json, requestId)
    // Azure's leading chunk carries prompt filter results, with empty id and model.
    if (json.prompt_filter_results !== undefined) providerMetadata.promptFilterResults = json.prompt_filter_results
    if (!metadataSent && nonEmpty(json.id)) {
      metadataSent = true
      if (nonEmpty(json.system_fingerprint)) providerMetadata.systemFingerprint = json.system_fingerprint
      if (requestId !== undefined) providerMetadata.requestId = requestId
      out.push({
        type: "response-metadata",
        provider: context.provider,
        id: json.id,
        model: nonEmpty(json.model) ? json.model : context.model,
        ...(Object.keys(providerMetadata).length === 0 ? {} : { providerMetadata: { ...providerMetadata } })
      })
    }
    const choices = Array.isArray(json.choices) ? json.choices : []
    for (const choice of choices) {
      // Only the first choice is decoded (n > 1 is not part of the unified model).
      if (!isObject(choice) || (typeof choice.index === "number" && choice.index !== 0)) continue
      const delta = isObject(choice.delta) ? choice.delta : undefined
      if (delta !== undefined) {
        const reasoning = delta.reasoning_content ?? delta.reasoning
        if (nonEmpty(reasoning)) out.push({ type: "reasoning-delta", text: reasoning })
        if (nonEmpty(delta.content)) out.push({ type: "text-delta", text: delta.content })
        else if (Array.isArray(delta.content)) {
          const listed = ContentParts.pieces(delta.content)
          if (typeof listed === "string") {
            return Errors.malformed(context, `delta.${listed}`, JSON.stringify(json), { requestId })
          }
          for (const piece of listed) {
            out.push({ type: piece.type === "text" ? "text-delta" : "reasoning-delta", text: piece.text })
          }
        }
        if (nonEmpty(delta.refusal)) out.push({ type: "refusal-delta", text: delta.refusal })
        if (Array.isArray(delta.tool_calls)) toolCallDeltas(delta.tool_calls, out)
        // The deprecated single `function_call` (older models, some compatible servers).
        if (isObject(delta.function_call)) {
          const fn = delta.function_call
          callPiece(
            "function_call",
            undefined,
            nonEmpty(fn.name) ? fn.name : undefined,
            nonEmpty(fn.arguments) ? fn.arguments : undefined,
            out
          )
        }
      }
      if (nonEmpty(choice.finish_reason)) {
        finish = choice.finish_reason
        closeCalls(out)
        if (choice.content_filter_results !== undefined && finish === "content_filter") {
          out.push({
            type: "response-metadata",
            providerMetadata: { contentFilterResults: choice.content_filter_results }
          })
        }
      }
    }
    if (isObject(json.usage)) {
      const usage = json.usage as OpenAiResponse.WireUsage
      const prompt = countOf(usage.prompt_tokens)
      const completion = countOf(usage.completion_tokens)
      // Both counts given: a count that is no number is NaN, which the usage check refuses (never read as 0).
      if (prompt !== undefined && completion !== undefined) {
        out.push({
          type: "usage",
          usage: OpenAiResponse.usage({ ...usage, prompt_tokens: prompt, completion_tokens: completion })
        })
      }
    }
    return undefined
  }

  return {
    frame: (frame, out) => {
      if (done) return undefined
      if (frame._tag === "Stray") {
        return Streaming.rawLineError(raw, frame.line, context, OpenAiErrors.classifyError, requestId)
      }
      const cut = raw.pending("a raw line in the stream is not a JSON object")
      if (cut !== undefined) return cut
      if (Streaming.isDone(frame.data)) {
        done = true
        return undefined
      }
      const json = Streaming.parseEvent(context, frame.data, requestId)
      return json instanceof LlmError.MalformedResponse ? json : chunk(json, out)
    },
    end: (out) => {
      const cut = raw.pending("the stream ended inside a raw JSON object")
      if (cut !== undefined) return cut
      if (finish === undefined) {
        return new LlmError.NetworkError({
          ...Errors.baseFields(context),
          ...(requestId === undefined ? {} : { requestId }),
          message: `${context.provider}: the stream ended before a finish reason`
        })
      }
      closeCalls(out)
      out.push({ type: "finish", finishReason: OpenAiResponse.finishReason(finish), rawFinishReason: finish })
      return undefined
    },
    ended: () => done
  }
}
