/**
 * The upstream token vault: the user's upstream tokens (UPSTREAM_TOKENS=on), one Durable Object per
 * grant, encrypted under a key that exists only in that grant's props.
 *
 * Why this shape:
 * - **Encrypted at rest, bound to the grant.** Each grant gets a random 256-bit key and a random
 *   vault id at sign-in (../auth/app.ts). Both live in the grant's props, which the OAuth provider
 *   stores encrypted under a key only the grant's own tokens unwrap. The object stores ciphertext
 *   (AES-256-GCM, the vault id as associated data) and is handed the key on each call, never keeping
 *   it. A grant that is revoked or expires takes its props, and with them the only copy of the key:
 *   its tokens are unreadable from that moment, wherever the ciphertext still is. Revoking from
 *   /account or /admin also deletes them at once; otherwise the object deletes itself by alarm
 *   {@link retentionSeconds} after its last use.
 * - **One refresh at a time.** A Durable Object is one instance worldwide and the only writer of its
 *   state, so "concurrent calls share one refresh" is a promise held in memory here, and a refresh
 *   token the IdP rotates is written to storage before anyone is handed the new access token.
 * - **The Worker never sees a refresh token**: refreshing happens here; callers get an access token.
 */
import { DurableObject } from 'cloudflare:workers';
import { base64url } from '../crypto';
import type { Config, UpstreamConfig } from '../config';
import { createGithubAdapter } from './github';
import { createOidcAdapter } from './oidc';
import { UpstreamError, type UpstreamAdapter, type UpstreamTokens } from './types';
import { isVaultRef, VAULT_ID_PATTERN, type VaultRef } from './vault-ref';

export { isVaultRef, newVaultRef, type VaultRef } from './vault-ref';

/**
 * Refresh the access token this long before it expires, so a call does not reach the upstream with a
 * token that dies on the way: 60 s covers a slow upstream call and clock skew between Cloudflare and
 * the IdP. A token that lives less than four minutes gets a quarter of its life instead, or it would
 * be refreshed on every call (tokens live from minutes, a dev IdP's, to hours, GitHub's 8).
 */
export const REFRESH_MARGIN_MS = 60_000;

function refreshMarginMs(lifetimeMs: number | undefined): number {
  return lifetimeMs === undefined ? REFRESH_MARGIN_MS : Math.min(REFRESH_MARGIN_MS, Math.max(0, lifetimeMs) / 4);
}

/**
 * How long a vault outlives its last use: as long as the longest a grant can go unused and still be
 * refreshed, so it never dies while its grant lives (a grant in use touches it on every upstream call).
 */
export function retentionSeconds(config: Pick<Config, 'lifetimes'>): number {
  return Math.max(config.lifetimes.refreshTokenSeconds, config.lifetimes.refreshIdleSeconds ?? 0);
}

/** An access token for one upstream call, or why there is none. */
export type VaultAccess =
  | {
      ok: true;
      accessToken: string;
      /** What the upstream granted, when it said. */
      scopes: string[] | undefined;
      /** Counts refreshes: a caller whose token was refused asks for a refresh of exactly this one. */
      generation: number;
    }
  /**
   * `reauthorize`: no token can be had without the user signing in again (the vault is gone or
   * unreadable, the refresh token is dead, or there is none and the access token expired).
   * `unavailable`: the upstream could not refresh right now; trying later may work.
   */
  | { ok: false; problem: 'reauthorize' | 'unavailable'; reason: string; message: string };

export interface AccessOptions {
  /** Refresh even if the stored token looks valid, when it is still this generation (the upstream refused it). */
  refusedGeneration?: number;
  /** How the upstream is reached for a refresh: the caller's configuration (the object has no per-request env of its own). */
  upstream: UpstreamConfig;
  retentionSeconds: number;
}

/** The stored record. Only `sealed` holds anything secret, and it is encrypted. */
interface StoredEntry {
  version: 1;
  /** AES-GCM(iv ‖ ciphertext) of the tokens as JSON, base64url. */
  sealed: string;
  /** When the access token expires (ms), or undefined when the upstream did not say. In clear: lets a call decide to refresh without decrypting. */
  expiresAt: number | undefined;
  /** How long the access token was issued for (ms), for the refresh margin. */
  lifetimeMs: number | undefined;
  generation: number;
}

const ENTRY_KEY = 'entry';
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class UpstreamTokenVault extends DurableObject<Env> {
  /** The refresh in flight, shared by every call that needs it. */
  private refreshing: Promise<VaultAccess> | undefined;

  /** Stores `tokens` for the grant `ref` names (at sign-in), replacing anything there. */
  async keep(ref: VaultRef, tokens: UpstreamTokens, keepSeconds: number): Promise<void> {
    await this.write(ref, tokens, 0);
    await this.ctx.storage.setAlarm(Date.now() + keepSeconds * 1000);
  }

  /** An access token not about to expire (see {@link REFRESH_MARGIN_MS}), refreshed here when needed. */
  async access(ref: VaultRef, options: AccessOptions): Promise<VaultAccess> {
    const entry = await this.ctx.storage.get<StoredEntry>(ENTRY_KEY);
    if (!entry) return gone('missing', 'This server holds no upstream sign-in for this connection.');
    const tokens = await open(ref, entry.sealed);
    if (!tokens) return gone('unreadable', 'This server cannot read the upstream sign-in for this connection.');
    await this.ctx.storage.setAlarm(Date.now() + options.retentionSeconds * 1000);
    // A refusal of an older generation was answered by a refresh another call made: the stored token is the newer one.
    const refused = options.refusedGeneration !== undefined && options.refusedGeneration === entry.generation;
    const expiring = entry.expiresAt !== undefined && entry.expiresAt - Date.now() < refreshMarginMs(entry.lifetimeMs);
    if (!refused && !expiring) return { ok: true, accessToken: tokens.accessToken, scopes: tokens.scopes, generation: entry.generation };
    if (!tokens.refreshToken) {
      return gone(refused ? 'access_token_refused' : 'access_token_expired', 'The upstream sign-in has expired and cannot be renewed without you.');
    }
    this.refreshing ??= this.refresh(ref, { ...tokens, refreshToken: tokens.refreshToken }, entry.generation, options).finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  /** Moves the deletion alarm out again: the grant is in use (its client refreshed), though no tool has called upstream lately. */
  async touch(keepSeconds: number): Promise<void> {
    if ((await this.ctx.storage.get(ENTRY_KEY)) !== undefined) await this.ctx.storage.setAlarm(Date.now() + keepSeconds * 1000);
  }

  /** Deletes the tokens (the grant was revoked). */
  async forget(): Promise<void> {
    await this.ctx.storage.deleteAll();
  }

  /** Unused for {@link retentionSeconds}: its grant cannot be alive any more. */
  override async alarm(): Promise<void> {
    await this.ctx.storage.deleteAll();
  }

  private async refresh(ref: VaultRef, tokens: UpstreamTokens & { refreshToken: string }, generation: number, options: AccessOptions): Promise<VaultAccess> {
    let fresh: UpstreamTokens;
    try {
      fresh = await refresherFor(options.upstream).refresh(tokens);
    } catch (error) {
      if (error instanceof UpstreamError && error.reason === 'invalid_grant') {
        // Dead for good: nothing here can be used again, so nothing is kept.
        await this.ctx.storage.delete(ENTRY_KEY);
        console.warn(JSON.stringify({ event: 'upstream_refresh_refused', detail: error.detail }));
        return gone('refresh_token_refused', error.userMessage);
      }
      const detail = error instanceof UpstreamError ? error.detail : error instanceof Error ? `${error.name}: ${error.message.slice(0, 200)}` : 'unknown';
      console.warn(JSON.stringify({ event: 'upstream_refresh_failed', reason: error instanceof UpstreamError ? error.reason : 'exception', detail }));
      const message = error instanceof UpstreamError ? error.userMessage : 'The upstream could not renew your sign-in right now.';
      return { ok: false, problem: 'unavailable', reason: error instanceof UpstreamError ? error.reason : 'exception', message };
    }
    // Stored before anyone is given the new access token: a rotated refresh token is never lost to a
    // caller that is faster than this write.
    await this.write(ref, fresh, generation + 1);
    // Again, in case forget() ran while the IdP answered: what this wrote must not outlive its grant.
    await this.ctx.storage.setAlarm(Date.now() + options.retentionSeconds * 1000);
    return { ok: true, accessToken: fresh.accessToken, scopes: fresh.scopes, generation: generation + 1 };
  }

  private async write(ref: VaultRef, tokens: UpstreamTokens, generation: number): Promise<void> {
    const entry: StoredEntry = { version: 1, sealed: await seal(ref, tokens), expiresAt: tokens.expiresAt, lifetimeMs: tokens.expiresAt === undefined ? undefined : tokens.expiresAt - Date.now(), generation };
    await this.ctx.storage.put(ENTRY_KEY, entry);
  }
}

function gone(reason: string, message: string): VaultAccess {
  return { ok: false, problem: 'reauthorize', reason, message };
}

/** Only refresh() is used: the adapters' other parts need what sign-in has (state, PKCE). */
function refresherFor(upstream: UpstreamConfig): Pick<UpstreamAdapter, 'refresh'> {
  if (upstream.kind === 'github') return createGithubAdapter(upstream, { needOrgs: false });
  return createOidcAdapter(upstream);
}

async function aesKey(ref: VaultRef): Promise<CryptoKey> {
  return crypto.subtle.importKey('raw', fromBase64url(ref.key), 'AES-GCM', false, ['encrypt', 'decrypt']);
}

/** The associated data: a ciphertext moved to another vault does not decrypt there. */
function associatedData(ref: VaultRef): Uint8Array {
  return encoder.encode(`upstream-vault\n${ref.id}`);
}

async function seal(ref: VaultRef, tokens: UpstreamTokens): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ciphertext = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: associatedData(ref) }, await aesKey(ref), encoder.encode(JSON.stringify(tokens)));
  const out = new Uint8Array(iv.byteLength + ciphertext.byteLength);
  out.set(iv);
  out.set(new Uint8Array(ciphertext), iv.byteLength);
  return base64url(out);
}

async function open(ref: VaultRef, sealed: string): Promise<UpstreamTokens | undefined> {
  try {
    const bytes = fromBase64url(sealed);
    const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: bytes.subarray(0, 12), additionalData: associatedData(ref) }, await aesKey(ref), bytes.subarray(12));
    const tokens: unknown = JSON.parse(decoder.decode(plain));
    return typeof tokens === 'object' && tokens !== null && typeof Reflect.get(tokens, 'accessToken') === 'string' ? (tokens as UpstreamTokens) : undefined;
  } catch {
    // Another key (another grant's), or altered: unreadable, which is what it should be.
    return undefined;
  }
}

function fromBase64url(value: string): Uint8Array {
  const binary = atob(value.replaceAll('-', '+').replaceAll('_', '/'));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

/** The vault object of `ref`. */
export function vaultFor(env: Pick<Env, 'UPSTREAM_VAULT'>, ref: VaultRef): DurableObjectStub<UpstreamTokenVault> {
  return env.UPSTREAM_VAULT.get(env.UPSTREAM_VAULT.idFromName(ref.id));
}

/**
 * On every refresh of a grant's own tokens: keeps its vault as long as the grant, which a refresh
 * slides forward (REFRESH_TOKEN_IDLE_TTL_SECONDS) even when no tool has used the upstream since.
 * Never fails the refresh: a vault that could not be touched now is touched at the next one.
 */
export async function keepUpstreamTokensAlive(env: Pick<Env, 'UPSTREAM_VAULT'>, props: unknown, keepSeconds: number): Promise<void> {
  const ref: unknown = typeof props === 'object' && props !== null ? Reflect.get(props, 'upstreamVault') : undefined;
  if (!isVaultRef(ref)) return;
  try {
    await vaultFor(env, ref).touch(keepSeconds);
  } catch (error) {
    console.warn(JSON.stringify({ event: 'upstream_vault_touch_failed', message: error instanceof Error ? error.message.slice(0, 200) : String(error) }));
  }
}

/** Deletes a grant's upstream tokens, if it has any; never fails the revocation it follows. */
export async function forgetUpstreamTokens(env: Pick<Env, 'UPSTREAM_VAULT'>, vaultId: unknown): Promise<void> {
  if (typeof vaultId !== 'string' || !VAULT_ID_PATTERN.test(vaultId)) return;
  try {
    await env.UPSTREAM_VAULT.get(env.UPSTREAM_VAULT.idFromName(vaultId)).forget();
  } catch (error) {
    // The key went with the grant: what is left is unreadable, and the alarm deletes it.
    console.warn(JSON.stringify({ event: 'upstream_vault_forget_failed', message: error instanceof Error ? error.message.slice(0, 200) : String(error) }));
  }
}
