import { describe, expect, it } from 'vitest';
import { postedScopes, requestedScopes as requestedOf } from './grant-scopes';
import { offeredScopes } from './scopes';

/** What an OIDC server without upstream tokens offers (the default configuration). */
const OFFERED = offeredScopes({ upstream: { kind: 'oidc' }, upstreamTokens: { enabled: false } });
const requestedScopes = (requested: string[]) => requestedOf(requested, OFFERED);

describe('offeredScopes', () => {
  it('offers the upstream tools\' scopes only with that upstream and UPSTREAM_TOKENS on', () => {
    expect(OFFERED).toEqual(['profile', 'notes:read', 'notes:write']);
    expect(offeredScopes({ upstream: { kind: 'oidc' }, upstreamTokens: { enabled: true } })).toEqual(['profile', 'notes:read', 'notes:write', 'upstream:userinfo']);
    expect(offeredScopes({ upstream: { kind: 'github' }, upstreamTokens: { enabled: true } })).toEqual(['profile', 'notes:read', 'notes:write', 'github:profile', 'github:repos', 'github:orgs']);
    expect(offeredScopes({ upstream: { kind: 'github' }, upstreamTokens: { enabled: false } })).toEqual(['profile', 'notes:read', 'notes:write']);
  });
});

describe('requestedScopes', () => {
  it('asks for every offered scope when the client names none', () => {
    expect(requestedScopes([])).toEqual({ ok: true, scopes: ['profile', 'notes:read', 'notes:write'] });
  });

  it('treats a catalogue scope this configuration does not offer as unknown', () => {
    expect(requestedScopes(['profile', 'github:repos'])).toEqual({ ok: false, unknown: ['github:repos'] });
  });

  it('keeps what was asked for, in catalogue order, without duplicates', () => {
    expect(requestedScopes(['notes:write', 'profile', 'notes:write'])).toEqual({ ok: true, scopes: ['profile', 'notes:write'] });
  });

  it('is an error listing every unknown scope, never a silent drop', () => {
    expect(requestedScopes(['notes:read', 'admin', 'notes:delete'])).toEqual({ ok: false, unknown: ['admin', 'notes:delete'] });
  });

  it('ignores offline_access, alone or with others', () => {
    expect(requestedScopes(['offline_access'])).toEqual({ ok: true, scopes: ['profile', 'notes:read', 'notes:write'] });
    expect(requestedScopes(['offline_access', 'notes:read'])).toEqual({ ok: true, scopes: ['notes:read'] });
  });

  it('does not ignore OpenID scopes this server does not grant', () => {
    expect(requestedScopes(['openid', 'profile'])).toEqual({ ok: false, unknown: ['openid'] });
  });
});

// What the consent form posted. That the server grants no more than the page showed is checked
// end to end in test/worker/authorize.test.ts ("never grants a scope the consent page did not show").
describe('postedScopes', () => {
  it('keeps the catalogue scopes the form posted, in catalogue order', () => {
    expect(postedScopes(['notes:write', 'profile'])).toEqual(['profile', 'notes:write']);
  });

  it('drops anything that is not a scope of this server', () => {
    expect(postedScopes(['admin', 'notes:read', '*', 'notes:read ', 'toString'])).toEqual(['notes:read']);
  });

  it('lists each scope once', () => {
    expect(postedScopes(['profile', 'profile'])).toEqual(['profile']);
  });

  it('is empty when nothing was ticked', () => {
    expect(postedScopes([])).toEqual([]);
  });
});
