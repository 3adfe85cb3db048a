"""The replay server: recorded external APIs over real HTTP on 127.0.0.1 (stdlib only).

A call to ``https://<host><path>?<query>`` is made as ``http://127.0.0.1:8090/<host><path>?<query>``
(the DAGs do this when ``EB_DAGS_REPLAY_URL`` is set, as it is in the local profile). Besides each API's
own failures (``apis.py``), faults can be injected per host, and hosts can be rate limited the way the
real ones are (Nominatim: one request a second, else 429).

Control endpoints, for tests and drills::

    GET    /health            {"status": "ok", "apis": [...]}
    GET    /_replay/stats     requests per host, faults served, the most concurrent requests per host
    GET    /_replay/log       one entry per request: host, path, status, start, end (monotonic s); ?host=
    DELETE /_replay/stats     reset counters and log
    POST   /_replay/faults    {"<host>": {"mode": "500"|"timeout"|"429"|"403"|"slow"|"nulls", "times": -1,
                               "match": "", "retry_after": 2, "delay_s": 1.5, "variables": ""}}
                              (-1 = until cleared; nulls: those hourly variables, "" = all, null in every hour)
                              a bad spec (unknown host, mode or key; a number sent as a string) is a 400
                              naming it, and no fault of that request is set
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
from collections import Counter, deque
from datetime import UTC, date, datetime
from datetime import time as clock_time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlsplit

from local.replay.apis import HOSTS, ROUTES
from local.replay.base import Answer, Request

MODES = ("500", "timeout", "429", "403", "slow", "nulls")
#: The real services' own limits, applied by the stack's replay program (``python -m local.replay``).
DEFAULT_RATE_LIMITS = {"nominatim.openstreetmap.org": 1.0}


class ReplayServer:
    """Serves ``apis.ROUTES``; ``faults`` make a host fail, ``rate_limits`` ({host: seconds}) make it answer
    429 to a request that follows the previous one sooner; ``today`` (its 00:00 UTC) or ``now`` moves the APIs'
    date windows and what has been published (the ECB's rates of a day from about 16:00 CET)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8090, timeout_s: float = 30.0,
                 rate_limits: dict[str, float] | None = None, today: date | None = None,
                 now: datetime | None = None) -> None:
        self.faults: dict[str, dict[str, Any]] = {}
        self.stats: Counter[str] = Counter()
        self.fault_hits: Counter[str] = Counter()
        self.in_flight: Counter[str] = Counter()
        self.max_concurrent: Counter[str] = Counter()
        self.log: deque[dict[str, Any]] = deque(maxlen=20000)
        self.rate_limits = dict(rate_limits or {})
        self._last_call: dict[str, float] = {}
        self.timeout_s = timeout_s
        self.today = today
        #: A fixed clock (tests: "the run at Friday 01:00 UTC"); else the start of ``today``, else the real time.
        self.now = now
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

    def inject(self, host: str, mode: str, times: int = -1, match: str = "", retry_after: float | None = None,
               delay_s: float = 0.0, variables: str = "") -> None:
        """Make ``host`` fail ``times`` times (-1: until cleared) for requests whose path and query contain
        ``match``: ``500``; ``timeout`` (hang ``timeout_s``, then 504); ``429`` (with ``Retry-After`` when
        ``retry_after`` is given); ``403`` (the proxy refusing everything); ``slow`` (answer after ``delay_s``);
        ``nulls`` (Open-Meteo: a 200 whose hourly ``variables`` — comma-separated, "" = all — are null in every
        hour, as for days the model does not hold). Raises ``ValueError`` naming what is wrong with the spec
        (an unknown host or mode, a non-number)."""
        fault = _fault_spec(host, {"mode": mode, "times": times, "match": match, "retry_after": retry_after,
                                   "delay_s": delay_s, "variables": variables})
        with self._lock:
            self.faults[host] = fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def reset(self) -> None:
        with self._lock:
            self.stats.clear()
            self.fault_hits.clear()
            self.max_concurrent.clear()
            self.log.clear()

    def reset_all(self) -> None:
        """As just started: no faults, counters or log, and the rate limits' clocks forgotten (so a host's
        first request is never too soon) — a test's own state, whatever ran before it on this server."""
        self.clear()
        self.reset()
        with self._lock:
            self._last_call.clear()

    def _fault(self, host: str, raw_path: str) -> dict[str, Any] | None:
        with self._lock:
            fault = self.faults.get(host)
            if not fault or fault["times"] == 0 or fault["match"] not in unquote_plus(raw_path):
                return None
            if fault["times"] > 0:
                fault["times"] -= 1
            self.fault_hits[host] += 1
            return dict(fault)

    def _too_soon(self, host: str) -> bool:
        limit = self.rate_limits.get(host)
        if not limit:
            return False
        with self._lock:
            now = time.monotonic()
            if now - self._last_call.get(host, -1e9) < limit:
                return True
            self._last_call[host] = now
            return False

    def control(self, method: str, path: str, query: dict[str, str], body: bytes) -> Answer | None:
        if path == "/health":
            return Answer(200, {"status": "ok", "apis": HOSTS})
        if path == "/_replay/stats":
            if method == "DELETE":
                self.reset()
            return Answer(200, {"requests": dict(self.stats), "faults_served": dict(self.fault_hits),
                                "faults": self.faults, "max_concurrent": dict(self.max_concurrent)})
        if path == "/_replay/log":
            host = query.get("host")
            return Answer(200, {"log": [e for e in list(self.log) if not host or e["host"] == host]})
        if path == "/_replay/faults":
            if method == "DELETE":
                self.clear()
                return Answer(200, {"faults": {}})
            try:
                specs = json.loads(body or b"{}")
                if not isinstance(specs, dict):
                    raise ValueError(f"the body must be a JSON object {{host: spec}}, not {type(specs).__name__}")
                # every spec checked before any is applied: a bad one leaves the faults as they were
                checked = {host: _fault_spec(host, f) for host, f in specs.items()}
            except ValueError as exc:  # json.JSONDecodeError is a ValueError
                return Answer(400, {"error": f"bad fault spec: {exc}"})
            with self._lock:
                self.faults.update(checked)
            return Answer(200, {"faults": self.faults})
        return None

    def answer(self, method: str, raw_path: str, body: bytes, headers: dict[str, str] | None = None) -> Answer:
        parts = urlsplit(raw_path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        if (ctl := self.control(method, parts.path, query, body)) is not None:
            return ctl
        host, _, api_path = parts.path.lstrip("/").partition("/")
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        if method == "POST" and body and "json" not in headers.get("content-type", ""):
            query.update(parse_qsl(body.decode(errors="replace")))  # Overpass takes its query as a form body too
        for route_host, pattern, handler in ROUTES:
            if route_host == host and (m := pattern.match("/" + api_path)):
                clock = self.clock()
                return self._serve(host, api_path, raw_path, m, handler,
                                   Request(method, query, headers, body, clock.date(), now=clock))
        return Answer(404, {"error": f"no recording for {host}/{api_path} — recorded APIs: {', '.join(HOSTS)}"})

    def clock(self) -> datetime:
        """``now``, else the start of ``today`` (UTC), else the real time."""
        if self.now:
            return self.now
        return datetime.combine(self.today, clock_time(), UTC) if self.today else datetime.now(UTC)

    def _serve(self, host: str, api_path: str, raw_path: str, m: Any, handler: Any, req: Request) -> Answer:
        with self._lock:
            self.stats[host] += 1
            self.in_flight[host] += 1
            self.max_concurrent[host] = max(self.max_concurrent[host], self.in_flight[host])
        entry = {"host": host, "path": "/" + api_path, "start": time.monotonic()}
        try:
            answer = self._dispatch(host, raw_path, m, handler, req)
        finally:
            with self._lock:
                self.in_flight[host] -= 1
        entry.update(end=time.monotonic(), status=answer.status)
        self.log.append(entry)
        return answer

    def _dispatch(self, host: str, raw_path: str, m: Any, handler: Any, req: Request) -> Answer:
        fault = self._fault(host, raw_path)
        if fault:
            self.stats[f"{host} {fault['mode']}"] += 1
            mode = fault["mode"]
            if mode == "500":
                return Answer(500, {"error": "Internal Server Error (injected by the replay server)"})
            if mode == "timeout":
                time.sleep(self.timeout_s)
                return Answer(504, {"error": "Gateway Timeout (injected by the replay server)"})
            if mode == "429":
                extra = {} if fault["retry_after"] is None else {"Retry-After": f"{fault['retry_after']:g}"}
                return Answer(429, "Too Many Requests", extra)
            if mode == "403":
                return Answer(403, "Request forbidden by administrative rules.")
            if mode == "nulls":
                req.null_variables = frozenset(v for v in fault["variables"].split(",") if v)
            else:
                time.sleep(fault["delay_s"])  # slow
                req.runtime_s = fault["delay_s"]
        if self._too_soon(host):
            self.stats[f"{host} 429"] += 1
            return Answer(429, "Too Many Requests")
        try:
            result: Answer = handler(m, req)
            return result
        except (ValueError, KeyError) as exc:
            return Answer(400, {"error": f"bad request: {exc}"})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                ans = server.answer(method, self.path, self.rfile.read(length) if length else b"",
                                    dict(self.headers.items()))
                text = isinstance(ans.body, str)
                data = ans.body.encode() if text else json.dumps(ans.body, ensure_ascii=False).encode()
                ctype = ("text/html" if text and ans.body.startswith("<") else "text/plain") if text else \
                    "application/json"
                try:
                    self.send_response(ans.status)
                    self.send_header("Content-Type", f"{ctype}; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in ans.headers.items():
                        self.send_header(k, v)
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
                pass  # per-request entries are on /_replay/log; a line each would flood the stack log

        return Handler


#: What a fault spec may hold, with its default (``POST /_replay/faults`` and ``ReplayServer.inject``).
FAULT_DEFAULTS: dict[str, Any] = {"mode": "500", "times": -1, "match": "", "retry_after": None, "delay_s": 0.0,
                                  "variables": ""}


def _fault_spec(host: str, spec: Any) -> dict[str, Any]:
    """A checked copy of one host's fault spec, or ``ValueError`` saying what is wrong and what is allowed:
    the host must be a replayed one (a misspelt host would never fail), the mode known, the numbers numbers
    (a string ``retry_after`` would break every later answer to that host)."""
    if host not in HOSTS:
        raise ValueError(f"unknown host {host!r} — the replayed hosts are {', '.join(HOSTS)}")
    if not isinstance(spec, dict):
        raise ValueError(f"{host}: the spec must be an object like {{\"mode\": \"500\"}}, not {spec!r}")
    unknown = sorted(set(spec) - set(FAULT_DEFAULTS))
    if unknown:
        raise ValueError(f"{host}: unknown key(s) {', '.join(map(repr, unknown))} — use {', '.join(FAULT_DEFAULTS)}")
    out = {**FAULT_DEFAULTS, **spec}
    out["mode"] = str(out["mode"])
    if out["mode"] not in MODES:
        raise ValueError(f"{host}: mode {out['mode']!r} — use one of {', '.join(MODES)}")
    for key in ("match", "variables"):
        if not isinstance(out[key], str):
            raise ValueError(f"{host}: {key} must be a string, not {out[key]!r}")

    def number(key: str, minimum: float) -> None:
        value = out[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
            raise ValueError(f"{host}: {key} must be a number >= {minimum:g} (JSON number, not a string), "
                             f"not {value!r}")

    number("times", -1)
    if isinstance(out["times"], float) and not out["times"].is_integer():
        raise ValueError(f"{host}: times must be a whole number, not {out['times']!r}")
    out["times"] = int(out["times"])
    number("delay_s", 0)
    if out["retry_after"] is not None:
        number("retry_after", 0)
    return out
