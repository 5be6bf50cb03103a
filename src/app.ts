/**
 * The provider's `defaultHandler`: every request the OAuth provider does not answer itself (its
 * metadata, /token, /register) and that is not token-protected MCP traffic.
 */
import { Hono } from 'hono';
import { accountApp } from './account/app';
import { adminApp } from './admin/app';
import { authApp, type AuthEnv } from './auth/app';

export const defaultApp = new Hono<AuthEnv>();
defaultApp.route('/admin', adminApp);
defaultApp.route('/account', accountApp);
defaultApp.route('/', authApp);
