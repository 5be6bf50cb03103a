"""Shared start-up for the peer servers: a socket bound on loopback first (port 0 unless given), so
the server's own URLs can name the port it really has, and one JSON line on stdout that the test
harness waits for. Never binds anything but 127.0.0.1."""

import json
import os
import socket
import sys

# No network here or in CI: FastMCP's banner would otherwise look for updates on PyPI.
os.environ.setdefault("FASTMCP_CHECK_FOR_UPDATES", "off")
os.environ.setdefault("FASTMCP_SHOW_SERVER_BANNER", "false")


def bind_loopback(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def announce(**fields: object) -> None:
    """The one line the harness reads: where the server is, as JSON."""
    sys.stdout.write(json.dumps({"ready": True, **fields}) + "\n")
    sys.stdout.flush()
