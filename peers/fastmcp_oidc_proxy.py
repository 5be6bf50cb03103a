"""FastMCP's OIDC proxy (fastmcp.server.auth.oidc_proxy.OIDCProxy) in front of an upstream OpenID
provider: MCP clients register with FastMCP, sign in at the upstream through FastMCP's consent page,
and FastMCP verifies the upstream's access token as a JWT against the upstream's JWKS (its default
verifier). Serves MCP over Streamable HTTP at /mcp and prints {"ready": true, "url": ...}.

Arguments: --port (FastMCP's; the upstream must already know its callback,
http://127.0.0.1:<port>/auth/callback), --config-url (the upstream's OpenID configuration),
--client-id and --client-secret (FastMCP's client at the upstream). Client registrations and tokens
are kept in memory (key_value's MemoryStore), not in FastMCP's default file store in the user's data
folder, so a run leaves nothing behind."""

import argparse
import asyncio
import secrets

from common import announce, bind_loopback
from fastmcp import FastMCP
from fastmcp.server.auth.oidc_proxy import OIDCProxy
from key_value.aio.stores.memory import MemoryStore


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--config-url", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    # FastMCP forwards the client's RFC 8707 resource to the upstream by default; an IdP that does
    # not know that resource refuses the sign-in (invalid_target). Operators of such IdPs turn it off.
    parser.add_argument("--forward-resource", choices=["on", "off"], default="on")
    # debug: FastMCP logs why it refuses a token (the harness reads it to confirm the doctor's finding).
    parser.add_argument("--log-level", choices=["debug", "info", "warning"], default="warning")
    args = parser.parse_args()

    sock = bind_loopback(args.port)
    base_url = f"http://127.0.0.1:{args.port}"
    auth = OIDCProxy(
        config_url=args.config_url,
        client_id=args.client_id,
        client_secret=args.client_secret,
        base_url=base_url,
        client_storage=MemoryStore(),
        jwt_signing_key=secrets.token_hex(32),
        forward_resource=args.forward_resource == "on",
        # What OpenID providers need to sign a user in; FastMCP asks the upstream for these scopes.
        required_scopes=["openid"],
    )
    server = FastMCP("fastmcp-oidc-proxy-peer", auth=auth)

    @server.tool
    def echo(text: str) -> str:
        """Returns its argument."""
        return text

    announce(url=f"{base_url}/mcp")
    asyncio.run(server.run_http_async(transport="http", host="127.0.0.1", port=args.port, sockets=[sock], show_banner=False, log_level=args.log_level))


if __name__ == "__main__":
    main()
