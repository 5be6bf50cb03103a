/**
 * The OAuth client side of an MCP connection, as a gateway such as MCP Manager performs it:
 * discovery from the 401 challenge, dynamic registration, PKCE S256, code exchange, refresh and
 * revocation. One function per protocol step, all through oauth4webapi.
 */
import * as oauth from 'oauth4webapi';
import { isLoopbackHostname, urlProblem } from '../doctor/url-policy.ts';

export interface Discovery {
  /** The 401 challenge's `resource_metadata`, when there was one. */
  resourceMetadataUrl: string | undefined;
  resourceMetadata: { resource: string; authorization_servers?: string[]; scopes_supported?: string[] } & Record<string, unknown>;
  server: oauth.AuthorizationServer;
}

export interface RegisteredClient {
  client: oauth.Client;
  clientSecret: string | undefined;
  auth: oauth.ClientAuth;
}

/** Plain http is acceptable only for a server on this machine (localhost, 127.0.0.0/8, [::1]). */
export function httpOptions(url: string | URL): { [oauth.allowInsecureRequests]: boolean } {
  const { protocol, hostname } = new URL(url);
  return { [oauth.allowInsecureRequests]: protocol === 'http:' && isLoopbackHostname(hostname) };
}

/**
 * A URL a server handed out, checked before it is fetched or opened: https, or http on loopback
 * (OAuth 2.1 §1.5; the doctor's url-policy.ts). Throws, naming the field, otherwise.
 */
function serverUrl(name: string, value: string): URL {
  const problem = urlProblem(value);
  if (problem) throw new Error(`${name} ${JSON.stringify(value)} ${problem}: not fetched`);
  return new URL(value);
}

/** Every request here gives up after this long: a server that never answers fails the step, not the run. */
export const REQUEST_TIMEOUT_MS = 30_000;

/** oauth4webapi's options for a request to `url`: plain http on loopback only, and the deadline. */
function requestOptions(url: string | URL): { [oauth.allowInsecureRequests]: boolean; signal: AbortSignal } {
  return { ...httpOptions(url), signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) };
}

/** Reads `resource_metadata` from a `WWW-Authenticate: Bearer …` header. */
export function resourceMetadataFromChallenge(header: string | null): string | undefined {
  return header?.match(/resource_metadata="([^"]+)"/)?.[1];
}

export async function discover(mcpUrl: string): Promise<Discovery> {
  const unauthenticated = await fetch(mcpUrl, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'ping' }),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  await unauthenticated.body?.cancel();
  const resourceMetadataUrl = resourceMetadataFromChallenge(unauthenticated.headers.get('www-authenticate'));
  const prmUrl = serverUrl('resource_metadata', resourceMetadataUrl ?? new URL('/.well-known/oauth-protected-resource', mcpUrl).href);
  // A redirect would lead to a URL nobody checked: refused, not followed.
  const prmResponse = await fetch(prmUrl, { redirect: 'error', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  if (!prmResponse.ok) throw new Error(`protected resource metadata at ${prmUrl.href}: HTTP ${prmResponse.status}`);
  const text = await prmResponse.text();
  let resourceMetadata: unknown;
  try {
    resourceMetadata = JSON.parse(text);
  } catch {
    throw new Error(`protected resource metadata at ${prmUrl.href} is not JSON (${prmResponse.headers.get('content-type') ?? 'no Content-Type'})`);
  }
  if (typeof resourceMetadata !== 'object' || resourceMetadata === null || Array.isArray(resourceMetadata)) throw new Error(`protected resource metadata at ${prmUrl.href} is not a JSON object`);
  const servers: unknown = Reflect.get(resourceMetadata, 'authorization_servers');
  const issuer = Array.isArray(servers) ? servers.find((entry): entry is string => typeof entry === 'string') : undefined;
  if (!issuer) throw new Error('protected resource metadata names no authorization server');
  const issuerUrl = serverUrl('authorization server', issuer);
  const server = await oauth.processDiscoveryResponse(issuerUrl, await oauth.discoveryRequest(issuerUrl, { ...requestOptions(issuerUrl), algorithm: 'oauth2' }));
  // A shape checked above (an object with authorization_servers); the rest is read as the server sent it.
  return { resourceMetadataUrl, resourceMetadata: resourceMetadata as Discovery['resourceMetadata'], server };
}

export async function registerClient(server: oauth.AuthorizationServer, metadata: Partial<oauth.OmitSymbolProperties<oauth.Client>> & { redirect_uris: string[] }): Promise<RegisteredClient> {
  const response = await oauth.dynamicClientRegistrationRequest(server, { grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], ...metadata }, requestOptions(server.issuer));
  const client = await oauth.processDynamicClientRegistrationResponse(response);
  const clientSecret = typeof client.client_secret === 'string' ? client.client_secret : undefined;
  const method = client.token_endpoint_auth_method ?? 'client_secret_basic';
  const auth = method === 'none' || !clientSecret ? oauth.None() : method === 'client_secret_post' ? oauth.ClientSecretPost(clientSecret) : oauth.ClientSecretBasic(clientSecret);
  return { client, clientSecret, auth };
}

export interface AuthorizationStart {
  url: URL;
  state: string;
  codeVerifier: string;
  redirectUri: string;
}

export async function startAuthorization(
  server: oauth.AuthorizationServer,
  client: oauth.Client,
  options: { redirectUri: string; resource?: string; scope?: string },
): Promise<AuthorizationStart> {
  if (!server.authorization_endpoint) throw new Error('authorization server metadata has no authorization_endpoint');
  const codeVerifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  // Checked again here: this URL is handed to a browser.
  const url = serverUrl('authorization_endpoint', server.authorization_endpoint);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', client.client_id);
  url.searchParams.set('redirect_uri', options.redirectUri);
  url.searchParams.set('state', state);
  url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(codeVerifier));
  url.searchParams.set('code_challenge_method', 'S256');
  if (options.resource) url.searchParams.set('resource', options.resource);
  if (options.scope) url.searchParams.set('scope', options.scope);
  return { url, state, codeVerifier, redirectUri: options.redirectUri };
}

/** Validates the redirect back (state, `iss` per RFC 9207, `error`) and exchanges the code. */
export async function exchangeCode(server: oauth.AuthorizationServer, registered: RegisteredClient, start: AuthorizationStart, callback: URL, resource?: string): Promise<oauth.TokenEndpointResponse> {
  const params = oauth.validateAuthResponse(server, registered.client, callback, start.state);
  const response = await oauth.authorizationCodeGrantRequest(server, registered.client, registered.auth, params, start.redirectUri, start.codeVerifier, {
    ...requestOptions(server.issuer),
    ...(resource ? { additionalParameters: { resource } } : {}),
  });
  return oauth.processAuthorizationCodeResponse(server, registered.client, response);
}

export async function refresh(server: oauth.AuthorizationServer, registered: RegisteredClient, refreshToken: string): Promise<oauth.TokenEndpointResponse> {
  const response = await oauth.refreshTokenGrantRequest(server, registered.client, registered.auth, refreshToken, requestOptions(server.issuer));
  return oauth.processRefreshTokenResponse(server, registered.client, response);
}

export async function revoke(server: oauth.AuthorizationServer, registered: RegisteredClient, token: string): Promise<void> {
  const response = await oauth.revocationRequest(server, registered.client, registered.auth, token, requestOptions(server.issuer));
  await oauth.processRevocationResponse(response);
}
