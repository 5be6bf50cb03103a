/**
 * Revoking a grant from this server's own pages and API (/account, /admin): the provider deletes the
 * grant and its tokens, and the grant's upstream tokens are deleted with them, at once.
 * (A grant that ends any other way, by expiry, refresh-token reuse or RFC 7009, takes the vault's key
 * with its props, so its upstream tokens are unreadable from then on and deleted by the vault's alarm.)
 */
import type { OAuthHelpers } from '@cloudflare/workers-oauth-provider';
import { forgetUpstreamTokens } from '../upstream/vault';

export async function revokeGrant(oauth: OAuthHelpers, env: Pick<Env, 'UPSTREAM_VAULT'>, userId: string, grantId: string, vaultId: string | undefined): Promise<void> {
  await oauth.revokeGrant(grantId, userId);
  await forgetUpstreamTokens(env, vaultId);
}
