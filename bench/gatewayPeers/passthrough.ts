/**
 * The floor: a plain `node:http` server that forwards each request's body to the mock with `undici` and pipes
 * the answer back, status and content type included. No parsing, no policy: what Node itself costs.
 */
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { pipeline } from "node:stream"
import { Agent, request } from "undici"

/** Starts the pass-through to `options.upstream` (an origin) on a free loopback port; its port. */
export const start = (options: Record<string, unknown>): Promise<number> => {
  const upstream = String(options.upstream)
  const dispatcher = new Agent({ keepAliveTimeout: 60_000, connections: 2_048 })
  const server = Http.createServer({ keepAliveTimeout: 60_000, noDelay: true }, (req, res) => {
    const aborted = new AbortController()
    res.once("close", () => aborted.abort())
    request(`${upstream}${req.url}`, {
      method: "POST",
      dispatcher,
      signal: aborted.signal,
      headers: {
        "content-type": req.headers["content-type"] ?? "application/json",
        authorization: req.headers.authorization ?? ""
      },
      body: req
    }).then(
      (answer) => {
        const type = answer.headers["content-type"]
        res.writeHead(answer.statusCode, type === undefined ? {} : { "content-type": type })
        // An SSE answer goes out as it arrives.
        res.flushHeaders()
        pipeline(answer.body, res, () => {})
      },
      () => {
        if (!res.headersSent) res.writeHead(502).end()
        else res.destroy()
      }
    )
  })
  return new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port))
  })
}
