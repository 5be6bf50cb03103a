/**
 * The checklist: every item the doctor can report, in order, with a stable id for `--json`
 * consumers. Each run reports every item exactly once; items a run never reached are SKIP with the
 * reason, so the list's shape never depends on how far a server got.
 *
 * Levels say what a non-pass costs. `required`: MCP Manager cannot connect or stay connected (such
 * an item FAILs). `recommended`: the spec or other clients want it; MCP Manager works without (it
 * WARNs). `optional`: reported for information.
 *
 * Beside the items, a report carries the run's facts (context.ts, DoctorFacts): the same findings as
 * data, for verdicts and per-client profiles built on top.
 */
import { initialFacts, type DoctorFacts } from './context.ts';
import type { ClientVerdict } from './verdict.ts';

export type Status = 'pass' | 'warn' | 'fail' | 'skip';
export type Level = 'required' | 'recommended' | 'optional';
export type Step = 'resource' | 'server' | 'registration' | 'authorization' | 'mcp' | 'lifecycle';

interface ItemDefinition {
  step: Step;
  level: Level;
  title: string;
}

export const STEP_TITLES: Readonly<Record<Step, string>> = {
  resource: '1. Protected resource discovery',
  server: '2. Authorization server metadata',
  registration: '3. Dynamic client registration',
  authorization: '4. Authorization code flow',
  mcp: '5. MCP',
  lifecycle: '6. Refresh and revocation',
};

export const ITEMS = {
  'resource.challenge': { step: 'resource', level: 'required', title: 'Unauthenticated request gets 401 with a Bearer challenge' },
  'resource.challenge-metadata': { step: 'resource', level: 'recommended', title: 'The challenge names resource_metadata' },
  'resource.metadata': { step: 'resource', level: 'required', title: 'Protected resource metadata found (RFC 9728)' },
  'resource.resource': { step: 'resource', level: 'required', title: 'Its resource covers the MCP URL' },
  'resource.authorization-servers': { step: 'resource', level: 'required', title: 'It lists authorization_servers' },

  'server.metadata': { step: 'server', level: 'required', title: 'Authorization server metadata found' },
  'server.issuer': { step: 'server', level: 'required', title: 'Its issuer matches' },
  'server.endpoints': { step: 'server', level: 'required', title: 'authorization_endpoint and token_endpoint present' },
  'server.registration-endpoint': { step: 'server', level: 'required', title: 'registration_endpoint present (DCR)' },
  'server.pkce': { step: 'server', level: 'required', title: 'code_challenge_methods_supported includes S256' },
  'server.response-types': { step: 'server', level: 'required', title: 'response_types_supported includes code' },
  'server.grant-types': { step: 'server', level: 'required', title: 'grant_types_supported includes refresh_token' },
  'server.token-auth-methods': { step: 'server', level: 'required', title: 'Token endpoint accepts client_secret_basic or client_secret_post' },
  'server.revocation-endpoint': { step: 'server', level: 'recommended', title: 'revocation_endpoint present (RFC 7009)' },
  'server.cimd': { step: 'server', level: 'optional', title: 'Client ID Metadata Documents supported' },

  'registration.confidential': { step: 'registration', level: 'required', title: 'Registers a confidential client with an HTTPS redirect URI' },
  'registration.public': { step: 'registration', level: 'recommended', title: 'Registers a public client (token_endpoint_auth_method none)' },
  'registration.unknown-client': { step: 'registration', level: 'recommended', title: 'Unknown client at the token endpoint gets invalid_client (401 after Basic)' },

  'authorization.redirect': { step: 'authorization', level: 'required', title: 'Authorization with PKCE S256 returns a code to the redirect URI' },
  'authorization.token': { step: 'authorization', level: 'required', title: 'Code exchanged for tokens' },
  'authorization.client-auth': { step: 'authorization', level: 'required', title: 'The token endpoint accepts the client authentication it registered' },
  'tokens.token-type': { step: 'authorization', level: 'required', title: 'token_type is Bearer' },
  'tokens.expires-in': { step: 'authorization', level: 'recommended', title: 'expires_in present' },
  'tokens.refresh-token': { step: 'authorization', level: 'required', title: 'refresh_token issued' },
  'tokens.refresh-advertised': { step: 'authorization', level: 'recommended', title: 'refresh_token advertised exactly when it is issued' },
  'tokens.scope': { step: 'authorization', level: 'recommended', title: 'scope present' },
  'tokens.resource': { step: 'authorization', level: 'recommended', title: 'resource present' },

  'mcp.initialize': { step: 'mcp', level: 'required', title: 'initialize over Streamable HTTP' },
  'mcp.session': { step: 'mcp', level: 'optional', title: 'Stateless or sessionful (Mcp-Session-Id)' },
  'mcp.tools-list': { step: 'mcp', level: 'required', title: 'tools/list' },
  'mcp.tool-call': { step: 'mcp', level: 'required', title: 'tools/call (--call)' },
  'mcp.unknown-session': { step: 'mcp', level: 'required', title: 'A made-up Mcp-Session-Id gets 404, or is ignored when stateless' },
  'mcp.revisions': { step: 'mcp', level: 'recommended', title: 'Protocol revisions answered on the MCP URL' },
  'mcp.request-headers': { step: 'mcp', level: 'recommended', title: '2026-07-28 header checks (Mcp-Method, Mcp-Name)' },
  'mcp.legacy-sse': { step: 'mcp', level: 'optional', title: 'Legacy SSE transport' },

  'lifecycle.refresh': { step: 'lifecycle', level: 'required', title: 'Refresh token grant issues a new access token' },
  'lifecycle.refreshed-token': { step: 'lifecycle', level: 'required', title: 'The new access token works' },
  'lifecycle.old-refresh-token': { step: 'lifecycle', level: 'optional', title: 'The old refresh token after a refresh' },
  'lifecycle.revoke-access': { step: 'lifecycle', level: 'recommended', title: 'A revoked access token gets 401' },
  'lifecycle.revoke-refresh': { step: 'lifecycle', level: 'recommended', title: 'A revoked refresh token is refused with invalid_grant' },
} as const satisfies Record<string, ItemDefinition>;

export type ItemId = keyof typeof ITEMS;
export const ITEM_IDS = Object.keys(ITEMS) as ItemId[];

export interface ItemResult {
  id: ItemId;
  step: Step;
  level: Level;
  title: string;
  status: Status;
  /** What was observed, in one line. */
  detail: string;
  /** For every status but pass: what to change, in one sentence. */
  fix?: string;
}

export interface DoctorReport {
  /** Version of this JSON shape; bumped only when a field changes meaning. */
  schema: 'mcp-doctor/1';
  url: string;
  /** True when no item failed: MCP Manager can connect. */
  ok: boolean;
  startedAt: string;
  durationMs: number;
  counts: Record<Status, number>;
  items: ItemResult[];
  /** The same findings as data (context.ts documents every field). */
  facts: DoctorFacts;
}

/**
 * A report with what it means for each client (verdict.ts): `verdicts` for every profile, in
 * profiles.ts order, and `verdict`, the one the run was asked about (`--client`, default MCP
 * Manager), which decides the exit status.
 */
export interface DoctorRun extends DoctorReport {
  verdict: ClientVerdict;
  verdicts: ClientVerdict[];
}

export class Checklist {
  private readonly results = new Map<ItemId, ItemResult>();
  private blockedReason: string | undefined;
  private blockedAt: ItemId | undefined;
  private readonly redact: (text: string) => string;

  /**
   * `redact` is applied to every detail and fix: a server may echo a secret (a code, a token) in an
   * error description, and the report is printed without --verbose.
   */
  constructor(redact: (text: string) => string = (text) => text) {
    this.redact = redact;
  }

  pass(id: ItemId, detail: string): void {
    this.record(id, 'pass', detail);
  }

  warn(id: ItemId, detail: string, fix: string): void {
    this.record(id, 'warn', detail, fix);
  }

  fail(id: ItemId, detail: string, fix: string): void {
    this.record(id, 'fail', detail, fix);
  }

  skip(id: ItemId, detail: string, fix?: string): void {
    this.record(id, 'skip', detail, fix);
  }

  /** `fail` for required items, `warn` for the rest: for checks whose weight is the item's level. */
  failOrWarn(id: ItemId, detail: string, fix: string): void {
    this.record(id, ITEMS[id].level === 'required' ? 'fail' : 'warn', detail, fix);
  }

  get(id: ItemId): ItemResult | undefined {
    return this.results.get(id);
  }

  /**
   * Why the run stopped early: every item not reported by then is SKIP with this reason. `at` is the
   * item whose result left nothing to go on, when there is one. Only for a real stop; a step that
   * fails but lets the run go on reports its items and does not block.
   */
  block(reason: string, at?: ItemId): void {
    if (this.blockedReason !== undefined) return;
    this.blockedReason = reason;
    this.blockedAt = at;
  }

  report(url: string, started: Date, finished: Date, facts: DoctorFacts = initialFacts()): DoctorReport {
    const detail = this.blockedReason === undefined ? 'not reached' : this.redact(this.blockedReason);
    const items = ITEM_IDS.map((id) => this.results.get(id) ?? { id, ...ITEMS[id], status: 'skip' as const, detail });
    const counts: Record<Status, number> = { pass: 0, warn: 0, fail: 0, skip: 0 };
    for (const item of items) counts[item.status]++;
    const stopped = this.blockedReason === undefined ? {} : { stoppedBecause: detail, ...(this.blockedAt ? { stoppedAt: this.blockedAt } : {}) };
    return {
      schema: 'mcp-doctor/1',
      url,
      ok: counts.fail === 0,
      startedAt: started.toISOString(),
      durationMs: finished.getTime() - started.getTime(),
      counts,
      items,
      facts: { ...facts, ...stopped },
    };
  }

  private record(id: ItemId, status: Status, detail: string, fix?: string): void {
    // The first verdict stands: a later, more general one must not hide the specific one.
    if (this.results.has(id)) return;
    const { step, level, title } = ITEMS[id];
    this.results.set(id, { id, step, level, title, status, detail: oneLine(this.redact(detail)), ...(fix && status !== 'pass' ? { fix: this.redact(fix) } : {}) });
  }
}

/** Details are one line: error messages (a browser driver's call log) may bring line breaks and colours. */
function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;]*m/g, '').replace(/\s*\n\s*/g, ' ').trim();
}
