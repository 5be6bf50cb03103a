/**
 * Redaction of secrets from recorded HTTP exchanges, so `--verbose` output can be pasted into an
 * issue. Pure: no I/O, no state. Two layers, because either alone leaks:
 * - by name: credential headers, and secret fields in JSON, form bodies and URL queries;
 * - by value: every secret the doctor has learned so far (client secret, code, verifier, tokens,
 *   the `--login` password) wherever it shows up, e.g. echoed in an error description.
 */

export const REDACTED = '[redacted]';

/** Headers whose value is a credential. `Authorization` keeps its scheme (useful, not secret). */
const CREDENTIAL_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'dpop']);

/**
 * Fields that carry a secret in OAuth and OIDC requests and responses (RFC 6749, 7009, 7591, 7592,
 * 8693, OIDC Core), in JSON bodies, form bodies and query strings alike.
 */
const SECRET_FIELDS = new Set([
  'client_secret',
  'code',
  'code_verifier',
  'access_token',
  'refresh_token',
  'id_token',
  'token',
  'registration_access_token',
  'password',
  'client_assertion',
  'assertion',
  'subject_token',
  'actor_token',
  'device_code',
]);

/** Known secrets shorter than this are not replaced by value: too likely to hit innocent text. */
const MIN_SECRET_LENGTH = 6;

export type HeaderList = ReadonlyArray<readonly [string, string]>;

export interface RecordedRequest {
  method: string;
  url: string;
  headers: HeaderList;
  body?: string | undefined;
}

export interface RecordedResponse {
  status: number;
  statusText: string;
  headers: HeaderList;
  /** Text of the body, when it was read; an event stream is never read. */
  body?: string | undefined;
}

export interface RecordedExchange {
  id: number;
  request: RecordedRequest;
  response?: RecordedResponse | undefined;
  /** Set instead of `response` when the request failed (network error, timeout). */
  error?: string | undefined;
  durationMs: number;
}

export function redactHeaders(headers: HeaderList, secrets: Iterable<string> = []): Array<[string, string]> {
  const known = [...secrets];
  return headers.map(([name, value]): [string, string] => {
    const lower = name.toLowerCase();
    if (lower === 'authorization' || lower === 'proxy-authorization') {
      const scheme = /^([A-Za-z][A-Za-z0-9-]*)\s+\S/.exec(value)?.[1];
      return [name, scheme ? `${scheme} ${REDACTED}` : REDACTED];
    }
    if (CREDENTIAL_HEADERS.has(lower)) return [name, REDACTED];
    return [name, redactKnownSecrets(value, known)];
  });
}

/** A URL with secret query parameters (`code`, `access_token`, …) and known secrets replaced. */
export function redactUrl(url: string, secrets: Iterable<string> = []): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return redactKnownSecrets(url, secrets);
  }
  if (parsed.search) parsed.search = redactForm(parsed.search.slice(1));
  if (parsed.username || parsed.password) {
    parsed.username = REDACTED;
    parsed.password = '';
  }
  return redactKnownSecrets(parsed.href, secrets);
}

/**
 * A body with its secret fields replaced. JSON and form encodings are parsed (by content type, or
 * by shape when there is none); anything else only gets known secrets replaced.
 */
export function redactBody(body: string, contentType: string | undefined, secrets: Iterable<string> = []): string {
  const type = contentType?.split(';')[0]?.trim().toLowerCase() ?? '';
  let redacted = body;
  if (type === 'application/json' || type.endsWith('+json') || (type === '' && /^\s*[[{]/.test(body))) {
    redacted = redactJsonText(body);
  } else if (type === 'application/x-www-form-urlencoded') {
    redacted = redactForm(body);
  }
  return redactKnownSecrets(redacted, secrets);
}

/** Every occurrence of every known secret (long enough to be one) replaced. */
export function redactKnownSecrets(text: string, secrets: Iterable<string>): string {
  let result = text;
  // Longest first, so a secret that contains another is replaced whole.
  const ordered = [...new Set(secrets)].filter((secret) => secret.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length);
  for (const secret of ordered) {
    result = result.split(secret).join(REDACTED);
    // The same secret as it appears in a form body or query string.
    const encoded = encodeURIComponent(secret);
    if (encoded !== secret) result = result.split(encoded).join(REDACTED);
  }
  return result;
}

export function redactExchange(exchange: RecordedExchange, secrets: Iterable<string> = []): RecordedExchange {
  const known = [...secrets];
  const { request, response } = exchange;
  return {
    ...exchange,
    request: {
      method: request.method,
      url: redactUrl(request.url, known),
      headers: redactHeaders(request.headers, known),
      body: request.body === undefined ? undefined : redactBody(request.body, headerValue(request.headers, 'content-type'), known),
    },
    response: response && {
      status: response.status,
      statusText: response.statusText,
      headers: redactHeaders(response.headers, known).map(([name, value]): [string, string] => (name.toLowerCase() === 'location' ? [name, redactUrl(value, known)] : [name, value])),
      body: response.body === undefined ? undefined : redactBody(response.body, headerValue(response.headers, 'content-type'), known),
    },
    error: exchange.error === undefined ? undefined : redactKnownSecrets(exchange.error, known),
  };
}

export function headerValue(headers: HeaderList, name: string): string | undefined {
  const lower = name.toLowerCase();
  return headers.find(([key]) => key.toLowerCase() === lower)?.[1];
}

function redactForm(form: string): string {
  const params = new URLSearchParams(form);
  let changed = false;
  for (const key of new Set(params.keys())) {
    if (SECRET_FIELDS.has(key)) {
      params.set(key, REDACTED);
      changed = true;
    }
  }
  // Unchanged forms are returned as they were, so their original encoding stays readable.
  return changed ? params.toString().replaceAll(encodeURIComponent(REDACTED), REDACTED) : form;
}

function redactJsonText(text: string): string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return text;
  }
  return JSON.stringify(redactJsonValue(value));
}

function redactJsonValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactJsonValue);
  if (typeof value !== 'object' || value === null) return value;
  const result: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    // Only string values: JSON-RPC errors carry a numeric `code` that is no secret.
    result[key] = SECRET_FIELDS.has(key) && typeof field === 'string' ? REDACTED : redactJsonValue(field);
  }
  return result;
}
