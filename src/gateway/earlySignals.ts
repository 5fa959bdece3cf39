/**
 * The SIGHUPs that arrive while the `liter-llm` executable starts, held until the server listens for them. A
 * module of its own, importing nothing: the executable's first import, so that Node's default for the signal
 * (the process ends) covers only Node's own start, not the loading of the program's dependencies.
 *
 * @since 0.2.0
 */

let heldHangup = false
const holdHangup = () => {
  heldHangup = true
}

/**
 * Holds the SIGHUPs that arrive from now on until {@link takeHangups}: the executable's first step.
 *
 * @since 0.2.0
 * @category signals
 */
export const holdEarly = (): void => {
  process.on("SIGHUP", holdHangup)
}

/**
 * Stops holding SIGHUPs (the caller listens for them now) and says whether one arrived while they were held.
 *
 * @since 0.2.0
 * @category signals
 */
export const takeHangups = (): boolean => {
  process.off("SIGHUP", holdHangup)
  const arrived = heldHangup
  heldHangup = false
  return arrived
}
