/** What every step of the doctor receives: the options, the recording HTTP client, the checklist. */
import type { Checklist } from './checklist.ts';
import type { HttpClient } from './http.ts';

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
}

/** As MCP Manager does: a fixed HTTPS callback. `.invalid` (RFC 6761) can never resolve. */
export const DEFAULT_CALLBACK_URL = 'https://doctor.mcp-manager.invalid/oauth/callback';
export const DEFAULT_AUTH_TIMEOUT_MS = 5 * 60_000;
export const CLIENT_NAME = 'MCP Doctor';

export interface DoctorContext {
  options: DoctorOptions;
  http: HttpClient;
  checklist: Checklist;
  /** A line for the person running the doctor (prompts, progress), never part of the report. */
  say: (line: string) => void;
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
