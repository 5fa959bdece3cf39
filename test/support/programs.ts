/**
 * How a test starts one of the suite's programs in a process of its own: `node <bundle>`, the bundle made for this
 * run by the global setup (see `programBundle.ts`).
 */
import * as Path from "node:path"
import { inject } from "vitest"

declare module "vitest" {
  export interface ProvidedContext {
    /** The folder the global setup bundled the programs into. */
    readonly programs: string
  }
}

/**
 * The file Node runs for `entry`, a program's source relative to the project's root (`src/gateway/bin.ts`,
 * `examples/demo.ts`, `test/processes/<worker>.ts`).
 */
export const program = (entry: string): string => Path.join(inject("programs"), entry.replace(/\.ts$/, ".mjs"))
