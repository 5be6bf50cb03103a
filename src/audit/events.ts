/**
 * The audit trail's vocabulary: a closed union of event types, each with its own stable reason codes.
 * Pure: no I/O, no clock (the writer stamps the time).
 *
 * Stability: `type` and `reason` are what a SIEM rule matches on. Treat them like enum members in
 * semver: add new ones, never rename or reuse one. Every string an event carries is set field by
 * field by this project's code; no event copies a request body, a header or a tool's arguments or
 * result, so a token, code, secret or cookie has no field to land in.
 */

/** How the described action ended, for the caller: done, refused by policy, or failed. */
export type AuditOutcome = 'ok' | 'denied' | 'error';

/**
 * Every event type, and the reason codes it may carry. `reason` says why (or how) in one stable
 * snake_case word; the closed union makes a typo a compile error.
 */
export interface AuditReasons {
  /** `dcr`: POST /register (or its refusal, `invalid_client_metadata`/`invalid_redirect_uri`); `admin`: the admin API; `cimd`: a Client ID Metadata Document accepted at /authorize (CIMD clients have no registration step, so each accepted authorization is recorded). */
  'client.registered': 'dcr' | 'cimd' | 'admin' | 'invalid_client_metadata' | 'invalid_redirect_uri' | 'refused';
  'client.deleted': 'admin';
  'consent.shown': 'consent_required';
  /** `user_approved`: the consent form; `remembered`: an approval this browser gave before. */
  'consent.approved': 'user_approved' | 'remembered';
  'consent.denied': 'user_denied' | 'no_scopes_approved';
  /** `upstream_verified`: an MCP client's authorization; `web_session`: a sign-in to this server's own pages (/account, /admin). */
  'sign_in.succeeded': 'upstream_verified' | 'web_session';
  /** `allowlist`: the ALLOWED_* settings; `no_permitted_scopes`: SCOPE_POLICY left nothing; `idp_*`: the upstream IdP refused, failed or was unreachable. */
  'sign_in.refused': 'allowlist' | 'no_permitted_scopes' | 'idp_access_denied' | 'idp_unavailable' | 'idp_error';
  'token.issued': 'authorization_code';
  'token.refreshed': 'refresh_token';
  /** RFC 7009: the provider answers 200 whatever the token was (§2.2), so this records the request. */
  'token.revoked': 'rfc7009';
  /** A rotated-out refresh token presented again by its own client (../auth/refresh-reuse.ts). */
  'token.refresh_reuse': 'retired' | 'grace_expired' | 'grace_used' | 'rotation_time_unknown';
  /**
   * `refresh_token_reuse`: by this server on reuse; `admin`: the admin API; `user`: the user themselves;
   * `upstream_sign_in_lost`: by this server, when the user's upstream tokens stopped working (../upstream/api.ts).
   */
  'grant.revoked': 'refresh_token_reuse' | 'admin' | 'user' | 'upstream_sign_in_lost';
  /** The limit's name (../guard/rate-limits.ts). */
  'rate_limit.hit': 'register' | 'authorize' | 'tokenAddress' | 'tokenClient' | 'bearerFailure';
  /** Every authenticated admin API request names its action; `invalid_admin_token` is a refused one. */
  'admin.action':
    | 'client_created'
    | 'clients_listed'
    | 'client_deleted'
    | 'grants_listed'
    | 'grant_revoked'
    | 'audit_exported'
    | 'invalid_admin_token'
    /** The admin console: dynamic registration switched on or off; a signed-in non-administrator refused. */
    | 'registration_opened'
    | 'registration_closed'
    | 'console_denied';
  /** `ok`; `tool_error`: the tool answered isError; the rest were refused or failed before or while running it. */
  /**
   * `upstream_*`: the tool could not act upstream as the user (../upstream/api.ts): sign-in lost (the
   * grant is ended), a permission the user must grant by authorizing again (a 403 step-up), upstream
   * down, or refused by configuration.
   */
  'tool.call': 'ok' | 'tool_error' | 'invalid_arguments' | 'insufficient_scope' | 'unknown_tool' | 'exception' | 'upstream_sign_in_lost' | 'upstream_step_up' | 'upstream_unavailable' | 'upstream_refused';
}

export type AuditEventType = keyof AuditReasons;

export const AUDIT_EVENT_TYPES: readonly AuditEventType[] = [
  'client.registered',
  'client.deleted',
  'consent.shown',
  'consent.approved',
  'consent.denied',
  'sign_in.succeeded',
  'sign_in.refused',
  'token.issued',
  'token.refreshed',
  'token.revoked',
  'token.refresh_reuse',
  'grant.revoked',
  'rate_limit.hit',
  'admin.action',
  'tool.call',
];

export function isAuditEventType(value: string): value is AuditEventType {
  return (AUDIT_EVENT_TYPES as readonly string[]).includes(value);
}

/**
 * Event-specific facts, flat and small. Only these keys exist, so nothing else can be recorded; none
 * of them is ever a credential.
 */
export interface AuditDetail {
  /** Scopes requested, approved or granted. */
  scopes?: string;
  grant_id?: string;
  /** Who revoked a grant: `admin`, `client`, `user` or `server`. */
  by?: 'admin' | 'client' | 'user' | 'server';
  tool?: string;
  /** Tool call duration. In Workers the clock advances only across I/O, so pure CPU work reads 0. */
  duration_ms?: number;
  /** The upstream IdP kind (`oidc:<host>`, `github`). */
  upstream?: string;
  /** RFC 7009 `token_type_hint`, as the client sent it (only the two RFC values are kept). */
  token_type_hint?: 'access_token' | 'refresh_token';
  /** Seconds since the grant's last rotation, for a refresh-token reuse. */
  seconds_since_rotation?: number;
  /** The admin route's HTTP status. */
  status?: number;
  /** For CIMD clients: the hostname of the client id URL (the domain the client controls). */
  client_domain?: string;
  /** The user id of the administrator who acted, for an admin console action (the event's user is the one acted on). */
  actor?: string;
  /** Why this server ended a grant whose upstream sign-in was lost: a stable code (../upstream/api.ts), never upstream text. */
  cause?: string;
}

/** What a hook reports: the event and what it knows. Request facts (address, request id, time) are added by the writer. */
export type AuditInput = {
  [T in AuditEventType]: {
    type: T;
    reason: AuditReasons[T];
    outcome: AuditOutcome;
    userId?: string;
    email?: string;
    clientId?: string;
    clientName?: string;
    detail?: AuditDetail;
  };
}[AuditEventType];

/** An event as stored, logged and exported (snake_case, like the OAuth wire formats). */
export interface AuditRecord {
  /** Random, unique; with `time` the event's position in the trail. */
  id: string;
  /** Milliseconds since the epoch. */
  time: number;
  type: AuditEventType;
  outcome: AuditOutcome;
  reason: string;
  user_id: string | null;
  email: string | null;
  client_id: string | null;
  client_name: string | null;
  /** The caller's address (`CF-Connecting-IP`); null where there is none (a Durable Object, a cron run). */
  ip: string | null;
  /** `CF-Ray` where Cloudflare sets it, otherwise an id made for the request. */
  request_id: string | null;
  detail: AuditDetail;
}

/**
 * Longest string kept in any field. Client names and ids (a CIMD id is a URL) and user ids come from
 * callers; an audit row must not become a way to store a megabyte.
 */
export const MAX_AUDIT_FIELD_CHARS = 512;

export function bounded(value: string | undefined | null): string | null {
  if (value === undefined || value === null || value === '') return null;
  return value.length > MAX_AUDIT_FIELD_CHARS ? `${value.slice(0, MAX_AUDIT_FIELD_CHARS - 1)}…` : value;
}

/** The record for `input`, at `time`, with the request's facts. */
export function toRecord(input: AuditInput, time: number, request: { ip: string | null; requestId: string | null }, id: string): AuditRecord {
  const detail: AuditDetail = {};
  for (const [key, value] of Object.entries(input.detail ?? {}) as [keyof AuditDetail, AuditDetail[keyof AuditDetail]][]) {
    if (value === undefined) continue;
    Reflect.set(detail, key, typeof value === 'string' ? bounded(value) : value);
  }
  return {
    id,
    time,
    type: input.type,
    outcome: input.outcome,
    reason: input.reason,
    user_id: bounded(input.userId),
    email: bounded(input.email),
    client_id: bounded(input.clientId),
    client_name: bounded(input.clientName),
    ip: bounded(request.ip),
    request_id: bounded(request.requestId),
    detail,
  };
}

/** One line of the export and of the Worker's log: the record with its time in ISO 8601. */
export function recordJson(record: AuditRecord): Record<string, unknown> {
  const { time, detail, ...rest } = record;
  return { time: new Date(time).toISOString(), ...rest, ...detail };
}

/** The UTC day of `time`, `YYYY-MM-DD`: the audit store's shard key. */
export function utcDay(time: number): string {
  return new Date(time).toISOString().slice(0, 10);
}

export const DAY_MS = 86_400_000;
