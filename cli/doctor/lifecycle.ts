/**
 * Step 6: what keeps a gateway connected after day one — refreshing, and what happens to tokens
 * that are replaced or revoked.
 *
 * Order matters: the access token is revoked before the old refresh token is tried, because a
 * server with refresh-token reuse detection revokes the whole grant on that try, which would make
 * the revocation check pass for the wrong reason.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6 (refresh)
 * @see https://www.rfc-editor.org/rfc/rfc7009 (revocation)
 */
import type { Authorized } from './authorization.ts';
import { describeHttpError, isJsonObject, stringField, type DoctorContext } from './context.ts';
import { errorMessage, type JsonResponse } from './http.ts';
import { probeMcp } from './mcp.ts';
import type { ProtectedResource } from './protected-resource.ts';
import type { ServerMetadata } from './server-metadata.ts';
import { clientRequest, describePresentation } from './token-endpoint.ts';

/**
 * `mcpWorks`: whether the first access token opened an MCP session. When it did not, what the MCP
 * endpoint says to other tokens proves nothing (it refused the good one too), so the checks that
 * judge a token by the MCP endpoint are skipped; refresh and revocation at the token endpoint still run.
 */
export async function checkLifecycle(ctx: DoctorContext, resource: ProtectedResource, server: ServerMetadata, authorized: Authorized, mcpWorks: boolean): Promise<void> {
  const { checklist, http, facts } = ctx;
  const noBaseline = 'the first access token did not open an MCP session either (mcp.initialize): nothing to compare with';
  const { client } = authorized;
  // How the client authenticated, named when the revocation endpoint refuses it.
  const as = ` (client authenticated by ${describePresentation(client)})`;
  const refresh = (refreshToken: string) =>
    clientRequest(ctx, server.tokenEndpoint, client, { grant_type: 'refresh_token', refresh_token: refreshToken, resource: resource.resourceIndicator });

  let accessToken = authorized.tokens.accessToken;
  let latestRefreshToken = authorized.tokens.refreshToken;
  const firstRefreshToken = latestRefreshToken;
  let rotated: boolean | undefined;

  if (!firstRefreshToken) {
    checklist.skip('lifecycle.refresh', 'no refresh token was issued (tokens.refresh-token)');
    checklist.skip('lifecycle.refreshed-token', 'no refresh token was issued (tokens.refresh-token)');
    checklist.skip('lifecycle.old-refresh-token', 'no refresh token was issued (tokens.refresh-token)');
  } else {
    const answer = await settle(refresh(firstRefreshToken));
    const newAccessToken = isJsonObject(answer.json) ? stringField(answer.json, 'access_token') : undefined;
    if (answer.status === 200 && isJsonObject(answer.json) && newAccessToken) {
      const newRefreshToken = stringField(answer.json, 'refresh_token');
      http.addSecret(newAccessToken);
      http.addSecret(newRefreshToken);
      rotated = newRefreshToken !== undefined && newRefreshToken !== firstRefreshToken;
      accessToken = newAccessToken;
      latestRefreshToken = newRefreshToken ?? firstRefreshToken;
      facts.refreshWorks = true;
      checklist.pass('lifecycle.refresh', `new access token${rotated ? ' and a new refresh token (rotated)' : ''}`);

      if (!mcpWorks) {
        checklist.skip('lifecycle.refreshed-token', noBaseline);
      } else {
        const status = await settleStatus(probeMcp(ctx, accessToken));
        if (status >= 200 && status < 300) checklist.pass('lifecycle.refreshed-token', `initialize with it: HTTP ${status}`);
        else checklist.fail('lifecycle.refreshed-token', `initialize with it: ${status ? `HTTP ${status}` : 'no answer'}`, 'Accept access tokens issued by a refresh on the MCP endpoint, like the first one.');
      }
    } else {
      facts.refreshWorks = false;
      checklist.fail(
        'lifecycle.refresh',
        describeHttpError(answer.status, answer.json, answer.text),
        'Accept the refresh_token grant from the client the token was issued to and answer a new access token; MCP Manager refreshes on its own.',
      );
      checklist.skip('lifecycle.refreshed-token', 'the refresh failed (lifecycle.refresh)');
    }
  }

  if (!server.revocationEndpoint) {
    checklist.skip('lifecycle.revoke-access', 'no revocation_endpoint (server.revocation-endpoint)');
  } else if (!mcpWorks) {
    checklist.skip('lifecycle.revoke-access', noBaseline);
  } else {
    const answer = await settle(clientRequest(ctx, server.revocationEndpoint, client, { token: accessToken, token_type_hint: 'access_token' }));
    if (answer.status !== 200) {
      checklist.warn('lifecycle.revoke-access', `revocation answered ${describeHttpError(answer.status, answer.json, answer.text)}${as}`, 'Answer 200 to an RFC 7009 revocation request from the client the token was issued to.');
    } else {
      const status = await settleStatus(probeMcp(ctx, accessToken));
      if (status === 401) checklist.pass('lifecycle.revoke-access', 'revoked (200), then 401');
      else checklist.warn('lifecycle.revoke-access', `revoked (200), then HTTP ${status || 'no answer'}: the token still works`, 'Make a revoked access token stop working at once (RFC 7009 §2.2), or keep access tokens short-lived.');
    }
  }

  if (firstRefreshToken && rotated !== undefined) {
    if (!rotated) {
      checklist.pass('lifecycle.old-refresh-token', 'not rotated: the same refresh token stays in use');
    } else {
      const answer = await settle(refresh(firstRefreshToken));
      const reissued = isJsonObject(answer.json) ? stringField(answer.json, 'refresh_token') : undefined;
      if (answer.status === 200) {
        http.addSecret(isJsonObject(answer.json) ? stringField(answer.json, 'access_token') : undefined);
        http.addSecret(reissued);
        // Using it rotated the grant again: the newest token is the one to revoke below.
        if (reissued) latestRefreshToken = reissued;
        checklist.pass('lifecycle.old-refresh-token', 'rotated; the previous refresh token is still accepted (a grace for a lost refresh response)');
      } else {
        checklist.pass('lifecycle.old-refresh-token', `rotated; the previous refresh token is refused (${describeHttpError(answer.status, answer.json, answer.text)})`);
      }
    }
  }

  if (!latestRefreshToken) {
    checklist.skip('lifecycle.revoke-refresh', 'no refresh token was issued (tokens.refresh-token)');
  } else if (!server.revocationEndpoint) {
    checklist.skip('lifecycle.revoke-refresh', 'no revocation_endpoint (server.revocation-endpoint)');
  } else {
    // Also the clean-up: the doctor's grant ends here.
    const revoked = await settle(clientRequest(ctx, server.revocationEndpoint, client, { token: latestRefreshToken, token_type_hint: 'refresh_token' }));
    const answer = await settle(refresh(latestRefreshToken));
    const error = isJsonObject(answer.json) ? answer.json.error : undefined;
    if (revoked.status !== 200) {
      checklist.warn('lifecycle.revoke-refresh', `revocation answered ${describeHttpError(revoked.status, revoked.json, revoked.text)}${as}`, 'Support revoking refresh tokens at the revocation endpoint (RFC 7009 §2: a MUST).');
    } else if (answer.status === 200) {
      checklist.warn('lifecycle.revoke-refresh', 'revoked (200), but the refresh token still works', 'Make a revoked refresh token, and its grant, stop working at once (RFC 7009 §2.1).');
    } else if (error !== 'invalid_grant') {
      checklist.warn(
        'lifecycle.revoke-refresh',
        `revoked (200), then refused with ${describeHttpError(answer.status, answer.json, answer.text)}`,
        'Answer invalid_grant for a revoked or expired refresh token (RFC 6749 §5.2), so clients sign the user in again instead of retrying.',
      );
    } else {
      checklist.pass('lifecycle.revoke-refresh', 'revoked (200), then invalid_grant');
    }
  }
}

/** A request that failed to complete, as a status-0 answer: the checks then report it, never throw. */
async function settle(request: Promise<JsonResponse>): Promise<Pick<JsonResponse, 'status' | 'json' | 'text'>> {
  try {
    return await request;
  } catch (error) {
    return { status: 0, json: undefined, text: errorMessage(error) };
  }
}

async function settleStatus(request: Promise<number>): Promise<number> {
  try {
    return await request;
  } catch {
    return 0;
  }
}
