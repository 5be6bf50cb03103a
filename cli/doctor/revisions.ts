/**
 * Step 5, continued: which protocol revisions the MCP URL answers, probed the way each era's
 * clients open — `server/discover` as a 2026-07-28 client sends it, `initialize` asking for
 * 2025-11-25 — and, when it speaks 2026-07-28, whether it enforces that revision's request headers.
 *
 * MCP Manager's own path (the 2025 revisions over Streamable HTTP, `mcp.initialize`) stays the
 * pass/fail line: these items warn at most.
 * @see https://modelcontextprotocol.io/specification/2026-07-28/basic/versioning#backward-compatibility-with-initialization-based-versions
 * @see https://modelcontextprotocol.io/specification/2026-07-28/basic/transports/streamable-http#server-validation
 */
import type { DoctorContext } from './context.ts';
import {
  describeRevisions,
  discoverOutcome,
  endSession,
  headerCheckOutcome,
  initializeOutcome,
  initializeRequest,
  LEGACY_PROTOCOL_VERSION,
  MODERN_PROTOCOL_VERSION,
  modernHeaders,
  modernRequest,
  postRpc,
  type DiscoverOutcome,
  type InitializeOutcome,
} from './wire.ts';

/** A tool name no server has: a server that ignores the headers answers "unknown tool", and runs nothing. */
const PROBE_TOOL = 'mcp-doctor-no-such-tool';

export interface Revisions {
  discover: DiscoverOutcome;
  initialize: InitializeOutcome;
  /** The URL answers 2026-07-28 requests. */
  modern: boolean;
}

export async function checkRevisions(ctx: DoctorContext, accessToken: string): Promise<Revisions> {
  const { http, checklist } = ctx;
  const url = ctx.options.url;

  const discoverBody = modernRequest(1, 'server/discover');
  const discover = discoverOutcome(await postRpc(http, url, accessToken, discoverBody, modernHeaders(discoverBody)));

  const initializeAnswer = await postRpc(http, url, accessToken, initializeRequest(1, LEGACY_PROTOCOL_VERSION));
  const initialize = initializeOutcome(initializeAnswer);
  // A sessionful server opened a session for the probe: end it.
  if (initializeAnswer.sessionId) await endSession(http, url, accessToken, initializeAnswer.sessionId);

  const detail = describeRevisions(discover, initialize);
  const modern = discover.kind === 'modern';
  if (modern && initialize.kind === 'answered') {
    checklist.pass('mcp.revisions', detail);
  } else if (initialize.kind === 'answered') {
    checklist.warn(
      'mcp.revisions',
      detail,
      `MCP Manager speaks the 2025 revisions and needs nothing more; for the newest clients, also serve MCP ${MODERN_PROTOCOL_VERSION} on this URL (server/discover and per-request _meta; MCP ${MODERN_PROTOCOL_VERSION}, versioning).`,
    );
  } else if (modern) {
    checklist.warn(
      'mcp.revisions',
      detail,
      `MCP Manager speaks the 2025 revisions over Streamable HTTP: answer initialize on this URL too, as a dual-era server (MCP ${MODERN_PROTOCOL_VERSION}, versioning, "Backward Compatibility").`,
    );
  } else {
    checklist.warn(
      'mcp.revisions',
      detail,
      `Serve MCP over Streamable HTTP on this URL: initialize (${LEGACY_PROTOCOL_VERSION}) for MCP Manager, and server/discover (${MODERN_PROTOCOL_VERSION}) for the newest clients.`,
    );
  }
  return { discover, initialize, modern };
}

/**
 * 2026-07-28 servers MUST refuse a request whose standard headers are missing or disagree with its
 * body, with 400 and HeaderMismatch (-32020): intermediaries route on the headers, servers run the
 * body. Two requests: one without `Mcp-Method`, and a tools/call whose `Mcp-Name` is not the body's
 * tool (one that does not exist, so a server that lets it through runs nothing).
 */
export async function checkRequestHeaders(ctx: DoctorContext, accessToken: string, revisions: Revisions): Promise<void> {
  const { http, checklist } = ctx;
  if (!revisions.modern) {
    checklist.skip('mcp.request-headers', `the server does not answer ${MODERN_PROTOCOL_VERSION} (mcp.revisions)`);
    return;
  }
  const url = ctx.options.url;

  const listBody = modernRequest(2, 'tools/list');
  const { 'Mcp-Method': _method, ...withoutMethod } = modernHeaders(listBody);
  const noMethod = headerCheckOutcome(await postRpc(http, url, accessToken, listBody, withoutMethod));

  const callBody = modernRequest(3, 'tools/call', { name: PROBE_TOOL, arguments: {} });
  const wrongName = headerCheckOutcome(await postRpc(http, url, accessToken, callBody, { ...modernHeaders(callBody), 'Mcp-Name': `${PROBE_TOOL}-in-the-header` }));

  const probes = [
    { label: 'without Mcp-Method', outcome: noMethod },
    { label: 'Mcp-Name not the body’s', outcome: wrongName },
  ];
  const detail = probes.map(({ label, outcome }) => `${label}: ${outcome.kind === 'enforced' ? '400 HeaderMismatch (-32020)' : outcome.detail}`).join('; ');
  if (probes.every(({ outcome }) => outcome.kind === 'enforced')) {
    checklist.pass('mcp.request-headers', detail);
  } else {
    checklist.warn(
      'mcp.request-headers',
      detail,
      `Refuse a ${MODERN_PROTOCOL_VERSION} request whose Mcp-Method or Mcp-Name header is missing or differs from its body with HTTP 400 and JSON-RPC error -32020 HeaderMismatch (MCP ${MODERN_PROTOCOL_VERSION}, Streamable HTTP transport, "Server Validation").`,
    );
  }
}
