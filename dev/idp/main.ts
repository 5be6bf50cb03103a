// CLI entry point: `tsx dev/idp/main.ts`. IDP_PORT is the IdP's port, PORT the
// local Worker's (its /callback is the registered redirect URI), IDP_ACCESS_TOKEN_TTL_SECONDS the
// lifetime of its access tokens (settings.ts). The signing key is kept in .wrangler/dev-idp/
// (git-ignored), so tokens it signed still verify after a restart.
import { DEV_IDP_STATE_DIR, startDevIdp } from './server.js';
import { accessTokenTtlFromEnv } from './settings.js';

function portFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new Error(`${name} must be a TCP port number, got "${raw}"`);
  }
  return port;
}

let idpPort: number;
let workerPort: number;
let accessTokenTtlSeconds: number | undefined;
try {
  idpPort = portFromEnv('IDP_PORT', 8788);
  workerPort = portFromEnv('PORT', 8787);
  accessTokenTtlSeconds = accessTokenTtlFromEnv(process.env);
} catch (error) {
  // A setting's message is the whole story; a stack trace would only bury it.
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
}

const idp = await startDevIdp({
  port: idpPort,
  redirectUris: [`http://localhost:${workerPort}/callback`, `http://127.0.0.1:${workerPort}/callback`],
  stateDir: DEV_IDP_STATE_DIR,
  accessTokenTtlSeconds,
});
console.log(`Dev IdP: ${idp.issuer} (accounts alice/alice, bob/bob; access tokens last ${idp.accessTokenTtlSeconds} s)`);

const shutdown = (): void => {
  idp.close().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
};
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
