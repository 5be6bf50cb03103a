// The dev IdP's own interaction routes, served next to oidc-provider's routes:
//   GET  /interaction/:uid        login form, or automatic consent
//   POST /interaction/:uid/login  credential check
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errors, type Interaction, type Provider } from 'oidc-provider';

import { verifyCredentials } from './accounts.js';
import { loginPage, messagePage } from './html.js';

/** Where oidc-provider sends the browser for an interaction (its `interactions.url`). */
export function interactionPath(uid: string): string {
  return `/interaction/${encodeURIComponent(uid)}`;
}

const MAX_FORM_BYTES = 8 * 1024;
const INVALID_CREDENTIALS = 'Invalid login or password.';

type InteractionRoute = { readonly action: 'show' | 'login'; readonly uid: string };

class HttpError extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** Recognises the two interaction routes; anything else belongs to oidc-provider. */
export function matchInteractionRoute(method: string | undefined, pathname: string): InteractionRoute | undefined {
  const match = /^\/interaction\/([\w-]+)(\/login)?$/.exec(pathname);
  if (match === null) return undefined;
  const uid = match[1];
  if (uid === undefined) return undefined;
  if (method === 'GET' && match[2] === undefined) return { action: 'show', uid };
  if (method === 'POST' && match[2] !== undefined) return { action: 'login', uid };
  return undefined;
}

export async function handleInteraction(
  provider: Provider,
  route: InteractionRoute,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  try {
    const interaction = await provider.interactionDetails(req, res);
    // The cookie names the interaction; a URL for a different one is stale or forged.
    if (interaction.uid !== route.uid) {
      throw new HttpError(400, 'This sign-in link does not match the current sign-in attempt.');
    }
    if (route.action === 'show') {
      await show(provider, interaction, req, res);
    } else {
      await login(provider, interaction, req, res);
    }
  } catch (error) {
    if (error instanceof HttpError) {
      sendHtml(res, error.status, messagePage('Dev IdP — error', error.message));
    } else if (error instanceof errors.SessionNotFound) {
      sendHtml(
        res,
        400,
        messagePage('Dev IdP — sign-in expired', 'This sign-in attempt has expired. Start again from the application.'),
      );
    } else {
      throw error;
    }
  }
}

async function show(
  provider: Provider,
  interaction: Interaction,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  switch (interaction.prompt.name) {
    case 'login': {
      const hint = interaction.params['login_hint'];
      const login = typeof hint === 'string' ? hint : '';
      sendHtml(res, 200, loginPage({ action: loginAction(interaction), login }));
      return;
    }
    case 'consent': {
      // The IdP's only client is the dev client, so consent is implied: grant exactly what is missing.
      const grantId = await grantMissing(provider, interaction);
      await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
      return;
    }
    default:
      throw new HttpError(400, `Unsupported interaction prompt: ${interaction.prompt.name}`);
  }
}

async function login(
  provider: Provider,
  interaction: Interaction,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  if (interaction.prompt.name !== 'login') {
    throw new HttpError(400, 'This sign-in attempt does not expect a login.');
  }
  const form = await readForm(req);
  const loginName = form.get('login') ?? '';
  const account = verifyCredentials(loginName, form.get('password') ?? '');
  if (account === undefined) {
    sendHtml(res, 401, loginPage({ action: loginAction(interaction), login: loginName, error: INVALID_CREDENTIALS }));
    return;
  }
  // oidc-provider then runs its consent check and, with a grant missing, starts a
  // consent interaction, which show() approves without a screen.
  await provider.interactionFinished(req, res, { login: { accountId: account.sub } }, { mergeWithLastSubmission: false });
}

function loginAction(interaction: Interaction): string {
  return `${interactionPath(interaction.uid)}/login`;
}

async function grantMissing(provider: Provider, interaction: Interaction): Promise<string> {
  const accountId = interaction.session?.accountId;
  const clientId = interaction.params['client_id'];
  if (accountId === undefined || typeof clientId !== 'string') {
    throw new HttpError(400, 'Consent requested without a signed-in user.');
  }
  const existing = interaction.grantId === undefined ? undefined : await provider.Grant.find(interaction.grantId);
  const grant = existing ?? new provider.Grant({ accountId, clientId });

  const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = interaction.prompt.details;
  if (missingOIDCScope !== undefined) grant.addOIDCScope(missingOIDCScope.join(' '));
  if (missingOIDCClaims !== undefined) grant.addOIDCClaims(missingOIDCClaims);
  for (const [resource, scopes] of Object.entries(missingResourceScopes ?? {})) {
    grant.addResourceScope(resource, scopes.join(' '));
  }
  return grant.save();
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const contentType = req.headers['content-type'];
  if (typeof contentType !== 'string' || !contentType.startsWith('application/x-www-form-urlencoded')) {
    throw new HttpError(415, 'Expected an application/x-www-form-urlencoded form.');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const bytes: Buffer = chunk; // typed `any` by @types/node; Buffers unless setEncoding() was called
    size += bytes.byteLength;
    if (size > MAX_FORM_BYTES) throw new HttpError(413, 'Form too large.');
    chunks.push(bytes);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

export function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  // No form-action directive: browsers apply it to the redirect chain after the
  // POST, which ends at the client's redirect_uri on another origin.
  res.setHeader('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'");
  res.end(html);
}
