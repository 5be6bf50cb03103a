/**
 * CPU time of a `wrangler dev` process group, by role, read from /proc (Linux). Sampled around each
 * load round, it gives the server's CPU cost per call, which unlike requests/s does not depend on
 * how much of the 2 cores the load generator took.
 *
 * Roles: `worker` is the workerd that runs the Worker and its Durable Objects (the one with the
 * inspector); `proxy` is the workerd of wrangler's dev proxy in front of it; `wrangler` is Node.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** CPU used so far (user + system, ms) by each process of a group, with its role. */
export type CpuSample = Map<number, { role: string; ms: number }>;

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

interface ProcStat {
  pid: number;
  pgrp: number;
  cpuTicks: number;
}

function readStat(pid: number): ProcStat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may contain spaces: the fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { pid, pgrp: Number(fields[2]), cpuTicks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return undefined; // exited meanwhile
  }
}

function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

function pids(): number[] {
  try {
    return readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number);
  } catch {
    return []; // not Linux: no CPU figures
  }
}

function roleOf(args: readonly string[]): string {
  const program = args[0] ?? '';
  if (program.endsWith('/workerd')) return args.some((arg) => arg.startsWith('--inspector-addr')) ? 'worker' : 'proxy';
  return 'wrangler';
}

/** CPU used so far by every process of group `pgid`; undefined when /proc cannot be read. */
export function cpuOfGroup(pgid: number): CpuSample | undefined {
  const sample: CpuSample = new Map();
  for (const pid of pids()) {
    const stat = readStat(pid);
    if (stat?.pgrp === pgid) sample.set(pid, { role: roleOf(cmdline(pid)), ms: (stat.cpuTicks * 1000) / clockTicks() });
  }
  return sample.size > 0 ? sample : undefined;
}

/**
 * CPU used between two samples, by role (ms). Processes are matched by pid, so one that was
 * missing from a sample (it started, ended, or could not be read) does not skew the others.
 */
export function cpuBetween(before: CpuSample, after: CpuSample): Record<string, number> {
  const used: Record<string, number> = {};
  for (const [pid, { role, ms }] of after) {
    const earlier = before.get(pid)?.ms ?? 0;
    used[role] = (used[role] ?? 0) + Math.max(0, ms - earlier);
  }
  return used;
}

/** CPU time spent by the whole machine (all cores, all processes) so far, in ms; undefined off Linux. */
export function machineBusyMs(): number | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    const [, ...values] = line.trim().split(/\s+/);
    const ticks = values.map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already inside user).
    const busy = ticks.slice(0, 8).reduce((sum, value, index) => (index === 3 || index === 4 ? sum : sum + value), 0);
    return (busy * 1000) / clockTicks();
  } catch {
    return undefined;
  }
}
