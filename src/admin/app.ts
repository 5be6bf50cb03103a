/**
 * Administration API, for what self-registration does not cover: pre-registering a client (MCP
 * Manager's "OAuth with a pre-registered client" mode: its id, secret and fixed callback entered at
 * the gateway), removing clients, and listing or revoking a user's grants.
 *
 * Off unless the `ADMIN_TOKEN` secret is set; then every request needs `Authorization: Bearer
 * <ADMIN_TOKEN>`. Without it the routes answer 404, as if they did not exist.
 *
 * POST   /admin/clients                          { client_name, redirect_uris, token_endpoint_auth_method? }
 * GET    /admin/clients[?cursor=]
 * DELETE /admin/clients/:clientId                 also revokes the client's grants and tokens
 * GET    /admin/users/:userId/grants[?cursor=]
 * DELETE /admin/users/:userId/grants/:grantId
 * GET    /admin/audit[?since=&until=&user=&client=&type=&limit=&cursor=]   JSON Lines (./audit.ts)
 *
 * Every request is recorded in the audit trail as `admin.action` (a refused token too), and
 * changes also as what they did (`client.registered`, `client.deleted`, `grant.revoked`).
 */
import type { ClientInfo } from '@cloudflare/workers-oauth-provider';
import { Hono } from 'hono';
import { z } from 'zod';
import { audit } from '../audit/recorder';
import type { AuthEnv } from '../auth/app';
import { forgetTrusted, markTrusted } from '../auth/trusted-clients';
import { loadConfig } from '../config';
import { readGrant } from '../storage/grant-records';
import { revokeGrant } from '../storage/revoke-grant';
import { redirectUriProblem } from './redirect-uris';
import { sameSecret } from '../crypto';
import { auditExport } from './audit';

const NewClient = z.object({
  client_name: z.string().min(1).max(200),
  redirect_uris: z.array(z.string().url()).min(1).max(20),
  token_endpoint_auth_method: z.enum(['client_secret_basic', 'client_secret_post', 'none']).default('client_secret_basic'),
});

export const adminApp = new Hono<AuthEnv>();

adminApp.use('*', async (c, next) => {
  const { adminToken } = loadConfig(c.env);
  if (adminToken === undefined) return c.notFound();
  const presented = /^Bearer (.+)$/.exec(c.req.header('Authorization') ?? '')?.[1];
  if (presented === undefined || !(await sameSecret(presented, adminToken))) {
    audit({ type: 'admin.action', reason: 'invalid_admin_token', outcome: 'denied', detail: { status: 401 } });
    return c.json({ error: 'invalid_token', error_description: 'A valid admin token is required.' }, 401, { 'WWW-Authenticate': 'Bearer realm="admin"' });
  }
  c.header('Cache-Control', 'no-store');
  await next();
});

adminApp.post('/clients', async (c) => {
  const parsed = NewClient.safeParse(await c.req.json().catch(() => undefined));
  if (!parsed.success) return c.json({ error: 'invalid_client_metadata', error_description: z.prettifyError(parsed.error) }, 400);
  const refused = parsed.data.redirect_uris.map((uri) => [uri, redirectUriProblem(uri)] as const).find(([, problem]) => problem);
  if (refused) return c.json({ error: 'invalid_redirect_uri', error_description: `${refused[0]} ${refused[1]}` }, 400);
  const client = await c.env.OAUTH_PROVIDER.createClient({
    clientName: parsed.data.client_name,
    redirectUris: parsed.data.redirect_uris,
    tokenEndpointAuthMethod: parsed.data.token_endpoint_auth_method,
    grantTypes: ['authorization_code', 'refresh_token'],
    responseTypes: ['code'],
  });
  // A person entered these redirect URIs: errors may go back to them automatically (../auth/trusted-clients.ts).
  await markTrusted(c.env.OAUTH_KV, client.clientId);
  audit({ type: 'client.registered', reason: 'admin', outcome: 'ok', clientId: client.clientId, clientName: client.clientName });
  audit({ type: 'admin.action', reason: 'client_created', outcome: 'ok', clientId: client.clientId, clientName: client.clientName, detail: { status: 201 } });
  // The secret is shown this once; only its hash is stored.
  return c.json({ ...clientJson(client), client_secret: client.clientSecret }, 201);
});

adminApp.get('/clients', async (c) => {
  const page = await c.env.OAUTH_PROVIDER.listClients({ cursor: c.req.query('cursor'), limit: 100 });
  audit({ type: 'admin.action', reason: 'clients_listed', outcome: 'ok', detail: { status: 200 } });
  return c.json({ clients: page.items.map(clientJson), cursor: page.cursor });
});

adminApp.delete('/clients/:clientId', async (c) => {
  const clientId = c.req.param('clientId');
  const client = await c.env.OAUTH_PROVIDER.lookupClient(clientId);
  if (!client) {
    audit({ type: 'admin.action', reason: 'client_deleted', outcome: 'error', clientId, detail: { status: 404 } });
    return c.json({ error: 'not_found' }, 404);
  }
  await c.env.OAUTH_PROVIDER.deleteClient(clientId);
  await forgetTrusted(c.env.OAUTH_KV, clientId);
  audit({ type: 'client.deleted', reason: 'admin', outcome: 'ok', clientId, clientName: client.clientName });
  audit({ type: 'admin.action', reason: 'client_deleted', outcome: 'ok', clientId, clientName: client.clientName, detail: { status: 204 } });
  return c.body(null, 204);
});

adminApp.get('/users/:userId/grants', async (c) => {
  const page = await c.env.OAUTH_PROVIDER.listUserGrants(c.req.param('userId'), { cursor: c.req.query('cursor'), limit: 100 });
  audit({ type: 'admin.action', reason: 'grants_listed', outcome: 'ok', userId: c.req.param('userId'), detail: { status: 200 } });
  return c.json({
    grants: page.items.map((grant) => ({ id: grant.id, client_id: grant.clientId, scope: grant.scope, created_at: grant.createdAt, expires_at: grant.expiresAt })),
    cursor: page.cursor,
  });
});

adminApp.delete('/users/:userId/grants/:grantId', async (c) => {
  const { userId, grantId } = c.req.param();
  // The grant's record names its upstream vault; a grant that is already gone has nothing left to delete.
  const grant = await readGrant(c.env.OAUTH_KV, userId, grantId);
  await revokeGrant(c.env.OAUTH_PROVIDER, c.env, { userId, grantId, vaultId: grant?.vaultId }, 'admin');
  audit({ type: 'admin.action', reason: 'grant_revoked', outcome: 'ok', userId, detail: { grant_id: grantId, status: 204 } });
  return c.body(null, 204);
});

adminApp.get('/audit', async (c) => {
  const response = await auditExport(c);
  audit({ type: 'admin.action', reason: 'audit_exported', outcome: response.ok ? 'ok' : 'denied', detail: { status: response.status } });
  return response;
});

function clientJson(client: ClientInfo) {
  return {
    client_id: client.clientId,
    client_name: client.clientName,
    redirect_uris: client.redirectUris,
    token_endpoint_auth_method: client.tokenEndpointAuthMethod,
    client_id_issued_at: client.registrationDate,
  };
}

