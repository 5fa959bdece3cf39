/** An OTLP/HTTP receiver on a free loopback port (node:http): it keeps every request and answers 200. */
import { Effect } from "effect"
import * as Http from "node:http"

export interface Received {
  readonly method: string
  readonly path: string
  readonly headers: Http.IncomingHttpHeaders
  readonly body: string
}

/** An exported span as OTLP/JSON writes it, with its attributes as a plain record. */
export interface Span {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string | undefined
  readonly name: string
  readonly attributes: Record<string, unknown>
  /** OTLP's status: code 0 unset, 1 ok, 2 error. */
  readonly status: { readonly code: number; readonly message?: string }
}

/** The receiver, closed with the scope: its base URL and what it received so far. */
export const receiver = Effect.acquireRelease(
  Effect.async<{ readonly server: Http.Server; readonly url: string; readonly received: Array<Received> }>(
    (resume) => {
      const received: Array<Received> = []
      const server = Http.createServer((request, response) => {
        const chunks: Array<Buffer> = []
        request.on("data", (chunk: Buffer) => chunks.push(chunk))
        request.on("end", () => {
          received.push({
            method: request.method ?? "",
            path: request.url ?? "",
            headers: request.headers,
            body: Buffer.concat(chunks).toString("utf8")
          })
          response.writeHead(200, { "content-type": "application/json" }).end("{}")
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const address = server.address() as { readonly port: number }
        resume(Effect.succeed({ server, url: `http://127.0.0.1:${address.port}`, received }))
      })
    }
  ),
  ({ server }) =>
    Effect.async<void>((resume) => {
      server.close(() => resume(Effect.void))
      server.closeAllConnections()
    })
)

const attributeValue = (value: Record<string, unknown>): unknown => {
  if ("stringValue" in value) return value.stringValue
  if ("intValue" in value) return Number(value.intValue)
  if ("doubleValue" in value) return value.doubleValue
  if ("boolValue" in value) return value.boolValue
  return value
}

/** The spans of OTLP/JSON trace exports, with their resource's `service.name`. */
export const spansOf = (bodies: ReadonlyArray<string>): Array<Span & { readonly service: unknown }> =>
  bodies.flatMap((body) =>
    (JSON.parse(body).resourceSpans as Array<any>).flatMap((resourceSpan) => {
      const service = resourceSpan.resource.attributes.find((attribute: any) => attribute.key === "service.name")
      return (resourceSpan.scopeSpans as Array<any>).flatMap((scope) =>
        (scope.spans as Array<any>).map((span) => ({
          traceId: span.traceId,
          spanId: span.spanId,
          parentSpanId: span.parentSpanId,
          name: span.name,
          status: span.status ?? { code: 0 },
          service: service === undefined ? undefined : attributeValue(service.value),
          attributes: Object.fromEntries(
            (span.attributes as Array<any>).map((attribute) => [attribute.key, attributeValue(attribute.value)])
          )
        }))
      )
    })
  )

/** Whether `span` descends from `ancestor` through the parents among `spans`. */
export const descendsFrom = (spans: ReadonlyArray<Span>, span: Span, ancestor: Span): boolean => {
  let current: Span | undefined = span
  for (let depth = 0; current !== undefined && depth < 32; depth++) {
    if (current.parentSpanId === ancestor.spanId) return true
    const parentId: string | undefined = current.parentSpanId
    current = spans.find((candidate) => candidate.spanId === parentId)
  }
  return false
}
