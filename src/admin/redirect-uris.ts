/** What an administrator may pre-register as a redirect URI: the one rule for the JSON API (./app.ts) and the console (./console.ts). */
import { httpsOrLoopbackProblem } from '../config';

/** Longer than any real callback; a bound on what one form or request may store. */
export const MAX_REDIRECT_URI_CHARS = 2048;

/**
 * Why a redirect URI cannot be registered, or undefined: RFC 6749 §3.1.2 forbids a fragment; userinfo
 * has no place in a redirect; OAuth 2.1 wants https, or http only on loopback.
 */
export function redirectUriProblem(uri: string): string | undefined {
  if (uri.length > MAX_REDIRECT_URI_CHARS) return `is longer than ${MAX_REDIRECT_URI_CHARS} characters`;
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return 'is not an absolute URL';
  }
  if (url.hash !== '' || uri.includes('#')) return 'must not contain a fragment (RFC 6749 §3.1.2)';
  if (url.username !== '' || url.password !== '') return 'must not contain userinfo';
  return httpsOrLoopbackProblem(uri);
}
