/**
 * Access to the recorded provider payloads shared between implementations (`../shared/fixtures`, see its
 * `MANIFEST.md`). Set `LITER_FIXTURES_DIR` to read them from elsewhere; suites declared with
 * {@link describeFixtures} are skipped, with a message, when the directory is missing.
 */
import { describe } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"

/** The fixtures directory: `LITER_FIXTURES_DIR`, else `../shared/fixtures` from the repository root. */
export const fixturesDir: string = path.resolve(process.cwd(), process.env.LITER_FIXTURES_DIR ?? "../shared/fixtures")

/** Whether the fixtures directory exists. */
export const hasFixtures: boolean = fs.existsSync(fixturesDir) && fs.statSync(fixturesDir).isDirectory()

const resolveFixture = (relPath: string): string => path.join(fixturesDir, relPath)

/** A fixture file as UTF-8 text. */
export const readFixture = (relPath: string): string => fs.readFileSync(resolveFixture(relPath), "utf8")

/** A fixture file as raw bytes (e.g. to re-chunk an SSE body at arbitrary byte offsets). */
export const readFixtureBytes = (relPath: string): Uint8Array =>
  new Uint8Array(fs.readFileSync(resolveFixture(relPath)))

/**
 * A recorded status and headers (`*.headers.json`: `{ status: { code }, headers: { Name: [values] | value } }`),
 * with lower-cased names and list values joined by `", "`, as `@effect/platform` presents response headers.
 */
export const readFixtureHeaders = (
  relPath: string
): { readonly status: number; readonly headers: Readonly<Record<string, string>> } => {
  const raw = JSON.parse(readFixture(relPath)) as {
    readonly status: { readonly code: number }
    readonly headers: Readonly<Record<string, string | ReadonlyArray<string>>>
  }
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(raw.headers)) {
    headers[name.toLowerCase()] = typeof value === "string" ? value : value.join(", ")
  }
  return { status: raw.status.code, headers }
}

/** The recorded status and headers of a body fixture (`x.json` has them in `x.headers.json`), if any were recorded. */
export const readSiblingHeaders = (relPath: string): ReturnType<typeof readFixtureHeaders> | undefined => {
  const headersFile = relPath.replace(/\.[^./]+$/, ".headers.json")
  return fs.existsSync(resolveFixture(headersFile)) ? readFixtureHeaders(headersFile) : undefined
}

/** A `describe` that is skipped, saying why, when the fixtures directory is missing. */
export const describeFixtures = (name: string, fn: () => void): void => {
  if (!hasFixtures) {
    console.log(
      `[fixtures] skipping "${name}": no fixtures directory at ${fixturesDir}. ` +
        "Set LITER_FIXTURES_DIR to the shared fixtures directory (default ../shared/fixtures from the repo root)."
    )
  }
  describe.skipIf(!hasFixtures)(name, fn)
}
