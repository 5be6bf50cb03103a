/**
 * The provider's `defaultHandler`: every request the OAuth provider does not answer itself (its
 * metadata, /token, /register) and that is not token-protected MCP traffic.
 */
import { Hono } from 'hono';
import { accountApp } from './account/app';
import { adminApp } from './admin/app';
import { consoleApp } from './admin/console';
import { authApp, type AuthEnv } from './auth/app';

export const defaultApp = new Hono<AuthEnv>();
// The console first: its paths are none of the JSON API's, whose bearer check would answer them 401.
defaultApp.route('/admin', consoleApp);
defaultApp.route('/admin', adminApp);
defaultApp.route('/account', accountApp);
defaultApp.route('/', authApp);
