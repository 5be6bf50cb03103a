/**
 * Bench variant 3: the wiring of Cloudflare's remote MCP demos, OAuthProvider + McpAgent and nothing
 * else. `apiRoute` '/mcp' is served by `McpAgent.serve('/mcp')`; the default handler completes every
 * authorization at once for one fixed user (no consent page, no upstream IdP), which is all the
 * bench needs to mint a token with a scripted authorize + code exchange.
 */
import { OAuthProvider, type OAuthHelpers } from '@cloudflare/workers-oauth-provider';
import { BenchAgent, type BenchAgentEnv } from '../agent';

export { BenchAgent };

interface ReferenceEnv extends BenchAgentEnv {
  OAUTH_KV: KVNamespace;
  OAUTH_PROVIDER: OAuthHelpers;
}

const BENCH_USER_ID = 'bench-user';

const autoApprove: ExportedHandler<ReferenceEnv> = {
  async fetch(request, env): Promise<Response> {
    if (new URL(request.url).pathname !== '/authorize') return new Response('bench reference', { status: 200 });
    const authRequest = await env.OAUTH_PROVIDER.parseAuthRequest(request);
    const { redirectTo } = await env.OAUTH_PROVIDER.completeAuthorization({
      request: authRequest,
      userId: BENCH_USER_ID,
      metadata: { label: 'bench' },
      scope: authRequest.scope,
      props: { userId: BENCH_USER_ID },
    });
    return Response.redirect(redirectTo, 302);
  },
};

type FetchHandler = ExportedHandler<ReferenceEnv> & Required<Pick<ExportedHandler<ReferenceEnv>, 'fetch'>>;

/**
 * Provider 1.2 requires the protected resource's identifier, which is the origin the bench serves
 * on (a free port picked at start), so the provider is built on the first request.
 */
let provider: OAuthProvider<ReferenceEnv> | undefined;

function providerFor(origin: string): OAuthProvider<ReferenceEnv> {
  provider ??= new OAuthProvider<ReferenceEnv>({
    apiRoute: '/mcp',
    apiHandler: BenchAgent.serve('/mcp', { binding: 'MCP_OBJECT' }) as FetchHandler,
    defaultHandler: autoApprove as FetchHandler,
    authorizeEndpoint: '/authorize',
    tokenEndpoint: '/token',
    clientRegistrationEndpoint: '/register',
    resourceMetadata: { resource: origin },
  });
  return provider;
}

export default {
  fetch(request, env, ctx): Promise<Response> {
    return providerFor(new URL(request.url).origin).fetch(request, env, ctx);
  },
} satisfies ExportedHandler<ReferenceEnv>;
