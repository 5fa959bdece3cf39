/**
 * Encoding of Anthropic Messages requests.
 */
import * as Either from "effect/Either"
import type * as ChatRequest from "../../ChatRequest.js"
import { isObject, type Json } from "../json.js"

/**
 * The prefix marking a `redacted_thinking` block's `data` kept in a reasoning part's `signature`. A colon never
 * occurs in a real (base64) signature, so the reasoning part round-trips through `ChatResponse.toMessage`.
 */
export const redactedPrefix = "redacted_thinking:"

/** The instruction added to `system` for `responseFormat: {type: "json"}`: Anthropic has no JSON mode. */
export const jsonInstruction = "Respond with a single valid JSON value only, without any prose or markdown fences."

// ---------------------------------------------------------------------------------------------------------------
// request
// ---------------------------------------------------------------------------------------------------------------

type Block = Record<string, unknown>
type WireMessage = { readonly role: "user" | "assistant"; readonly content: string | Array<Block> }

const imageBlock = (part: typeof ChatRequest.ImagePart.Type): Block => {
  if (part.data !== undefined) {
    return { type: "image", source: { type: "base64", media_type: part.mediaType, data: part.data } }
  }
  // Anthropic's `url` source only fetches http(s): a data URL goes as base64.
  const dataUrl = /^data:([^;,]+);base64,(.*)$/s.exec(part.url ?? "")
  return dataUrl === null
    ? { type: "image", source: { type: "url", url: part.url } }
    : { type: "image", source: { type: "base64", media_type: dataUrl[1], data: dataUrl[2] } }
}

const assistantBlocks = (
  content: Exclude<typeof ChatRequest.AssistantMessage.Type["content"], string>
): Either.Either<Array<Block>, string> => {
  const blocks: Array<Block> = []
  for (const part of content) {
    switch (part.type) {
      case "text":
        // Anthropic rejects empty text blocks.
        if (part.text !== "") blocks.push({ type: "text", text: part.text })
        break
      case "reasoning":
        // Anthropic only accepts thinking it signed; unsigned reasoning (another provider's) is dropped.
        if (part.signature === undefined || part.signature === "") break
        blocks.push(
          part.signature.startsWith(redactedPrefix)
            ? { type: "redacted_thinking", data: part.signature.slice(redactedPrefix.length) }
            : { type: "thinking", thinking: part.text, signature: part.signature }
        )
        break
      case "tool-call": {
        const input = part.arguments ?? {}
        if (!isObject(input)) {
          return Either.left(`the arguments of tool call "${part.id}" must be a JSON object (Anthropic \`input\`)`)
        }
        blocks.push({ type: "tool_use", id: part.id, name: part.name, input })
        break
      }
    }
  }
  return Either.right(blocks)
}

const encodeMessages = (
  messages: ChatRequest.ChatRequest["messages"]
): Either.Either<{ system: Array<string>; messages: Array<WireMessage> }, string> => {
  const system: Array<string> = []
  const out: Array<WireMessage> = []
  // The user message collecting consecutive tool results, while nothing else came in between.
  let toolTurn: Array<Block> | undefined
  for (const message of messages) {
    if (message.role !== "tool") toolTurn = undefined
    switch (message.role) {
      case "system":
        system.push(message.content)
        break
      case "user":
        out.push({
          role: "user",
          content: typeof message.content === "string"
            ? message.content
            : message.content.map((part) => part.type === "text" ? { type: "text", text: part.text } : imageBlock(part))
        })
        break
      case "assistant": {
        if (typeof message.content === "string") {
          out.push({ role: "assistant", content: message.content })
          break
        }
        const blocks = assistantBlocks(message.content)
        if (Either.isLeft(blocks)) return Either.left(blocks.left)
        // Nothing left (only unsigned reasoning): an empty content array is a 400.
        if (blocks.right.length > 0) out.push({ role: "assistant", content: blocks.right })
        break
      }
      case "tool": {
        if (toolTurn === undefined) {
          toolTurn = []
          out.push({ role: "user", content: toolTurn })
        }
        for (const part of message.content) {
          toolTurn.push({
            type: "tool_result",
            tool_use_id: part.toolCallId,
            content: typeof part.result === "string" ? part.result : JSON.stringify(part.result),
            ...(part.isError === true ? { is_error: true } : {})
          })
        }
        break
      }
    }
  }
  return Either.right({ system, messages: out })
}

const encodeToolChoice = (choice: NonNullable<ChatRequest.ChatRequest["toolChoice"]>): Json => {
  switch (choice) {
    case "auto":
      return { type: "auto" }
    case "required":
      return { type: "any" }
    case "none":
      return { type: "none" }
    default:
      return { type: "tool", name: choice.name }
  }
}

const toolNamePattern = /^[a-zA-Z0-9_-]{1,64}$/

/** The JSON body of a Messages request, or why the request cannot be expressed. */
export const encodeRequest = (
  request: ChatRequest.ChatRequest,
  options: { readonly model: string; readonly stream: boolean; readonly defaultMaxTokens: number }
): Either.Either<Json, string> => {
  const unsupported = (["seed", "presencePenalty", "frequencyPenalty"] as const).filter((key) =>
    request[key] !== undefined
  )
  if (unsupported.length > 0) {
    return Either.left(`Anthropic does not support ${unsupported.map((key) => `\`${key}\``).join(", ")}`)
  }
  if (request.temperature !== undefined && request.temperature > 1) {
    return Either.left(`Anthropic accepts \`temperature\` between 0 and 1, got ${request.temperature}`)
  }
  const encoded = encodeMessages(request.messages)
  if (Either.isLeft(encoded)) return Either.left(encoded.left)
  const system = encoded.right.system
  const tools: Array<Json> = (request.tools ?? []).map((tool) => ({
    name: tool.name,
    ...(tool.description === undefined ? {} : { description: tool.description }),
    input_schema: tool.parameters
  }))
  let toolChoice = request.toolChoice === undefined ? undefined : encodeToolChoice(request.toolChoice)
  const format = request.responseFormat
  if (format?.type === "json") system.push(jsonInstruction)
  if (format?.type === "json-schema") {
    // A forced tool named after the format: its input is the answer.
    if (!toolNamePattern.test(format.name)) {
      return Either.left(`the response format name "${format.name}" must be 1 to 64 letters, digits, \`_\` or \`-\``)
    }
    if (tools.some((tool) => tool.name === format.name)) {
      return Either.left(`the response format name "${format.name}" is also the name of a tool`)
    }
    if (request.toolChoice !== undefined && request.toolChoice !== "auto") {
      return Either.left("a `json-schema` response format forces its own tool: `toolChoice` can only be \"auto\"")
    }
    if (format.schema.type !== undefined && format.schema.type !== "object") {
      return Either.left("Anthropic needs a JSON Schema of `type: \"object\"` at the root of a `json-schema` format")
    }
    tools.push({
      name: format.name,
      description: format.description ?? "Give the answer as this tool's input, matching its schema exactly.",
      input_schema: format.schema
    })
    toolChoice = { type: "tool", name: format.name }
  }
  const body: Json = {
    model: options.model,
    max_tokens: request.maxTokens ?? options.defaultMaxTokens,
    messages: encoded.right.messages
  }
  const systemText = system.filter((text) => text !== "").join("\n\n")
  if (systemText !== "") body.system = systemText
  if (request.temperature !== undefined) body.temperature = request.temperature
  if (request.topP !== undefined) body.top_p = request.topP
  if (request.topK !== undefined) body.top_k = request.topK
  if (request.stop !== undefined) body.stop_sequences = typeof request.stop === "string" ? [request.stop] : request.stop
  if (tools.length > 0) body.tools = tools
  // One call at most: a setting of the tool choice (which "none" has not), "auto" unless one is given.
  if (
    request.parallelToolCalls === false && tools.length > 0 && !(isObject(toolChoice) && toolChoice.type === "none")
  ) {
    toolChoice = { ...(isObject(toolChoice) ? toolChoice : { type: "auto" }), disable_parallel_tool_use: true }
  }
  if (toolChoice !== undefined) body.tool_choice = toolChoice
  if (request.metadata?.user !== undefined) body.metadata = { user_id: request.metadata.user }
  if (options.stream) body.stream = true
  const extra = request.providerOptions?.anthropic
  if (extra !== undefined) Object.assign(body, extra)
  const thinking = body.thinking
  const forced = isObject(body.tool_choice) && (body.tool_choice.type === "any" || body.tool_choice.type === "tool")
  if (isObject(thinking) && thinking.type !== "disabled" && forced) {
    return Either.left(
      "Anthropic cannot force a tool while extended thinking is on: `toolChoice` \"required\", a named tool and " +
        "`json-schema` response formats need `thinking` off"
    )
  }
  return Either.right(body)
}
