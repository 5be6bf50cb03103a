import { readFileSync } from 'node:fs';
import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';
import { outboundService } from './test/worker/fixtures/outbound.ts';

/** The dev secrets from .dev.vars.example: the one source for local and test secrets. */
function devSecrets(): Record<string, string> {
  const lines = readFileSync(new URL('./.dev.vars.example', import.meta.url), 'utf8').split('\n');
  return Object.fromEntries(
    lines.filter((line) => /^[A-Z_]+=/.test(line)).map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

/**
 * Turns the /admin API on inside workerd tests (it is off unless ADMIN_TOKEN is set). SCRATCH_KV is a
 * KV namespace for tests that write records of their own making, which must not land in OAUTH_KV
 * where the provider would read them as real clients or grants. CONSOLE_KV is the admin console
 * tests' OAUTH_KV: only what the provider writes, and not the hundreds of clients the other files
 * register, so a console page shows what those tests made.
 */
const TEST_ADMIN_TOKEN = 'test-admin-token-not-a-secret-0123456789';

/**
 * The workerd tests register hundreds of clients from one (absent) address: the configured rate
 * limits are raised out of their way, and TIGHT_RATE_LIMIT (3 a minute) stands in for any of them in
 * the tests that prove the limits (test/worker/rate-limits.test.ts).
 */
const UNLIMITED = { simple: { limit: 1_000_000, period: 60 as const } };
const rateLimits = {
  REGISTER_RATE_LIMIT: { namespace_id: '2001', ...UNLIMITED },
  AUTHORIZE_RATE_LIMIT: { namespace_id: '2002', ...UNLIMITED },
  TOKEN_ADDRESS_RATE_LIMIT: { namespace_id: '2003', ...UNLIMITED },
  TOKEN_CLIENT_RATE_LIMIT: { namespace_id: '2004', ...UNLIMITED },
  BEARER_FAILURE_RATE_LIMIT: { namespace_id: '2005', ...UNLIMITED },
  TIGHT_RATE_LIMIT: { namespace_id: '2999', simple: { limit: 3, period: 60 as const } },
};

export default defineConfig({
  test: {
    // The audit trail's JSON Lines (one console call per batch) are the Worker's log, not the tests'
    // output; the tests that care read them through a spy or the export.
    onConsoleLog: (log) => !log.startsWith('{"event":"audit"'),
    projects: [
      {
        // Inside workerd, with the real KV, Durable Objects and the provider: modules and routes.
        // Files share one module graph and storage (isolate: false): 4x faster, so tests never
        // assume an empty namespace (they use fresh ids and page through listings).
        plugins: [cloudflareTest({ wrangler: { configPath: './wrangler.jsonc' }, miniflare: { bindings: { ...devSecrets(), ADMIN_TOKEN: TEST_ADMIN_TOKEN }, kvNamespaces: ['SCRATCH_KV', 'CONSOLE_KV'], ratelimits: rateLimits, outboundService } })],
        test: {
          name: 'worker',
          include: ['test/worker/**/*.test.ts', 'src/**/*.test.ts'],
          isolate: false,
          globalSetup: ['test/worker/global-setup.ts'],
          setupFiles: ['test/worker/each-file.ts'],
        },
      },
      {
        // Black-box, from Node: the running system (wrangler dev + the dev IdP) driven by real clients.
        // The global setup gives the run one temp folder, removed at its end, and picks the browser.
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts', 'dev/**/*.test.ts'],
          globalSetup: ['test/e2e/support/global-setup.ts'],
          environment: 'node',
          testTimeout: 60_000,
          hookTimeout: 90_000,
        },
      },
    ],
  },
});
