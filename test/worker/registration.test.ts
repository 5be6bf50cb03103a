import { describe, expect, it } from 'vitest';
import { CALLBACK, worker } from './helpers';

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
});
