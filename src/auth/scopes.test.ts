import { describe, expect, it } from 'vitest';
import { ALL_SCOPES, expandScopes, hasScopes, isScope } from './scopes';

describe('scope catalogue', () => {
  it('has the notes scopes, then one scope per upstream tool, in that order', () => {
    expect(ALL_SCOPES).toEqual(['profile', 'notes:read', 'notes:write', 'upstream:userinfo', 'github:profile', 'github:repos', 'github:orgs']);
  });

  it('knows its own scopes and nothing inherited from Object', () => {
    expect(isScope('notes:read')).toBe(true);
    expect(isScope('admin')).toBe(false);
    expect(isScope('toString')).toBe(false);
    expect(isScope('__proto__')).toBe(false);
  });

  it('expands notes:write to include notes:read', () => {
    expect([...expandScopes(['notes:write'])].sort()).toEqual(['notes:read', 'notes:write']);
  });

  it('expands nothing else and drops unknown scopes', () => {
    expect([...expandScopes(['profile', 'admin', 'notes:read'])].sort()).toEqual(['notes:read', 'profile']);
    expect(expandScopes([]).size).toBe(0);
  });

  it('lets notes:write do what needs notes:read, but not the reverse', () => {
    expect(hasScopes(['notes:write'], ['notes:read'])).toBe(true);
    expect(hasScopes(['notes:read'], ['notes:write'])).toBe(false);
  });

  it('requires every required scope', () => {
    expect(hasScopes(['profile'], ['profile', 'notes:read'])).toBe(false);
    expect(hasScopes(['profile', 'notes:write'], ['profile', 'notes:read'])).toBe(true);
    expect(hasScopes([], ['profile'])).toBe(false);
  });

  it('does not treat an unknown scope as granting anything', () => {
    expect(hasScopes(['admin', '*', 'notes'], ['notes:read'])).toBe(false);
  });
});
