/**
 * The audit trail (src/audit/): the events a whole MCP Manager connection records, in order and with
 * nothing secret in them; refused sign-ins, rate limits and refresh-token reuse; retention (the
 * hourly sweep and each day's alarm); the admin export's filters, cursor and errors; and a store that
 * fails without failing the request it describes.
 *
 * Files share storage: every test uses clients, users and addresses of its own, and reads the trail
 * filtered by them. Events are written in `waitUntil`, after the response: reads poll until they appear.
 */
import { createExecutionContext, createScheduledController, runDurableObjectAlarm, runInDurableObject, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DAY_MS, toRecord, utcDay, type AuditInput } from '../../src/audit/events';
import { AUDIT_SHARDS_PER_DAY, auditShard, dayExpiresAt } from '../../src/audit/shards';
import type { AuditLog } from '../../src/audit/store';
import app from '../../src/index';
import { DevIdp } from './dev-idp';
import { ALICE, authorizeUrl, basicAuth, CALLBACK, cookieFrom, McpWire, ORIGIN, pkcePair, tokenRequest, tokensFor, worker, workerWithEnv, type RegisteredClient, type TokenResponse } from './helpers';

const ADMIN_TOKEN = String(Reflect.get(env, 'ADMIN_TOKEN'));
const STATE = 'audit-state';

type Line = Record<string, unknown> & { type: string; reason: string; outcome: string; time: string; id: string };

function address(): string {
  const [a, b] = crypto.getRandomValues(new Uint8Array(2));
  return `203.0.113.${(a ?? 0) % 250}-${b}-${crypto.randomUUID().slice(0, 6)}`;
}

function auditRequest(query: string, token = ADMIN_TOKEN): Promise<Response> {
  return worker(`/admin/audit${query}`, { headers: { Authorization: `Bearer ${token}` } });
}

/** Every line the export gives for `query`, following its `Link: rel="next"` to the end. */
async function exportAll(query: string): Promise<{ lines: Line[]; text: string; pages: number }> {
  let next: string | undefined = `/admin/audit${query}`;
  const lines: Line[] = [];
  let text = '';
  let pages = 0;
  while (next) {
    const response = await worker(next, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(response.status).toBe(200);
    expect(response.headers.get('Content-Type')).toBe('application/x-ndjson');
    // NDJSON is UTF-8 by definition; decoded explicitly (workerd's text() warns on a type it does not know).
    const body = new TextDecoder().decode(await response.arrayBuffer());
    text += body;
    lines.push(...body.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Line));
    next = /^<([^>]+)>; rel="next"$/.exec(response.headers.get('Link') ?? '')?.[1];
    pages++;
  }
  return { lines, text, pages };
}

/**
 * `query` limited to yesterday on, for events a test has just made: without `since` every poll would
 * walk the whole retention (90 days × 4 shards), seconds of Durable Object calls on a busy machine.
 */
function recentOnly(query: string): string {
  return `?since=${utcDay(Date.now() - DAY_MS)}&${query.replace(/^\?/, '')}`;
}

/** The export for `query` once `ready` holds of its lines (writes land after the responses). */
async function eventually(query: string, ready: (lines: Line[]) => boolean): Promise<{ lines: Line[]; text: string }> {
  return vi.waitFor(
    async () => {
      const result = await exportAll(recentOnly(query));
      if (!ready(result.lines)) throw new Error(`not yet: ${result.lines.map((line) => line.type).join(', ')}`);
      return result;
    },
    { timeout: 5_000, interval: 50 },
  );
}

function cookieNamed(response: Response, prefix: string): string {
  const cookie = response.headers.getSetCookie().find((header) => header.startsWith(prefix))?.split(';')[0];
  if (!cookie) throw new Error(`no ${prefix} cookie on a ${response.status} response`);
  return cookie;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('the audit trail of a whole connection', () => {
  it('records register → consent shown → approved → sign-in → token → refresh → tool call → revoke, in order, with no secret in it', { timeout: 20_000 }, async () => {
    const logged: string[] = [];
    const realLog = console.log.bind(console);
    vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
      logged.push(args.map(String).join(' '));
      realLog(...args);
    });
    const idp = DevIdp.install();
    const ip = address();
    const call = (path: string, init: RequestInit = {}) => workerWithEnv(idp.env, path, { ...init, headers: { 'CF-Connecting-IP': ip, ...init.headers } });

    const registered = await call('/register', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ client_name: 'Audited gateway', redirect_uris: [CALLBACK], token_endpoint_auth_method: 'client_secret_basic' }),
    });
    expect(registered.status).toBe(201);
    const client = await registered.json<RegisteredClient>();
    const { verifier, challenge } = await pkcePair();
    const consent = await call(new URL(authorizeUrl(client, challenge, { state: STATE, scope: 'profile notes:read' })).pathname + new URL(authorizeUrl(client, challenge, { state: STATE, scope: 'profile notes:read' })).search);
    expect(consent.status).toBe(200);
    const page = await consent.text();
    const hidden = [...page.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map(([, name = '', value = '']) => [name, value.replaceAll('&amp;', '&')] as [string, string]);
    const consentCookie = cookieFrom(consent);
    const approved = await call('/authorize', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: consentCookie },
      body: new URLSearchParams([...hidden, ['decision', 'approve'], ['scope', 'profile'], ['scope', 'notes:read']]).toString(),
    });
    expect(approved.status).toBe(302);
    const upstreamCookie = cookieNamed(approved, '__Host-oauth-upstream-');
    const back = await call(await idp.signIn(approved.headers.get('Location') ?? ''), { headers: { Cookie: upstreamCookie } });
    expect(back.status).toBe(302);
    const code = new URL(back.headers.get('Location') ?? '').searchParams.get('code') ?? '';
    const token = async (params: Record<string, string>) =>
      call('/token', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basicAuth(client) }, body: new URLSearchParams(params).toString() });
    const issued = await (await token({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier })).json<TokenResponse>();
    const refreshed = await (await token({ grant_type: 'refresh_token', refresh_token: issued.refresh_token })).json<TokenResponse>();
    const wire = new McpWire(refreshed.access_token, '/mcp', { env: idp.env });
    expect((await wire.initialize()).status).toBe(200);
    expect((await wire.callTool('whoami')).message?.result).toBeDefined();
    expect((await token({ token: refreshed.refresh_token, token_type_hint: 'refresh_token' })).status).toBe(200);

    const expected = ['client.registered', 'consent.shown', 'consent.approved', 'sign_in.succeeded', 'token.issued', 'token.refreshed', 'tool.call', 'token.revoked'];
    const { lines, text } = await eventually(`?client=${encodeURIComponent(client.client_id)}`, (found) => found.length >= expected.length);
    expect(lines.map((line) => line.type)).toEqual(expected);
    const byType = Object.fromEntries(lines.map((line) => [line.type, line]));
    expect(byType['client.registered']).toMatchObject({ reason: 'dcr', outcome: 'ok', client_name: 'Audited gateway', ip });
    expect(byType['consent.shown']).toMatchObject({ reason: 'consent_required', client_name: 'Audited gateway', scopes: 'profile notes:read' });
    expect(byType['consent.approved']).toMatchObject({ reason: 'user_approved', scopes: 'profile notes:read' });
    expect(byType['sign_in.succeeded']).toMatchObject({ reason: 'upstream_verified', outcome: 'ok', email: expect.stringContaining('@'), user_id: expect.any(String) });
    const userId = byType['sign_in.succeeded']?.user_id;
    expect(byType['token.issued']).toMatchObject({ reason: 'authorization_code', user_id: userId, grant_id: expect.any(String) });
    expect(byType['token.refreshed']).toMatchObject({ reason: 'refresh_token', user_id: userId });
    expect(byType['tool.call']).toMatchObject({ reason: 'ok', outcome: 'ok', tool: 'whoami', user_id: userId, duration_ms: expect.any(Number) });
    expect(byType['token.revoked']).toMatchObject({ reason: 'rfc7009', outcome: 'ok', user_id: userId, token_type_hint: 'refresh_token', by: 'client' });
    for (const line of lines) {
      expect(line).toMatchObject({ time: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/), id: expect.any(String), request_id: expect.any(String), client_id: client.client_id });
      if (line.type !== 'tool.call') expect(line.ip).toBe(ip); // McpWire sends no CF-Connecting-IP
    }
    // Every credential this flow handled, and the cookies: none is in the store or the log lines.
    const auditLog = logged.filter((line) => line.includes('"event":"audit"')).join('\n');
    expect(auditLog).toContain(client.client_id);
    const secrets = [client.client_secret, code, verifier, issued.access_token, issued.refresh_token, refreshed.access_token, refreshed.refresh_token, consentCookie, upstreamCookie];
    for (const secret of secrets) {
      expect(secret).toBeTruthy();
      for (const part of [secret as string, (secret as string).split(':').at(-1) as string, (secret as string).split('=').at(-1) as string]) {
        expect(text).not.toContain(part);
        expect(auditLog).not.toContain(part);
      }
    }
  });
});

describe('refusals and attacks', () => {
  it('records a sign-in refused by the allowlist, and the consent denial of another request', async () => {
    const idp = DevIdp.install();
    const variant = { ...idp.env, ALLOWED_EMAILS: 'nobody@example.com' } as Env;
    const client = await registerClientAt(variant);
    const { challenge } = await pkcePair();
    const url = new URL(authorizeUrl(client, challenge, { state: STATE, scope: 'profile' }));
    const consent = await workerWithEnv(variant, url.pathname + url.search);
    const hidden = [...(await consent.text()).matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map(([, name = '', value = '']) => [name, value.replaceAll('&amp;', '&')] as [string, string]);
    const approved = await workerWithEnv(variant, '/authorize', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: cookieFrom(consent) },
      body: new URLSearchParams([...hidden, ['decision', 'approve'], ['scope', 'profile']]).toString(),
    });
    const back = await workerWithEnv(variant, await idp.signIn(approved.headers.get('Location') ?? ''), { headers: { Cookie: cookieNamed(approved, '__Host-oauth-upstream-') } });
    expect(new URL(back.headers.get('Location') ?? '').searchParams.get('error')).toBe('access_denied');

    const denied = await workerWithEnv(variant, url.pathname + url.search);
    const deniedFields = [...(await denied.text()).matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map(([, name = '', value = '']) => [name, value.replaceAll('&amp;', '&')] as [string, string]);
    const deny = await workerWithEnv(variant, '/authorize', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: cookieFrom(denied) },
      body: new URLSearchParams([...deniedFields, ['decision', 'deny']]).toString(),
    });
    expect(deny.status).toBe(302);

    const { lines } = await eventually(`?client=${encodeURIComponent(client.client_id)}&type=sign_in.refused,consent.denied`, (found) => found.length >= 2);
    expect(lines.map((line) => [line.type, line.reason, line.outcome])).toEqual([
      ['sign_in.refused', 'allowlist', 'denied'],
      ['consent.denied', 'user_denied', 'denied'],
    ]);
  });

  it('records a rate limit hit with the address it came from', async () => {
    const variant = { ...env, REGISTER_RATE_LIMIT: Reflect.get(env, 'TIGHT_RATE_LIMIT') } as unknown as Env;
    const ip = address();
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const response = await workerWithEnv(variant, '/register', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'CF-Connecting-IP': ip },
        body: JSON.stringify({ client_name: 'Flood', redirect_uris: ['https://flood.example/cb'] }),
      });
      statuses.push(response.status);
    }
    expect(statuses).toEqual([201, 201, 201, 429]);
    const { lines } = await eventually('?type=rate_limit.hit', (found) => found.some((line) => line.ip === ip));
    expect(lines.filter((line) => line.ip === ip).map((line) => [line.reason, line.outcome])).toEqual([['register', 'denied']]);
  });

  it('records refresh-token reuse and the grant it revoked', async () => {
    const user = { ...ALICE, userId: `audit-reuse-${crypto.randomUUID()}` };
    const tokens = await tokensFor(user);
    const refresh = (token: string) => tokenRequest(tokens.client, { grant_type: 'refresh_token', refresh_token: token });
    expect((await refresh(tokens.refresh_token)).status).toBe(200);
    expect((await refresh(tokens.refresh_token)).status).toBe(200); // the one replay the grace allows
    expect((await refresh(tokens.refresh_token)).status).toBe(400); // reuse: the grant is revoked
    const { lines } = await eventually(`?user=${user.userId}`, (found) => found.some((line) => line.type === 'grant.revoked'));
    expect(lines.map((line) => [line.type, line.reason])).toEqual([
      ['token.issued', 'authorization_code'],
      ['token.refreshed', 'refresh_token'],
      ['token.refreshed', 'refresh_token'],
      ['token.refresh_reuse', 'grace_used'],
      ['grant.revoked', 'refresh_token_reuse'],
    ]);
    expect(lines.at(-1)).toMatchObject({ outcome: 'ok', by: 'server', client_id: tokens.client.client_id });
  });

  it('records tool calls refused for scope and failing validation, never their arguments', async () => {
    const user = { ...ALICE, userId: `audit-tools-${crypto.randomUUID()}` };
    const tokens = await tokensFor(user, ['profile', 'notes:read']);
    const wire = new McpWire(tokens.access_token);
    await wire.initialize();
    const secretArgument = `do-not-record-${crypto.randomUUID()}`;
    expect((await wire.callTool('notes_add', { text: secretArgument })).status).toBe(403);
    await wire.callTool('notes_list', { cursor: secretArgument });
    const { lines, text } = await eventually(`?user=${user.userId}&type=tool.call`, (found) => found.length >= 2);
    expect(lines.map((line) => [line.tool, line.reason, line.outcome])).toEqual([
      ['notes_add', 'insufficient_scope', 'denied'],
      ['notes_list', 'tool_error', 'error'],
    ]);
    expect(text).not.toContain(secretArgument);
  });
});

/** Records for a user of its own, written straight to a day's shard, as the writer would. */
function records(userId: string, times: number[], extra: Partial<AuditInput> = {}) {
  return times.map((time, index) =>
    toRecord({ type: 'tool.call', reason: 'ok', outcome: 'ok', userId, clientId: `client-${index % 2}`, detail: { tool: 'whoami', duration_ms: 1 }, ...extra } as AuditInput, time, { ip: null, requestId: `req-${index}` }, `id-${String(index).padStart(3, '0')}`),
  );
}

describe('retention', () => {
  it('the hourly cron deletes the days past AUDIT_RETENTION_DAYS and keeps the rest', async () => {
    const now = Date.now();
    const oldDay = utcDay(now - 92 * DAY_MS);
    const recentDay = utcDay(now - 3 * DAY_MS);
    const userId = `audit-retention-${crypto.randomUUID()}`;
    // Alarms far ahead: as if written under a longer retention, so only the sweep can remove them.
    await auditShard(env, oldDay, 1).append(records(userId, [Date.parse(`${oldDay}T12:00:00Z`)]), now + 365 * DAY_MS);
    await auditShard(env, recentDay, 2).append(records(userId, [Date.parse(`${recentDay}T12:00:00Z`)]), now + 365 * DAY_MS);
    expect(await auditShard(env, oldDay, 1).count()).toBeGreaterThan(0);

    await app.scheduled?.(createScheduledController({ scheduledTime: now, cron: '17 * * * *' }), env);

    expect(await auditShard(env, oldDay, 1).count()).toBe(0);
    expect(await auditShard(env, recentDay, 2).count()).toBeGreaterThan(0);
  });

  it("each day's shard deletes itself by alarm at the end of the day plus the retention", async () => {
    const day = utcDay(Date.now() - 10 * DAY_MS);
    const shard = auditShard(env, day, 3);
    await shard.append(records(`audit-alarm-${crypto.randomUUID()}`, [Date.parse(`${day}T08:00:00Z`)]), dayExpiresAt(day, 90));
    const alarm = await runInDurableObject(shard, (_instance: AuditLog, state) => state.storage.getAlarm());
    expect(alarm).toBe(Date.parse(`${day}T00:00:00Z`) + 91 * DAY_MS);
    expect(await runDurableObjectAlarm(shard)).toBe(true);
    expect(await shard.count()).toBe(0);
  });
});

describe('GET /admin/audit', () => {
  it('pages with an opaque cursor in Link, and filters by user, client, type and time', async () => {
    const userId = `audit-export-${crypto.randomUUID()}`;
    const today = utcDay(Date.now());
    const yesterday = utcDay(Date.now() - DAY_MS);
    const at = (day: string, hour: number) => Date.parse(`${day}T${String(hour).padStart(2, '0')}:00:00Z`);
    // Spread over two days and several shards: the export merges them in time order.
    await auditShard(env, yesterday, 0).append(records(userId, [at(yesterday, 1), at(yesterday, 3)]), Date.now() + DAY_MS);
    await auditShard(env, yesterday, 3).append(records(userId, [at(yesterday, 2)]).map((r) => ({ ...r, id: 'id-x' })), Date.now() + DAY_MS);
    await auditShard(env, today, 1).append(records(userId, [at(today, 0), at(today, 0) + 1]).map((r) => ({ ...r, id: `${r.id}-t` })), Date.now() + DAY_MS);
    await auditShard(env, today, 2).append(records(userId, [at(today, 0)], { type: 'consent.shown', reason: 'consent_required' }).map((r) => ({ ...r, id: 'id-y' })), Date.now() + DAY_MS);

    const all = await exportAll(`?user=${userId}&limit=2`);
    expect(all.lines.map((line) => line.time)).toEqual([...all.lines.map((line) => line.time)].sort());
    expect(all.lines).toHaveLength(6);
    expect(all.pages).toBeGreaterThanOrEqual(3);
    expect(new Set(all.lines.map((line) => line.id)).size).toBe(6);

    // The rest from yesterday on: without `since` an export walks the whole retention (90 days × 4 shards).
    expect((await exportAll(`?since=${yesterday}&user=${userId}&type=consent.shown`)).lines.map((line) => line.id)).toEqual(['id-y']);
    expect((await exportAll(`?since=${yesterday}&user=${userId}&client=client-1`)).lines).toHaveLength(2);
    expect((await exportAll(`?user=${userId}&since=${today}`)).lines).toHaveLength(3);
    expect((await exportAll(`?since=${yesterday}&user=${userId}&until=${encodeURIComponent(new Date(at(yesterday, 2)).toISOString())}`)).lines).toHaveLength(1);
  }, 30_000);

  it.each([
    ['since=yesterday', 'since'],
    ['until=2026-13-45T00:00:00Z', 'until'],
    ['since=2026-11-29T10:00:00', 'since'],
    ['type=token.stolen', 'type'],
    ['limit=0', 'limit'],
    ['limit=1001', 'limit'],
    ['cursor=not-a-cursor', 'cursor'],
    ['user=', 'user'],
    ['token=x', 'token'],
    ['user=a&user=b', 'user'],
  ])('refuses %s with 400 naming the parameter', async (query, parameter) => {
    const response = await auditRequest(`?${query}`);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'invalid_request', parameter, error_description: expect.any(String) });
  });

  it('answers 401 without the admin token, and records the refusal', async () => {
    const ip = address();
    const response = await worker('/admin/audit', { headers: { 'CF-Connecting-IP': ip } });
    expect(response.status).toBe(401);
    expect((await auditRequest('', 'y'.repeat(40))).status).toBe(401);
    const { lines } = await eventually('?type=admin.action', (found) => found.some((line) => line.ip === ip));
    expect(lines.find((line) => line.ip === ip)).toMatchObject({ reason: 'invalid_admin_token', outcome: 'denied' });
  });
});

describe('a failing audit store', () => {
  it.each([
    ['rejects every write', { idFromName: (name: string) => name, newUniqueId: () => 'x', get: () => ({ append: () => Promise.reject(new Error('storage unavailable')) }) }],
    ['throws when addressed', { idFromName: () => { throw new Error('binding broken'); }, newUniqueId: () => 'x', get: () => ({}) }],
  ])('never fails the request it describes (a binding that %s)', async (_label, binding) => {
    const errors: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void errors.push(args.map(String).join(' ')));
    const variant = { ...env, AUDIT_LOG: binding } as unknown as Env;
    const ctx = createExecutionContext();
    const response = await app.fetch(
      new Request<unknown, IncomingRequestCfProperties>(new Request(new URL('/register', ORIGIN), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'CF-Connecting-IP': address() },
        body: JSON.stringify({ client_name: 'Despite the store', redirect_uris: [CALLBACK] }),
      })),
      variant,
      ctx,
    );
    expect(response.status).toBe(201);
    await waitOnExecutionContext(ctx);
    expect(errors.some((line) => line.includes('"event":"audit_write_failed"'))).toBe(true);
  });

  it('AUDIT=off records nothing', async () => {
    const variant = { ...env, AUDIT: 'off' } as unknown as Env;
    const client = await registerClientAt(variant);
    // Longer than the writer's batch window (20 ms): anything recorded would be stored by now.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await exportAll(recentOnly(`?client=${encodeURIComponent(client.client_id)}`))).lines).toEqual([]);
  });
});

describe('one shard', () => {
  it('sustains sequential single-event writes (the figure in the README)', async () => {
    const day = utcDay(Date.now());
    const shard = auditShard(env, day, AUDIT_SHARDS_PER_DAY - 1);
    const userId = `audit-bench-${crypto.randomUUID()}`;
    const writes = 1000;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 50 }, async (_, worker) => {
        for (let i = worker; i < writes; i += 50) await shard.append(records(userId, [Date.now()]).map((r) => ({ ...r, id: crypto.randomUUID() })), Date.now() + DAY_MS);
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    console.info(JSON.stringify({ measurement: 'audit_shard_writes_per_second', writes, concurrency: 50, per_second: Math.round(writes / Math.max(seconds, 0.001)) }));
    expect((await exportAll(recentOnly(`?user=${userId}&limit=1000`))).lines).toHaveLength(writes);
  });
});

async function registerClientAt(variant: Env): Promise<RegisteredClient> {
  const response = await workerWithEnv(variant, '/register', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'CF-Connecting-IP': address() },
    body: JSON.stringify({ client_name: 'Audit test client', redirect_uris: [CALLBACK], token_endpoint_auth_method: 'client_secret_basic' }),
  });
  expect(response.status).toBe(201);
  return response.json<RegisteredClient>();
}
