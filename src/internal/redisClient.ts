/**
 * The ioredis client behind `Redis`: made so that no command can hang (a timeout on each, no offline queue, so a
 * command while disconnected fails at once) while the client reconnects on its own in the background.
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { Redis as IORedis } from "ioredis"
import type * as RedisOptions from "./redisOptions.js"

/** How long to wait between reconnection attempts: quick at first, at most 1 s. */
export const reconnectDelay = (attempt: number): number => Math.min(attempt * 50, 1_000)

/** The client, with the last connection error seen (ioredis reports those as events, not to a command). */
export interface Client {
  readonly client: IORedis
  readonly lastError: () => string | undefined
  /** Masks the password in any text (an error message may quote what the server said). */
  readonly scrub: (text: string) => string
}

export const make = (resolved: RedisOptions.Resolved): Client => {
  const { target } = resolved
  const password = target.password === undefined ? undefined : Redacted.value(target.password)
  const client = new IORedis({
    host: target.host,
    port: target.port,
    ...(target.username === undefined ? {} : { username: target.username }),
    ...(password === undefined ? {} : { password }),
    db: target.db,
    ...(target.tls ? { tls: { servername: target.host } } : {}),
    connectTimeout: resolved.connectTimeoutMillis,
    commandTimeout: resolved.commandTimeoutMillis,
    // Fail at once while disconnected instead of queueing: a caller must never wait on an outage.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: reconnectDelay,
    // Reconnect after a failover turns this node into a read-only replica.
    reconnectOnError: (error) => error.message.startsWith("READONLY")
  })
  const scrub = (text: string): string => {
    const bounded = text.length > 300 ? `${text.slice(0, 300)}...` : text
    return password === undefined || password === "" ? bounded : bounded.split(password).join("<redacted>")
  }
  let lastError: string | undefined
  // Without a listener ioredis prints every connection error to the console; the stores report outages themselves.
  client.on("error", (error: Error) => {
    lastError = scrub(error.message)
  })
  client.on("ready", () => {
    lastError = undefined
  })
  return { client, lastError: () => lastError, scrub }
}

const isAuthError = (message: string) => /^(WRONGPASS|NOAUTH|NOPERM)|invalid password|AUTH/i.test(message)

/**
 * Waits until the client is ready, up to the connect timeout (real time: a TestClock must not stop a startup
 * check). Fails with the reason at once on a refused password, which reconnecting cannot fix.
 */
export const awaitReady = (
  { client, lastError, scrub }: Client,
  timeoutMillis: number
): Effect.Effect<void, string> =>
  Effect.async<void, string>((resume) => {
    if (client.status === "ready") return resume(Effect.void)
    const cleanup = () => {
      clearTimeout(timer)
      client.off("ready", onReady)
      client.off("error", onError)
    }
    const onReady = () => {
      cleanup()
      resume(Effect.void)
    }
    const onError = (error: Error) => {
      if (!isAuthError(error.message)) return
      cleanup()
      resume(Effect.fail(scrub(error.message)))
    }
    const timer = setTimeout(() => {
      cleanup()
      resume(Effect.fail(`no connection within ${timeoutMillis} ms${lastError() ? ` (${lastError()})` : ""}`))
    }, timeoutMillis)
    client.on("ready", onReady)
    client.on("error", onError)
    return Effect.sync(cleanup)
  })

/** Closes the client: a polite QUIT when connected (bounded), then stops any reconnection. */
export const close = ({ client }: Client, timeoutMillis: number): Effect.Effect<void> =>
  Effect.promise(async () => {
    if (client.status === "ready") {
      let timer: ReturnType<typeof setTimeout> | undefined
      await Promise.race([
        client.quit().catch(() => undefined),
        new Promise((resolve) => {
          timer = setTimeout(resolve, timeoutMillis)
        })
      ])
      clearTimeout(timer)
    }
    client.disconnect(false)
  })

/** The reason of a failed command, in words: what a timeout or a disconnect looks like from ioredis. */
export const reasonOf = (error: unknown, scrub: (text: string) => string): string => {
  const message = error instanceof Error ? error.message : String(error)
  if (/Command timed out/i.test(message)) return "timed out"
  // A command in flight when the connection drops is flushed with "Reached the max retries per request limit".
  if (/enableOfflineQueue|Connection is closed|Stream isn't writeable|max retries per request/i.test(message)) {
    return "not connected"
  }
  return scrub(message)
}
