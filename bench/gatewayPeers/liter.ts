/**
 * The liter-llm gateway as its CLI runs it (`makeRef` of a config file, the source a reload swaps, each request
 * holding the config it started with; `Server.layer`; the request log as JSON lines through `jsonLogs`, the CLI's
 * logger), on a free loopback port, through the public
 * `liter-llm/gateway` modules:
 * the built package (`dist/`, what the `liter-llm` command runs), or the TypeScript sources under `tsx` when
 * `options.source` is `"src"`.
 */
import { NodeContext } from "@effect/platform-node"
import * as HttpServer from "@effect/platform/HttpServer"
import { Context, Effect, Layer } from "effect"
import type * as SourceGateway from "../../src/gateway/index.js"

type Gateway = typeof SourceGateway

/** Serves the config file `options.config`; its port. */
export const start = async (options: Record<string, unknown>): Promise<number> => {
  const { jsonLogs, makeRef, Server }: Gateway = options.source === "src"
    ? await import("../../src/gateway/index.js")
    : await import("liter-llm/gateway" as string)
  return new Promise((resolve, reject) => {
    const program = Effect.gen(function*() {
      const runtime = yield* makeRef(String(options.config))
      const context = yield* Layer.build(Server.layer({ runtime, host: "127.0.0.1", port: 0 }))
      const address = Context.get(context, HttpServer.HttpServer).address
      if (address._tag !== "TcpAddress") return yield* Effect.dieMessage("expected a TCP address")
      resolve(address.port)
      return yield* Effect.never
    }).pipe(Effect.scoped, Effect.provide(NodeContext.layer), Effect.provide(jsonLogs))
    Effect.runPromise(program).catch(reject)
  })
}
