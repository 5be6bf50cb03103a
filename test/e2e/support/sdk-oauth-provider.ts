/**
 * An `OAuthClientProvider` for the official MCP TypeScript SDKs (1.x and 2.x: it satisfies both
 * interfaces), as a real client application writes one: client information, tokens and the PKCE
 * verifier kept in memory, and the browser step done for real — headless Chromium through our consent page and the dev IdP. Everything protocol-side
 * (discovery, registration, PKCE, `resource`, token exchange, refresh) is left to the SDK; the
 * provider only records what it was handed, so tests can assert on what the SDK did by itself.
 */
import { randomBytes } from 'node:crypto';
import type { OAuthClientProvider as V2OAuthClientProvider } from '@modelcontextprotocol/client';
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { browserLogin } from '../../../cli/lib/browser-login.ts';

export interface BrowserUser {
  login: string;
  password: string;
}

/** One redirect back to the client: the URL the browser reached, and the state this provider sent. */
export interface AuthorizationReturn {
  authorizationUrl: URL;
  callback: URL;
  sentState: string;
}

export class BrowserOAuthProvider implements OAuthClientProvider, V2OAuthClientProvider {
  private client: OAuthClientInformationMixed | undefined;
  private stored: OAuthTokens | undefined;
  private verifier: string | undefined;
  private lastState: string | undefined;
  /** Every authorization the SDK started, in order: more than one means it did not refresh. */
  readonly authorizations: AuthorizationReturn[] = [];
  /** Every token set the SDK saved (code exchange, then each refresh). */
  readonly savedTokens: OAuthTokens[] = [];

  constructor(
    private readonly redirect: string,
    private readonly metadata: OAuthClientMetadata,
    private readonly user: BrowserUser,
  ) {}

  get redirectUrl(): string {
    return this.redirect;
  }

  get clientMetadata(): OAuthClientMetadata {
    return this.metadata;
  }

  state(): string {
    this.lastState = randomBytes(16).toString('base64url');
    return this.lastState;
  }

  clientInformation(): OAuthClientInformationMixed | undefined {
    return this.client;
  }

  saveClientInformation(information: OAuthClientInformationMixed): void {
    // Kept unchanged, `issuer` included, as the SDK asks: it binds the registration to its server.
    this.client = information;
  }

  tokens(): OAuthTokens | undefined {
    return this.stored;
  }

  saveTokens(tokens: OAuthTokens): void {
    this.stored = tokens;
    this.savedTokens.push(tokens);
  }

  saveCodeVerifier(codeVerifier: string): void {
    this.verifier = codeVerifier;
  }

  codeVerifier(): string {
    if (this.verifier === undefined) throw new Error('no PKCE verifier saved: the SDK asked for it before starting an authorization');
    return this.verifier;
  }

  /** The user's browser: consent page, IdP login, back to our redirect URI (intercepted there). */
  async redirectToAuthorization(authorizationUrl: URL): Promise<void> {
    const callback = await browserLogin(authorizationUrl.href, { ...this.user, redirectUri: this.redirect });
    this.authorizations.push({ authorizationUrl, callback, sentState: this.lastState ?? '' });
  }

  /**
   * The parameters of the latest redirect back, after the checks neither SDK makes for us: the state
   * this provider sent, and no `error`. The 2.x SDK takes them whole and checks `iss` (RFC 9207) itself.
   */
  callbackParams(): URLSearchParams {
    const latest = this.authorizations.at(-1);
    if (!latest) throw new Error('the SDK never redirected to the authorization server');
    const params = latest.callback.searchParams;
    if (params.get('error')) throw new Error(`authorization failed: ${params.get('error')} ${params.get('error_description') ?? ''}`);
    if (params.get('state') !== latest.sentState) throw new Error(`state mismatch: sent ${latest.sentState}, got ${params.get('state')}`);
    return params;
  }

  /**
   * The code from the latest redirect back, for the 1.x SDK, which takes only the code: after the
   * state and error checks, also the issuer it talked to (RFC 9207), which that SDK leaves to us.
   */
  authorizationCode(expectedIssuer: string): string {
    const params = this.callbackParams();
    if (params.get('iss') !== expectedIssuer) throw new Error(`iss mismatch: expected ${expectedIssuer}, got ${params.get('iss')}`);
    const code = params.get('code');
    if (!code) throw new Error(`no code in the redirect back: ${params.toString()}`);
    return code;
  }

  /** Makes the stored access token worthless while keeping the refresh token, so the next call gets a 401. */
  spoilAccessToken(): void {
    if (!this.stored) throw new Error('no tokens to spoil');
    this.stored = { ...this.stored, access_token: `spoiled-${randomBytes(8).toString('hex')}` };
  }
}
