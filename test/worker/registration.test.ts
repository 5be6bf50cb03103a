import { describe, expect, it } from 'vitest';
import { env } from 'cloudflare:workers';
import { CALLBACK, worker, workerWithEnv } from './helpers';

function register(body: unknown, contentType = 'application/json'): Promise<Response> {
  return worker('/register', { method: 'POST', headers: { 'Content-Type': contentType }, body: typeof body === 'string' ? body : JSON.stringify(body) });
}

describe('dynamic client registration (RFC 7591)', () => {
  it('registers a confidential client as MCP Manager does and returns its secret', async () => {
    const response = await register({
      client_name: 'MCP Manager',
      redirect_uris: [CALLBACK],
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    });
    expect(response.status).toBe(201);
    const client = await response.json<Record<string, unknown>>();
    expect(client).toMatchObject({ client_name: 'MCP Manager', redirect_uris: [CALLBACK], token_endpoint_auth_method: 'client_secret_basic' });
    expect(client.client_id).toEqual(expect.any(String));
    expect(client.client_secret).toEqual(expect.any(String));
    // Registrations live 180 days and are renewed while used; the expiry is announced, not silent.
    expect(Number(client.client_secret_expires_at) - Number(client.client_id_issued_at)).toBe(180 * 86_400);
  });

  it('registers a client_secret_post client', async () => {
    const response = await register({ redirect_uris: [CALLBACK], token_endpoint_auth_method: 'client_secret_post' });
    expect(response.status).toBe(201);
    expect(await response.json()).toMatchObject({ token_endpoint_auth_method: 'client_secret_post', client_secret: expect.any(String) });
  });

  it('registers a public client without handing it a secret', async () => {
    const response = await register({ redirect_uris: ['http://localhost:33418/callback'], token_endpoint_auth_method: 'none' });
    expect(response.status).toBe(201);
    const client = await response.json<Record<string, unknown>>();
    expect(client.token_endpoint_auth_method).toBe('none');
    expect(client).not.toHaveProperty('client_secret');
  });

  it.each([
    ['a body that is not JSON', '{not json', 'invalid_request'],
    ['no redirect_uris', { client_name: 'x' }, 'invalid_client_metadata'],
    ['a plain-http redirect URI on a remote host', { redirect_uris: ['http://gateway.example/callback'] }, 'invalid_client_metadata'],
    ['a javascript: redirect URI', { redirect_uris: ['javascript:alert(1)'] }, 'invalid_client_metadata'],
    ['redirect_uris that is not an array', { redirect_uris: CALLBACK }, 'invalid_client_metadata'],
  ])('refuses %s with 400 %s', async (_label, body, code) => {
    const response = await register(body);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: code });
  });

  it.each([
    ['11 redirect URIs', { redirect_uris: Array.from({ length: 11 }, (_, i) => `https://gateway.example/cb/${i}`) }, 'invalid_redirect_uri'],
    ['a redirect URI of 3,000 characters', { redirect_uris: [`https://gateway.example/${'a'.repeat(3000)}`] }, 'invalid_redirect_uri'],
    ['a client name of 500 characters', { redirect_uris: [CALLBACK], client_name: 'n'.repeat(500) }, 'invalid_client_metadata'],
    ['a logo_uri of 3,000 characters', { redirect_uris: [CALLBACK], logo_uri: `https://gateway.example/${'a'.repeat(3000)}` }, 'invalid_client_metadata'],
    ['20 contacts', { redirect_uris: [CALLBACK], contacts: Array.from({ length: 20 }, (_, i) => `a${i}@gateway.example`) }, 'invalid_client_metadata'],
  ])('refuses %s with 400 %s: registrations are kept for months, so their size is bounded', async (_label, body, error) => {
    const response = await register(body);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error });
  });

  it('accepts 10 redirect URIs', async () => {
    expect((await register({ redirect_uris: Array.from({ length: 10 }, (_, i) => `https://gateway.example/cb/${i}`) })).status).toBe(201);
  });

  it('follows each configuration in the same isolate: a second one that refuses public clients gets a provider of its own', async () => {
    const publicClient = { redirect_uris: ['http://localhost:33418/callback'], token_endpoint_auth_method: 'none' };
    // The default configuration's provider exists already (every test above used it).
    expect((await register(publicClient)).status).toBe(201);
    const refusing = { ...env, ALLOW_PUBLIC_CLIENT_REGISTRATION: 'false' } as unknown as Env;
    const response = await workerWithEnv(refusing, '/register', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(publicClient) });
    expect(response.status).toBe(400);
    expect((await register(publicClient)).status).toBe(201);
  });
});
