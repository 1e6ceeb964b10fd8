"""``/metrics``, ``/healthz`` (the loop is alive) and ``/readyz`` (partitions assigned and
state restored), served from a daemon thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

# The loop beats at least every poll (well under a second); 30 s without a beat means stuck.
HEALTH_TIMEOUT = 30.0


class Health:
    def __init__(self) -> None:
        self.last_beat = time.monotonic()
        self.ready = False

    def beat(self) -> None:
        self.last_beat = time.monotonic()

    def alive(self) -> bool:
        return time.monotonic() - self.last_beat < HEALTH_TIMEOUT


class _ThreadingHTTPServer6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def url(host: str, port: int, path: str) -> str:
    """``http://host:port/path``, an IPv6 address in brackets.

    >>> url("::", 9464, "/metrics"), url("127.0.0.1", 9464, "/metrics")
    ('http://[::]:9464/metrics', 'http://127.0.0.1:9464/metrics')
    """
    return f"http://[{host}]:{port}{path}" if ":" in host else f"http://{host}:{port}{path}"


def serve(host: str, port: int, registry: CollectorRegistry, health: Health) -> ThreadingHTTPServer:
    routes: dict[str, Callable[[], tuple[int, bytes, str]]] = {
        "/metrics": lambda: (200, generate_latest(registry), CONTENT_TYPE_LATEST),
        "/healthz": lambda: (200, b"ok\n", "text/plain") if health.alive() else (503, b"stuck\n", "text/plain"),
        "/readyz": lambda: (200, b"ready\n", "text/plain") if health.ready else (503, b"not ready\n", "text/plain"),
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            route = routes.get(self.path.split("?")[0])
            code, body, ctype = route() if route else (404, b"not found\n", "text/plain")
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    # an IPv6 address (``::``, ``::1``) needs a server of that family (ThreadingHTTPServer is IPv4)
    server_class = _ThreadingHTTPServer6 if ":" in host else ThreadingHTTPServer
    server = server_class((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="driftline-http", daemon=True).start()
    return server
