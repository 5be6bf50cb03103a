/**
 * Step 2: the authorization server's metadata (RFC 8414, with OpenID Connect discovery as the
 * fallback MCP clients use) and the features MCP Manager relies on.
 * @see https://modelcontextprotocol.io/specification/2025-11-25/basic/authorization#authorization-server-metadata-discovery
 * @see https://www.rfc-editor.org/rfc/rfc8414
 */
import { stringArrayField, stringField, type DoctorContext, type JsonObject } from './context.ts';
import { firstJsonDocument } from './http.ts';
import type { ProtectedResource } from './protected-resource.ts';
import { refusedUrl, URL_POLICY_FIX } from './url-policy.ts';

export type TokenAuthMethod = 'client_secret_basic' | 'client_secret_post';

export interface ServerMetadata {
  metadata: JsonObject;
  issuer: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  registrationEndpoint: string | undefined;
  revocationEndpoint: string | undefined;
  /** How the confidential client will authenticate: Basic when offered, as RFC 8414's default. */
  confidentialAuthMethod: TokenAuthMethod;
  /**
   * token_endpoint_auth_methods_supported as advertised; undefined when absent (RFC 8414 §2: then
   * client_secret_basic).
   */
  tokenAuthMethods?: string[] | undefined;
  /** Whether the server promises `iss` in authorization responses (RFC 9207). */
  issParameterSupported: boolean;
}

/** Records one place where the server says it supports the refresh_token grant. */
export function noteRefreshAdvertised(ctx: DoctorContext, where: 'grant_types_supported' | 'registration'): void {
  ctx.facts.refreshAdvertised = true;
  const places = (ctx.facts.refreshAdvertisedIn ??= []);
  if (!places.includes(where)) places.push(where);
}

/**
 * The metadata URLs for an issuer, in the order MCP clients try them: for an issuer with a path,
 * RFC 8414 path insertion, then OIDC path insertion, then OIDC path appending; without a path,
 * RFC 8414 then OIDC.
 */
export function authorizationServerMetadataUrls(issuer: string): Array<{ url: string; kind: 'RFC 8414' | 'OpenID Connect discovery' }> {
  const { origin, pathname } = new URL(issuer);
  const path = pathname.replace(/\/+$/, '');
  if (!path) {
    return [
      { url: `${origin}/.well-known/oauth-authorization-server`, kind: 'RFC 8414' },
      { url: `${origin}/.well-known/openid-configuration`, kind: 'OpenID Connect discovery' },
    ];
  }
  return [
    { url: `${origin}/.well-known/oauth-authorization-server${path}`, kind: 'RFC 8414' },
    { url: `${origin}/.well-known/openid-configuration${path}`, kind: 'OpenID Connect discovery' },
    { url: `${origin}${path}/.well-known/openid-configuration`, kind: 'OpenID Connect discovery' },
  ];
}

export async function checkServerMetadata(ctx: DoctorContext, resource: ProtectedResource): Promise<ServerMetadata | undefined> {
  const { http, checklist } = ctx;
  const { issuer } = resource;

  const { found, tried } = await firstJsonDocument(http, authorizationServerMetadataUrls(issuer));
  if (!found) {
    checklist.fail(
      'server.metadata',
      `none found for issuer ${issuer} (${tried.join('; ')})`,
      `Serve RFC 8414 metadata at ${authorizationServerMetadataUrls(issuer)[0]?.url} (or OpenID Connect discovery).`,
    );
    checklist.block('no authorization server metadata', 'server.metadata');
    return undefined;
  }
  const { metadata } = found;
  checklist.pass('server.metadata', `${found.url} (${found.kind})`);

  const advertisedIssuer = stringField(metadata, 'issuer');
  if (advertisedIssuer === issuer) {
    checklist.pass('server.issuer', issuer);
  } else {
    checklist.fail(
      'server.issuer',
      `issuer is ${advertisedIssuer ?? 'absent'}, but the resource names ${issuer}`,
      `Make the metadata's issuer exactly ${issuer}, the value in authorization_servers (RFC 8414 §3.3); clients reject any difference, a trailing slash included.`,
    );
  }

  // Every endpoint is checked before anything is sent to it or a browser is pointed at it.
  const authorizationEndpoint = stringField(metadata, 'authorization_endpoint');
  const tokenEndpoint = stringField(metadata, 'token_endpoint');
  const refusedEndpoints = [
    authorizationEndpoint && refusedUrl('authorization_endpoint', authorizationEndpoint),
    tokenEndpoint && refusedUrl('token_endpoint', tokenEndpoint),
  ].filter((refusal): refusal is string => Boolean(refusal));
  if (refusedEndpoints.length > 0) {
    checklist.fail('server.endpoints', refusedEndpoints.join('; '), URL_POLICY_FIX);
  } else if (authorizationEndpoint && tokenEndpoint) {
    checklist.pass('server.endpoints', `${authorizationEndpoint}, ${tokenEndpoint}`);
  } else {
    checklist.fail(
      'server.endpoints',
      `missing: ${[authorizationEndpoint ? '' : 'authorization_endpoint', tokenEndpoint ? '' : 'token_endpoint'].filter(Boolean).join(', ')}`,
      'Advertise authorization_endpoint and token_endpoint in the metadata (RFC 8414 §2).',
    );
  }

  const advertisedRegistration = stringField(metadata, 'registration_endpoint');
  const refusedRegistration = advertisedRegistration && refusedUrl('registration_endpoint', advertisedRegistration);
  const registrationEndpoint = refusedRegistration ? undefined : advertisedRegistration;
  if (refusedRegistration) {
    checklist.fail('server.registration-endpoint', refusedRegistration, URL_POLICY_FIX);
  } else if (registrationEndpoint) {
    checklist.pass('server.registration-endpoint', registrationEndpoint);
  } else {
    checklist.fail(
      'server.registration-endpoint',
      'no registration_endpoint: clients cannot register themselves',
      'Enable DCR: set clientRegistrationEndpoint (workers-oauth-provider) or your server\'s equivalent, so registration_endpoint is advertised; MCP Manager registers itself (RFC 7591).',
    );
  }

  const pkce = stringArrayField(metadata, 'code_challenge_methods_supported');
  if (pkce?.includes('S256')) {
    checklist.pass('server.pkce', pkce.join(', '));
  } else {
    checklist.fail(
      'server.pkce',
      pkce ? `only ${pkce.join(', ') || 'nothing'}` : 'code_challenge_methods_supported is absent',
      'Support PKCE with S256 and list it in code_challenge_methods_supported; MCP clients refuse servers that do not advertise it.',
    );
  }

  const responseTypes = stringArrayField(metadata, 'response_types_supported');
  if (responseTypes?.includes('code')) {
    checklist.pass('server.response-types', responseTypes.join(', '));
  } else {
    checklist.fail('server.response-types', responseTypes ? `only ${responseTypes.join(', ') || 'nothing'}` : 'response_types_supported is absent', 'Support the authorization code flow and list code in response_types_supported (RFC 8414 §2).');
  }

  const grantTypes = stringArrayField(metadata, 'grant_types_supported');
  // What the server promises; step 4 compares it with what the token response holds.
  if (grantTypes?.includes('refresh_token')) noteRefreshAdvertised(ctx, 'grant_types_supported');
  else ctx.facts.refreshAdvertised ??= false;
  if (grantTypes?.includes('refresh_token')) {
    checklist.pass('server.grant-types', grantTypes.join(', '));
  } else if (!grantTypes) {
    // RFC 8414's default (authorization_code, implicit) leaves refresh out; step 4 shows whether it is issued anyway.
    checklist.warn('server.grant-types', 'grant_types_supported is absent (the default excludes refresh_token)', 'List authorization_code and refresh_token in grant_types_supported.');
  } else {
    checklist.fail('server.grant-types', `only ${grantTypes.join(', ') || 'nothing'}`, 'Support the refresh_token grant and list it in grant_types_supported; MCP Manager refreshes tokens on its own.');
  }

  const authMethods = stringArrayField(metadata, 'token_endpoint_auth_methods_supported');
  let confidentialAuthMethod: TokenAuthMethod = 'client_secret_basic';
  if (!authMethods) {
    checklist.pass('server.token-auth-methods', 'absent, so client_secret_basic (the RFC 8414 default)');
  } else if (authMethods.includes('client_secret_basic') || authMethods.includes('client_secret_post')) {
    if (!authMethods.includes('client_secret_basic')) confidentialAuthMethod = 'client_secret_post';
    checklist.pass('server.token-auth-methods', authMethods.join(', '));
  } else {
    checklist.fail(
      'server.token-auth-methods',
      `only ${authMethods.join(', ') || 'nothing'}`,
      'Accept client_secret_basic or client_secret_post at the token endpoint and list it in token_endpoint_auth_methods_supported; MCP Manager is a confidential client.',
    );
  }

  const advertisedRevocation = stringField(metadata, 'revocation_endpoint');
  const refusedRevocation = advertisedRevocation && refusedUrl('revocation_endpoint', advertisedRevocation);
  const revocationEndpoint = refusedRevocation ? undefined : advertisedRevocation;
  if (refusedRevocation) {
    checklist.warn('server.revocation-endpoint', refusedRevocation, URL_POLICY_FIX);
  } else if (revocationEndpoint) {
    checklist.pass('server.revocation-endpoint', revocationEndpoint);
  } else {
    checklist.warn('server.revocation-endpoint', 'no revocation_endpoint', 'Support RFC 7009 revocation and advertise revocation_endpoint, so a gateway can revoke tokens when a server is removed.');
  }

  if (metadata.client_id_metadata_document_supported === true) {
    checklist.pass('server.cimd', 'client_id_metadata_document_supported: true');
  } else {
    checklist.warn(
      'server.cimd',
      'not advertised (MCP Manager does not need it)',
      'Optional: newer MCP clients prefer Client ID Metadata Documents (MCP 2025-11-25); support them and set client_id_metadata_document_supported.',
    );
  }

  if (refusedEndpoints.length > 0) {
    checklist.block('the authorization server\'s endpoints are refused (server.endpoints)', 'server.endpoints');
    return undefined;
  }
  if (!authorizationEndpoint || !tokenEndpoint) {
    checklist.block('the authorization server lacks its endpoints', 'server.endpoints');
    return undefined;
  }
  return {
    metadata,
    issuer: advertisedIssuer ?? issuer,
    authorizationEndpoint,
    tokenEndpoint,
    registrationEndpoint,
    revocationEndpoint,
    confidentialAuthMethod,
    tokenAuthMethods: authMethods,
    issParameterSupported: metadata.authorization_response_iss_parameter_supported === true,
  };
}
