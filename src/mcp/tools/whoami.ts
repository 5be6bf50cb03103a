import { defineTool, toolJson } from './define';

export const whoami = defineTool({
  name: 'whoami',
  title: 'Who am I',
  description: 'Returns the signed-in identity (user id, email, name, upstream IdP) and the scopes of the token used for this call.',
  inputSchema: {},
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  scopes: ['profile'],
  async run(_args, { auth }) {
    const { userId, email, name, upstream, login } = auth.user;
    return toolJson({ userId, email, name, login, upstream, clientId: auth.clientId, scopes: auth.scopes });
  },
});
