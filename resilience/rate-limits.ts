/**
 * Row "rate limits": the one system with the limits on (wrangler.jsonc's figures), to show that
 * the limits switched off elsewhere do answer a burst from one address: 429, `Retry-After`, and the
 * endpoint's own error shape (OAuth JSON for /register, a page for /authorize).
 */
import { discover } from '../cli/lib/oauth-client.ts';
import { APP_CALLBACK, authorizeShowsConsent, errorText, REQUEST_TIMEOUT_MS } from './client.ts';
import { log, startProject } from './harness.ts';
import type { Check } from './report.ts';

/** wrangler.jsonc: REGISTER_RATE_LIMIT 10 a minute, AUTHORIZE_RATE_LIMIT 60 a minute, per address. */
const REGISTER_LIMIT = 10;
const AUTHORIZE_LIMIT = 60;
const REGISTER_BURST = 20;
const AUTHORIZE_BURST = 80;

export interface LimitOutcome {
  requests: number;
  ok: number;
  limited: number;
  /** 429s without Retry-After or without the endpoint's error shape. */
  malformed429: number;
  other: string[];
}

export async function rateLimitsRow(): Promise<{ checks: Check[]; details: { register: LimitOutcome; authorize: LimitOutcome } }> {
  log('rate limits: starting the system with the limits on…');
  const system = await startProject('rate-limits system', {});
  try {
    const discovery = await discover(system.mcpUrl);
    const registrationEndpoint = discovery.server.registration_endpoint as string;

    log(`rate limits: ${REGISTER_BURST} registrations at once from one address…`);
    const register: LimitOutcome = { requests: REGISTER_BURST, ok: 0, limited: 0, malformed429: 0, other: [] };
    let clientId: string | undefined;
    await Promise.all(
      Array.from({ length: REGISTER_BURST }, async (_, index) => {
        try {
          const response = await fetch(registrationEndpoint, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ client_name: `Limits ${index}`, redirect_uris: [APP_CALLBACK], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] }),
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          });
          const body = (await response.json().catch(() => ({}))) as { client_id?: string; error?: string };
          if (response.status === 201 && body.client_id) {
            register.ok++;
            clientId ??= body.client_id;
          } else if (response.status === 429) {
            register.limited++;
            if (!response.headers.get('retry-after') || body.error !== 'temporarily_unavailable') register.malformed429++;
          } else register.other.push(`HTTP ${response.status} ${JSON.stringify(body).slice(0, 100)}`);
        } catch (error) {
          register.other.push(errorText(error));
        }
      }),
    );

    log(`rate limits: ${AUTHORIZE_BURST} GET /authorize at once from one address…`);
    const authorize: LimitOutcome = { requests: AUTHORIZE_BURST, ok: 0, limited: 0, malformed429: 0, other: [] };
    if (clientId) {
      await Promise.all(
        Array.from({ length: AUTHORIZE_BURST }, async () => {
          try {
            const answer = await authorizeShowsConsent(discovery.server.authorization_endpoint as string, clientId as string);
            if (answer.ok) authorize.ok++;
            else if (answer.status === 429) {
              authorize.limited++;
              if (!/<html/i.test(answer.text)) authorize.malformed429++;
            } else authorize.other.push(`HTTP ${answer.status}`);
          } catch (error) {
            authorize.other.push(errorText(error));
          }
        }),
      );
    }
    const summary = (outcome: LimitOutcome, what: string) => `${outcome.ok} ${what}, ${outcome.limited} × 429${outcome.malformed429 ? ` (${outcome.malformed429} malformed)` : ''}${outcome.other.length ? `, ${outcome.other.length} other` : ''}`;
    const judged = (outcome: LimitOutcome, limit: number) => outcome.limited > 0 && outcome.malformed429 === 0 && outcome.other.length === 0 && outcome.ok + outcome.limited === outcome.requests && outcome.ok >= 1 && outcome.ok <= 2 * limit;
    const checks: Check[] = [
      {
        row: 'rate limits',
        name: `limits on: ${REGISTER_BURST} registrations at once from one address (limit ${REGISTER_LIMIT} a minute)`,
        summary: summary(register, 'registered'),
        result: summary(register, 'registered'),
        rule: `1 to ${2 * REGISTER_LIMIT} registered (up to twice the limit when a burst straddles the limiter's window), the rest 429 with Retry-After and {"error":"temporarily_unavailable"}; nothing else`,
        pass: judged(register, REGISTER_LIMIT),
      },
      {
        row: 'rate limits',
        name: `limits on: ${AUTHORIZE_BURST} GET /authorize at once from one address (limit ${AUTHORIZE_LIMIT} a minute)`,
        summary: summary(authorize, 'consent pages'),
        result: summary(authorize, 'consent pages'),
        rule: `1 to ${2 * AUTHORIZE_LIMIT} consent pages (the same), the rest 429 pages; nothing else`,
        pass: judged(authorize, AUTHORIZE_LIMIT),
      },
    ];
    log(`rate limits: register ${checks[0]?.result}; authorize ${checks[1]?.result}`);
    return { checks, details: { register, authorize } };
  } finally {
    await system.stop();
  }
}
