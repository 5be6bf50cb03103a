/**
 * Refresh-token reuse detection (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2), which the OAuth library lacks:
 * it accepts the current and the immediately previous refresh token of a grant with no bound in time
 * or use, rotating again each time, so a stolen old refresh token is never noticed.
 *
 * The rule, per grant:
 * - the current refresh token always works (and rotates);
 * - the one it replaced (the previous) is accepted once more, within the grace after the rotation
 *   (a response that never reached the client), and only while no token issued since has been used;
 *   the tokens both requests issued are then interchangeable until one of them is used, after which
 *   the others are rotated out;
 * - any other presentation of a rotated-out refresh token (after the grace, a second time, once a newer
 *   one was used, or any older one) by the grant's own authenticated client revokes the grant, with
 *   all its access and refresh tokens, and answers `invalid_grant`.
 *
 * How. The library keeps no history and takes no storage option, but it reads and writes the grant
 * record through `env.OAUTH_KV`. For a refresh request at the token endpoint (and an RFC 7009
 * revocation, see refreshReuseEnv), and only then, the provider gets an env whose OAUTH_KV watches the
 * presented token's grant record:
 * - its read (made after the provider has authenticated the client) classifies the presented token;
 *   a reuse by the grant's own client revokes the grant and answers `invalid_grant` (an `OAuthError`,
 *   which the provider turns into its usual 400); a token issued in a grace replay and still unused
 *   is shown to the provider as the current one;
 * - its write (the rotation) is re-checked against the freshest record, and carries this module's
 *   bookkeeping (`refreshRotation`) in the same record: no extra KV write per refresh, so KV's one
 *   write per second per key is not spent twice, and the bookkeeping lives and dies with the grant.
 * Grant records are read through the consistency layer, journal first, so a refresh at another
 * location sees the latest rotation. Decisions for one grant are serialized within an isolate (two
 * concurrent refreshes of the same token are ordered: the second is the grace replay).
 */
import { OAuthError, OAuthProvider, type OAuthProviderOptions } from '@cloudflare/workers-oauth-provider';
import { audit } from '../audit/recorder';
import { DEFAULT_REFRESH_REUSE_GRACE_SECONDS } from '../config';
import { hex } from '../crypto';
import { byteLength } from '../guard/input-limits';


/** Rotated-out refresh tokens remembered per grant (their hashes, shortened): hourly refreshes for ~3 days. */
const MAX_RETIRED = 64;
/** 128 bits of the SHA-256 token id: enough to recognise a token, half the bytes in the grant record. */
const RETIRED_ID_LENGTH = 32;
/** Workers KV refuses longer keys with an exception. */
const MAX_KV_KEY_BYTES = 512;
/** Bodies larger than this are left to the provider (and the Worker's own screening) unread. */
const MAX_INSPECTED_BODY_BYTES = 64 * 1024;
/** How long a grant revoked here stays refused by this isolate's in-flight refreshes. */
const REVOKED_MEMORY_MS = 5 * 60_000;
/** Longest wait for an earlier write of the same grant in this isolate before writing anyway. */
const WRITE_ORDER_WAIT_MS = 2_000;

export interface RefreshReuseOptions {
  /** The token endpoint's path (the provider's `tokenEndpoint`). */
  tokenPath: string;
  /** The grace, in seconds; 0 turns it off (any rotated-out token revokes). Default {@link DEFAULT_REFRESH_REUSE_GRACE_SECONDS}. */
  graceSeconds?: number;
  /** Milliseconds since the epoch; for tests. */
  now?: () => number;
}

/** This module's bookkeeping, kept in the grant record as `refreshRotation`. */
interface RotationState {
  v: 1;
  /** Increases with every rotation recorded here. */
  gen: number;
  /** When `parent` was rotated out (ms since the epoch): the grace runs from here. */
  rotatedAt: number;
  /** The token rotated out at `rotatedAt` (the library's `previousRefreshTokenId`). */
  parent: string;
  /** How often `parent` was accepted after its rotation (at most once). */
  replays: number;
  /** Tokens issued from `parent` besides the library's current one, still unused: full ids and wrapped keys. */
  siblings: { id: string; key: string }[];
  /** Shortened ids of rotated-out tokens, newest first. */
  retired: string[];
}

/** The fields of the library's grant record this module reads (its storage schema), and its own. */
interface GrantRecord {
  clientId: string;
  refreshTokenId?: string;
  refreshTokenWrappedKey?: string;
  previousRefreshTokenId?: string;
  previousRefreshTokenWrappedKey?: string;
  refreshRotation?: RotationState;
}

type ReuseReason = 'retired' | 'grace_expired' | 'grace_used' | 'rotation_time_unknown';

type Presentation =
  | { kind: 'current' }
  | { kind: 'sibling'; sibling: { id: string; key: string } }
  | { kind: 'grace' }
  | { kind: 'reuse'; reason: ReuseReason; rotatedAt?: number }
  | { kind: 'unknown' };

/** A refresh (or RFC 7009 revocation) request as far as this module needs it. */
interface Presented {
  purpose: 'refresh' | 'revocation';
  userId: string;
  grantId: string;
  grantKey: string;
  /** SHA-256 of the whole token, hex: the library's token id. */
  tokenId: string;
  /** The client the request authenticates as (the provider has verified it before it reads the grant). */
  clientId: string | undefined;
}

/** The provider, with refresh-token reuse detection on its token endpoint. */
export class RefreshReuseGuardedProvider extends OAuthProvider<Env> {
  readonly #options: RefreshReuseOptions;

  constructor(options: OAuthProviderOptions<Env>, reuse: RefreshReuseOptions) {
    super(options);
    this.#options = reuse;
  }

  override async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    return super.fetch(request, await refreshReuseEnv(request, env, this.#options), ctx);
  }
}

/**
 * The env to hand the provider for `request`: `env` itself unless the request is a refresh-token
 * grant at the token endpoint, else one whose OAUTH_KV applies the rule to the presented token's grant.
 * For an RFC 7009 revocation it only shows the provider an unused token from a grace replay as the
 * current one, so revoking it revokes the grant as revoking any live refresh token does.
 */
export async function refreshReuseEnv(request: Request, env: Env, options: RefreshReuseOptions): Promise<Env> {
  const presented = await presentedRefreshToken(request, options.tokenPath);
  if (!presented) return env;
  const guard = new GrantGuard(env.OAUTH_KV, presented, options);
  return Object.create(env, { OAUTH_KV: { value: guard.binding(), enumerable: true } }) as Env;
}

interface PendingWrite {
  record: GrantRecord;
  written: Promise<void>;
}

/** Rotations being written by this isolate, per grant key: what a concurrent refresh must see. */
const pendingWrites = new Map<string, PendingWrite>();
/** Grants this isolate has just revoked (key → until when), so an in-flight refresh cannot write one back. */
const recentlyRevoked = new Map<string, number>();

class GrantGuard {
  private readonly now: () => number;
  private readonly graceMs: number;

  constructor(
    private readonly kv: KVNamespace,
    private readonly presented: Presented,
    options: RefreshReuseOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.graceMs = Math.max(0, options.graceSeconds ?? DEFAULT_REFRESH_REUSE_GRACE_SECONDS) * 1000;
  }

  /** OAUTH_KV with this grant's record watched; every other call goes to the binding unchanged. */
  binding(): KVNamespace {
    const { grantKey } = this.presented;
    return new Proxy(this.kv, {
      get: (target, property) => {
        if (property === 'get') {
          return (key: string, options?: unknown) => (key === grantKey && isJsonRead(options) ? this.readGrant() : target.get(key, options as never));
        }
        if (property === 'put') {
          return (key: string, value: unknown, options?: KVNamespacePutOptions) =>
            key === grantKey && typeof value === 'string' && this.presented.purpose === 'refresh' ? this.writeGrant(value, options) : target.put(key, value as never, options);
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }

  /** The provider reads the grant (after authenticating the client): classify the presented token. */
  private async readGrant(): Promise<GrantRecord | null> {
    const latest = await this.latest();
    if (!latest) return null;
    if (this.presented.purpose === 'revocation') {
      const sibling = validState(latest.refreshRotation)?.siblings.find((candidate) => candidate.id === this.presented.tokenId);
      return sibling ? { ...structuredClone(latest), refreshTokenId: sibling.id, refreshTokenWrappedKey: sibling.key } : structuredClone(latest);
    }
    const presentation = classify(latest, this.presented.tokenId, this.now(), this.graceMs);
    if (presentation.kind === 'sibling') {
      // Issued by a grace replay and unused: the provider accepts it as the current token.
      return { ...structuredClone(latest), refreshTokenId: presentation.sibling.id, refreshTokenWrappedKey: presentation.sibling.key };
    }
    if (presentation.kind === 'reuse' && this.presented.clientId === latest.clientId) {
      await this.revoke(latest, presentation);
      // The provider answers an OAuthError thrown here as it answers its own (400 invalid_grant).
      throw invalidGrant('Invalid refresh token', 'refresh_token_reuse');
    }
    // Another client's request: the provider refuses it (client mismatch) without touching the grant.
    return structuredClone(latest);
  }

  /**
   * The provider writes the rotated grant. Re-checked against the freshest record (a concurrent
   * refresh may have rotated it meanwhile) and written with this module's bookkeeping.
   */
  private async writeGrant(value: string, options: KVNamespacePutOptions | undefined): Promise<void> {
    const { grantKey } = this.presented;
    const proposed = JSON.parse(value) as GrantRecord;
    const stored = await this.stored();
    // From here to the registration below nothing is awaited: decisions for one grant are serialized
    // within this isolate.
    if (!stored || isRecentlyRevoked(grantKey)) throw invalidGrant('Grant not found', 'grant_revoked_concurrently');
    const earlier = pendingWrites.get(grantKey);
    const latest = freshest(stored, earlier?.record);
    const presentation = classify(latest, this.presented.tokenId, this.now(), this.graceMs);
    if (presentation.kind === 'reuse') {
      // The provider has checked that the grant's own client authenticated this request.
      await this.revoke(latest, presentation);
      throw invalidGrant('Invalid refresh token', 'refresh_token_reuse');
    }
    if (presentation.kind === 'unknown') throw invalidGrant('Invalid refresh token', 'refresh_token_superseded');
    const record: GrantRecord = { ...proposed, refreshRotation: nextState(latest, presentation.kind, this.presented.tokenId, this.now()) };
    let written!: () => void;
    const pending: PendingWrite = { record, written: new Promise<void>((resolve) => (written = resolve)) };
    pendingWrites.set(grantKey, pending);
    try {
      // Journal writes of one key at the same millisecond keep the last to arrive: keep this
      // isolate's writes in decision order.
      if (earlier) await settledWithin(earlier.written, WRITE_ORDER_WAIT_MS);
      await this.kv.put(grantKey, JSON.stringify(record), options);
    } finally {
      written();
      if (pendingWrites.get(grantKey) === pending) pendingWrites.delete(grantKey);
    }
  }

  /** The grant as stored now, with this isolate's in-flight rotation of it if that is newer; null when gone. */
  private async latest(): Promise<GrantRecord | null> {
    const stored = await this.stored();
    if (!stored || isRecentlyRevoked(this.presented.grantKey)) return null;
    return freshest(stored, pendingWrites.get(this.presented.grantKey)?.record);
  }

  private async stored(): Promise<GrantRecord | null> {
    const { grantKey } = this.presented;
    // A key KV would refuse (an over-long user part) names no grant: answer as for any unknown one.
    if (byteLength(grantKey) > MAX_KV_KEY_BYTES) return null;
    return this.kv.get<GrantRecord>(grantKey, { type: 'json' });
  }

  /**
   * Revokes the grant and every token of it: the grant first, so nothing refreshes meanwhile; after
   * this isolate's in-flight rotation of it, if any, so that write cannot land after the delete.
   */
  private async revoke(grant: GrantRecord, presentation: Extract<Presentation, { kind: 'reuse' }>): Promise<void> {
    const { userId, grantId, grantKey } = this.presented;
    const now = this.now();
    const wallClock = Date.now();
    recentlyRevoked.set(grantKey, wallClock + REVOKED_MEMORY_MS);
    for (const [key, until] of recentlyRevoked) if (until <= wallClock) recentlyRevoked.delete(key);
    const inFlight = pendingWrites.get(grantKey);
    console.warn(
      JSON.stringify({
        event: 'refresh_token_reuse',
        action: 'grant_revoked',
        reason: presentation.reason,
        clientId: grant.clientId,
        userId,
        grantId,
        secondsSinceLastRotation: presentation.rotatedAt === undefined ? null : Math.round((now - presentation.rotatedAt) / 1000),
      }),
    );
    const seconds = presentation.rotatedAt === undefined ? undefined : Math.round((now - presentation.rotatedAt) / 1000);
    audit({ type: 'token.refresh_reuse', reason: presentation.reason, outcome: 'denied', userId, clientId: grant.clientId, detail: { grant_id: grantId, ...(seconds !== undefined && { seconds_since_rotation: seconds }) } });
    audit({ type: 'grant.revoked', reason: 'refresh_token_reuse', outcome: 'ok', userId, clientId: grant.clientId, detail: { grant_id: grantId, by: 'server' } });
    try {
      if (inFlight) await settledWithin(inFlight.written, WRITE_ORDER_WAIT_MS);
      await this.kv.delete(grantKey);
      const prefix = `token:${userId}:${grantId}:`;
      let cursor: string | undefined;
      do {
        const page = await this.kv.list({ prefix, cursor });
        await Promise.all(page.keys.map((key) => this.kv.delete(key.name)));
        cursor = page.list_complete ? undefined : page.cursor;
      } while (cursor);
    } catch (error) {
      // The request is still refused; the log says the revocation must be finished by hand.
      console.error(
        JSON.stringify({ event: 'refresh_token_reuse_revocation_failed', clientId: grant.clientId, userId, grantId, message: error instanceof Error ? error.message.slice(0, 300) : String(error) }),
      );
    }
  }
}

/** How the presented token (its id) stands in `grant`. */
function classify(grant: GrantRecord, tokenId: string, now: number, graceMs: number): Presentation {
  if (grant.refreshTokenId === tokenId) return { kind: 'current' };
  const state = validState(grant.refreshRotation);
  const sibling = state?.siblings.find((candidate) => candidate.id === tokenId);
  if (sibling) return { kind: 'sibling', sibling };
  if (grant.previousRefreshTokenId === tokenId) {
    // Rotated before this module kept time (or by something that bypassed it): no grace to give.
    if (!state || state.parent !== tokenId) return { kind: 'reuse', reason: 'rotation_time_unknown' };
    if (state.replays >= 1) return { kind: 'reuse', reason: 'grace_used', rotatedAt: state.rotatedAt };
    if (graceMs === 0 || now - state.rotatedAt > graceMs) return { kind: 'reuse', reason: 'grace_expired', rotatedAt: state.rotatedAt };
    return { kind: 'grace' };
  }
  if (state?.retired.includes(shortId(tokenId))) return { kind: 'reuse', reason: 'retired', rotatedAt: state.rotatedAt };
  return { kind: 'unknown' };
}

/** The bookkeeping after the presented token (`tokenId`) was accepted as `kind` and rotated. */
function nextState(grant: GrantRecord, kind: 'current' | 'sibling' | 'grace', tokenId: string, now: number): RotationState {
  const state = validState(grant.refreshRotation);
  if (kind === 'grace' && state) {
    // The previous token's one replay: what the library held as current becomes a sibling of the
    // token this replay issues. The grace keeps running from the original rotation.
    const siblings = [...state.siblings];
    const { refreshTokenId: id, refreshTokenWrappedKey: key } = grant;
    if (id && key && !siblings.some((sibling) => sibling.id === id)) siblings.push({ id, key });
    return { ...state, gen: state.gen + 1, replays: state.replays + 1, siblings };
  }
  // A new generation: everything else this grant had issued is rotated out.
  const rotatedOut = [grant.previousRefreshTokenId, grant.refreshTokenId, ...(state?.siblings.map((sibling) => sibling.id) ?? [])].filter(
    (id): id is string => typeof id === 'string' && id !== tokenId,
  );
  const retired = [...new Set([...rotatedOut.map(shortId), ...(state?.retired ?? [])])].slice(0, MAX_RETIRED);
  return { v: 1, gen: (state?.gen ?? 0) + 1, rotatedAt: now, parent: tokenId, replays: 0, siblings: [], retired };
}

/** The newer of the stored record and this isolate's in-flight one. */
function freshest(stored: GrantRecord, pending: GrantRecord | undefined): GrantRecord {
  if (!pending) return stored;
  return (validState(pending.refreshRotation)?.gen ?? 0) > (validState(stored.refreshRotation)?.gen ?? 0) ? pending : stored;
}

function validState(state: unknown): RotationState | undefined {
  if (typeof state !== 'object' || state === null) return undefined;
  const candidate = state as Partial<RotationState>;
  return candidate.v === 1 &&
    typeof candidate.gen === 'number' &&
    typeof candidate.rotatedAt === 'number' &&
    typeof candidate.parent === 'string' &&
    typeof candidate.replays === 'number' &&
    Array.isArray(candidate.siblings) &&
    Array.isArray(candidate.retired)
    ? (candidate as RotationState)
    : undefined;
}

function isRecentlyRevoked(grantKey: string): boolean {
  const until = recentlyRevoked.get(grantKey);
  return until !== undefined && until > Date.now();
}

function invalidGrant(description: string, reason: string): OAuthError {
  return new OAuthError('invalid_grant', { description, internal: { category: 'refresh-token-grant', reason } });
}

/** The token and client of a refresh-token grant or a revocation request at the token endpoint, else undefined. */
async function presentedRefreshToken(request: Request, tokenPath: string): Promise<Presented | undefined> {
  if (request.method !== 'POST' || new URL(request.url).pathname !== tokenPath) return undefined;
  if (request.headers.get('Content-Type')?.split(';')[0]?.trim().toLowerCase() !== 'application/x-www-form-urlencoded') return undefined;
  const declared = Number(request.headers.get('Content-Length') ?? '0');
  if (!(declared <= MAX_INSPECTED_BODY_BYTES)) return undefined;
  let form: URLSearchParams;
  try {
    form = new URLSearchParams(new TextDecoder().decode(await request.clone().arrayBuffer()));
  } catch {
    return undefined; // the provider refuses an unreadable body itself
  }
  const grantType = form.get('grant_type');
  const purpose = grantType === 'refresh_token' ? 'refresh' : grantType === null && form.has('token') ? 'revocation' : undefined;
  if (!purpose) return undefined;
  const tokens = form.getAll(purpose === 'refresh' ? 'refresh_token' : 'token');
  if (tokens.length !== 1) return undefined;
  // The library splits the token the same way and refuses any other shape before reading anything.
  const parts = tokens[0]!.split(':');
  if (parts.length !== 3) return undefined;
  const [userId = '', grantId = ''] = parts;
  return { purpose, userId, grantId, grantKey: `grant:${userId}:${grantId}`, tokenId: await sha256Hex(tokens[0]!), clientId: claimedClientId(request.headers.get('Authorization'), form) };
}

/** The client id a token request authenticates as, read as the library reads it. */
function claimedClientId(authorization: string | null, form: URLSearchParams): string | undefined {
  if (authorization) {
    const space = authorization.search(/[ \t]/);
    if (space > 0 && authorization.slice(0, space).toLowerCase() === 'basic') {
      try {
        const credentials = atob(authorization.slice(space).trim());
        const colon = credentials.indexOf(':');
        return colon < 0 ? undefined : decodeURIComponent(credentials.slice(0, colon).replaceAll('+', ' '));
      } catch {
        return undefined;
      }
    }
  }
  const clientId = form.getAll('client_id').find((value) => value !== '');
  if (clientId) return clientId;
  // private_key_jwt without client_id: the assertion's issuer (the provider verifies the assertion first).
  const assertion = form.get('client_assertion');
  if (!assertion) return undefined;
  try {
    const payload = assertion.split('.')[1] ?? '';
    const claims = JSON.parse(atob(payload.replaceAll('-', '+').replaceAll('_', '/'))) as { iss?: unknown };
    return typeof claims.iss === 'string' ? claims.iss : undefined;
  } catch {
    return undefined;
  }
}

function isJsonRead(options: unknown): boolean {
  return options === 'json' || (typeof options === 'object' && options !== null && (options as { type?: unknown }).type === 'json');
}

function shortId(tokenId: string): string {
  return tokenId.slice(0, RETIRED_ID_LENGTH);
}

async function sha256Hex(value: string): Promise<string> {
  return hex(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(value))));
}

function settledWithin(promise: Promise<void>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  return Promise.race([promise, timeout]).finally(() => {
    if (timer !== undefined) clearTimeout(timer);
  });
}
