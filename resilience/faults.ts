/**
 * Row "faults": the dev IdP killed (connections refused) or hung (accepted, never answered) at each
 * step of a sign-in, then brought back, with the Worker running throughout. At each step: what the
 * person sees in the browser, what reaches the client's redirect URI, what retrying that step does
 * once the IdP is back, and whether a whole new sign-in then works, without restarting the Worker.
 *
 * The steps, in the order a sign-in takes them:
 * - "Allow, IdP never reached yet": the consent page is shown (the Worker has not needed the IdP
 *   yet); the person clicks Allow, and the Worker must read the IdP's discovery document to send the
 *   browser on. Run before any sign-in succeeds, while the Worker has no discovery cached.
 * - "Allow": the same with discovery cached: the Worker sends the browser to the IdP's
 *   authorization endpoint without contacting it, and the browser meets the fault.
 * - "login form submitted": the IdP's login form is shown; the person submits it.
 * - "IdP's redirect to /callback": the IdP has sent the browser back to the Worker with its code;
 *   the Worker exchanges it at the IdP (token endpoint, keys).
 * - "after the sign-in": the client's code exchange, tool calls and refresh, which need only the
 *   Worker (tokens are the Worker's own, not the IdP's).
 */
import * as oauth from 'oauth4webapi';
import { discover, exchangeCode, refresh, startAuthorization, type AuthorizationStart, type Discovery, type RegisteredClient } from '../cli/lib/oauth-client.ts';
import { approveConsent, Browser, describeOutcome, fillLogin, pageSummary, type Outcome } from './browser.ts';
import { APP_CALLBACK, callTool, errorText, mcpClient, register, USERS } from './client.ts';
import { freePort, log, startProject, track } from './harness.ts';
import { startFrontedIdp, type FaultProxy, type ProxyMode } from './idp-front.ts';
import type { Check, FaultObservation } from './report.ts';

/** How long the person waits for a page of the IdP itself (hung: it never comes). */
const PATIENCE_AT_IDP_MS = 3_000;
/** How long the person waits for a page of the Worker: above its 10 s deadline for the IdP. */
const PATIENCE_AT_WORKER_MS = 20_000;
/** The Worker must answer the browser within this, whatever the IdP does (its deadline is 10 s). */
const WORKER_ANSWER_BOUND_MS = 15_000;

const USER = USERS[0];

interface Context {
  discovery: Discovery;
  registered: RegisteredClient;
  proxy: FaultProxy;
  workerOrigin: string;
  mcpUrl: string;
}

/** One sign-in, driven one browser step at a time. */
class Attempt {
  readonly browser = new Browser(APP_CALLBACK);
  last: Outcome | undefined;
  /** The login form as last submitted, to submit it again. */
  loginForm: { url: URL; form: URLSearchParams } | undefined;

  private constructor(
    private readonly context: Context,
    readonly start: AuthorizationStart,
  ) {}

  static async begin(context: Context): Promise<Attempt> {
    const start = await startAuthorization(context.discovery.server, context.registered.client, { redirectUri: APP_CALLBACK, resource: context.discovery.resourceMetadata.resource });
    const attempt = new Attempt(context, start);
    attempt.last = await attempt.browser.go(start.url);
    if (!approveConsent(attempt.last)) throw new Error(`no consent page: ${attempt.describe(attempt.last)}`);
    return attempt;
  }

  /** Clicks Allow on the consent page shown last. */
  async allow(patienceMs: number): Promise<Outcome> {
    const form = approveConsent(this.last as Outcome);
    if (!form) throw new Error(`Allow: no consent page (${this.describe(this.last)})`);
    this.last = await this.browser.go(form.url, { form: form.form, patienceMs });
    return this.last;
  }

  /** Submits the IdP's login form shown last; stops before the browser is sent to the Worker's /callback if asked. */
  async submitLogin(patienceMs: number, stopBeforeCallback = false): Promise<Outcome> {
    const form = fillLogin(this.last as Outcome, USER.login, USER.password);
    if (!form) throw new Error(`login: no login form (${this.describe(this.last)})`);
    this.loginForm = form;
    this.last = await this.browser.go(form.url, { form: form.form, patienceMs, stopBefore: stopBeforeCallback ? (url) => this.isWorkerCallback(url) : undefined });
    return this.last;
  }

  async go(url: URL, patienceMs: number, form?: URLSearchParams): Promise<Outcome> {
    this.last = await this.browser.go(url, { form, patienceMs });
    return this.last;
  }

  /** From wherever the browser is, the rest of the sign-in with the IdP working. */
  async complete(): Promise<Outcome> {
    for (let step = 0; step < 5; step++) {
      const last = this.last as Outcome;
      if (last.kind === 'redirect' && this.isAppCallback(last.url)) return last;
      if (last.kind === 'redirect') await this.go(last.url, PATIENCE_AT_WORKER_MS);
      else if (approveConsent(last)) await this.allow(PATIENCE_AT_WORKER_MS);
      else if (fillLogin(last, USER.login, USER.password)) await this.submitLogin(PATIENCE_AT_WORKER_MS);
      else return last;
    }
    return this.last as Outcome;
  }

  isWorkerCallback(url: URL): boolean {
    return url.origin === this.context.workerOrigin && url.pathname === '/callback';
  }

  isAppCallback(url: URL): boolean {
    const app = new URL(APP_CALLBACK);
    return url.origin === app.origin && url.pathname === app.pathname;
  }

  describe(outcome: Outcome | undefined): string {
    return outcome ? describeOutcome(outcome, { worker: this.context.workerOrigin, idp: this.context.proxy.url, app: new URL(APP_CALLBACK).origin }) : 'nothing';
  }

  /**
   * What the client makes of the browser arriving at its redirect URI: sent there, or offered a link
   * there by the Worker's page (what it gets if the person follows it); nothing otherwise.
   */
  async clientView(outcome: Outcome | undefined = this.last): Promise<{ text: string; tokens?: oauth.TokenEndpointResponse; error?: string; via?: string }> {
    if (outcome?.kind === 'redirect' && this.isAppCallback(outcome.url)) return this.clientAt(outcome.url);
    if (outcome?.kind === 'page') {
      const back = pageSummary(outcome.html).links.find((link) => this.isAppCallback(new URL(link.href, outcome.url)));
      if (back) {
        const view = await this.clientAt(new URL(back.href, outcome.url));
        return { text: `nothing, unless the person follows "${back.text}": then ${view.text}`, error: view.error, via: back.text };
      }
    }
    return { text: 'nothing: the browser never came back' };
  }

  private async clientAt(url: URL): Promise<{ text: string; tokens?: oauth.TokenEndpointResponse; error?: string }> {
    try {
      const tokens = await exchangeCode(this.context.discovery.server, this.context.registered, this.start, url, this.context.discovery.resourceMetadata.resource);
      return { text: 'a code, exchanged for tokens', tokens };
    } catch (error) {
      if (error instanceof oauth.AuthorizationResponseError) {
        return { text: `error=${error.error}${error.error_description ? ` "${error.error_description}"` : ''} (state and iss valid)`, error: error.error };
      }
      return { text: `an answer it refuses: ${errorText(error)}`, error: 'invalid' };
    }
  }

  /** The Worker's "try again" link on the page shown last (back to its /authorize), if any. */
  retryLink(): URL | undefined {
    const last = this.last;
    if (last?.kind !== 'page') return undefined;
    const link = pageSummary(last.html).links.find((candidate) => {
      const url = new URL(candidate.href, last.url);
      return url.origin === this.context.workerOrigin && url.pathname === '/authorize';
    });
    return link ? new URL(link.href, last.url) : undefined;
  }

  /** Worker pages answered 5xx, or later than the bound. */
  workerProblems(): string[] {
    return this.browser.hops
      .filter((hop) => new URL(hop.url).origin === this.context.workerOrigin)
      .flatMap((hop) => [
        // 503 is the page saying the IdP did not answer (its way back to the client is checked separately).
        ...(hop.status !== undefined && hop.status >= 500 && hop.status !== 503 ? [`the Worker answered ${hop.method} ${new URL(hop.url).pathname} with HTTP ${hop.status}`] : []),
        ...(hop.ms > WORKER_ANSWER_BOUND_MS ? [`the Worker took ${(hop.ms / 1000).toFixed(1)} s to answer ${hop.method} ${new URL(hop.url).pathname}`] : []),
        ...(hop.error ? [`the Worker did not answer ${hop.method} ${new URL(hop.url).pathname}: ${hop.error}`] : []),
      ]);
  }
}

/** A whole new sign-in with the IdP working, its code exchanged and a tool call made with the token. */
async function nextSignIn(context: Context): Promise<string> {
  try {
    const attempt = await Attempt.begin(context);
    await attempt.complete();
    const client = await attempt.clientView();
    if (!client.tokens) return `failed: ${attempt.describe(attempt.last)}; client: ${client.text}`;
    const whoami = await callTool(await mcpClient(context.mcpUrl, client.tokens.access_token, '2026-07-28'), 'whoami');
    return whoami.ok ? 'works (code, tokens, whoami)' : `tokens, but whoami: ${whoami.problem}`;
  } catch (error) {
    return `failed: ${errorText(error)}`;
  }
}

const MODE: Record<FaultObservation['fault'], ProxyMode> = { killed: 'refuse', hung: 'hang' };

interface Observed {
  observation: Omit<FaultObservation, 'retry' | 'nextSignIn' | 'pass' | 'rule'>;
  /** What the step must show (beyond the common rules), checked when judging. */
  expect: (observation: FaultObservation) => string[];
  /** With the IdP back: retries the failed step, returns what happened. */
  retry: () => Promise<string>;
  problems: string[];
}

const RULE_WORKER = "the Worker answers within 15 s, never 500; the client gets error=temporarily_unavailable with its state and the right iss (at once, or by the page's way back); with the IdP back, a new sign-in works, the Worker not restarted";
const RULE_BROWSER = 'the Worker is not involved (nothing from it but its own pages, no 5xx); the client gets nothing; with the IdP back, a new sign-in works, the Worker not restarted';
const RULE_AFTER = 'nothing needs the IdP: code exchange, tool call and refresh work; a new sign-in works once the IdP is back';

interface Scenario {
  step: string;
  rule: string;
  fault: FaultObservation['fault'];
  observe(context: Context): Promise<Observed>;
}

/** Faults the IdP, then runs `run` (the step that meets the fault); the caller brings the IdP back. */
async function withFault<T>(proxy: FaultProxy, fault: FaultObservation['fault'], run: () => Promise<T>): Promise<T> {
  proxy.resetCounts();
  await proxy.set(MODE[fault]);
  return run();
}

function observed(attempt: Attempt, step: string, fault: FaultObservation['fault'], outcome: Outcome, client: { text: string; error?: string; via?: string }, proxy: FaultProxy): Omit<FaultObservation, 'retry' | 'nextSignIn' | 'pass' | 'rule'> {
  const person =
    outcome.kind === 'page'
      ? `HTTP ${outcome.status} page "${pageSummary(outcome.html).heading ?? outcome.text.slice(0, 40)}"`
      : outcome.kind === 'redirect'
        ? 'sent back to the app'
        : `the IdP's page fails (${outcome.error})`;
  const gets = client.error ? `error=${client.error}${client.via ? ` by the page's "${client.via.replace(/ .*/, '')}" link` : ''}` : client.text.startsWith('nothing') ? 'nothing' : client.text;
  return { step, fault, summary: `${person}; client: ${gets}`, user: attempt.describe(outcome), client: client.text, waitedSeconds: outcome.ms / 1000, idpConnections: { ...proxy.counts } };
}

/** The client gets `error` with its state and the right iss: sent back at once, or through the page's way back. */
const errorForClient = (error: string) => (observation: FaultObservation) =>
  observation.client.includes(`error=${error}`) && observation.client.includes('(state and iss valid)') ? [] : [`expected the client to get error=${error} with a valid state and iss, got: ${observation.client}`];
const nothingForClient = (observation: FaultObservation) => (observation.client.startsWith('nothing') ? [] : [`expected nothing at the client, got: ${observation.client}`]);

/** Allow, before the Worker has ever reached the IdP: it needs the discovery document now. */
function allowCold(fault: FaultObservation['fault']): Scenario {
  const step = 'Allow clicked, the IdP never reached before (no discovery cached)';
  return {
    step,
    rule: RULE_WORKER,
    fault,
    async observe(context) {
      const attempt = await Attempt.begin(context);
      const form = approveConsent(attempt.last as Outcome);
      const outcome = await withFault(context.proxy, fault, () => attempt.allow(PATIENCE_AT_WORKER_MS));
      const client = await attempt.clientView(outcome);
      return {
        observation: observed(attempt, step, fault, outcome, client, context.proxy),
        expect: errorForClient('temporarily_unavailable'),
        problems: attempt.workerProblems(),
        retry: async () => {
          const link = attempt.retryLink();
          if (link) return retryAndFinish(attempt, link, '"Try signing in again"');
          // No such link: back in the browser, Allow again (the form as it was).
          if (!form) return 'no form to post again';
          const again = await attempt.go(form.url, PATIENCE_AT_WORKER_MS, form.form);
          return `Allow again: ${attempt.describe(again)}`;
        },
      };
    },
  };
}

/** Allow with discovery cached: the Worker redirects to the IdP at once, and the browser meets the fault. */
function allowWarm(fault: FaultObservation['fault']): Scenario {
  const step = 'Allow clicked: the browser is sent to the IdP';
  return {
    step,
    rule: RULE_BROWSER,
    fault,
    async observe(context) {
      const attempt = await Attempt.begin(context);
      const outcome = await withFault(context.proxy, fault, () => attempt.allow(PATIENCE_AT_IDP_MS));
      const client = await attempt.clientView(outcome);
      return {
        observation: observed(attempt, step, fault, outcome, client, context.proxy),
        expect: nothingForClient,
        problems: attempt.workerProblems(),
        retry: () => retryAndFinish(attempt, outcome.kind === 'failed' ? outcome.url : undefined, 'reload the IdP page'),
      };
    },
  };
}

/** The IdP's login form is shown; the person submits it. */
function loginSubmitted(fault: FaultObservation['fault']): Scenario {
  const step = 'login form shown, then submitted';
  return {
    step,
    rule: RULE_BROWSER,
    fault,
    async observe(context) {
      const attempt = await Attempt.begin(context);
      await attempt.allow(PATIENCE_AT_WORKER_MS);
      const outcome = await withFault(context.proxy, fault, () => attempt.submitLogin(PATIENCE_AT_IDP_MS));
      const client = await attempt.clientView(outcome);
      return {
        observation: observed(attempt, step, fault, outcome, client, context.proxy),
        expect: nothingForClient,
        problems: attempt.workerProblems(),
        retry: async () => {
          const form = attempt.loginForm;
          if (!form) return 'no login form to submit again';
          await attempt.go(form.url, PATIENCE_AT_WORKER_MS, form.form);
          return retryAndFinish(attempt, undefined, 'submit the form again');
        },
      };
    },
  };
}

/** The IdP has redirected the browser to the Worker's /callback with its code; the Worker must exchange it. */
function codeExchange(fault: FaultObservation['fault']): Scenario {
  const step = "IdP's redirect to the Worker's /callback (the Worker exchanges the IdP's code)";
  return {
    step,
    rule: RULE_WORKER,
    fault,
    async observe(context) {
      const attempt = await Attempt.begin(context);
      await attempt.allow(PATIENCE_AT_WORKER_MS);
      const atCallback = await attempt.submitLogin(PATIENCE_AT_WORKER_MS, true);
      if (atCallback.kind !== 'redirect' || !attempt.isWorkerCallback(atCallback.url)) throw new Error(`expected the IdP's redirect to /callback, got ${attempt.describe(atCallback)}`);
      const outcome = await withFault(context.proxy, fault, () => attempt.go(atCallback.url, PATIENCE_AT_WORKER_MS));
      const client = await attempt.clientView(outcome);
      return {
        observation: observed(attempt, step, fault, outcome, client, context.proxy),
        expect: errorForClient('temporarily_unavailable'),
        problems: attempt.workerProblems(),
        retry: async () => {
          const link = attempt.retryLink();
          if (link) return retryAndFinish(attempt, link, '"Try signing in again"');
          // No such link: the browser's back button, the same /callback URL, code and all, again.
          const again = await attempt.go(atCallback.url, PATIENCE_AT_WORKER_MS);
          const view = again.kind === 'redirect' ? ` → client: ${(await attempt.clientView(again)).text}` : '';
          return `reload /callback: ${attempt.describe(again)}${view}`;
        },
      };
    },
  };
}

/** The sign-in is done (the browser is back at the app with a code); everything after it needs only the Worker. */
function afterSignIn(fault: FaultObservation['fault']): Scenario {
  const step = "after the sign-in: the client's code exchange, a tool call, a refresh";
  return {
    step,
    rule: RULE_AFTER,
    fault,
    async observe(context) {
      const attempt = await Attempt.begin(context);
      const done = await attempt.complete();
      const began = performance.now();
      const text = await withFault(context.proxy, fault, async () => {
        const client = await attempt.clientView(done);
        if (!client.tokens) return `the code exchange failed: ${client.text}`;
        const whoami = await callTool(await mcpClient(context.mcpUrl, client.tokens.access_token, '2025-11-25'), 'whoami');
        if (!whoami.ok) return `tokens, but whoami: ${whoami.problem}`;
        try {
          await refresh(context.discovery.server, context.registered, client.tokens.refresh_token as string);
        } catch (error) {
          return `tokens and whoami, but the refresh: ${errorText(error)}`;
        }
        return 'tokens, whoami and a refresh all work';
      });
      return {
        observation: { step, fault, summary: text, user: attempt.describe(done), client: text, waitedSeconds: (performance.now() - began) / 1000, idpConnections: { ...context.proxy.counts } },
        expect: (observation) => (observation.client === 'tokens, whoami and a refresh all work' ? [] : [observation.client]),
        problems: attempt.workerProblems(),
        retry: async () => 'nothing to retry',
      };
    },
  };
}

/** With the IdP back: `url` loaded (the failed page, or the Worker's retry link) unless undefined, then the rest of the sign-in and the client's exchange. */
async function retryAndFinish(attempt: Attempt, url: URL | undefined, what: string): Promise<string> {
  if (url) await attempt.go(url, PATIENCE_AT_WORKER_MS);
  const end = await attempt.complete();
  const client = await attempt.clientView(end);
  return client.tokens ? `${what}: the sign-in completes, the client gets its tokens` : `${what}: ${attempt.describe(end)}; client: ${client.text}`;
}

export async function faultsRow(): Promise<{ checks: Check[]; details: { problems: Record<string, string[]> }; faults: FaultObservation[] }> {
  const port = await freePort();
  const origin = `http://localhost:${port}`;
  log('faults: starting the dev IdP behind the fault proxy, and the system…');
  const front = await startFrontedIdp([`${origin}/callback`, `http://127.0.0.1:${port}/callback`]);
  const closeFront = track('fault proxy and dev IdP', () => front.close());
  try {
    const system = await startProject('faults system', {
      port,
      devIdp: false,
      vars: { UPSTREAM: 'oidc', OIDC_ISSUER: front.proxy.url, OIDC_CLIENT_ID: front.idp.clientId, OIDC_CLIENT_SECRET: front.idp.clientSecret, RATE_LIMITS: 'off' },
    });
    try {
      const discovery = await discover(system.mcpUrl);
      const context: Context = { discovery, registered: await register(discovery, 'Faults'), proxy: front.proxy, workerOrigin: system.origin, mcpUrl: system.mcpUrl };
      // The two cold steps are observed first, both before any sign-in has succeeded (a failed
      // discovery is not cached; a successful one is, for an hour); their recoveries follow.
      const groups: Scenario[][] = [
        [allowCold('killed'), allowCold('hung')],
        [allowWarm('killed')],
        [allowWarm('hung')],
        [loginSubmitted('killed')],
        [loginSubmitted('hung')],
        [codeExchange('killed')],
        [codeExchange('hung')],
        [afterSignIn('killed')],
        [afterSignIn('hung')],
      ];
      const faults: FaultObservation[] = [];
      const problems: Record<string, string[]> = {};
      for (const group of groups) {
        const seen: (Observed & { rule: string })[] = [];
        for (const scenario of group) {
          log(`faults: IdP ${scenario.fault} at "${scenario.step}"…`);
          try {
            seen.push({ ...(await scenario.observe(context)), rule: scenario.rule });
          } catch (error) {
            faults.push({ step: scenario.step, fault: scenario.fault, rule: scenario.rule, summary: `could not be set up: ${errorText(error)}`, user: 'the step could not be set up', client: errorText(error), waitedSeconds: 0, idpConnections: { accepted: 0, held: 0 }, retry: '', nextSignIn: '', pass: false });
          } finally {
            await front.proxy.set('forward');
          }
        }
        for (const entry of seen) {
          const retry = await entry.retry().catch((error: unknown) => `failed: ${errorText(error)}`);
          const next = await nextSignIn(context);
          const observation: FaultObservation = { ...entry.observation, rule: entry.rule, retry, nextSignIn: next, pass: false };
          const found = [...entry.problems, ...entry.expect(observation), ...(next.startsWith('works') ? [] : [`next sign-in: ${next}`])];
          observation.pass = found.length === 0;
          problems[`${observation.step} (${observation.fault})`] = found;
          faults.push(observation);
          log(`faults:   ${observation.fault}: user: ${observation.user}; client: ${observation.client}; retry: ${retry}; next sign-in: ${next}${found.length ? `; PROBLEMS: ${found.join('; ')}` : ''}`);
        }
      }
      const checks: Check[] = faults.map((f) => ({
        row: 'faults',
        name: `IdP ${f.fault}: ${f.step}`,
        summary: `${f.summary}; next sign-in ${f.nextSignIn.startsWith('works') ? 'works' : 'FAILS'}`,
        result: `person: ${f.user}; client: ${f.client}; next sign-in ${f.nextSignIn}`,
        rule: f.rule,
        pass: f.pass,
      }));
      return { checks, details: { problems }, faults };
    } finally {
      await system.stop();
    }
  } finally {
    await closeFront();
  }
}
