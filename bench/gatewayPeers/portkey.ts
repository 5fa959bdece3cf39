/**
 * Portkey's open-source gateway (`@portkey-ai/gateway`, its Node server build) in this process. Two
 * adjustments, neither touching its request path: its `@hono/node-server` is pinned to the project's 1.14.1
 * (its own nested copy is newer, and streaming needs 1.14.1), and its listening socket is bound to 127.0.0.1
 * (it binds every interface otherwise). Routed to the mock with `x-portkey-provider: openai` and
 * `x-portkey-custom-host`.
 */
import * as Http from "node:http"
import { createRequire, register } from "node:module"
import type { AddressInfo } from "node:net"
import { pathToFileURL } from "node:url"

const require = createRequire(import.meta.url)

// Resolves `@hono/node-server` imported from Portkey's package as if imported from the project.
const pinHooks = `
export async function resolve(specifier, context, next) {
  if (specifier === "@hono/node-server" && context.parentURL?.includes("/@portkey-ai/gateway/")) {
    return next(specifier, { ...context, parentURL: ${JSON.stringify(import.meta.url)} })
  }
  return next(specifier, context)
}`

/** Starts Portkey's gateway on a free loopback port; its port. */
export const start = (): Promise<number> =>
  new Promise((resolve, reject) => {
    register(`data:text/javascript,${encodeURIComponent(pinHooks)}`)
    const listen = Http.Server.prototype.listen
    Http.Server.prototype.listen = function(this: Http.Server, ...args: Array<unknown>) {
      // Restored first: the call below is the real one.
      Http.Server.prototype.listen = listen
      const callback = args.find((arg) => typeof arg === "function") as (() => void) | undefined
      // eslint-disable-next-line @typescript-eslint/no-this-alias
      const server = this
      server.once("error", reject)
      return server.listen(0, "127.0.0.1", () => {
        callback?.()
        resolve((server.address() as AddressInfo).port)
      })
    } as typeof listen
    process.argv = [process.argv[0]!, "portkey", "--headless"]
    const entry = require.resolve("@portkey-ai/gateway/build/start-server.js")
    import(pathToFileURL(entry).href).catch(reject)
  })
