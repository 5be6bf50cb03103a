/**
 * Tools that act as the user upstream: the pattern for any tool that puts an upstream API behind MCP.
 * Each asks `upstream.fetch` for what it needs and shapes the answer; the token, its refresh and
 * the origin check are the capability's (../../upstream/api.ts), and its failures become results the
 * tool layer writes (../tool-calls.ts).
 */
import { z } from 'zod';
import { UpstreamAccessError } from '../../upstream/api';
import { nextPageLink } from '../../upstream/github';
import { defineTool, toolError, toolJson, type ToolResult } from './define';

const GITHUB_HEADERS = {
  Accept: 'application/vnd.github+json',
  // "API versions" (docs.github.com): pinned, so a new version cannot change what the tools return.
  'X-GitHub-Api-Version': '2022-11-28',
  // GitHub refuses requests without a User-Agent ("Getting started with the REST API").
  'User-Agent': 'mcp-workers-oauth',
};

/** The upstream's JSON answer when 2xx, or the tool result that explains the refusal. */
async function jsonOrError(response: Response, what: string): Promise<{ body: unknown } | { error: ToolResult }> {
  if (response.ok) {
    try {
      return { body: await response.json() };
    } catch {
      return { error: toolError(`${what} sent an answer that is not JSON.`) };
    }
  }
  await response.body?.cancel();
  if (response.status >= 300 && response.status < 400) return { error: toolError(`${what} redirected the request (HTTP ${response.status}); it was not followed, since your token would go with it.`) };
  return { error: toolError(`${what} refused the request (HTTP ${response.status}).`) };
}

function field(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null ? Reflect.get(value, name) : undefined;
}

export const githubProfile = defineTool({
  name: 'github_profile',
  title: 'GitHub profile',
  description: 'Returns your GitHub profile (login, name, company, location, public repository count), read from GitHub as you.',
  inputSchema: {},
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
  scopes: ['github:profile'],
  async run(_args, { upstream }) {
    const read = await jsonOrError(await upstream.fetch(`${upstream.githubApiBase()}/user`, { headers: GITHUB_HEADERS }), 'GitHub');
    if ('error' in read) return read.error;
    const user = read.body;
    return toolJson({
      login: field(user, 'login'),
      id: field(user, 'id'),
      name: field(user, 'name') ?? null,
      company: field(user, 'company') ?? null,
      location: field(user, 'location') ?? null,
      publicRepos: field(user, 'public_repos') ?? null,
      htmlUrl: field(user, 'html_url') ?? null,
    });
  },
});

/** GitHub's largest page ("Using pagination in the REST API"). */
const MAX_REPOS_PER_PAGE = 100;

export const githubRepos = defineTool({
  name: 'github_repos',
  title: 'GitHub repositories',
  description:
    'Lists repositories you can access on GitHub, most recently updated first, one page at a time (read-only). Private repositories appear only if the server asks GitHub for the "repo" permission. Pass the returned cursor to get the next page.',
  inputSchema: {
    perPage: z.number().int().min(1).max(MAX_REPOS_PER_PAGE).optional().describe(`Repositories per page, 1 to ${MAX_REPOS_PER_PAGE} (default 30).`),
    cursor: z.string().max(20).regex(/^\d+$/).optional().describe('The page to read, from a previous result.'),
  },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
  scopes: ['github:repos'],
  async run({ perPage, cursor }, { upstream }) {
    const url = new URL(`${upstream.githubApiBase()}/user/repos`);
    url.searchParams.set('sort', 'updated');
    url.searchParams.set('per_page', String(perPage ?? 30));
    url.searchParams.set('page', cursor ?? '1');
    const response = await upstream.fetch(url, { headers: GITHUB_HEADERS });
    const next = nextPageLink(response.headers.get('link'));
    const read = await jsonOrError(response, 'GitHub');
    if ('error' in read) return read.error;
    if (!Array.isArray(read.body)) return toolError('GitHub sent something other than a list of repositories.');
    const repositories = read.body.map((repo: unknown) => ({
      fullName: field(repo, 'full_name'),
      private: field(repo, 'private') === true,
      description: field(repo, 'description') ?? null,
      htmlUrl: field(repo, 'html_url'),
      updatedAt: field(repo, 'updated_at') ?? null,
    }));
    // GitHub's `rel="next"` link names the next page; only its number goes back to the model.
    const nextPage = next === undefined ? undefined : new URL(next).searchParams.get('page');
    return toolJson({ repositories, ...(nextPage ? { cursor: nextPage } : {}) });
  },
});

export const githubOrgs = defineTool({
  name: 'github_orgs',
  title: 'GitHub organisations',
  description:
    'Lists the GitHub organisations you belong to (at most 100), read from GitHub as you. GitHub answers this only with its "read:org" permission, which the server asks for when configured to (GITHUB_SCOPES).',
  inputSchema: {},
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
  scopes: ['github:orgs'],
  async run(_args, { upstream }) {
    // Without read:org GitHub answers 403 naming it: upstream.fetch turns that into the right failure
    // (an administrator's setting, or a step-up when the configuration asks for it now).
    const read = await jsonOrError(await upstream.fetch(`${upstream.githubApiBase()}/user/orgs?per_page=100`, { headers: GITHUB_HEADERS }), 'GitHub');
    if ('error' in read) return read.error;
    if (!Array.isArray(read.body)) return toolError('GitHub sent something other than a list of organisations.');
    return toolJson({ organisations: read.body.map((org: unknown) => ({ login: field(org, 'login'), description: field(org, 'description') ?? null })) });
  },
});

export const upstreamUserinfo = defineTool({
  name: 'upstream_userinfo',
  title: 'Profile at your identity provider',
  description: "Reads your profile from your identity provider's userinfo endpoint (OpenID Connect), as you: the claims the provider releases to this server.",
  inputSchema: {},
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
  scopes: ['upstream:userinfo'],
  async run(_args, { upstream }) {
    const response = await upstream.fetch(await upstream.userinfoEndpoint(), { headers: { Accept: 'application/json' } });
    const read = await jsonOrError(response, 'Your identity provider');
    if ('error' in read) return read.error;
    if (typeof read.body !== 'object' || read.body === null || Array.isArray(read.body)) {
      // A signed (JWT) userinfo response is not read by this example.
      throw new UpstreamAccessError('refused', 'Your identity provider answered in a form this tool does not read (not a JSON object).', 'userinfo_not_json');
    }
    return toolJson({ claims: read.body as Record<string, unknown> });
  },
});
