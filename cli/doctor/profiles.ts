/**
 * What each MCP client needs from a remote MCP server to connect, as data with its sources.
 *
 * Why this exists: the doctor checks a server "the way MCP Manager does", but a server that passes
 * for MCP Manager can still fail Claude, ChatGPT or an IDE (and the other way round), because each
 * client registers, calls back and refreshes differently. Keeping those differences here, each with
 * the public page it came from, lets the checks and the README say "needed by X" without re-reading
 * vendor docs, and lets a later reader re-check one fact without re-researching all of them.
 *
 * Rules this file keeps:
 * - A value is what a cited source says. Where nothing public says it, the value is 'unknown' (or,
 *   for a field with no such value, the profile names the field in `inferred` and a note explains).
 * - Sources were read in late 2026 (vendor docs, their source code where public, maintainers'
 *   answers in issue trackers). Clients change monthly: re-check before failing a server on a detail.
 * - Pure data plus one lookup function; no imports, so any module (and the README generator, if
 *   one appears) can use it without pulling in the doctor.
 */

export type ClientId = 'mcp-manager' | 'claude' | 'chatgpt' | 'claude-code' | 'vscode' | 'cursor' | 'mcp-inspector';

export interface Source {
  title: string;
  url: string;
  /** what this source says that we rely on, one sentence */
  says: string;
}

/** The profile fields a source can leave unconfirmed; see `ClientProfile.inferred`. */
export type ProfileField =
  | 'transports'
  | 'registration'
  | 'dcrClientType'
  | 'tokenAuthMethods'
  | 'callbacks'
  | 'refresh'
  | 'needsCors'
  | 'protocolRevisions'
  | 'reRegistersOnInvalidClient';

export interface Callback {
  kind: 'https' | 'loopback' | 'private-use';
  /** As documented; `<port>`, `<callback_id>` mark the parts that vary. */
  example: string;
  /**
   * True when the vendor publishes no exact URL, so `example` describes the callback instead of
   * quoting it. Never register or allow-list a placeholder.
   */
  placeholder?: true;
}

export interface ClientProfile {
  id: ClientId;
  name: string; // "MCP Manager", "Claude (claude.ai, Claude Desktop)", ...
  /** Other names `findProfile` accepts, lower case; the id is always accepted. */
  aliases?: ReadonlyArray<string>;
  /** Transports it can use to reach a remote server. */
  transports: ReadonlyArray<'streamable-http' | 'sse'>;
  /**
   * How it gets a client id, in order of preference: 'dcr' (RFC 7591), 'cimd' (Client ID Metadata
   * Document), 'preregistered' (user enters client id/secret), 'static-header' (a token/header the
   * user pastes), 'none' (authless servers). The order is the one the client applies when more than
   * one is available to it; a mechanism the user has to configure is listed where the client
   * consults it once configured.
   */
  registration: ReadonlyArray<'dcr' | 'cimd' | 'preregistered' | 'static-header' | 'none'>;
  /** Whether it registers by DCR as a confidential client (client_secret_*) or public (none); 'either' if it adapts; 'unknown'. */
  dcrClientType: 'confidential' | 'public' | 'either' | 'unknown';
  /** Token endpoint auth methods it can use, in preference order. */
  tokenAuthMethods: ReadonlyArray<'client_secret_basic' | 'client_secret_post' | 'none'>;
  /** Documented token endpoint auth methods outside the three above (e.g. private_key_jwt). */
  otherTokenAuthMethods?: ReadonlyArray<string>;
  /** Its OAuth callback: fixed HTTPS URL(s), loopback http://127.0.0.1:<port>/... , or a private-use scheme (cursor://...). Examples exactly as documented. */
  callbacks: ReadonlyArray<Callback>;
  /** The client_id URLs of the Client ID Metadata Documents it publishes, when documented. */
  cimdClientIds?: ReadonlyArray<string>;
  /** Whether it uses refresh tokens to stay connected ('required' if it drops the connection when the access token expires without one). */
  refresh: 'required' | 'used-if-issued' | 'unknown';
  /** Whether it needs the server to answer CORS (browser-based clients). */
  needsCors: boolean;
  /** MCP protocol revisions it speaks, newest first, if documented. */
  protocolRevisions: ReadonlyArray<string> | 'unknown';
  /** Whether it re-registers when the token endpoint answers 401 invalid_client. */
  reRegistersOnInvalidClient: boolean | 'unknown';
  /**
   * Fields whose value is a reading of the sources rather than something one of them states
   * outright (each is explained in `notes`), or, for a field without an 'unknown' value, a best
   * reading where no source settles it. Checks should warn, not fail, on these.
   */
  inferred?: ReadonlyArray<ProfileField>;
  sources: ReadonlyArray<Source>;
  /** Anything else a server must do for this client, one sentence each. */
  notes: ReadonlyArray<string>;
}

// ---------------------------------------------------------------------------------------------
// Sources shared by more than one profile.

const FIELD_NOTES: Source = {
  title: 'Field notes: what we know about the stack, the spec and real clients (this project, shared/field-notes.md)',
  url: 'shared/field-notes.md',
  says: 'MCP Manager registers by DCR server to server and gets a client id and secret, and needs confidential clients, its HTTPS callback, refresh tokens and durable client storage from the server.',
};

const CLAUDE_AUTH_DOC: Source = {
  title: 'Authentication for connectors (Claude docs)',
  url: 'https://claude.com/docs/connectors/building/authentication',
  says: 'One infrastructure backs Claude.ai, Desktop, mobile, Claude Code and Cowork; oauth_dcr and oauth_cimd work out of the box, CIMD is chosen only when the AS advertises client_id_metadata_document_supported and "none", PKCE S256 is sent on every request, and the hosted callback is https://claude.ai/api/mcp/auth_callback.',
};

// ---------------------------------------------------------------------------------------------

const MCP_MANAGER: ClientProfile = {
  id: 'mcp-manager',
  name: 'MCP Manager',
  aliases: ['mcpmanager', 'manager'],
  // "connects over Streamable HTTP only. It does not fall back to the older ... HTTP+SSE transport".
  transports: ['streamable-http'],
  // Tries standard OAuth with DCR first; the admin picks pre-registration or a header token only
  // when that fails. Authless servers are not among its three documented modes, so 'none' is left
  // out rather than guessed.
  registration: ['dcr', 'preregistered', 'static-header'],
  dcrClientType: 'confidential',
  // The field notes say "confidential"; no public page names basic or post, so both are listed in
  // the order the doctor tries them (basic is the RFC 8414 default).
  tokenAuthMethods: ['client_secret_basic', 'client_secret_post'],
  callbacks: [
    {
      kind: 'https',
      example: 'a fixed HTTPS callback URL, shown in MCP Manager when a pre-registered server is added (not published)',
      placeholder: true,
    },
  ],
  // Its docs say it "refreshes them automatically from then on"; the field notes list refresh
  // tokens among what it needs from a server.
  refresh: 'required',
  // Registration is "a server-to-server call from MCP Manager's backend", and the gateway, not the
  // user's browser, is the MCP client of the upstream server.
  needsCors: false,
  protocolRevisions: 'unknown',
  reRegistersOnInvalidClient: 'unknown',
  inferred: ['dcrClientType', 'tokenAuthMethods', 'refresh'],
  sources: [
    {
      title: 'Building your own MCP server: overview (MCP Manager docs)',
      url: 'https://docs.mcpmanager.ai/build-your-own-mcp-server/overview',
      says: 'MCP Manager connects over Streamable HTTP only, rejects a server exposing only the legacy HTTP+SSE transport, and authenticates by standard OAuth with DCR, OAuth with client pre-registration, or a token in a custom header.',
    },
    {
      title: 'Debugging self-hosted OAuth (MCP Manager docs)',
      url: 'https://docs.mcpmanager.ai/build-your-own-mcp-server/debugging-self-hosted-oauth',
      says: 'MCP Manager fetches RFC 8414 and RFC 9728 metadata, POSTs to registration_endpoint from its backend, redirects the browser with PKCE to its fixed callback URL, stores tokens encrypted and refreshes them automatically; "Client Not Registered" usually means the server kept registered clients in one instance\'s memory.',
    },
    {
      title: 'Choosing remote authentication (MCP Manager docs)',
      url: 'https://docs.mcpmanager.ai/mcp-gateway-concepts/mcp-servers/choosing-remote-auth',
      says: 'MCP Manager first tries standard OAuth automatically; pre-registration takes a Client ID, a Client Secret and MCP Manager\'s callback URL entered at the provider; a header token is the third method.',
    },
    {
      title: 'Connecting MCP servers with OAuth pre-registration (MCP Manager knowledge base)',
      url: 'https://knowledge.mcpmanager.ai/hc/en-us/articles/44992750777357-Connecting-MCP-Servers-with-OAuth-Pre-Registration',
      says: 'A server that requires pre-registration fails the automatic handshake; the admin copies MCP Manager\'s redirect URL into the provider and supplies a Client ID and Client Secret.',
    },
    {
      title: 'Cloudflare Workers (MCP Manager docs)',
      url: 'https://docs.mcpmanager.ai/build-your-own-mcp-server/cloudflare',
      says: 'With workers-oauth-provider, set clientRegistrationEndpoint so MCP Manager can self-register; KV storage is durable but eventually consistent, so a call right after registration can briefly get invalid_client or 401.',
    },
    FIELD_NOTES,
  ],
  notes: [
    'Advertise registration_endpoint in the authorization server metadata: without it the automatic connection fails and an admin must pre-register a client by hand.',
    'Keep registered clients in storage every instance shares and that survives restarts; a client held in one process\'s memory gives "Client Not Registered" at the authorize step.',
    'Tolerate the token or authorize call that arrives right after registration: eventually consistent storage that answers invalid_client then breaks the first sign-in.',
    'Serve MCP over Streamable HTTP; a server offering only the legacy /sse and /messages endpoints is refused.',
    'Its exact callback URL is not published, so an authorization server that allow-lists callbacks must take it from the MCP Manager screen.',
    'Whether it re-registers on a 401 invalid_client, and which MCP protocol revisions it negotiates, are not stated in its public docs; the doctor assumes the 2025 revisions (initialize, up to 2025-11-25), as cli/README.md says.',
  ],
};

const CLAUDE: ClientProfile = {
  id: 'claude',
  name: 'Claude (claude.ai, Claude Desktop)',
  aliases: ['claude.ai', 'claude ai', 'claude desktop', 'claude web', 'claude mobile', 'cowork', 'claude connectors', 'custom connector', 'anthropic'],
  // "Claude supports both SSE- and Streamable HTTP-based remote servers, although support for SSE
  // may be deprecated in the coming months."
  transports: ['streamable-http', 'sse'],
  // Custom client id/secret entered in the connector's advanced settings avoid registration
  // entirely; otherwise CIMD when both metadata flags are there, else DCR. User-pasted bearer
  // tokens are "not yet supported", so no 'static-header'.
  registration: ['preregistered', 'cimd', 'dcr', 'none'],
  // Its DCR request asks for client_secret_post, but an Anthropic engineer says it "reads the auth
  // method from your response, not from what it sent", so a server may answer with "none".
  dcrClientType: 'either',
  tokenAuthMethods: ['client_secret_post', 'none'],
  callbacks: [
    { kind: 'https', example: 'https://claude.ai/api/mcp/auth_callback' },
    { kind: 'https', example: 'https://claude.com/api/mcp/auth_callback' },
  ],
  cimdClientIds: ['https://claude.ai/oauth/mcp-oauth-client-metadata'],
  // "Claude supports token expiry and refresh"; it refreshes reactively on 401 and proactively up
  // to five minutes before expiry, and asks for offline_access when the AS lists it.
  refresh: 'used-if-issued',
  // Every remote connection comes from Anthropic's cloud, even from Desktop, so no browser CORS.
  needsCors: false,
  // Documented as the auth specifications it supports; no 2026-07-28 support is documented.
  protocolRevisions: ['2025-11-25', '2025-06-18', '2025-03-26'],
  reRegistersOnInvalidClient: true,
  inferred: ['needsCors'],
  sources: [
    {
      title: 'Building custom connectors via remote MCP servers (Claude Help Center)',
      url: 'https://support.claude.com/en/articles/11503834-building-custom-connectors-via-remote-mcp-servers',
      says: 'Claude supports SSE and Streamable HTTP, authless and OAuth servers, DCR, re-registers when the token endpoint answers HTTP 401 invalid_client, accepts a custom client id and secret, calls back to https://claude.ai/api/mcp/auth_callback (allow https://claude.com/api/mcp/auth_callback too), supports token refresh, and connects from Anthropic\'s cloud.',
    },
    CLAUDE_AUTH_DOC,
    {
      title: 'Building connectors (Claude docs)',
      url: 'https://claude.com/docs/connectors/building',
      says: 'Claude supports the 2025-03-26, 2025-06-18 and 2025-11-25 auth specifications.',
    },
    {
      title: 'anthropics/claude-ai-mcp#82 (answer by an Anthropic engineer)',
      url: 'https://github.com/anthropics/claude-ai-mcp/issues/82',
      says: 'Claude asks for client_secret_post at registration but reads the auth method from the registration response, so a server may accept the request and return "none".',
    },
    {
      title: 'anthropics/claude-ai-mcp#667',
      url: 'https://github.com/anthropics/claude-ai-mcp/issues/667',
      says: 'A custom connector with a client id and secret authenticates with client_secret_post and does not fall back to client_secret_basic (open report).',
    },
    {
      title: 'anthropics/claude-ai-mcp#1043',
      url: 'https://github.com/anthropics/claude-ai-mcp/issues/1043',
      says: 'The hosted connector\'s DCR request asks for token_endpoint_auth_method client_secret_post and comes from Anthropic\'s backend (python-httpx, 160.79.104.0/21) (open report).',
    },
  ],
  notes: [
    'Allow both https://claude.ai/api/mcp/auth_callback and https://claude.com/api/mcp/auth_callback; Anthropic says the callback may move to the second.',
    'To be chosen for CIMD the metadata must advertise both client_id_metadata_document_supported: true and "none" in token_endpoint_auth_methods_supported; otherwise Claude falls back to DCR.',
    'With DCR it registers a new client on every fresh connection, so client storage grows with connections; do not refuse a registration that asks for client_secret_post, answer with the method you issue.',
    'Answer an unknown or deleted client at the token endpoint with HTTP 401 and error invalid_client so Claude registers again.',
    'Answer a dead refresh token with invalid_grant, rotate refresh tokens for public clients, and accept the token endpoint\'s application/x-www-form-urlencoded bodies (registration is JSON).',
    'List offline_access in scopes_supported if your authorization server issues refresh tokens only for it: Claude appends it only when it is listed.',
    'Return 401 with WWW-Authenticate: Bearer resource_metadata=... (a 200 carrying an error shows no sign-in), and make the metadata resource equal the URL exactly as the user typed it, path included.',
    'Claude uses only the first entry of authorization_servers and does not fall back to later ones.',
    'Answer discovery, registration and the code exchange within 10 seconds and refresh within 30; slower answers fail the flow even if they complete.',
    'Accept traffic from Anthropic\'s egress range 160.79.104.0/21 on the MCP server and the authorization server alike, and publish an IPv4 (A) record.',
  ],
};

const CHATGPT: ClientProfile = {
  id: 'chatgpt',
  name: 'ChatGPT (apps and connectors, developer mode, Apps SDK)',
  aliases: ['chat gpt', 'openai', 'apps sdk', 'apps-sdk', 'chatgpt apps', 'chatgpt connectors', 'developer mode'],
  // "Apps SDK supports both options, but we recommend Streamable HTTP."
  transports: ['streamable-http', 'sse'],
  // "ChatGPT prioritizes CIMD when it is available, but the connector creator can choose DCR";
  // predefined OAuth clients are supported; tools may be declared noauth. It "cannot present custom
  // API keys", so no 'static-header'.
  registration: ['cimd', 'dcr', 'preregistered', 'none'],
  dcrClientType: 'unknown',
  // For CIMD ChatGPT uses "none" or private_key_jwt; which secret method it uses for a DCR or
  // predefined client is not documented.
  tokenAuthMethods: ['none'],
  otherTokenAuthMethods: ['private_key_jwt'],
  callbacks: [
    { kind: 'https', example: 'https://chatgpt.com/connector/oauth/{callback_id}' },
    { kind: 'https', example: 'https://chatgpt.com/connector_platform_oauth_redirect' },
  ],
  refresh: 'unknown',
  // ChatGPT reaches MCP servers from OpenAI's published egress ranges with an OpenAI client
  // certificate, and signs CIMD token requests server-side: nothing runs in a browser.
  needsCors: false,
  protocolRevisions: 'unknown',
  reRegistersOnInvalidClient: 'unknown',
  inferred: ['tokenAuthMethods', 'needsCors'],
  sources: [
    {
      title: 'Authentication (Apps SDK)',
      url: 'https://developers.openai.com/apps-sdk/build/auth',
      says: 'ChatGPT supports CIMD (preferred, with "none" or private_key_jwt), DCR run once per connector instance, predefined OAuth clients and PKCE S256, sends resource on authorize and token requests, and redirects to https://chatgpt.com/connector/oauth/{callback_id} (legacy https://chatgpt.com/connector_platform_oauth_redirect still works).',
    },
    {
      title: 'MCP (Apps SDK concepts)',
      url: 'https://developers.openai.com/apps-sdk/concepts/mcp-server',
      says: 'The server can be hosted over Server-Sent Events or Streamable HTTP; Apps SDK supports both but recommends Streamable HTTP.',
    },
  ],
  notes: [
    'Allow the exact https://chatgpt.com/connector/oauth/{callback_id} shown on the app management page; the callback is per connector, not one fixed URL.',
    'Include S256 in code_challenge_methods_supported: ChatGPT runs authorization code with PKCE S256 and checks it in the metadata.',
    'Copy the resource parameter into the token audience: ChatGPT sends the protected resource metadata\'s resource value verbatim on both requests.',
    'When both CIMD and DCR are advertised the connector creator may pick either, so keep both working; with DCR one client is registered per connector instance and reused.',
    'Enable every OIDC scope you advertise in scopes_supported: ChatGPT requests advertised OIDC scopes by default.',
    'For the linking UI, declare securitySchemes on tools and return auth errors with _meta["mcp/www_authenticate"] carrying error and error_description.',
    'ChatGPT supports no machine-to-machine grants (client credentials, service accounts, JWT bearer) and no custom API keys.',
    'With CIMD its client_id is a document under https://chatgpt.com/oauth/ specific to the MCP server (the docs write it https://chatgpt.com/oauth/.../client.json), so allow-list by that prefix, not one URL.',
    'Whether its DCR client is confidential or public, whether it refreshes, and whether it re-registers on invalid_client are not documented.',
  ],
};

const CLAUDE_CODE: ClientProfile = {
  id: 'claude-code',
  name: 'Claude Code',
  aliases: ['claudecode', 'claude cli', 'claude code cli'],
  // `claude mcp add --transport http|sse`; HTTP is the recommended remote transport.
  transports: ['streamable-http', 'sse'],
  // --client-id/--client-secret skip registration; CIMD is discovered automatically; DCR otherwise;
  // --header / headersHelper for static credentials.
  registration: ['preregistered', 'cimd', 'dcr', 'static-header', 'none'],
  // Its CIMD document declares "none"; its DCR payload is not documented.
  dcrClientType: 'unknown',
  tokenAuthMethods: ['none', 'client_secret_post'],
  callbacks: [
    { kind: 'loopback', example: 'http://localhost:<port>/callback' },
    { kind: 'loopback', example: 'http://127.0.0.1:<port>/callback' },
  ],
  cimdClientIds: ['https://claude.ai/oauth/claude-code-client-metadata'],
  // MCP OAuth tokens "proactively refresh before expiration"; it appends offline_access when the
  // AS advertises it "so the access token can be refreshed without a new browser sign-in".
  refresh: 'used-if-issued',
  needsCors: false,
  // The v2 MCP client negotiates 2026-07-28 with direct HTTP servers by default and falls back to
  // initialize (2025-11-25) for servers that do not answer it.
  protocolRevisions: ['2026-07-28', '2025-11-25'],
  reRegistersOnInvalidClient: 'unknown',
  inferred: ['tokenAuthMethods', 'protocolRevisions'],
  sources: [
    {
      title: 'Connect Claude Code to tools via MCP',
      url: 'https://code.claude.com/docs/en/mcp',
      says: 'Remote servers use --transport http (recommended) or sse, OAuth 2.0 with a random callback port unless --callback-port fixes http://localhost:PORT/callback, --client-id/--client-secret for servers without DCR, automatic CIMD discovery, headersHelper and static headers, and offline_access appended for refresh.',
    },
    {
      title: 'Claude Code CHANGELOG',
      url: 'https://github.com/anthropics/claude-code/blob/main/CHANGELOG.md',
      says: 'MCP OAuth tokens refresh proactively before expiry (1.0.110), CIMD for servers without DCR (2.1.81), the --client-secret is sent for servers requiring client_secret_post (fix), 127.0.0.1 instead of localhost in the redirect URI (2.1.229), and the v2 MCP client negotiates MCP 2026-07-28 with direct HTTP servers by default (2.1.274).',
    },
    CLAUDE_AUTH_DOC,
    {
      title: 'Claude Code Client ID Metadata Document',
      url: 'https://claude.ai/oauth/claude-code-client-metadata',
      says: 'Declares redirect_uris http://localhost/callback and http://127.0.0.1/callback, grant types authorization_code and refresh_token, and token_endpoint_auth_method none.',
    },
  ],
  notes: [
    'Match loopback redirect URIs with the port ignored for both 127.0.0.1 and localhost: its CIMD document declares both without a port and it listens on an ephemeral one.',
    'A server that needs a pre-registered redirect URI must tell users to fix the port with --callback-port and register http://localhost:PORT/callback, the form its docs give; since 2.1.229 it sends 127.0.0.1 instead of localhost, so registering that form too is safer.',
    'Advertise client_id_metadata_document_supported (with "none") to be identified by its CIMD URL instead of a new DCR client per login.',
    'Answer 401 or 403 to an unauthenticated request so it offers the OAuth flow; a rejected static Authorization header is reported as a failed connection, not retried with OAuth.',
    'Answer its protocol-version probe (2026-07-28 server/discover) promptly, with a result or an error: before 2.1.232 a server that did not answer it, or answered it malformed, held the connection for the whole 30-second connect timeout.',
    'Its DCR payload and whether it re-registers after a 401 invalid_client are not documented.',
  ],
};

const VSCODE: ClientProfile = {
  id: 'vscode',
  name: 'VS Code (GitHub Copilot)',
  aliases: ['vs code', 'visual studio code', 'code', 'copilot', 'github copilot', 'copilot chat'],
  // Streamable HTTP, with "sse" supported as legacy.
  transports: ['streamable-http', 'sse'],
  // CIMD when the AS supports it, else DCR, else it asks the user for a client id (and secret);
  // static headers in mcp.json.
  registration: ['cimd', 'dcr', 'preregistered', 'static-header', 'none'],
  // fetchDynamicRegistration sends token_endpoint_auth_method "none" and application_type "native".
  dcrClientType: 'public',
  // It adds client_secret to the token request body when it has one.
  tokenAuthMethods: ['none', 'client_secret_post'],
  callbacks: [
    { kind: 'loopback', example: 'http://127.0.0.1:33418' },
    { kind: 'https', example: 'https://vscode.dev/redirect' },
  ],
  cimdClientIds: ['https://vscode.dev/oauth/client-metadata.json'],
  refresh: 'used-if-issued',
  // The desktop app runs OAuth and MCP requests from the extension host, not a web page. VS Code for
  // the Web was not examined.
  needsCors: false,
  protocolRevisions: ['2025-11-25'],
  reRegistersOnInvalidClient: 'unknown',
  inferred: ['needsCors'],
  sources: [
    {
      title: 'MCP developer guide (VS Code extension API docs)',
      url: 'https://code.visualstudio.com/api/extension-guides/ai/mcp',
      says: 'VS Code supports stdio, Streamable HTTP and legacy SSE, starts with DCR and falls back to a client id/secret the user enters, and the redirect list must include http://127.0.0.1:33418 and https://vscode.dev/redirect.',
    },
    {
      title: 'src/vs/base/common/oauth.ts (microsoft/vscode)',
      url: 'https://github.com/microsoft/vscode/blob/main/src/vs/base/common/oauth.ts',
      says: 'DCR registers client_name, grant_types authorization_code/refresh_token/device_code (filtered by the AS), redirect_uris https://insiders.vscode.dev/redirect, https://vscode.dev/redirect, http://127.0.0.1/ and http://127.0.0.1:33418/, token_endpoint_auth_method none and application_type native.',
    },
    {
      title: 'src/vs/workbench/api/common/extHostAuthentication.ts (microsoft/vscode)',
      url: 'https://github.com/microsoft/vscode/blob/main/src/vs/workbench/api/common/extHostAuthentication.ts',
      says: 'The dynamic authentication provider exchanges a stored refresh token for a new access token, and adds client_secret to the token request body when it has one.',
    },
    {
      title: 'Use CIMD if supported (microsoft/vscode#271403)',
      url: 'https://github.com/microsoft/vscode/pull/271403',
      says: 'When the authorization server supports the Client ID Metadata flow, VS Code uses the metadata URL from product.json as its client id.',
    },
    {
      title: 'Include logo_uri in VS Code CIMD metadata document (microsoft/vscode#298300)',
      url: 'https://github.com/microsoft/vscode/issues/298300',
      says: 'VS Code publishes its Client ID Metadata Document at https://vscode.dev/oauth/client-metadata.json.',
    },
    {
      title: 'VS Code and GitHub Copilot: MCP compatibility (Zuplo)',
      url: 'https://zuplo.com/learn/mcp/compatibility/clients/vs-code',
      says: 'Protocol revision 2025-11-25, verified in source, with no older-version fallback list; it tries Streamable HTTP and falls back to SSE, and caps a request at 128 tools.',
    },
    {
      title: 'Redirect URI mismatch when the default loopback port is unavailable (microsoft/vscode#278512)',
      url: 'https://github.com/microsoft/vscode/issues/278512',
      says: 'When port 33418 is taken VS Code authorizes with a random loopback port, which an authorization server matching redirect URIs exactly rejects.',
    },
    {
      title: 'MCP Authentication: VS Code does not evict client (microsoft/vscode#250960)',
      url: 'https://github.com/microsoft/vscode/issues/250960',
      says: 'After the server forgets a registered client VS Code keeps using it; the workaround is the command "Authentication: Remove Dynamic Authentication Providers" (open issue).',
    },
  ],
  notes: [
    'Allow http://127.0.0.1:33418 and https://vscode.dev/redirect; it falls back to another loopback port when 33418 is taken, so match loopback redirect URIs with the port ignored.',
    'A CIMD validator must accept its document although it lists urn:ietf:params:oauth:grant-type:device_code among its grant types.',
    'Accept registrations asking for token_endpoint_auth_method "none" with loopback redirect URIs and application_type native.',
    'Do not rely on it re-registering by itself: copies of its source differ (one generates a new client id on invalid_client and asks the user to retry, another keeps the stored registration), and an open issue reports it keeps a client the server forgot.',
    'Keep the tool list under 128: Copilot caps a request at 128 tools.',
  ],
};

const CURSOR: ClientProfile = {
  id: 'cursor',
  name: 'Cursor',
  aliases: ['cursor ide', 'cursor agent', 'cursor-agent'],
  // Its docs list stdio, Streamable HTTP and SSE.
  transports: ['streamable-http', 'sse'],
  // DCR by default; a static OAuth client through the `auth` object (CLIENT_ID, CLIENT_SECRET,
  // scopes); static headers. A CIMD-only server is reported not to work with it.
  registration: ['dcr', 'preregistered', 'static-header', 'none'],
  dcrClientType: 'public',
  tokenAuthMethods: ['none'],
  callbacks: [
    { kind: 'loopback', example: 'http://localhost:8787/callback' },
    { kind: 'https', example: 'https://www.cursor.com/agents/mcp/oauth/callback' },
    { kind: 'private-use', example: 'cursor://anysphere.cursor-mcp/oauth/callback' },
  ],
  refresh: 'unknown',
  // The desktop app connects from a native process, not a browser page; not documented.
  needsCors: false,
  protocolRevisions: 'unknown',
  reRegistersOnInvalidClient: 'unknown',
  inferred: ['dcrClientType', 'tokenAuthMethods', 'needsCors'],
  sources: [
    {
      title: 'Cursor MCP client (DevelopersDigest, quoting cursor.com/docs/mcp)',
      url: 'https://www.developersdigest.tech/mcp-servers/clients/cursor',
      says: 'Cursor\'s docs list stdio, Streamable HTTP and SSE and say it handles OAuth sign-in for remote servers.',
    },
    {
      title: 'idealo MCP auth proxy README (citing cursor.com/docs/mcp)',
      url: 'https://glama.ai/mcp/servers/Echsecutor/idealo-proxy/tree',
      says: 'Cursor desktop moved its MCP callback from cursor://anysphere.cursor-mcp/oauth/callback to http://localhost:8787/callback, Cursor web and agents use https://www.cursor.com/agents/mcp/oauth/callback, and mcp.json has no field to choose another redirect URI.',
    },
    {
      title: 'Getting started with Cursor (mittwald developer docs)',
      url: 'https://developer.mittwald.de/docs/v2/mcp/getting-connected/cursor',
      says: 'A url is enough for OAuth; a static OAuth client goes in an auth object with CLIENT_ID, CLIENT_SECRET and scopes, and its static redirect URI is cursor://anysphere.cursor-mcp/oauth/callback.',
    },
    {
      title: 'Cursor (PipesHub docs)',
      url: 'https://docs.pipeshub.com/mcp/cursor',
      says: 'Cursor discovers endpoints from the protected resource metadata and, when scopes are omitted, requests every scope in scopes_supported.',
    },
    {
      title: 'oauth: add opt-in Cursor support in broker mode via DCR compatibility (Altinity/altinity-mcp#169)',
      url: 'https://github.com/Altinity/altinity-mcp/issues/169',
      says: 'Cursor attempts DCR and cannot complete OAuth against a CIMD-only server; the verified flow has it register dynamically as a public client with PKCE S256.',
    },
  ],
  notes: [
    'Allow all three callbacks (http://localhost:8787/callback, https://www.cursor.com/agents/mcp/oauth/callback and the older cursor://anysphere.cursor-mcp/oauth/callback); users cannot choose another.',
    'Keep DCR advertised and accepting public clients: Cursor is reported not to use CIMD, so a CIMD-only server locks it out.',
    'An authorization server that rejects private-use schemes at registration locks out older Cursor desktop builds.',
    'List in scopes_supported only scopes you are willing to grant: without configured scopes Cursor requests all of them.',
    'Cursor\'s own documentation was read only through the pages quoting it; its refresh behaviour and protocol revision are not published.',
  ],
};

const MCP_INSPECTOR: ClientProfile = {
  id: 'mcp-inspector',
  name: 'MCP Inspector',
  aliases: ['inspector', 'mcp inspector', '@modelcontextprotocol/inspector', 'modelcontextprotocol inspector'],
  // --transport stdio | sse | http.
  transports: ['streamable-http', 'sse'],
  // Stored pre-registered client first, then CIMD when the user gave a metadata URL and the AS
  // supports it, then DCR (the default); custom headers.
  registration: ['preregistered', 'cimd', 'dcr', 'static-header', 'none'],
  dcrClientType: 'public',
  // DCR asks for "none"; with a pre-registered secret the SDK prefers client_secret_basic, then post.
  tokenAuthMethods: ['none', 'client_secret_basic', 'client_secret_post'],
  callbacks: [
    { kind: 'loopback', example: 'http://localhost:6274/oauth/callback' },
    { kind: 'loopback', example: 'http://127.0.0.1:6276/oauth/callback' },
  ],
  refresh: 'used-if-issued',
  // The web UI sends OAuth and MCP HTTP requests through its own Node backend (/api/fetch).
  needsCors: false,
  protocolRevisions: ['2026-07-28', '2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05'],
  reRegistersOnInvalidClient: true,
  // The revisions come from the SDK the Inspector pins (2.0.0), read at the SDK's newer main.
  inferred: ['protocolRevisions'],
  sources: [
    {
      title: 'core/auth/providers.ts (modelcontextprotocol/inspector, v2.3.0)',
      url: 'https://github.com/modelcontextprotocol/inspector/blob/main/core/auth/providers.ts',
      says: 'Client metadata sent for DCR: token_endpoint_auth_method none, grant types authorization_code and refresh_token, client_name MCP Inspector, application_type native; a stored pre-registered client is used before a dynamic one; invalidateCredentials("client") drops the registration.',
    },
    {
      title: 'core/auth/cimd.ts and core/auth/node/runner-oauth-callback.ts (modelcontextprotocol/inspector)',
      url: 'https://github.com/modelcontextprotocol/inspector/blob/main/core/auth/cimd.ts',
      says: 'A configured client metadata URL is used as the client id when the AS advertises client_id_metadata_document_supported; the CLI and TUI call back to http://127.0.0.1:6276/oauth/callback, the web UI to http://localhost:6274/oauth/callback.',
    },
    {
      title: 'core/mcp/remote/createRemoteFetch.ts and clients/web/README.md (modelcontextprotocol/inspector)',
      url: 'https://github.com/modelcontextprotocol/inspector/blob/main/core/mcp/remote/createRemoteFetch.ts',
      says: 'In the browser, OAuth and MCP HTTP requests are POSTed to the Inspector\'s own backend, which performs them in Node (no CORS).',
    },
    {
      title: 'MCP server configuration (modelcontextprotocol/inspector docs)',
      url: 'https://github.com/modelcontextprotocol/inspector/blob/main/docs/mcp-server-configuration.md',
      says: 'Transports stdio, sse and http; protocolEra defaults to "legacy" (initialize) and can be "auto" or "modern" (2026-07-28); oauth takes clientId, clientSecret, scopes and endpoint overrides.',
    },
    {
      title: 'packages/client/src/client/auth.ts (modelcontextprotocol/typescript-sdk, used by the Inspector)',
      url: 'https://github.com/modelcontextprotocol/typescript-sdk/blob/main/packages/client/src/client/auth.ts',
      says: 'auth() handles invalid_client or unauthorized_client by invalidating the stored client and tokens and authorizing again (registering anew), refreshes with a stored refresh_token, and selects client_secret_basic, then client_secret_post, then none.',
    },
    {
      title: 'packages/core/src/constants.ts (modelcontextprotocol/typescript-sdk)',
      url: 'https://github.com/modelcontextprotocol/typescript-sdk/blob/main/packages/core/src/constants.ts',
      says: 'The SDK\'s initialize handshake offers 2025-11-25 and accepts 2025-06-18, 2025-03-26, 2024-11-05 and 2024-10-07; and it defines the per-request _meta envelope of protocol revision 2026-07-28.',
    },
  ],
  notes: [
    'Match loopback redirect URIs exactly or with the port ignored: the web UI uses port 6274 and the CLI/TUI port 6276 unless --callback-url changes it.',
    'Accept public-client registrations with application_type native and loopback redirect URIs; DCR is its default.',
    'Its default protocol era is the 2025 initialize handshake; it reaches 2026-07-28 only when the user picks the auto or modern era.',
    'CIMD works only with a metadata document the user hosts and points it to; it publishes none of its own.',
  ],
};

/** Every profile, MCP Manager first (it is the client the doctor's pass/fail line is drawn for). */
export const PROFILES: readonly ClientProfile[] = [MCP_MANAGER, CLAUDE, CHATGPT, CLAUDE_CODE, VSCODE, CURSOR, MCP_INSPECTOR];

export const DEFAULT_CLIENT: ClientId = 'mcp-manager';

/** Lower case, with runs of spaces, underscores and hyphens as one space: 'VS_Code', 'vs-code' and 'vs  code' match. */
function normalise(name: string): string {
  return name.trim().toLowerCase().replace(/[\s_-]+/g, ' ');
}

/**
 * The profile whose id, display name or alias is `name`, case-insensitively ('claude.ai',
 * 'vs code', 'inspector', 'claude-code' ...); undefined for anything else.
 */
export function findProfile(name: string): ClientProfile | undefined {
  const wanted = normalise(name);
  if (wanted === '') return undefined;
  return PROFILES.find((profile) => [profile.id, profile.name, ...(profile.aliases ?? [])].some((candidate) => normalise(candidate) === wanted));
}
