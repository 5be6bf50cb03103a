/**
 * The requests the OAuth provider and the sign-in app read without authentication, screened first:
 * bodies capped before they are read, identifiers bounded before they become KV keys, metadata
 * document URLs checked before anything is fetched, and resource aliases mapped to the canonical
 * resource. Each refusal is the error its endpoint's specification names; nothing here can answer 500.
 *
 * - GET /authorize: an over-long `client_id`, or one that is a URL this server must not fetch, gets
 *   an error page (never a redirect: the client is not known, RFC 9700 §4.11.2).
 * - POST /authorize (the consent form): form-encoded only (415 otherwise), at most 16 KiB (413).
 * - POST /token (code exchange, refresh, revocation): at most 64 KiB (413, `invalid_request`).
 *   Over-long or unfetchable client ids, and over-long tokens, are replaced by values that match
 *   nothing, so the provider answers `invalid_client`, `invalid_grant` or (revocation) 200 exactly
 *   as it would for any unknown one. A `client_id` that merely repeats the HTTP Basic credentials is
 *   dropped: many OAuth libraries send both, which RFC 6749 does not forbid (§2.3.1 only forbids two
 *   ways of authenticating), and the provider would refuse it as "multiple authentication methods".
 * - POST /register: at most 64 KiB (413, `invalid_client_metadata`).
 */
import { errorPage, pageHeaders } from '../auth/pages';
import { canonicalResourceParams, withCanonicalResourceQuery } from '../resource';
import { isUrlClientId, unsafeClientIdUrl } from './client-id-url';
import { boundedToken, byteLength, MAX_CLIENT_ID_BYTES, MAX_CONSENT_FORM_BYTES, MAX_OAUTH_BODY_BYTES, NO_SUCH_CLIENT, readCapped } from './input-limits';

export interface OAuthPaths {
  authorize: string;
  token: string;
  register: string;
}

/** Token parameters whose values the provider splits into KV keys. */
const TOKEN_PARAMETERS = ['code', 'refresh_token', 'token'];

/** The request to pass on (with its body read and bounded, where it has one), or the answer to send. */
export async function screenOAuthRequest(request: Request, url: URL, canonical: string, paths: OAuthPaths): Promise<Request | Response> {
  if (url.pathname === paths.authorize) return request.method === 'POST' ? screenConsentForm(request) : screenAuthorization(request, url, canonical);
  if (request.method !== 'POST') return request;
  if (url.pathname === paths.token) return screenTokenRequest(request, canonical);
  if (url.pathname === paths.register) {
    const body = await readCapped(request, MAX_OAUTH_BODY_BYTES);
    if (!body) return oauthError(413, 'invalid_client_metadata', `The registration request is larger than ${MAX_OAUTH_BODY_BYTES} bytes.`);
    return new Request(request, { body });
  }
  return request;
}

async function screenAuthorization(request: Request, url: URL, canonical: string): Promise<Request | Response> {
  const clientId = url.searchParams.get('client_id');
  if (clientId !== null) {
    if (byteLength(clientId) > MAX_CLIENT_ID_BYTES) return page(400, 'This sign-in request cannot continue', 'The app sent an identifier that is not valid.');
    const unsafe = isUrlClientId(clientId) ? unsafeClientIdUrl(clientId) : undefined;
    if (unsafe) {
      // The attacker-chosen URL itself is not logged (it may be long or carry markup); the reason is.
      console.warn(JSON.stringify({ event: 'cimd_refused', reason: unsafe }));
      return page(400, 'This app could not be verified', "The app's identifier is not the address of a public client metadata document.");
    }
  }
  return withCanonicalResourceQuery(request, url, canonical);
}

async function screenConsentForm(request: Request): Promise<Request | Response> {
  const type = request.headers.get('content-type')?.split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') return page(415, 'This sign-in request cannot continue', 'The form was not sent the way this page sends it; start again from the app.');
  const body = await readCapped(request, MAX_CONSENT_FORM_BYTES);
  if (!body) return page(413, 'This sign-in request cannot continue', 'The form was too large; start again from the app.');
  return new Request(request, { body });
}

async function screenTokenRequest(request: Request, canonical: string): Promise<Request | Response> {
  const body = await readCapped(request, MAX_OAUTH_BODY_BYTES);
  if (!body) return oauthError(413, 'invalid_request', `The token request is larger than ${MAX_OAUTH_BODY_BYTES} bytes.`);
  const type = request.headers.get('content-type')?.split(';')[0]?.trim().toLowerCase();
  // Anything else the provider refuses itself, with the error RFC 6749 names.
  if (type !== 'application/x-www-form-urlencoded') return new Request(request, { body });

  const headers = new Headers(request.headers);
  const basic = basicCredentials(headers.get('Authorization'));
  if (basic && clientIdProblem(basic.clientId)) headers.set('Authorization', `Basic ${btoa(`${NO_SUCH_CLIENT}:-`)}`);

  const form = new URLSearchParams(new TextDecoder().decode(body));
  const params = canonicalResourceParams(form, canonical) ?? form;
  const screened = new URLSearchParams();
  for (const [key, value] of params) {
    if (key === 'client_id' && basic !== undefined && value === basic.clientId && params.getAll('client_id').length === 1) continue;
    if (key === 'client_id') screened.append(key, clientIdProblem(value) ? NO_SUCH_CLIENT : value);
    else screened.append(key, TOKEN_PARAMETERS.includes(key) ? boundedToken(value) : value);
  }
  headers.delete('content-length');
  return new Request(request, { headers, body: screened.toString() });
}

/**
 * A (screened) token request, read once: the client it names (HTTP Basic first, else the `client_id`
 * parameter; undefined when it names none) and its form, for the rate limit per client and the audit
 * trail. Reads a copy of the body, which screening has already bounded.
 */
export async function readTokenRequest(request: Request): Promise<TokenRequest> {
  const form = request.headers.get('content-type')?.split(';')[0]?.trim().toLowerCase() === 'application/x-www-form-urlencoded' ? new URLSearchParams(await request.clone().text()) : undefined;
  return { clientId: basicCredentials(request.headers.get('Authorization'))?.clientId ?? form?.get('client_id') ?? undefined, form };
}

/** A /token request as read once, from a copy of its (screened, bounded) body: its client and its form. */
export interface TokenRequest {
  clientId: string | undefined;
  form: URLSearchParams | undefined;
}

/** Why a client id cannot be one of ours (and must not be fetched), or undefined. */
function clientIdProblem(clientId: string): string | undefined {
  if (byteLength(clientId) > MAX_CLIENT_ID_BYTES) return 'too long';
  if (isUrlClientId(clientId)) {
    const unsafe = unsafeClientIdUrl(clientId);
    if (unsafe) console.warn(JSON.stringify({ event: 'cimd_refused', reason: unsafe }));
    return unsafe;
  }
  return undefined;
}

/** The client id in an HTTP Basic `Authorization` header (RFC 6749 §2.3.1: form-urlencoded, then base64). */
function basicCredentials(header: string | null): { clientId: string } | undefined {
  if (!header?.toLowerCase().startsWith('basic ')) return undefined;
  try {
    const decoded = atob(header.slice(6).trim());
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    return { clientId: decodeURIComponent(decoded.slice(0, colon).replaceAll('+', ' ')) };
  } catch {
    return undefined; // malformed: the provider refuses it itself
  }
}

function oauthError(status: number, error: string, description: string): Response {
  return Response.json({ error, error_description: description }, { status, headers: { 'Cache-Control': 'no-store' } });
}

async function page(status: number, title: string, message: string): Promise<Response> {
  return new Response(await errorPage(title, message), { status, headers: pageHeaders() });
}
