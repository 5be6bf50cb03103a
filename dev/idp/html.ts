// HTML for the pages the dev IdP renders itself. Every interpolated value goes
// through escapeHtml; the only raw fragment is the logout form oidc-provider builds.

export function escapeHtml(value: string): string {
  return value
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

const STYLE = `
  body { font-family: system-ui, sans-serif; background: #f4f4f5; margin: 0; }
  main { max-width: 22rem; margin: 4rem auto; padding: 1.5rem 2rem; background: #fff;
         border-radius: 8px; box-shadow: 0 1px 3px rgb(0 0 0 / 0.15); }
  label { display: block; margin-top: 0.75rem; }
  input { box-sizing: border-box; width: 100%; padding: 0.4rem; font-size: 1rem; }
  button { margin-top: 1rem; padding: 0.5rem 1rem; font-size: 1rem; }
  .error { color: #b91c1c; }
  .note { color: #52525b; font-size: 0.9rem; }
`;

function layout(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

export interface LoginPageOptions {
  /** Where the form posts the credentials to. */
  readonly action: string;
  /** Pre-filled login name (the previous attempt, or the request's login_hint). */
  readonly login?: string;
  readonly error?: string;
}

export function loginPage({ action, login = '', error }: LoginPageOptions): string {
  const errorBlock = error === undefined ? '' : `<p class="error" role="alert">${escapeHtml(error)}</p>\n`;
  return layout(
    'Dev IdP — sign in',
    `<h1>Dev IdP — sign in</h1>
${errorBlock}<form method="post" action="${escapeHtml(action)}">
<label for="login">Login</label>
<input id="login" name="login" autocomplete="username" value="${escapeHtml(login)}" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit" id="sign-in">Sign in</button>
</form>
<p class="note">Dev accounts: alice / alice, bob / bob</p>`,
  );
}

export function messagePage(title: string, message: string): string {
  return layout(title, `<h1>${escapeHtml(title)}</h1>\n<p>${escapeHtml(message)}</p>`);
}

/** RP-initiated logout confirmation; `form` is oidc-provider's hidden form (with its XSRF token). */
export function logoutPage(form: string): string {
  return layout(
    'Dev IdP — sign out',
    `<h1>Sign out of the Dev IdP?</h1>
${form}
<button type="submit" form="op.logoutForm" name="logout" value="yes" autofocus>Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button>`,
  );
}
