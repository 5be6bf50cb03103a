/**
 * GET /admin/audit: the audit trail as JSON Lines (`application/x-ndjson`: JSON Lines has no
 * registered media type, and this is the one log shippers and SIEMs accept), behind the admin API's
 * bearer ADMIN_TOKEN (./app.ts).
 *
 *   ?since=2026-11-01&until=2026-11-02T12:00:00Z&user=<user id>&client=<client id>&type=tool.call,token.issued&limit=500&cursor=<opaque>
 *
 * Lines are oldest first, one event each (../audit/events.ts `recordJson`). When there is more, the
 * response has `Link: </admin/audit?…&cursor=…>; rel="next"` (RFC 8288), the same filters with the
 * cursor: follow it until a response has none. The body stays pure JSON Lines, so it can be piped
 * straight to a log shipper. A bad filter is 400 with `{ error: "invalid_request", error_description }`
 * naming the parameter, and reads nothing.
 */
import type { Context } from 'hono';
import { exportPage, encodeCursor, FilterError, parseAuditQuery } from '../audit/export';
import { recordJson } from '../audit/events';
import type { AuthEnv } from '../auth/app';
import { loadConfig } from '../config';

export async function auditExport(c: Context<AuthEnv>): Promise<Response> {
  const url = new URL(c.req.url);
  let parsed: ReturnType<typeof parseAuditQuery>;
  try {
    parsed = parseAuditQuery(url.searchParams, Date.now(), loadConfig(c.env).audit.retentionDays);
  } catch (error) {
    if (error instanceof FilterError) return c.json({ error: 'invalid_request', error_description: error.message, parameter: error.parameter }, 400);
    throw error;
  }
  const page = await exportPage(c.env, parsed.filter, parsed.cursor);
  const headers = new Headers({ 'Content-Type': 'application/x-ndjson', 'Cache-Control': 'no-store' });
  if (page.next) {
    url.searchParams.set('cursor', encodeCursor(page.next));
    headers.set('Link', `<${url.pathname}${url.search}>; rel="next"`);
  }
  return new Response(page.records.map((record) => `${JSON.stringify(recordJson(record))}\n`).join(''), { headers });
}
