// A local OpenID Connect provider for development and tests, built on
// oidc-provider. Dev-only: in-memory state, fixed accounts, and signing keys that are
// throwaway unless a state directory keeps them.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { Provider, type Configuration, type KoaContext } from 'oidc-provider';

import { findAccountBySub } from './accounts.js';
import { handleApi, isApiPath } from './api.js';
import { Faults, isFault, type Fault } from './faults.js';
import { logoutPage, messagePage } from './html.js';
import { handleInteraction, interactionPath, matchInteractionRoute, sendHtml } from './interaction.js';
import { SigningKeys } from './keys.js';
import { ACCOUNT_GRANT_MODELS, createMemoryStore, type MemoryStore } from './memory-adapter.js';
import { Stats, type DevIdpStats } from './stats.js';

export type { Fault, FaultMode } from './faults.js';
export type { DevIdpStats } from './stats.js';

export const DEV_CLIENT_ID = 'mcp-worker-dev';
export const DEV_CLIENT_SECRET = 'dev-client-secret-not-for-production';

/**
 * Where a developer's dev IdP (`npm start`, `npm run idp`) keeps its signing keys: beside
 * wrangler's local state, git-ignored. Tests pass a temporary directory, or none.
 */
export const DEV_IDP_STATE_DIR = fileURLToPath(new URL('../../.wrangler/dev-idp', import.meta.url));

/** Access-token lifetime when none is given: one hour, oidc-provider's own default and Okta's. */
export const DEFAULT_ACCESS_TOKEN_TTL_SECONDS = 60 * 60;

/**
 * A scope this IdP supports (discovery lists it, `/api/groups` needs it) that the Worker does not ask
 * for by default (its OIDC_SCOPES default is `openid email profile`): tokens without it exercise a
 * missing upstream scope.
 */
export const GROUPS_SCOPE = 'groups';

export interface DevIdpOptions {
  /** 0 picks a free port; `issuer` then carries the real one. */
  port: number;
  /** Defaults to 'localhost'. */
  host?: string;
  /**
   * The issuer to advertise, when the IdP is reached through something in front of it (a proxy on
   * another port, as the resilience suite's fault proxy). Default `http://<host>:<port>`.
   */
  issuer?: string;
  redirectUris: string[];
  clientId?: string;
  clientSecret?: string;
  /**
   * Where the signing keys are kept (`signing-keys.json`, created on first start), so ID tokens
   * signed before a restart still verify after it. Default: a new key in memory at every start.
   */
  stateDir?: string;
  /**
   * Serve the control endpoints under `/__dev-idp/` (key rotation, faults, revocation, stats) to
   * loopback callers, for tests that cannot hold this handle (the workerd tests). Default off.
   */
  control?: boolean;
  /**
   * Lifetime of the access tokens it issues, in seconds (a whole number, at least 1); the token
   * response's `expires_in` says the same. Default 3600 (DEFAULT_ACCESS_TOKEN_TTL_SECONDS). Short
   * lifetimes make the Worker refresh its upstream token (`npm start` takes it from
   * IDP_ACCESS_TOKEN_TTL_SECONDS, settings.ts). Refresh tokens keep their own lifetime (a day, and
   * never beyond the IdP session).
   */
  accessTokenTtlSeconds?: number;
}

export interface DevIdp {
  /** `http://<host>:<port>`, no trailing slash. */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** The lifetime of the access tokens it issues, in seconds (`expires_in`). */
  accessTokenTtlSeconds: number;
  /** The `kid`s of the published signing keys, the one that signs first. */
  keyIds(): string[];
  /**
   * Rotates the signing key: a new one signs from now on, the previous one stays published (and is
   * dropped at the next rotation). Saved in `stateDir`, if any. Sessions and codes survive it.
   * Returns the new key's `kid`.
   */
  rotateKeys(): string;
  /** Makes requests to `fault.path` hang or get garbage (see faults.ts), until cleared or `fault.times` requests. */
  injectFault(fault: Fault): void;
  /** Every fault off; hanging requests are answered 503. */
  clearFaults(): void;
  /**
   * As if user `sub` removed the app at the IdP: every grant of theirs goes, with its refresh tokens,
   * access tokens and unused codes. Refresh then fails `invalid_grant` and the API answers 401
   * `invalid_token`. The user's IdP session stays (they are still signed in there; a new
   * authorization is granted again without a form). Returns how many records went (0: nothing to revoke).
   */
  revoke(sub: string): number;
  /**
   * User `sub`'s access tokens stop working now, as if they had expired (the API and userinfo answer
   * 401 `invalid_token`); their refresh tokens still work. Returns how many went. For tests that cannot
   * wait out `accessTokenTtlSeconds`.
   */
  expireAccessTokens(sub: string): number;
  /** Every access and refresh token issued since start, as presented: for tests that look for leaks. */
  issuedTokens(): string[];
  /** What was counted since start or the last `resetStats()` (a copy). */
  stats(): DevIdpStats;
  resetStats(): void;
  close(): Promise<void>;
}

/** Where the control endpoints live when `control` is on. */
export const CONTROL_PATH = '/__dev-idp';

export async function startDevIdp(options: DevIdpOptions): Promise<DevIdp> {
  const host = options.host ?? 'localhost';
  const clientId = options.clientId ?? DEV_CLIENT_ID;
  const clientSecret = options.clientSecret ?? DEV_CLIENT_SECRET;
  const accessTokenTtlSeconds = options.accessTokenTtlSeconds ?? DEFAULT_ACCESS_TOKEN_TTL_SECONDS;
  // Checked before listening: a bad option fails the start, not the first token request.
  if (!Number.isSafeInteger(accessTokenTtlSeconds) || accessTokenTtlSeconds < 1) {
    throw new RangeError(`Dev IdP: accessTokenTtlSeconds must be a whole number of seconds, at least 1, got ${String(accessTokenTtlSeconds)}`);
  }

  // The issuer must be known before the Provider exists, and with port 0 the port is
  // only known after listening, so listen first with a handler that is filled in below.
  let handler: RequestListener = (_req, res) => {
    res.statusCode = 503;
    res.end();
  };
  const { servers, port } = await listen(host, options.port, (req, res) => handler(req, res));
  const issuer = options.issuer ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  const faults = new Faults();
  let keys: SigningKeys;
  // What every Provider of this IdP shares, so that a key rotation (a new Provider) keeps sessions,
  // interactions, codes and tokens, the cookies that name them, and the counts.
  const shared: SharedState = {
    client: { clientId, clientSecret, redirectUris: options.redirectUris },
    store: createMemoryStore(),
    cookieKeys: [randomBytes(32).toString('base64url')],
    accessTokenTtlSeconds,
    stats: new Stats(),
  };
  const serve = (provider: Provider): void => {
    const oidc = requestHandler(provider);
    handler = (req, res) => {
      const { pathname } = new URL(req.url ?? '/', 'http://dev-idp.invalid');
      if (options.control === true && (pathname === CONTROL_PATH || pathname.startsWith(`${CONTROL_PATH}/`))) {
        control(pathname, req, res).catch((error: unknown) => {
          if (!res.headersSent) sendJson(res, 500, { error: error instanceof Error ? error.message : String(error) });
        });
        return;
      }
      if (faults.apply(pathname, req, res)) return;
      if (isApiPath(pathname)) {
        shared.stats.apiCall();
        handleApi(provider, pathname, req, res).catch((error: unknown) => {
          console.error(`Dev IdP: ${error instanceof Error ? error.message : String(error)}`);
          if (!res.headersSent) sendJson(res, 500, { error: 'server_error' });
        });
        return;
      }
      oidc(req, res);
    };
  };
  const revoke = (sub: string): number => shared.store.destroyAccountRecords(sub, ACCOUNT_GRANT_MODELS);
  const expireAccessTokens = (sub: string): number => shared.store.destroyAccountRecords(sub, ACCESS_TOKEN_MODEL);
  const rotateKeys = (): string => {
    const key = keys.rotate();
    serve(createProvider(issuer, shared, keys));
    return key.kid;
  };
  const control = async (pathname: string, req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!isLoopbackAddress(req.socket.remoteAddress)) return sendJson(res, 403, { error: 'loopback only' });
    // JSON only: a web page can send a form or plain text to localhost without asking, not JSON. A GET
    // changes nothing, and without CORS headers the page cannot read the answer.
    if (req.method !== 'DELETE' && req.method !== 'GET' && !String(req.headers['content-type'] ?? '').startsWith('application/json')) return sendJson(res, 415, { error: 'application/json only' });
    const body = req.method === 'POST' ? await readJson(req) : undefined;
    if (pathname === `${CONTROL_PATH}/rotate-keys` && req.method === 'POST') return sendJson(res, 200, { kid: rotateKeys(), keys: keys.keys.map(({ kid }) => kid) });
    if (pathname === `${CONTROL_PATH}/faults` && req.method === 'POST') {
      if (!isFault(body)) return sendJson(res, 400, { error: 'expected {"path": "/…", "mode": "hang"|"html"|"http-500"|"oauth-500"|"invalid-json", "times"?: n}' });
      faults.set(body);
      return sendJson(res, 204);
    }
    if (pathname === `${CONTROL_PATH}/faults` && req.method === 'DELETE') {
      faults.clear();
      return sendJson(res, 204);
    }
    if ((pathname === `${CONTROL_PATH}/revoke` || pathname === `${CONTROL_PATH}/expire-access-tokens`) && req.method === 'POST') {
      const sub: unknown = typeof body === 'object' && body !== null ? Reflect.get(body, 'sub') : undefined;
      if (typeof sub !== 'string' || sub === '') return sendJson(res, 400, { error: 'expected {"sub": "…"}' });
      return sendJson(res, 200, { sub, destroyed: pathname.endsWith('/revoke') ? revoke(sub) : expireAccessTokens(sub) });
    }
    if (pathname === `${CONTROL_PATH}/stats` && req.method === 'GET') return sendJson(res, 200, shared.stats.snapshot());
    if (pathname === `${CONTROL_PATH}/stats/reset` && req.method === 'POST') {
      shared.stats.reset();
      return sendJson(res, 204);
    }
    return sendJson(res, 404, { error: 'no such control endpoint' });
  };

  try {
    keys = SigningKeys.load(options.stateDir);
    serve(createProvider(issuer, shared, keys));
  } catch (error) {
    await closeServers(servers);
    throw error;
  }

  let closing: Promise<void> | undefined;
  return {
    issuer,
    clientId,
    clientSecret,
    accessTokenTtlSeconds,
    keyIds: () => keys.keys.map(({ kid }) => kid),
    rotateKeys,
    injectFault: (fault) => faults.set(fault),
    clearFaults: () => faults.clear(),
    revoke,
    expireAccessTokens,
    issuedTokens: () => shared.store.issuedTokens(),
    stats: () => shared.stats.snapshot(),
    resetStats: () => shared.stats.reset(),
    close: () =>
      (closing ??= (async () => {
        faults.clear();
        await closeServers(servers);
      })()),
  };
}

const ACCESS_TOKEN_MODEL: ReadonlySet<string> = new Set(['AccessToken']);

interface SharedState {
  client: { clientId: string; clientSecret: string; redirectUris: string[] };
  store: MemoryStore;
  cookieKeys: string[];
  accessTokenTtlSeconds: number;
  stats: Stats;
}

function createProvider(issuer: string, shared: SharedState, keys: SigningKeys): Provider {
  const provider = new Provider(issuer, providerConfiguration(shared, keys));
  provider.on('server_error', (_ctx, error) => {
    console.error(`Dev IdP: ${error.message}`);
  });
  // The token endpoint's outcome events (lib/actions/token.js emits grant.success, its error handler
  // grant.error; a crash is server_error): every answered request ends in one of them. The refresh
  // token's subject is known once the grant handler has loaded it.
  const countTokenRequest = (ctx: KoaContext): void => {
    shared.stats.tokenRequest(ctx.oidc?.params?.['grant_type'], ctx.oidc?.entities.RefreshToken?.accountId);
  };
  provider.on('grant.success', countTokenRequest);
  provider.on('grant.error', countTokenRequest);
  return provider;
}

function providerConfiguration({ client, store, cookieKeys, accessTokenTtlSeconds }: SharedState, keys: SigningKeys): Configuration {
  return {
    adapter: store.factory,
    // The first key signs; the others are published so that what they signed still verifies.
    jwks: { keys: keys.keys.map((key) => ({ ...key })) },
    cookies: { keys: cookieKeys },
    clients: [
      {
        client_id: client.clientId,
        client_secret: client.clientSecret,
        redirect_uris: client.redirectUris,
        // oidc-provider also accepts client_secret_post from a client registered for
        // client_secret_basic (and vice versa), so one method covers both.
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        id_token_signed_response_alg: 'RS256',
      },
    ],
    responseTypes: ['code'],
    scopes: ['openid', 'email', 'profile', 'offline_access', GROUPS_SCOPE],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      // `groups` with `profile`: real IdPs vary (Keycloak and Okta a `groups` scope or mapper, Entra ids); the
      // Worker's ADMIN_GROUPS relies on it coming with the default scopes.
      profile: ['name', 'groups'],
      // Also a scope of its own, which /api/groups needs (api.ts) and the Worker does not ask for by default.
      [GROUPS_SCOPE]: ['groups'],
    },
    // Put the scope-derived claims into the ID token too, not only the userinfo response.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    // Refresh tokens without the offline_access dance; they still end with the session.
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    // A new refresh token at every refresh, as RFC 9700 §4.14.2 recommends and IdPs with rotation on
    // (Okta, Auth0) do: the used one is consumed. Presented again, it gets invalid_grant, and
    // oidc-provider (lib/actions/grants/refresh_token.js) takes that for theft and revokes the whole
    // grant: the newest refresh and access tokens die with it. (The library's default rotates a
    // confidential client's token only after 70% of its lifetime.)
    rotateRefreshToken: true,
    // The only client is a server-side one; no browser origin needs CORS access.
    clientBasedCORS: () => false,
    findAccount: (_ctx, sub) => {
      const account = findAccountBySub(sub);
      return account === undefined ? undefined : { accountId: account.sub, claims: () => ({ ...account }) };
    },
    interactions: { url: (_ctx, interaction) => interactionPath(interaction.uid) },
    features: {
      devInteractions: { enabled: false },
      userinfo: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: (ctx, form) => htmlBody(ctx, logoutPage(form)),
        postLogoutSuccessSource: (ctx) => htmlBody(ctx, messagePage('Dev IdP — signed out', 'You are signed out.')),
      },
    },
    renderError: (ctx, out) => {
      htmlBody(ctx, messagePage('Dev IdP — error', `${out.error}: ${out.error_description ?? ''}`));
    },
    // Explicit lifetimes (seconds); the library logs a notice for each default it uses.
    ttl: {
      AccessToken: accessTokenTtlSeconds,
      AuthorizationCode: 60,
      IdToken: 60 * 60,
      RefreshToken: 24 * 60 * 60,
      Grant: 24 * 60 * 60,
      Session: 24 * 60 * 60,
      Interaction: 10 * 60,
    },
  };
}

function htmlBody(ctx: KoaContext, html: string): void {
  ctx.type = 'html';
  ctx.body = html;
}

function isLoopbackAddress(address: string | undefined): boolean {
  return address === '127.0.0.1' || address === '::1' || address === '::ffff:127.0.0.1';
}

function sendJson(res: ServerResponse, status: number, body?: unknown): void {
  res.statusCode = status;
  res.setHeader('Cache-Control', 'no-store');
  if (body === undefined) {
    res.end();
    return;
  }
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const bytes: Buffer = chunk;
    size += bytes.byteLength;
    if (size > 4096) throw new Error('body too large');
    chunks.push(bytes);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  } catch {
    return undefined;
  }
}

function requestHandler(provider: Provider): RequestListener {
  const oidc = provider.callback();
  return (req: IncomingMessage, res: ServerResponse) => {
    const { pathname } = new URL(req.url ?? '/', 'http://dev-idp.invalid');
    const route = matchInteractionRoute(req.method, pathname);
    const handled = route === undefined ? oidc(req, res) : handleInteraction(provider, route, req, res);
    handled.catch((error: unknown) => {
      console.error(`Dev IdP: ${error instanceof Error ? error.message : String(error)}`);
      if (!res.headersSent) sendHtml(res, 500, messagePage('Dev IdP — error', 'Internal error.'));
    });
  };
}

/**
 * Listens on `host`. For 'localhost' it binds 127.0.0.1 and, where the machine has
 * IPv6, ::1 on the same port, because browsers and runtimes differ in which one
 * "localhost" resolves to first.
 */
async function listen(host: string, port: number, listener: RequestListener): Promise<{ servers: Server[]; port: number }> {
  if (host !== 'localhost') {
    const server = await listenOne(host, port, listener);
    return { servers: [server], port: boundPort(server) };
  }
  const ipv4 = await listenOne('127.0.0.1', port, listener);
  const actualPort = boundPort(ipv4);
  try {
    const ipv6 = await listenOne('::1', actualPort, listener);
    return { servers: [ipv4, ipv6], port: actualPort };
  } catch (error) {
    const code = error instanceof Error && 'code' in error ? error.code : undefined;
    if (code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT') return { servers: [ipv4], port: actualPort };
    await closeServers([ipv4]);
    throw error;
  }
}

function listenOne(host: string, port: number, listener: RequestListener): Promise<Server> {
  const server = createServer(listener);
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve(server);
    });
  });
}

function boundPort(server: Server): number {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('Dev IdP: server has no TCP address');
  return address.port;
}

async function closeServers(servers: readonly Server[]): Promise<void> {
  await Promise.all(
    servers.map(
      (server) =>
        new Promise<void>((resolve, reject) => {
          server.close((error) => (error === undefined ? resolve() : reject(error)));
          // Keep-alive connections would otherwise hold close() open until they time out.
          server.closeAllConnections();
        }),
    ),
  );
}
