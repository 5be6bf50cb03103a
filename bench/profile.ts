/**
 * Where a Worker's CPU time goes under load: a V8 CPU profile of the worker's isolate (its Durable
 * Objects run in the same isolate under wrangler dev), taken through wrangler's inspector proxy
 * while the load generator runs, mapped back to sources through the bundle's source map and summed
 * by package and by function. The raw profile is saved as a .cpuprofile (Chrome DevTools opens it).
 * Then, in a second load window of the same length (so neither profiler's overhead lands in the
 * other's figures), the whole-process profile of ./native-profile.ts, when perf is available: the
 * CPU the V8 profile cannot see (workerd's C++, wrangler's local KV and Durable Object services,
 * the dev proxy, the kernel).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { SourceMap, type SourceMapPayload } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT } from '../scripts/system.ts';
import { measureInterleaved, median, type CpuProbe, type LoadRequest } from './load.ts';
import { perfAvailable, startNativeProfile } from './native-profile.ts';

/** Sampling interval: fine enough for calls that take well under a millisecond. */
const SAMPLING_INTERVAL_US = 100;
/** How long to collect the scriptParsed events the Debugger replays when enabled. */
const SCRIPT_EVENTS_GRACE_MS = 500;

interface CallFrame {
  functionName: string;
  scriptId: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

interface CdpMessage {
  id?: number;
  method?: string;
  result?: unknown;
  error?: { message: string };
  params?: unknown;
}

/** A Chrome DevTools Protocol session over wrangler's inspector proxy. */
class Inspector {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (result: unknown) => void; reject: (error: Error) => void }>();

  private constructor(private readonly socket: WebSocket) {
    socket.addEventListener('message', (event) => {
      const message = JSON.parse(String(event.data)) as CdpMessage;
      // workerd answers the Profiler commands it implements itself by echoing the command, with
      // `result` filled in where there is one (Profiler.stop); V8 answers the rest with `result`.
      if (message.id === undefined) return;
      const waiter = this.pending.get(message.id);
      if (!waiter) return;
      this.pending.delete(message.id);
      if (message.error) waiter.reject(new Error(message.error.message));
      else waiter.resolve(message.result);
    });
  }

  static async connect(port: number): Promise<Inspector> {
    const targets = (await (await fetch(`http://127.0.0.1:${port}/json`)).json()) as { webSocketDebuggerUrl: string }[];
    const url = targets[0]?.webSocketDebuggerUrl;
    if (!url) throw new Error(`no inspector target on port ${port}`);
    // The proxy accepts only local origins (miniflare's DevTools upgrade check); Node's WebSocket
    // (undici) takes extra handshake headers in its init object, which the DOM typing does not declare.
    const init = { headers: { Origin: 'http://localhost' } } as unknown as string[];
    const socket = new WebSocket(url, init);
    await new Promise<void>((resolve, reject) => {
      socket.addEventListener('open', () => resolve(), { once: true });
      socket.addEventListener('error', () => reject(new Error(`cannot connect to the inspector at ${url}`)), { once: true });
    });
    return new Inspector(socket);
  }

  send<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = ++this.nextId;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: (result) => resolve(result as T), reject });
      this.socket.send(JSON.stringify({ id, method, params }));
    });
  }

  /** scriptId → file URL of every script the isolate has loaded. */
  async scriptUrls(): Promise<Map<string, string>> {
    const urls = new Map<string, string>();
    const collect = (event: MessageEvent) => {
      const message = JSON.parse(String(event.data)) as CdpMessage;
      if (message.method !== 'Debugger.scriptParsed') return;
      const { scriptId, url } = message.params as { scriptId: string; url: string };
      if (url.startsWith('file://')) urls.set(scriptId, url);
    };
    this.socket.addEventListener('message', collect);
    await this.send('Debugger.enable');
    // The replayed events arrive right after the answer; give them a moment.
    await new Promise((resolve) => setTimeout(resolve, SCRIPT_EVENTS_GRACE_MS));
    await this.send('Debugger.disable');
    this.socket.removeEventListener('message', collect);
    return urls;
  }

  close(): void {
    this.socket.close();
  }
}

export interface ProfileOptions {
  inspectorPort: number;
  request: LoadRequest;
  connections: number;
  seconds: number;
  saveTo: string;
  /** The variant's processes: for the /proc cross-check and the whole-process profile. */
  cpu: CpuProbe;
  /** Where perf may write its data for the whole-process profile. */
  perfDataFile: string;
}

/** Profiles the worker while `request` runs at `connections`; returns a readable summary. */
export async function profileUnderLoad(options: ProfileOptions): Promise<string> {
  const inspector = await Inspector.connect(options.inspectorPort);
  const settings = { connections: options.connections, warmupSeconds: 0, rounds: 1, roundSeconds: options.seconds };
  const sections: string[] = [];
  try {
    const noCpu = () => undefined;
    // Warm up first, so the profile shows the steady state rather than compilation.
    await measureInterleaved([{ key: 'warm-up', request: options.request, cpu: noCpu }], { ...settings, roundSeconds: 2 });
    // The profile names bundle frames by module name only; scriptParsed (replayed for every loaded
    // script when the Debugger is enabled) gives each script's file URL, to find its source map.
    const scripts = await inspector.scriptUrls();
    await inspector.send('Profiler.enable');
    await inspector.send('Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US });
    await inspector.send('Profiler.start');
    const load = await measureInterleaved([{ key: 'profiled', request: options.request, cpu: options.cpu }], settings);
    const { profile } = await inspector.send<{ profile: CpuProfile }>('Profiler.stop');
    await inspector.send('Profiler.disable');
    writeFileSync(options.saveTo, JSON.stringify(profile));
    const result = load.get('profiled');
    const calls = result ? result.rounds.reduce((sum, round) => sum + round.ok, 0) : 0;
    sections.push(summarize(profile, scripts, calls, options.saveTo, result ? `${result.rps.toFixed(0)} req/s at c=${options.connections} while profiling${procCpu(result.serverCpuMsPerCall)}` : ''));
  } finally {
    inspector.close();
  }
  sections.push('', '='.repeat(100), '');
  if (!perfAvailable()) {
    sections.push('whole-process profile skipped: `perf` is not on PATH (Debian: apt-get install linux-perf)');
    return sections.join('\n');
  }
  const processes = new Map([...(options.cpu() ?? new Map<number, { role: string }>())].map(([pid, { role }]) => [pid, role] as const));
  // The bench's own process drives the load: record it too, as the generator.
  processes.set(process.pid, 'generator (bench process)');
  try {
    const recording = await startNativeProfile({ processes, dataFile: options.perfDataFile });
    const load = await measureInterleaved([{ key: 'perf', request: options.request, cpu: options.cpu }], settings);
    const result = load.get('perf');
    const calls = result ? result.rounds.reduce((sum, round) => sum + round.ok, 0) : 0;
    sections.push(result ? `second load window for perf: ${result.rps.toFixed(0)} req/s at c=${options.connections}${procCpu(result.serverCpuMsPerCall)}, generator ${result.generatorCpuMsPerCall.toFixed(2)} ms/call` : '');
    sections.push(await recording.stop(calls));
  } catch (error) {
    sections.push(`whole-process profile failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  return sections.join('\n');
}

/** The /proc figures of the same window, to cross-check the profiles' totals. */
function procCpu(perCall: Record<string, number> | undefined): string {
  if (!perCall) return '';
  return `; /proc CPU ms/call: ${Object.entries(perCall).map(([role, ms]) => `${role} ${ms.toFixed(2)}`).join(', ')}`;
}

interface Located {
  pkg: string;
  where: string;
}

/** Maps bundle positions to original sources, one source map per bundle file. */
class Sources {
  private readonly maps = new Map<string, SourceMap | null>();

  constructor(private readonly scripts: Map<string, string>) {}

  locate(frame: CallFrame): Located {
    if (!frame.url) return { pkg: frame.functionName.startsWith('(') ? frame.functionName : '(native)', where: '' };
    const url = this.scripts.get(frame.scriptId);
    if (!url) return { pkg: `(runtime) ${frame.url.split(/[:/]/)[0] ?? frame.url}`, where: frame.url };
    const map = this.mapFor(url);
    const entry = map?.findEntry(frame.lineNumber, frame.columnNumber);
    const source = entry && 'originalSource' in entry ? entry.originalSource : undefined;
    if (!source || !entry || !('originalLine' in entry)) return { pkg: '(bundle, unmapped)', where: `${frame.url}:${frame.lineNumber + 1}` };
    const path = source.startsWith('file://') ? fileURLToPath(source) : source;
    const shown = relative(ROOT, path.startsWith('/') ? path : join(dirname(fileURLToPath(url)), path));
    return { pkg: packageOf(shown), where: `${shown}:${entry.originalLine + 1}` };
  }

  private mapFor(url: string): SourceMap | undefined {
    if (!this.maps.has(url)) {
      try {
        const payload = JSON.parse(readFileSync(`${fileURLToPath(url)}.map`, 'utf8')) as SourceMapPayload;
        this.maps.set(url, new SourceMap(payload));
      } catch {
        this.maps.set(url, null);
      }
    }
    return this.maps.get(url) ?? undefined;
  }
}

function sumOf(map: Map<string, number>): number {
  return [...map.values()].reduce((total, value) => total + value, 0);
}

function packageOf(path: string): string {
  const match = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (match?.[1]) return match[1];
  const [top = path] = path.split('/');
  return `${top}/ (own code)`;
}

/** Self time by package and by function, and inclusive time of the project's own functions. */
function summarize(profile: CpuProfile, scripts: Map<string, string>, calls: number, savedTo: string, headline: string): string {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  // Each sample counts as one typical sampling interval (the median gap between samples), not as
  // its own gap: on a busy machine a descheduled isolate shows up as a few samples with huge gaps,
  // which would charge the wait to whatever frame happened to be on top.
  const typicalUs = median(profile.timeDeltas.filter((delta) => delta > 0));
  const selfUs = new Map<number, number>();
  for (const id of profile.samples) selfUs.set(id, (selfUs.get(id) ?? 0) + typicalUs);

  const sources = new Sources(scripts);
  const located = new Map<number, Located>();
  const locate = (id: number): Located => {
    let place = located.get(id);
    if (!place) {
      place = sources.locate((byId.get(id) as ProfileNode).callFrame);
      located.set(id, place);
    }
    return place;
  };

  const totalUs = [...selfUs.values()].reduce((sum, us) => sum + us, 0);
  const idleUs = [...selfUs].filter(([id]) => byId.get(id)?.callFrame.functionName === '(idle)').reduce((sum, [, us]) => sum + us, 0);
  const busyUs = totalUs - idleUs;
  const byPackage = new Map<string, number>();
  const byFunction = new Map<string, number>();
  const selfOwn = new Map<string, number>();
  const inclusiveOwn = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id) as ProfileNode;
    if (node.callFrame.functionName === '(idle)') continue;
    const place = locate(id);
    byPackage.set(place.pkg, (byPackage.get(place.pkg) ?? 0) + us);
    const name = `${node.callFrame.functionName || '(anonymous)'}  ${place.where}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
    if (place.pkg.startsWith('src/')) selfOwn.set(name, (selfOwn.get(name) ?? 0) + us);
    // Inclusive time of own-code frames: charge every distinct own frame on the stack once.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = locate(at);
      if (!frame.pkg.endsWith('(own code)')) continue;
      const key = `${(byId.get(at) as ProfileNode).callFrame.functionName || '(anonymous)'}  ${frame.where}`;
      if (seen.has(key)) continue;
      seen.add(key);
      inclusiveOwn.set(key, (inclusiveOwn.get(key) ?? 0) + us);
    }
  }

  const perCall = (us: number) => (calls > 0 ? `${(us / calls / 1000).toFixed(3)} ms/call` : '');
  const pct = (us: number) => `${((us / busyUs) * 100).toFixed(1).padStart(5)}%`;
  const top = (map: Map<string, number>, count: number) =>
    [...map].sort((a, b) => b[1] - a[1]).slice(0, count).map(([name, us]) => `  ${pct(us)}  ${perCall(us).padStart(16)}  ${name}`);
  return [
    `CPU profile of the worker isolate: ${headline}; ${calls} requests profiled`,
    `${profile.samples.length} samples, one every ${typicalUs.toFixed(0)} µs (median), each counted as that long; busy ${(busyUs / 1000).toFixed(0)} ms of ${(totalUs / 1000).toFixed(0)} ms (${perCall(busyUs)})`,
    `saved to ${relative(ROOT, savedTo)}`,
    '',
    'self time by package',
    ...top(byPackage, 15),
    '',
    'self time by function',
    ...top(byFunction, 25),
    '',
    `self time of the Worker's own functions (src/): ${perCall(sumOf(selfOwn))} in all`,
    ...top(selfOwn, 15),
    '',
    "inclusive time of own-code functions (synchronous stacks only: an async function's awaited work counts where it resumes)",
    ...top(inclusiveOwn, 20),
  ].join('\n');
}
