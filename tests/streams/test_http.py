"""The metrics and health endpoint (streams/http.py) on real sockets, IPv4 and IPv6."""

from __future__ import annotations

import urllib.request

import pytest
from driftline.streams.http import Health, serve
from prometheus_client import CollectorRegistry


@pytest.mark.parametrize(("host", "url_host"), [("127.0.0.1", "127.0.0.1"), ("::1", "[::1]"), ("::", "[::1]")])
def test_the_endpoint_listens_on_ipv4_and_ipv6_addresses(host, url_host):
    """``http.host: "::"`` is how an IPv6-only cluster scrapes driftline (it was refused:
    "Address family for hostname not supported")."""
    health = Health()
    health.ready = True
    server = serve(host, 0, CollectorRegistry(), health)
    try:
        port = server.server_address[1]
        for path, body in (("/healthz", b"ok\n"), ("/readyz", b"ready\n")):
            with urllib.request.urlopen(f"http://{url_host}:{port}{path}", timeout=10) as response:
                assert (response.status, response.read()) == (200, body)
    finally:
        server.shutdown()
        server.server_close()
