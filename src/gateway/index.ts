/**
 * liter-llm/gateway: the OpenAI-compatible gateway, for Effect applications that embed it.
 *
 * @since 0.2.0
 */

/**
 * @since 0.2.0
 */
export * as Stores from "./buildStores.js"
export * as Cli from "./Cli.js"
export * as Config from "./Config.js"
export * as Keys from "./Keys.js"
/**
 * @since 0.2.0
 */
export * as Metrics from "./Metrics.js"
export * as Runtime from "./Runtime.js"
/**
 * @since 0.2.0
 */
export { fromLoaded, loadRuntime, makeRef } from "./runtimeLoad.js"
export * as Server from "./Server.js"
/**
 * @since 0.2.0
 */
export type { LoadOptions, RuntimeRef } from "./runtimeLoad.js"
export { jsonLogs, serveFile } from "./serveFile.js"
/**
 * @since 0.2.0
 */
export * as Telemetry from "./Telemetry.js"
export * as Wire from "./wire/index.js"
