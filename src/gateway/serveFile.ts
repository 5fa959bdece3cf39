/**
 * The gateway started from a config file, as `liter-llm gateway --config FILE` does: the in-memory stores are
 * made once for the process, so a reload (`SIGHUP`) keeps the tenants' spend, rate-limit windows and breakers.
 * The file's `server:` timings and its span export (`telemetry:`, else the `OTEL_*` variables) are read at start.
 * Logs, the request log among them, are JSON lines on standard output (Effect's `Logger.jsonLogger`), written in
 * batches. A `SIGINT` or `SIGTERM` within a second of the one that stops it is taken for the same signal delivered
 * twice (Ctrl-C under `npm run`) and ignored; a later one ends the process at once.
 *
 * @since 0.2.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Runtime from "effect/Runtime"
import * as Util from "node:util"
import * as Pricing from "../Pricing.js"
import * as Tokenizer from "../Tokenizer.js"
import * as Stores from "./buildStores.js"
import type * as Cli from "./Cli.js"
import * as Config from "./Config.js"
import * as Check from "./configCheck.js"
import * as ServerOptions from "./http/serverOptions.js"
import { fromLoaded } from "./runtimeLoad.js"
import * as Server from "./Server.js"
import * as Signals from "./signals.js"
import * as Telemetry from "./Telemetry.js"

/**
 * Serves a config file on a host and port until interrupted, reloading it on `SIGHUP`.
 *
 * @example
 * ```ts
 * import { NodeContext, NodeRuntime } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import { serveFile } from "liter-llm/gateway"
 *
 * NodeRuntime.runMain(
 *   serveFile({ configPath: "gateway.yaml", host: "127.0.0.1", port: 4000 }).pipe(Effect.provide(NodeContext.layer))
 * )
 * ```
 *
 * @since 0.2.0
 * @category entry points
 */
export const serveFile = (options: ServeFileOptions) => Effect.provide(serveWith(options), jsonLogs)

/**
 * Options of {@link serveFile}: the CLI's, and whether `SIGHUP` reloads the file (default `true`; an interactive
 * program may rather stop when its terminal closes).
 *
 * @since 0.2.0
 * @category models
 */
export type ServeFileOptions = Parameters<Cli.ServeFn>[0] & { readonly reloadOnSignal?: boolean | undefined }

/**
 * The CLI's logger: Effect's JSON lines (`Logger.jsonLogger`, one object per line with `message`, `logLevel`,
 * `timestamp`, `annotations`, `spans`, `fiberId`), written to standard output together every 20 ms
 * (`Logger.batched`) and when the layer closes, rather than one write per line: under load, one write per
 * request was a few percent of the gateway's CPU (standard output to a pipe or a file is written
 * synchronously). A process killed outright loses at most the last 20 ms of lines.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { jsonLogs, Server } from "liter-llm/gateway"
 * import type { Runtime } from "liter-llm/gateway"
 * declare const runtime: Runtime.Runtime
 *
 * const main = Layer.launch(Server.layer({ runtime })).pipe(Effect.provide(jsonLogs))
 * ```
 *
 * @since 0.2.0
 * @category logging
 */
export const jsonLogs: Layer.Layer<never> = Layer.unwrapEffect(Effect.sync(() => {
  watchStdout()
  return Logger.replaceScoped(
    Logger.defaultLogger,
    Logger.batched(Logger.jsonLogger, "20 millis", (lines) =>
      Effect.sync(() => {
        if (!stdoutClosed) process.stdout.write(lines.join("\n") + "\n")
      }))
  )
}))

// Standard output closed under the gateway (`| head`, a log shipper that died): a write fails with EPIPE, an
// `error` event that, unheard, would end the process and cut every request in flight. The gateway serves on; its
// log lines are dropped from then on. Heard for the rest of the process: the last lines are written as it stops.
let stdoutClosed = false
let watchingStdout = false
const watchStdout = () => {
  if (watchingStdout) return
  watchingStdout = true
  process.stdout.on("error", () => {
    stdoutClosed = true
  })
}

// Libraries warn with `console.warn` (ioredis: "a password was supplied" to a Redis that needs none), a line of
// free text among the JSON lines: while the gateway serves, such a warning is a log line like any other.
/* eslint-disable no-console */
const consoleWarningsLogged = Effect.flatMap(Effect.runtime<never>(), (runtime) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const warn = console.warn
      console.warn = (...args: Array<unknown>) =>
        Runtime.runFork(runtime)(Effect.logWarning(Util.format(...args)).pipe(Effect.annotateLogs("source", "console")))
      return warn
    }),
    (warn) =>
      Effect.sync(() => {
        console.warn = warn
      })
  ))
/* eslint-enable no-console */

const serveWith = ({ loaded, ...options }: ServeFileOptions) =>
  Effect.scoped(Effect.gen(function*() {
    yield* consoleWarningsLogged
    yield* Signals.ignoreEchoedStops()
    const fs = yield* FileSystem.FileSystem
    const memory = yield* Stores.makeMemory
    // The price data and the o200k encoding load on first use (about 2 s): load them now, not in the first request.
    yield* Effect.sync(() => {
      Pricing.dataset.price("gpt-4o-mini", "openai")
      Tokenizer.byModel.countText("warm-up", "gpt-4o-mini")
    })
    // A reload parses the file in a worker thread: the requests served meanwhile are not held by a large YAML file.
    const load = (path: string, parseOffThread = false) =>
      Effect.provideService(Config.load(path, { parseOffThread }), FileSystem.FileSystem, fs)
    // Read once for what only a start sets (the server's timings, the span export); that read is the first runtime.
    // Given (the CLI checked it), it is not read again: a large config takes seconds to read.
    let first: Config.Loaded | undefined = loaded ?? (yield* load(options.configPath))
    const start = first
    const startSettings = yield* startOnly(start.config)
    const telemetry = yield* Telemetry.forConfig(start)
    const serving = Server.serve({
      ...serverOptions(start.config),
      ...options,
      load: (path) => {
        // A reload warns as a start does (on stderr there; in the log here, which an operator reads then).
        const loaded = first === undefined
          ? Effect.tap(load(path, true), (next) =>
            Effect.zipRight(
              warnStartOnly(startSettings, next, options),
              Effect.flatMap(
                Check.configWarnings(next.config),
                Effect.forEach((warning) => Effect.logWarning(`gateway: ${warning}`), { discard: true })
              )
            ))
          : Effect.succeed(first)
        first = undefined
        return Effect.flatMap(loaded, (loaded) => fromLoaded(loaded, memory))
      }
    })
    // Around the server: it drains before the tracer's scope sends the last spans.
    return yield* telemetry === undefined ? serving : Effect.provide(serving, Telemetry.layer(telemetry))
  }))

/**
 * What only a start reads, as it is in effect (a default and the value written equal to it are the same): a
 * reload that changes it says so, rather than ignoring it silently.
 */
const startOnly = (config: Config.Config): Effect.Effect<Record<string, unknown>> =>
  Effect.map(Effect.either(ServerOptions.checkListening(Config.serverOptions(config))), (checked) => {
    // A config is checked before it gets here: a refusal would only mean the written values are compared.
    if (Either.isLeft(checked)) return { server: config.server, telemetry: config.telemetry }
    const {
      headersTimeoutMs,
      host,
      keepAliveTimeoutMs,
      port,
      readyTimeoutMs,
      requestTimeoutMs,
      shutdownGraceMs,
      stream,
      usageTimeoutMs
    } = checked.right
    return {
      "server.headersTimeout": headersTimeoutMs,
      "server.requestTimeout": requestTimeoutMs,
      "server.keepAliveTimeout": keepAliveTimeoutMs,
      "server.shutdownGrace": shutdownGraceMs,
      "server.holdHeaders": stream.holdHeadersMs,
      "server.keepAlive": stream.keepAliveMs,
      "server.sendTimeout": stream.sendTimeoutMs,
      "server.readyTimeout": readyTimeoutMs,
      "server.usageTimeout": usageTimeoutMs,
      "server.host": host,
      "server.port": port,
      telemetry: config.telemetry
    }
  })

/**
 * Warns of a reload's changes to what only a start reads. The address served came from the file unless the
 * command line gave another (`--host`, `--port` win over the file): then the file's changes to it are no news.
 */
const warnStartOnly = (
  before: Record<string, unknown>,
  next: Config.Loaded,
  served: { host: string; port: number }
) =>
  Effect.flatMap(startOnly(next.config), (after) => {
    const pinned = (name: string) =>
      (name === "server.host" && before[name] !== served.host) ||
      (name === "server.port" && before[name] !== served.port)
    const changed = Object.keys(after).filter((name) =>
      !pinned(name) && JSON.stringify(before[name]) !== JSON.stringify(after[name])
    )
    return changed.length === 0 ? Effect.void : Effect.logWarning(
      `gateway: the new config changes ${changed.join(", ")}, read only at start: restart the gateway to apply ${
        changed.length === 1 ? "it" : "them"
      } (the rest of the new config applies now)`
    )
  })

/** The `server:` options a file sets that `Server.serve` takes (host and port come with the CLI's options). */
const serverOptions = (config: Config.Config): Omit<Server.LayerOptions, "runtime"> => {
  const { host: _host, port: _port, ...timings } = Config.serverOptions(config)
  return timings
}
