/**
 * A fake upstream OpenID Provider, answered at the network layer: the dev IdP cannot run inside
 * workerd, and the Worker reaches its IdP only through `fetch`. It serves discovery, the token
 * endpoint (checking the code, PKCE verifier and client credentials) and a JWKS with a real RS256 key,
 * so the Worker's oauth4webapi code verifies a genuinely signed ID token.
 *
 * Each instance has its own issuer (a path under http://localhost:8788), because src/upstream/oidc.ts
 * caches discovery per issuer. Run the Worker with `idp.env` so it uses that issuer.
 */
import { env } from 'cloudflare:workers';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey as JoseKey } from 'jose';
import { vi } from 'vitest';
import { base64url } from './helpers';

export interface UpstreamUser {
  sub: string;
  email?: string;
  email_verified?: boolean;
  name?: string;
}

interface PendingCode {
  user: UpstreamUser;
  nonce: string;
  challenge: string;
  redirectUri: string;
}

export class FakeIdp {
  readonly issuer = `http://localhost:8788/test-${crypto.randomUUID()}`;
  /** The Worker's environment, pointed at this IdP. */
  readonly env: Env = { ...env, OIDC_ISSUER: this.issuer };
  /** Every URL the Worker fetched while this IdP was installed. */
  readonly fetched: string[] = [];
  /** When true, every request to the IdP fails as if it were down. */
  down = false;
  private readonly codes = new Map<string, PendingCode>();
  private readonly kid = crypto.randomUUID();

  private constructor(private readonly privateKey: JoseKey, private readonly publicJwk: Record<string, unknown>) {}

  /** Creates the IdP and routes the Worker's outbound fetches to it until `vi.restoreAllMocks()`. */
  static async install(): Promise<FakeIdp> {
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    const idp = new FakeIdp(privateKey, { ...(await exportJWK(publicKey)) });
    vi.spyOn(globalThis, 'fetch').mockImplementation((input, init) => idp.handle(new Request(input, init)));
    return idp;
  }

  /**
   * The user signs in at the IdP, given the authorization URL the Worker redirected to: returns the
   * Worker callback path the IdP would send the browser back to.
   */
  signIn(authorizationUrl: string, user: UpstreamUser): string {
    const url = new URL(authorizationUrl);
    if (`${url.origin}${url.pathname}` !== `${this.issuer}/auth`) throw new Error(`not this IdP's authorization endpoint: ${url.origin}${url.pathname}`);
    const code = base64url(crypto.getRandomValues(new Uint8Array(16)));
    this.codes.set(code, {
      user,
      nonce: url.searchParams.get('nonce') ?? '',
      challenge: url.searchParams.get('code_challenge') ?? '',
      redirectUri: url.searchParams.get('redirect_uri') ?? '',
    });
    const callback = new URL(url.searchParams.get('redirect_uri') ?? '');
    callback.search = new URLSearchParams({ code, state: url.searchParams.get('state') ?? '' }).toString();
    return `${callback.pathname}${callback.search}`;
  }

  /** The user refuses at the IdP: the callback path carrying `error`. */
  refuse(authorizationUrl: string, error = 'access_denied'): string {
    const url = new URL(authorizationUrl);
    return `/callback?${new URLSearchParams({ error, state: url.searchParams.get('state') ?? '' })}`;
  }

  private async handle(request: Request): Promise<Response> {
    this.fetched.push(request.url);
    if (this.down) throw new TypeError('Network connection lost.');
    switch (request.url) {
      case `${this.issuer}/.well-known/openid-configuration`:
        return Response.json({
          issuer: this.issuer,
          authorization_endpoint: `${this.issuer}/auth`,
          token_endpoint: `${this.issuer}/token`,
          jwks_uri: `${this.issuer}/jwks`,
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['RS256'],
        });
      case `${this.issuer}/jwks`:
        return Response.json({ keys: [{ ...this.publicJwk, kid: this.kid, alg: 'RS256', use: 'sig' }] });
      case `${this.issuer}/token`:
        return this.token(request);
      default:
        throw new Error(`unexpected outbound request to ${request.url}`);
    }
  }

  private async token(request: Request): Promise<Response> {
    const refuse = (error: string) => Response.json({ error }, { status: 400 });
    if (!hasClientCredentials(request)) return Response.json({ error: 'invalid_client' }, { status: 401 });
    const body = new URLSearchParams(await request.text());
    const pending = this.codes.get(body.get('code') ?? '');
    this.codes.delete(body.get('code') ?? '');
    if (!pending || body.get('grant_type') !== 'authorization_code' || body.get('redirect_uri') !== pending.redirectUri) return refuse('invalid_grant');
    const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(body.get('code_verifier') ?? ''));
    if (base64url(new Uint8Array(digest)) !== pending.challenge) return refuse('invalid_grant');
    const idToken = await new SignJWT({ ...pending.user, nonce: pending.nonce })
      .setProtectedHeader({ alg: 'RS256', kid: this.kid })
      .setIssuer(this.issuer)
      .setAudience(env.OIDC_CLIENT_ID)
      .setSubject(pending.user.sub)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(this.privateKey);
    return Response.json({ access_token: 'upstream-access-token', token_type: 'Bearer', expires_in: 300, id_token: idToken });
  }
}

/** Whether `request` authenticates as the Worker's upstream client with HTTP Basic (RFC 6749 §2.3.1: form-encoded parts). */
function hasClientCredentials(request: Request): boolean {
  const header = request.headers.get('Authorization') ?? '';
  if (!header.startsWith('Basic ')) return false;
  const decoded = atob(header.slice(6));
  const colon = decoded.indexOf(':');
  const part = (value: string) => decodeURIComponent(value.replaceAll('+', ' '));
  return colon > 0 && part(decoded.slice(0, colon)) === env.OIDC_CLIENT_ID && part(decoded.slice(colon + 1)) === env.OIDC_CLIENT_SECRET;
}
