// A local OpenID Connect provider for development and tests, built on
// oidc-provider. Dev-only: in-memory state, fixed accounts, and signing keys that are
// throwaway unless a state directory keeps them.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { Provider, type AdapterFactory, type Configuration, type KoaContext } from 'oidc-provider';

import { findAccountBySub } from './accounts.js';
import { Faults, isFault, type Fault } from './faults.js';
import { logoutPage, messagePage } from './html.js';
import { handleInteraction, interactionPath, matchInteractionRoute, sendHtml } from './interaction.js';
import { SigningKeys } from './keys.js';
import { createMemoryAdapterFactory } from './memory-adapter.js';

export type { Fault, FaultMode } from './faults.js';

export const DEV_CLIENT_ID = 'mcp-worker-dev';
export const DEV_CLIENT_SECRET = 'dev-client-secret-not-for-production';

/**
 * Where a developer's dev IdP (`npm start`, `npm run idp`) keeps its signing keys: beside
 * wrangler's local state, git-ignored. Tests pass a temporary directory, or none.
 */
export const DEV_IDP_STATE_DIR = fileURLToPath(new URL('../../.wrangler/dev-idp', import.meta.url));

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
   * Serve the control endpoints under `/__dev-idp/` (key rotation, faults) to loopback callers,
   * for tests that cannot hold this handle (the workerd tests). Default off.
   */
  control?: boolean;
}

export interface DevIdp {
  /** `http://<host>:<port>`, no trailing slash. */
  issuer: string;
  clientId: string;
  clientSecret: string;
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
  close(): Promise<void>;
}

/** Where the control endpoints live when `control` is on. */
export const CONTROL_PATH = '/__dev-idp';

export async function startDevIdp(options: DevIdpOptions): Promise<DevIdp> {
  const host = options.host ?? 'localhost';
  const clientId = options.clientId ?? DEV_CLIENT_ID;
  const clientSecret = options.clientSecret ?? DEV_CLIENT_SECRET;

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
  // interactions, codes and tokens, and the cookies that name them.
  const shared: SharedState = {
    client: { clientId, clientSecret, redirectUris: options.redirectUris },
    adapter: createMemoryAdapterFactory(),
    cookieKeys: [randomBytes(32).toString('base64url')],
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
      oidc(req, res);
    };
  };
  const rotateKeys = (): string => {
    const key = keys.rotate();
    serve(createProvider(issuer, shared, keys));
    return key.kid;
  };
  const control = async (pathname: string, req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!isLoopbackAddress(req.socket.remoteAddress)) return sendJson(res, 403, { error: 'loopback only' });
    // JSON only: a web page can send a form or plain text to localhost without asking, not JSON.
    if (req.method !== 'DELETE' && !String(req.headers['content-type'] ?? '').startsWith('application/json')) return sendJson(res, 415, { error: 'application/json only' });
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
    keyIds: () => keys.keys.map(({ kid }) => kid),
    rotateKeys,
    injectFault: (fault) => faults.set(fault),
    clearFaults: () => faults.clear(),
    close: () =>
      (closing ??= (async () => {
        faults.clear();
        await closeServers(servers);
      })()),
  };
}

interface SharedState {
  client: { clientId: string; clientSecret: string; redirectUris: string[] };
  adapter: AdapterFactory;
  cookieKeys: string[];
}

function createProvider(issuer: string, shared: SharedState, keys: SigningKeys): Provider {
  const provider = new Provider(issuer, providerConfiguration(shared, keys));
  provider.on('server_error', (_ctx, error) => {
    console.error(`Dev IdP: ${error.message}`);
  });
  return provider;
}

function providerConfiguration({ client, adapter, cookieKeys }: SharedState, keys: SigningKeys): Configuration {
  return {
    adapter,
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
    scopes: ['openid', 'email', 'profile', 'offline_access'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      // `groups` with `profile`: real IdPs vary (Keycloak and Okta a `groups` scope or mapper, Entra ids); one place is enough here.
      profile: ['name', 'groups'],
    },
    // Put the scope-derived claims into the ID token too, not only the userinfo response.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    // Refresh tokens without the offline_access dance; they still end with the session.
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
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
      AccessToken: 60 * 60,
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
