/**
 * Binds the scopes a consent page showed to that page's handle, so its form can approve those and
 * no others. The provider keeps the request server-side but hands it back only after approval, with
 * the posted scopes already in place; this seal carries what was shown across the round trip.
 */
import { equalInConstantTime, hmac } from '../crypto';
import { isScope, type Scope } from './scopes';

const PURPOSE = 'consent-shown-scopes';

export async function sealShownScopes(secret: string, handle: string, scopes: readonly Scope[]): Promise<string> {
  const list = scopes.join(' ');
  return `${list}.${await hmac(secret, PURPOSE, `${handle}\n${list}`)}`;
}

/** The scopes sealed for `handle`, or undefined when the seal was altered or belongs to another page. */
export async function openShownScopes(secret: string, handle: string, sealed: string): Promise<Scope[] | undefined> {
  const dot = sealed.lastIndexOf('.');
  if (dot < 0) return undefined;
  const list = sealed.slice(0, dot);
  if (!equalInConstantTime(await hmac(secret, PURPOSE, `${handle}\n${list}`), sealed.slice(dot + 1))) return undefined;
  return list.split(' ').filter(isScope);
}
