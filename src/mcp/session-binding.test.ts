import { describe, expect, it } from 'vitest';
import { isSessionOwnedBy, newBoundSessionId } from './session-binding';

const SECRET = 'a-session-secret-of-at-least-32-chars';

/** `id` with the character at `index` replaced by a different one of the same alphabet. */
function flip(id: string, index: number): string {
  const char = id.charAt(index);
  const replacement = char === 'A' ? 'B' : char === '0' ? '1' : /[0-9a-f]/.test(char) && index < 32 ? (char === 'f' ? 'e' : 'f') : 'A';
  return `${id.slice(0, index)}${replacement}${id.slice(index + 1)}`;
}

describe('session binding', () => {
  it('issues ids of 128 random bits and a 128-bit MAC, all different', async () => {
    const ids = await Promise.all(Array.from({ length: 20 }, () => newBoundSessionId(SECRET, 'alice')));
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{32}\.[A-Za-z0-9_-]{22}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('verifies an id for the user it was issued to, and for nobody else', async () => {
    const id = await newBoundSessionId(SECRET, 'alice');
    expect(await isSessionOwnedBy(SECRET, id, 'alice')).toBe(true);
    expect(await isSessionOwnedBy(SECRET, id, 'bob')).toBe(false);
    expect(await isSessionOwnedBy(SECRET, id, 'alice ')).toBe(false);
    expect(await isSessionOwnedBy(SECRET, id, '')).toBe(false);
  });

  it('does not let a user id and random part be re-split to forge another binding', async () => {
    // The MAC covers `userId\nrandom`; a user whose id ends where another's random part starts gains nothing.
    const id = await newBoundSessionId(SECRET, 'ali');
    const [random = '', mac = ''] = id.split('.');
    expect(await isSessionOwnedBy(SECRET, `${random.slice(2)}.${mac}`, `ali${random.slice(0, 2)}`)).toBe(false);
  });

  it('refuses an id with any character of its random part or MAC changed', async () => {
    const id = await newBoundSessionId(SECRET, 'alice');
    for (const index of [0, 15, 31, 33, 40, id.length - 1]) {
      const tampered = flip(id, index);
      expect(tampered).not.toBe(id);
      expect(await isSessionOwnedBy(SECRET, tampered, 'alice'), `changed at ${index}`).toBe(false);
    }
  });

  it('refuses an id with its MAC truncated or extended', async () => {
    const id = await newBoundSessionId(SECRET, 'alice');
    expect(await isSessionOwnedBy(SECRET, id.slice(0, -1), 'alice')).toBe(false);
    expect(await isSessionOwnedBy(SECRET, `${id}A`, 'alice')).toBe(false);
  });

  it.each([
    ['empty', ''],
    ['no dot', 'f'.repeat(32)],
    ['nothing before the dot', `.${'A'.repeat(22)}`],
    ['nothing after the dot', `${'f'.repeat(32)}.`],
    ['longer than 128 characters', `${'f'.repeat(32)}.${'A'.repeat(120)}`],
    ['a raw Durable Object id', 'f'.repeat(64)],
  ])('refuses a malformed id: %s', async (_label, id) => {
    expect(await isSessionOwnedBy(SECRET, id, 'alice')).toBe(false);
  });

  it('refuses an id issued under a different secret', async () => {
    const id = await newBoundSessionId('another-secret-of-at-least-32-chars!', 'alice');
    expect(await isSessionOwnedBy(SECRET, id, 'alice')).toBe(false);
  });
});
