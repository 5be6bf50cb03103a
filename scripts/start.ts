/**
 * `npm start`: the whole system locally with no cloud account. The Worker under wrangler dev on
 * http://localhost:8787 (PORT) and, unless .dev.vars names another upstream, the dev OIDC IdP on
 * http://localhost:8788 (IDP_PORT). Ctrl-C stops both.
 */
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { readDevVars, ROOT, startSystem } from './system.ts';

const devVarsPath = join(ROOT, '.dev.vars');
if (!existsSync(devVarsPath)) {
  copyFileSync(join(ROOT, '.dev.vars.example'), devVarsPath);
  console.log('Created .dev.vars from .dev.vars.example (dev-only secrets).');
}
const ownUpstream = Object.hasOwn(readDevVars(devVarsPath), 'UPSTREAM') || Object.hasOwn(readDevVars(devVarsPath), 'OIDC_ISSUER');

const port = Number(process.env.PORT ?? 8787);
const idpPort = Number(process.env.IDP_PORT ?? 8788);
const system = await startSystem({ port, idpPort, devIdp: !ownUpstream, envFile: devVarsPath, output: 'inherit' });

console.log(`
  MCP server     ${system.mcpUrl}   (legacy SSE: ${system.origin}/sse)
  ${system.idp ? `Dev IdP        ${system.idp.issuer}   accounts: alice / alice, bob / bob` : 'Upstream IdP   from .dev.vars'}

  Connect MCP Inspector:  npx @modelcontextprotocol/inspector   → Transport "Streamable HTTP", URL ${system.mcpUrl}
  Check it like MCP Manager would:  npm run doctor -- ${system.mcpUrl} --login alice:alice

  Ctrl-C stops both.
`);

let stopping = false;
const shutdown = () => {
  if (stopping) return;
  stopping = true;
  system.stop().then(() => process.exit(0), () => process.exit(1));
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
