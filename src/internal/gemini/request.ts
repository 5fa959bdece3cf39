/** The Gemini (Generative Language API) request encoding: contents and parts, tools, generation config. */
import * as Either from "effect/Either"
import type * as ChatRequest from "../../ChatRequest.js"
import * as Errors from "../errors.js"
import { isObject, type Json } from "../json.js"

/**
 * Google's documented placeholder for a `functionCall` replayed without its `thoughtSignature`: Gemini 3
 * rejects such calls with a 400 unless the part carries it.
 */
export const skipSignature = "skip_thought_signature_validator"

/** The `models/...` (or `tunedModels/...`) resource path of a model name given with or without its prefix. */
export const modelPath = (model: string): string => {
  const path = model.startsWith("models/") || model.startsWith("tunedModels/") ? model : `models/${model}`
  return path.split("/").map(encodeURIComponent).join("/")
}

/**
 * Why a model name cannot go into the request's URL path, or `undefined`: a segment that is empty, `.` or `..`
 * (escaped or not, a URL resolves `..` away, so `../../admin` would call another path with the API key).
 */
export const modelPathIssue = (model: string): string | undefined =>
  model.split("/").some((segment) => segment === "" || segment === "." || segment === "..")
    ? `the model ${JSON.stringify(model.slice(0, 200))} is no model name (a path segment of it is empty, "." or "..")`
    : undefined

/** Whether a model is of the Gemini 3 family, which requires thought signatures on replayed function calls. */
export const isGemini3 = (model: string): boolean => /(^|\/)gemini-3/.test(model)

class EncodeError {
  constructor(readonly message: string) {}
}

const imageExtensions: Record<string, string> = {
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  webp: "image/webp",
  heic: "image/heic",
  heif: "image/heif",
  gif: "image/gif"
}

/** The image type of a URL from its path's extension, e.g. `https://x/cat.PNG?s=1` → `image/png`. */
export const inferImageType = (url: string): string | undefined => {
  const path = url.replace(/[?#].*$/s, "")
  const dot = path.lastIndexOf(".")
  return dot < path.lastIndexOf("/") || dot < 0 ? undefined : imageExtensions[path.slice(dot + 1).toLowerCase()]
}

const mediaResolution = { low: "MEDIA_RESOLUTION_LOW", high: "MEDIA_RESOLUTION_HIGH" } as const

type ImagePart = Extract<Exclude<ChatRequest.Message["content"], string>[number], { type: "image" }>

const encodeImage = (part: ImagePart): Json => {
  // Gemini 3 takes a per-part resolution; "auto" is its default, so it is left out.
  const detail = part.detail === "low" || part.detail === "high"
    ? { mediaResolution: { level: mediaResolution[part.detail] } }
    : {}
  if (part.data !== undefined) return { inlineData: { mimeType: part.mediaType!, data: part.data }, ...detail }
  const url = part.url!
  const dataUrl = /^data:([^;,]+);base64,(.*)$/s.exec(url)
  if (dataUrl !== null) return { inlineData: { mimeType: dataUrl[1], data: dataUrl[2] }, ...detail }
  const mimeType = part.mediaType ?? inferImageType(url)
  if (mimeType === undefined) {
    throw new EncodeError(
      `an image URL needs its \`mediaType\` on Gemini (fileData.mimeType), and none can be inferred from ` +
        `"${Errors.truncate(url, 100)}": set \`mediaType\` (e.g. "image/png")`
    )
  }
  return { fileData: { mimeType, fileUri: url }, ...detail }
}

const toolResponse = (result: unknown, isError: boolean | undefined): Json =>
  isError === true ? { error: result } : isObject(result) ? result : { result }

/** The name of the tool an earlier assistant message called with `id` (the latest such call wins). */
const toolNameOf = (messages: ReadonlyArray<ChatRequest.Message>, before: number, id: string): string | undefined => {
  for (let i = before - 1; i >= 0; i--) {
    const message = messages[i]!
    if (message.role !== "assistant" || typeof message.content === "string") continue
    for (const part of message.content) {
      if (part.type === "tool-call" && part.id === id) return part.name
    }
  }
  return undefined
}

/**
 * The parts of an assistant message. A reasoning part's `signature` belongs to the part that follows it:
 * decoding puts a `thoughtSignature` found on a function call (or text) part into a signature-only reasoning
 * part just before it, so encoding hands it to the next non-thought part, where Gemini sent it. A signature
 * that nothing follows stays on its own thought part, or goes in an empty text part (as Gemini sends it).
 */
const encodeAssistant = (
  content: Extract<ChatRequest.Message, { role: "assistant" }>["content"],
  model: string
): Array<Json> => {
  if (typeof content === "string") return content === "" ? [] : [{ text: content }]
  const parts: Array<Json> = []
  let pending: { readonly signature: string; readonly owner: Json | undefined } | undefined
  let signedCall = false
  const settle = () => {
    if (pending === undefined) return
    if (pending.owner === undefined) parts.push({ text: "", thoughtSignature: pending.signature })
    else pending.owner.thoughtSignature = pending.signature
    pending = undefined
  }
  const take = (): { thoughtSignature?: string } => {
    const signature = pending?.signature
    pending = undefined
    return signature === undefined ? {} : { thoughtSignature: signature }
  }
  for (const part of content) {
    switch (part.type) {
      case "reasoning": {
        settle()
        const thought = part.text === "" ? undefined : { text: part.text, thought: true }
        if (thought !== undefined) parts.push(thought)
        if (part.signature !== undefined) pending = { signature: part.signature, owner: thought }
        break
      }
      case "text":
        if (part.text === "" && pending === undefined) break
        parts.push({ text: part.text, ...take() })
        break
      case "tool-call": {
        const args = part.arguments ?? {}
        if (!isObject(args)) {
          throw new EncodeError(`the arguments of tool call "${part.id}" must be a JSON object on Gemini`)
        }
        // Gemini 3 signs only the first call of a parallel step; later calls legitimately have none.
        const signature: string | undefined = take().thoughtSignature ??
          (isGemini3(model) && !signedCall ? skipSignature : undefined)
        signedCall = signedCall || signature !== undefined
        parts.push({
          functionCall: { name: part.name, args },
          ...(signature === undefined ? {} : { thoughtSignature: signature })
        })
        break
      }
    }
  }
  settle()
  return parts
}

interface Content {
  readonly role: "user" | "model"
  parts: Array<Json>
}

const encodeContents = (messages: ReadonlyArray<ChatRequest.Message>, model: string) => {
  const system: Array<Json> = []
  const contents: Array<Content> = []
  // Gemini wants turns to alternate: consecutive messages of one role (e.g. tool results, then a user
  // message) become one content.
  const add = (role: Content["role"], parts: Array<Json>) => {
    if (parts.length === 0) return
    const last = contents[contents.length - 1]
    if (last !== undefined && last.role === role) last.parts = last.parts.concat(parts)
    else contents.push({ role, parts })
  }
  messages.forEach((message, index) => {
    switch (message.role) {
      case "system":
        system.push({ text: message.content })
        break
      case "user":
        add(
          "user",
          typeof message.content === "string"
            ? [{ text: message.content }]
            : message.content.map((part) => part.type === "text" ? { text: part.text } : encodeImage(part))
        )
        break
      case "assistant":
        add("model", encodeAssistant(message.content, model))
        break
      case "tool":
        add(
          "user",
          message.content.map((part) => {
            const name = part.toolName ?? toolNameOf(messages, index, part.toolCallId)
            if (name === undefined) {
              throw new EncodeError(
                `the tool result for "${part.toolCallId}" has no \`toolName\` and no earlier assistant tool call ` +
                  "has that id: Gemini needs the function name, set `toolName`"
              )
            }
            return { functionResponse: { name, response: toolResponse(part.result, part.isError) } }
          })
        )
        break
    }
  })
  if (contents.length === 0) throw new EncodeError("Gemini needs at least one user or assistant message")
  return { system, contents }
}

/** A JSON Schema as Gemini's `*JsonSchema` fields take it: without the `$schema` dialect marker. */
const jsonSchema = (schema: Readonly<Record<string, unknown>>, description?: string): Json => {
  const { $schema: _, ...rest } = schema
  return description === undefined || rest.description !== undefined ? rest : { ...rest, description }
}

const encodeToolChoice = (choice: NonNullable<ChatRequest.ChatRequest["toolChoice"]>): Json => {
  switch (choice) {
    case "auto":
      return { mode: "AUTO" }
    case "none":
      return { mode: "NONE" }
    case "required":
      return { mode: "ANY" }
    default:
      return { mode: "ANY", allowedFunctionNames: [choice.name] }
  }
}

const encodeGenerationConfig = (request: ChatRequest.ChatRequest): Json => {
  const config: Json = {}
  if (request.temperature !== undefined) config.temperature = request.temperature
  if (request.topP !== undefined) config.topP = request.topP
  if (request.topK !== undefined) config.topK = request.topK
  if (request.maxTokens !== undefined) config.maxOutputTokens = request.maxTokens
  if (request.stop !== undefined) {
    config.stopSequences = typeof request.stop === "string"
      ? [request.stop]
      : request.stop
  }
  if (request.seed !== undefined) config.seed = request.seed
  if (request.presencePenalty !== undefined) config.presencePenalty = request.presencePenalty
  if (request.frequencyPenalty !== undefined) config.frequencyPenalty = request.frequencyPenalty
  const format = request.responseFormat
  if (format?.type === "json") config.responseMimeType = "application/json"
  if (format?.type === "json-schema") {
    config.responseMimeType = "application/json"
    config.responseJsonSchema = jsonSchema(format.schema, format.description)
  }
  return config
}

/** Body keys that `providerOptions.gemini` extends key by key instead of replacing. */
const nestedOptionKeys: ReadonlySet<string> = new Set(["generationConfig", "toolConfig"])

/**
 * The JSON body of a `generateContent` / `streamGenerateContent` request, or why the request cannot be
 * expressed on Gemini.
 */
export const encodeRequest = (
  request: ChatRequest.ChatRequest,
  options: { readonly model: string; readonly optionKey: string }
): Either.Either<Json, string> => {
  const pathIssue = modelPathIssue(options.model)
  if (pathIssue !== undefined) return Either.left(pathIssue)
  try {
    const { contents, system } = encodeContents(request.messages, options.model)
    const body: Json = { contents }
    if (system.length > 0) body.systemInstruction = { parts: system }
    if (request.tools !== undefined && request.tools.length > 0) {
      body.tools = [{
        functionDeclarations: request.tools.map((tool) => ({
          name: tool.name,
          ...(tool.description === undefined ? {} : { description: tool.description }),
          parametersJsonSchema: jsonSchema(tool.parameters)
        }))
      }]
    }
    if (request.toolChoice !== undefined) {
      body.toolConfig = { functionCallingConfig: encodeToolChoice(request.toolChoice) }
    }
    const generationConfig = encodeGenerationConfig(request)
    if (Object.keys(generationConfig).length > 0) body.generationConfig = generationConfig
    const extra = request.providerOptions?.[options.optionKey]
    for (const [key, value] of Object.entries(extra ?? {})) {
      const current = body[key]
      body[key] = nestedOptionKeys.has(key) && isObject(current) && isObject(value) ? { ...current, ...value } : value
    }
    return Either.right(body)
  } catch (error) {
    if (error instanceof EncodeError) return Either.left(error.message)
    throw error
  }
}
