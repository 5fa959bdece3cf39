/** The Cohere v2 Chat request encoding. */
import * as Either from "effect/Either"
import type * as ChatRequest from "../../ChatRequest.js"
import type { Json } from "../json.js"

const imageItem = (part: typeof ChatRequest.ImagePart.Type): Json => ({
  type: "image_url",
  image_url: {
    url: part.url ?? `data:${part.mediaType};base64,${part.data}`,
    ...(part.detail === undefined ? {} : { detail: part.detail })
  }
})

/**
 * A tool result: a string as is, anything else as one JSON document (documents are what Cohere cites). Cohere
 * has no error flag, so an error result is wrapped as `{"error": result}`.
 */
const toolContent = (part: typeof ChatRequest.ToolResultPart.Type): string | Array<Json> => {
  const result = part.isError === true ? { error: part.result } : part.result
  return typeof result === "string"
    ? result
    : [{ type: "document", document: { data: JSON.stringify(result) ?? "null" } }]
}

const assistantMessage = (
  content: Exclude<typeof ChatRequest.AssistantMessage.Type["content"], string>
): Json | undefined => {
  let text = ""
  let reasoning = ""
  const calls: Array<Json> = []
  for (const part of content) {
    switch (part.type) {
      case "text":
        text += part.text
        break
      case "reasoning":
        reasoning += part.text
        break
      case "tool-call":
        calls.push({
          id: part.id,
          type: "function",
          function: { name: part.name, arguments: JSON.stringify(part.arguments ?? {}) }
        })
        break
    }
  }
  if (calls.length > 0) {
    // Cohere refuses text content next to tool calls ("text content is not allowed when tool_calls are
    // provided"): the reasoning and any text travel as the `tool_plan`, which is where Cohere put them.
    const plan = [reasoning, text].filter((piece) => piece !== "").join("\n\n")
    return { role: "assistant", ...(plan === "" ? {} : { tool_plan: plan }), tool_calls: calls }
  }
  // Earlier turns' reasoning is not sent back without tool calls: Cohere only accepts it under `thinking`.
  return text === "" ? undefined : { role: "assistant", content: text }
}

const encodeMessages = (messages: ChatRequest.ChatRequest["messages"]): Array<Json> => {
  const out: Array<Json> = []
  for (const message of messages) {
    switch (message.role) {
      case "system":
        out.push({ role: "system", content: message.content })
        break
      case "user":
        out.push({
          role: "user",
          content: typeof message.content === "string"
            ? message.content
            : message.content.map((part) => part.type === "text" ? { type: "text", text: part.text } : imageItem(part))
        })
        break
      case "assistant": {
        const encoded = typeof message.content === "string"
          ? { role: "assistant", content: message.content }
          : assistantMessage(message.content)
        if (encoded !== undefined) out.push(encoded)
        break
      }
      case "tool":
        for (const part of message.content) {
          out.push({ role: "tool", tool_call_id: part.toolCallId, content: toolContent(part) })
        }
        break
    }
  }
  return out
}

const encodeResponseFormat = (format: NonNullable<ChatRequest.ChatRequest["responseFormat"]>): Json => {
  switch (format.type) {
    case "text":
      return { type: "text" }
    case "json":
      return { type: "json_object" }
    case "json-schema":
      // Cohere constrains generation to the schema; it takes no name, description or strict flag.
      return { type: "json_object", json_schema: format.schema }
  }
}

/** Cohere's `strict_tools` covers every tool at once: per-tool flags must agree. */
const strictTools = (tools: ReadonlyArray<ChatRequest.Tool>): Either.Either<boolean | undefined, string> => {
  const flags = new Set(tools.flatMap((tool) => tool.strict === undefined ? [] : [tool.strict]))
  if (flags.size > 1) {
    return Either.left("Cohere's `strict_tools` applies to every tool: set the same `strict` on all tools")
  }
  return Either.right(flags.has(true) ? true : undefined)
}

const unitRange = (name: string, value: number | undefined): string | undefined =>
  value === undefined || (value >= 0 && value <= 1)
    ? undefined
    : `Cohere accepts \`${name}\` between 0 and 1, got ${value}`

/** The JSON body of a v2 Chat request, or why the request cannot be expressed. */
export const encodeRequest = (
  request: ChatRequest.ChatRequest,
  options: { readonly model: string; readonly stream: boolean }
): Either.Either<Json, string> => {
  if (typeof request.toolChoice === "object") {
    return Either.left(
      `Cohere cannot force a named tool (\`tool_choice\` is only REQUIRED or NONE): got "${request.toolChoice.name}"`
    )
  }
  const range = unitRange("presencePenalty", request.presencePenalty) ??
    unitRange("frequencyPenalty", request.frequencyPenalty)
  if (range !== undefined) return Either.left(range)
  const body: Json = { model: options.model, messages: encodeMessages(request.messages) }
  const tools = request.tools ?? []
  if (tools.length > 0) {
    const strict = strictTools(tools)
    if (Either.isLeft(strict)) return Either.left(strict.left)
    body.tools = tools.map((tool) => ({
      type: "function",
      function: {
        name: tool.name,
        ...(tool.description === undefined ? {} : { description: tool.description }),
        parameters: tool.parameters
      }
    }))
    if (strict.right === true) body.strict_tools = true
  }
  // "auto" is Cohere's default and has no wire value.
  if (request.toolChoice === "required") body.tool_choice = "REQUIRED"
  if (request.toolChoice === "none") body.tool_choice = "NONE"
  if (request.temperature !== undefined) body.temperature = request.temperature
  if (request.topP !== undefined) body.p = request.topP
  if (request.topK !== undefined) body.k = request.topK
  if (request.maxTokens !== undefined) body.max_tokens = request.maxTokens
  if (request.stop !== undefined) body.stop_sequences = typeof request.stop === "string" ? [request.stop] : request.stop
  if (request.seed !== undefined) body.seed = request.seed
  if (request.presencePenalty !== undefined) body.presence_penalty = request.presencePenalty
  if (request.frequencyPenalty !== undefined) body.frequency_penalty = request.frequencyPenalty
  if (request.responseFormat !== undefined) body.response_format = encodeResponseFormat(request.responseFormat)
  if (options.stream) body.stream = true
  const extra = request.providerOptions?.cohere
  if (extra !== undefined) Object.assign(body, extra)
  return Either.right(body)
}
