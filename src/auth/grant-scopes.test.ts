import { describe, expect, it } from 'vitest';
import { approvedScopes, DEFAULT_SCOPES, requestedScopes } from './grant-scopes';

describe('requestedScopes', () => {
  it('asks for all three scopes when the client names none', () => {
    expect(requestedScopes([])).toEqual({ ok: true, scopes: ['profile', 'notes:read', 'notes:write'] });
    expect(DEFAULT_SCOPES).toEqual(['profile', 'notes:read', 'notes:write']);
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

describe('approvedScopes', () => {
  it('is what the user ticked among what was shown', () => {
    expect(approvedScopes(['profile', 'notes:read', 'notes:write'], ['notes:read'])).toEqual(['notes:read']);
  });

  it('never exceeds what was shown, whatever the form says', () => {
    expect(approvedScopes(['profile'], ['profile', 'notes:write', 'admin'])).toEqual(['profile']);
    expect(approvedScopes(['notes:read'], ['notes:write'])).toEqual([]);
  });

  it('is empty when nothing was ticked', () => {
    expect(approvedScopes(['profile', 'notes:read'], [])).toEqual([]);
  });

  it('lists each scope once, in the order shown', () => {
    expect(approvedScopes(['profile', 'notes:write'], ['notes:write', 'profile', 'notes:write'])).toEqual(['profile', 'notes:write']);
  });
});
