/**
 * The OAUTH_KV the OAuth provider sees: the real binding, wrapped by the consistency layer, and
 * (for demonstrations and tests only) behind a simulation of KV's behaviour across locations.
 */
import type { Config } from '../config';
import { ConsistentKv } from './consistent-kv';
import { SimulatedKvLocations } from './simulated-kv';

const stableEnvs = new WeakMap<object, Env>();
let simulation: SimulatedKvLocations | undefined;

/** `env` with OAUTH_KV replaced; the same object for every request unless KV is simulated. */
export function providerEnv(env: Env, config: Config): Env {
  const { simulatedLocations, simulatedDelayMs, consistencyLayer } = config.kv;
  if (simulatedLocations === undefined) {
    if (!consistencyLayer) return env;
    let wrapped = stableEnvs.get(env);
    if (!wrapped) {
      wrapped = withKv(env, new ConsistentKv(env.OAUTH_KV, env.KV_JOURNAL).asBinding());
      stableEnvs.set(env, wrapped);
    }
    return wrapped;
  }
  if (simulation?.count !== simulatedLocations || simulation.delayMs !== simulatedDelayMs) {
    simulation = new SimulatedKvLocations(simulatedLocations, simulatedDelayMs);
  }
  // Each request lands at the next simulated location, as requests from different places would.
  const located = simulation.at(simulation.next(), env.OAUTH_KV);
  return withKv(env, consistencyLayer ? new ConsistentKv(located, env.KV_JOURNAL).asBinding() : located);
}

function withKv(env: Env, kv: KVNamespace): Env {
  // Everything else is inherited from the real env, unchanged.
  return Object.create(env, { OAUTH_KV: { value: kv, enumerable: true } }) as Env;
}
