/**
 * The entry of the worker thread in which a reload parses its config file's text (see `parseOffThread.ts`): it
 * reads one `{ text, source }` message and answers with the data or the problems, as plain data.
 *
 * @since 0.2.0
 */
import * as Either from "effect/Either"
import { parentPort } from "node:worker_threads"
import * as ConfigText from "./configText.js"

parentPort?.once("message", (message: { readonly text: string; readonly source: string }) => {
  const parsed = ConfigText.parseFile(message.text, message.source)
  parentPort!.postMessage(Either.isRight(parsed) ? { parsed: parsed.right } : { errors: parsed.left })
})
