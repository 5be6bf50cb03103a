/**
 * What every row of the resilience suite shares: progress on stderr, a registry of everything
 * started (stopped in `finally`, and on Ctrl-C), the project's system under `wrangler dev` with
 * fresh or persisted state, and the processes of a `wrangler dev` process group read from /proc.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSystem, type RunningSystem, type SystemOptions } from '../scripts/system.ts';
import { ROOT, startWranglerDev, type DevWorker } from '../scripts/wrangler-dev.ts';

export { freePort, ROOT } from '../scripts/wrangler-dev.ts';

const T0 = performance.now();

/** Progress goes to stderr, so stdout carries only the report. */
export function log(message: string): void {
  process.stderr.write(`[resilience ${((performance.now() - T0) / 1000).toFixed(0).padStart(3)} s] ${message}\n`);
}

export function elapsedSince(start: number): number {
  return (performance.now() - start) / 1000;
}

// ---------------------------------------------------------------------------------------------
// Everything started is registered here until it is stopped, so Ctrl-C or a crash stops it too.

const running = new Map<number, { name: string; stop: () => Promise<void> }>();
let nextHandle = 0;
/** Every `wrangler dev` process group started, to check at the end that none is left. */
const processGroups = new Set<number>();

/** Registers `stop`; returns a function that runs it once and unregisters it. */
export function track(name: string, stop: () => Promise<void>): () => Promise<void> {
  const handle = nextHandle++;
  let stopping: Promise<void> | undefined;
  const once = () => {
    stopping ??= stop().finally(() => running.delete(handle));
    return stopping;
  };
  running.set(handle, { name, stop: once });
  return once;
}

/** Stops everything still registered (the newest first), including what registers meanwhile. */
export async function stopEverything(): Promise<void> {
  for (let round = 0; running.size > 0 && round < 5; round++) {
    for (const entry of [...running.values()].reverse()) {
      try {
        await entry.stop();
      } catch (error) {
        log(`stopping ${entry.name} failed: ${(error as Error).message}`);
      }
    }
  }
}

let interrupted = false;

/** After Ctrl-C nothing new is started. */
function refuseIfInterrupted(name: string): void {
  if (interrupted) throw new Error(`interrupted: ${name} not started`);
}

/** Ctrl-C (or SIGTERM): stop what was started, then exit 130. A second Ctrl-C exits at once. */
export function installInterruptHandler(): void {
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(130);
    interrupted = true;
    log(`${signal}: stopping everything that was started…`);
    stopEverything()
      .then(() => killLeftovers())
      .finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

// ---------------------------------------------------------------------------------------------
// The project's system

/**
 * The project under wrangler dev plus the dev IdP, fresh state, output buffered. Registered from the
 * moment it starts, so a Ctrl-C during start-up stops it too.
 */
export async function startProject(name: string, options: SystemOptions): Promise<RunningSystem> {
  refuseIfInterrupted(name);
  const starting = startSystem({ ephemeralState: true, output: 'buffer', ...options });
  const stop = track(name, async () => {
    const system = await starting.catch(() => undefined);
    if (!system) return;
    await system.stop();
    await reapGroup(system.worker.processGroup);
  });
  try {
    const system = await starting;
    processGroups.add(system.worker.processGroup);
    log(`${name}: ${system.origin} (wrangler process group ${system.worker.processGroup})`);
    return { ...system, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

export interface PersistentWorker {
  worker: DevWorker;
  origin: string;
  mcpUrl: string;
  stop(): Promise<void>;
}

/** A folder that keeps the Worker's KV and Durable Object state across `wrangler dev` runs, removed by `remove()`. */
export function persistentStateHome(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-resilience-state-'));
  const remove = track(`state folder ${dir}`, async () => rmSync(dir, { recursive: true, force: true }));
  return { dir, remove: () => void remove() };
}

/** The project's Worker alone (no IdP: `vars` name one), on `port`, with the state kept in `home`. */
export async function startPersistentWorker(name: string, home: { dir: string }, port: number, vars: Record<string, string>): Promise<PersistentWorker> {
  refuseIfInterrupted(name);
  const starting = startWranglerDev({ persistTo: home.dir, port, vars, envFile: join(ROOT, '.dev.vars.example'), output: 'buffer' });
  const stop = track(name, async () => {
    const worker = await starting.catch(() => undefined);
    if (!worker) return;
    await worker.stop();
    await reapGroup(worker.processGroup);
  });
  try {
    const worker = await starting;
    processGroups.add(worker.processGroup);
    log(`${name}: ${worker.origin} (wrangler process group ${worker.processGroup})`);
    return { worker, origin: worker.origin, mcpUrl: `${worker.origin}/mcp`, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Processes of a `wrangler dev` group (Linux: /proc), and small helpers the rows share.

interface GroupMember {
  pgid: number;
  pid: number;
  command: string;
}

/** The running members of process group `pgid`; exited ones not yet reaped (zombies) do not count. */
function groupMembers(pgid: number): GroupMember[] {
  const members: GroupMember[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // After the command name (which may hold spaces and parentheses): state, ppid, pgrp, …
      const fields = readFileSync(`/proc/${name}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
      if (Number(fields[2]) !== pgid || fields[0] === 'Z' || fields[0] === 'X') continue;
      members.push({ pgid, pid: Number(name), command: readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ').trim() });
    } catch {
      // gone meanwhile
    }
  }
  return members;
}

/**
 * The workerd that runs the Worker in a `wrangler dev` group (its Durable Objects and local KV live
 * there too): the one started with an inspector address. The group's other workerd is wrangler's dev
 * proxy on the public port, which wrangler does not bring back if it dies.
 */
export function workerdOfGroup(pgid: number): GroupMember | undefined {
  return groupMembers(pgid).find((member) => /(^|\/)workerd serve /.test(member.command) && member.command.includes(' --inspector-addr='));
}

/** After a stop: waits up to 5 s for the group to empty, then SIGKILLs whatever of it is left. */
async function reapGroup(pgid: number): Promise<void> {
  for (let waited = 0; waited < 5_000 && groupMembers(pgid).length > 0; waited += 100) await sleep(100);
  if (groupMembers(pgid).length === 0) return;
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // gone meanwhile
  }
}

/** Every process still running in a group this run started, SIGKILLed and returned (for the report). */
export function killLeftovers(): GroupMember[] {
  const left = [...processGroups].flatMap(groupMembers).map((member) => ({ ...member, command: member.command.slice(0, 200) }));
  for (const member of left) {
    try {
      process.kill(member.pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  return left;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `fn` over `items`, at most `limit` at a time, results in the items' order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** The nearest-rank percentile (`q` in 0..1) of `values`; NaN when there are none. */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}
