/**
 * Which Client ID Metadata Document URLs this server may fetch.
 *
 * With CIMD a client's id is an https URL that the authorization server fetches. Anyone can put any
 * URL in `client_id` (a web page can send a victim's browser to `/authorize?client_id=…`), so the
 * fetch is a request forgery the attacker aims: at loopback, at the private network the Worker can
 * reach, at cloud metadata endpoints. Cloudflare's `global_fetch_strictly_public` flag blocks private
 * addresses in production, but not under `wrangler dev`, and a guard that depends on a flag depends
 * on the flag staying set. So the id is checked here, in code, before anything is fetched:
 * - https only, on the default port, with no userinfo, query or fragment (the CIMD draft also
 *   requires a path, which the provider checks);
 * - a DNS name with at least one dot, never an IP literal in any spelling (the URL parser turns
 *   `https://2130706433/`, `https://0x7f.1/` and `https://127.1/` into `127.0.0.1`, and `[::1]` stays
 *   bracketed), never `localhost` or a name under the special-use `localhost`, `local`, `internal`,
 *   `home.arpa` or `test` domains (RFC 6761, RFC 6762, RFC 8375).
 * What a public name resolves to cannot be checked from a Worker; that part stays with
 * `global_fetch_strictly_public`.
 */

/** Special-use and private-network suffixes no public client publishes a document under. */
const NON_PUBLIC_SUFFIXES = ['localhost', 'local', 'internal', 'home.arpa', 'test', 'invalid', 'example', 'lan', 'intranet', 'corp'];

/** Whether `clientId` is written as a URL, so the provider would treat it as a metadata document to fetch. */
export function isUrlClientId(clientId: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(clientId);
}

/** Why the provider must not fetch `clientId`, or undefined when it is a public https URL. */
export function unsafeClientIdUrl(clientId: string): string | undefined {
  let url: URL;
  try {
    url = new URL(clientId);
  } catch {
    return 'not a URL';
  }
  if (url.protocol !== 'https:') return 'not https';
  if (url.port !== '') return 'not on the default https port';
  if (url.username !== '' || url.password !== '') return 'carries userinfo';
  if (url.search !== '' || url.hash !== '') return 'carries a query or fragment';
  const host = url.hostname.toLowerCase().replace(/\.$/, '');
  if (host.startsWith('[') || /^[\d.]+$/.test(host)) return 'an IP address';
  if (!host.includes('.')) return 'not a public DNS name';
  if (NON_PUBLIC_SUFFIXES.some((suffix) => host === suffix || host.endsWith(`.${suffix}`))) return 'a special-use or private name';
  return undefined;
}
