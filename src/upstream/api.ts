/**
 * What a tool gets to act as the user upstream: `upstream.fetch(url, init)`, which adds the user's
 * upstream access token, refreshes it through the vault (./vault.ts) when it is expiring or refused,
 * and sends it only to the upstream's own API origins. The tool never sees the token.
 *
 * Failures a tool should turn into a result are thrown as {@link UpstreamAccessError}; the tool
 * layer (../mcp/tool-calls.ts) does that for any it does not catch, and ends the grant when only a
 * new sign-in can help (`reauthorize`), so the client's next request is answered 401 and it sends
 * the user through authorization again.
 */
import { loadConfig, type Config } from '../config';
import type { RequestAuth } from '../mcp/request-auth';
import { upstreamFor } from './index';
import { describe, upstreamFetch } from './http';
import { injectedUpstreamOptions, UPSTREAM_TIMEOUT_MS, UpstreamError, type UpstreamAdapter } from './types';
import { forgetUpstreamTokens, retentionSeconds, vaultFor, type VaultAccess } from './vault';
import { audit } from '../audit/recorder';
import type { VaultRef } from './vault-ref';

/**
 * Why a tool could not act upstream. `userMessage` is for the user and the model: what happened and
 * what to do. `reauthorize`: only a new sign-in helps (this server then ends the grant);
 * `unavailable`: try again later; `refused`: this server will not send the token there, or the
 * upstream lacks a right that no sign-in can give under the current configuration; `step_up`: the
 * upstream lacks a right the configuration asks for now, so authorizing again (a step-up) gets it.
 */
export class UpstreamAccessError extends Error {
  constructor(
    readonly problem: 'reauthorize' | 'step_up' | 'unavailable' | 'refused',
    readonly userMessage: string,
    /** Stable, for the log and the audit trail. */
    readonly reason: string,
  ) {
    super(`${problem} (${reason}): ${userMessage}`);
    this.name = 'UpstreamAccessError';
  }
}

export interface UpstreamRequestInit {
  method?: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Any headers but `Authorization`, which is the user's token and set here. */
  headers?: Record<string, string>;
  body?: string;
}

/** The capability in a tool's context. */
export interface UpstreamApi {
  /** `github` or `oidc`: which upstream the user signed in with. */
  readonly kind: Config['upstream']['kind'];
  /**
   * `url` fetched as the user: the upstream's answer, whatever its status, except that a 401 is
   * answered by one refresh and one retry, and the failures above are thrown. Redirects are not
   * followed (the token would go with them). Bodies are capped at 1 MiB, each try at 10 s.
   */
  fetch(url: string | URL, init?: UpstreamRequestInit): Promise<Response>;
  /** The IdP's userinfo endpoint (OIDC discovery); throws `refused` for GitHub or when the IdP has none. */
  userinfoEndpoint(): Promise<string>;
  /** GitHub's REST API base (`GITHUB_API_URL`); throws `refused` for OIDC. */
  githubApiBase(): string;
}

/** The capability for one tool call by `auth`. Cheap: nothing is fetched until the tool asks. */
export function upstreamApiFor(auth: RequestAuth, env: Env): UpstreamApi {
  const config = loadConfig(env);
  const options = injectedUpstreamOptions(env);
  let built: UpstreamAdapter | undefined;
  const adapter = () => (built ??= upstreamFor(config, fetch, options));
  const idpName = config.upstream.kind === 'github' ? 'GitHub' : 'Your identity provider';
  const timeoutMs = options.timeoutMs ?? UPSTREAM_TIMEOUT_MS;

  async function allowedOrigins(): Promise<Set<string>> {
    const origins = new Set(config.upstreamTokens.apiOrigins);
    if (config.upstream.kind === 'github') origins.add(new URL(config.upstream.apiUrl).origin);
    else {
      const userinfo = await adapter().userinfoEndpoint?.().catch(() => undefined);
      if (userinfo) origins.add(new URL(userinfo).origin);
    }
    return origins;
  }

  async function access(ref: VaultRef, refusedGeneration?: number): Promise<Extract<VaultAccess, { ok: true }>> {
    let result: VaultAccess;
    try {
      result = await vaultFor(env, ref).access(ref, { upstream: config.upstream, retentionSeconds: retentionSeconds(config), refusedGeneration });
    } catch (error) {
      console.error(JSON.stringify({ event: 'upstream_vault_failed', message: describe(error).slice(0, 300) }));
      throw new UpstreamAccessError('unavailable', 'This server could not reach your upstream sign-in just now. Try again in a moment.', 'vault_unavailable');
    }
    if (result.ok) return result;
    if (result.problem === 'unavailable') throw new UpstreamAccessError('unavailable', `${result.message} Try again in a moment.`, result.reason);
    throw new UpstreamAccessError('reauthorize', reauthorizeMessage(idpName, result.message), result.reason);
  }

  return {
    kind: config.upstream.kind,

    async fetch(input, init = {}) {
      const ref = auth.user.upstreamVault;
      if (!config.upstreamTokens.enabled) throw new UpstreamAccessError('refused', 'This server is not configured to act as you upstream (UPSTREAM_TOKENS is off).', 'upstream_tokens_off');
      if (!ref) throw new UpstreamAccessError('reauthorize', reauthorizeMessage(idpName, 'This connection was made before this server kept upstream sign-ins.'), 'no_vault');
      const url = new URL(input);
      const allowed = await allowedOrigins();
      if (!allowed.has(url.origin)) {
        // A tool bug or a prompt-injected URL: the user's token goes nowhere but the upstream's API.
        throw new UpstreamAccessError('refused', `This server sends your ${idpName === 'GitHub' ? 'GitHub' : 'upstream'} token only to ${[...allowed].join(', ')}, not to ${url.origin}.`, 'origin_not_allowed');
      }
      const send = upstreamFetch(fetch, { timeoutMs, idp: idpName });
      const attempt = async (token: string): Promise<Response> => {
        const headers = new Headers(init.headers);
        headers.set('Authorization', `Bearer ${token}`);
        try {
          return await send(url.href, { method: init.method ?? 'GET', headers, body: init.body, redirect: 'manual' });
        } catch (error) {
          if (error instanceof UpstreamError) throw new UpstreamAccessError('unavailable', error.userMessage, `upstream_${error.reason}`);
          throw error;
        }
      };
      let granted = await access(ref);
      let response = await attempt(granted.accessToken);
      if (response.status === 401) {
        // Refused before its time (revoked at the IdP, or its clock ahead of ours): one refresh, one retry.
        await response.body?.cancel();
        granted = await access(ref, granted.generation);
        response = await attempt(granted.accessToken);
        if (response.status === 401) {
          await response.body?.cancel();
          throw new UpstreamAccessError('reauthorize', reauthorizeMessage(idpName, `${idpName} no longer accepts this server's access on your behalf.`), 'access_token_refused');
        }
      }
      const missing = missingUpstreamScope(response, granted.scopes);
      if (missing !== undefined) {
        await response.body?.cancel();
        const configured = adapter().scopes;
        const setting = config.upstream.kind === 'github' ? 'GITHUB_SCOPES' : 'OIDC_SCOPES';
        const asked = missing.oneOf ? missing.scopes.find((scope) => configured.includes(scope)) : missing.scopes.every((scope) => configured.includes(scope)) ? missing.scopes.join(' ') : undefined;
        if (asked === undefined) {
          const named = missing.scopes.map((scope) => `"${scope}"`).join(missing.oneOf ? ' or ' : ' and ');
          throw new UpstreamAccessError('refused', `${idpName} needs the ${named} permission for this, which this server does not ask for. An administrator can add it to ${setting}.`, 'upstream_scope_not_configured');
        }
        // The configuration asks for it now, but this sign-in predates that: a new one will carry it.
        throw new UpstreamAccessError('step_up', `${idpName} has not given this server the "${asked}" permission this needs: authorize this app again to grant it, then retry.`, 'upstream_scope_missing');
      }
      return response;
    },

    async userinfoEndpoint() {
      const endpoint = config.upstream.kind === 'oidc' ? await adapter().userinfoEndpoint?.() : undefined;
      if (!endpoint) throw new UpstreamAccessError('refused', 'The identity provider has no userinfo endpoint.', 'no_userinfo_endpoint');
      return endpoint;
    },

    githubApiBase() {
      if (config.upstream.kind !== 'github') throw new UpstreamAccessError('refused', 'This server does not sign in with GitHub.', 'not_github');
      return config.upstream.apiUrl;
    },
  };
}

function reauthorizeMessage(idpName: string, why: string): string {
  return `${why} This connection has been ended: reconnect this app to sign in with ${idpName === 'GitHub' ? 'GitHub' : 'your identity provider'} again, then retry.`;
}

/** What an upstream says a request lacks: every one of `scopes`, or (`oneOf`) any one of them. */
export interface MissingUpstreamScope {
  scopes: string[];
  oneOf: boolean;
}

/**
 * The upstream permission this answer says is missing, or undefined when it does not say so.
 * - RFC 6750 §3.1: 403 with `WWW-Authenticate: Bearer error="insufficient_scope", scope="…"`, the
 *   scopes the request needs (those of them the token was granted are left out, when known).
 * - GitHub, for OAuth app tokens ("Scopes for OAuth apps"): `X-Accepted-OAuth-Scopes` lists the
 *   scopes the endpoint accepts, any one of which will do, and `X-OAuth-Scopes` those the token has;
 *   a 403 or 404 where they share nothing (after GitHub's scope hierarchy) is a missing scope. GitHub
 *   App tokens carry permissions, not scopes, and no `X-OAuth-Scopes`: nothing is read from them.
 */
export function missingUpstreamScope(response: Response, granted: readonly string[] | undefined): MissingUpstreamScope | undefined {
  if (response.status === 403) {
    const challenge = response.headers.get('WWW-Authenticate') ?? '';
    if (/\berror\s*=\s*"?insufficient_scope"?/i.test(challenge)) {
      const needed = (/\bscope\s*=\s*"([^"]*)"/i.exec(challenge)?.[1] ?? '').split(' ').filter(Boolean);
      const lacking = needed.filter((scope) => !(granted ?? []).includes(scope));
      return { scopes: lacking.length > 0 ? lacking : needed, oneOf: false };
    }
  }
  const held = response.headers.get('X-OAuth-Scopes');
  if ((response.status === 403 || response.status === 404) && held !== null) {
    const accepted = splitScopes(response.headers.get('X-Accepted-OAuth-Scopes'));
    const heldScopes = withGithubImplied(splitScopes(held));
    if (accepted.length > 0 && !accepted.some((scope) => heldScopes.includes(scope))) return { scopes: accepted, oneOf: true };
  }
  return undefined;
}

/**
 * GitHub's scopes that include others ("Scopes for OAuth apps": `repo` grants `public_repo` and the
 * `repo:*` scopes, `user` the `user:*` and `read:user`, `admin:org` `write:org` and `read:org`).
 */
const GITHUB_SCOPE_IMPLIES: Record<string, readonly string[]> = {
  repo: ['public_repo', 'repo:status', 'repo_deployment', 'repo:invite', 'security_events'],
  user: ['read:user', 'user:email', 'user:follow'],
  'admin:org': ['write:org', 'read:org'],
  'write:org': ['read:org'],
};

function splitScopes(header: string | null): string[] {
  return (header ?? '').split(/[\s,]+/).filter(Boolean);
}

/** `scopes` and every scope they include (GitHub's hierarchy is two levels deep at most). */
function withGithubImplied(scopes: readonly string[]): string[] {
  const all = new Set(scopes);
  for (let round = 0; round < 2; round++) for (const scope of [...all]) for (const implied of GITHUB_SCOPE_IMPLIES[scope] ?? []) all.add(implied);
  return [...all];
}

/**
 * Ends the grant whose upstream sign-in is dead: its tokens stop working (the client's next request
 * gets 401 `invalid_token`, its refresh `invalid_grant`), so the client sends the user through
 * authorization again instead of calling a tool that cannot work. The vault is deleted with it.
 * Never throws: the tool's answer already says what happened.
 */
export async function endGrantForReauthorization(auth: RequestAuth, env: Env, reason: string): Promise<void> {
  try {
    const config = loadConfig(env);
    // Imported here, not at the top: the provider's options name the MCP routes, which import this module.
    const [{ getOAuthApi }, { providerOptions }, { providerEnv }] = await Promise.all([import('@cloudflare/workers-oauth-provider'), import('../provider'), import('../storage/oauth-kv')]);
    await getOAuthApi(providerOptions(config, auth.resource), providerEnv(env, config, auth.resource)).revokeGrant(auth.grantId, auth.user.userId);
    if (auth.user.upstreamVault) await forgetUpstreamTokens(env, auth.user.upstreamVault.id);
    audit({ type: 'grant.revoked', reason: 'upstream_sign_in_lost', outcome: 'ok', userId: auth.user.userId, email: auth.user.email, clientId: auth.clientId, detail: { grant_id: auth.grantId, by: 'server', cause: reason } }, env);
  } catch (error) {
    console.error(JSON.stringify({ event: 'grant_end_failed', message: describe(error).slice(0, 300) }));
  }
}
