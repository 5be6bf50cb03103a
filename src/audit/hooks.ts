/**
 * Audit hooks that need a little reading to find their facts: the provider's answers to /register
 * and RFC 7009 revocation (the library has no hook for either), and its token callback. Each reads
 * only identifiers (client id and name, user id, grant id), never a secret, token or code: a token
 * is `user:grant:secret`, and only its first two parts are kept.
 */
import type { AuthRequest, ConsentDescription, TokenExchangeCallbackOptions } from '@cloudflare/workers-oauth-provider';
import { isGrantProps } from '../auth/props';
import type { TokenRequest } from '../guard/oauth-requests';
import type { RequestAuth } from '../mcp/request-auth';
import type { UpstreamError } from '../upstream/types';
import { audit, auditOnSuccess } from './recorder';
import type { AuditInput, AuditReasons } from './events';

/** Bodies read back to find a client id: a registration answer is a few hundred bytes. */
const MAX_READ_BACK_BYTES = 64 * 1024;

/** POST /register: a registered client (201), or a refused registration with the OAuth error code (RFC 7591 §3.2.2). */
export async function recordRegistration(response: Response): Promise<void> {
  if (response.status !== 201 && response.status !== 400) return;
  const body = await readBack(response);
  if (response.status === 201) {
    audit({ type: 'client.registered', reason: 'dcr', outcome: 'ok', clientId: stringField(body, 'client_id'), clientName: stringField(body, 'client_name') });
    return;
  }
  const error = stringField(body, 'error');
  const reason: AuditReasons['client.registered'] = error === 'invalid_client_metadata' || error === 'invalid_redirect_uri' ? error : 'refused';
  audit({ type: 'client.registered', reason, outcome: 'denied' });
}

/** An RFC 7009 revocation request, as far as the audit trail needs it: identifiers only. */
export type RevocationFacts = Pick<Extract<AuditInput, { type: 'token.revoked' }>, 'userId' | 'clientId' | 'detail'>;

/**
 * POST /token without `grant_type` and with `token`: an RFC 7009 revocation, from the request as
 * ../guard/oauth-requests.ts read it before the provider consumes it. The user and grant are the
 * token's own non-secret first two parts; the rest of the token is dropped here.
 */
export function revocationFacts({ form, clientId }: TokenRequest): RevocationFacts | undefined {
  const token = form?.get('token') ?? null;
  if (form === undefined || form.has('grant_type') || token === null) return undefined;
  const parts = token.split(':');
  const hint = form.get('token_type_hint');
  return {
    ...(parts.length === 3 && { userId: parts[0], detail: { grant_id: parts[1], by: 'client', ...((hint === 'access_token' || hint === 'refresh_token') && { token_type_hint: hint }) } }),
    clientId,
  };
}

/** The provider answers 200 whether or not the token existed (RFC 7009 §2.2): this records the request and its client. */
export function recordRevocation(facts: RevocationFacts | undefined, response: Response): void {
  if (!facts) return;
  audit({
    type: 'token.revoked',
    reason: 'rfc7009',
    outcome: response.status === 200 ? 'ok' : 'denied',
    ...facts,
  });
}

/**
 * The provider's `tokenExchangeCallback`: a code exchange or a refresh is about to succeed. Recorded
 * only if the token response does succeed (the provider still writes the tokens after this).
 */
export function recordTokenExchange(options: TokenExchangeCallbackOptions): undefined {
  const type = options.grantType === 'authorization_code' ? 'token.issued' : options.grantType === 'refresh_token' ? 'token.refreshed' : undefined;
  if (type === undefined) return undefined;
  const email = isGrantProps(options.props) ? options.props.email : undefined;
  const common = { outcome: 'ok' as const, userId: options.userId, email, clientId: options.clientId, detail: { grant_id: options.grantId, scopes: options.requestedScope.join(' ') } };
  auditOnSuccess(type === 'token.issued' ? { type, reason: 'authorization_code', ...common } : { type, reason: 'refresh_token', ...common });
  return undefined;
}

/** One `tools/call`: the tool's name, how it ended and how long it took; never its arguments or result. */
export function recordToolCall(auth: RequestAuth, env: Env, tool: string, reason: AuditReasons['tool.call'], startedAt: number): void {
  const outcome = reason === 'ok' ? 'ok' : reason === 'insufficient_scope' ? 'denied' : 'error';
  audit(
    { type: 'tool.call', reason, outcome, userId: auth.user.userId, email: auth.user.email, clientId: auth.clientId, detail: { tool, duration_ms: Date.now() - startedAt } },
    env,
  );
}

async function readBack(response: Response): Promise<unknown> {
  try {
    const text = await response.clone().text();
    return text.length > MAX_READ_BACK_BYTES ? undefined : (JSON.parse(text) as unknown);
  } catch {
    return undefined;
  }
}

function stringField(body: unknown, name: string): string | undefined {
  const value = typeof body === 'object' && body !== null ? Reflect.get(body, name) : undefined;
  return typeof value === 'string' ? value : undefined;
}

/** The consent page was shown; for a CIMD client its document was accepted too (CIMD has no registration step). */
export function recordConsentShown(details: ConsentDescription, scopes: readonly string[]): void {
  const client = { clientId: details.clientId, clientName: details.clientName };
  if (details.clientDomain !== undefined) audit({ type: 'client.registered', reason: 'cimd', outcome: 'ok', ...client, detail: { client_domain: details.clientDomain } });
  audit({ type: 'consent.shown', reason: 'consent_required', outcome: 'ok', ...client, detail: { scopes: scopes.join(' ') } });
}

/** The user's consent decision, or an approval this browser gave before. */
export function recordConsent(request: AuthRequest, decision: 'user_approved' | 'remembered' | 'user_denied' | 'no_scopes_approved', scopes: readonly string[]): void {
  const common = { clientId: request.clientId, detail: { scopes: scopes.join(' ') } };
  if (decision === 'user_approved' || decision === 'remembered') audit({ type: 'consent.approved', reason: decision, outcome: 'ok', ...common });
  else audit({ type: 'consent.denied', reason: decision, outcome: 'denied', ...common });
}

/** The end of a sign-in at /callback: succeeded, or refused by this server's policy. */
export function recordSignIn(request: AuthRequest, identity: { upstream: string; email?: string }, result: { userId: string; scopes: readonly string[] } | 'allowlist' | 'no_permitted_scopes'): void {
  const common = { clientId: request.clientId, email: identity.email };
  if (typeof result === 'string') {
    audit({ type: 'sign_in.refused', reason: result, outcome: 'denied', ...common, detail: { upstream: identity.upstream } });
    return;
  }
  audit({ type: 'sign_in.succeeded', reason: 'upstream_verified', outcome: 'ok', ...common, userId: result.userId, detail: { upstream: identity.upstream, scopes: result.scopes.join(' ') } });
}

/** The upstream IdP refused, failed or could not be reached, in a client's authorization or (no request) a sign-in to this server's pages. */
export function recordUpstreamFailure(request: Pick<AuthRequest, 'clientId'> | undefined, reason: UpstreamError['reason']): void {
  const mapped = reason === 'access_denied' ? 'idp_access_denied' : reason === 'upstream_unavailable' ? 'idp_unavailable' : 'idp_error';
  audit({ type: 'sign_in.refused', reason: mapped, outcome: mapped === 'idp_access_denied' ? 'denied' : 'error', clientId: request?.clientId });
}
