"""A process's HTTP status endpoint: a few GET routes, each answered from a callable, on 127.0.0.1.

The CDC relay (``/metrics`` Prometheus text, ``/status`` JSON) and the simulators (``/status``) serve
their numbers through it; the console's Sources and Lag pages read them.

    >>> import urllib.request
    >>> server = StatusServer({"/status": json_route(lambda: {"state": "streaming"})}, port=0).start()
    >>> urllib.request.urlopen(f"http://127.0.0.1:{server.port}/status").read()
    b'{"state": "streaming"}'
    >>> server.close()

Bound to 127.0.0.1 unless told otherwise: the figures are for tools on the same machine or task (the
console, a sidecar scraper), not for the network. A route is matched on the path without its query.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: A route's answer: (body, Content-Type), computed per request.
Route = Callable[[], tuple[bytes, str]]
PROMETHEUS_TEXT = "text/plain; version=0.0.4"


def json_route(snapshot: Callable[[], Any]) -> Route:
    """A route answering ``snapshot()`` as JSON (non-JSON values as their ``str``)."""
    return lambda: (json.dumps(snapshot(), default=str).encode(), "application/json")


def text_route(render: Callable[[], str], content_type: str = PROMETHEUS_TEXT) -> Route:
    """A route answering ``render()`` as text (Prometheus exposition format by default)."""
    return lambda: (render().encode(), content_type)


class StatusServer:
    """Serves ``routes`` from a daemon thread until ``close()``; ``port`` 0 picks a free port."""

    def __init__(self, routes: Mapping[str, Route], port: int, host: str = "127.0.0.1",
                 name: str = "status-server") -> None:
        self.routes = dict(routes)
        self.name = name
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                route = owner.routes.get(self.path.split("?", 1)[0])
                if route is None:
                    self.send_error(404, f"try {' or '.join(owner.routes)}")
                    return
                body, content_type = route()
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass  # a scrape every few seconds is not worth a log line

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.port: int = self.httpd.server_address[1]
        self._thread: threading.Thread | None = None

    def start(self) -> StatusServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name=self.name, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:  # shutdown() waits for serve_forever: only when it was started
            self.httpd.shutdown()
            self._thread = None
        self.httpd.server_close()
