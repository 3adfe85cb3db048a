"""Application logs of the platform's services: levels, latencies, error bursts, stack traces.

Levels follow production proportions (DEBUG 15%, INFO 70%, WARN 10%, ERROR 4.5%, FATAL 0.5%). Incidents
arrive at ``incidents_per_hour`` (simulated time) and last 1-5 minutes: one service then answers
5xx with stack traces and latencies x8 — the bursts alerting pipelines are built to catch. Request
logs carry the user_id/session_id of the world's live sessions, so they join with app events.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import cached_property

from pydantic import Field

from lambdas.simulators.journey import Session
from lambdas.simulators.replay import ReplaySpec
from lambdas.simulators.sources.base import Keyed, Source, SourceContext, SourceOptions
from lambdas.simulators.sources.mobile import MOBILE
from lambdas.simulators.sources.web import WEB
from lambdas.simulators.world import Weighted

_PY_TRACE = (
    'Traceback (most recent call last):\n'
    '  File "/app/{svc}/handlers.py", line {line}, in handle\n'
    '    result = await self.client.{call}(request)\n'
    '  File "/app/{svc}/clients.py", line {line2}, in {call}\n'
    '    raise UpstreamError(f"{{self.name}} answered {{resp.status_code}}")\n'
    '{exc}: {msg}'
)
_JAVA_TRACE = (
    '{exc}: {msg}\n'
    '\tat vn.travel.{pkg}.{cls}.{call}({cls}.java:{line})\n'
    '\tat vn.travel.{pkg}.{cls}Controller.handle({cls}Controller.java:{line2})\n'
    '\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:885)\n'
    '\tat java.base/java.lang.Thread.run(Thread.java:1583)'
)


@dataclass(frozen=True)
class Service:
    name: str
    lang: str  # python / java / go
    share: float
    hosts: int
    routes: tuple[tuple[str, str, float], ...]  # (method, path, median latency ms)
    upstream: str

    @cached_property
    def loggers(self) -> tuple[str, str]:
        base = self.name.replace("-", "_")
        return f"{base}.http", f"{base}.internal"

    @cached_property
    def attributes(self) -> tuple[dict[str, str], dict[str, str]]:
        """(normal, during an incident)."""
        return tuple({"region": "ap-southeast-1", "env": "prod", "lang": self.lang, "incident": flag}  # type: ignore[return-value]
                     for flag in ("false", "true"))

    @property
    def sessions(self) -> bool:
        """Whether its requests carry a user session (notifications are sent by the back office)."""
        return self.name != "notification-svc"


SERVICES = (
    Service("api-gateway", "go", 24, 6, (("POST", "/events/user", 4), ("POST", "/events/batch", 9),
                                         ("GET", "/health", 1)), "kafka"),
    Service("search-api", "python", 22, 5, (("GET", "/v1/search", 85), ("GET", "/v1/suggest", 22)), "opensearch"),
    Service("booking-api", "python", 14, 4, (("POST", "/v1/bookings", 140), ("GET", "/v1/bookings/{id}", 18),
                                             ("POST", "/v1/bookings/{id}/cancel", 95)), "postgres"),
    Service("payment-svc", "java", 9, 3, (("POST", "/v1/payments/authorize", 320),
                                          ("POST", "/v1/payments/{id}/capture", 210),
                                          ("POST", "/v1/payments/{id}/refund", 260)), "psp-napas"),
    Service("auth-svc", "python", 9, 3, (("POST", "/v1/login", 60), ("POST", "/v1/token/refresh", 12)), "redis"),
    Service("pricing-svc", "java", 10, 4, (("GET", "/v1/rates", 45), ("POST", "/v1/quote", 70)), "rates-cache"),
    Service("inventory-svc", "java", 8, 3, (("GET", "/v1/availability", 55), ("POST", "/v1/holds", 90)), "postgres"),
    Service("notification-svc", "python", 4, 2, (("POST", "/v1/notify/email", 180), ("POST", "/v1/notify/push", 40)),
            "ses"),
)
_SERVICE = Weighted(SERVICES, [s.share for s in SERVICES])
#: Latency spread around a route's median: exp(N(0, 0.6)) quantiles, one table lookup per log line.
_SPREAD = tuple(math.exp(random.Random(5).gauss(0.0, 0.6)) for _ in range(4096))
_LEVEL = Weighted(("DEBUG", "INFO", "WARN", "ERROR", "FATAL"), (15, 70, 10, 4.5, 0.5))
_ERRORS = {
    "python": (("UpstreamError", "{up} answered 503"), ("TimeoutError", "{up} did not answer within 3000 ms"),
               ("psycopg2.OperationalError", "server closed the connection unexpectedly"),
               ("KeyError", "'hotel_id'")),
    "java": (("java.net.SocketTimeoutException", "Read timed out calling {up}"),
             ("org.springframework.dao.DataAccessResourceFailureException", "Unable to acquire JDBC Connection"),
             ("java.lang.IllegalStateException", "Hold expired before capture"),
             ("java.lang.NullPointerException", "Cannot invoke \"Rate.amount()\" because \"rate\" is null")),
    "go": (("context.DeadlineExceeded", "produce to {up}: context deadline exceeded"),
           ("net.OpError", "dial tcp 10.0.3.14:9098: connect: connection refused")),
}
_WARN = ("slow query on {up}: {ms} ms", "retrying {up} call (attempt 2/3)", "cache miss ratio above 0.4",
         "rate limit at 80% for client mobile-ios", "deprecated API version v1 used by web")
_DEBUG = ("cache hit key={key}", "resolved {up} endpoint in {ms} ms", "request headers parsed", "feature flag "
          "new_checkout=on")
_INFO_OK = "{method} {path} {status} {ms} ms"


class AppLogsOptions(SourceOptions):
    incidents_per_hour: float = Field(default=2.0, ge=0.0, le=3600.0)
    #: Error share of the affected service during an incident.
    incident_error_share: float = Field(default=0.35, ge=0.0, le=1.0)


class AppLogsSource(Source):
    name = "app_logs"
    default_rate = 1.0
    topic = "topic_app_logs"
    Options = AppLogsOptions
    replay = ReplaySpec(fresh=("log_id", "trace_id", "span_id"), per_pass=("session_id",), time="ts")
    unique_text = ("message", "stack_trace")

    def __init__(self, ctx: SourceContext) -> None:
        super().__init__(ctx)
        self.opts: AppLogsOptions = self.options  # type: ignore[assignment]
        start = int(ctx.extras.get("start_ms", 0))
        self.next_j = 0
        self.sessions: list[Session] = [self._session(start) for _ in range(8)]
        self.incident_until = 0
        self.incident_service: Service | None = None
        self.next_incident = start + self._gap_ms()
        self.incidents = 0
        self.host_names = {s.name: [f"{s.name}-{self.rng.getrandbits(32):08x}-{self.rng.getrandbits(20):05x}"
                                    for _ in range(s.hosts)] for s in SERVICES}

    def _session(self, now_ms: int) -> Session:
        flow = WEB if self.rng.random() < 0.4 else MOBILE
        s = flow.build(self.world, self.stream, self.next_j, now_ms, light=True)
        self.next_j += 1
        return s

    def _gap_ms(self) -> int:
        rate = self.opts.incidents_per_hour
        if rate <= 0:
            return 2**62
        return int(-math.log(1.0 - self.rng.random()) * 3_600_000 / rate)

    def _incident(self, ts: int) -> Service | None:
        if ts >= self.next_incident:
            self.incident_service = _SERVICE.pick(self.rng.random())
            self.incident_until = ts + int(self.rng.uniform(60_000, 300_000))
            self.next_incident = self.incident_until + self._gap_ms()
            self.incidents += 1
        return self.incident_service if ts < self.incident_until else None

    def generate(self, timestamps: list[int]) -> list[Keyed]:
        out: list[Keyed] = []
        rng = self.rng
        rnd, bits = rng.random, rng.getrandbits
        spread, n_spread = _SPREAD, len(_SPREAD)
        error_share = self.opts.incident_error_share
        sessions, n_sessions = self.sessions, len(self.sessions)
        for ts in timestamps:
            svc = _SERVICE.pick(rnd())
            down = self._incident(ts) if ts >= self.next_incident or ts < self.incident_until else None
            if down is not None and rnd() < 0.5:
                svc = down  # the failing service logs twice as much during its incident
            failing = svc is down
            level = _LEVEL.pick(rnd())
            if failing and rnd() < error_share:
                level = "FATAL" if rnd() < 0.04 else "ERROR"
            method, path, median = svc.routes[int(rnd() * len(svc.routes))]
            latency = median * spread[int(rnd() * n_spread)] * (8.0 if failing else 1.0)
            status, stack = 200, None
            if level == "INFO":
                status = 201 if method == "POST" and rnd() < 0.5 else 200
                message = "%s %s %d %d ms" % (method, path, status, latency)  # noqa: UP031 - hot path
            elif level == "ERROR" or level == "FATAL":
                errors = _ERRORS[svc.lang]
                exc, msg = errors[int(rnd() * len(errors))]
                msg = msg.format(up=svc.upstream)
                status = 503 if "503" in msg or failing else 500
                message = f"{method} {path} failed: {exc.rsplit('.', 1)[-1]}: {msg}"
                stack = self._stack(svc, exc, msg)
            elif level == "WARN":
                message = _WARN[int(rnd() * len(_WARN))].format(up=svc.upstream, ms=int(latency))
                status = 429 if message.startswith("rate limit") else 200
            else:
                message = _DEBUG[int(rnd() * len(_DEBUG))].format(key=f"h{bits(24):06x}", up=svc.upstream,
                                                                 ms=int(latency / 10))
            user_id = session_id = None
            if svc.sessions and rnd() < 0.6:
                k = int(rnd() * n_sessions)
                session = sessions[k]
                user_id, session_id = session.user.user_id, session.session_id
                if rnd() < 0.02:
                    sessions[k] = self._session(ts)
            name = svc.name
            out.append((name, {
                "log_id": "log-%016x" % bits(64),  # noqa: UP031
                "ts": ts,
                "service": name,
                "host": self.host_names[name][int(rnd() * svc.hosts)],
                "level": level,
                "logger": svc.loggers[level == "DEBUG"],
                "message": message,
                "trace_id": "%032x" % bits(128),  # noqa: UP031
                "span_id": "%016x" % bits(64),  # noqa: UP031
                "user_id": user_id,
                "session_id": session_id,
                "http_method": method,
                "path": path,
                "status_code": status,
                "latency_ms": round(latency, 2),
                "stack_trace": stack,
                # Shared per (service, incident): records are read-only once generated.
                "attributes": svc.attributes[failing],
            }))
        return out

    def _stack(self, svc: Service, exc: str, msg: str) -> str:
        rng = self.rng
        call = svc.routes[0][1].strip("/").split("/")[-1].replace("{id}", "get") or "call"
        if svc.lang == "python":
            return _PY_TRACE.format(svc=svc.name.replace("-", "_"), line=rng.randrange(40, 400),
                                    line2=rng.randrange(20, 200), call=call, exc=exc, msg=msg)
        if svc.lang == "java":
            cls = "".join(p.title() for p in svc.name.split("-")[:-1]) or "Service"
            return _JAVA_TRACE.format(exc=exc, msg=msg, pkg=svc.name.split("-")[0], cls=cls, call=call,
                                      line=rng.randrange(40, 400), line2=rng.randrange(20, 200))
        line = rng.randrange(20, 300)
        return f"goroutine 1 [running]:\nmain.produce(...)\n\t/app/gateway/produce.go:{line}\n{exc}: {msg}"

    def stats(self) -> dict[str, int]:
        return {"incidents": self.incidents}
