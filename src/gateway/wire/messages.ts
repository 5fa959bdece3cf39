/**
 * OpenAI chat messages into the unified `ChatRequest` messages, one unified message per wire message (so a
 * path such as `messages[2]` means the same message on both sides).
 *
 * @since 0.2.0
 */
import * as ChatRequest from "../../ChatRequest.js"
import * as StreamPart from "../../StreamPart.js"
import * as Fields from "./fields.js"
import * as WireError from "./WireError.js"

type UserPart = Extract<ChatRequest.Message, { role: "user" }>["content"][number] & object
type AssistantPart = Extract<ChatRequest.Message, { role: "assistant" }>["content"][number] & object

const systemKeys = new Set(["role", "content", "name"])
const userKeys = systemKeys
const assistantKeys = new Set([
  "role",
  "content",
  "name",
  "tool_calls",
  "function_call",
  "refusal",
  "reasoning_content",
  "audio"
])
const toolKeys = new Set(["role", "content", "tool_call_id", "name"])
const functionKeys = new Set(["role", "content", "name"])
const imageDetails = new Set(["auto", "low", "high"])
const dataUrl = /^data:([^;,]+);base64,(.*)$/s
const webUrl = /^https?:\/\/[^\s/?#]+/i

/** Legacy `function_call`s seen so far (they have no id: one is made from the message index). */
interface Context {
  readonly legacyCalls: Array<{ readonly id: string; readonly name: string }>
}

const userPart = (u: unknown, at: string): UserPart => {
  const part = Fields.object(u, at)
  switch (part.type) {
    case "text":
      return { type: "text", text: Fields.string(part.text, `${at}.text`) }
    case "image_url": {
      const image = Fields.object(Fields.required(part, "image_url", `${at}.image_url`), `${at}.image_url`)
      const url = Fields.string(Fields.required(image, "url", `${at}.image_url.url`), `${at}.image_url.url`)
      const detail = image.detail ?? undefined
      if (detail !== undefined && !(typeof detail === "string" && imageDetails.has(detail))) {
        Fields.fail(`${at}.image_url.detail`, `\`${at}.image_url.detail\` must be "auto", "low" or "high"`)
      }
      const data = dataUrl.exec(url)
      // Only what a provider can fetch or read: a `file:` or other scheme would be sent on for it to refuse, or
      // to act on.
      if (data === null && !webUrl.test(url)) {
        Fields.fail(
          `${at}.image_url.url`,
          `\`${at}.image_url.url\` must be an http(s) URL or a base64 data URL (data:<media type>;base64,...)`
        )
      }
      const issue = data === null ? undefined : ChatRequest.imageDataIssue(data[1]!, data[2]!)
      if (issue !== undefined) {
        Fields.fail(`${at}.image_url.url`, `\`${at}.image_url.url\` is a data URL whose ${issue}`)
      }
      const source = data === null ? { url } : { data: data[2]!, mediaType: data[1]! }
      return detail === undefined
        ? { type: "image", ...source }
        : { type: "image", ...source, detail: detail as "auto" | "low" | "high" }
    }
    case "input_audio":
    case "file":
      throw WireError.unsupported(`${at}.type`, `content parts of type "${part.type}" are not supported`)
    default:
      return Fields.fail(`${at}.type`, `\`${at}.type\` must be "text" or "image_url", got ${JSON.stringify(part.type)}`)
  }
}

const userContent = (u: unknown, at: string): string | Array<UserPart> => {
  const parts = Fields.content(u, at)
  if (typeof parts === "string") return parts
  // A user turn that says nothing: OpenAI's `empty_array`, refused here rather than by each provider its own way.
  if (parts.length === 0) Fields.fail(at, `\`${at}\` must hold at least one part, or be a string`, "empty_array")
  const out: Array<UserPart> = []
  for (let index = 0; index < parts.length; index++) out.push(userPart(parts[index], `${at}[${index}]`))
  return out
}

/** Tool-call arguments in history must be JSON: the unified model holds them parsed. */
const parsedArguments = (u: unknown, at: string): unknown => {
  const raw = Fields.string(u, at)
  const parsed = StreamPart.parseArguments(raw)
  if (parsed === undefined) return Fields.fail(at, `\`${at}\` must be a JSON text`)
  Fields.shallow(parsed, at)
  return parsed
}

const assistantMessage = (
  json: Fields.Json,
  at: string,
  index: number,
  context: Context
): ChatRequest.Message => {
  Fields.onlyKeys(json, assistantKeys, at)
  if (json.audio != null) throw WireError.unsupported(`${at}.audio`, "assistant audio is not supported")
  const parts: Array<AssistantPart> = []
  const reasoning = json.reasoning_content ?? undefined
  if (reasoning !== undefined) {
    const text = Fields.string(reasoning, `${at}.reasoning_content`)
    if (text !== "") parts.push({ type: "reasoning", text })
  }
  const content = json.content ?? undefined
  if (content !== undefined) {
    if (typeof content === "string") {
      if (content !== "") parts.push({ type: "text", text: content })
    } else {
      const list = Fields.content(content, `${at}.content`)
      for (let j = 0; j < list.length; j++) {
        const part = Fields.object(list[j], `${at}.content[${j}]`)
        // An earlier refusal sent back is text of the conversation (as `ChatResponse.toMessage` does).
        const key = part.type === "text" ? "text" : part.type === "refusal" ? "refusal" : undefined
        if (key === undefined) {
          Fields.fail(`${at}.content[${j}].type`, `\`${at}.content[${j}].type\` must be "text" or "refusal"`)
        }
        parts.push({ type: "text", text: Fields.string(part[key!], `${at}.content[${j}].${key}`) })
      }
    }
  }
  const refusal = json.refusal ?? undefined
  if (refusal !== undefined) parts.push({ type: "text", text: Fields.string(refusal, `${at}.refusal`) })
  const calls = json.tool_calls ?? undefined
  let hasCalls = false
  if (calls !== undefined) {
    const list = Fields.array(calls, `${at}.tool_calls`)
    for (let j = 0; j < list.length; j++) {
      const callAt = `${at}.tool_calls[${j}]`
      const call = Fields.object(list[j], callAt)
      if (call.type !== undefined && call.type !== "function") {
        throw WireError.unsupported(
          `${callAt}.type`,
          `tool calls of type ${JSON.stringify(call.type)} are not supported`
        )
      }
      const fn = Fields.object(Fields.required(call, "function", `${callAt}.function`), `${callAt}.function`)
      parts.push({
        type: "tool-call",
        id: Fields.string(Fields.required(call, "id", `${callAt}.id`), `${callAt}.id`),
        name: Fields.string(Fields.required(fn, "name", `${callAt}.function.name`), `${callAt}.function.name`),
        arguments: parsedArguments(fn.arguments ?? "", `${callAt}.function.arguments`)
      })
      hasCalls = true
    }
  }
  const legacy = json.function_call ?? undefined
  if (legacy !== undefined) {
    const fn = Fields.object(legacy, `${at}.function_call`)
    const name = Fields.string(Fields.required(fn, "name", `${at}.function_call.name`), `${at}.function_call.name`)
    const id = `call_${index}`
    context.legacyCalls.push({ id, name })
    parts.push({
      type: "tool-call",
      id,
      name,
      arguments: parsedArguments(fn.arguments ?? "", `${at}.function_call.arguments`)
    })
    hasCalls = true
  }
  if (content === undefined && !hasCalls && refusal === undefined) {
    Fields.fail(`${at}.content`, `\`${at}.content\` is required unless \`tool_calls\` or \`function_call\` is given`)
  }
  // A plain text answer keeps the string form.
  return parts.length === 1 && parts[0]!.type === "text" && typeof content === "string"
    ? { role: "assistant", content }
    : { role: "assistant", content: parts }
}

/**
 * One wire message as a unified message. `name` on system, developer and user messages is dropped (the unified
 * model has no place for it); a `tool` message's `name` becomes the result's `toolName`.
 *
 * @since 0.2.0
 * @category decoding
 */
const message = (u: unknown, index: number, context: Context): ChatRequest.Message => {
  const at = `messages[${index}]`
  const json = Fields.object(u, at)
  const role = Fields.required(json, "role", `${at}.role`)
  switch (role) {
    case "system":
    case "developer":
      Fields.onlyKeys(json, systemKeys, at)
      return {
        role: "system",
        content: Fields.textContent(Fields.required(json, "content", `${at}.content`), `${at}.content`)
      }
    case "user":
      Fields.onlyKeys(json, userKeys, at)
      return { role: "user", content: userContent(Fields.required(json, "content", `${at}.content`), `${at}.content`) }
    case "assistant":
      return assistantMessage(json, at, index, context)
    case "tool": {
      Fields.onlyKeys(json, toolKeys, at)
      const name = json.name ?? undefined
      return {
        role: "tool",
        content: [{
          type: "tool-result",
          toolCallId: Fields.string(Fields.required(json, "tool_call_id", `${at}.tool_call_id`), `${at}.tool_call_id`),
          ...(name === undefined ? {} : { toolName: Fields.string(name, `${at}.name`) }),
          result: Fields.textContent(Fields.required(json, "content", `${at}.content`), `${at}.content`)
        }]
      }
    }
    case "function": {
      Fields.onlyKeys(json, functionKeys, at)
      const name = Fields.string(Fields.required(json, "name", `${at}.name`), `${at}.name`)
      let call: Context["legacyCalls"][number] | undefined
      for (let j = context.legacyCalls.length - 1; j >= 0 && call === undefined; j--) {
        if (context.legacyCalls[j]!.name === name) call = context.legacyCalls[j]
      }
      if (call === undefined) {
        Fields.fail(at, `\`${at}\` answers no earlier assistant \`function_call\` named "${name}"`)
      }
      return {
        role: "tool",
        content: [{
          type: "tool-result",
          toolCallId: call!.id,
          toolName: name,
          result: Fields.textContent(json.content ?? "", `${at}.content`)
        }]
      }
    }
    default:
      return Fields.fail(
        `${at}.role`,
        `\`${at}.role\` must be one of "system", "developer", "user", "assistant", "tool", "function", got ${
          JSON.stringify(role)
        }`
      )
  }
}

/**
 * The `messages` array as unified messages.
 *
 * @since 0.2.0
 * @category decoding
 */
export const messages = (u: unknown): Array<ChatRequest.Message> => {
  const list = Fields.array(u, "messages")
  if (list.length === 0) Fields.fail("messages", "`messages` must hold at least one message", "invalid_value")
  const context: Context = { legacyCalls: [] }
  const out: Array<ChatRequest.Message> = []
  for (let index = 0; index < list.length; index++) out.push(message(list[index], index, context))
  return out
}
