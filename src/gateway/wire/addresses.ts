/**
 * Removing network addresses and file paths from a text a client will read: an error message may quote an
 * upstream's URL, a host and port, or a file of the gateway's machine, none of which a tenant should learn.
 *
 * @since 0.2.0
 */

/**
 * What a removed URL, address or host name is replaced with.
 *
 * @since 0.2.0
 * @category constants
 */
export const addressPlaceholder = "<address>"

/**
 * What a removed file path is replaced with.
 *
 * @since 0.2.0
 * @category constants
 */
export const pathPlaceholder = "<path>"

/**
 * What a removed account id (OpenAI's `org-...`, `proj_...`) is replaced with.
 *
 * @since 0.2.0
 * @category constants
 */
export const accountPlaceholder = "<account>"

// The last labels of host names: common public ones and those of private networks (`redis.internal`,
// `vllm.svc`). A dotted name ending otherwise is left alone: a parameter path (`tools.function.parameters`), a
// file name, a model name.
const hostTlds = "com|net|org|io|ai|dev|app|cloud|co|us|uk|eu|de|fr|jp|cn|in|info|biz|" +
  "internal|local|localdomain|lan|corp|intranet|home|svc|cluster|test|example|invalid"

/**
 * A one-label name and a number as a host and port: a name with a digit, a hyphen or an underscore
 * (`backend-7:8080`, Docker Compose's `app_web_1:8000`), or a
 * word with a port a server listens on (80, 443, or 1024 and up: `cache:6379`). A word and a smaller number is
 * left alone: `status:404`, `code:400` say what failed.
 */
const singleLabel = (match: string, name: string, port: string): string =>
  /[\d_-]/.test(name) || port === "80" || port === "443" || Number(port) >= 1024 ? addressPlaceholder : match

/** A bare IPv6 address has a `::` or four colons or more: a time such as 10:30:00 has fewer. */
const ipv6 = (match: string): string => match.includes("::") || match.split(":").length > 4 ? addressPlaceholder : match

// Order matters: whole URLs first, so that their hosts and paths go with them. A URL's last character is not
// punctuation: the sentence's comma or full stop stays.
const rules: ReadonlyArray<(text: string) => string> = [
  // Any scheme: http, https, redis, rediss, file, unix...
  (text) =>
    text.replace(/\b[a-z][a-z0-9+.-]*:\/\/(?:[^\s"'`<>()[\]{}]*[^\s"'`<>()[\]{}.,;:!?])?/gi, addressPlaceholder),
  // A host name a resolver could not find: alone, with no port nor scheme, it still names an internal host.
  (text) => text.replace(/\b(getaddrinfo\s+(?:ENOTFOUND|EAI_AGAIN))\s+[\w.-]*\w/gi, `$1 ${addressPlaceholder}`),
  // IPv6 in brackets (with its port), then bare.
  (text) => text.replace(/\[[0-9a-f.]*:[0-9a-f:.]*\](?::\d{1,5})?/gi, addressPlaceholder),
  (text) => text.replace(/(?<![\w:])(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}(?:%[\w.-]+)?(?![\w:%])/gi, ipv6),
  // IPv4, with its port.
  (text) => text.replace(/(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?(?![\w.])/g, addressPlaceholder),
  // host:port (and what follows it), and a dotted host followed by a path: URLs without their scheme.
  (text) =>
    text.replace(
      /(?<![\w.-])(?:localhost|[a-z0-9-]+(?:\.[a-z0-9-]+)+):\d{1,5}\b(?:\/[^\s"'`<>]*)?/gi,
      addressPlaceholder
    ),
  (text) => text.replace(/(?<![\w.@-])[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\/[^\s"'`<>]*/gi, addressPlaceholder),
  // A one-label host and port, as container and cluster service names are (`redis-master:6379`, `cache:6379`).
  (text) => text.replace(/(?<![\w.:/@-])([a-z][\w-]*):(\d{2,5})(?![\w.:])(?:\/[^\s"'`<>]*)?/gi, singleLabel),
  // A path after a scheme without `//` (`file:/etc/x`, `unix:/var/run/x.sock`).
  (text) => text.replace(/\b(?:file|unix):\/[^\s"'`<>]*/gi, pathPlaceholder),
  // Absolute paths: Unix with two segments or more (`/etc/app/x.yaml`, `/v1/chat`), Windows network paths
  // (`\\server\share\x`, `\\?\C:\x`), Windows (`C:\app`).
  (text) => text.replace(/(?<![\w.:/-])\/(?:[\w.@+-]+\/)+[\w.@+-]*/g, pathPlaceholder),
  (text) => text.replace(/\\\\[^\s"'`<>\\]+\\[^\s"'`<>]*/g, pathPlaceholder),
  (text) => text.replace(/\b[a-z]:\\[^\s"'`<>]*/gi, pathPlaceholder),
  // Bare host names (`api.internal.corp`, `x.openai.azure.com`, `redis.internal`).
  (text) =>
    text.replace(
      new RegExp(`(?<![\\w.@/-])(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\\.)+(?:${hostTlds})(?![\\w-]|\\.\\w)`, "gi"),
      addressPlaceholder
    ),
  // Account ids: OpenAI's organisations and projects (mixed case or digits: `org-wide` is a word).
  (text) => text.replace(/\b(?:org-|proj_)(?=[a-z0-9]*[A-Z0-9])[A-Za-z0-9]{6,}\b/g, accountPlaceholder)
]

/**
 * A text without URLs (any scheme), IP addresses, `host:port` pairs, host names, absolute file paths and
 * account ids: each becomes `<address>`, `<path>` or `<account>`. The rest of the text stays as it was, so a message that helps a
 * client fix its request still does.
 *
 * @example
 * ```ts
 * import { withoutAddresses } from "liter-llm/gateway/wire"
 *
 * withoutAddresses("connect ECONNREFUSED 10.0.3.7:8000 (see /etc/gateway.yaml)")
 * // "connect ECONNREFUSED <address> (see <path>)"
 * ```
 *
 * @since 0.2.0
 * @category encoding
 */
export const withoutAddresses = (text: string): string => {
  let out = text
  for (const rule of rules) out = rule(out)
  return out
}
