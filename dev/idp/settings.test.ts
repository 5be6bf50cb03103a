// The dev IdP's environment settings, and that `npm start` passes them to the IdP it starts.
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';

import { npmStartOptions } from '../../scripts/system.ts';
import { accessTokenTtlFromEnv, IDP_ACCESS_TOKEN_TTL_ENV } from './settings.js';

/** A .dev.vars that does not exist: npm start then reads settings from the environment alone. */
const NO_DEV_VARS = join(tmpdir(), `no-such-dev-vars-${process.pid}`);

describe('IDP_ACCESS_TOKEN_TTL_SECONDS', () => {
  it('is the IdP default when unset or empty', () => {
    expect(accessTokenTtlFromEnv({})).toBeUndefined();
    expect(accessTokenTtlFromEnv({ [IDP_ACCESS_TOKEN_TTL_ENV]: '' })).toBeUndefined();
  });

  it('takes a whole number of seconds, at least 10', () => {
    expect(accessTokenTtlFromEnv({ IDP_ACCESS_TOKEN_TTL_SECONDS: '10' })).toBe(10);
    expect(accessTokenTtlFromEnv({ IDP_ACCESS_TOKEN_TTL_SECONDS: '300' })).toBe(300);
  });

  it.each(['9', '0', '-60', '60.5', '1e3', 'ten', '0x20', '60s'])('refuses "%s", naming the variable and what it takes', (raw) => {
    expect(() => accessTokenTtlFromEnv({ IDP_ACCESS_TOKEN_TTL_SECONDS: raw })).toThrow(
      `IDP_ACCESS_TOKEN_TTL_SECONDS must be a whole number of seconds, at least 10 (the dev IdP's access-token lifetime), got "${raw}"`,
    );
  });

  it('reaches the dev IdP that npm start starts, and never the Worker', () => {
    const options = npmStartOptions({ IDP_ACCESS_TOKEN_TTL_SECONDS: '30' }, NO_DEV_VARS);
    expect(options).toMatchObject({ devIdp: true, idpAccessTokenTtlSeconds: 30, vars: {} });
    expect(npmStartOptions({}, NO_DEV_VARS)).not.toHaveProperty('idpAccessTokenTtlSeconds');
    expect(() => npmStartOptions({ IDP_ACCESS_TOKEN_TTL_SECONDS: '5' }, NO_DEV_VARS)).toThrow(/IDP_ACCESS_TOKEN_TTL_SECONDS must be a whole number of seconds, at least 10/);
  });
});
