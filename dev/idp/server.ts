// A local OpenID Connect provider for development and tests, built on
// oidc-provider. Dev-only: in-memory state, throwaway keys, fixed accounts.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { Provider, type Configuration, type KoaContext } from 'oidc-provider';

import { findAccountBySub } from './accounts.js';
import { logoutPage, messagePage } from './html.js';
import { handleInteraction, interactionPath, matchInteractionRoute, sendHtml } from './interaction.js';
import { createMemoryAdapterFactory } from './memory-adapter.js';

export const DEV_CLIENT_ID = 'mcp-worker-dev';
export const DEV_CLIENT_SECRET = 'dev-client-secret-not-for-production';

export interface DevIdpOptions {
  /** 0 picks a free port; `issuer` then carries the real one. */
  port: number;
  /** Defaults to 'localhost'. */
  host?: string;
  redirectUris: string[];
  clientId?: string;
  clientSecret?: string;
}

export interface DevIdp {
  /** `http://<host>:<port>`, no trailing slash. */
  issuer: string;
  clientId: string;
  clientSecret: string;
  close(): Promise<void>;
}

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
  const issuer = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  try {
    const provider = new Provider(issuer, providerConfiguration({ clientId, clientSecret, redirectUris: options.redirectUris }));
    provider.on('server_error', (_ctx, error) => {
      console.error(`Dev IdP: ${error.message}`);
    });
    handler = requestHandler(provider);
  } catch (error) {
    await closeServers(servers);
    throw error;
  }

  let closing: Promise<void> | undefined;
  return {
    issuer,
    clientId,
    clientSecret,
    close: () => (closing ??= closeServers(servers)),
  };
}

function providerConfiguration(client: { clientId: string; clientSecret: string; redirectUris: string[] }): Configuration {
  // A fresh RSA key per start: tokens from a previous run simply stop verifying.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const signingKey: JsonWebKey = { ...privateKey.export({ format: 'jwk' }), alg: 'RS256', use: 'sig' };

  return {
    adapter: createMemoryAdapterFactory(),
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
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
      profile: ['name'],
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
