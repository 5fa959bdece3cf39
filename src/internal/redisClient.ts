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

/** A failure in the user's terms, with the driver's error (its message scrubbed) kept as the cause. */
export interface Failure {
  readonly reason: string
  readonly cause: Error
}

/** The client, with the last connection error seen (ioredis reports those as events, not to a command). */
export interface Client {
  readonly client: IORedis
  /** Why the client is not connected, when a connection attempt failed. */
  readonly lastError: () => Failure | undefined
  /**
   * Set when the server refused what no reconnection can fix (a database it does not have): the client is
   * closed, and every command fails with this instead of running against another database.
   */
  readonly fatal: () => Failure | undefined
  /** Masks the password in any text (an error message may quote what the server said). */
  readonly scrub: (text: string) => string
  /** `redis://host:port/db` (`***@` for the credentials): where the client connects, safe to show. */
  readonly address: string
  /** The longest a command may take, ms (see {@link timed}). */
  readonly commandTimeoutMillis: number
}

/** Where a target is, as shown in messages: never the user or the password. */
export const addressOf = (target: RedisOptions.Target): string => {
  const host = target.host.includes(":") ? `[${target.host}]` : target.host
  const credentials = target.username !== undefined || target.password !== undefined ? "***@" : ""
  return `${target.tls ? "rediss" : "redis"}://${credentials}${host}:${target.port}/${target.db}`
}

/** A driver error as a cause: its name, code and scrubbed message only (ioredis may attach the AUTH arguments). */
const causeOf = (error: unknown, scrub: (text: string) => string): Error => {
  const source = error instanceof Error ? error : new Error(String(error))
  const cause = new Error(scrub(source.message))
  cause.name = source.name
  const code = (source as { readonly code?: unknown }).code
  if (typeof code === "string") Object.assign(cause, { code })
  return cause
}

/** What a failed connection attempt means, in words (ioredis and Node speak in codes and driver states). */
const connectionWords = (error: Error): string => {
  const code = (error as { readonly code?: unknown }).code
  switch (code) {
    case "ECONNREFUSED":
      return "connection refused"
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "host not found"
    case "ETIMEDOUT":
      return "no answer"
    case "ECONNRESET":
    case "EPIPE":
      return "connection reset"
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return "host unreachable"
  }
  // A connect timeout surfaces as the driver refusing to write to a socket it never opened.
  if (/enableOfflineQueue|Stream isn't writeable|connect ETIMEDOUT/i.test(error.message)) return "no answer"
  return error.message
}

const isDatabaseError = (message: string) => /DB index is out of range|invalid DB index/i.test(message)

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
    // No `commandTimeout` here: the service bounds each of its commands with `timed` (see why there).
    connectTimeout: resolved.connectTimeoutMillis,
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
  const address = addressOf(target)
  let lastError: Failure | undefined
  let fatal: Failure | undefined
  // Without a listener ioredis prints every connection error to the console; the stores report outages themselves.
  client.on("error", (error: Error) => {
    const cause = causeOf(error, scrub)
    if (isDatabaseError(error.message)) {
      // ioredis would go on in database 0: stop here rather than share state in a database nobody chose.
      fatal = { reason: databaseReason(target.db, address), cause }
      client.disconnect(false)
      return
    }
    lastError = { reason: `could not connect to ${address}: ${scrub(connectionWords(error))}`, cause }
  })
  client.on("ready", () => {
    lastError = undefined
  })
  return {
    client,
    lastError: () => lastError,
    fatal: () => fatal,
    scrub,
    address,
    commandTimeoutMillis: resolved.commandTimeoutMillis
  }
}

/**
 * `command()`, failed with ioredis's "Command timed out" when it takes longer than `timeoutMillis`, measured so
 * that a stalled event loop is not taken for a slow server: when the timer fires, the verdict waits one turn of
 * the loop (`setImmediate`, after the poll phase), so a reply that arrived while the loop was blocked (a first
 * tokenizer load, a long GC pause) is read first. ioredis's own `commandTimeout` fires in the timers phase, before
 * the socket is read, and fails a command Redis answered in time.
 */
export const timed = <A>(timeoutMillis: number, command: () => Promise<A>): Promise<A> =>
  new Promise<A>((resolve, reject) => {
    let settled = false
    // The first outcome wins: the reply, its failure, or the timeout.
    const settle = (outcome: () => void) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      outcome()
    }
    const timer = setTimeout(
      () => setImmediate(() => settle(() => reject(new Error("Command timed out")))),
      timeoutMillis
    )
    command().then((value) => settle(() => resolve(value)), (error: unknown) => settle(() => reject(error)))
  })

const databaseReason = (db: number, address: string) =>
  `database ${db} does not exist on the server at ${address} (its databases are numbered from 0; see its \`databases\` setting)`

const isAuthError = (message: string) => /^(WRONGPASS|NOAUTH|NOPERM)|invalid password|AUTH/i.test(message)

/**
 * Waits until the client is ready, up to the connect timeout (real time: a TestClock must not stop a startup
 * check). Fails with the reason at once on a refused password, which reconnecting cannot fix.
 */
export const awaitReady = (
  connection: Client,
  timeoutMillis: number
): Effect.Effect<void, Failure> =>
  Effect.flatMap(awaitReadyEvent(connection, timeoutMillis), () => checkDatabase(connection))

const awaitReadyEvent = (
  { address, client, fatal, lastError, scrub }: Client,
  timeoutMillis: number
): Effect.Effect<void, Failure> =>
  Effect.async<void, Failure>((resume) => {
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
    // Reconnecting cannot fix a refused password or database: fail at once.
    const onError = (error: Error) => {
      const refused = fatal()
      if (refused === undefined && !isAuthError(error.message)) return
      cleanup()
      resume(Effect.fail(refused ?? { reason: scrub(error.message), cause: causeOf(error, scrub) }))
    }
    const timer = setTimeout(() => {
      cleanup()
      const last = lastError()
      resume(Effect.fail({
        reason: `could not connect to ${address} within ${timeoutMillis} ms${
          last === undefined ? "" : ` (${last.reason.slice(`could not connect to ${address}: `.length)})`
        }`,
        cause: last?.cause ?? new Error(`no connection within ${timeoutMillis} ms`)
      }))
    }, timeoutMillis)
    client.on("ready", onReady)
    client.on("error", onError)
    return Effect.sync(cleanup)
  })

/**
 * The client selects its database while connecting, but only reports a refusal as an event that may come after
 * "ready": selecting it once more, and waiting for the answer, settles it before the layer is ready.
 */
const checkDatabase = (connection: Client): Effect.Effect<void, Failure> => {
  const { client, fatal, scrub } = connection
  const db = client.options.db ?? 0
  if (db === 0) return Effect.void
  return Effect.flatMap(
    Effect.tryPromise({ try: () => client.select(db), catch: (error) => error }).pipe(Effect.either),
    (result) => {
      const known = fatal()
      if (known !== undefined) return Effect.fail(known)
      if (result._tag === "Right") return Effect.void
      const error = result.left
      const message = error instanceof Error ? error.message : String(error)
      return Effect.fail({
        reason: isDatabaseError(message) ? databaseReason(db, connection.address) : scrub(message),
        cause: causeOf(error, scrub)
      })
    }
  )
}

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

/**
 * A failed command in words: what a timeout or a disconnect looks like from ioredis. While disconnected, the
 * cause says why the connection failed (the driver's own words are about its offline queue).
 */
export const failureOf = (connection: Client, error: unknown): Failure => {
  const message = error instanceof Error ? error.message : String(error)
  if (/Command timed out/i.test(message)) return { reason: "timed out", cause: causeOf(error, connection.scrub) }
  // A command in flight when the connection drops is flushed with "Reached the max retries per request limit".
  if (/enableOfflineQueue|Connection is closed|Stream isn't writeable|max retries per request/i.test(message)) {
    const last = connection.lastError()
    return {
      reason: "not connected",
      // No attempt has failed: one is under way and the server has not answered it (starting, or hung).
      cause: last === undefined
        ? new Error(`not connected to ${connection.address} yet: the connection is being made, with no answer`, {
          cause: causeOf(error, connection.scrub)
        })
        : new Error(last.reason, { cause: last.cause })
    }
  }
  return { reason: connection.scrub(message), cause: causeOf(error, connection.scrub) }
}
