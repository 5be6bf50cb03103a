/**
 * Step 1: from the MCP URL to the authorization server, the way MCP clients discover it — an
 * unauthenticated request, its 401 challenge, then RFC 9728 protected resource metadata. A URL that
 * serves MCP without credentials and offers no metadata needs no OAuth: MCP Manager connects to it
 * without (or with a static header), and the run checks its MCP without a token. A URL that does not
 * answer in time is reported as a time-out, with the deadline, not as unreachable.
 * @see https://modelcontextprotocol.io/specification/2025-11-25/basic/authorization#protected-resource-metadata-discovery-requirements
 * @see https://www.rfc-editor.org/rfc/rfc9728
 */
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import { isJsonObject, stringArrayField, stringField, type DoctorContext, type JsonObject } from './context.ts';
import { errorMessage, firstJsonDocument, formatSeconds, isTimeout } from './http.ts';
import { refusedUrl, URL_POLICY_FIX } from './url-policy.ts';
import { findRpcResponse } from './wire.ts';

const WELL_KNOWN_PRM = '/.well-known/oauth-protected-resource';

export interface ProtectedResource {
  metadata: JsonObject;
  /** The RFC 8707 `resource` to send: the metadata's when it covers the MCP URL, else the URL itself. */
  resourceIndicator: string;
  /** The first of `authorization_servers`. */
  issuer: string;
  /** `scope` from the 401 challenge, which MCP clients request first. */
  challengeScope: string | undefined;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parses a `WWW-Authenticate` header into its challenges (RFC 9110 §11.6.1): schemes, each with
 * its `name=value` or `name="quoted value"` parameters. Token68 credentials are ignored.
 */
export function parseChallenges(header: string | null | undefined): Challenge[] {
  if (!header) return [];
  const challenges: Challenge[] = [];
  const pattern = /[\s,]*([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:[ \t]*=[ \t]*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*)))?/y;
  let match: RegExpExecArray | null;
  while (pattern.lastIndex < header.length && (match = pattern.exec(header)) !== null) {
    const [, name = '', quoted, bare] = match;
    const hasValue = quoted !== undefined || bare !== undefined;
    const current = challenges.at(-1);
    if (hasValue && current) current.params[name.toLowerCase()] = quoted !== undefined ? quoted.replace(/\\(.)/g, '$1') : (bare ?? '');
    else if (!hasValue) challenges.push({ scheme: name, params: {} });
    if (match[0] === '') break;
  }
  return challenges;
}

/**
 * Where MCP clients look for protected resource metadata, in order: the challenge's URL, then the
 * path-suffixed well-known URL (RFC 9728 §3.1), then the root one.
 */
export function protectedResourceMetadataUrls(mcpUrl: string, challengeUrl: string | undefined): Array<{ url: string; source: 'challenge' | 'path' | 'root' }> {
  const { origin, pathname } = new URL(mcpUrl);
  const path = pathname.replace(/\/+$/, '');
  const candidates: Array<{ url: string; source: 'challenge' | 'path' | 'root' }> = [];
  if (challengeUrl) candidates.push({ url: challengeUrl, source: 'challenge' });
  if (path) candidates.push({ url: `${origin}${WELL_KNOWN_PRM}${path}`, source: 'path' });
  candidates.push({ url: `${origin}${WELL_KNOWN_PRM}`, source: 'root' });
  return candidates.filter((candidate, index) => candidates.findIndex((other) => other.url === candidate.url) === index);
}

export type ResourceCoverage =
  | { kind: 'exact' }
  | { kind: 'trailing-slash' }
  | { kind: 'origin' }
  | { kind: 'path-prefix' }
  | { kind: 'mismatch'; reason: string };

/**
 * Whether a metadata `resource` names the MCP URL, as clients decide it (the MCP SDK accepts the
 * same origin with a path that is a prefix of the URL's path): exactly, up to a trailing slash, as
 * the origin, or as a path prefix.
 */
export function resourceCoverage(resource: string, mcpUrl: string): ResourceCoverage {
  if (resource === mcpUrl) return { kind: 'exact' };
  let named: URL;
  let target: URL;
  try {
    named = new URL(resource);
    target = new URL(mcpUrl);
  } catch {
    return { kind: 'mismatch', reason: 'it is not an absolute URL' };
  }
  if (named.hash) return { kind: 'mismatch', reason: 'it has a fragment (RFC 8707 §2)' };
  if (named.origin !== target.origin) return { kind: 'mismatch', reason: `it names another origin (${named.origin})` };
  const namedPath = named.pathname.replace(/\/+$/, '');
  const targetPath = target.pathname.replace(/\/+$/, '');
  if (namedPath === targetPath) return named.search === target.search ? { kind: 'trailing-slash' } : { kind: 'mismatch', reason: 'its query differs' };
  if (named.search) return { kind: 'mismatch', reason: 'its query differs' };
  if (namedPath === '') return { kind: 'origin' };
  if (targetPath.startsWith(`${namedPath}/`)) return { kind: 'path-prefix' };
  return { kind: 'mismatch', reason: `its path ${named.pathname} is not a prefix of ${target.pathname}` };
}

/**
 * The resource a metadata document at `metadataUrl` must name when that URL is a well-known one:
 * the URL the well-known path was inserted into (RFC 9728 §3.3), e.g. `https://h/mcp` for
 * `https://h/.well-known/oauth-protected-resource/mcp`, `https://h` for the root one. Undefined for
 * any other URL (a challenge may name metadata anywhere).
 */
export function wellKnownResourceIdentifier(metadataUrl: string): string | undefined {
  let url: URL;
  try {
    url = new URL(metadataUrl);
  } catch {
    return undefined;
  }
  if (url.pathname !== WELL_KNOWN_PRM && !url.pathname.startsWith(`${WELL_KNOWN_PRM}/`)) return undefined;
  return `${url.origin}${url.pathname.slice(WELL_KNOWN_PRM.length)}${url.search}`;
}

/** The same resource identifier, up to a trailing slash on the path. */
function sameResource(a: string, b: string): boolean {
  const normal = (value: string) => {
    try {
      const url = new URL(value);
      return `${url.origin}${url.pathname.replace(/\/+$/, '')}${url.search}`;
    } catch {
      return value;
    }
  };
  return normal(a) === normal(b);
}

/**
 * What step 1 found: OAuth discovery to follow, or a server that needs no OAuth at all (its MCP
 * URL answered without credentials), which step 5 checks without a token.
 */
export type Discovery = { kind: 'oauth'; resource: ProtectedResource } | { kind: 'no-oauth' };

const NOT_REACHED_FIX = 'Check the URL, and that the server is running and reachable from this machine.';
const TIMEOUT_FIX =
  'Make the MCP endpoint answer promptly (a 401 challenge needs no work): MCP Manager gives up on a server that does not answer. Check that nothing in front of it (a proxy, a firewall, a sleeping host) holds requests.';

export async function checkProtectedResource(ctx: DoctorContext): Promise<Discovery | undefined> {
  const { http, checklist, facts } = ctx;
  const mcpUrl = ctx.options.url;
  const { origin, pathname } = new URL(mcpUrl);

  let challengeUrl: string | undefined;
  let challengeScope: string | undefined;
  let challengeWithoutMetadata = false;
  let status: number;
  // Refused without credentials in some other way than a 401 challenge (a 2xx JSON-RPC error).
  let refusedWithoutToken = false;
  // Set when the URL answered an unauthenticated initialize: whether that was an MCP answer.
  let servedWithoutToken: { mcp: boolean; description: string } | undefined;
  try {
    // What clients send first; a server must challenge it, not answer it.
    const answer = await http.request(mcpUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'mcp-doctor', version: '1' } } }),
    });
    status = answer.status;
    const { response } = answer;
    const header = response.headers.get('www-authenticate');
    const bearer = parseChallenges(header).find((challenge) => challenge.scheme.toLowerCase() === 'bearer');
    challengeUrl = bearer?.params.resource_metadata;
    challengeScope = bearer?.params.scope;
    // A metadata URL the doctor will not fetch: reported, and the well-known URLs are tried instead.
    const refused = challengeUrl === undefined ? undefined : refusedUrl('resource_metadata', challengeUrl);
    if (refused) {
      if (status === 401) checklist.failOrWarn('resource.challenge-metadata', `the challenge's ${refused}`, URL_POLICY_FIX);
      challengeUrl = undefined;
    }
    if (status === 401 && bearer) {
      checklist.pass('resource.challenge', `401, WWW-Authenticate: Bearer${bearer.params.realm ? ` realm="${bearer.params.realm}"` : ''}, …`);
    } else if (status === 401) {
      checklist.fail(
        'resource.challenge',
        `401 without a Bearer challenge (WWW-Authenticate: ${header ?? 'absent'})`,
        'Answer unauthenticated requests with 401 and WWW-Authenticate: Bearer resource_metadata="<metadata URL>" (RFC 6750 §3, RFC 9728 §5.1).',
      );
    } else if (status === 404) {
      checklist.fail('resource.challenge', 'HTTP 404: nothing answers at this URL', 'Give the doctor the MCP endpoint itself, as you would enter it in MCP Manager (often …/mcp).');
    } else if (status >= 200 && status < 300) {
      const message = findRpcResponse(response.headers.get('content-type') ?? '', answer.text, 1);
      const error = isJsonObject(message?.error) ? message.error : undefined;
      if (error) {
        // Refused, in JSON-RPC rather than HTTP: clients look for a 401 to start OAuth.
        refusedWithoutToken = true;
        checklist.fail(
          'resource.challenge',
          `HTTP ${status} with a JSON-RPC error (${String(error.code ?? 'no code')}: ${String(error.message ?? '').slice(0, 100)}) instead of 401`,
          'Answer unauthenticated requests with HTTP 401 and WWW-Authenticate: Bearer resource_metadata="<metadata URL>" (RFC 9728 §5.1), not with a JSON-RPC error.',
        );
      } else {
        // Reported once it is known whether the server offers OAuth as well.
        const snippet = answer.text.trim().replace(/\s+/g, ' ').slice(0, 100);
        servedWithoutToken = message ? { mcp: true, description: `HTTP ${status} with an initialize result` } : { mcp: false, description: `HTTP ${status}, but not an MCP answer (${snippet || 'empty body'})` };
      }
      // A sessionful server opened a session for it: ended at once.
      const sessionId = response.headers.get('mcp-session-id');
      if (sessionId) await http.request(mcpUrl, { method: 'DELETE', headers: { 'Mcp-Session-Id': sessionId } }).catch(() => undefined);
    } else {
      checklist.fail('resource.challenge', `HTTP ${status} instead of 401`, 'Answer unauthenticated requests with 401 and WWW-Authenticate: Bearer resource_metadata="<metadata URL>" (RFC 9728 §5.1).');
    }
    if (status !== 401) {
      checklist.skip('resource.challenge-metadata', 'no 401 challenge to read');
    } else if (challengeUrl) {
      checklist.pass('resource.challenge-metadata', `resource_metadata="${challengeUrl}"${challengeScope ? `, scope="${challengeScope}"` : ''}`);
    } else {
      // Reported once the metadata is found: the fix names the URL that serves it.
      challengeWithoutMetadata = true;
    }
  } catch (error) {
    // A time-out is not "unreachable": the connection may well have been accepted, and then nothing came back.
    if (isTimeout(error)) {
      checklist.fail('resource.challenge', `timed out: ${errorMessage(error)}`, TIMEOUT_FIX);
      checklist.block(`the MCP URL did not answer within ${formatSeconds(http.timeoutMs)} (resource.challenge)`, 'resource.challenge');
    } else {
      checklist.fail('resource.challenge', `could not reach ${mcpUrl}: ${errorMessage(error)}`, NOT_REACHED_FIX);
      checklist.block('the MCP URL could not be reached', 'resource.challenge');
    }
    return undefined;
  }

  // The metadata, from the first place clients look that has it.
  const { found, tried } = await firstJsonDocument(http, protectedResourceMetadataUrls(mcpUrl, challengeUrl));
  const path = pathname.replace(/\/+$/, '');
  facts.oauth = found !== undefined;
  if (servedWithoutToken) {
    if (!servedWithoutToken.mcp) {
      checklist.fail(
        'resource.challenge',
        `${servedWithoutToken.description}, without a token`,
        'Give the doctor the MCP endpoint itself, as you would enter it in MCP Manager (often …/mcp): this URL does not speak MCP.',
      );
      checklist.block('the URL is not an MCP endpoint (resource.challenge)', 'resource.challenge');
      return undefined;
    }
    if (!found) {
      // MCP Manager's other modes: no credentials, or a static header the server ignores.
      facts.withoutOAuth = 'none';
      checklist.warn(
        'resource.challenge',
        `${servedWithoutToken.description} without a token, and no protected resource metadata: this server needs no OAuth, so MCP Manager connects without credentials (or with a static header), not through OAuth`,
        'Nothing to change for MCP Manager, which connects without OAuth. To have each user sign in, require a bearer token on the MCP endpoint and answer 401 with WWW-Authenticate: Bearer resource_metadata="…" (MCP authorization; RFC 9728 §5.1).',
      );
      return { kind: 'no-oauth' };
    }
    checklist.warn(
      'resource.challenge',
      `${servedWithoutToken.description} without a token, although the server advertises OAuth (${found.url}): clients connect without signing in`,
      'Answer unauthenticated requests with 401 and WWW-Authenticate: Bearer resource_metadata="…" so clients sign their users in (MCP authorization; RFC 9728 §5.1); or drop the metadata if the server is meant to be open.',
    );
  }
  if (!found && (status === 401 || status === 403 || refusedWithoutToken)) {
    // Refused without credentials, and no OAuth to get any: only a credential configured by hand gets in.
    facts.withoutOAuth = 'static-header';
  }
  if (challengeWithoutMetadata) {
    checklist.warn(
      'resource.challenge-metadata',
      'no resource_metadata in the challenge: clients must guess the well-known URLs',
      `Add resource_metadata="${found?.url ?? `${origin}${WELL_KNOWN_PRM}${path}`}" to the 401's WWW-Authenticate: Bearer challenge (RFC 9728 §5.1).`,
    );
  }
  if (!found) {
    checklist.fail(
      'resource.metadata',
      `none found (${tried.join('; ')})`,
      `Serve RFC 9728 protected resource metadata at ${origin}${WELL_KNOWN_PRM}${path} or ${origin}${WELL_KNOWN_PRM}, and name it in the 401's resource_metadata.`,
    );
    checklist.block('no protected resource metadata', 'resource.metadata');
    return undefined;
  }
  const where = { challenge: 'the URL the challenge names', path: 'the path-suffixed well-known URL', root: 'the root well-known URL' }[found.source];
  if (challengeUrl && found.source !== 'challenge') {
    checklist.warn(
      'resource.metadata',
      `found at ${found.url} (${where}), but ${tried[0] ?? challengeUrl}`,
      `Serve the metadata at the URL the challenge names (${challengeUrl}), or name the URL that serves it.`,
    );
  } else {
    checklist.pass('resource.metadata', `${found.url} (${where}${found.source === 'challenge' ? '' : ', as a fallback'})`);
  }

  const metadata = found.metadata;
  const resource = stringField(metadata, 'resource');
  let resourceIndicator = mcpUrl;
  if (!resource) {
    checklist.fail('resource.resource', 'the metadata has no resource', `Set resource in the metadata to the MCP URL (${mcpUrl}) or its origin (${origin}).`);
  } else {
    const coverage = resourceCoverage(resource, mcpUrl);
    // The resource a well-known document must name (RFC 9728 §3.3): strict clients refuse any other,
    // even one that covers the MCP URL.
    const expected = wellKnownResourceIdentifier(found.url);
    if (coverage.kind === 'mismatch') {
      checklist.fail(
        'resource.resource',
        `${resource} does not cover ${mcpUrl}: ${coverage.reason}`,
        `Set resource in the metadata to ${mcpUrl} (or its origin, ${origin}); clients refuse metadata that names another resource (RFC 9728 §3.3).`,
      );
    } else {
      resourceIndicator = resource;
      const covers = {
        exact: 'exactly the MCP URL',
        'trailing-slash': 'the MCP URL up to a trailing slash',
        origin: `the origin, which covers ${pathname}`,
        'path-prefix': 'a path prefix of the MCP URL',
      }[coverage.kind];
      if (expected !== undefined && !sameResource(resource, expected)) {
        checklist.warn(
          'resource.resource',
          `${resource} (${covers}), but the metadata at ${found.url} must name ${expected} (RFC 9728 §3.3)`,
          `Serve metadata whose resource is ${expected} at ${found.url}${expected === mcpUrl ? '' : `, or metadata naming ${mcpUrl} at ${origin}${WELL_KNOWN_PRM}${path} and name that URL in the challenge`}: clients that check RFC 9728 §3.3 refuse it as it is.`,
        );
      } else {
        checklist.pass('resource.resource', `${resource} (${covers})`);
      }
    }
  }

  const issuer = stringArrayField(metadata, 'authorization_servers')?.find(isAbsoluteUrl);
  if (!issuer) {
    checklist.fail('resource.authorization-servers', 'no authorization_servers in the metadata', 'List your authorization server\'s issuer URL in authorization_servers (RFC 9728 §2).');
    checklist.block('no authorization server named', 'resource.authorization-servers');
    return undefined;
  }
  // Its metadata is fetched from URLs built on the issuer.
  const refusedIssuer = refusedUrl('the authorization server', issuer);
  if (refusedIssuer) {
    checklist.fail('resource.authorization-servers', refusedIssuer, URL_POLICY_FIX);
    checklist.block('the authorization server is refused (resource.authorization-servers)', 'resource.authorization-servers');
    return undefined;
  }
  checklist.pass('resource.authorization-servers', issuer);
  return { kind: 'oauth', resource: { metadata, resourceIndicator, issuer, challengeScope } };
}

function isAbsoluteUrl(value: string): boolean {
  try {
    new URL(value);
    return true;
  } catch {
    return false;
  }
}
