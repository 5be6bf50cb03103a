/**
 * Where *all* of a variant's CPU goes under load, not only its JavaScript: a `perf record` (Linux
 * perf, software cpu-clock event, so it works in VMs without a PMU) of the variant's processes while
 * the load runs, each sample counted as 1/frequency of CPU time, summed by process role, thread and
 * kind of code (V8's JIT and builtins, V8's runtime and GC, workerd's glue and Web APIs, kj I/O,
 * the allocator, SQLite behind local KV and Durable Object storage, BoringSSL, the kernel).
 *
 * The V8 profile (./profile.ts) sees one isolate's JavaScript; this sees the rest: workerd's C++
 * around every request, the other isolates in the same workerd (wrangler's local KV and Durable
 * Object services), the dev proxy, wrangler itself, and the kernel's share of loopback networking.
 * It needs `perf` on PATH and the right to profile the processes (root, or perf_event_paranoid ≤ 1);
 * without them it says so and is skipped.
 */
import { execFileSync, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';

/** Samples per second per CPU; 1 kHz keeps perf's own cost small next to the load. */
const FREQUENCY_HZ = 1000;

export interface NativeProfileOptions {
  /** The processes to record, with their role (worker, proxy, wrangler, …). */
  processes: Map<number, string>;
  /** Where perf writes its data (removed afterwards). */
  dataFile: string;
}

export interface NativeRecording {
  /** Ends the recording and returns the summary; `calls` is how many requests ran meanwhile. */
  stop(calls: number): Promise<string>;
}

export function perfAvailable(): boolean {
  try {
    execFileSync('perf', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Starts `perf record` on the processes; resolves once perf is attached. */
export async function startNativeProfile(options: NativeProfileOptions): Promise<NativeRecording> {
  const pids = [...options.processes.keys()].join(',');
  const perf = spawn('perf', ['record', '-e', 'cpu-clock', '-F', String(FREQUENCY_HZ), '-g', '-o', options.dataFile, '-p', pids], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  perf.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => perf.once('exit', (code) => resolve(code)));
  // perf prints nothing when it attaches; give it a moment, and fail early if it could not.
  const early = await Promise.race([exited, new Promise<'running'>((resolve) => setTimeout(() => resolve('running'), 500))]);
  if (early !== 'running') throw new Error(`perf record failed (exit ${early}): ${stderr.trim()}`);
  return {
    async stop(calls: number) {
      perf.kill('SIGINT');
      await exited;
      try {
        const script = execFileSync('perf', ['script', '-i', options.dataFile, '-F', 'comm,pid,tid,ip,sym,dso'], { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024, stdio: ['ignore', 'pipe', 'ignore'] });
        return summarizePerfScript(script, options.processes, calls);
      } finally {
        rmSync(options.dataFile, { force: true });
      }
    },
  };
}

/** The kind of code a sample's symbol and binary belong to. */
export function categorize(sym: string, dso: string): string {
  if (dso.includes('kernel.kallsyms') || dso.startsWith('[kernel')) return 'kernel (syscalls, loopback TCP, scheduling, page faults)';
  if (dso.startsWith('[JIT]') || /\/perf-\d+\.map$/.test(dso)) return 'V8 JIT-compiled JavaScript';
  if (sym.startsWith('Builtins_')) return 'V8 builtins and interpreter (JavaScript)';
  if (/^(v8::internal::(Scavenger|Heap|MarkCompact|Sweeper|MinorMark|ConcurrentMarking|IncrementalMarking|MemoryAllocator|PagedSpace|NewSpace|SemiSpace|GlobalHandles|MemoryChunk|MutablePageMetadata|PageMetadata|LocalHeap|MarkingVisitor|MainMarkingVisitor|ConcurrentMarkingVisitor|YoungGeneration|RememberedSet|SlotSet|TypedSlot|EvacuateVisitor|Evacuator|FullEvacuator|ArrayBufferSweeper|StringForwardingTable|ExternalEntityTable)|cppgc::|v8::internal::.*(Scavenge|Marking|Evacuat|Sweep))/.test(sym)) return 'V8 garbage collection and handles';
  if (/^(v8::|v8_|unibrow::|icu_)/.test(sym) || dso.includes('libv8')) return 'V8 runtime (C++: JSON, strings, objects, compiler)';
  if (sym.startsWith('workerd::jsg::')) return 'workerd jsg (JS <-> C++ bindings)';
  if (sym.startsWith('workerd::api::')) return 'workerd Web APIs (Request, Response, Headers, streams, crypto, KV)';
  if (sym.startsWith('workerd::') || sym.startsWith('edgeworker::')) return 'workerd runtime (IoContext, services, actors)';
  if (/^(kj::|capnp::)/.test(sym)) return 'kj / Cap\'n Proto (event loop, HTTP, RPC)';
  if (/tcmalloc|TCMalloc|^operator (new|delete)|^(malloc|free|calloc|realloc|cfree)$|^_int_(malloc|free)/.test(sym)) return 'memory allocator';
  if (/^sqlite3|^json[A-Z]|^vdbe|^btree|^pager/i.test(sym)) return 'SQLite (local KV and Durable Object storage)';
  if (/^(EVP_|AES_|aes_|aesni|gcm_|CRYPTO_|HMAC|SHA\d|sha\d|bssl::|BN_|bn_|ec_|EC_|RAND_|ChaCha|x25519|md5)/.test(sym)) return 'BoringSSL (crypto)';
  if (dso.includes('libc.so') || dso.includes('libm.so') || dso.includes('libstdc++') || dso.includes('ld-linux')) return 'libc (memcpy, strings, locks)';
  if (dso.endsWith('/node') || dso.includes('/node_modules/node/')) return 'Node.js (V8 and libuv in node)';
  if (sym === '[unknown]' || sym === '') return 'unresolved';
  return 'other native code';
}

interface Frame {
  sym: string;
  dso: string;
}

interface Sample {
  pid: number;
  comm: string;
  thread: string;
  /** Leaf first. */
  frames: Frame[];
}

/**
 * `perf script -F comm,pid,tid,ip,sym,dso` output of a recording with call graphs: per sample a
 * header `<comm> <pid>/<tid>` (comm may contain spaces), then one `<ip> <sym> (<dso>)` line per
 * frame, leaf first (sym may contain spaces and parentheses), then a blank line.
 */
function parse(script: string): Sample[] {
  const samples: Sample[] = [];
  let current: Sample | undefined;
  for (const line of script.split('\n')) {
    if (line.startsWith('\t') || line.startsWith(' ')) {
      const frame = /^\s*[0-9a-f]+\s+(.*?)\s*\(([^()]*)\)\s*$/.exec(line);
      if (current && frame) current.frames.push({ sym: (frame[1] ?? '').replace(/\+0x[0-9a-f]+$/, ''), dso: frame[2] ?? '' });
      continue;
    }
    const header = /^(.*?)\s+(\d+)\/(\d+)\s*$/.exec(line);
    if (!header) continue;
    const [, comm = '', pid = '0', tid = '0'] = header;
    current = { pid: Number(pid), comm, thread: pid === tid ? 'main thread' : threadName(comm), frames: [] };
    samples.push(current);
  }
  return samples;
}

/**
 * What a sample was doing, judged from any frame of its stack (inclusive: a sample counts for every
 * subsystem on its stack, so these overlap and do not add up). workerd is built with frame pointers,
 * so its C++ stacks are complete; JavaScript frames are anonymous (JIT code), which is what the V8
 * profile is for.
 */
const SUBSYSTEMS: readonly (readonly [string, RegExp])[] = [
  ['incoming HTTP request to the fetch handler (WorkerEntrypoint::request)', /WorkerEntrypoint::request|ServiceWorkerGlobalScope::request/],
  ['JS microtasks (promise continuations, async functions)', /workerd::jsg::Lock::runMicrotasks/],
  ['response sent back (Response::send, handleHttpResponse)', /workerd::api::Response::send|handleHttpResponse\b|handleHttpFetchResponse/],
  ['outgoing fetch/subrequests (fetchImpl, HttpClient)', /workerd::api::fetchImpl|kj::HttpClient|workerd::api::Fetcher::fetch/],
  ['streams (ReadableStream, WritableStream, pipes)', /workerd::api::(ReadableStream|WritableStream|TransformStream|ReadableStreamJsController|WritableStreamJsController|ReadableStreamInternalController|WritableStreamInternalController|PipeTo|.*StreamSink|.*StreamSource)/],
  ['KV binding (KvNamespace)', /workerd::api::KvNamespace/],
  ['JS RPC into entrypoints and Durable Objects (wrangler\'s local KV and observability services)', /JsRpcTargetBase::callImpl|JsRpcSessionCustomEvent|WorkerEntrypoint::customEvent/],
  ['SQLite (local KV, Durable Objects, wrangler\'s observability collector)', /workerd::SqliteDatabase|workerd::api::SqlStorage|workerd::ActorSqlite|sqlite3/],
  ['Durable Object machinery (actors, input/output gates)', /workerd::Worker::Actor::|workerd::(InputGate|OutputGate)::|workerd::ActorCache::/],
  ['tail/trace streaming (wrangler dev\'s observability pipeline)', /workerd::tracing::|TailStreamTarget|workerd::Trace|WorkerTracer/],
  ['WebCrypto (SubtleCrypto, BoringSSL)', /workerd::api::SubtleCrypto|workerd::api::CryptoKey|EVP_|AES_|aes_|HMAC|SHA\d|sha\d_/],
  ['Request/Response/Headers objects', /workerd::api::(Request|Response|Headers|Body)::/],
  ['V8 garbage collection', /v8::internal::(Heap::|Scavenger|MarkCompact|MinorMarkSweep|Sweeper|IncrementalMarking|ConcurrentMarking|GCTracer)|cppgc::internal::(Marker|Sweeper)/],
  ['JSON (V8 JsonParser/JsonStringifier)', /v8::internal::Json(Parser|Stringifier)/],
  ['kernel', /kernel\.kallsyms/],
];
/**
 * A C++ symbol without its template arguments and parameter lists, so that a pattern matches the
 * function itself and not a type named in its signature (`kj::Maybe<workerd::Worker::Actor>` is
 * everywhere). `(anonymous namespace)` goes too.
 */
export function functionName(sym: string): string {
  let depth = 0;
  let out = '';
  for (const char of sym) {
    if (char === '<' || char === '(') depth++;
    else if ((char === '>' || char === ')') && depth > 0) depth--;
    else if (depth === 0) out += char;
  }
  return out;
}

function threadName(comm: string): string {
  // V8's background threads (GC, compiler) are "V8 DefaultWorke…"; anything else is named as perf saw it.
  return comm.startsWith('V8 ') ? 'V8 background threads (concurrent GC, compiler)' : `thread ${comm}`;
}

/** The readable summary of `perf script -F comm,pid,tid,ip,sym,dso` output; `roles` names the pids. */
export function summarizePerfScript(script: string, roles: Map<number, string>, calls: number): string {
  const samples = parse(script);
  const msPerSample = 1000 / FREQUENCY_HZ;
  const perCall = (count: number) => (calls > 0 ? ((count * msPerSample) / calls).toFixed(3) : 'n/a');
  const count = <K>(map: Map<K, number>, key: K) => map.set(key, (map.get(key) ?? 0) + 1);
  const byRole = new Map<string, number>();
  const byRoleThread = new Map<string, number>();
  const byCategory = new Map<string, Map<string, number>>();
  const bySymbol = new Map<string, Map<string, number>>();
  const bySubsystem = new Map<string, Map<string, number>>();
  for (const sample of samples) {
    const leaf = sample.frames[0] ?? { sym: '[unknown]', dso: '' };
    // wrangler's bundler runs in its process group: name it apart from wrangler's Node.
    const role = sample.comm === 'esbuild' ? 'esbuild (wrangler\'s bundler)' : (roles.get(sample.pid) ?? `pid ${sample.pid}`);
    count(byRole, role);
    count(byRoleThread, `${role}: ${sample.thread}`);
    count(byCategory.get(role) ?? byCategory.set(role, new Map()).get(role)!, categorize(leaf.sym, leaf.dso));
    count(bySymbol.get(role) ?? bySymbol.set(role, new Map()).get(role)!, `${leaf.sym || '[unknown]'}  (${shortDso(leaf.dso)})`);
    const subsystems = bySubsystem.get(role) ?? bySubsystem.set(role, new Map()).get(role)!;
    const names = sample.frames.map((frame) => functionName(frame.sym));
    for (const [name, pattern] of SUBSYSTEMS) {
      if (name === 'kernel' ? sample.frames.some((frame) => pattern.test(frame.dso)) : names.some((frame) => pattern.test(frame))) count(subsystems, name);
    }
  }
  const total = samples.length;
  const pct = (n: number, of: number) => `${((n / of) * 100).toFixed(1).padStart(5)}%`;
  const rows = (map: Map<string, number>, of: number, limit: number) =>
    [...map].sort((a, b) => b[1] - a[1]).slice(0, limit).map(([name, n]) => `  ${pct(n, of)}  ${perCall(n).padStart(7)} ms/call  ${name}`);
  const lines = [
    `whole-process CPU (perf record, cpu-clock at ${FREQUENCY_HZ} Hz, each sample ${msPerSample} ms of CPU): ${total} samples, ${perCall(total)} ms/call over ${calls} requests`,
    '',
    'by process role and thread',
    ...rows(byRoleThread, total, 20),
  ];
  for (const [role, n] of [...byRole].sort((a, b) => b[1] - a[1])) {
    lines.push('', `${role}: ${perCall(n)} ms/call, by kind of code (self time: the sample's leaf frame)`, ...rows(byCategory.get(role) ?? new Map(), n, 20));
    if (role === 'worker' || role === 'proxy') lines.push('', `${role}: inclusive time of workerd subsystems (a sample counts for each one on its stack: these overlap)`, ...rows(bySubsystem.get(role) ?? new Map(), n, SUBSYSTEMS.length));
    lines.push('', `${role}: top symbols`, ...rows(bySymbol.get(role) ?? new Map(), n, role === 'worker' ? 30 : 12));
  }
  return lines.join('\n');
}

function shortDso(dso: string): string {
  return dso.split('/').at(-1) ?? dso;
}
