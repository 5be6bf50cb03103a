/**
 * What a dynamically registered client may ask to be stored (the provider's
 * `clientRegistrationCallback`). Anyone can register, and a registration is kept for months, so its
 * size is bounded: a client needs a few redirect URIs (one per callback it really has) and a name a
 * person can read on the consent page. RFC 7591 §3.2.2 names the errors: `invalid_redirect_uri`
 * for a bad redirect URI, `invalid_client_metadata` for anything else.
 */

/** More than any real client registers (native apps: one per loopback host; web apps: one per environment). */
export const MAX_REDIRECT_URIS = 10;
/** Browsers and servers handle URLs of this length everywhere (RFC 9110 §4.1 recommends at least 8,000 octets for request lines). */
export const MAX_URI_LENGTH = 2048;
/** A name that fits on the consent page. */
export const MAX_CLIENT_NAME_LENGTH = 200;
const MAX_CONTACTS = 5;
const URI_FIELDS = ['client_uri', 'logo_uri', 'tos_uri', 'policy_uri', 'jwks_uri'];

export interface RegistrationRefusal {
  code: 'invalid_redirect_uri' | 'invalid_client_metadata';
  description: string;
}

export function registrationRefusal(metadata: Record<string, unknown>): RegistrationRefusal | undefined {
  const { redirect_uris: redirectUris, client_name: clientName, contacts } = metadata;
  if (Array.isArray(redirectUris)) {
    if (redirectUris.length > MAX_REDIRECT_URIS) return { code: 'invalid_redirect_uri', description: `At most ${MAX_REDIRECT_URIS} redirect URIs may be registered.` };
    if (redirectUris.some((uri) => typeof uri === 'string' && uri.length > MAX_URI_LENGTH)) return { code: 'invalid_redirect_uri', description: `A redirect URI may be at most ${MAX_URI_LENGTH} characters.` };
  }
  if (typeof clientName === 'string' && clientName.length > MAX_CLIENT_NAME_LENGTH) return { code: 'invalid_client_metadata', description: `client_name may be at most ${MAX_CLIENT_NAME_LENGTH} characters.` };
  if (Array.isArray(contacts) && contacts.length > MAX_CONTACTS) return { code: 'invalid_client_metadata', description: `At most ${MAX_CONTACTS} contacts may be registered.` };
  for (const field of URI_FIELDS) {
    const value = metadata[field];
    if (typeof value === 'string' && value.length > MAX_URI_LENGTH) return { code: 'invalid_client_metadata', description: `${field} may be at most ${MAX_URI_LENGTH} characters.` };
  }
  // Internationalised variants (`client_name#fr`, RFC 7591 §2.2) are bounded like their plain field.
  for (const [key, value] of Object.entries(metadata)) {
    if (key.includes('#') && typeof value === 'string' && value.length > MAX_URI_LENGTH) return { code: 'invalid_client_metadata', description: `${key} is too long.` };
  }
  return undefined;
}
