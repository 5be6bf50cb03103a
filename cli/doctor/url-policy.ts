/**
 * Which URLs taken from a server's answers (its metadata, its challenge) the doctor will fetch or
 * open: https, or plain http on a loopback host (localhost, 127.0.0.0/8, [::1]) for a server on this
 * machine. OAuth 2.1 (§1.5) and the MCP authorization spec require TLS for every authorization server
 * endpoint except loopback, so anything else is a finding to report, never a URL to act on: plain
 * http elsewhere would carry secrets in the clear, and other schemes (`javascript:`, `file:`, `cmd:`,
 * an app's own scheme) would have the browser or the operating system do who knows what.
 */

/** `localhost`, `[::1]` or an IPv4 address in 127.0.0.0/8, as WHATWG URL parsing leaves a host. */
export function isLoopbackHostname(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/** Why `value` may not be fetched or opened, as a phrase that follows the URL; undefined when it may. */
export function urlProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'is not an absolute URL';
  }
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:') return isLoopbackHostname(url.hostname) ? undefined : 'uses plain http on a host that is not loopback';
  return `uses the ${url.protocol} scheme`;
}

/** The one-sentence fix for a refused URL in a server's metadata. */
export const URL_POLICY_FIX = 'Advertise only https URLs (plain http only on localhost): OAuth 2.1 and MCP require TLS for authorization server endpoints, and clients neither fetch nor open anything else.';

/** `<name> <url> <problem>, so it was not fetched or opened`, or undefined when the URL is acceptable. */
export function refusedUrl(name: string, value: string): string | undefined {
  const problem = urlProblem(value);
  return problem ? `${name} ${JSON.stringify(value)} ${problem}, so it was neither fetched nor opened` : undefined;
}
