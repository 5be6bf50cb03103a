/**
 * Bounded exponential backoff with jitter, for the one situation where an OAuth client should retry
 * an error at all: right after dynamic registration, when an authorization server on eventually
 * consistent storage (Workers KV and the like) can briefly answer `invalid_client` for a client it
 * has just created, or `invalid_grant` for a code it has just issued. Everything else an OAuth
 * error says is final and must not be retried.
 *
 * `invalid_client` is also what a server answers, every time, when it does not accept the way the
 * client authenticates (Basic where it reads only the body, say). Retrying that only delays the
 * report and misnames the cause: callers should first check whether the client authenticates
 * another way at that moment (the doctor does, cli/doctor/authorization.ts), and retry only when it
 * does not, since only then can the client be not yet visible.
 */

export interface RetryPolicy {
  /** Attempts in all, the first one included. */
  maxAttempts: number;
  /** The first delay's ceiling; each later one doubles, up to `maxDelayMs`. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** No retry starts once this much time has passed since the first attempt began. */
  maxTotalMs: number;
}

/**
 * For an exchange right after registration: 5 attempts, delays of at most 0.25, 0.5, 1 and 2 s
 * (3.75 s of waiting at worst), all within 9 s, so a caller with a 10 s budget still answers in time.
 */
export const AFTER_REGISTRATION: RetryPolicy = { maxAttempts: 5, baseDelayMs: 250, maxDelayMs: 2_000, maxTotalMs: 9_000 };

/** The OAuth error codes that can be a registration or a code not yet visible on every replica. */
export const EVENTUALLY_CONSISTENT_ERRORS: ReadonlySet<string> = new Set(['invalid_client', 'invalid_grant']);

export interface RetryOutcome<T> {
  result: T;
  /** One entry per retry: the reason the attempt before it was retried. Empty when the first attempt was final. */
  retries: string[];
}

export interface RetryEnvironment {
  sleep?: (ms: number) => Promise<void>;
  /** In [0, 1); injectable so tests are deterministic. */
  random?: () => number;
  now?: () => number;
}

/**
 * Runs `attempt` until `retryReason` returns undefined for its result, the policy's attempts run out,
 * or the next delay would end beyond `maxTotalMs`; returns the last result either way, with the
 * reasons for every retry made. Exceptions (network failures) are not retried: they propagate.
 */
export async function retryWithBackoff<T>(
  attempt: (attemptNumber: number) => Promise<T>,
  retryReason: (result: T) => string | undefined,
  policy: RetryPolicy = AFTER_REGISTRATION,
  environment: RetryEnvironment = {},
): Promise<RetryOutcome<T>> {
  const sleep = environment.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const random = environment.random ?? Math.random;
  const now = environment.now ?? Date.now;
  const started = now();
  const retries: string[] = [];
  for (let attemptNumber = 1; ; attemptNumber++) {
    const result = await attempt(attemptNumber);
    const reason = retryReason(result);
    if (reason === undefined || attemptNumber >= policy.maxAttempts) return { result, retries };
    const delay = backoffDelayMs(attemptNumber, policy, random());
    if (now() - started + delay > policy.maxTotalMs) return { result, retries };
    retries.push(reason);
    await sleep(delay);
  }
}

/**
 * "Equal jitter": half the exponential ceiling plus a random share of the other half, so retries
 * from many clients spread out while each still waits long enough for storage to converge.
 */
export function backoffDelayMs(retryNumber: number, policy: RetryPolicy, random: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retryNumber - 1));
  return Math.round(ceiling / 2 + (ceiling / 2) * random);
}

/** "retried 2× after invalid_client" (or with several reasons, each once, in order); '' without retries. */
export function describeRetries(retries: readonly string[]): string {
  if (retries.length === 0) return '';
  return `retried ${retries.length}× after ${[...new Set(retries)].join(', ')}`;
}

/** A retry reason for an OAuth error response body, when its `error` is one storage lag can cause. */
export function eventualConsistencyReason(status: number, body: unknown): string | undefined {
  if (status < 400 || typeof body !== 'object' || body === null || !('error' in body)) return undefined;
  const error = (body as { error: unknown }).error;
  return typeof error === 'string' && EVENTUALLY_CONSISTENT_ERRORS.has(error) ? error : undefined;
}
