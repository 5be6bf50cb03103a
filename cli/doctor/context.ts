/** What every step of the doctor receives: the options, the recording HTTP client, the checklist, the facts. */
import type { Checklist, ItemId } from './checklist.ts';
import type { HttpClient } from './http.ts';
import type { ClientId } from './profiles.ts';

export interface DoctorOptions {
  /** The MCP endpoint as it would be entered in MCP Manager, e.g. `https://mcp.example.com/mcp`. */
  url: string;
  /** Sign in headless in Chromium with these upstream credentials; without them, interactively. */
  login?: { username: string; password: string } | undefined;
  /** A tool to call once connected. */
  call?: { name: string; arguments: Record<string, unknown> } | undefined;
  /** Scope to request; default: the challenge's `scope`, else the resource's `scopes_supported`, else none. */
  scope?: string | undefined;
  /** The HTTPS redirect URI registered for `--login`; never loaded, the browser is stopped there. */
  callbackUrl?: string | undefined;
  /** Stop after registration: no sign-in, so no MCP, refresh or revocation checks. */
  skipAuth?: boolean | undefined;
  /** Interactive sign-in: open the system browser (default) or only print the URL. */
  openBrowser?: boolean | undefined;
  /** Interactive sign-in: how long to wait for the browser to come back. Default 5 minutes. */
  authTimeoutMs?: number | undefined;
  /** Log every HTTP exchange, redacted, through `log`. */
  verbose?: boolean | undefined;
  /** Where the verbose log and interactive prompts go. Default: stderr. */
  log?: ((line: string) => void) | undefined;
  /**
   * How long the doctor waits for each of its own requests, in milliseconds. Default 10 000
   * (HTTP_TIMEOUT_MS); a server slower than this is reported as timed out. The 2026-07-28 wire
   * probes keep their own 10 s.
   */
  requestTimeoutMs?: number | undefined;
  /** Whose verdict decides the result (verdict.ts, profiles.ts). Default MCP Manager. */
  client?: ClientId | undefined;
}

/** As MCP Manager does: a fixed HTTPS callback. `.invalid` (RFC 6761) can never resolve. */
export const DEFAULT_CALLBACK_URL = 'https://doctor.mcp-manager.invalid/oauth/callback';
export const DEFAULT_AUTH_TIMEOUT_MS = 5 * 60_000;
export const CLIENT_NAME = 'MCP Doctor';

export interface DoctorContext {
  options: DoctorOptions;
  http: HttpClient;
  checklist: Checklist;
  /** What the run establishes, as data; filled in by the steps, returned in the report. */
  facts: DoctorFacts;
  /** A line for the person running the doctor (prompts, progress), never part of the report. */
  say: (line: string) => void;
}

export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none';

/** A request that got no answer within its deadline. */
export interface TimedOutRequest {
  /** `METHOD URL`, e.g. `POST https://mcp.example.com/mcp`, or what was awaited (`initialize`). */
  request: string;
  /** The deadline it missed, in milliseconds. */
  deadlineMs: number;
}

/**
 * What a run established about the server, as data for verdicts ("connects and stays connected",
 * "connects but must re-authorize after N s", "connects only in another mode", "cannot connect")
 * and per-client profiles; the items say the same in words. A field is absent when the run did not
 * get far enough to know; `false` always means "checked: no". No field ever holds a secret.
 */
export interface DoctorFacts {
  /**
   * Whether clients get in through OAuth: true once protected resource metadata (RFC 9728) was
   * found for the MCP URL; false when the server offers no OAuth discovery (see `withoutOAuth`).
   * Absent when the MCP URL gave no answer at all.
   */
  oauth?: boolean;
  /**
   * Set when `oauth` is false: how a client connects instead. `none`: an unauthenticated
   * `initialize` was served, so no credentials are needed (MCP Manager connects with no header, or
   * with a static header the server ignores). `static-header`: refused without credentials (401 or
   * 403) with no OAuth discovery, so only a credential configured by hand (MCP Manager's static
   * header token) can get in; the doctor has none, so it is not checked.
   */
  withoutOAuth?: 'none' | 'static-header';
  /** Requests that got no answer within their deadline, in the order they were made. Empty when none. */
  timeouts: TimedOutRequest[];
  /**
   * Registering a confidential client (client_secret_basic or client_secret_post, an HTTPS
   * redirect URI), as MCP Manager does. `ok`: registered with a secret. `no-secret`: registered,
   * but as a public client (no client_secret). `refused`: the endpoint refused it (or gave no
   * answer). `unavailable`: no usable registration_endpoint.
   */
  confidentialRegistration?: 'ok' | 'no-secret' | 'refused' | 'unavailable';
  /**
   * Registering a public client (token_endpoint_auth_method none), as most desktop and browser
   * clients do. `ok`; `secret-issued`: registered, but answered with a client_secret; `refused`;
   * `unavailable`: no usable registration_endpoint.
   */
  publicRegistration?: 'ok' | 'secret-issued' | 'refused' | 'unavailable';
  /** Which client the authorization code flow ran with: the confidential one, else the public one. */
  authorizedAs?: 'confidential' | 'public';
  /**
   * The client authentication the token endpoint accepted, as a client registers it: the method the
   * client registered with when that worked, `client_secret_post` when Basic failed and a client
   * registered for post worked, `none` for the public client. Absent when no method worked.
   */
  workingClientAuthMethod?: ClientAuthMethod;
  /**
   * A method the server advertises and registered a client with, but whose requests it refuses
   * every time (not a storage delay: the same client authenticates another way at that moment).
   */
  refusedClientAuthMethod?: 'client_secret_basic' | 'client_secret_post';
  /**
   * HTTP Basic worked only with `client_id` also in the form body (what the MCP Python SDK's
   * token endpoint requires; RFC 6749 §2.3.1 needs no such parameter, and some servers refuse it).
   */
  basicNeedsClientIdInBody?: boolean;
  /**
   * The code exchange was refused at first (invalid_client / invalid_grant) and succeeded on a
   * retry: the registration or the code was not yet visible (eventually consistent storage).
   */
  registrationRace?: boolean;
  /** A refresh_token came with the tokens from the code exchange. */
  refreshTokenIssued?: boolean;
  /**
   * The server says refresh is supported: its metadata's grant_types_supported, or the grant_types
   * it registered the client with, list refresh_token. With `refreshTokenIssued` false: promised,
   * never delivered.
   */
  refreshAdvertised?: boolean;
  /** Where refresh was advertised: `grant_types_supported` (RFC 8414 §2), `registration` (the grant_types of the registered client, RFC 7591 §3.2.1). */
  refreshAdvertisedIn?: Array<'grant_types_supported' | 'registration'>;
  /**
   * `expires_in` of the first access token, in seconds. Without a refresh token this is how long a
   * gateway stays connected before its user must sign in again.
   */
  accessTokenLifetimeSeconds?: number;
  /**
   * MCP over Streamable HTTP (`initialize`, the 2025 revisions MCP Manager speaks), with the access
   * token (without credentials when `withoutOAuth` is `none`). `ok`; `unauthorized`: 401 to a token
   * the server had just issued itself, also after retries (or, without OAuth, to no token at all);
   * `failed`: any other failure (mcp.initialize says which); `timed-out`: no answer within the deadline.
   */
  mcp?: 'ok' | 'unauthorized' | 'failed' | 'timed-out';
  /** The refresh_token grant issued a new access token (lifecycle.refresh). */
  refreshWorks?: boolean;
  /** Why the run stopped before the end, when it did (every item not reached is SKIP with this reason). */
  stoppedBecause?: string;
  /**
   * The item whose result left the run nothing to go on, when it stopped early (absent for a stop
   * the person asked for, `--skip-auth`). With the items before it, the first blocking step.
   */
  stoppedAt?: ItemId;
}

/** A run's facts before anything is known. */
export function initialFacts(): DoctorFacts {
  return { timeouts: [] };
}

/** JSON object fields, safely: metadata documents come from servers we do not trust to be well-formed. */
export type JsonObject = Record<string, unknown>;

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function stringField(object: JsonObject, name: string): string | undefined {
  const value = object[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

export function stringArrayField(object: JsonObject, name: string): string[] | undefined {
  const value = object[name];
  return Array.isArray(value) ? value.filter((entry): entry is string => typeof entry === 'string') : undefined;
}

/** `error: error_description` of an OAuth error body, or the HTTP status when there is none. */
export function describeHttpError(status: number, body: unknown, text = ''): string {
  if (isJsonObject(body) && typeof body.error === 'string') {
    return `HTTP ${status} ${body.error}${typeof body.error_description === 'string' ? `: ${body.error_description}` : ''}`;
  }
  const snippet = text.trim().replace(/\s+/g, ' ').slice(0, 120);
  if (status === 0) return `no answer${snippet ? ` (${snippet})` : ''}`;
  return `HTTP ${status}${snippet ? ` (${snippet})` : ''}`;
}
