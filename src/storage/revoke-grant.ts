/**
 * Revoking a grant from this server's own pages and API (/account, /admin): the provider deletes the
 * grant and its tokens, and the grant's upstream tokens are deleted with them, at once.
 * (A grant that ends any other way, by expiry, refresh-token reuse or RFC 7009, takes the vault's key
 * with its props, so its upstream tokens are unreadable from then on and deleted by the vault's alarm.)
 */
import type { OAuthHelpers } from '@cloudflare/workers-oauth-provider';
import { audit } from '../audit/recorder';
import { forgetUpstreamTokens } from '../upstream/vault';

export interface RevokedGrant {
  userId: string;
  grantId: string;
  /** The grant's upstream vault (its metadata's `vaultId`), if it has one. */
  vaultId: string | undefined;
  /** For the audit record, when known. */
  clientId?: string;
  email?: string;
}

/** Revokes `grant` on behalf of `by` (an administrator or the user), and records it in the audit trail. */
export async function revokeGrant(oauth: OAuthHelpers, env: Pick<Env, 'UPSTREAM_VAULT'>, grant: RevokedGrant, by: 'admin' | 'user'): Promise<void> {
  const { userId, grantId, clientId, email } = grant;
  await oauth.revokeGrant(grantId, userId);
  await forgetUpstreamTokens(env, grant.vaultId);
  audit({ type: 'grant.revoked', reason: by, outcome: 'ok', userId, ...(email ? { email } : {}), ...(clientId ? { clientId } : {}), detail: { grant_id: grantId, by } });
}
