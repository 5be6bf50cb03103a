// The two fixed accounts of the development IdP. Dev-only: never deployed.
import { createHash, timingSafeEqual } from 'node:crypto';

/** Claims an account releases; the names are the OIDC standard claim names. */
export interface DevAccount {
  readonly sub: string;
  readonly email: string;
  readonly email_verified: boolean;
  readonly name: string;
  /** Group names, as Okta, Keycloak or Entra send them in a `groups` claim (here with the `profile` scope). */
  readonly groups: readonly string[];
}

interface StoredAccount extends DevAccount {
  readonly login: string;
  readonly password: string;
}

const ACCOUNTS: readonly StoredAccount[] = [
  {
    login: 'alice',
    password: 'alice',
    sub: 'alice',
    email: 'alice@example.com',
    email_verified: true,
    name: 'Alice Example',
    groups: ['mcp-admins', 'staff'],
  },
  {
    login: 'bob',
    password: 'bob',
    sub: 'bob',
    email: 'bob@example.com',
    email_verified: true,
    name: 'Bob Example',
    groups: ['staff'],
  },
];

function publicView({ sub, email, email_verified, name, groups }: StoredAccount): DevAccount {
  return { sub, email, email_verified, name, groups };
}

// Hashing first gives timingSafeEqual two equal-length inputs whatever was typed.
function sha256(value: string): Uint8Array {
  return createHash('sha256').update(value, 'utf8').digest();
}

function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

export function findAccountBySub(sub: string): DevAccount | undefined {
  const account = ACCOUNTS.find((candidate) => candidate.sub === sub);
  return account === undefined ? undefined : publicView(account);
}

/** Returns the account when login and password match, otherwise undefined. */
export function verifyCredentials(login: string, password: string): DevAccount | undefined {
  const account = ACCOUNTS.find((candidate) => candidate.login === login);
  // Compare even for an unknown login so both failure cases cost the same.
  const matches = sameSecret(password, account?.password ?? '\0no-such-account');
  return account !== undefined && matches ? publicView(account) : undefined;
}
