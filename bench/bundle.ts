/**
 * The Worker's upload size, as `wrangler deploy --dry-run --outdir <tmp>` builds it: every module
 * it would upload, raw and gzip-compressed the way wrangler's own report computes it (one gzip over
 * all modules), plus the packages that take the most bytes (from esbuild's metafile).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ROOT } from '../scripts/system.ts';

const WRANGLER = join(ROOT, 'node_modules/wrangler/bin/wrangler.js');

/**
 * Cloudflare's Worker size limits. Until 2026-09-04 the limit applied after gzip: 3 MiB on Workers
 * Free, 10 MiB on Workers Paid. Since then there is no compressed limit, only 64 MiB uncompressed on
 * every plan (changelog 2026-09-04 "increased Worker size limit", cloudflare/cloudflare-docs#33241;
 * wrangler's bundle reporter since cloudflare/workers-sdk#14001 compares against 64 MiB uncompressed).
 * @see https://developers.cloudflare.com/workers/platform/limits/#worker-size
 */
export const WORKER_SIZE_LIMITS = {
  source: 'https://developers.cloudflare.com/workers/platform/limits/#worker-size',
  currentUncompressedBytes: 64 * 1024 * 1024,
  currentSince: '2026-09-04',
  formerGzipFreeBytes: 3 * 1024 * 1024,
  formerGzipPaidBytes: 10 * 1024 * 1024,
} as const;

export interface BundleSize {
  /** The wrangler config measured, relative to the project root. */
  config: string;
  rawBytes: number;
  gzipBytes: number;
  /** wrangler's own "Total Upload" line, for cross-checking. */
  wranglerReport: string | undefined;
  /** The packages (or the project's own files) with the most bytes in the bundle. */
  largest: { source: string; bytes: number }[];
}

export async function measureBundle(config: string): Promise<BundleSize> {
  const outdir = mkdtempSync(join(tmpdir(), 'mcp-bench-bundle-'));
  try {
    const output = await run([WRANGLER, 'deploy', '--dry-run', '--config', join(ROOT, config), '--outdir', outdir, '--metafile', join(outdir, 'meta.json')]);
    const modules = readdirSync(outdir).filter((name) => !name.endsWith('.map') && name !== 'README.md' && name !== 'meta.json');
    const contents = modules.map((name) => readFileSync(join(outdir, name)));
    const all = Buffer.concat(contents);
    return {
      config,
      rawBytes: all.byteLength,
      gzipBytes: gzipSync(all).byteLength,
      wranglerReport: /Total Upload: ([^\n]+)/.exec(stripAnsi(output))?.[1]?.trim(),
      largest: largestSources(readFileSync(join(outdir, 'meta.json'), 'utf8')),
    };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

interface Metafile {
  outputs: Record<string, { inputs: Record<string, { bytesInOutput: number }> }>;
}

function largestSources(metafileJson: string, count = 6): { source: string; bytes: number }[] {
  const metafile = JSON.parse(metafileJson) as Metafile;
  const bytes = new Map<string, number>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const source = packageOf(input);
      bytes.set(source, (bytes.get(source) ?? 0) + bytesInOutput);
    }
  }
  return [...bytes].map(([source, total]) => ({ source, bytes: total })).sort((a, b) => b.bytes - a.bytes).slice(0, count);
}

/** `…/node_modules/@scope/name/…` → `@scope/name`; anything else is the Worker's own code. */
function packageOf(input: string): string {
  const match = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input.replaceAll('\\', '/'));
  return match?.[1] ?? '(own code)';
}

function run(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WRANGLER_SEND_METRICS: 'false' } });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(output) : reject(new Error(`wrangler deploy --dry-run exited with ${code}:\n${output}`))));
  });
}

function stripAnsi(text: string): string {
  return text.replace(/\u001b\[[0-9;]*m/g, '');
}
