/**
 * What an unauthenticated request may make this Worker read or look up, checked before the OAuth
 * provider or the sign-in app sees it. Anything over a bound gets the error the spec names (a 4xx),
 * never a 500.
 *
 * Bodies: capped before they are read (413), by their declared length and, for a chunked body,
 * while reading. Identifiers: the provider builds Workers KV keys from what a caller sends
 * (`client:<client_id>`, `token:<user>:<grant>:<hash>` from a bearer, refresh or code token), and KV
 * refuses a key over 512 bytes with an exception: a caller could turn any such request into a 500.
 * Over-long values are replaced by a short value that cannot match anything, so the provider answers
 * exactly as it does for any unknown client or token (`invalid_client`, `invalid_grant`,
 * `invalid_token`), after its own checks, in its own order.
 */

/**
 * Longest client id accepted. Generated ids are 16 characters; Client ID Metadata Document URLs seen
 * in the wild are under 100. `client:` plus 256 bytes stays far under the KV key limit.
 */
export const MAX_CLIENT_ID_BYTES = 256;

/**
 * Longest token accepted (`user:grant:secret`; ours are under 100 bytes). The provider keys a token's
 * record as `token:<user>:<grant>:<64 hex digits>`, at most 6 + 400 + 1 + 64 = 471 bytes for a
 * 400-byte token: under KV's 512.
 */
export const MAX_TOKEN_BYTES = 400;

/** Form and JSON bodies of /token and /register: a client_assertion JWT is the largest thing sent, a few KiB. */
export const MAX_OAUTH_BODY_BYTES = 64 * 1024;

/** The consent form: a handle, a sealed scope list and a few scopes. */
export const MAX_CONSENT_FORM_BYTES = 16 * 1024;

/** A value that is not a token and not a client id, so the provider finds nothing for it. */
export const NO_SUCH_TOKEN = 'invalid';
export const NO_SUCH_CLIENT = 'unknown-client';

const encoder = new TextEncoder();

export function byteLength(value: string): number {
  return encoder.encode(value).length;
}

/**
 * The body, read in full if it fits in `maxBytes`; undefined when it does not. A declared length is
 * checked before reading anything (HTTP framing then holds the body to it); a body of undeclared
 * length is read chunk by chunk and abandoned as soon as it passes the bound.
 */
export async function readCapped(request: Request, maxBytes: number): Promise<Uint8Array | undefined> {
  const declared = request.headers.get('content-length');
  if (declared !== null && /^\d+$/.test(declared)) {
    if (Number(declared) > maxBytes) return undefined;
    return new Uint8Array(await request.arrayBuffer());
  }
  if (request.body === null) return new Uint8Array();
  return readStreamCapped(request.body, maxBytes);
}

/** A stream read in full if it holds at most `maxBytes`; undefined, and the stream cancelled, as soon as it passes them. */
export async function readStreamCapped(stream: ReadableStream<Uint8Array>, maxBytes: number): Promise<Uint8Array<ArrayBuffer> | undefined> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let received = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      received += value.byteLength;
      if (received > maxBytes) {
        await reader.cancel().catch(() => undefined);
        return undefined;
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  const body = new Uint8Array(received);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

/** A token the provider can look up without building a key KV refuses; anything longer becomes {@link NO_SUCH_TOKEN}. */
export function boundedToken(token: string): string {
  // On every MCP request: UTF-8 takes at most 3 bytes per UTF-16 unit, so short tokens need no encoding.
  if (token.length * 3 <= MAX_TOKEN_BYTES) return token;
  return token.length > MAX_TOKEN_BYTES || byteLength(token) > MAX_TOKEN_BYTES ? NO_SUCH_TOKEN : token;
}
