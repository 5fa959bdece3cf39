/**
 * A token count bounded in the work it does: tokenizing is CPU on the thread that serves every other call.
 */

/** How many characters one count (a request, or a text) tokenizes at most; the rest is estimated from them. */
export const exactCharacters = 65_536

/** How many evenly spaced pieces of a text are counted when only part of it can be. */
const samples = 8

/**
 * A count bounded by {@link exactCharacters}: texts are counted exactly while the allowance lasts; the text that
 * passes it is counted from samples spread over it (as many characters as are left, at least 1 K), scaled to its
 * length; later texts at the rate of tokens per character counted so far.
 */
export const boundedCount = (
  countWith: (text: string, model: string | undefined) => number,
  model: string | undefined
) => {
  let allowance = exactCharacters
  let countedCharacters = 0
  let countedTokens = 0
  return (text: string): number => {
    if (text.length <= allowance) {
      const tokens = countWith(text, model)
      allowance -= text.length
      countedCharacters += text.length
      countedTokens += tokens
      return tokens
    }
    if (allowance >= 1024 || countedCharacters === 0) {
      const size = Math.max(128, Math.floor(allowance / samples))
      let characters = 0
      let tokens = 0
      for (let i = 0; i < samples; i++) {
        const start = Math.floor((text.length - size) * i / (samples - 1))
        const piece = text.slice(start, start + size)
        tokens += countWith(piece, model)
        characters += piece.length
      }
      allowance = 0
      countedCharacters += characters
      countedTokens += tokens
      return Math.ceil(tokens * text.length / characters)
    }
    return Math.ceil(countedTokens * text.length / countedCharacters)
  }
}
