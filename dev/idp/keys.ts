// The dev IdP's signing keys: RS256, newest first (the newest signs; oidc-provider signs with the
// first key that fits). In memory, new at every start; or, with a state directory, kept in
// `<dir>/signing-keys.json`, so ID tokens signed before a restart still verify after it.
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A private RSA JWK as oidc-provider takes it, with its RFC 7638 thumbprint as `kid`. */
export interface SigningKey extends JsonWebKey {
  kty: 'RSA';
  kid: string;
  alg: 'RS256';
  use: 'sig';
  n: string;
  e: string;
  d: string;
}

export const SIGNING_KEYS_FILE = 'signing-keys.json';

/** How many keys are published: the one that signs and the one it replaced (what it signed still verifies). */
const PUBLISHED_KEYS = 2;

export class SigningKeys {
  #keys: SigningKey[];
  readonly #file: string | undefined;

  private constructor(keys: SigningKey[], file: string | undefined) {
    this.#keys = keys;
    this.#file = file;
  }

  /** The key set kept in `stateDir` (created there on first use), or a fresh one in memory. */
  static load(stateDir: string | undefined): SigningKeys {
    if (stateDir === undefined) return new SigningKeys([newSigningKey()], undefined);
    const file = join(stateDir, SIGNING_KEYS_FILE);
    const stored = readKeys(file);
    if (stored !== undefined) return new SigningKeys(stored, file);
    const keys = [newSigningKey()];
    writeKeys(file, keys);
    return new SigningKeys(keys, file);
  }

  /** Newest (signing) first. */
  get keys(): readonly SigningKey[] {
    return this.#keys;
  }

  /** A new key signs from now on; the one before it stays published. Saved before it is used. */
  rotate(): SigningKey {
    const key = newSigningKey();
    const keys = [key, ...this.#keys].slice(0, PUBLISHED_KEYS);
    if (this.#file !== undefined) writeKeys(this.#file, keys);
    this.#keys = keys;
    return key;
  }
}

export function newSigningKey(): SigningKey {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  if (typeof jwk.n !== 'string' || typeof jwk.e !== 'string' || typeof jwk.d !== 'string') throw new Error('Dev IdP: Node exported an RSA key without n, e or d');
  return { ...jwk, kty: 'RSA', n: jwk.n, e: jwk.e, d: jwk.d, kid: thumbprint(jwk.e, jwk.n), alg: 'RS256', use: 'sig' };
}

/** RFC 7638 §3.2: SHA-256 over the required members, in lexicographic order, without whitespace. */
function thumbprint(e: string, n: string): string {
  return createHash('sha256').update(JSON.stringify({ e, kty: 'RSA', n })).digest('base64url');
}

function readKeys(file: string): SigningKey[] | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if (error instanceof Error && 'code' in error && error.code === 'ENOENT') return undefined;
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const keys: unknown = typeof parsed === 'object' && parsed !== null ? Reflect.get(parsed, 'keys') : undefined;
  if (!Array.isArray(keys) || keys.length === 0 || !keys.every(isSigningKey)) {
    throw new Error(`Dev IdP: ${file} is not a key set this IdP wrote; delete it to start with a new signing key`);
  }
  return keys;
}

function isSigningKey(value: unknown): value is SigningKey {
  if (typeof value !== 'object' || value === null) return false;
  const key = value as Record<string, unknown>;
  return key.kty === 'RSA' && key.alg === 'RS256' && key.use === 'sig' && ['kid', 'n', 'e', 'd'].every((name) => typeof key[name] === 'string');
}

/** Written whole or not at all (a temporary file renamed over the old one), readable by this user only. */
function writeKeys(file: string, keys: readonly SigningKey[]): void {
  mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(temporary, `${JSON.stringify({ keys }, null, 2)}\n`, { mode: 0o600 });
  renameSync(temporary, file);
}
