/**
 * Row "registration burst": 200 dynamic client registrations at once, each followed at once by the
 * browser's GET /authorize, with the Worker's KV behaving like 3 locations 30 s apart (requests spread
 * round-robin over them, misses cached). Without the consistency layer the /authorize that lands at
 * another location than its registration answers "Invalid client"; the control run shows that:
 * flows one after the other, so that each /authorize lands at the location after its registration's.
 */
import { discover, type Discovery } from '../cli/lib/oauth-client.ts';
import { authorizeShowsConsent, errorText, register } from './client.ts';
import { elapsedSince, log, mapLimit, percentile, startProject } from './harness.ts';
import type { Check } from './report.ts';

export const BURST = 200;
/**
 * The control run with the layer off: flows one at a time, each /authorize landing at the next
 * location after its registration's. (Concurrent flows would not do: with requests spread
 * round-robin, a batch of 3n registrations and then 3n /authorize in the same order lands every
 * /authorize at its registration's own location.)
 */
export const CONTROL_FLOWS = 10;
const SIMULATION = { SIMULATE_KV_LOCATIONS: '3', SIMULATE_KV_DELAY_MS: '30000', RATE_LIMITS: 'off' };

export interface BurstOutcome {
  registrations: number;
  registered: number;
  consentPages: number;
  invalidClient: number;
  otherFailures: number;
  failureSamples: string[];
  seconds: number;
  /** Registration, then /authorize, per flow. */
  p50Ms: number;
  p99Ms: number;
}

async function burst(discovery: Discovery, count: number, label: string, concurrency = count): Promise<BurstOutcome> {
  const began = performance.now();
  const durations: number[] = [];
  const outcomes = await mapLimit(
    Array.from({ length: count }, (_, index) => index),
    concurrency,
    async (index) => {
      const flowStart = performance.now();
      let clientId: string;
      try {
        clientId = (await register(discovery, `${label} ${index}`)).client.client_id;
      } catch (error) {
        return { kind: 'register failed' as const, detail: errorText(error) };
      }
      try {
        const authorize = await authorizeShowsConsent(discovery.server.authorization_endpoint as string, clientId);
        durations.push(performance.now() - flowStart);
        if (authorize.ok) return { kind: 'consent' as const, detail: '' };
        if (/invalid client/i.test(authorize.text) || /error=invalid_client/.test(authorize.text)) return { kind: 'invalid_client' as const, detail: `HTTP ${authorize.status}` };
        return { kind: 'other' as const, detail: `HTTP ${authorize.status} ${authorize.text.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(0, 120)}` };
      } catch (error) {
        return { kind: 'other' as const, detail: errorText(error) };
      }
    },
  );
  const failures = outcomes.filter((outcome) => outcome.kind !== 'consent');
  return {
    registrations: count,
    registered: outcomes.filter((outcome) => outcome.kind !== 'register failed').length,
    consentPages: outcomes.filter((outcome) => outcome.kind === 'consent').length,
    invalidClient: outcomes.filter((outcome) => outcome.kind === 'invalid_client').length,
    otherFailures: outcomes.filter((outcome) => outcome.kind === 'other' || outcome.kind === 'register failed').length,
    failureSamples: failures.slice(0, 10).map((outcome) => `${outcome.kind}: ${outcome.detail}`),
    seconds: elapsedSince(began),
    p50Ms: percentile(durations, 0.5),
    p99Ms: percentile(durations, 0.99),
  };
}

export async function burstRow(): Promise<{ checks: Check[]; details: { withLayer: BurstOutcome; control: BurstOutcome } }> {
  log('registration burst: starting the system with KV simulated across 3 locations, and a control without the consistency layer…');
  const [system, control] = await Promise.all([
    startProject('burst system', { vars: SIMULATION }),
    startProject('burst control system', { vars: { ...SIMULATION, CONSISTENCY_LAYER: 'off' } }),
  ]);
  try {
    log(`registration burst: ${BURST} registrations at once, each followed by /authorize…`);
    const withLayer = await burst(await discover(system.mcpUrl), BURST, 'Burst');
    log(`registration burst: ${withLayer.consentPages} consent pages, ${withLayer.invalidClient} invalid_client, ${withLayer.otherFailures} other failures in ${withLayer.seconds.toFixed(1)} s`);
    await system.stop();
    log(`registration burst, control (CONSISTENCY_LAYER=off): ${CONTROL_FLOWS} flows one at a time…`);
    const controlOutcome = await burst(await discover(control.mcpUrl), CONTROL_FLOWS, 'Control', 1);
    log(`registration burst, control: ${controlOutcome.invalidClient} invalid_client of ${CONTROL_FLOWS}`);
    const checks: Check[] = [
      {
        row: 'registration burst',
        name: `${BURST} DCR registrations at once, each followed at once by /authorize; KV across 3 simulated locations`,
        summary: `${withLayer.consentPages}/${BURST} consent pages, ${withLayer.invalidClient} invalid_client${withLayer.otherFailures ? `, ${withLayer.otherFailures} other failures` : ''}`,
        result: `${withLayer.registered} registered, ${withLayer.consentPages} consent pages, ${withLayer.invalidClient} invalid_client, ${withLayer.otherFailures} other failures; ${withLayer.seconds.toFixed(1)} s (p50 ${withLayer.p50Ms.toFixed(0)} ms, p99 ${withLayer.p99Ms.toFixed(0)} ms per flow)`,
        rule: `${BURST} registered, ${BURST} consent pages, 0 invalid_client`,
        pass: withLayer.registered === BURST && withLayer.consentPages === BURST && withLayer.invalidClient === 0 && withLayer.otherFailures === 0,
      },
      {
        row: 'registration burst',
        name: `control: ${CONTROL_FLOWS} such flows one at a time, CONSISTENCY_LAYER=off`,
        summary: `${controlOutcome.invalidClient}/${CONTROL_FLOWS} invalid_client`,
        result: `${controlOutcome.invalidClient} invalid_client of ${CONTROL_FLOWS} (${controlOutcome.consentPages} consent pages)`,
        rule: 'some invalid_client: the simulation does reproduce the failure the layer prevents',
        pass: controlOutcome.invalidClient > 0,
      },
    ];
    return { checks, details: { withLayer, control: controlOutcome } };
  } finally {
    await Promise.all([system.stop(), control.stop()]);
  }
}
