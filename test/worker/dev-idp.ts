/**
 * The real dev OIDC IdP (started by global-setup.ts) as the Worker's upstream in workerd tests. The
 * test plays the browser at the IdP (its login form, over HTTP), and can see which requests the
 * Worker itself made to the IdP. A second one (`DevIdp.faulty()`) hangs, answers garbage or rotates
 * its signing key on demand, through its control endpoints (dev/idp/server.ts).
 */
import { env } from 'cloudflare:workers';
import { inject, vi } from 'vitest';
import { httpLogin } from '../../cli/lib/http-login.ts';
import type { Fault } from '../../dev/idp/fault-types.ts';
import type { DevIdpStats } from '../../dev/idp/stats.ts';
import { INJECTED_UPSTREAM_OPTIONS, type UpstreamOptions } from '../../src/upstream/types';
import { ORIGIN } from './helpers';
import './provided-context.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Issuer of the dev IdP whose faults and keys upstream-faults.test.ts controls (also declared in global-setup.ts). */
    faultyIdpIssuer: string;
    /** Issuer of the short-lived-token dev IdP of upstream-tokens.test.ts (also declared in global-setup.ts). */
    vaultIdpIssuer: string;
  }
}

/** The real fetch, before any test replaced it. */
const realFetch = globalThis.fetch;
/** The IdPs recording the Worker's requests right now: one spy on fetch serves them all. */
const watching = new Set<DevIdp>();

export class DevIdp {
  readonly issuer: string;
  /** The Worker's environment, pointed at this IdP. */
  readonly env: Env;
  /** Every URL the Worker fetched while installed (not the test's own browser requests). */
  readonly fetched: string[] = [];
  private browsing = false;

  private constructor(issuer: string, injected?: UpstreamOptions, vars: Record<string, string> = {}) {
    this.issuer = issuer;
    // Injected options reach the Worker's adapters through a symbol-keyed slot no deployer can set (src/upstream/types.ts).
    this.env = { ...env, OIDC_ISSUER: issuer, ...vars, ...(injected ? { [INJECTED_UPSTREAM_OPTIONS]: injected } : {}) } as Env;
  }

  /** The running dev IdP, recording the Worker's outbound requests until `vi.restoreAllMocks()`. */
  static install(): DevIdp {
    return DevIdp.watching(inject('devIdpIssuer'));
  }

  /** An IdP that cannot be reached (nothing listens there), at an issuer no test has discovered yet. */
  static unreachable(): DevIdp {
    return DevIdp.watching(`http://127.0.0.1:9/down-${crypto.randomUUID()}`);
  }

  /**
   * The dev IdP whose faults and keys this test controls (only upstream-faults.test.ts uses it), with
   * `injected` upstream options (a short deadline, a discovery cache of the test's own) and extra
   * Worker `vars` in its env.
   */
  static faulty(injected: UpstreamOptions = {}, vars: Record<string, string> = {}): DevIdp {
    return DevIdp.watching(inject('faultyIdpIssuer'), injected, vars);
  }

  /**
   * The dev IdP whose access tokens live a few seconds (global-setup.ts), with control on: for the
   * tests of tools that act as the user upstream, with extra Worker `vars`.
   */
  static shortLived(vars: Record<string, string> = {}): DevIdp {
    return DevIdp.watching(inject('vaultIdpIssuer'), undefined, vars);
  }

  /** As if `sub` removed the app at the IdP: their grants, refresh and access tokens go. */
  async revoke(sub: string): Promise<void> {
    await this.control('POST', 'revoke', { sub });
  }

  /** `sub`'s access tokens stop working now, as if expired; their refresh tokens still work. */
  async expireAccessTokens(sub: string): Promise<void> {
    await this.control('POST', 'expire-access-tokens', { sub });
  }

  /** How many refresh-token requests named `sub`, since the IdP started. */
  async refreshesOf(sub: string): Promise<number> {
    const response = await realFetch(`${this.issuer}/__dev-idp/stats`);
    if (!response.ok) throw new Error(`dev IdP stats: HTTP ${response.status}`);
    return (await response.json<DevIdpStats>()).refreshBySub[sub] ?? 0;
  }

  /** Requests to `fault.path` hang or get garbage from now on (dev/idp/faults.ts). */
  async injectFault(fault: Fault): Promise<void> {
    await this.control('POST', 'faults', fault);
  }

  /** Every fault off; requests hanging there now are answered (503). */
  async clearFaults(): Promise<void> {
    await this.control('DELETE', 'faults');
  }

  /** A new signing key signs from now on (the previous one stays published); returns its `kid`. */
  async rotateKeys(): Promise<string> {
    return ((await this.control('POST', 'rotate-keys', {})) as { kid: string }).kid;
  }

  private async control(method: 'POST' | 'DELETE', name: string, body?: unknown): Promise<unknown> {
    const response = await realFetch(`${this.issuer}/__dev-idp/${name}`, {
      method,
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`dev IdP control ${method} ${name}: HTTP ${response.status} ${await response.text()}`);
    return response.status === 204 ? undefined : response.json();
  }

  private static watching(issuer: string, injected?: UpstreamOptions, vars?: Record<string, string>): DevIdp {
    if (!vi.isMockFunction(globalThis.fetch)) {
      watching.clear(); // the last test's spy was restored, and its watchers with it
      vi.spyOn(globalThis, 'fetch').mockImplementation((input, init) => {
        const url = new Request(input, init).url;
        for (const idp of watching) if (!idp.browsing && url.startsWith(idp.issuer)) idp.fetched.push(url);
        return realFetch(input, init);
      });
    }
    const idp = new DevIdp(issuer, injected, vars);
    watching.add(idp);
    return idp;
  }

  /**
   * Signs `login` in at the IdP, from the authorization URL the Worker redirected to, as the user's
   * browser would: returns the Worker callback path (with `code` and `state`) the IdP sends it back to.
   */
  async signIn(authorizationUrl: string, login = 'alice'): Promise<string> {
    this.browsing = true;
    try {
      const back = await httpLogin(authorizationUrl, { login, password: login, redirectUri: `${ORIGIN}/callback` });
      return `${back.pathname}${back.search}`;
    } finally {
      this.browsing = false;
    }
  }

  /**
   * The IdP sends the user back refusing (they declined there): the callback path carrying `error`,
   * with `state` and, as this IdP does for every response (RFC 9207), `iss`.
   */
  refuse(authorizationUrl: string, error = 'access_denied'): string {
    const state = new URL(authorizationUrl).searchParams.get('state') ?? '';
    return `/callback?${new URLSearchParams({ error, state, iss: this.issuer })}`;
  }
}
