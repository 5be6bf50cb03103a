/**
 * Which Chromium the headless sign-in drives (browser-login.ts: the end-to-end tests and the doctor's
 * `--login`), and how to start it. In this order:
 *
 * 1. `CHROMIUM_PATH`, when set: that binary (Chromium, Chrome, Edge: any Chromium playwright-core drives).
 * 2. `MCP_BROWSER=bundled`: the Chromium inside the `@sparticuz/chromium` devDependency, even where a
 *    system one is installed (to test with what a machine without Chromium gets).
 * 3. The system's Chromium or Chrome, where their packages and installers put it (see
 *    {@link systemBrowserPaths}): `/usr/bin/chromium` (Debian's package) first.
 * 4. Otherwise the bundled one, when it is installed (in this repository; the published `mcp-doctor`
 *    package does not depend on it), unless `MCP_BROWSER=system` asks for a system browser only.
 *
 * The bundled Chromium is a brotli-compressed chrome-headless-shell for x64 Linux, with the NSS
 * libraries it links against (built for Amazon Linux 2023, glibc only beyond them) and a font. It is
 * unpacked once, on first use, into `node_modules/.cache/mcp-chromium/<version>/` (about 200 MB, a
 * few seconds; a temp folder when node_modules cannot be written), atomically, so that concurrent
 * test workers never see half a binary, and started with its own libraries and fonts
 * (`LD_LIBRARY_PATH`, `FONTCONFIG_PATH`). `CHROMIUM_PATH` may name that unpacked binary too: the
 * marker file beside it brings the same environment along.
 */
import { accessSync, constants, createReadStream, createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, normalize, sep, win32 } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { brotliDecompress, createBrotliDecompress } from 'node:zlib';
import { isRunning } from './processes.ts';

const PACKAGE = '@sparticuz/chromium';
/** Written last into an unpacked bundle: its presence means the bundle is complete. */
const MARKER = 'mcp-bundled-chromium.json';

export interface ChromiumChoice {
  executablePath: string;
  /** Where it came from, for messages. */
  source: 'CHROMIUM_PATH' | 'system' | 'bundled';
  /** Variables the browser process needs besides the inherited ones (the bundled browser's libraries and fonts). */
  env: Record<string, string>;
}

type Env = Record<string, string | undefined>;

/** The browser to launch, unpacking the bundled one if that is the one, or an error saying what to do. */
export async function resolveChromium(env: Env = process.env, platform: NodeJS.Platform = process.platform): Promise<ChromiumChoice> {
  const chosen = chooseChromium(env, platform);
  if (typeof chosen === 'string') throw new Error(chosen);
  if (chosen.source !== 'bundled') return { ...chosen, env: bundleEnvironment(dirname(chosen.executablePath), env) ?? {} };
  const dir = await unpackBundledChromium();
  return { executablePath: join(dir, 'chromium'), source: 'bundled', env: bundleEnvironment(dir, env) ?? {} };
}

/** Without unpacking or loading anything: why no browser can be launched, if none can. For a check before a run. */
export function chromiumProblem(env: Env = process.env, platform: NodeJS.Platform = process.platform): string | undefined {
  const chosen = chooseChromium(env, platform);
  return typeof chosen === 'string' ? chosen : undefined;
}

/**
 * Where the system's Chromium or Chrome is, most likely first: the paths their packages and
 * installers use (Debian/Ubuntu/Fedora/Arch packages, Google's .deb/.rpm, the snap; the macOS app
 * bundles; Windows' per-machine and per-user installs, and Edge, which every Windows has).
 */
export function systemBrowserPaths(platform: NodeJS.Platform = process.platform, env: Env = process.env): string[] {
  if (platform === 'darwin') {
    const apps = ['/Applications', ...(env.HOME ? [join(env.HOME, 'Applications')] : [])];
    return apps.flatMap((folder) => [join(folder, 'Google Chrome.app/Contents/MacOS/Google Chrome'), join(folder, 'Chromium.app/Contents/MacOS/Chromium')]);
  }
  if (platform === 'win32') {
    const roots = [env.LOCALAPPDATA, env.PROGRAMFILES ?? env.ProgramFiles, env['PROGRAMFILES(X86)'] ?? env['ProgramFiles(x86)']].filter((root): root is string => Boolean(root));
    return [
      ...roots.flatMap((root) => [win32.join(root, 'Google', 'Chrome', 'Application', 'chrome.exe'), win32.join(root, 'Chromium', 'Application', 'chrome.exe')]),
      ...roots.map((root) => win32.join(root, 'Microsoft', 'Edge', 'Application', 'msedge.exe')),
    ];
  }
  return ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome-stable', '/usr/bin/google-chrome', '/snap/bin/chromium'];
}

function chooseChromium(env: Env, platform: NodeJS.Platform): Omit<ChromiumChoice, 'env'> | string {
  const explicit = env.CHROMIUM_PATH;
  if (explicit) return existsSync(explicit) ? { executablePath: explicit, source: 'CHROMIUM_PATH' } : `CHROMIUM_PATH names ${explicit}, which does not exist`;
  const mode = (env.MCP_BROWSER ?? 'auto').toLowerCase();
  if (mode !== 'auto' && mode !== 'system' && mode !== 'bundled') return `MCP_BROWSER must be auto, system or bundled (got "${env.MCP_BROWSER}")`;
  const candidates = systemBrowserPaths(platform, env);
  const system = mode === 'bundled' ? undefined : candidates.find(isExecutable);
  if (system) return { executablePath: system, source: 'system' };
  const none = `no Chromium or Chrome at ${candidates.join(', ') || '(no known location on this platform)'}: install one${platform === 'linux' ? ' (e.g. apt-get install chromium)' : ''}, or set CHROMIUM_PATH to its binary`;
  if (mode === 'system') return `MCP_BROWSER=system, and ${none}`;
  const bundle = bundledPackage(platform);
  if (typeof bundle === 'string') return mode === 'bundled' ? `MCP_BROWSER=bundled, and ${bundle}` : none;
  // Its path is known once it is unpacked (resolveChromium).
  return { executablePath: '', source: 'bundled' };
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

interface BundledPackage {
  version: string;
  /** The package's bin/ folder: chromium.br, al2023.tar.br (libraries), fonts.tar.br. */
  bin: string;
}

/** This repository's bundled Chromium, or why there is none (the published package never has one). */
function bundledPackage(platform: NodeJS.Platform = process.platform): BundledPackage | string {
  if (platform !== 'linux' || process.arch !== 'x64') return `the bundled Chromium (${PACKAGE}) is for x64 Linux only`;
  let entry: string;
  try {
    entry = createRequire(import.meta.url).resolve(PACKAGE);
  } catch {
    return `the bundled Chromium (${PACKAGE}, a devDependency of this repository) is not installed`;
  }
  const root = join(dirname(entry), '..');
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  return { version, bin: join(root, 'bin') };
}

/** node_modules/.cache/mcp-chromium/<version>, or a folder in the temp dir when node_modules is read-only. */
function cacheDir(version: string): string {
  const entry = createRequire(import.meta.url).resolve(PACKAGE);
  const nodeModules = entry.slice(0, entry.lastIndexOf(`${sep}node_modules${sep}`) + `${sep}node_modules`.length);
  const preferred = join(nodeModules, '.cache', 'mcp-chromium', version);
  if (existsSync(join(preferred, MARKER))) return preferred;
  try {
    mkdirSync(dirname(preferred), { recursive: true });
    accessSync(dirname(preferred), constants.W_OK);
    return preferred;
  } catch {
    return join(tmpdir(), `mcp-chromium-${version}-${process.getuid?.() ?? 0}`);
  }
}

/** The unpacked bundle's folder, unpacking it first if no complete one is there. */
async function unpackBundledChromium(): Promise<string> {
  const bundle = bundledPackage();
  if (typeof bundle === 'string') throw new Error(bundle);
  const dir = cacheDir(bundle.version);
  if (existsSync(join(dir, MARKER))) return dir;
  removeAbandonedUnpacks(dir);
  const partial = `${dir}.partial-${process.pid}-${Date.now()}`;
  mkdirSync(partial, { recursive: true });
  try {
    await pipeline(createReadStream(join(bundle.bin, 'chromium.br')), createBrotliDecompress(), createWriteStream(join(partial, 'chromium'), { mode: 0o755 }));
    untar(await promisify(brotliDecompress)(readFileSync(join(bundle.bin, 'al2023.tar.br'))), partial); // lib/: NSS, NSPR, expat
    untar(await promisify(brotliDecompress)(readFileSync(join(bundle.bin, 'fonts.tar.br'))), join(partial, 'fonts'));
    // The package's fonts.conf names Lambda's folders; this one names ours, after the system's own.
    writeFileSync(
      join(partial, 'fonts', 'fonts.conf'),
      `<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>\n  <dir>${join(dir, 'fonts', 'fonts')}</dir>\n  <cachedir>${join(dir, 'fonts', 'cache')}</cachedir>\n</fontconfig>\n`,
    );
    writeFileSync(join(partial, MARKER), `${JSON.stringify({ package: PACKAGE, version: bundle.version })}\n`);
    try {
      renameSync(partial, dir);
    } catch (error) {
      // Another process finished first: use its copy.
      if (!existsSync(join(dir, MARKER))) throw error;
      rmSync(partial, { recursive: true, force: true });
    }
  } catch (error) {
    rmSync(partial, { recursive: true, force: true });
    throw error;
  }
  return dir;
}

/** Half-unpacked copies left by a process that died while unpacking. */
function removeAbandonedUnpacks(dir: string): void {
  const parent = dirname(dir);
  const prefix = `${dir.slice(parent.length + 1)}.partial-`;
  for (const name of existsSync(parent) ? readdirSync(parent) : []) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length).split('-')[0]);
    if (pid !== process.pid && !isRunning(pid)) rmSync(join(parent, name), { recursive: true, force: true });
  }
}

/** The variables an unpacked bundle's binary needs, or undefined when `dir` holds no bundle. */
function bundleEnvironment(dir: string, env: Env): Record<string, string> | undefined {
  if (!existsSync(join(dir, MARKER))) return undefined;
  const lib = join(dir, 'lib');
  return { LD_LIBRARY_PATH: env.LD_LIBRARY_PATH ? `${lib}:${env.LD_LIBRARY_PATH}` : lib, FONTCONFIG_PATH: join(dir, 'fonts') };
}

/** A tar archive's regular files and folders, unpacked under `into`; anything else is refused. */
function untar(archive: Buffer, into: string): void {
  const text = (start: number, length: number) => {
    const field = archive.subarray(start, start + length);
    const end = field.indexOf(0);
    return field.subarray(0, end === -1 ? length : end).toString('utf8');
  };
  let offset = 0;
  let paxPath: string | undefined;
  while (offset + 512 <= archive.length) {
    if (archive.subarray(offset, offset + 512).every((byte) => byte === 0)) break;
    const name = text(offset, 100);
    const prefix = text(offset + 345, 155);
    const size = Number.parseInt(text(offset + 124, 12).trim() || '0', 8);
    const mode = Number.parseInt(text(offset + 100, 8).trim() || '644', 8);
    const type = text(offset + 156, 1) || '0';
    const body = archive.subarray(offset + 512, offset + 512 + size);
    offset += 512 + Math.ceil(size / 512) * 512;
    if (type === 'x' || type === 'g') {
      // PAX headers: only a long path matters here ("<length> path=<value>\n" records).
      const path = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(body.toString('utf8'))?.[1];
      if (type === 'x') paxPath = path;
      continue;
    }
    const path = paxPath ?? (prefix ? `${prefix}/${name}` : name);
    paxPath = undefined;
    const target = normalize(join(into, path));
    if (target !== into && !target.startsWith(`${into}${sep}`)) throw new Error(`refusing to unpack ${path} outside ${into}`);
    if (type === '5') mkdirSync(target, { recursive: true });
    else if (type === '0' || type === '7') {
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, body, { mode: mode & 0o777 });
    } else throw new Error(`unexpected entry of type ${type} (${path}) in a ${PACKAGE} archive`);
  }
}
