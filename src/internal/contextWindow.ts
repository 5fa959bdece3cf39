/**
 * The trimming of a history to a token budget: which messages may go, in which units, and the cut that keeps
 * the most. Pure: the counts come from the caller's tokenizer.
 */
import type * as ChatRequest from "../ChatRequest.js"

/** A token count of a request. */
export type Count = (request: ChatRequest.ChatRequest) => number

/** The result of a trim: the request to send, or the tokens of the smallest request that can be sent. */
export type Trimmed =
  | { readonly _tag: "Fits"; readonly request: ChatRequest.ChatRequest; readonly inputTokens: number }
  | { readonly _tag: "TooLong"; readonly minimumTokens: number; readonly originalTokens: number }

/**
 * The indexes where the history may be cut: dropping every non-system message before such an index keeps a
 * history that starts with a user message (Anthropic and Gemini require it) and leaves no tool result without
 * its call. The last one is the latest user message, which is always kept with what follows it; without any
 * user message, only the first non-system message (nothing can be dropped).
 */
export const cutPoints = (messages: ReadonlyArray<ChatRequest.Message>): ReadonlyArray<number> => {
  const first = messages.findIndex((message) => message.role !== "system")
  if (first === -1) return []
  let latestUser = -1
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i]!.role === "user") {
      latestUser = i
      break
    }
  }
  if (latestUser === -1) return [first]
  // Where each tool call is made, to refuse a cut between a call and a result that answers it.
  const callAt = new Map<string, number>()
  messages.forEach((message, index) => {
    if (message.role !== "assistant" || typeof message.content === "string") return
    for (const part of message.content) if (part.type === "tool-call") callAt.set(part.id, index)
  })
  // A cut at `c` is refused when a result at or after `c` answers a call before `c`: `earliestCall[c]` is the
  // first such call index over the results from `c` on.
  const earliestCallFrom: Array<number> = new Array(messages.length + 1).fill(Infinity)
  for (let i = messages.length - 1; i >= 0; i--) {
    let earliest = earliestCallFrom[i + 1]!
    const message = messages[i]!
    if (message.role === "tool") {
      for (const part of message.content) {
        const at = callAt.get(part.toolCallId)
        if (at !== undefined && at < earliest) earliest = at
      }
    }
    earliestCallFrom[i] = earliest
  }
  const cuts: Array<number> = [first]
  for (let i = first + 1; i <= latestUser; i++) {
    if (messages[i]!.role === "user" && !(earliestCallFrom[i]! < i)) cuts.push(i)
  }
  return cuts
}

/** The request without the non-system messages before `cut`. */
const cutAt = (request: ChatRequest.ChatRequest, cut: number): ChatRequest.ChatRequest => ({
  ...request,
  messages: request.messages.filter((message, index) => index >= cut || message.role === "system")
})

/**
 * The request trimmed to at most `budget` input tokens, dropping the oldest turns first; the request itself
 * (the same object) when it fits. Each message is counted once, as its share of a request that holds only it;
 * the chosen cut is then counted whole, and a later cut taken if a tokenizer that does not add up needs it.
 */
export const trim = (request: ChatRequest.ChatRequest, budget: number, count: Count): Trimmed => {
  const originalTokens = count(request)
  if (originalTokens <= budget) return { _tag: "Fits", request, inputTokens: originalTokens }
  const messages = request.messages
  const cuts = cutPoints(messages)
  if (cuts.length === 0) return { _tag: "TooLong", minimumTokens: originalTokens, originalTokens }
  const empty = { ...request, messages: [] }
  const base = count(empty)
  const share = messages.map((message) => count({ ...empty, messages: [message] }) - base)
  // Tokens kept by a cut: the base, every system message, and every message from the cut on.
  const fromIndex: Array<number> = new Array(messages.length + 1).fill(0)
  for (let i = messages.length - 1; i >= 0; i--) {
    fromIndex[i] = fromIndex[i + 1]! + (messages[i]!.role === "system" ? 0 : share[i]!)
  }
  let systemTokens = 0
  messages.forEach((message, index) => {
    if (message.role === "system") systemTokens += share[index]!
  })
  for (const cut of cuts) {
    if (base + systemTokens + fromIndex[cut]! > budget) continue
    const trimmed = cutAt(request, cut)
    const inputTokens = count(trimmed)
    if (inputTokens <= budget) return { _tag: "Fits", request: trimmed, inputTokens }
  }
  return { _tag: "TooLong", minimumTokens: count(cutAt(request, cuts[cuts.length - 1]!)), originalTokens }
}
