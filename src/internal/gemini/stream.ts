/**
 * Decoding of Gemini responses into parts. A `streamGenerateContent` chunk is a whole
 * `GenerateContentResponse`, so one state machine decodes both a stream (chunk after chunk) and a
 * non-streaming body (one chunk, accumulated into a `ChatResponse`): the two cannot drift apart.
 *
 * Streams arrive as SSE (`alt=sse`, CRLF line endings, possibly with a raw multi-line JSON error object
 * written into the body after HTTP 200) or as one JSON array whose elements arrive incrementally (without
 * `alt=sse`); `framing.ts` tells them apart.
 *
 * Hand-written field access rather than a Schema on the per-chunk path: every field read is type-checked.
 */
import * as Effect from "effect/Effect"
import type * as ChatResponse from "../../ChatResponse.js"
import * as LlmError from "../../LlmError.js"
import * as StreamPart from "../../StreamPart.js"
import * as Errors from "../errors.js"
import type * as Framing from "../framing.js"
import { isObject, type Json, nonEmpty } from "../json.js"
import * as Streaming from "../streaming.js"
import * as GeminiErrors from "./errors.js"
import { PartialCall } from "./partialArgs.js"
import * as GeminiResponse from "./response.js"

// ---------------------------------------------------------------------------------------------------------------
// chunks → parts
// ---------------------------------------------------------------------------------------------------------------

const bodyOf = (json: unknown, context: Errors.ErrorContext) =>
  LlmError.truncateBody(Errors.scrub(JSON.stringify(json), context.secrets))

const requestFields = (requestId: string | undefined, status: number | undefined) => ({
  ...(status === undefined ? {} : { status }),
  ...(requestId === undefined ? {} : { requestId })
})

/** The error of an `{"error": {...}}` object inside a 200 stream: tagged by its status name, else its code. */
export const errorObject = (
  context: Errors.ErrorContext,
  json: Json,
  requestId: string | undefined
): LlmError.LlmError =>
  Errors.fromErrorObject(context, GeminiErrors.classifyError, json, { requestId, where: "stream" })

/** What decodes a sequence of `GenerateContentResponse` chunks into parts. */
export interface ResponseDecoder {
  readonly chunk: (json: Json, out: Array<StreamPart.StreamPart>) => LlmError.LlmError | undefined
  /** Closes open tool calls and appends the `finish` part; without a finish reason, a stream is cut short. */
  readonly end: (out: Array<StreamPart.StreamPart>, requireFinish: boolean) => LlmError.LlmError | undefined
}

/** The state machine shared by streamed and whole responses; `status` is the HTTP status, when known. */
export const makeResponseDecoder = (
  context: Errors.ErrorContext,
  requestId: string | undefined,
  status?: number
): ResponseDecoder => {
  let metadataSent = false
  let idSent = false
  let finish: string | undefined
  let calls = 0
  let hasToolCalls = false
  let open: PartialCall | undefined
  const citations: Array<unknown> = []

  const closeOpen = (out: Array<StreamPart.StreamPart>) => {
    if (open === undefined) return
    const { raw, rest } = open.finish()
    if (rest !== "") out.push({ type: "tool-call-delta", id: open.id, argumentsDelta: rest })
    out.push({
      type: "tool-call-end",
      id: open.id,
      name: open.name,
      arguments: StreamPart.parseArguments(raw),
      rawArguments: raw
    })
    open = undefined
  }

  const functionCall = (call: Json, out: Array<StreamPart.StreamPart>): LlmError.LlmError | undefined => {
    const partialArgs = Array.isArray(call.partialArgs) ? call.partialArgs : undefined
    if (nonEmpty(call.name)) {
      closeOpen(out)
      hasToolCalls = true
      const id = nonEmpty(call.id) ? call.id : `call_${calls}`
      calls++
      out.push({ type: "tool-call-start", id, name: call.name })
      if (call.willContinue === true) {
        open = new PartialCall(id, call.name)
        if (isObject(call.args)) Object.assign(open.args, call.args)
      } else {
        const raw = JSON.stringify(isObject(call.args) ? call.args : {})
        out.push({ type: "tool-call-delta", id, argumentsDelta: raw })
        out.push({
          type: "tool-call-end",
          id,
          name: call.name,
          arguments: StreamPart.parseArguments(raw),
          rawArguments: raw
        })
        return undefined
      }
    } else if (open === undefined) {
      // `functionCall: {}` closes a streamed call; anything more without a call to continue is broken.
      return partialArgs === undefined && call.args === undefined
        ? undefined
        : Errors.malformed(context, "function call arguments without a function call", JSON.stringify(call), {
          requestId
        })
    }
    if (partialArgs !== undefined && open !== undefined) {
      const delta = open.apply(partialArgs)
      if (typeof delta !== "string") return Errors.malformed(context, delta.error, JSON.stringify(call), { requestId })
      if (delta !== "") out.push({ type: "tool-call-delta", id: open.id, argumentsDelta: delta })
    }
    if (call.willContinue !== true) closeOpen(out)
    return undefined
  }

  const parts = (parts: ReadonlyArray<unknown>, out: Array<StreamPart.StreamPart>): LlmError.LlmError | undefined => {
    for (const part of parts) {
      if (!isObject(part)) continue
      const signature = nonEmpty(part.thoughtSignature) ? part.thoughtSignature : undefined
      if (part.thought === true) {
        const text = typeof part.text === "string" ? part.text : ""
        if (text !== "" || signature !== undefined) {
          out.push({ type: "reasoning-delta", text, ...(signature === undefined ? {} : { signature }) })
        }
        continue
      }
      // A signature on a call or text part travels in a signature-only reasoning part just before it.
      if (signature !== undefined) out.push({ type: "reasoning-delta", text: "", signature })
      if (isObject(part.functionCall)) {
        const error = functionCall(part.functionCall, out)
        if (error !== undefined) return error
      } else if (nonEmpty(part.text)) {
        out.push({ type: "text-delta", text: part.text })
      }
      // Other parts (inline images, code execution) have no unified form and are skipped.
    }
    return undefined
  }

  const chunk = (json: Json, out: Array<StreamPart.StreamPart>): LlmError.LlmError | undefined => {
    if (json.error !== undefined && json.error !== null) return errorObject(context, json, requestId)
    const metadata: Json = {}
    if (!metadataSent && requestId !== undefined) metadata.requestId = requestId
    const feedback = isObject(json.promptFeedback) ? json.promptFeedback : undefined
    if (feedback !== undefined) metadata.promptFeedback = feedback
    const candidates = Array.isArray(json.candidates) ? json.candidates : []
    if (nonEmpty(feedback?.blockReason) && candidates.length === 0) {
      const detail = nonEmpty(feedback.blockReasonMessage) ? `: ${feedback.blockReasonMessage}` : ""
      return new LlmError.ContentFiltered({
        ...Errors.baseFields(context),
        ...requestFields(requestId, status),
        body: bodyOf(json, context),
        message: Errors.scrub(
          `${context.provider}: the prompt was blocked (${feedback.blockReason})${detail}`,
          context.secrets
        )
      })
    }
    // Only the first candidate is decoded (candidateCount > 1 is not part of the unified model).
    const candidate = candidates.find((c): c is Json => isObject(c) && (c.index ?? 0) === 0)
    if (candidate !== undefined) {
      if (candidate.safetyRatings !== undefined) metadata.safetyRatings = candidate.safetyRatings
      const cited = isObject(candidate.citationMetadata) ? candidate.citationMetadata.citationSources : undefined
      if (Array.isArray(cited) && cited.length > 0) {
        for (const source of cited) citations.push(source)
        metadata.citationMetadata = { citationSources: [...citations] }
      }
      if (candidate.groundingMetadata !== undefined) metadata.groundingMetadata = candidate.groundingMetadata
    }
    const id = nonEmpty(json.responseId) ? json.responseId : undefined
    if (!metadataSent || (!idSent && id !== undefined) || Object.keys(metadata).length > 0) {
      out.push({
        type: "response-metadata",
        ...(metadataSent ? {} : { provider: context.provider }),
        ...(id === undefined || idSent ? {} : { id }),
        ...(metadataSent ? {} : { model: nonEmpty(json.modelVersion) ? json.modelVersion : context.model }),
        ...(Object.keys(metadata).length === 0 ? {} : { providerMetadata: metadata })
      })
      metadataSent = true
      idSent = idSent || id !== undefined
    }
    if (candidate !== undefined) {
      const content = isObject(candidate.content) ? candidate.content : {}
      const error = parts(Array.isArray(content.parts) ? content.parts : [], out)
      if (error !== undefined) return error
      if (nonEmpty(candidate.finishReason)) finish = candidate.finishReason
    }
    const totals = GeminiResponse.usage(json.usageMetadata)
    if (totals !== undefined) out.push({ type: "usage", usage: totals })
    return undefined
  }

  const end = (out: Array<StreamPart.StreamPart>, requireFinish: boolean): LlmError.LlmError | undefined => {
    if (finish === undefined && requireFinish) {
      return new LlmError.NetworkError({
        ...Errors.baseFields(context),
        ...requestFields(requestId, undefined),
        message: `${context.provider}: the stream ended before a finish reason`
      })
    }
    closeOpen(out)
    out.push({
      type: "finish",
      finishReason: GeminiResponse.finishReason(finish, hasToolCalls),
      ...(finish === undefined ? {} : { rawFinishReason: finish })
    })
    return undefined
  }

  return { chunk, end }
}

/**
 * Decodes a non-streaming `generateContent` body. A candidate blocked with `content: {}` is a response
 * without content and finish `content-filter`, not an error; a blocked prompt (no candidates) is
 * `ContentFiltered`; no candidates otherwise is `EmptyResponse`.
 */
export const decodeResponse = (
  json: unknown,
  raw: { readonly text: string; readonly status: number; readonly requestId: string | undefined },
  context: Errors.ErrorContext
): Effect.Effect<ChatResponse.ChatResponse, LlmError.LlmError> => {
  const problem = GeminiResponse.checkResponse(json, context.secrets)
  if (problem !== undefined || !isObject(json)) {
    return Effect.fail(Errors.malformed(context, problem ?? "not an object", raw.text, raw))
  }
  const decoder = makeResponseDecoder(context, raw.requestId, raw.status)
  const out: Array<StreamPart.StreamPart> = []
  const error = decoder.chunk(json, out)
  if (error !== undefined) return Effect.fail(error)
  if (!Array.isArray(json.candidates) || json.candidates.length === 0) {
    return Effect.fail(
      new LlmError.EmptyResponse({
        ...Errors.baseFields(context),
        ...requestFields(raw.requestId, raw.status),
        body: LlmError.truncateBody(Errors.scrub(raw.text, context.secrets)),
        message: `${context.provider}: the response has no candidates`
      })
    )
  }
  decoder.end(out, false)
  const accumulator = new StreamPart.Accumulator(context.provider, context.model)
  for (const part of out) accumulator.add(part)
  return Effect.succeed(accumulator.done())
}

// ---------------------------------------------------------------------------------------------------------------
// frames → parts
// ---------------------------------------------------------------------------------------------------------------

/**
 * A decoder of SSE (or JSON-array) frames. Raw lines (Gemini's JSON error object written into an SSE body) are
 * reassembled until they parse, then decoded as a chunk.
 */
export const makeDecoder = (
  context: Errors.ErrorContext,
  requestId: string | undefined
): Streaming.Decoder<Framing.Frame> => {
  const decoder = makeResponseDecoder(context, requestId)
  const raw = Streaming.makeRawLines(context, requestId)
  return {
    frame: (frame, out) => {
      if (frame._tag === "Stray") {
        const json = raw.push(frame.line)
        return json === undefined || json instanceof LlmError.MalformedResponse ? json : decoder.chunk(json, out)
      }
      const cut = raw.pending("a raw line in the stream is not a JSON object")
      if (cut !== undefined) return cut
      const data = frame.data.trim()
      if (data === "" || data === "[DONE]") return undefined
      const json = Streaming.parseEvent(context, frame.data, requestId)
      return json instanceof LlmError.MalformedResponse ? json : decoder.chunk(json, out)
    },
    end: (out) => raw.pending("the stream ended inside a raw JSON object") ?? decoder.end(out, true)
  }
}
