/**
 * Virtual keys: how the gateway's config stores them (a hash, never the key) and how a presented key is found.
 *
 * @since 0.2.0
 */
import * as Either from "effect/Either"
import * as Crypto from "node:crypto"

/**
 * The shortest virtual key accepted, in characters: a key is a long random token, which is what makes a fast
 * hash safe to store (see {@link hashKey}).
 *
 * @since 0.2.0
 * @category constants
 */
export const minimumKeyLength = 20

/**
 * The prefix of every stored key hash.
 *
 * @since 0.2.0
 * @category constants
 */
export const hashPrefix = "sha256:"

/**
 * A stored key hash: `sha256:` and 64 lower-case hex digits.
 *
 * @since 0.2.0
 * @category constants
 */
export const hashPattern = /^sha256:[0-9a-f]{64}$/

/**
 * The hash of a virtual key to put in the config, `"sha256:<hex>"`, or why the key is refused (shorter than
 * {@link minimumKeyLength} characters, or holding spaces or control characters: a bearer token cannot carry them).
 *
 * SHA-256 rather than a slow password hash: virtual keys are long random tokens (see {@link generateKey}), so
 * guessing one from its hash is infeasible whatever the hash costs, and a fast hash keeps authentication off the
 * request's critical path.
 *
 * @example
 * ```ts
 * import { Either } from "effect"
 * import { Keys } from "liter-llm/gateway"
 *
 * const stored = Keys.hashKey("sk-liter-0123456789abcdefghij") // Either.right("sha256:...")
 * ```
 *
 * @since 0.2.0
 * @category hashing
 */
export const hashKey = (key: string): Either.Either<string, string> => {
  if (key.length < minimumKeyLength) {
    return Either.left(
      `a virtual key must have at least ${minimumKeyLength} characters (got ${key.length}); make one with \`liter-llm hash-key --generate\``
    )
  }
  if (/\s/.test(key) || Array.from(key).some((char) => char.charCodeAt(0) < 0x20 || char.charCodeAt(0) === 0x7f)) {
    return Either.left("a virtual key must not contain spaces or control characters")
  }
  // A key travels in an HTTP header, which clients send as bytes of ASCII (`fetch` and the SDKs refuse anything
  // else, and Node reads other bytes as Latin-1): a key with other characters could never authenticate.
  if (!/^[\x21-\x7e]+$/.test(key)) {
    return Either.left("a virtual key must be printable ASCII (it is sent in an HTTP header)")
  }
  return Either.right(hashOf(key))
}

const hashOf = (key: string): string => `${hashPrefix}${Crypto.createHash("sha256").update(key, "utf8").digest("hex")}`

/**
 * A new virtual key: `sk-liter-` and 32 random bytes in base64url (256 bits of entropy).
 *
 * @example
 * ```ts
 * import { Keys } from "liter-llm/gateway"
 *
 * const key = Keys.generateKey() // give it to the tenant; store Keys.hashKey(key) in the config
 * ```
 *
 * @since 0.2.0
 * @category hashing
 */
export const generateKey = (): string => `sk-liter-${Crypto.randomBytes(32).toString("base64url")}`

/**
 * Finds which owner a presented key belongs to.
 *
 * @since 0.2.0
 * @category models
 */
export interface KeyTable<A> {
  /** The owner of `key`, or undefined. */
  readonly lookup: (key: string) => A | undefined
}

/**
 * A lookup over stored hashes. The presented key is hashed once; the stored hashes that share the first 8 bytes
 * of its hash (almost always one, or none) are found by a map, and each is compared with the whole hash with
 * `crypto.timingSafeEqual`, without stopping at a match. The cost does not grow with the keys stored (comparing
 * with every stored hash cost 6 ms a request at 16 000 tenants), and its time says nothing about any key: the map
 * is keyed by part of a SHA-256 digest, which a caller cannot steer towards a stored one, and the comparison that
 * decides is constant-time. Nothing here logs a key or its hash.
 *
 * @example
 * ```ts
 * import { Keys } from "liter-llm/gateway"
 *
 * const table = Keys.makeTable([["sha256:...", "acme"]])
 * const owner = table.lookup("sk-liter-...") // "acme" or undefined
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeTable = <A>(entries: Iterable<readonly [hash: string, owner: A]>): KeyTable<A> => {
  const buckets = new Map<string, Array<readonly [Buffer, A]>>()
  for (const [hash, owner] of entries) {
    const digest = Buffer.from(hash.slice(hashPrefix.length), "hex")
    const bucket = bucketOf(digest)
    const stored = buckets.get(bucket)
    if (stored === undefined) buckets.set(bucket, [[digest, owner]])
    else stored.push([digest, owner])
  }
  return {
    lookup: (key) => {
      const presented = Crypto.createHash("sha256").update(key, "utf8").digest()
      let found: A | undefined
      for (const [hash, owner] of buckets.get(bucketOf(presented)) ?? []) {
        // Every hash is 32 bytes (checked when the config is decoded), as timingSafeEqual requires.
        if (hash.length === presented.length && Crypto.timingSafeEqual(hash, presented) && found === undefined) {
          found = owner
        }
      }
      return found
    }
  }
}

/** The map key of a digest: its first 8 bytes, in hex. */
const bucketOf = (digest: Buffer): string => digest.toString("hex", 0, 8)
