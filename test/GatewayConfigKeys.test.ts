import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import * as Crypto from "node:crypto"
import CryptoModule from "node:crypto"
import * as Module from "node:module"
import * as Keys from "../src/gateway/Keys.js"

describe("Gateway keys", () => {
  it("hashKey: sha256 of the key, as \"sha256:<hex>\"", () => {
    const key = "sk-liter-abcdefghijklmnopqrstuvwxyz"
    const hash = Either.getOrThrow(Keys.hashKey(key))
    expect(hash).toBe(`sha256:${Crypto.createHash("sha256").update(key).digest("hex")}`)
    expect(hash).toMatch(Keys.hashPattern)
    expect(Keys.hashKey(`${key}x`)).not.toEqual(Either.right(hash))
  })

  it("refuses short keys and keys with spaces or control characters", () => {
    expect(Keys.hashKey("sk-short")).toEqual(Either.left(expect.stringContaining("at least 20 characters (got 8)")))
    expect(Either.isLeft(Keys.hashKey("sk-liter-has a space-inside"))).toBe(true)
    expect(Either.isLeft(Keys.hashKey("sk-liter-newline\n-0123456789"))).toBe(true)
    expect(Either.isRight(Keys.hashKey("x".repeat(Keys.minimumKeyLength)))).toBe(true)
    // no client could send it in a header
    expect(Keys.hashKey("ключ-ключ-ключ-ключ-ключ")).toEqual(Either.left(expect.stringContaining("printable ASCII")))
    expect(Either.isLeft(Keys.hashKey("sk-liter-café-0123456789abc"))).toBe(true)
  })

  it("generateKey: sk-liter- and 32 random bytes in base64url, different each time, accepted by hashKey", () => {
    const key = Keys.generateKey()
    expect(key).toMatch(/^sk-liter-[A-Za-z0-9_-]{43}$/)
    expect(Buffer.from(key.slice("sk-liter-".length), "base64url").length).toBe(32)
    expect(Keys.generateKey()).not.toBe(key)
    expect(Either.isRight(Keys.hashKey(key))).toBe(true)
  })

  it("a table finds the owner of a presented key, and nobody for any other key or for the hash itself", () => {
    const keys = ["sk-liter-one-0123456789abcdef", "sk-liter-two-0123456789abcdef", "sk-liter-three-0123456789ab"]
    const table = Keys.makeTable(keys.map((key, i) => [Either.getOrThrow(Keys.hashKey(key)), `owner-${i}`] as const))
    expect(keys.map(table.lookup)).toEqual(["owner-0", "owner-1", "owner-2"])
    expect(table.lookup("sk-liter-four-0123456789abcdef")).toBeUndefined()
    expect(table.lookup("")).toBeUndefined()
    expect(table.lookup(Either.getOrThrow(Keys.hashKey(keys[0]!)))).toBeUndefined()
  })

  it("compares with timingSafeEqual every stored hash that shares the first 8 bytes of the key's, even after a match, and no other", () => {
    const original = Crypto.timingSafeEqual
    let calls = 0
    const spy = (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
      calls += 1
      return original(a, b)
    }
    // A built-in's named exports follow its default export once synced.
    CryptoModule.timingSafeEqual = spy
    Module.syncBuiltinESMExports()
    try {
      const keys = Array.from({ length: 1_000 }, (_, i) => `sk-liter-${i}-0123456789abcdef`)
      const hashes = keys.map((key) => Either.getOrThrow(Keys.hashKey(key)))
      // Two hashes that share the first 8 bytes of the first key's (and only those): one stored before it, one after.
      const sharing = (tail: string) => `${hashes[0]!.slice(0, Keys.hashPrefix.length + 16)}${tail.repeat(48)}`
      const table = Keys.makeTable([
        [sharing("a"), "before"],
        ...hashes.map((hash, i) => [hash, `owner-${i}`] as const),
        [sharing("b"), "after"]
      ])
      expect(table.lookup(keys[0]!)).toBe("owner-0")
      expect(calls).toBe(3)
      expect(table.lookup(keys[999]!)).toBe("owner-999")
      expect(calls).toBe(4)
      expect(table.lookup("sk-liter-nobody-0123456789abc")).toBeUndefined()
      expect(calls).toBe(4)
    } finally {
      CryptoModule.timingSafeEqual = original
      Module.syncBuiltinESMExports()
    }
  })
})
