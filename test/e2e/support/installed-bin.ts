/**
 * Where an installed devDependency keeps one of its command-line programs, read from its own
 * package.json (`bin`), so a test runs exactly what `npx <package>` would, from node_modules only.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../../scripts/system.ts';

export interface InstalledBin {
  /** Absolute path of the script. */
  path: string;
  /** The installed package's version, for messages and sanity checks. */
  version: string;
}

export function installedBin(packageName: string, binName: string): InstalledBin {
  const directory = join(ROOT, 'node_modules', packageName);
  const manifest = JSON.parse(readFileSync(join(directory, 'package.json'), 'utf8')) as { version: string; bin?: string | Record<string, string> };
  const bin = typeof manifest.bin === 'string' ? manifest.bin : manifest.bin?.[binName];
  if (!bin) throw new Error(`${packageName}@${manifest.version} has no "${binName}" program`);
  return { path: join(directory, bin), version: manifest.version };
}
