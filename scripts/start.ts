/**
 * `npm start`: the whole system locally with no cloud account. The Worker under wrangler dev on
 * http://localhost:8787 (PORT) and, unless .dev.vars or the environment names another upstream, the
 * dev OIDC IdP on http://localhost:8788 (IDP_PORT). The settings the README documents may be given in
 * the environment too, over .dev.vars (npmStartOptions in system.ts). Ctrl-C stops both.
 *
 * Stopped however this process ends: Ctrl-C, SIGTERM and SIGHUP (the terminal closed) stop the system
 * in order; if this process is killed outright, wrangler's watchdog stops the Worker (wrangler-dev.ts)
 * and the dev IdP, which runs in this process, goes with it. Run by npm, it also stops when a process
 * of the `npm start` that launched it goes (tsx, the shell, npm itself; only tsx, its parent, where
 * there is no /proc), instead of running on unseen.
 */
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isRunning } from '../cli/lib/processes.ts';
import { npmStartOptions, ROOT, startSystem, type RunningSystem } from './system.ts';

const devVarsPath = join(ROOT, '.dev.vars');
if (!existsSync(devVarsPath)) {
  copyFileSync(join(ROOT, '.dev.vars.example'), devVarsPath);
  console.log('Created .dev.vars from .dev.vars.example (dev-only secrets).');
}
let options: ReturnType<typeof npmStartOptions>;
try {
  options = npmStartOptions(process.env, devVarsPath);
} catch (error) {
  // A bad setting (PORT, IDP_PORT, IDP_ACCESS_TOKEN_TTL_SECONDS): its message names the fix; a stack trace would bury it.
  console.error(`npm start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}

let system: RunningSystem | undefined;
let stopping = false;
const shutdown = () => {
  if (stopping) return;
  stopping = true;
  // During start-up there is nothing to stop yet: exiting is enough, the watchdog stops wrangler.
  (system?.stop() ?? Promise.resolve()).then(() => process.exit(0), () => process.exit(1));
};
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, shutdown);
if (process.env.npm_lifecycle_event) {
  const parent = process.ppid;
  const launchers = npmLaunchers();
  setInterval(() => {
    if (process.ppid !== parent || launchers.some((pid) => !isRunning(pid))) shutdown();
  }, 1_000).unref();
}

system = await startSystem(options);

const overrides = Object.keys(options.vars ?? {});
console.log(`
  MCP server     ${system.mcpUrl}   (legacy SSE: ${system.origin}/sse)
  ${system.idp ? `Dev IdP        ${system.idp.issuer}   accounts: alice / alice, bob / bob${options.idpAccessTokenTtlSeconds === undefined ? '' : `; access tokens last ${system.idp.accessTokenTtlSeconds} s (IDP_ACCESS_TOKEN_TTL_SECONDS)`}` : 'Upstream IdP   from .dev.vars or the environment'}
${overrides.length > 0 ? `  From the environment (over .dev.vars): ${overrides.join(', ')}\n` : ''}
  Connect MCP Inspector:  npx @modelcontextprotocol/inspector   → Transport "Streamable HTTP", URL ${system.mcpUrl}
  Check it like MCP Manager would:  npm run doctor -- ${system.mcpUrl} --login alice:alice

  Ctrl-C stops both.
`);

/**
 * On Linux, the processes between this one and the `npm` that runs it (tsx and the shell, which have
 * npm's `npm_lifecycle_event` in their environment, then npm itself, the first that has not). Empty
 * where there is no /proc.
 */
function npmLaunchers(): number[] {
  if (!existsSync('/proc/self/stat')) return [];
  const chain: number[] = [];
  for (let pid = process.ppid; pid > 1 && chain.length < 8; ) {
    chain.push(pid);
    try {
      if (!readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').some((entry) => entry.startsWith('npm_lifecycle_event='))) break;
      pid = Number(readFileSync(`/proc/${pid}/stat`, 'latin1').replace(/^.*\) /s, '').split(' ')[1]);
    } catch {
      break;
    }
  }
  return chain;
}
