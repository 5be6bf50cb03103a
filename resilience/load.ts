/**
 * Row "load": 64 sessions at once, each with its own client (DCR) and token (its own sign-in), each
 * making 20 tool calls in turn: notes_add, then notes_list, ten times. notes_list answers a page of
 * at most 100 notes at a time, so a session's reads walk the user's notes page by page (one page per
 * call, following nextCursor): a walk that reaches the last page must have shown every note the
 * session had written when the walk began, and no note twice. At the end every acknowledged write
 * must be in the user's notes, read back whole.
 */
import { cpus } from 'node:os';
import { discover } from '../cli/lib/oauth-client.ts';
import type { McpWire, ProtocolRevision } from '../test/support/mcp-wire.ts';
import { cpuOfGroup, machineBusyMs, type CpuSample } from '../bench/cpu.ts';
import { callTool, errorText, mcpClient, readNotes, register, signIn, USERS, type User } from './client.ts';
import { elapsedSince, log, percentile, startProject } from './harness.ts';
import type { Check } from './report.ts';

export const LOAD_SESSIONS = 64;
export const CALLS_PER_SESSION = 20;

/** Sessions alternate between the two users and, in pairs, between the two protocol eras. */
function sessionPlan(index: number): { user: User; protocol: ProtocolRevision } {
  return { user: USERS[index % 2] as User, protocol: Math.floor(index / 2) % 2 === 0 ? '2025-11-25' : '2026-07-28' };
}

interface Session {
  index: number;
  user: User;
  protocol: ProtocolRevision;
  wire: McpWire;
}

export interface LoadDetails {
  sessions: number;
  callsPerSession: number;
  connect: { seconds: number; failures: string[]; p50Ms: number; p99Ms: number };
  calls: { total: number; ok: number; errors: number; errorSamples: string[]; p50Ms: number; p99Ms: number; maxMs: number; byTool: Record<string, { calls: number; p50Ms: number; p99Ms: number }>; seconds: number; otherLoadShare: number | undefined };
  writes: { acknowledged: number; readBack: number; lost: number; lostSamples: string[] };
  reads: { pages: number; completeWalks: number; walksMissingOwnWrites: number; notesListedTwice: number };
}

export async function loadRow(runId: string): Promise<{ checks: Check[]; details: LoadDetails }> {
  log('load: starting the system (RATE_LIMITS=off)…');
  const system = await startProject('load system', { vars: { RATE_LIMITS: 'off' } });
  try {
    const discovery = await discover(system.mcpUrl);

    log(`load: ${LOAD_SESSIONS} clients register and sign in at once…`);
    const connectStart = performance.now();
    const connectMs: number[] = [];
    const connectFailures: string[] = [];
    const connected = await Promise.all(
      Array.from({ length: LOAD_SESSIONS }, async (_, index): Promise<Session | undefined> => {
        const { user, protocol } = sessionPlan(index);
        const began = performance.now();
        try {
          const registered = await register(discovery, `Load ${index}`);
          const tokens = await signIn(discovery, registered, user);
          const wire = await mcpClient(system.mcpUrl, tokens.access_token, protocol);
          connectMs.push(performance.now() - began);
          return { index, user, protocol, wire };
        } catch (error) {
          connectFailures.push(`session ${index}: ${errorText(error)}`);
          return undefined;
        }
      }),
    );
    const connectSeconds = elapsedSince(connectStart);
    const sessions = connected.filter((session): session is Session => session !== undefined);
    log(`load: ${sessions.length} sessions ready in ${connectSeconds.toFixed(1)} s; ${sessions.length * CALLS_PER_SESSION} tool calls…`);

    const callStart = performance.now();
    const cpuBefore = cpuNow(system.worker.processGroup);
    const latencies: { tool: string; ms: number }[] = [];
    const errors: string[] = [];
    const acknowledged = new Map<string, { id: string; text: string; user: string }>();
    /** Complete walks through a user's notes, walks that missed a note of their session, notes listed twice in a walk, pages read. */
    let walks = 0;
    let staleReads = 0;
    let duplicates = 0;
    let pages = 0;
    await Promise.all(
      sessions.map(async (session) => {
        const mine = new Map<string, string>();
        let cursor: string | undefined;
        let walk: { expected: string[]; seen: Set<string> } | undefined;
        for (let call = 0; call < CALLS_PER_SESSION; call++) {
          if (call % 2 === 0) {
            const text = `load ${runId} session ${session.index} note ${call / 2}`;
            const outcome = await callTool(session.wire, 'notes_add', { text });
            latencies.push({ tool: 'notes_add', ms: outcome.ms });
            const id = outcome.structured?.id;
            if (!outcome.ok || typeof id !== 'string') {
              errors.push(`session ${session.index} notes_add: ${outcome.problem ?? 'no id'}`);
              continue;
            }
            mine.set(id, text);
            acknowledged.set(id, { id, text, user: session.user.login });
          } else {
            // Reads walk the user's notes page by page, one page per call, carrying on from the
            // previous read's nextCursor; a walk that reaches the last page must have shown every
            // note this session had written when the walk began, and none twice.
            if (walk === undefined) walk = { expected: [...mine.keys()], seen: new Set() };
            const outcome = await callTool(session.wire, 'notes_list', cursor === undefined ? {} : { cursor });
            latencies.push({ tool: 'notes_list', ms: outcome.ms });
            if (!outcome.ok) {
              errors.push(`session ${session.index} notes_list: ${outcome.problem}`);
              continue;
            }
            for (const note of (outcome.structured?.notes ?? []) as { id: string }[]) {
              if (walk.seen.has(note.id)) duplicates++;
              walk.seen.add(note.id);
            }
            const next = outcome.structured?.nextCursor;
            pages++;
            if (typeof next === 'string') {
              cursor = next;
              continue;
            }
            walks++;
            const seen = walk.seen;
            if (walk.expected.some((id) => !seen.has(id))) staleReads++;
            walk = undefined;
            cursor = undefined;
          }
        }
      }),
    );
    const callSeconds = elapsedSince(callStart);
    const otherLoad = otherLoadShare(cpuBefore, cpuNow(system.worker.processGroup), callSeconds);

    // Every acknowledged write, read back per user through one of that user's sessions.
    const lost: string[] = [];
    let readBack = 0;
    for (const user of USERS) {
      const reader = sessions.find((session) => session.user.login === user.login);
      if (!reader) continue;
      const notes = await readNotes(reader.wire);
      for (const note of acknowledged.values()) {
        if (note.user !== user.login) continue;
        if (notes.get(note.id) === note.text) readBack++;
        else lost.push(`${note.user} ${note.id} "${note.text}"`);
      }
    }

    const all = latencies.map((entry) => entry.ms);
    const byTool: LoadDetails['calls']['byTool'] = {};
    for (const tool of ['notes_add', 'notes_list']) {
      const ms = latencies.filter((entry) => entry.tool === tool).map((entry) => entry.ms);
      byTool[tool] = { calls: ms.length, p50Ms: percentile(ms, 0.5), p99Ms: percentile(ms, 0.99) };
    }
    const expectedCalls = LOAD_SESSIONS * CALLS_PER_SESSION;
    const details: LoadDetails = {
      sessions: LOAD_SESSIONS,
      callsPerSession: CALLS_PER_SESSION,
      connect: { seconds: connectSeconds, failures: connectFailures, p50Ms: percentile(connectMs, 0.5), p99Ms: percentile(connectMs, 0.99) },
      calls: {
        total: latencies.length,
        ok: latencies.length - errors.length,
        errors: errors.length,
        errorSamples: errors.slice(0, 10),
        p50Ms: percentile(all, 0.5),
        p99Ms: percentile(all, 0.99),
        maxMs: Math.max(...all),
        byTool,
        seconds: callSeconds,
        otherLoadShare: otherLoad,
      },
      writes: { acknowledged: acknowledged.size, readBack, lost: lost.length, lostSamples: lost.slice(0, 10) },
      reads: { pages, completeWalks: walks, walksMissingOwnWrites: staleReads, notesListedTwice: duplicates },
    };
    const callErrors = errors.length + (expectedCalls - latencies.length);
    const checks: Check[] = [
      {
        row: 'load',
        name: `${LOAD_SESSIONS} sessions at once, each its own client and token, ${CALLS_PER_SESSION} tool calls each (notes_add, notes_list)`,
        summary: `${callErrors + connectFailures.length} errors, ${lost.length} of ${acknowledged.size} writes lost, ${staleReads + duplicates} bad reads; p50 ${details.calls.p50Ms.toFixed(0)} ms, p99 ${details.calls.p99Ms.toFixed(0)} ms`,
        result: `${LOAD_SESSIONS - connectFailures.length}/${LOAD_SESSIONS} signed in (${connectSeconds.toFixed(1)} s); ${latencies.length} calls, ${callErrors} errors; ${acknowledged.size} writes acknowledged, ${readBack} read back, ${lost.length} lost; ${walks} complete walks through the notes pages, ${staleReads} missing a write, ${duplicates} notes listed twice; p50 ${details.calls.p50Ms.toFixed(0)} ms, p99 ${details.calls.p99Ms.toFixed(0)} ms${otherLoad === undefined ? '' : ` (other load on the machine ${(otherLoad * 100).toFixed(0)} %)`}`,
        rule: `every session signs in; ${expectedCalls} calls, 0 errors; 0 lost writes; a walk through the pages shows every earlier write of its session, once`,
        pass: connectFailures.length === 0 && callErrors === 0 && latencies.length === expectedCalls && lost.length === 0 && readBack === acknowledged.size && staleReads === 0 && duplicates === 0 && walks > 0,
      },
    ];
    log(`load: ${checks[0]?.result}`);
    return { checks, details };
  } finally {
    await system.stop();
  }
}

interface CpuNow {
  machineMs: number | undefined;
  ownMs: number;
  group: CpuSample | undefined;
}

function cpuNow(processGroup: number): CpuNow {
  const own = process.cpuUsage();
  return { machineMs: machineBusyMs(), ownMs: (own.user + own.system) / 1000, group: cpuOfGroup(processGroup) };
}

/**
 * The share of the machine's CPU (all cores) used during the calls by processes other than this one
 * (the load, the dev IdP) and the system's wrangler group: other work on the machine, which slows
 * the calls down. Undefined where /proc cannot be read.
 */
function otherLoadShare(before: CpuNow, after: CpuNow, seconds: number): number | undefined {
  if (before.machineMs === undefined || after.machineMs === undefined || !before.group || !after.group) return undefined;
  let groupMs = 0;
  for (const [pid, { ms }] of after.group) groupMs += Math.max(0, ms - (before.group.get(pid)?.ms ?? 0));
  const other = after.machineMs - before.machineMs - (after.ownMs - before.ownMs) - groupMs;
  return Math.max(0, other) / (seconds * 1000 * cpus().length);
}
