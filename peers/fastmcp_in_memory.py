"""FastMCP with its in-memory OAuth provider (fastmcp.server.auth.providers.in_memory): dynamic
registration on, revocation on, authorization auto-approved (the provider has no sign-in). Serves
MCP over Streamable HTTP at /mcp on a free loopback port and prints {"ready": true, "url": ...}."""

import asyncio

from common import announce, bind_loopback
from fastmcp import FastMCP
from fastmcp.server.auth.providers.in_memory import InMemoryOAuthProvider
from mcp.server.auth.settings import ClientRegistrationOptions, RevocationOptions


def main() -> None:
    sock = bind_loopback()
    port = sock.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"
    auth = InMemoryOAuthProvider(
        base_url=base_url,
        client_registration_options=ClientRegistrationOptions(enabled=True),
        revocation_options=RevocationOptions(enabled=True),
    )
    server = FastMCP("fastmcp-in-memory-peer", auth=auth)

    @server.tool
    def echo(text: str) -> str:
        """Returns its argument."""
        return text

    announce(url=f"{base_url}/mcp")
    asyncio.run(server.run_http_async(transport="http", host="127.0.0.1", port=port, sockets=[sock], show_banner=False, log_level="warning"))


if __name__ == "__main__":
    main()
