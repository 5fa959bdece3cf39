/**
 * A cache entry as a store holds it (JSON, so a remote store can keep it), and the two ways it answers: as a
 * response and as a replayed stream of parts.
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as ChatResponse from "../ChatResponse.js"
import type * as StreamPart from "../StreamPart.js"

const Entry = Schema.parseJson(Schema.Struct({ response: ChatResponse.ChatResponse }))
const encodeEntry = Schema.encodeSync(Entry)
const decodeEntry = Schema.decodeUnknownEither(Entry)

/** The entry of an answer: what the provider said, without what only this call was (its cost, a hit). */
export const encode = (response: ChatResponse.ChatResponse): string => {
  const { cached: _cached, costUsd: _costUsd, ...answer } = response
  return encodeEntry({ response: answer })
}

/** The response of an entry, or `undefined` when the text is not one (written by another version, or garbled). */
export const decode = (text: string): ChatResponse.ChatResponse | undefined =>
  Either.getOrUndefined(Either.map(decodeEntry(text), (entry) => entry.response))

/** The response a hit answers with: the stored answer, which cost nothing this time and says it was cached. */
export const hit = (response: ChatResponse.ChatResponse): ChatResponse.ChatResponse => ({
  ...response,
  costUsd: 0,
  cached: true
})

/**
 * The parts of a stream that accumulate to `response` (plus `cached`): metadata, the content in order, the usage
 * (at no cost) and the finish.
 */
export const replay = (response: ChatResponse.ChatResponse): Array<StreamPart.StreamPart> => {
  const parts: Array<StreamPart.StreamPart> = [{
    type: "response-metadata",
    provider: response.provider,
    id: response.id,
    model: response.model,
    ...(response.providerMetadata === undefined ? {} : { providerMetadata: response.providerMetadata }),
    cached: true
  }]
  for (const part of response.content) {
    switch (part.type) {
      case "text":
        parts.push({ type: "text-delta", text: part.text })
        break
      case "refusal":
        parts.push({ type: "refusal-delta", text: part.text })
        break
      case "reasoning":
        parts.push({
          type: "reasoning-delta",
          text: part.text,
          ...(part.signature === undefined ? {} : { signature: part.signature }),
          ...(part.redacted === undefined ? {} : { redacted: part.redacted })
        })
        break
      case "tool-call":
        parts.push(
          { type: "tool-call-start", id: part.id, name: part.name },
          { type: "tool-call-delta", id: part.id, argumentsDelta: part.rawArguments },
          {
            type: "tool-call-end",
            id: part.id,
            name: part.name,
            arguments: part.arguments,
            rawArguments: part.rawArguments
          }
        )
        break
    }
  }
  // A usage part needs a usage: an answer stored without one replays without a cost, as it was streamed.
  if (response.usage !== undefined) parts.push({ type: "usage", usage: response.usage, costUsd: 0 })
  parts.push({
    type: "finish",
    finishReason: response.finishReason,
    ...(response.rawFinishReason === undefined ? {} : { rawFinishReason: response.rawFinishReason })
  })
  return parts
}
