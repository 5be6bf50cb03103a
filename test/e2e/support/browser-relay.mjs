// The "browser" a command-line client opens during its OAuth sign-in, in the end-to-end tests.
// Clients open URLs through xdg-open, which runs $BROWSER with the URL; this script hands the URL to
// the test process (MCP_TEST_BROWSER_RELAY, a loopback server), which plays the user: consent page,
// IdP login, and the redirect back to the client's own loopback callback. Plain .mjs on purpose:
// it runs on the bare Node that launched it, with no TypeScript loader.
const relay = process.env.MCP_TEST_BROWSER_RELAY;
const url = process.argv[2];
if (!relay || !url) process.exit(2);
const response = await fetch(`${relay}?url=${encodeURIComponent(url)}`);
process.exit(response.ok ? 0 : 1);
