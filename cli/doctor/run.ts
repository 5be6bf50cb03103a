/**
 * The doctor as a function: runs the six steps in order against one MCP URL and returns the report.
 * Each step gets what the one before found; a step that cannot go on stops the run, and every item
 * not reached is reported SKIP with the reason.
 */
import { checkAuthorization } from './authorization.ts';
import { Checklist, type DoctorReport } from './checklist.ts';
import type { DoctorContext, DoctorOptions } from './context.ts';
import { HttpClient } from './http.ts';
import { checkLifecycle } from './lifecycle.ts';
import { checkMcp } from './mcp.ts';
import { checkProtectedResource } from './protected-resource.ts';
import { checkRegistration } from './registration.ts';
import { checkServerMetadata } from './server-metadata.ts';

export type { DoctorOptions } from './context.ts';
export type { DoctorReport, ItemId, ItemResult, Status } from './checklist.ts';

export async function runDoctor(options: DoctorOptions): Promise<DoctorReport> {
  const started = new Date();
  const log = options.log ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const http = new HttpClient(options.verbose ? log : undefined);
  http.addSecret(options.login?.password);
  const checklist = new Checklist();
  const ctx: DoctorContext = { options, http, checklist, say: log };
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
  return checklist.report(options.url, started, new Date());
}

async function runSteps(ctx: DoctorContext): Promise<void> {
  const resource = await checkProtectedResource(ctx);
  if (!resource) return;
  const server = await checkServerMetadata(ctx, resource);
  if (!server) return;
  const client = await checkRegistration(ctx, server);
  if (!client) return;
  if (ctx.options.skipAuth) {
    ctx.checklist.block('--skip-auth: no sign-in');
    return;
  }
  const authorized = await checkAuthorization(ctx, resource, server, client);
  if (!authorized) return;
  if (!(await checkMcp(ctx, authorized.tokens.accessToken))) return;
  await checkLifecycle(ctx, resource, server, authorized);
}
