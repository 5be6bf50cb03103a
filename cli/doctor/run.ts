/**
 * The doctor as a function: runs the six steps in order against one MCP URL and returns the report.
 * Each step gets what the one before found, and the run goes as far as the server lets it: a server
 * that refuses confidential clients is still signed in to with a public one, a server whose MCP
 * endpoint refuses the tokens still has its refresh and revocation checked, a server without OAuth
 * has its MCP checked without credentials. Only what leaves nothing to go on (no metadata, no code,
 * no tokens) stops the run; every item not reached is then SKIP with the reason, and the facts
 * (context.ts) say the same as data.
 */
import { redactKnownSecrets } from './redact.ts';
import { checkAuthorization } from './authorization.ts';
import { Checklist, ITEMS, type DoctorRun, type Step } from './checklist.ts';
import { DEFAULT_CLIENT } from './profiles.ts';
import { verdictsFor, type ClientVerdict } from './verdict.ts';
import { initialFacts, type DoctorContext, type DoctorOptions } from './context.ts';
import { HttpClient } from './http.ts';
import { checkLifecycle } from './lifecycle.ts';
import { checkMcp } from './mcp.ts';
import { checkProtectedResource } from './protected-resource.ts';
import { checkRegistration } from './registration.ts';
import { checkServerMetadata } from './server-metadata.ts';

export type { DoctorFacts, DoctorOptions, TimedOutRequest } from './context.ts';
export type { DoctorReport, DoctorRun, ItemId, ItemResult, Status } from './checklist.ts';
export type { ClientVerdict, VerdictLevel } from './verdict.ts';

export async function runDoctor(options: DoctorOptions): Promise<DoctorRun> {
  const started = new Date();
  const log = options.log ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const http = new HttpClient(options.verbose ? log : undefined, { timeoutMs: options.requestTimeoutMs });
  http.addSecret(options.login?.password);
  // Every detail and fix is cleared of the secrets the run has learnt: the report is printed without --verbose.
  const checklist = new Checklist((text) => redactKnownSecrets(text, http.secrets));
  const facts = initialFacts();
  const ctx: DoctorContext = { options, http, checklist, facts, say: log };
  // Chromium starts while discovery and registration run; failures surface at sign-in, where they are reported.
  const launching = options.login && !options.skipAuth ? import('../lib/browser-login.ts').then(({ launchBrowser }) => launchBrowser()).catch(() => undefined) : undefined;
  try {
    await runSteps(ctx);
  } finally {
    if (launching) {
      // Settled first, so a launch still under way is not left running after the close.
      await launching;
      const { closeBrowser } = await import('../lib/browser-login.ts');
      await closeBrowser();
    }
  }
  facts.timeouts = http.timeouts.map((timedOut) => ({ ...timedOut, request: redactKnownSecrets(timedOut.request, http.secrets) }));
  const report = checklist.report(options.url, started, new Date(), facts);
  const verdicts = verdictsFor(report);
  const chosen = options.client ?? DEFAULT_CLIENT;
  return { ...report, verdict: verdicts.find((verdict) => verdict.client === chosen) ?? (verdicts[0] as ClientVerdict), verdicts };
}

/** OAuth's steps: skipped as a whole for a server that needs no OAuth. */
const OAUTH_STEPS: ReadonlySet<Step> = new Set(['resource', 'server', 'registration', 'authorization', 'lifecycle']);

async function runSteps(ctx: DoctorContext): Promise<void> {
  const { checklist, facts } = ctx;
  if (!isHttpUrl(ctx.options.url)) {
    checklist.fail('resource.challenge', `not an http(s) URL: ${JSON.stringify(ctx.options.url)}`, 'Give the doctor the MCP endpoint as you would enter it in MCP Manager, e.g. https://mcp.example.com/mcp.');
    checklist.block('no MCP URL to check', 'resource.challenge');
    return;
  }
  const discovery = await checkProtectedResource(ctx);
  if (!discovery) return;
  if (discovery.kind === 'no-oauth') {
    // MCP Manager connects without OAuth: with no credentials, or a static header such a server ignores.
    const reason = 'no OAuth: the MCP URL answers without credentials (resource.challenge)';
    for (const id of Object.keys(ITEMS) as Array<keyof typeof ITEMS>) if (OAUTH_STEPS.has(ITEMS[id].step)) checklist.skip(id, reason);
    ctx.http.withoutCredentials = true;
    await checkMcp(ctx, undefined);
    return;
  }
  const { resource } = discovery;
  const server = await checkServerMetadata(ctx, resource);
  if (!server) return;
  const clients = await checkRegistration(ctx, server);
  if (ctx.options.skipAuth) {
    checklist.block('--skip-auth: no sign-in');
    return;
  }
  // MCP Manager's kind of client first; without one, the public client most other clients are.
  const client = clients.confidential ?? clients.public;
  if (!client) return;
  facts.authorizedAs = clients.confidential ? 'confidential' : 'public';
  const authorized = await checkAuthorization(ctx, resource, server, client);
  if (!authorized) return;
  const mcpWorks = await checkMcp(ctx, authorized.tokens.accessToken);
  await checkLifecycle(ctx, resource, server, authorized, mcpWorks);
}

function isHttpUrl(value: string): boolean {
  try {
    const { protocol } = new URL(value);
    return protocol === 'https:' || protocol === 'http:';
  } catch {
    return false;
  }
}
