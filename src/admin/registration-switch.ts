/**
 * Dynamic client registration (POST /register, RFC 7591) switched off and on by an administrator,
 * without a deploy: one record in OAUTH_KV, written through the consistency layer like every other.
 *
 * KV is eventually consistent and this record is read KV-first (only grants, clients and
 * transactions are read from the journal too: ../storage/consistent-kv.ts), so a switch takes
 * effect at once where it was made and within about a minute everywhere else (KV's propagation,
 * plus its 30 s read cache). Pre-registered clients, Client ID Metadata Documents and every existing
 * client keep working: this stops new self-registrations only.
 */

import { audit } from '../audit/recorder';

/** Present (any value) means registration is off; absent means on, the default. */
export const REGISTRATION_SWITCH_KEY = 'settings:registration';
const CLOSED = 'off';

export async function isRegistrationOpen(kv: KVNamespace): Promise<boolean> {
  return (await kv.get(REGISTRATION_SWITCH_KEY)) === null;
}

export async function setRegistrationOpen(kv: KVNamespace, open: boolean): Promise<void> {
  if (open) await kv.delete(REGISTRATION_SWITCH_KEY);
  else await kv.put(REGISTRATION_SWITCH_KEY, CLOSED);
}

/**
 * The answer to POST /register while registration is off, or `undefined` to let it through.
 *
 * 403 `access_denied`: RFC 7591 §3.2.2's own codes all say the *metadata* is wrong
 * (`invalid_client_metadata`, `invalid_redirect_uri`, …), which would send a client to fix metadata
 * that is fine; its other case, a bad initial access token (RFC 6750 401 `invalid_token`), would
 * promise that some token could help, and none can. 403 is "understood and refused" (RFC 9110
 * §15.5.4), and `access_denied` is OAuth's refusal by the authorization server (RFC 6749 §4.1.2.1),
 * which the MCP SDKs surface as such. A KV failure refuses too (503): registering would need KV.
 */
export async function refusedWhileRegistrationOff(kv: KVNamespace): Promise<Response | undefined> {
  let open: boolean;
  try {
    open = await isRegistrationOpen(kv);
  } catch {
    return Response.json({ error: 'temporarily_unavailable', error_description: 'Registration is unavailable right now; try again shortly.' }, { status: 503, headers: { 'Cache-Control': 'no-store', 'Retry-After': '60' } });
  }
  if (open) return undefined;
  audit({ type: 'client.registered', reason: 'refused', outcome: 'denied' });
  return Response.json(
    { error: 'access_denied', error_description: 'Dynamic client registration is switched off on this server. Ask its administrator to pre-register your client.' },
    { status: 403, headers: { 'Cache-Control': 'no-store' } },
  );
}
