/**
 * Verdicts: what a user of each client would experience with this server, in one line, from the
 * run's items and facts (checklist.ts, context.ts) and the client's needs (profiles.ts).
 *
 * Levels, in the order a user cares about them (stable ids for `--json`):
 * - `connects`: connects by itself and stays connected (refresh works);
 * - `reauthorize`: connects, but its users must sign in again when the access token expires (why, and after how long);
 * - `other-mode`: connects only once someone sets it up by hand: a pre-registered client, or a static header;
 * - `cannot-connect`: the first step that blocks it;
 * - `undetermined`: the run stopped before it could tell (no sign-in, `--skip-auth`), and where.
 */
import type { DoctorReport, ItemId, ItemResult } from './checklist.ts';
import type { DoctorFacts } from './context.ts';
import { PROFILES, type ClientId, type ClientProfile } from './profiles.ts';

export type VerdictLevel = 'connects' | 'reauthorize' | 'other-mode' | 'cannot-connect' | 'undetermined';

export interface ClientVerdict {
  client: ClientId;
  name: string;
  level: VerdictLevel;
  /** One line: what happens for this client's users, and why. */
  summary: string;
  /** The item the verdict rests on: the blocking step, or the one that costs the re-authorization. */
  item?: ItemId;
  /** What this client needs that the run did not check (its own callback URL, a CORS need). */
  unchecked: string[];
}

/** How each level reads in a sentence and in a table. */
export const LEVEL_LABELS: Readonly<Record<VerdictLevel, string>> = {
  connects: 'connects and stays connected',
  reauthorize: 'connects, must re-authorize',
  'other-mode': 'connects only if set up by hand',
  'cannot-connect': 'cannot connect',
  undetermined: 'undetermined',
};

/**
 * Exit status for a verdict: 0 connects, 1 cannot connect, 3 connects but must re-authorize, 4
 * connects only in another mode, 5 undetermined. (2 is a usage error, main.ts.)
 */
export const VERDICT_EXIT_CODES: Readonly<Record<VerdictLevel, number>> = { connects: 0, 'cannot-connect': 1, reauthorize: 3, 'other-mode': 4, undetermined: 5 };

/**
 * Discovery items no OAuth client gets past when they fail: where the server and its endpoints are,
 * and PKCE, which OAuth 2.1 and MCP make every client use.
 */
const DISCOVERY: readonly ItemId[] = [
  'resource.challenge',
  'resource.metadata',
  'resource.resource',
  'resource.authorization-servers',
  'server.metadata',
  'server.issuer',
  'server.endpoints',
  'server.pkce',
  'server.response-types',
];

/** The code flow, which every OAuth client runs the same way once it has a client id. */
const AUTHORIZATION: readonly ItemId[] = ['authorization.redirect', 'authorization.token', 'tokens.token-type'];

export function verdictsFor(report: Pick<DoctorReport, 'items' | 'facts'>): ClientVerdict[] {
  return PROFILES.map((profile) => verdictFor(profile, report));
}

export function verdictFor(profile: ClientProfile, report: Pick<DoctorReport, 'items' | 'facts'>): ClientVerdict {
  const items = new Map(report.items.map((item) => [item.id, item]));
  const { facts } = report;
  const base = { client: profile.id, name: profile.name, unchecked: uncheckedNeeds(profile) };
  const verdict = (level: VerdictLevel, summary: string, item?: ItemId): ClientVerdict => ({ ...base, level, summary, ...(item ? { item } : {}) });
  const status = (id: ItemId) => items.get(id)?.status;
  const detailOf = (id: ItemId) => items.get(id)?.detail ?? '';
  const blocked = (id: ItemId): ClientVerdict => verdict('cannot-connect', `${titleOf(items.get(id), id)}: ${shorten(detailOf(id))}`, id);

  const timedOut = facts.timeouts[0];
  if (facts.oauth === undefined) {
    // Not even the first answer: nothing past this point is known.
    if (timedOut) return verdict('cannot-connect', `the server did not answer in time: no answer within ${timedOut.deadlineMs / 1000} s to ${timedOut.request}`, 'resource.challenge');
    return blocked('resource.challenge');
  }

  if (facts.oauth === false) return withoutOAuth(profile, facts, status, verdict, blocked);

  for (const id of DISCOVERY) if (status(id) === 'fail') return blocked(id);

  // How this client gets a client id by itself: DCR (as the type it registers) or CIMD; else by hand.
  const selfService = registersItself(profile, facts, status);
  const byHand = profile.registration.filter((way): way is 'preregistered' | 'static-header' => way === 'preregistered' || way === 'static-header');
  if (!selfService.ok && byHand.length === 0) return verdict('cannot-connect', selfService.why, selfService.item);

  // Whatever the way in, what comes after must work: the code flow, then MCP with the tokens. A run
  // that signed in with the one client the server let it register checked that for every client.
  for (const id of AUTHORIZATION) if (status(id) === 'fail') return blocked(id);
  const clientAuth = selfService.ok && selfService.confidential ? clientAuthFor(profile, facts, status) : { ok: true as const };
  if (!clientAuth.ok) return blocked('authorization.client-auth');
  if (status('authorization.token') !== 'pass') return selfService.ok ? undetermined(items, facts, verdict, 'authorization.token') : byHandVerdict(selfService, byHand, verdict);
  const transport = transportFor(profile, status);
  if (transport === 'failed') return blocked('mcp.initialize');
  if (status('mcp.tools-list') === 'fail') return blocked('mcp.tools-list');
  if (status('mcp.tool-call') === 'fail') return blocked('mcp.tool-call');
  if (!selfService.ok) return byHandVerdict(selfService, byHand, verdict);
  if (transport === 'undetermined') return undetermined(items, facts, verdict, 'mcp.initialize');

  const how = `${selfService.how}${clientAuth.note ? ` ${clientAuth.note}` : ''}`;
  const lifetime = facts.accessTokenLifetimeSeconds === undefined ? 'when the access token expires' : `every ${formatSeconds(facts.accessTokenLifetimeSeconds)} (expires_in)`;
  if (facts.refreshTokenIssued === false) return verdict('reauthorize', `${how} and connects, but no refresh token is issued: users sign in again ${lifetime}`, 'tokens.refresh-token');
  if (facts.refreshWorks === false) return verdict('reauthorize', `${how} and connects, but refreshing fails (${shorten(detailOf('lifecycle.refresh'))}): users sign in again ${lifetime}`, 'lifecycle.refresh');
  if (facts.refreshWorks === undefined) return undetermined(items, facts, verdict, 'lifecycle.refresh');
  if (status('lifecycle.refreshed-token') === 'fail') return verdict('reauthorize', `${how} and connects, but the refreshed access token is refused: users sign in again ${lifetime}`, 'lifecycle.refreshed-token');
  return verdict('connects', `${how}, signs in, calls tools and refreshes`);
}

function byHandVerdict(selfService: SelfService, byHand: ReadonlyArray<'preregistered' | 'static-header'>, verdict: (level: VerdictLevel, summary: string, item?: ItemId) => ClientVerdict): ClientVerdict {
  return verdict('other-mode', `${selfService.why}; it connects once someone sets it up with ${byHand.map(describeByHand).join(' or ')}`, selfService.item);
}

/** No OAuth discovery: the MCP URL is open, or wants a credential configured by hand. */
function withoutOAuth(
  profile: ClientProfile,
  facts: DoctorFacts,
  status: (id: ItemId) => ItemResult['status'] | undefined,
  verdict: (level: VerdictLevel, summary: string, item?: ItemId) => ClientVerdict,
  blocked: (id: ItemId) => ClientVerdict,
): ClientVerdict {
  const takesHeader = profile.registration.includes('static-header');
  if (facts.withoutOAuth === 'static-header') {
    const why = 'the server refuses requests without credentials and offers no OAuth discovery';
    return takesHeader ? verdict('other-mode', `${why}: it connects with a static header token someone configures (not checked)`, 'resource.challenge') : verdict('cannot-connect', `${why}, and this client has no static-header mode`, 'resource.challenge');
  }
  // Open: MCP answered an unauthenticated initialize. Anything else (a 404, an HTML page, a 5xx) is
  // not an MCP server at all, whatever it asks for.
  if (status('mcp.initialize') !== 'pass') return status('mcp.initialize') === 'fail' ? blocked('mcp.initialize') : blocked('resource.challenge');
  if (profile.registration.includes('none')) return verdict('connects', 'connects without credentials: the server asks for none', 'resource.challenge');
  if (takesHeader) return verdict('other-mode', 'the server asks for no credentials, and this client connects to it through its static-header mode (any header, or none)', 'resource.challenge');
  return verdict('cannot-connect', 'the server offers no OAuth, and this client connects only through OAuth', 'resource.challenge');
}

interface SelfService {
  ok: boolean;
  /** Whether it registered as a confidential client (so how it authenticates at the token endpoint matters). */
  confidential?: boolean;
  /** How it got a client id, for the summary. */
  how: string;
  why: string;
  item?: ItemId;
}

function registersItself(profile: ClientProfile, facts: DoctorFacts, status: (id: ItemId) => ItemResult['status'] | undefined): SelfService {
  const reasons: string[] = [];
  let item: ItemId | undefined;
  if (profile.registration.includes('dcr')) {
    // A client that authenticates only with `none` is a public client whatever else is known of it.
    const onlyPublic = profile.tokenAuthMethods.every((method) => method === 'none');
    const wanted = onlyPublic ? 'public' : profile.dcrClientType;
    const confidential = facts.confidentialRegistration === 'ok' && wanted !== 'public';
    const isPublic = facts.publicRegistration === 'ok' && wanted !== 'confidential' && profile.tokenAuthMethods.includes('none');
    if (confidential) return { ok: true, confidential: true, how: 'registers itself (DCR, confidential client)', why: '' };
    if (isPublic) return { ok: true, confidential: false, how: 'registers itself (DCR, public client)', why: '' };
    if (facts.confidentialRegistration === undefined && facts.publicRegistration === undefined) {
      reasons.push('dynamic client registration was not reached');
    } else if (status('server.registration-endpoint') !== 'pass') {
      reasons.push('the server offers no dynamic client registration');
      item = 'server.registration-endpoint';
    } else {
      const got = wanted === 'public' ? facts.publicRegistration : facts.confidentialRegistration;
      reasons.push(`registering a ${wanted === 'public' ? 'public' : 'confidential'} client by DCR: ${got ?? 'not tried'}`);
      item = wanted === 'public' ? 'registration.public' : 'registration.confidential';
    }
  }
  if (profile.registration.includes('cimd')) {
    if (status('server.cimd') === 'pass') return { ok: true, confidential: false, how: 'identifies itself by its Client ID Metadata Document', why: '' };
    reasons.push('no Client ID Metadata Document support');
    item ??= 'server.cimd';
  }
  return { ok: false, how: '', why: reasons.join('; ') || 'it cannot register itself', ...(item ? { item } : {}) };
}

/**
 * A confidential client's authentication at the token endpoint: fine when the method the doctor
 * registered worked; when it was refused, fine only if a method this client uses works instead, and
 * then the summary says which (the client must use it: its first choice is refused).
 */
function clientAuthFor(profile: ClientProfile, facts: DoctorFacts, status: (id: ItemId) => ItemResult['status'] | undefined): { ok: true; note?: string } | { ok: false } {
  if (status('authorization.client-auth') !== 'fail') return { ok: true };
  const working = facts.workingClientAuthMethod;
  if (working === undefined || !profile.tokenAuthMethods.includes(working)) return { ok: false };
  const refused = facts.refusedClientAuthMethod;
  return { ok: true, note: `using ${working}${refused ? ` (${refused} is refused${facts.basicNeedsClientIdInBody ? ' unless client_id is also in the body' : ''})` : ''}` };
}

function transportFor(profile: ClientProfile, status: (id: ItemId) => ItemResult['status'] | undefined): 'ok' | 'failed' | 'undetermined' {
  if (profile.transports.includes('streamable-http') && status('mcp.initialize') === 'pass') return 'ok';
  // `mcp.legacy-sse` passes (information only) when the legacy transport works.
  if (profile.transports.includes('sse') && status('mcp.legacy-sse') === 'pass') return 'ok';
  if (status('mcp.initialize') === 'skip') return 'undetermined';
  return 'failed';
}

function undetermined(items: Map<ItemId, ItemResult>, facts: DoctorFacts, verdict: (level: VerdictLevel, summary: string, item?: ItemId) => ClientVerdict, at: ItemId): ClientVerdict {
  const reason = facts.stoppedBecause ?? items.get(at)?.detail ?? 'not reached';
  return verdict('undetermined', `the run stopped before ${titleOf(items.get(at), at).toLowerCase()}: ${reason}`, at);
}

function titleOf(item: ItemResult | undefined, id: ItemId): string {
  return item?.title ?? id;
}

function describeByHand(way: 'preregistered' | 'static-header'): string {
  return way === 'preregistered' ? 'a pre-registered client (client id and secret)' : 'a static header token';
}

/** What the run cannot check for this client: its own callback URLs (the doctor registers its own), CORS. */
function uncheckedNeeds(profile: ClientProfile): string[] {
  const needs: string[] = [];
  for (const callback of profile.callbacks) {
    if (callback.placeholder) continue;
    if (callback.kind === 'private-use') needs.push(`its callback ${callback.example} (a private-use scheme; some servers refuse those)`);
  }
  if (profile.needsCors) needs.push('CORS on the metadata, /register, /token and the MCP URL (it runs in a browser)');
  return needs;
}

/** An item's detail, cut for a one-line summary: an error body can be long. */
function shorten(detail: string): string {
  return detail.length > 200 ? `${detail.slice(0, 200)}…` : detail;
}

function formatSeconds(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0 && seconds >= 60) return `${seconds / 60} min`;
  return `${seconds} s`;
}

