/**
 * The body of a streamed answer: text the stream's pump writes as it comes, held until the answer is written,
 * then written straight to Node's response (the server's own handler) or pushed into a `Readable` (the
 * platform's `HttpApp`).
 *
 * Why not always a `Readable` piped with `pipeline`: measured on a 50-token stream, the `Readable`, the pipe and
 * `pipeline`'s abort and finish bookkeeping were about a tenth of the gateway's CPU per stream.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Http from "node:http"
import { Readable } from "node:stream"

/** Where the text goes once the answer is written. */
interface Sink {
  /** `false`: past the sink's buffer, wait for `onDrain`. */
  readonly write: (text: string) => boolean
  readonly end: (text: string) => void
  readonly closed: () => boolean
  /** Sends what was written now, not at the end of the tick. */
  readonly flush: () => void
  /** Cuts the body: the client reads nothing. */
  readonly destroy: () => void
}

/**
 * A client that reads nothing: how long `push` waits with the sink full before it cuts the body, ms, and what to
 * do then (before the cut), e.g. say why in the request's log.
 *
 * @since 0.2.0
 * @category models
 */
export interface Stall {
  readonly timeoutMs: number
  readonly onStall: () => void
}

/**
 * A streamed body. `push` waits while the sink is past its buffer (the client reads slower than the provider
 * writes); before a sink is attached, text is held.
 *
 * @since 0.2.0
 * @category models
 */
export class StreamBody {
  /**
   * @param cut What to end the body with when it is interrupted while its client still reads (the server's
   *   shutdown grace ran out): an error event, so the client learns why, rather than a connection reset.
   * @param stall Without it, `push` waits for a client that reads nothing for as long as it stays connected.
   */
  constructor(private readonly cut: string = "", private readonly stall?: Stall) {}

  private held: Array<string> = []
  private heldEnd = false
  private sink: Sink | undefined
  private drained: (() => void) | undefined
  private finished: (() => void) | undefined
  private attachedNow: (() => void) | undefined
  private done = false

  /** Whether nothing more can be written: ended, or the client is gone. */
  get closed(): boolean {
    return this.done || this.heldEnd || (this.sink !== undefined && this.sink.closed())
  }

  /**
   * Writes `text`, waiting while the sink is full; past the stall's timeout the body is cut and the pushing fiber
   * interrupted (nothing it would push could be read).
   */
  readonly push = (text: string): Effect.Effect<void> => {
    if (text === "" || this.closed) return Effect.void
    if (this.sink === undefined) {
      this.held.push(text)
      return Effect.void
    }
    if (this.sink.write(text)) return Effect.void
    const drained = Effect.async<void>((resume) => {
      this.drained = () => resume(Effect.void)
      return Effect.sync(() => {
        this.drained = undefined
      })
    })
    const stall = this.stall
    if (stall === undefined) return drained
    return Effect.flatMap(Effect.timeoutOption(drained, stall.timeoutMs), (done) => {
      if (Option.isSome(done)) return Effect.void
      stall.onStall()
      this.done = true
      this.sink?.destroy()
      return Effect.interrupt
    })
  }

  /**
   * Waits until the body is written to its response (or can take nothing more). The pump waits here after the
   * first content part: the rest of its read is decoded after that part is on the wire, not before.
   */
  readonly attached: Effect.Effect<void> = Effect.suspend(() =>
    this.sink !== undefined || this.closed ? Effect.void : Effect.async<void>((resume) => {
      this.attachedNow = () => resume(Effect.void)
      return Effect.sync(() => {
        this.attachedNow = undefined
      })
    })
  )

  /** Writes `text` now, whatever the sink's buffer (a keep-alive comment). */
  readonly pushNow = (text: string): void => {
    if (this.closed) return
    if (this.sink === undefined) this.held.push(text)
    else this.sink.write(text)
  }

  /** Writes `text` and ends the body. */
  readonly end = (text: string): Effect.Effect<void> =>
    Effect.sync(() => {
      if (this.closed) return
      if (this.sink === undefined) {
        if (text !== "") this.held.push(text)
        this.heldEnd = true
        return
      }
      this.done = true
      this.sink.end(text)
      this.settle()
    })

  private readonly drain = () => {
    const resume = this.drained
    this.drained = undefined
    resume?.()
  }

  private readonly settle = () => {
    this.drain()
    const finished = this.finished
    this.finished = undefined
    finished?.()
  }

  private attach(sink: Sink, finished: () => void) {
    this.sink = sink
    this.finished = finished
    const held = this.held.join("")
    this.held = []
    if (this.heldEnd) {
      this.done = true
      sink.end(held)
      return this.settle()
    }
    if (held !== "") {
      sink.write(held)
      // Node sends a response's writes of one tick together, and the pump, resumed below, reads on in the same
      // tick: the head goes now, not with the rest of its read.
      if (this.attachedNow !== undefined) sink.flush()
    }
    const attachedNow = this.attachedNow
    this.attachedNow = undefined
    attachedNow?.()
  }

  /**
   * Writes the body to Node's response until it ends or the client leaves: done then. Interrupting it destroys
   * the response.
   */
  writeTo(response: Http.ServerResponse): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      // A client already gone: nothing to write, and its `close` has been emitted.
      if (response.destroyed) {
        this.done = true
        return resume(Effect.void)
      }
      const detach = () => {
        response.off("drain", this.drain)
        response.off("close", this.settle)
      }
      response.on("drain", this.drain)
      response.once("close", this.settle)
      this.attach({
        write: (text) => response.write(text),
        end: (text) => response.end(text),
        closed: () => response.destroyed || response.writableEnded,
        flush: () => response.socket?.uncork(),
        destroy: () => response.destroy()
      }, () => {
        detach()
        resume(Effect.void)
      })
      return Effect.sync(() => {
        detach()
        // A client still there (the server stops): end with the error event; one gone: nothing to say.
        if (this.cut !== "" && !this.done && !response.destroyed && !response.writableEnded) {
          this.done = true
          response.end(this.cut)
        } else response.destroy()
      })
    })
  }

  /** The body as a `Readable`, for a server that pipes one (the platform's). */
  toReadable(): Readable {
    const readable: Readable = new Readable({ read: () => this.drain() })
    readable.once("close", this.settle)
    this.attach({
      write: (text) => readable.push(text),
      end: (text) => {
        if (text !== "") readable.push(text)
        readable.push(null)
      },
      closed: () => readable.destroyed,
      flush: () => {},
      destroy: () => readable.destroy()
    }, () => {})
    return readable
  }
}
