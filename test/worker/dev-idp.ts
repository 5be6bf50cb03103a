/**
 * The real dev OIDC IdP (started by global-setup.ts) as the Worker's upstream in workerd tests. The
 * test plays the browser at the IdP (its login form, over HTTP), and can see which requests the
 * Worker itself made to the IdP.
 */
import { env } from 'cloudflare:workers';
import { inject, vi } from 'vitest';
import { httpLogin } from '../../cli/lib/http-login.ts';
import { ORIGIN } from './helpers';
import './provided-context.ts';

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

  private constructor(issuer: string) {
    this.issuer = issuer;
    this.env = { ...env, OIDC_ISSUER: issuer } as Env;
  }

  /** The running dev IdP, recording the Worker's outbound requests until `vi.restoreAllMocks()`. */
  static install(): DevIdp {
    return DevIdp.watching(inject('devIdpIssuer'));
  }

  /** An IdP that cannot be reached (nothing listens there), at an issuer no test has discovered yet. */
  static unreachable(): DevIdp {
    return DevIdp.watching(`http://127.0.0.1:9/down-${crypto.randomUUID()}`);
  }

  private static watching(issuer: string): DevIdp {
    if (!vi.isMockFunction(globalThis.fetch)) {
      watching.clear(); // the last test's spy was restored, and its watchers with it
      vi.spyOn(globalThis, 'fetch').mockImplementation((input, init) => {
        const url = new Request(input, init).url;
        for (const idp of watching) if (!idp.browsing && url.startsWith(idp.issuer)) idp.fetched.push(url);
        return realFetch(input, init);
      });
    }
    const idp = new DevIdp(issuer);
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
