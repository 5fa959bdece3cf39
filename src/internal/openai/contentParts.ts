/**
 * A `content` given as a list of parts by an OpenAI-compatible server, in a whole answer or a stream delta.
 * Mistral's reasoning models answer `[{ "type": "thinking", "thinking": [{ "type": "text", "text": ... }] },
 * { "type": "text", "text": ... }]` where OpenAI sends a string (with `reference` parts where the text cites
 * sources).
 */
import { isObject } from "../json.js"

/** One piece of a content list, in order: answer text, or reasoning. */
export interface Piece {
  readonly type: "text" | "reasoning"
  readonly text: string
}

/**
 * The text and reasoning of a content list, in order (empty texts left out); or what a part is that is neither,
 * for the caller's `MalformedResponse` (dropped, it would lose part of the answer without a word).
 */
export const pieces = (parts: ReadonlyArray<unknown>): Array<Piece> | string => {
  const out: Array<Piece> = []
  for (const [index, part] of parts.entries()) {
    if (!isObject(part)) return `content[${index}] is no content part`
    if (part.type === "text" && typeof part.text === "string") {
      if (part.text !== "") out.push({ type: "text", text: part.text })
    } else if (part.type === "thinking" && typeof part.thinking === "string") {
      if (part.thinking !== "") out.push({ type: "reasoning", text: part.thinking })
    } else if (part.type === "thinking" && Array.isArray(part.thinking)) {
      for (const inner of part.thinking) {
        if (!isObject(inner) || inner.type !== "text" || typeof inner.text !== "string") {
          return `content[${index}].thinking holds a part that is no text`
        }
        if (inner.text !== "") out.push({ type: "reasoning", text: inner.text })
      }
    } else if (part.type !== "reference") {
      // Mistral's `reference` parts carry the ids of the sources the text cites, no text: nothing of the answer.
      return `content[${index}] is a part of type ${JSON.stringify(part.type)}, neither text nor thinking`
    }
  }
  return out
}
