/** Formatting, statistics and timing shared by the benchmark's scenarios. */
import * as Os from "node:os"
import { performance } from "node:perf_hooks"

export const fixed = (value: number, digits = 1) => value.toFixed(digits)

export const signed = (value: number) => `${value >= 0 ? "+" : ""}${fixed(value)}`

export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** A markdown table: the first column left-aligned, the others right-aligned. */
export const table = (head: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = head.map((cell, i) => Math.max(cell.length, ...rows.map((row) => row[i]!.length)))
  const line = (cells: ReadonlyArray<string>) =>
    `| ${cells.map((cell, i) => i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)).join(" | ")} |`
  const rule = `|${widths.map((width, i) => i === 0 ? "-".repeat(width + 2) : `${"-".repeat(width + 1)}:`).join("|")}|`
  return [line(head), rule, ...rows.map(line)].join("\n")
}

/** The machine, as printed at the top of a run. */
export const machine = () => {
  const cpus = Os.cpus()
  return [
    `CPU: ${cpus[0]?.model.trim() ?? "unknown"} (${cpus.length} cores)`,
    `memory: ${fixed(Os.totalmem() / 2 ** 30)} GiB`,
    `Node ${process.version} on ${process.platform} ${process.arch}`
  ].join(", ")
}

export const log = (line: string) => process.stderr.write(`${line}\n`)

/** A positive number from the environment (`allowZero`: or 0), else `fallback`; anything else stops the run. */
export const envNumber = (name: string, fallback: number, options: { readonly allowZero?: boolean } = {}): number => {
  const raw = process.env[name]
  if (raw === undefined || raw === "") return fallback
  const value = Number(raw)
  if (!Number.isFinite(value) || value < 0 || (value === 0 && options.allowZero !== true)) {
    throw new Error(
      `${name} must be a ${options.allowZero === true ? "non-negative" : "positive"} number, got "${raw}"`
    )
  }
  return value
}

export const envList = (name: string): Array<string> =>
  (process.env[name] ?? "").split(",").map((item) => item.trim()).filter((item) => item !== "")

/** Runs a benchmark's `main` as a script: exit 0 when it ends, 1 with its stack when it fails, 130 on a signal. */
export const runScript = (name: string, main: () => Promise<void>): void => {
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130))
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`${name} failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
      process.exit(1)
    }
  )
}

/** Runs `operation` `count` times, `concurrency` at a time; returns CPU µs and wall ms. */
export const timed = async (operation: () => Promise<string>, count: number, concurrency: number) => {
  const cpu = process.cpuUsage()
  const start = performance.now()
  for (let done = 0; done < count; done += concurrency) {
    if (concurrency === 1) await operation()
    else await Promise.all(Array.from({ length: Math.min(concurrency, count - done) }, operation))
  }
  const wallMs = performance.now() - start
  const used = process.cpuUsage(cpu)
  return { cpuUs: used.user + used.system, wallMs }
}
