/**
 * Which clients' redirect URIs this server trusts enough to send a browser to automatically with an
 * error, before the user has done anything on its pages.
 *
 * RFC 9700 §4.11.2: an authorization server that redirects on request errors is an open redirector
 * for whoever controls a registered redirect URI, and anyone can register one by DCR or publish one
 * in a Client ID Metadata Document. So such errors are shown as a page (with the client's host and a
 * link the user may follow) for every client except those an administrator registered through the
 * admin API, whose redirect URIs a person entered. Errors after the user has acted (Deny, or the
 * upstream sign-in) still go back to the client: that redirect is what the user asked for.
 *
 * The mark is a record in OAUTH_KV beside the provider's own (`trusted-client:<id>`), written by the
 * admin API when it creates a client and removed when it deletes one. No mark: not trusted, so a
 * client created before the mark existed, or any failure to read it, fails safe to the page.
 */
const PREFIX = 'trusted-client:';

export async function markTrusted(kv: KVNamespace, clientId: string): Promise<void> {
  await kv.put(`${PREFIX}${clientId}`, '1');
}

export async function forgetTrusted(kv: KVNamespace, clientId: string): Promise<void> {
  await kv.delete(`${PREFIX}${clientId}`);
}

export async function isTrusted(kv: KVNamespace, clientId: string): Promise<boolean> {
  try {
    return (await kv.get(`${PREFIX}${clientId}`)) === '1';
  } catch {
    return false;
  }
}
