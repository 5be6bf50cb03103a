/**
 * The contract every upstream identity provider adapter meets. The Worker is an OAuth client of the
 * upstream only to learn who the user is; the upstream's tokens never leave the adapter.
 */
import { hex } from '../crypto';
import type { DiscoveryCache } from './oidc';

/**
 * The deadline of every request the Worker makes to an upstream (discovery, keys, token, userinfo,
 * GitHub's API), body included (./http.ts). The user is waiting in a browser on each of them, and a
 * healthy IdP answers in well under a second; after 10 s a hung IdP becomes a page telling the user
 * so (and `temporarily_unavailable` for the client, if they go back) instead of a sign-in that never
 * ends.
 */
export const UPSTREAM_TIMEOUT_MS = 10_000;

/** What a test may change about how the adapters talk to the upstream. Nothing here is configuration. */
export interface UpstreamOptions {
  /** The deadline of each upstream request; default {@link UPSTREAM_TIMEOUT_MS}. */
  timeoutMs?: number;
  /** Where the OIDC adapter caches discovery documents and key sets; default one cache per isolate. */
  discoveryCache?: DiscoveryCache;
}

/**
 * The test seam for {@link UpstreamOptions} through the whole Worker: a test puts them on the env
 * object it hands the Worker, under this symbol. A deployer cannot: vars, secrets and bindings are
 * all named by strings, so production always runs with the defaults.
 */
export const INJECTED_UPSTREAM_OPTIONS: unique symbol = Symbol('injected upstream options');

/** The options a test injected into this env (see {@link INJECTED_UPSTREAM_OPTIONS}); none in production. */
export function injectedUpstreamOptions(env: object): UpstreamOptions {
  const injected: unknown = Reflect.get(env, INJECTED_UPSTREAM_OPTIONS);
  return typeof injected === 'object' && injected !== null ? (injected as UpstreamOptions) : {};
}

/** Per-sign-in secrets, kept server-side (encrypted by the provider's `beginUpstream`) until the callback. */
export interface UpstreamFlow {
  /** PKCE code verifier for the upstream authorization request. */
  codeVerifier: string;
  /** OIDC nonce; absent for plain OAuth 2.0 upstreams. */
  nonce?: string;
}

export interface UpstreamIdentity {
  /** `oidc:<issuer host>` or `github`. */
  upstream: string;
  /** Stable subject at the upstream. */
  subject: string;
  email?: string;
  /** Only a verified email counts for sign-in policy. */
  emailVerified: boolean;
  name?: string;
  /** GitHub login. */
  login?: string;
  /** GitHub organisations, lowercase; only fetched when policy needs them. */
  orgs?: string[];
  /** The OIDC claims (ID token, then userinfo), for `claim:` scope policy rules. Not stored. */
  claims?: Record<string, unknown>;
}

/**
 * A finished sign-in: who, and the upstream's tokens. The tokens are kept (encrypted, ./vault.ts)
 * only with UPSTREAM_TOKENS on, and dropped otherwise; never logged, never in props, never sent to a
 * client. Policy sees only the {@link UpstreamIdentity}.
 */
export type UpstreamSignIn = UpstreamIdentity & { tokens: UpstreamTokens };

/** What the upstream issued: the user's access to its API. */
export interface UpstreamTokens {
  accessToken: string;
  /** Absent when the upstream issues none (GitHub OAuth apps; an OIDC IdP not asked for `offline_access`). */
  refreshToken?: string;
  /** When the access token expires, in ms since the epoch; absent when the upstream did not say (GitHub OAuth app tokens never do). */
  expiresAt?: number;
  /** The scopes the upstream granted, when it said (RFC 6749 §5.1: omitted means as requested). */
  scopes?: string[];
}

export interface UpstreamAdapter {
  /** Fresh per-sign-in secrets. */
  prepare(): Promise<UpstreamFlow>;
  /** Where to send the browser. `state` comes from the provider's `beginUpstream`. */
  authorizationUrl(flow: UpstreamFlow, state: string, redirectUri: string): Promise<URL>;
  /** Validates the callback, exchanges the code and returns who signed in. Throws {@link UpstreamError}. */
  finish(callbackUrl: URL, state: string, flow: UpstreamFlow, redirectUri: string): Promise<UpstreamSignIn>;
  /**
   * New tokens for a refresh token (RFC 6749 §6). Throws {@link UpstreamError}: `invalid_grant` when
   * the refresh token is dead for good (revoked, expired, already used), so only a new sign-in helps.
   * `previous` fills in what the answer may leave out (the scopes, a refresh token that was not rotated).
   */
  refresh(previous: UpstreamTokens & { refreshToken: string }): Promise<UpstreamTokens>;
  /** The scopes asked of the upstream at sign-in, for the consent page. */
  readonly scopes: readonly string[];
  /** OIDC only: the IdP's userinfo endpoint (discovery), a resource its access tokens are for. */
  userinfoEndpoint?(): Promise<string | undefined>;
}

/**
 * A sign-in that failed at or with the upstream. `userMessage` is safe to show; `detail` is for logs
 * only and never carries a token or secret.
 */
export class UpstreamError extends Error {
  constructor(
    readonly reason: 'access_denied' | 'upstream_error' | 'upstream_unavailable' | 'invalid_response' | 'invalid_grant',
    readonly userMessage: string,
    readonly detail?: string,
  ) {
    super(`${reason}: ${detail ?? userMessage}`);
    this.name = 'UpstreamError';
  }
}

/** A user id for the OAuth provider: stable, unique across upstreams, and free of `:` (it is a KV key part). */
export async function userIdFor(identity: Pick<UpstreamIdentity, 'upstream' | 'subject'>): Promise<string> {
  if (identity.upstream === 'github') return `github-${identity.subject}`;
  // Subjects can be long or contain any character (`auth0|123`, `google-oauth2|…`), so hash them.
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(`${identity.upstream}\n${identity.subject}`));
  return `oidc-${hex(new Uint8Array(digest, 0, 16))}`;
}
