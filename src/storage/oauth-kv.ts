/**
 * The OAUTH_KV the OAuth provider sees: the real binding, wrapped by the consistency layer, and
 * (for demonstrations and tests only, on a loopback origin) behind a simulation of KV's behaviour
 * across locations.
 */
import { isLoopbackHost, type Config } from '../config';
import { ConsistentKv } from './consistent-kv';
import { SimulatedKvLocations } from './simulated-kv';

const stableEnvs = new WeakMap<object, Env>();
let simulation: SimulatedKvLocations | undefined;

/**
 * `env` with OAUTH_KV replaced; the same object for every request unless KV is simulated.
 * `origin` is where the request arrived; the simulation is refused (an exception) for any origin,
 * or PUBLIC_URL, that is not loopback.
 */
export function providerEnv(env: Env, config: Config, origin?: string): Env {
  const { simulatedLocations, simulatedDelayMs, consistencyLayer } = config.kv;
  const options = { secret: config.sessionSecret };
  if (simulatedLocations === undefined) {
    if (!consistencyLayer) return env;
    let wrapped = stableEnvs.get(env);
    if (!wrapped) {
      wrapped = withKv(env, new ConsistentKv(env.OAUTH_KV, env.KV_JOURNAL, Date.now, options).asBinding());
      stableEnvs.set(env, wrapped);
    }
    return wrapped;
  }
  // A test double: only where the server answers on loopback. PUBLIC_URL names where it is served;
  // without either (a caller that does not pass the origin), src/setup.ts has refused a deployed
  // origin before this point.
  if (config.publicUrl !== undefined && !isLoopbackHost(new URL(config.publicUrl).hostname)) {
    throw new Error(`The KV simulation (SIMULATE_KV_LOCATIONS) is a test double and runs only on a loopback origin, not on ${config.publicUrl}.`);
  }
  const servedAt = origin ?? config.publicUrl ?? 'http://localhost';
  if (simulation?.count !== simulatedLocations || simulation.delayMs !== simulatedDelayMs || !isLoopbackHost(new URL(servedAt).hostname)) {
    simulation = SimulatedKvLocations.forLoopback(servedAt, simulatedLocations, simulatedDelayMs);
  }
  // Each request lands at the next simulated location, as requests from different places would.
  const located = simulation.at(simulation.next(), env.OAUTH_KV);
  return withKv(env, consistencyLayer ? new ConsistentKv(located, env.KV_JOURNAL, Date.now, options).asBinding() : located);
}

function withKv(env: Env, kv: KVNamespace): Env {
  // Everything else is inherited from the real env, unchanged.
  return Object.create(env, { OAUTH_KV: { value: kv, enumerable: true } }) as Env;
}
