/**
 * Before any test file: the programs the suite runs in processes of their own are bundled, once, into a folder
 * removed after the run.
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import type { TestProject } from "vitest/node"
import { bundle } from "./support/programBundle.js"

export default async function setup(project: TestProject): Promise<() => void> {
  const outdir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "liter-llm-programs-"))
  await bundle(outdir)
  project.provide("programs", outdir)
  return () => Fs.rmSync(outdir, { recursive: true, force: true })
}
