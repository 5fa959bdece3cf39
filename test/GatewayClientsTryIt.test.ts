/**
 * `npm run gateway:demo` in its own process: it serves examples/gateway.yaml in front of its mocks on the port
 * it is given, answers the demo keys it prints, and stops on Ctrl-C (SIGINT) once the requests in flight end.
 */
import { expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit } from "effect"
import { spawn } from "node:child_process"
import * as Net from "node:net"
import { freePort } from "./clients/gateway.js"
import { program } from "./support/programs.js"

const script = program("examples/gateway-demo.ts")

/**
 * The demo on `port`, once it has printed its instructions (failing with its output if it exits first); killed with
 * the scope. `exit` completes when it exits; `output` is what it printed so far.
 */
const startDemo = (port: number) =>
  Effect.gen(function*() {
    let output = ""
    let exited = false
    // Resolved by the child's own events: nothing polls while it starts.
    const printed = yield* Deferred.make<void, Error>()
    const exit = yield* Deferred.make<void>()
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const child = spawn(process.execPath, [script, "--port", String(port)], {
          cwd: process.cwd(),
          stdio: ["ignore", "pipe", "pipe"]
        })
        const collect = (chunk: unknown) => {
          output += String(chunk)
          if (output.includes("Ctrl-C stops")) Deferred.unsafeDone(printed, Exit.void)
        }
        child.stdout.on("data", collect)
        child.stderr.on("data", collect)
        child.on("exit", () => {
          exited = true
          Deferred.unsafeDone(printed, Exit.fail(new Error(`the demo exited early:\n${output}`)))
          Deferred.unsafeDone(exit, Exit.void)
        })
        return child
      }),
      (child) => Effect.sync(() => exited || child.kill("SIGKILL"))
    )
    yield* Deferred.await(printed).pipe(Effect.timeout("45 seconds"))
    return { child, exit, output: () => output }
  })

it.scopedLive(
  "the try-it command serves the example config with the demo keys it prints, and stops on SIGINT",
  () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const { child, exit, output } = yield* startDemo(port)
      const base = `http://127.0.0.1:${port}`
      expect(output()).toContain(`The gateway serves examples/gateway.yaml on ${base}`)
      const key = output().match(/Bearer (sk-liter-demo-acme-\w+)/)![1]!
      const ask = (content: string) =>
        Effect.promise(() =>
          fetch(`${base}/v1/chat/completions`, {
            method: "POST",
            headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
            body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content }] })
          })
        )
      const answer = yield* ask("Hello!")
      expect(answer.status).toBe(200)
      expect(answer.headers.get("x-liter-provider")).toBe("primary")
      expect(((yield* Effect.promise(() => answer.json())) as any).choices[0].message.content).toBe(
        "Hello from the primary mock."
      )
      // the documented fallback: primary fails prompts containing "fail"
      const fallback = yield* ask("please fail")
      expect(fallback.headers.get("x-liter-provider")).toBe("backup")
      // Ctrl-C with a stream in flight: the gateway drains it before the mocks stop.
      const stream = yield* Effect.promise(() =>
        fetch(`${base}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
          body: JSON.stringify({ model: "mock-large", stream: true, messages: [{ role: "user", content: "Stream" }] })
        })
      )
      expect(stream.status).toBe(200)
      child.kill("SIGINT")
      const streamed = yield* Effect.promise(() => stream.text())
      expect(streamed).toContain("mock.")
      expect(streamed.trimEnd().endsWith("data: [DONE]")).toBe(true)
      yield* Deferred.await(exit).pipe(Effect.timeout("15 seconds"))
      expect(child.exitCode).toBe(0)
    }),
  90_000
)

it.scopedLive(
  "the try-it command on a port in use, or a bad one, says so in one line and prints no instructions",
  () =>
    Effect.gen(function*() {
      const taken = yield* Effect.acquireRelease(
        Effect.async<Net.Server>((resume) => {
          const server = Net.createServer()
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
      )
      const port = (taken.address() as Net.AddressInfo).port
      // The four command lines at once: each process's start is most of its time.
      const run = (args: ReadonlyArray<string>) =>
        Effect.async<{ status: number | null; stdout: string; stderr: string }>((resume) => {
          const child = spawn(process.execPath, [script, ...args], { stdio: "pipe" })
          let stdout = ""
          let stderr = ""
          child.stdout.on("data", (data) => (stdout += String(data)))
          child.stderr.on("data", (data) => (stderr += String(data)))
          const timer = setTimeout(() => child.kill("SIGKILL"), 45_000)
          child.on("close", (status) => {
            clearTimeout(timer)
            resume(Effect.succeed({ status, stdout, stderr }))
          })
          return Effect.sync(() => child.kill("SIGKILL"))
        })
      const [inUse, bad, inUseEquals, twice] = yield* Effect.all([
        run(["--port", String(port)]),
        run(["--port", "abc"]),
        // `--port=N` is read as `--port N`; twice is refused, not the first taken.
        run([`--port=${port}`]),
        run(["--port", "4100", "--port", "4101"])
      ], { concurrency: "unbounded" })
      expect(inUse.status).toBe(1)
      expect(inUse.stderr.trim()).toBe(
        `gateway demo: 127.0.0.1:${port} is in use (a gateway demo still running?): stop it, or choose another port with --port`
      )
      expect(inUse.stdout).not.toContain("The gateway serves")
      expect(bad.status).toBe(2)
      expect(bad.stderr.trim()).toBe("gateway demo: --port (or PORT) must be a port 1-65535, got \"abc\"")
      expect(inUseEquals.status).toBe(1)
      expect(twice.status).toBe(2)
      expect(twice.stderr.trim()).toBe("gateway demo: --port is given more than once")
    }),
  90_000
)

it.scopedLive(
  "the try-it command stops when its terminal closes (SIGHUP), rather than reload and serve on",
  () =>
    Effect.gen(function*() {
      const { child, exit, output } = yield* startDemo(yield* freePort)
      child.kill("SIGHUP")
      yield* Deferred.await(exit).pipe(Effect.timeout("15 seconds"))
      expect(child.exitCode, output()).toBe(0)
      expect(output()).toContain("gateway: shutting down")
      expect(output()).not.toContain("config reloaded")
    }),
  90_000
)
