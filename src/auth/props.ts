import { isVaultRef, type VaultRef } from '../upstream/vault-ref';

/**
 * What a grant carries about its user. Stored encrypted in the grant by the OAuth provider
 * (`completeAuthorization({ props })`) and handed back as `ctx.props` on every API request.
 * Never holds an upstream token: the Worker mints its own tokens and keeps the IdP's in the vault
 * (../upstream/vault.ts), whose key is here.
 */
export interface GrantProps {
  /** Stable id, unique across upstreams, never containing `:` (the provider's KV keys use it). */
  userId: string;
  /** Which upstream signed the user in: `oidc:<issuer host>` or `github`. */
  upstream: string;
  /** Subject at the upstream (OIDC `sub`, GitHub numeric id). */
  subject: string;
  email?: string;
  name?: string;
  /** GitHub login, when the upstream is GitHub. */
  login?: string;
  /** Where this grant's upstream tokens are, and their key (UPSTREAM_TOKENS=on). Never leaves the Worker. */
  upstreamVault?: VaultRef;
}

export function isGrantProps(value: unknown): value is GrantProps {
  if (typeof value !== 'object' || value === null) return false;
  const props = value as Record<string, unknown>;
  return (
    typeof props.userId === 'string' &&
    props.userId !== '' &&
    typeof props.upstream === 'string' &&
    typeof props.subject === 'string' &&
    (props.upstreamVault === undefined || isVaultRef(props.upstreamVault))
  );
}
