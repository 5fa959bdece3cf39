/**
 * SIGHUPs that arrive while the `liter-llm` executable starts, before the server listens for them. Node's
 * default for SIGHUP ends the process, so a reload sent right after a restart (a deploy script, a config
 * manager) would stop the gateway instead; held here, one of them reloads the file once the gateway serves.
 *
 * @since 0.2.0
 */

let held = false
const hold = () => {
  held = true
}

/**
 * Holds the SIGHUPs that arrive from now on until {@link take}: the executable's first step.
 *
 * @since 0.2.0
 * @category signals
 */
export const holdEarly = (): void => {
  process.on("SIGHUP", hold)
}

/**
 * Stops holding SIGHUPs (the caller listens for them now) and says whether one arrived while they were held.
 *
 * @since 0.2.0
 * @category signals
 */
export const take = (): boolean => {
  process.off("SIGHUP", hold)
  const arrived = held
  held = false
  return arrived
}
