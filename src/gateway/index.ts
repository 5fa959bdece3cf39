/**
 * liter-llm/gateway: the OpenAI-compatible gateway, for Effect applications that embed it.
 *
 * @since 0.2.0
 */

/**
 * Where the runtime's state lives.
 *
 * @since 0.2.0
 */
export * as Stores from "./buildStores.js"

/**
 * The `liter-llm` command line.
 *
 * @since 0.2.0
 */
export * as Cli from "./Cli.js"

/**
 * The gateway's config file (YAML or JSON).
 *
 * @since 0.2.0
 */
export * as Config from "./Config.js"

/**
 * Virtual keys.
 *
 * @since 0.2.0
 */
export * as Keys from "./Keys.js"

/**
 * The gateway's Prometheus metrics, through `prom-client`.
 *
 * @since 0.2.0
 */
export * as Metrics from "./Metrics.js"

/**
 * What the gateway's HTTP server serves from.
 *
 * @since 0.2.0
 */
export * as Runtime from "./Runtime.js"
/**
 * @since 0.2.0
 */
export { fromLoaded, loadRuntime, makeRef } from "./runtimeLoad.js"

/**
 * The gateway's HTTP server.
 *
 * @since 0.2.0
 */
export * as Server from "./Server.js"
/**
 * @since 0.2.0
 */
export type { LoadOptions, RuntimeRef } from "./runtimeLoad.js"
export { jsonLogs, serveFile } from "./serveFile.js"
export type { ServeFileOptions } from "./serveFile.js"

/**
 * OTLP span export.
 *
 * @since 0.2.0
 */
export * as Telemetry from "./Telemetry.js"

/**
 * The OpenAI chat-completions wire of the gateway.
 *
 * @since 0.2.0
 */
export * as Wire from "./wire/index.js"
