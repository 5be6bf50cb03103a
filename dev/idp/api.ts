// A small protected API beside the IdP, standing in for the upstream APIs the Worker calls as the
// user with their upstream access token (the "token vault"): it accepts this IdP's access tokens and
// answers as a resource server does under RFC 6750, so the Worker's handling of an expired, revoked
// or under-scoped upstream token can be tested against a real one.
//   GET /api/me      needs `profile`: who the token is for
//   GET /api/groups  needs `groups`, a scope the IdP supports but the Worker does not ask for by
//                    default (OIDC_SCOPES), for tests of a missing upstream scope (step-up)
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AccessToken, Provider } from 'oidc-provider';

import { findAccountBySub, type DevAccount } from './accounts.js';

/** Where the API lives. */
export const API_PATH = '/api';

interface Endpoint {
  /** The scope a token must carry, else 403 insufficient_scope naming it. */
  readonly scope: string;
  readonly body: (account: DevAccount, token: AccessToken) => Record<string, unknown>;
}

const ENDPOINTS: Readonly<Record<string, Endpoint>> = {
  [`${API_PATH}/me`]: {
    scope: 'profile',
    // `groups` only with the `groups` scope, as an API gates data by scope; the ID token's `groups` claim comes with `profile` (server.ts).
    body: ({ sub, email, name, groups }, token) => ({ sub, email, name, ...(token.scopes.has('groups') ? { groups } : {}), scope: token.scope ?? '' }),
  },
  [`${API_PATH}/groups`]: {
    scope: 'groups',
    body: ({ sub, groups }) => ({ sub, groups }),
  },
};

export function isApiPath(pathname: string): boolean {
  return pathname === API_PATH || pathname.startsWith(`${API_PATH}/`);
}

/**
 * Answers an `/api/…` request. Errors follow RFC 6750 §3: no token, 401 with a bare challenge (§3.1:
 * no error code when the request carried no credentials, as oidc-provider's userinfo does); a token
 * unknown, expired or revoked, 401 `invalid_token`; a token without the endpoint's scope, 403
 * `insufficient_scope` with the `scope` it needs.
 */
export async function handleApi(provider: Provider, pathname: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  req.resume(); // no endpoint takes a body
  const endpoint = ENDPOINTS[pathname];
  if (endpoint === undefined) return send(res, 404, { error: 'not_found' });
  if (req.method !== 'GET') {
    res.setHeader('Allow', 'GET');
    return send(res, 405, { error: 'method_not_allowed' });
  }
  const realm = `realm="${provider.issuer}"`;
  const value = bearerToken(req.headers.authorization);
  if (value === undefined) {
    res.setHeader('WWW-Authenticate', `Bearer ${realm}`);
    return send(res, 401, { error: 'invalid_token', error_description: 'no access token provided' });
  }
  const token = await validToken(provider, value);
  const account = token === undefined ? undefined : findAccountBySub(token.accountId);
  if (token === undefined || account === undefined) {
    res.setHeader('WWW-Authenticate', `Bearer ${realm}, error="invalid_token", error_description="invalid token provided"`);
    return send(res, 401, { error: 'invalid_token', error_description: 'invalid token provided' });
  }
  if (!token.scopes.has(endpoint.scope)) {
    res.setHeader('WWW-Authenticate', `Bearer ${realm}, error="insufficient_scope", error_description="access token missing required scope", scope="${endpoint.scope}"`);
    return send(res, 403, { error: 'insufficient_scope', error_description: 'access token missing required scope', scope: endpoint.scope });
  }
  send(res, 200, endpoint.body(account, token));
}

/** The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, RFC 9110 §11.1); only the header is accepted. */
function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer +([\w\-.~+/]+=*)$/i.exec(header ?? '');
  return match?.[1];
}

/**
 * The access token, if it is live: known (not revoked), unexpired (find() checks `exp`), its grant
 * still there (a revoked grant takes its tokens along, as userinfo checks), and a plain bearer token
 * for this IdP (not one bound to a DPoP key or issued for another resource).
 */
async function validToken(provider: Provider, value: string): Promise<AccessToken | undefined> {
  const token = await provider.AccessToken.find(value);
  if (token === undefined || token.isExpired || token.aud !== undefined || token.jkt !== undefined) return undefined;
  const grant = await provider.Grant.find(token.grantId);
  if (grant === undefined || grant.accountId !== token.accountId || grant.clientId !== token.clientId) return undefined;
  return token;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(JSON.stringify(body));
}
