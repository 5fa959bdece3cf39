/**
 * Decoding of Cohere v2 Chat streams (named SSE events `message-start`, `content-*`, `tool-plan-delta`,
 * `tool-call-*`, `citation-*`, `message-end`, then an un-named `data: [DONE]`) into parts.
 *
 * Hand-written field access rather than a Schema: this runs once per token. Every field read is type-checked;
 * a frame that is not JSON is a `MalformedResponse`.
 */
import * as LlmError from "../../LlmError.js"
import type * as StreamPart from "../../StreamPart.js"
import * as Errors from "../errors.js"
import type * as Framing from "../framing.js"
import { isObject, type Json, nonEmpty } from "../json.js"
import * as Streaming from "../streaming.js"
import * as CohereErrors from "./errors.js"
import * as CohereResponse from "./response.js"

interface OpenCall {
  readonly id: string
  readonly name: string
  raw: string
}

/** `delta.message` of an event, or an empty object. */
const messageOf = (json: Json): Json => {
  const delta = isObject(json.delta) ? json.delta : {}
  return isObject(delta.message) ? delta.message : {}
}

/** A decoder for one streamed response. */
export const makeDecoder = (
  context: Errors.ErrorContext,
  options: {
    readonly requestId: string | undefined
    /** Known before the body: request id and rate limits from the response headers. */
    readonly providerMetadata: Readonly<Record<string, unknown>>
  }
): Streaming.Decoder<Framing.Frame> => {
  const requestId = typeof options.providerMetadata.requestId === "string"
    ? options.providerMetadata.requestId
    : options.requestId
  let done = false
  let started = false
  let ended = false
  let finish: string | undefined
  const calls = new Map<number, OpenCall>()
  const citations: Array<unknown> = []
  const raw = Streaming.makeRawLines(context, requestId)

  const start = (id: unknown, out: Array<StreamPart.StreamPart>) => {
    if (started) return
    started = true
    out.push({
      type: "response-metadata",
      provider: context.provider,
      ...(nonEmpty(id) ? { id } : {}),
      model: context.model,
      ...(Object.keys(options.providerMetadata).length === 0 ? {} : { providerMetadata: options.providerMetadata })
    })
  }

  const closeCall = (index: number, out: Array<StreamPart.StreamPart>) => {
    const call = calls.get(index)
    if (call === undefined) return
    calls.delete(index)
    out.push({
      type: "tool-call-end",
      id: call.id,
      name: call.name,
      arguments: CohereResponse.parseToolArguments(call.raw),
      rawArguments: call.raw
    })
  }

  /** The call at `index`; a new id there starts a new call, so calls that share an index are never merged. */
  const openCall = (index: number, id: unknown, name: unknown, out: Array<StreamPart.StreamPart>): OpenCall => {
    const existing = calls.get(index)
    if (existing !== undefined && !(nonEmpty(id) && id !== existing.id)) return existing
    closeCall(index, out)
    const call = { id: nonEmpty(id) ? id : `call_${index}`, name: nonEmpty(name) ? name : "", raw: "" }
    calls.set(index, call)
    out.push({ type: "tool-call-start", id: call.id, name: call.name })
    return call
  }

  const appendArguments = (call: OpenCall, piece: unknown, out: Array<StreamPart.StreamPart>) => {
    if (!nonEmpty(piece)) return
    call.raw += piece
    out.push({ type: "tool-call-delta", id: call.id, argumentsDelta: piece })
  }

  const content = (json: Json, out: Array<StreamPart.StreamPart>) => {
    const item = messageOf(json).content
    if (!isObject(item)) return
    if (nonEmpty(item.thinking)) out.push({ type: "reasoning-delta", text: item.thinking })
    if (nonEmpty(item.text)) out.push({ type: "text-delta", text: item.text })
  }

  const messageEnd = (json: Json, data: string, out: Array<StreamPart.StreamPart>): LlmError.LlmError | undefined => {
    const delta = isObject(json.delta) ? json.delta : {}
    const reason = nonEmpty(delta.finish_reason) ? delta.finish_reason : undefined
    const failure = CohereResponse.finishFailure(context, reason, nonEmpty(delta.error) ? delta.error : undefined, {
      requestId,
      body: data
    })
    if (failure !== undefined) return failure
    ended = true
    finish = reason
    for (const index of [...calls.keys()]) closeCall(index, out)
    const metadata: Json = CohereResponse.billedUnits(delta.usage)
    if (citations.length > 0) metadata.citations = [...citations]
    if (Object.keys(metadata).length > 0) out.push({ type: "response-metadata", providerMetadata: metadata })
    const usage = CohereResponse.usage(delta.usage)
    if (usage !== undefined) out.push({ type: "usage", usage })
    return undefined
  }

  const event = (json: Json, type: string | undefined, data: string, out: Array<StreamPart.StreamPart>) => {
    const index = typeof json.index === "number" ? json.index : 0
    switch (type) {
      case "message-start":
        start(json.id, out)
        return undefined
      case "content-start":
      case "content-delta":
        start(undefined, out)
        content(json, out)
        return undefined
      case "tool-plan-delta": {
        start(undefined, out)
        const plan = messageOf(json).tool_plan
        if (nonEmpty(plan)) out.push({ type: "reasoning-delta", text: plan })
        return undefined
      }
      case "tool-call-start":
      case "tool-call-delta": {
        start(undefined, out)
        const toolCall = messageOf(json).tool_calls
        const fields = isObject(toolCall) ? toolCall : {}
        const fn = isObject(fields.function) ? fields.function : {}
        appendArguments(openCall(index, fields.id, fn.name, out), fn.arguments, out)
        return undefined
      }
      case "tool-call-end":
        closeCall(index, out)
        return undefined
      case "citation-start": {
        const citation = messageOf(json).citations
        if (citation !== undefined && citation !== null) citations.push(citation)
        return undefined
      }
      case "message-end":
        start(undefined, out)
        return messageEnd(json, data, out)
      default:
        // content-end, citation-end, debug events and anything newer carry nothing of the unified model; an
        // untyped object that reads as an error body (`{"message": ...}`) is that error.
        return type === undefined
          ? Errors.recognisedErrorObject(context, CohereErrors.classifyError, json, { requestId, where: "stream" })
          : undefined
    }
  }

  return {
    frame: (frame, out) => {
      if (done) return undefined
      if (frame._tag === "Stray") {
        return Streaming.rawLineError(raw, frame.line, context, CohereErrors.classifyError, requestId)
      }
      const cut = raw.pending("a raw line in the stream is not a JSON object")
      if (cut !== undefined) return cut
      if (Streaming.isDone(frame.data)) {
        done = true
        return undefined
      }
      const json = Streaming.parseEvent(context, frame.data, requestId)
      if (json instanceof LlmError.MalformedResponse) return json
      // The JSON `type` is authoritative; the SSE event name is the fallback (they are equal in practice).
      return event(json, nonEmpty(json.type) ? json.type : frame.event, frame.data, out)
    },
    end: (out) => {
      const cut = raw.pending("the stream ended inside a raw JSON object")
      if (cut !== undefined) return cut
      if (!ended) {
        return new LlmError.NetworkError({
          ...Errors.baseFields(context),
          ...(requestId === undefined ? {} : { requestId }),
          message: `${context.provider}: the stream ended before message-end`
        })
      }
      out.push({
        type: "finish",
        finishReason: CohereResponse.finishReason(finish),
        ...(finish === undefined ? {} : { rawFinishReason: finish })
      })
      return undefined
    },
    // `message-end` is the last event that says anything (only `[DONE]` may follow it).
    ended: () => ended || done
  }
}
