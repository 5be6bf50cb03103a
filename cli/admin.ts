/**
 * `npm run admin -- <server origin> <command>`: the /admin API from a terminal. Reads the admin
 * token from ADMIN_TOKEN (never from the command line, where it would land in shell history).
 *
 *   create-client --name "MCP Manager" --redirect-uri https://…/callback [--public]
 *   list-clients
 *   delete-client <client id>
 *   list-grants <user id>
 *   revoke-grant <user id> <grant id>
 */
import { parseArgs } from 'node:util';

const USAGE = 'usage: npm run admin -- <server origin> create-client --name NAME --redirect-uri URI [--redirect-uri URI…] [--public] | list-clients | delete-client ID | list-grants USER | revoke-grant USER GRANT';

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { name: { type: 'string' }, 'redirect-uri': { type: 'string', multiple: true }, public: { type: 'boolean', default: false } },
  });
  const [origin, command, ...rest] = positionals;
  const token = process.env.ADMIN_TOKEN;
  if (!origin || !command) return usage();
  if (!token) {
    console.error('Set ADMIN_TOKEN to the server\'s admin token.');
    return 2;
  }
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(new URL(`/admin${path}`, origin), {
      method,
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (text) console.log(text.startsWith('{') ? JSON.stringify(JSON.parse(text), null, 2) : text);
    if (!response.ok) console.error(`HTTP ${response.status}`);
    return response.ok ? 0 : 1;
  };
  switch (command) {
    case 'create-client':
      if (!values.name || !values['redirect-uri']?.length) return usage();
      return call('POST', '/clients', { client_name: values.name, redirect_uris: values['redirect-uri'], token_endpoint_auth_method: values.public ? 'none' : 'client_secret_basic' });
    case 'list-clients':
      return call('GET', '/clients');
    case 'delete-client':
      return rest[0] ? call('DELETE', `/clients/${encodeURIComponent(rest[0])}`) : usage();
    case 'list-grants':
      return rest[0] ? call('GET', `/users/${encodeURIComponent(rest[0])}/grants`) : usage();
    case 'revoke-grant':
      return rest[0] && rest[1] ? call('DELETE', `/users/${encodeURIComponent(rest[0])}/grants/${encodeURIComponent(rest[1])}`) : usage();
    default:
      return usage();
  }
}

function usage(): number {
  console.error(USAGE);
  return 2;
}

process.exitCode = await main(process.argv.slice(2));
