"""The replay server: recorded external APIs over real HTTP on 127.0.0.1 (stdlib only).

A call to ``https://<host><path>?<query>`` is made as ``http://127.0.0.1:8090/<host><path>?<query>``
(the DAGs do this when ``EB_DAGS_REPLAY_URL`` is set, as it is in the local profile).

Control endpoints, for tests and drills::

    GET  /health                   {"status": "ok", "apis": [...]}
    GET  /_replay/stats            requests served per host (and faults injected)
    POST /_replay/faults           {"<host>": {"mode": "500" | "timeout", "times": -1, "match": ""}}
                                   (-1 = until cleared; only requests whose path+query contain `match`)
    DELETE /_replay/faults

    >>> server = ReplayServer(port=0).start()       # a free port, in a thread
    >>> server.url
    'http://127.0.0.1:41234'
    >>> server.stop()
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlsplit

from local.replay.apis import ROUTES


class ReplayServer:
    """Serves ``apis.ROUTES``; ``faults`` make a host answer 500 or hang (``timeout_s``)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8090, timeout_s: float = 30.0) -> None:
        self.faults: dict[str, dict[str, Any]] = {}
        self.stats: Counter[str] = Counter()
        self.fault_hits: Counter[str] = Counter()
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer((host, port), self._handler())
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ReplayServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="replay", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def inject(self, host: str, mode: str, times: int = -1, match: str = "") -> None:
        """Make ``host`` answer 500 (or hang past the client's timeout) ``times`` times (-1: until
        cleared), for the requests whose path and query contain ``match`` (all when empty)."""
        if mode not in ("500", "timeout"):
            raise ValueError(f"fault mode {mode!r}: use '500' or 'timeout'")
        with self._lock:
            self.faults[host] = {"mode": mode, "times": times, "match": match}

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def _fault(self, host: str, raw_path: str) -> str | None:
        with self._lock:
            fault = self.faults.get(host)
            if not fault or fault["times"] == 0 or fault["match"] not in unquote_plus(raw_path):
                return None
            if fault["times"] > 0:
                fault["times"] -= 1
            self.fault_hits[host] += 1
            return str(fault["mode"])

    def answer(self, method: str, raw_path: str, body: bytes) -> tuple[int, Any]:
        parts = urlsplit(raw_path)
        path = parts.path
        if path == "/health":
            return 200, {"status": "ok", "apis": sorted({h for h, _, _ in ROUTES})}
        if path == "/_replay/stats":
            return 200, {"requests": dict(self.stats), "faults_served": dict(self.fault_hits), "faults": self.faults}
        if path == "/_replay/faults":
            if method == "DELETE":
                self.clear()
                return 200, {"faults": {}}
            try:
                for host, f in json.loads(body or b"{}").items():
                    self.inject(host, str(f.get("mode", "500")), int(f.get("times", -1)), str(f.get("match", "")))
            except (ValueError, AttributeError, TypeError) as exc:
                return 400, {"error": f"bad fault spec: {exc} — send {{host: {{mode: '500'|'timeout', times: n}}}}"}
            return 200, {"faults": self.faults}
        host, _, api_path = path.lstrip("/").partition("/")
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        if method == "POST" and body:  # Overpass takes its query as a form body too
            query.update(parse_qsl(body.decode(errors="replace")))
        for route_host, pattern, handler in ROUTES:
            if route_host == host and (m := pattern.match("/" + api_path)):
                self.stats[host] += 1
                fault = self._fault(host, raw_path)
                if fault:
                    self.stats[f"{host} {fault}"] += 1
                if fault == "500":
                    return 500, {"error": "Internal Server Error (injected by the replay server)"}
                if fault == "timeout":
                    time.sleep(self.timeout_s)
                    return 504, {"error": "Gateway Timeout (injected by the replay server)"}
                try:
                    return handler(m, query)
                except (ValueError, KeyError) as exc:
                    return 400, {"error": f"bad request: {exc}"}
        return 404, {"error": f"no recording for {host}/{api_path} — recorded APIs: "
                              f"{', '.join(sorted({h for h, _, _ in ROUTES}))}"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                status, payload = server.answer(method, self.path, self.rfile.read(length) if length else b"")
                data = json.dumps(payload, ensure_ascii=False).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout drill)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_DELETE(self) -> None:
                self._serve("DELETE")

            def log_message(self, format: str, *args: Any) -> None:
                pass  # stats are on /_replay/stats; one line per request would flood the stack log

        return Handler
