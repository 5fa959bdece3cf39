import { describe, expect, it } from "@effect/vitest"
import { ConfigError, ConfigProvider, Effect, Either, Exit, HashMap, Layer, Logger, Redacted } from "effect"
import * as RedisOptions from "../src/internal/redisOptions.js"
import * as Outage from "../src/internal/redisOutage.js"
import * as Redis from "../src/Redis.js"
import { eventually } from "./support/loopback.js"
import { describeRedis, freePort, hungServer, uniquePrefix } from "./support/redis.js"

const secret = "pw-LEAKCHECK-93c1"

/** The typed failure of an exit (throws on success or a defect). */
const failureOf = <E>(exit: Exit.Exit<unknown, E>): E => {
  if (Exit.isSuccess(exit) || exit.cause._tag !== "Fail") throw new Error(`expected a failure: ${String(exit)}`)
  return exit.cause.error
}

const built = (layer: Layer.Layer<Redis.Redis, unknown>) => Effect.exit(Effect.scoped(Layer.build(layer)))

/** Waits (real time, bounded: 5 s) until the client has reconnected. */
const awaitConnected = (redis: Redis.Service) => eventually(redis.isConnected, "the client to reconnect", 5_000)

const fromEnv = (env: Record<string, string>) =>
  Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

describe("Redis options", () => {
  it.effect("bad options are ConfigErrors naming the option, never showing a password", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [Redis.Options, string, RegExp]> = [
        [{ url: "http://127.0.0.1:6379" }, "url", /url must be a redis:\/\//],
        [{ url: `redis://user:${secret}@host:99999` }, "url", /url must be a redis:\/\//],
        // malformed URLs still carry a password before their "@"
        [{ url: Redacted.make(`redis//:${secret}@127.0.0.1:6379`) }, "url", /url must be a redis:\/\//],
        [{ url: `redis:/:${secret}@127.0.0.1:6379` }, "url", /url must be a redis:\/\//],
        [{ url: "redis://127.0.0.1:6379/x" }, "url", /database part \(after the host\) that is not a number/],
        [{ url: "redis://127.0.0.1:6379/1x" }, "url", /database part \(after the host\) that is not a number/],
        [{ url: "redis://127.0.0.1:6379/-1" }, "url", /database part \(after the host\) that is not a number/],
        [{ url: "redis://127.0.0.1:6379/0/1" }, "url", /database part \(after the host\) that is not a number/],
        [{ url: `redis://127.0.0.1:6379/${secret}` }, "url", /database part .* \(not shown: it may hold a password\)/],
        // a host is a host name, an IPv4 address (numbers up to 255) or an IPv6 one
        [{ url: `redis://:${secret}@256.1.1.1` }, "url", /url has an invalid host: it is not a valid IPv4 address/],
        [{ url: `redis://:${secret}@1.2.3.4.5` }, "url", /url has an invalid host: it is not a valid IPv4 address/],
        [{ url: `redis://:${secret}@-bad-:6379` }, "url", /url has an invalid host: it is not a valid host name/],
        [
          { host: "256.1.1.1" },
          "host",
          /host is not a valid IPv4 address \(four numbers from 0 to 255\), got "256\.1\.1\.1"/
        ],
        [{ host: "10.0.0" }, "host", /host is not a valid IPv4 address/],
        [
          { host: "-bad-" },
          "host",
          /host is not a valid host name \(labels of letters, digits, hyphens and underscores/
        ],
        [{ host: `${"a".repeat(64)}.example` }, "host", /host is not a valid host name/],
        [
          { host: "redis:6379" },
          "host",
          /host must be a host name or an IP address without a port \(the port goes in port:\)/
        ],
        [{ host: "[::1]" }, "host", /host must be an IPv6 address without brackets/],
        [{ host: " " }, "host", /host must not be empty/],
        [{ host: "127.0.0.1", db: 1.5 }, "db", /db must be an integer >= 0, got 1\.5/],
        [{ url: "redis://127.0.0.1:6379", host: "127.0.0.1" }, "url", /either url or host\/port/],
        [{}, "url", /give url/],
        [{ host: "127.0.0.1", port: 0 }, "port", /port must be an integer in 1\.\.65535, got 0/],
        [{ host: "127.0.0.1", commandTimeout: 0 }, "commandTimeout", /positive finite duration, got 0"/],
        [{ host: "127.0.0.1", commandTimeout: "0" as never }, "commandTimeout", /positive finite duration, got "0"/],
        // a JavaScript caller's values of the wrong kind: typed errors, strings shown quoted, secrets never shown
        [{ host: "127.0.0.1", password: secret as never }, "password", /password must be a Redacted value/],
        [{ host: "127.0.0.1", password: Redacted.make(5) as never }, "password", /must hold a string/],
        [{ host: "127.0.0.1", port: "abc" as never }, "port", /port must be an integer in 1\.\.65535, got "abc"/],
        [{ host: "127.0.0.1", port: "6379" as never }, "port", /got "6379"/],
        [{ host: "127.0.0.1", db: "1" as never }, "db", /db must be an integer >= 0, got "1"/],
        [{ host: "127.0.0.1", port: null as never }, "port", /port must be an integer in 1\.\.65535, got null/],
        [{ host: 6379 as never }, "host", /host must be a string, got 6379/],
        [{ url: 6379 as never }, "url", /url must be a string or a Redacted string, got number/],
        [{ url: Redacted.make(6379) as never }, "url", /got a Redacted number/],
        [{ host: "127.0.0.1", username: 7 as never }, "username", /username must be a string/],
        [{ host: "127.0.0.1", keyPrefix: 7 as never }, "keyPrefix", /keyPrefix must be a string, got 7/],
        [{ host: "127.0.0.1", tls: "yes" as never }, "tls", /tls must be true or false, got "yes"/],
        [{ host: "127.0.0.1", connectTimeout: "-1 second" }, "connectTimeout", /positive finite duration/],
        [{ host: "127.0.0.1", keyPrefix: "" }, "keyPrefix", /keyPrefix must be a non-empty string/],
        [{ host: "127.0.0.1", keyPrefix: " " }, "keyPrefix", /keyPrefix must be a non-empty string/],
        [{ host: "127.0.0.1", comandTimeout: 5 } as Redis.Options, "comandTimeout", /unknown option "comandTimeout"/]
      ]
      for (const [options, path, message] of cases) {
        const error = failureOf(yield* built(Redis.layer(options)))
        expect(ConfigError.isConfigError(error)).toBe(true)
        expect(error).toMatchObject({ _op: "InvalidData", path: [path] })
        expect(String(error)).toMatch(message)
        expect(String(error)).not.toContain(secret)
      }
    }))

  it.effect("a password in a connection string of another form, or in any option, is masked in the message", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [Redis.Options, string, string]> = [
        // not well-formed URLs (`URL` refuses the port): described, not shown
        [
          { url: `redis://127.0.0.1:6379;password=${secret}` },
          "url",
          "got a value of 49 characters that is not a valid URL"
        ],
        [{ url: `127.0.0.1:6379,password=${secret},ssl=True` }, "url", "that does not start with a scheme://"],
        [{ url: `redis://h,Password:${secret}/0` }, "url", "that is not a valid URL (not shown"],
        [{ url: `redis://127.0.0.1:6379 password=${secret}` }, "url", "got a value of 49 characters with spaces"],
        // `URL` takes this as a host name: refused, not shown in every connection error
        [{ url: `redis://127.0.0.1;password=${secret}` }, "url", "got \"redis://127.0.0.1;password=***\""],
        [{ url: `redis://127.0.0.1:6379/0;password=${secret}` }, "url", "database part (after the host) that is not"],
        [{ url: `redis://127.0.0.1/requirepass:${secret}` }, "url", "database part (after the host) that is not"],
        // the userinfo masked, and the key=value after it too
        [
          { url: `redis://u:${secret}@h.example:6379/0?pwd=${secret}` },
          "url",
          "got \"redis://***@h.example:6379/0?***\""
        ],
        [{ host: `127.0.0.1,password=${secret}` }, "host", "got \"127.0.0.1,password=***\""],
        [{ host: "127.0.0.1", port: `6379;password=${secret}` as never }, "port", "got \"6379;password=***\""],
        [{ host: "127.0.0.1", port: { password: secret } as never }, "port", "got {\"password\":***"],
        [{ host: "127.0.0.1", db: `0,password=${secret}` as never }, "db", "got \"0,password=***\""],
        [
          { host: "127.0.0.1", commandTimeout: `password=${secret}` as never },
          "commandTimeout",
          "got \"password=***\""
        ],
        [{ host: "127.0.0.1", keyPrefix: `app: password=${secret}` }, "keyPrefix", "got \"app: password=***\""]
      ]
      for (const [options, path, shown] of cases) {
        const error = failureOf(yield* built(Redis.layer(options)))
        expect(error).toMatchObject({ _op: "InvalidData", path: [path] })
        expect(String(error)).toContain(shown)
        expect(String(error)).not.toContain(secret)
      }
      // A host name or an IP address (v6 bare, or bracketed in a URL) is still taken.
      for (
        const options of [{ host: "::1", awaitConnection: false }, {
          url: "redis://[::1]:6379",
          awaitConnection: false
        }]
      ) {
        expect(Exit.isSuccess(yield* built(Redis.layer(options)))).toBe(true)
      }
      for (
        const options of [
          { host: "redis.internal" },
          { host: "my_redis" },
          { host: "fe80::1%eth0" },
          { host: `${"a".repeat(63)}.example.` },
          { url: "redis://cache-1.example.com:6380/2" },
          { url: "rediss://10.0.0.255" }
        ]
      ) {
        expect(Either.isRight(RedisOptions.resolve("Redis.layer", options))).toBe(true)
      }
    }))

  it.effect("layerConfig: a missing or bad REDIS_URL is a ConfigError naming it, the password masked", () =>
    Effect.gen(function*() {
      const missing = failureOf(yield* built(Redis.layerConfig()).pipe(fromEnv({})))
      expect(missing).toMatchObject({ _op: "MissingData", path: ["REDIS_URL"] })
      expect(String(missing)).toMatch(/REDIS_URL is not set/)
      const bad = failureOf(yield* built(Redis.layerConfig()).pipe(fromEnv({ REDIS_URL: `ftp://u:${secret}@h` })))
      expect(bad).toMatchObject({ _op: "InvalidData", path: ["REDIS_URL"] })
      expect(String(bad)).toMatch(/Redis\.layerConfig: REDIS_URL must be a redis:\/\//)
      expect(String(bad)).toContain("***@h")
      expect(String(bad)).not.toContain(secret)
      // A password set where the URL should be is never shown, whatever it looks like.
      for (
        const [value, described] of [
          [secret, `a value of ${secret.length} characters that does not start with a scheme://`],
          [`Tr0ub4dor&3-${secret}`, "that does not start with a scheme://"],
          [`redis://127.0.0.1:6379 password ${secret}`, "with spaces"],
          [`redis:///${secret}`, "without a host"],
          [`redis://127.0.0.1:6379\n${secret}`, "with a line break or a control character"]
        ] as const
      ) {
        const error = failureOf(yield* built(Redis.layerConfig()).pipe(fromEnv({ REDIS_URL: value })))
        expect(error).toMatchObject({ _op: "InvalidData", path: ["REDIS_URL"] })
        expect(String(error)).toContain(`REDIS_URL must be a redis://`)
        expect(String(error)).toContain(`${described} (not shown: it may hold a password)`)
        expect(String(error)).not.toContain(secret)
      }
      // A password in the query is masked too.
      const query = failureOf(
        yield* built(Redis.layerConfig()).pipe(fromEnv({ REDIS_URL: `redis://127.0.0.1:6391/?password=${secret}&x=1` }))
      )
      expect(String(query)).toContain(
        "REDIS_URL must not have a query or fragment, got \"redis://127.0.0.1:6391/?***\""
      )
      expect(String(query)).not.toContain(secret)
      // So is one written as another client's connection string.
      const pairs = failureOf(
        yield* built(Redis.layerConfig()).pipe(fromEnv({ REDIS_URL: `rediss://127.0.0.1:6391,password=${secret}` }))
      )
      expect(pairs).toMatchObject({ _op: "InvalidData", path: ["REDIS_URL"] })
      expect(String(pairs)).toContain("that is not a valid URL (not shown: it may hold a password)")
      expect(String(pairs)).not.toContain(secret)
    }))

  it.effect("layerConfig: REDIS_KEY_PREFIX set but empty is a ConfigError naming it, not the default prefix", () =>
    Effect.gen(function*() {
      const url = "redis://127.0.0.1:6379"
      for (const prefix of ["", "  "]) {
        const error = failureOf(
          yield* built(Redis.layerConfig()).pipe(fromEnv({ REDIS_URL: url, REDIS_KEY_PREFIX: prefix }))
        )
        expect(error).toMatchObject({ _op: "InvalidData", path: ["REDIS_KEY_PREFIX"] })
        expect(String(error)).toMatch(/REDIS_KEY_PREFIX must be a non-empty string .*leave it out for the default/)
      }
    }))

  it.scoped("layerConfig: REDIS_KEY_PREFIX is the prefix when set, the default when unset", () =>
    Effect.gen(function*() {
      const prefixOf = (env: Record<string, string>) =>
        Layer.build(Redis.layerConfig({ awaitConnection: false })).pipe(
          fromEnv(env),
          Effect.map((context) => (context.unsafeMap.get(Redis.Redis.key) as Redis.Service).keyPrefix)
        )
      const port = yield* Effect.promise(() => freePort())
      const url = `redis://127.0.0.1:${port}`
      expect(yield* prefixOf({ REDIS_URL: url, REDIS_KEY_PREFIX: "myapp:" })).toBe("myapp:")
      expect(yield* prefixOf({ REDIS_URL: url })).toBe("liter-llm:")
    }))

  it.live("an unreachable server fails the layer within connectTimeout, saying where, the cause kept", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(() => freePort())
      const started = performance.now()
      const error = failureOf(
        yield* built(
          Redis.layer({ url: Redacted.make(`redis://u:${secret}@127.0.0.1:${port}/2`), connectTimeout: "200 millis" })
        )
      )
      expect(error).toBeInstanceOf(Redis.RedisError)
      expect(error).toMatchObject({ operation: "connect" })
      expect((error as Redis.RedisError).message).toBe(
        `Redis connect failed: could not connect to redis://***@127.0.0.1:${port}/2 within 200 ms (connection refused)`
      )
      const cause = (error as Redis.RedisError).cause
      expect(cause).toBeInstanceOf(Error)
      expect(cause).toMatchObject({ code: "ECONNREFUSED" })
      expect(JSON.stringify(error) + String(error) + String(cause)).not.toContain(secret)
      expect(performance.now() - started).toBeLessThan(2_000)
    }))

  it.live("while a connection waits for a server that does not answer, the cause says so, not the driver's words", () =>
    Effect.scoped(Effect.gen(function*() {
      const port = yield* hungServer
      const error = yield* Effect.scoped(Effect.gen(function*() {
        const context = yield* Layer.build(
          Redis.layer({ url: Redacted.make(`redis://:${secret}@127.0.0.1:${port}`), awaitConnection: false })
        )
        const redis = context.unsafeMap.get(Redis.Redis.key) as Redis.Service
        return yield* Effect.flip(redis.run("get", (client) => client.get(redis.key("a"))))
      }))
      expect(error.reason).toBe("not connected")
      expect((error.cause as Error).message).toBe(
        `not connected to redis://***@127.0.0.1:${port}/0 yet: the connection is being made, with no answer`
      )
      expect(JSON.stringify(error) + String(error.cause)).not.toContain(secret)
    })))

  it.live("while it cannot connect, a command fails as not connected, the cause saying why in plain words", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(() => freePort())
      const error = yield* Effect.scoped(Effect.gen(function*() {
        const context = yield* Layer.build(
          Redis.layer({ url: Redacted.make(`redis://:${secret}@127.0.0.1:${port}`), awaitConnection: false })
        )
        const redis = context.unsafeMap.get(Redis.Redis.key) as Redis.Service
        // the first attempt is refused at once on loopback; bounded: 2 s
        let error: Redis.RedisError | undefined
        yield* eventually(
          Effect.map(Effect.orDie(Effect.flip(redis.run("get", (client) => client.get(redis.key("a"))))), (failed) => {
            error = failed
            return failed.cause instanceof Error && /could not connect/.test(failed.cause.message)
          }),
          "a connection failure",
          2_000
        )
        return error!
      }))
      expect(error.reason).toBe("not connected")
      expect((error.cause as Error).message).toBe(
        `could not connect to redis://***@127.0.0.1:${port}/0: connection refused`
      )
      expect(String(error.cause)).not.toMatch(/enableOfflineQueue|Stream isn't writeable/)
      // the outage warning a store logs carries the same words
      const logs: Array<Record<string, unknown>> = []
      const logger = Logger.make(({ annotations, message }) => {
        logs.push({ message: String(message), ...Object.fromEntries(HashMap.toEntries(annotations)) })
      })
      yield* Outage.reporter("cache", "bypass").failed(error).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, logger))
      )
      expect(logs).toEqual([expect.objectContaining({
        reason: "not connected",
        cause: `could not connect to redis://***@127.0.0.1:${port}/0: connection refused`
      })])
      expect(JSON.stringify(logs) + JSON.stringify(error)).not.toContain(secret)
    }))
})

describeRedis("Redis connection", (server) => {
  const connection = (options: Partial<Redis.Options> = {}) =>
    Redis.layer({ url: server.url, keyPrefix: uniquePrefix("redis"), ...options })

  it.scopedLive("keys carry the prefix; a script runs by EVALSHA and is loaded again after SCRIPT FLUSH", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      expect(redis.key("circuit", "openai")).toBe(`${redis.keyPrefix}circuit:openai`)
      const add = Redis.script("add", `return redis.call("INCRBY", KEYS[1], ARGV[1])`, { keys: 1 })
      expect(yield* redis.eval(add, [redis.key("n")], [2])).toBe(2)
      yield* redis.run("flush", (client) => client.script("FLUSH"))
      expect(yield* redis.eval(add, [redis.key("n")], [3])).toBe(5)
      expect(yield* redis.run("get", (client) => client.get(`${redis.keyPrefix}n`))).toBe("5")
      const broken = Redis.script("broken", `return redis.call("NOPE")`, { keys: 0 })
      const error = failureOf(yield* Effect.exit(redis.eval(broken, [], [])))
      expect(error).toMatchObject({ _tag: "RedisError", operation: "broken" })
    }).pipe(Effect.provide(connection())))

  it.scopedLive("a command Redis does not answer fails after commandTimeout, not later", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      // another connection pauses and unpauses: this one's replies come in order, the unpause would wait too
      const admin = yield* Redis.make({ url: server.url })
      // CLIENT PAUSE holds every client's writes (this one's too) for 1 s: Redis is up but does not answer.
      yield* admin.run("pause", (client) => client.call("CLIENT", "PAUSE", "1000", "WRITE"))
      const started = performance.now()
      const error = failureOf(yield* Effect.exit(redis.run("set", (client) => client.set(redis.key("x"), "1"))))
      const elapsed = performance.now() - started
      expect(error).toMatchObject({ _tag: "RedisError", operation: "set", reason: "timed out" })
      expect(elapsed).toBeGreaterThanOrEqual(100)
      expect(elapsed).toBeLessThan(900)
      yield* admin.run("unpause", (client) => client.call("CLIENT", "UNPAUSE"))
    }).pipe(Effect.provide(connection({ commandTimeout: "150 millis" }))))

  it.scopedLive("while Redis is down commands fail at once; when it is back the client reconnects by itself", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      yield* redis.run("set", (client) => client.set(redis.key("a"), "1"))
      yield* Effect.promise(() => server.stop())
      const started = performance.now()
      const errors = yield* Effect.forEach([1, 2, 3], () => Effect.flip(redis.run("get", (c) => c.get(redis.key("a")))))
      expect(performance.now() - started).toBeLessThan(400)
      for (const error of errors) expect(error).toMatchObject({ _tag: "RedisError", reason: "not connected" })
      yield* Effect.promise(() => server.start())
      yield* awaitConnected(redis)
      // a fresh server without persistence: the old value is gone, the connection works
      expect(yield* redis.run("get", (client) => client.get(redis.key("a")))).toBe(null)
    }).pipe(Effect.provide(connection())))

  it.scopedLive("a command in flight when Redis dies fails as not connected, at once", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const admin = yield* Redis.make({ url: server.url })
      // Paused, Redis holds the write unanswered: it is still in flight when the server is killed.
      yield* admin.run("pause", (client) => client.call("CLIENT", "PAUSE", "5000", "WRITE"))
      const pending = yield* Effect.fork(Effect.flip(redis.run("set", (client) => client.set(redis.key("b"), "1"))))
      yield* Effect.sleep("100 millis")
      const started = performance.now()
      yield* Effect.promise(() => server.stop())
      const error = yield* pending.await.pipe(Effect.flatten)
      expect(performance.now() - started).toBeLessThan(1_000)
      expect({ _tag: error._tag, operation: error.operation, reason: error.reason }).toEqual({
        _tag: "RedisError",
        operation: "set",
        reason: "not connected"
      })
    }).pipe(
      Effect.provide(connection({ commandTimeout: "4 seconds" })),
      Effect.ensuring(Effect.promise(() => server.start()))
    ))

  it.live("awaitConnection: false builds at once while Redis is down and connects when it is up", () =>
    Effect.gen(function*() {
      yield* Effect.promise(() => server.stop())
      yield* Effect.scoped(Effect.gen(function*() {
        const context = yield* Layer.build(connection({ awaitConnection: false }))
        const redis = context.unsafeMap.get(Redis.Redis.key) as Redis.Service
        expect(yield* Effect.flip(redis.run("ping", (client) => client.ping()))).toMatchObject({
          reason: "not connected"
        })
        yield* Effect.promise(() => server.start())
        yield* awaitConnected(redis)
        expect(yield* redis.run("ping", (client) => client.ping())).toBe("PONG")
      }))
    }).pipe(Effect.ensuring(Effect.promise(() => server.start()))))
})

describeRedis("Redis databases", (server) => {
  // redis-server has 16 databases unless configured otherwise: 0..15.
  const inDb = (db: string) => server.url.replace(/\/?$/, `/${db}`)
  const keysIn = (db: number, pattern: string) =>
    Effect.scoped(Effect.flatMap(
      Redis.make({ url: server.url }),
      (admin) => admin.run("keys", (client) => client.select(db).then(() => client.keys(pattern)))
    ))

  it.live("a database the server does not have fails the layer, naming it; nothing falls back to database 0", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("db")
      const error = failureOf(yield* built(Redis.layer({ url: inDb("99"), keyPrefix: prefix })))
      expect(error).toBeInstanceOf(Redis.RedisError)
      expect(error).toMatchObject({ operation: "connect" })
      expect((error as Redis.RedisError).reason).toMatch(
        new RegExp(`^database 99 does not exist on the server at redis://127\\.0\\.0\\.1:${server.port}/99`)
      )
      expect(String((error as Redis.RedisError).cause)).toMatch(/DB index is out of range/)
    }))

  it.live("without awaitConnection, every command fails naming the database, none runs in database 0", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("db")
      const refused = yield* Effect.scoped(Effect.gen(function*() {
        const context = yield* Layer.build(Redis.layer({ url: inDb("99"), keyPrefix: prefix, awaitConnection: false }))
        const redis = context.unsafeMap.get(Redis.Redis.key) as Redis.Service
        let last: Redis.RedisError | undefined
        // bounded: 2 s, enough for the connection and its refused SELECT on loopback
        yield* eventually(
          Effect.map(
            Effect.orDie(Effect.flip(redis.run("set", (client) => client.set(redis.key("x"), "1")))),
            (failed) => {
              last = failed
              return /database 99/.test(failed.reason)
            }
          ),
          "a command refused for database 99",
          2_000
        )
        expect(yield* redis.isConnected).toBe(false)
        return last
      }))
      expect(refused?.reason).toMatch(/^database 99 does not exist/)
      expect(yield* keysIn(0, `${prefix}*`)).toEqual([])
    }))

  it.live("a database in range is the one used", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("db")
      yield* Effect.scoped(Effect.gen(function*() {
        const redis = yield* Redis.make({ url: inDb("3"), keyPrefix: prefix })
        yield* redis.run("set", (client) => client.set(redis.key("x"), "1"))
      }))
      expect(yield* keysIn(3, `${prefix}*`)).toEqual([`${prefix}x`])
      expect(yield* keysIn(0, `${prefix}*`)).toEqual([])
    }))
})

describeRedis("Redis with a password", (server) => {
  it.live("the password from a Redacted URL logs in; a wrong one fails at startup without showing it", () =>
    Effect.gen(function*() {
      const ok = yield* Effect.scoped(
        Effect.flatMap(
          Layer.build(Redis.layer({ url: Redacted.make(server.url) })),
          (context) => (context.unsafeMap.get(Redis.Redis.key) as Redis.Service).run("ping", (c) => c.ping())
        )
      )
      expect(ok).toBe("PONG")
      const wrong = `wrong-${secret}`
      const error = failureOf(
        yield* built(Redis.layer({ url: Redacted.make(`redis://:${wrong}@127.0.0.1:${server.port}`) }))
      )
      expect(error).toMatchObject({ _tag: "RedisError", operation: "connect" })
      expect(String((error as Redis.RedisError).reason)).toMatch(/WRONGPASS|invalid|AUTH/i)
      expect(JSON.stringify(error) + String(error)).not.toContain(secret)
    }))
}, { password: secret })
