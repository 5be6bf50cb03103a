// oidc-provider 9 ships no type declarations and @types/oidc-provider is not
// installed, so this declares just the surface the dev IdP uses (names follow the
// library's docs). Extend it when using more of the API.

declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  /** A stored model record; its shape depends on the model, these keys are the indexed ones. */
  export interface AdapterPayload {
    readonly [key: string]: unknown;
    readonly grantId?: string;
    readonly uid?: string;
    readonly userCode?: string;
  }

  export interface Adapter {
    upsert(id: string, payload: AdapterPayload, expiresIn: number | undefined): Promise<void>;
    find(id: string): Promise<AdapterPayload | undefined>;
    findByUid(uid: string): Promise<AdapterPayload | undefined>;
    findByUserCode(userCode: string): Promise<AdapterPayload | undefined>;
    consume(id: string): Promise<void>;
    destroy(id: string): Promise<void>;
    revokeByGrantId(grantId: string): Promise<void>;
  }

  /** Called once per model name ("Session", "AuthorizationCode", ...). */
  export type AdapterFactory = (model: string) => Adapter;

  export interface AccountClaims {
    readonly sub: string;
    readonly [claim: string]: unknown;
  }

  export interface Account {
    readonly accountId: string;
    /** oidc-provider filters the result down to the granted scopes/claims itself. */
    claims(use: string, scope: string): AccountClaims | Promise<AccountClaims>;
  }

  export interface ClientMetadata {
    client_id: string;
    client_secret?: string;
    redirect_uris: string[];
    grant_types?: string[];
    response_types?: string[];
    token_endpoint_auth_method?: string;
    id_token_signed_response_alg?: string;
  }

  export interface Client {
    readonly clientId: string;
    grantTypeAllowed(grantType: string): boolean;
  }

  /** The Koa context, only as far as the configured hooks and event listeners touch it. */
  export interface KoaContext {
    body: unknown;
    type: string;
    status: number;
    readonly method: string;
    readonly path: string;
    /** oidc-provider's per-request state; absent when a request failed before it was set up. */
    readonly oidc?: OidcContext;
  }

  /** What the token endpoint's `grant.success` / `grant.error` listeners read of `ctx.oidc`. */
  export interface OidcContext {
    /** The request's parameters once parsed (undefined when the body could not be parsed). */
    readonly params?: Readonly<Record<string, unknown>>;
    /** The models the request loaded so far, by model name ("RefreshToken", "Account", ...). */
    readonly entities: {
      readonly RefreshToken?: { readonly accountId?: string };
      readonly Account?: { readonly accountId: string };
    };
  }

  /** An access token as `provider.AccessToken.find()` returns it (opaque format: the value is its id). */
  export interface AccessToken {
    readonly accountId: string;
    readonly clientId: string;
    readonly grantId: string;
    /** Space-separated. */
    readonly scope?: string;
    readonly scopes: ReadonlySet<string>;
    /** Epoch seconds. */
    readonly exp: number;
    /** Set for resource-indicator (RFC 8707) tokens, which are not for this IdP's own APIs. */
    readonly aud?: string | string[];
    /** DPoP key thumbprint: set only for sender-constrained tokens. */
    readonly jkt?: string;
    readonly isExpired: boolean;
  }

  export interface AccessTokenConstructor {
    /** Resolves undefined for an unknown, malformed or expired token. */
    find(value: string): Promise<AccessToken | undefined>;
  }

  export interface ErrorOut {
    readonly error: string;
    readonly error_description?: string;
  }

  export interface Configuration {
    adapter?: AdapterFactory;
    clients?: ClientMetadata[];
    jwks?: { keys: JsonWebKey[] };
    cookies?: { keys?: string[] };
    /** scope name → claim names it releases (or null for a standalone claim). */
    claims?: Record<string, string[] | null>;
    scopes?: string[];
    responseTypes?: string[];
    conformIdTokenClaims?: boolean;
    clientBasedCORS?: (ctx: KoaContext, origin: string, client: Client) => boolean;
    pkce?: { required?: (ctx: KoaContext, client: Client) => boolean };
    features?: {
      devInteractions?: { enabled: boolean };
      userinfo?: { enabled: boolean };
      rpInitiatedLogout?: {
        enabled?: boolean;
        logoutSource?: (ctx: KoaContext, form: string) => void | Promise<void>;
        postLogoutSuccessSource?: (ctx: KoaContext) => void | Promise<void>;
      };
    };
    interactions?: { url?: (ctx: KoaContext, interaction: Interaction) => string | Promise<string> };
    findAccount?: (ctx: KoaContext, sub: string) => Account | undefined | Promise<Account | undefined>;
    issueRefreshToken?: (ctx: KoaContext, client: Client) => boolean | Promise<boolean>;
    /** true: a new refresh token at every refresh; the used one is consumed (and its reuse revokes the grant). */
    rotateRefreshToken?: boolean | ((ctx: KoaContext) => boolean | Promise<boolean>);
    renderError?: (ctx: KoaContext, out: ErrorOut, error: Error) => void | Promise<void>;
    /** Lifetimes in seconds. */
    ttl?: Partial<Record<
      'AccessToken' | 'AuthorizationCode' | 'IdToken' | 'RefreshToken' | 'Grant' | 'Session' | 'Interaction',
      number
    >>;
  }

  export interface PromptDetail {
    readonly name: string;
    readonly reasons: readonly string[];
    readonly details: {
      readonly missingOIDCScope?: readonly string[];
      readonly missingOIDCClaims?: readonly string[];
      readonly missingResourceScopes?: Readonly<Record<string, readonly string[]>>;
    };
  }

  export interface Interaction {
    readonly uid: string;
    readonly params: Readonly<Record<string, unknown>>;
    readonly prompt: PromptDetail;
    readonly session?: { readonly accountId: string };
    readonly grantId?: string;
    readonly returnTo: string;
  }

  export interface InteractionResults {
    login?: { accountId: string; remember?: boolean };
    consent?: { grantId: string };
  }

  export interface Grant {
    readonly accountId?: string;
    readonly clientId?: string;
    addOIDCScope(scope: string): void;
    addOIDCClaims(claims: readonly string[]): void;
    addResourceScope(resource: string, scope: string): void;
    /** Persists the grant and resolves with its id. */
    save(): Promise<string>;
  }

  export interface GrantConstructor {
    new (properties: { accountId: string; clientId: string }): Grant;
    find(id: string): Promise<Grant | undefined>;
  }

  export class Provider {
    constructor(issuer: string, configuration?: Configuration);
    readonly issuer: string;
    readonly Grant: GrantConstructor;
    readonly AccessToken: AccessTokenConstructor;
    /** Node request listener (oidc-provider is a Koa application). */
    callback(): (req: IncomingMessage, res: ServerResponse) => Promise<void>;
    interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<Interaction>;
    interactionFinished(
      req: IncomingMessage,
      res: ServerResponse,
      result: InteractionResults,
      options?: { mergeWithLastSubmission?: boolean },
    ): Promise<void>;
    on(event: 'server_error', listener: (ctx: KoaContext, error: Error) => void): this;
    /** After the token endpoint issued tokens. */
    on(event: 'grant.success', listener: (ctx: KoaContext) => void): this;
    /** After the token endpoint refused a request (an OAuth error; a crash is `server_error`). */
    on(event: 'grant.error', listener: (ctx: KoaContext, error: Error) => void): this;
  }

  export const errors: {
    /** Thrown by interactionDetails() when the interaction cookie or record is gone. */
    readonly SessionNotFound: new (message: string) => Error & { readonly error_description?: string };
  };

  export default Provider;
}
