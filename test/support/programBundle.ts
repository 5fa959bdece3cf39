/**
 * The programs the suite runs in processes of their own (the `liter-llm` executable, the demos, the workers of the
 * multi-process tests), bundled once per test run with esbuild. Started with `node --import tsx`, each such process
 * spent about 3 s of a core loading over a thousand TypeScript modules through tsx's hooks before its first step,
 * some thirty times a run; a bundle starts in about 0.7 s, and runs the same sources.
 *
 * Each module keeps its own `import.meta.url` (the source file's), so what a program reads next to its source (the
 * package's version, an example's config, a package's data file) is found as when it runs from source. Dynamic
 * imports stay dynamic (split into chunks): the executable still loads its dependencies after its first step.
 */
import * as esbuild from "esbuild"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const root = fileURLToPath(new URL("../..", import.meta.url))

/** The programs bundled, relative to the project's root. */
export const entries: ReadonlyArray<string> = [
  "src/gateway/bin.ts",
  "examples/demo.ts",
  "examples/gateway-demo.ts",
  ...Fs.readdirSync(Path.join(root, "test/processes")).filter((file) => file.endsWith(".ts")).map((file) =>
    `test/processes/${file}`
  )
]

/** Replaces `import.meta.url` in a module of the project by its source file's URL. */
const sourceUrls: esbuild.Plugin = {
  name: "source-import-meta-url",
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, (args) => {
      if (args.path.includes(`${Path.sep}node_modules${Path.sep}`)) return undefined
      const text = Fs.readFileSync(args.path, "utf8")
      return {
        contents: text.replaceAll("import.meta.url", JSON.stringify(pathToFileURL(args.path).href)),
        loader: "ts"
      }
    })
  }
}

/**
 * Bundles {@link entries} into `outdir` (the project's layout kept: `src/gateway/bin.ts` is
 * `<outdir>/src/gateway/bin.mjs`).
 */
export const bundle = async (outdir: string): Promise<void> => {
  await esbuild.build({
    entryPoints: [...entries],
    absWorkingDir: root,
    outdir,
    outbase: ".",
    outExtension: { ".js": ".mjs" },
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    logLevel: "warning",
    plugins: [sourceUrls],
    // Bundled CommonJS dependencies call `require`, which an ES module lacks.
    banner: {
      js:
        "import { createRequire as __liter_createRequire } from \"node:module\"; const require = __liter_createRequire(import.meta.url);"
    }
  })
}
