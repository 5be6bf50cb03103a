/** What the bench workers' echo tool answers: the size and shape of this project's `whoami` result. */
export const BENCH_IDENTITY = {
  userId: 'oidc:localhost:bench-user',
  email: 'bench@example.com',
  name: 'Bench User',
  upstream: 'oidc:localhost',
  clientId: 'bench-client',
  scopes: ['openid', 'profile', 'notes:read', 'notes:write'],
} as const;

/** The echo tool every variant calls; named after the project's own tool so one request body fits all. */
export const BENCH_TOOL = 'whoami';
