/**
 * The development-only values committed in `.dev.vars.example` (and used by `npm start` and the
 * tests). A leaf module: the setup check refuses to serve a deployed origin with any of them, and a
 * test keeps these in step with the file.
 */

export const DEV_SESSION_SECRET = 'dev-session-secret-change-me-in-production-0123456789';

export const DEV_OIDC_CLIENT_SECRET = 'dev-client-secret-not-for-production';
