/** The OpenAI Chat Completions request encoding (also spoken by Azure OpenAI and OpenAI-compatible servers). */
import * as ChatRequest from "../../ChatRequest.js"
import type { MaxTokensField } from "../../providers/OpenAi.js"

export type { MaxTokensField }

const toolResultContent = (result: unknown): string => typeof result === "string" ? result : JSON.stringify(result)

const encodeMessages = (messages: ChatRequest.ChatRequest["messages"]): Array<Record<string, unknown>> => {
  const out: Array<Record<string, unknown>> = []
  for (const message of messages) {
    switch (message.role) {
      case "system":
        out.push({ role: "system", content: message.content })
        break
      case "user":
        out.push({
          role: "user",
          content: typeof message.content === "string" ?
            message.content :
            message.content.map((part) =>
              part.type === "text" ? { type: "text", text: part.text } : {
                type: "image_url",
                image_url: {
                  url: part.url ?? `data:${part.mediaType};base64,${part.data}`,
                  ...(part.detail === undefined ? {} : { detail: part.detail })
                }
              }
            )
        })
        break
      case "assistant": {
        if (typeof message.content === "string") {
          out.push({ role: "assistant", content: message.content })
          break
        }
        const text = ChatRequest.messageText(message)
        const calls = message.content.filter((part) => part.type === "tool-call").map((part) => ({
          id: part.id,
          type: "function",
          function: { name: part.name, arguments: JSON.stringify(part.arguments ?? {}) }
        }))
        out.push({
          role: "assistant",
          content: text === "" && calls.length > 0 ? null : text,
          ...(calls.length === 0 ? {} : { tool_calls: calls })
        })
        break
      }
      case "tool":
        for (const part of message.content) {
          out.push({ role: "tool", tool_call_id: part.toolCallId, content: toolResultContent(part.result) })
        }
        break
    }
  }
  return out
}

const encodeResponseFormat = (format: NonNullable<ChatRequest.ChatRequest["responseFormat"]>) => {
  switch (format.type) {
    case "text":
      return { type: "text" }
    case "json":
      return { type: "json_object" }
    case "json-schema":
      return {
        type: "json_schema",
        json_schema: {
          name: format.name,
          schema: format.schema,
          strict: format.strict ?? true,
          ...(format.description === undefined ? {} : { description: format.description })
        }
      }
  }
}

/** The JSON body of a chat completions request. */
export const encodeRequest = (
  request: ChatRequest.ChatRequest,
  options: {
    readonly model: string
    readonly stream: boolean
    readonly maxTokensField: MaxTokensField
    /** Whether the server accepts `top_k` (OpenAI-compatible servers such as vLLM do, OpenAI does not). */
    readonly topK: boolean
    /** Keys of `request.providerOptions` merged into the body, in order. */
    readonly optionKeys: ReadonlyArray<string>
  }
): Record<string, unknown> => {
  const body: Record<string, unknown> = { model: options.model, messages: encodeMessages(request.messages) }
  if (request.tools !== undefined && request.tools.length > 0) {
    body.tools = request.tools.map((tool) => ({
      type: "function",
      function: {
        name: tool.name,
        ...(tool.description === undefined ? {} : { description: tool.description }),
        parameters: tool.parameters,
        ...(tool.strict === undefined ? {} : { strict: tool.strict })
      }
    }))
  }
  if (request.toolChoice !== undefined) {
    body.tool_choice = typeof request.toolChoice === "string"
      ? request.toolChoice
      : { type: "function", function: { name: request.toolChoice.name } }
  }
  // OpenAI refuses the setting without tools.
  if (request.parallelToolCalls !== undefined && body.tools !== undefined) {
    body.parallel_tool_calls = request.parallelToolCalls
  }
  if (request.temperature !== undefined) body.temperature = request.temperature
  if (request.topP !== undefined) body.top_p = request.topP
  if (request.topK !== undefined && options.topK) body.top_k = request.topK
  if (request.maxTokens !== undefined) body[options.maxTokensField] = request.maxTokens
  if (request.stop !== undefined) body.stop = request.stop
  if (request.seed !== undefined) body.seed = request.seed
  if (request.presencePenalty !== undefined) body.presence_penalty = request.presencePenalty
  if (request.frequencyPenalty !== undefined) body.frequency_penalty = request.frequencyPenalty
  if (request.responseFormat !== undefined) body.response_format = encodeResponseFormat(request.responseFormat)
  if (request.metadata?.user !== undefined) body.user = request.metadata.user
  if (options.stream) {
    body.stream = true
    body.stream_options = { include_usage: true }
  }
  for (const key of options.optionKeys) {
    const extra = request.providerOptions?.[key]
    if (extra !== undefined) Object.assign(body, extra)
  }
  return body
}
