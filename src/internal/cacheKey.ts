/**
 * The cache key of a request: a SHA-256 of its canonical JSON, as the provider would see it, under a prefix
 * naming the tenant. Canonical: object keys sorted, `undefined` fields dropped, and fields equal to their
 * defaults at this level (the model, empty tools, empty provider options) dropped or filled in, so requests a
 * provider cannot tell apart share one entry.
 */
import { createHash } from "node:crypto"
import type * as ChatRequest from "../ChatRequest.js"

/** The version of the key's layout and of the entries it names: bumping it orphans every old entry. */
const version = "v1"

/**
 * The JSON of a value with object keys sorted and `undefined` fields dropped (as `JSON.stringify` drops
 * them). Throws on a value JSON cannot hold (a bigint, a function, a symbol, a cycle).
 */
export const canonicalJson = (value: unknown): string => {
  switch (typeof value) {
    case "string":
    case "boolean":
      return JSON.stringify(value)
    case "number":
      // NaN and the infinities are `null` in JSON, -0 is 0: what the provider would be sent.
      return JSON.stringify(value)
    case "object": {
      if (value === null) return "null"
      if (Array.isArray(value)) {
        return `[${value.map((item) => item === undefined ? "null" : canonicalJson(item)).join(",")}]`
      }
      const record = value as Record<string, unknown>
      const fields: Array<string> = []
      for (const key of Object.keys(record).sort()) {
        const field = record[key]
        if (field === undefined) continue
        fields.push(`${JSON.stringify(key)}:${canonicalJson(field)}`)
      }
      return `{${fields.join(",")}}`
    }
    default:
      throw new TypeError(`a request field of type ${typeof value} cannot be cached`)
  }
}

/** What the provider would see of a request: the cache controls, the tenant and the end user are left out. */
const effectiveRequest = (
  request: ChatRequest.ChatRequest,
  defaultModel: string | undefined
): Record<string, unknown> => {
  const { cache: _cache, metadata: _metadata, model, providerOptions, tools, ...rest } = request
  const options = providerOptions === undefined ? undefined : Object.fromEntries(
    Object.entries(providerOptions).filter(([, fields]) => Object.values(fields).some((field) => field !== undefined))
  )
  return {
    ...rest,
    model: model ?? defaultModel,
    ...(tools === undefined || tools.length === 0 ? {} : { tools }),
    ...(options === undefined || Object.keys(options).length === 0 ? {} : { providerOptions: options })
  }
}

/** The SHA-256 (hex) of a request as `provider` would see it. Throws like {@link canonicalJson}. */
export const hash = (
  request: ChatRequest.ChatRequest,
  inner: { readonly provider: string; readonly defaultModel?: string | undefined }
): string =>
  createHash("sha256")
    .update(canonicalJson({ provider: inner.provider, request: effectiveRequest(request, inner.defaultModel) }))
    .digest("hex")

/**
 * The store key of an entry: `cache:v1:<tenant>:<hash>`, the tenant percent-encoded so that no tenant name (one
 * holding `:` included) can reach another tenant's entries. No application prefix here: the Redis store puts the
 * connection's key prefix before it, once.
 */
export const storageKey = (tenant: string, digest: string): string =>
  `cache:${version}:${encodeURIComponent(tenant)}:${digest}`
