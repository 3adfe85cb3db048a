"""Clicks behind the app and web journeys: element, x/y, viewport, device — keyed by session_id.

The clickstream rebuilds session ``j`` of the mobile and web flows (pure functions of the seed), so
its clicks carry the same ``session_id``/``user_id`` and land on the same pages as the app events —
they join downstream without the two sources ever talking.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from lambdas.simulators.journey import Session
from lambdas.simulators.replay import ReplaySpec
from lambdas.simulators.sources.base import Keyed, Source, SourceContext, SourceOptions
from lambdas.simulators.sources.mobile import MOBILE
from lambdas.simulators.sources.web import WEB, page_url
from lambdas.simulators.world import Weighted

#: Elements per event type: (element_id template, element_type, region of the viewport as (x0, y0, x1, y1)
#: fractions). ``{h}`` is the hotel id.
_ELEMENTS: dict[str, tuple[tuple[str, str, tuple[float, float, float, float]], ...]] = {
    "app_open": (("splash-skip", "button", (0.7, 0.02, 0.98, 0.08)),),
    "page_view": (("nav-home", "tab", (0.0, 0.92, 0.25, 1.0)),
                  ("banner-promo", "image", (0.0, 0.12, 1.0, 0.35)),
                  ("card-destination", "card", (0.05, 0.4, 0.95, 0.85)),
                  ("link-deals", "link", (0.6, 0.05, 0.95, 0.1))),
    "signup": (("input-email", "input", (0.1, 0.3, 0.9, 0.36)), ("btn-signup", "button", (0.1, 0.6, 0.9, 0.68))),
    "login": (("input-password", "input", (0.1, 0.4, 0.9, 0.46)), ("btn-login", "button", (0.1, 0.55, 0.9, 0.62))),
    "search": (("input-destination", "input", (0.05, 0.15, 0.95, 0.22)),
               ("input-dates", "input", (0.05, 0.25, 0.6, 0.3)),
               ("btn-search", "button", (0.05, 0.35, 0.95, 0.42))),
    "filter_applied": (("filter-chip", "button", (0.0, 0.12, 1.0, 0.18)),
                       ("filter-apply", "button", (0.5, 0.9, 0.95, 0.97))),
    "booking_view": (("card-hotel-{h}", "card", (0.03, 0.2, 0.97, 0.8)),
                     ("img-gallery", "image", (0.0, 0.08, 1.0, 0.35)),
                     ("tab-reviews", "tab", (0.35, 0.4, 0.65, 0.45))),
    "click_cta": (("btn-book-now-{h}", "button", (0.5, 0.9, 0.97, 0.97)),),
    "add_to_cart": (("btn-add-to-cart-{h}", "button", (0.6, 0.5, 0.95, 0.56)),),
    "checkout_start": (("btn-checkout", "button", (0.6, 0.8, 0.95, 0.86)),
                       ("input-guest-name", "input", (0.1, 0.3, 0.9, 0.35))),
    "booking_created": (("btn-confirm-booking", "button", (0.1, 0.85, 0.9, 0.92)),),
    "payment_submitted": (("input-card", "input", (0.1, 0.3, 0.9, 0.36)),
                          ("btn-pay", "button", (0.1, 0.85, 0.9, 0.92))),
    "review_submitted": (("star-rating", "button", (0.2, 0.3, 0.8, 0.36)),
                         ("btn-submit-review", "button", (0.1, 0.8, 0.9, 0.86))),
    "error": (("btn-retry", "button", (0.3, 0.5, 0.7, 0.56)),),
    "app_close": (),
    "logout": (("btn-logout", "button", (0.1, 0.8, 0.9, 0.86)),),
}
_CLICKS = Weighted((1, 2, 3, 4), (50, 28, 15, 7))
_FIRST_REFERRERS = ("https://www.google.com/", "https://www.facebook.com/", None, "https://zalo.me/",
                    "https://www.tiktok.com/")


class ClickstreamOptions(SourceOptions):
    #: Share of sessions taken from the web flow (the rest from the mobile app).
    web_share: float = Field(default=0.45, ge=0.0, le=1.0)
    #: Sessions clicked through at once (their clicks interleave).
    concurrent_sessions: int = Field(default=16, ge=1, le=100_000)


class ClickstreamSource(Source):
    name = "clickstream"
    default_rate = 1.6
    topic = "topic_clickstream"
    Options = ClickstreamOptions
    replay = ReplaySpec(fresh=("click_id",), per_pass=("session_id",), time="event_ts", key="session_id")

    def __init__(self, ctx: SourceContext) -> None:
        super().__init__(ctx)
        self.start_ms = int(ctx.extras.get("start_ms", 0))
        self.next_j = {"mobile": 0, "web": 0}
        opts: ClickstreamOptions = self.options  # type: ignore[assignment]
        self.pool = [self._next(self.start_ms) for _ in range(opts.concurrent_sessions)]

    def _next(self, now_ms: int) -> list[dict[str, Any]]:
        """The click templates of the next session (timestamps and click ids are filled on emission)."""
        web = self.rng.random() < self.options.web_share  # type: ignore[attr-defined]
        kind, flow = ("web", WEB) if web else ("mobile", MOBILE)
        j = self.next_j[kind]
        self.next_j[kind] = j + 1
        session = flow.build(self.world, self.stream, j, now_ms, light=True)
        clicks = self._clicks(session, web)
        return clicks[::-1]  # popped from the end

    def _clicks(self, s: Session, web: bool) -> list[dict[str, Any]]:
        rng, dev = self.rng, s.device
        vw, vh = dev.viewport
        referrer = _FIRST_REFERRERS[rng.randrange(len(_FIRST_REFERRERS))] if web else None
        out: list[dict[str, Any]] = []
        anonymous = web  # web visitors are anonymous until they log in or sign up
        for e in s.events:
            rec = e.record
            if rec["event_type"] in ("login", "signup"):
                anonymous = False
            elements = _ELEMENTS.get(rec["event_type"], ())
            page = rec["page"] or "home"
            url = page_url(page) if web else f"app://travelvn/{page}"
            hotel = rec["hotel_id"] or ""
            for _ in range(_CLICKS.pick(rng.random()) if elements else 0):
                element_id, element_type, (x0, y0, x1, y1) = elements[int(rng.random() * len(elements))]
                out.append({
                    "click_id": "", "event_ts": 0,
                    "user_id": None if anonymous else s.user.user_id,
                    "session_id": s.session_id,
                    "page_url": url,
                    "referrer": referrer,
                    "element_id": element_id.format(h=hotel),
                    "element_type": element_type,
                    "x": int(vw * (x0 + (x1 - x0) * rng.random())),
                    "y": int(vh * (y0 + (y1 - y0) * rng.random())),
                    "viewport_width": vw,
                    "viewport_height": vh,
                    "device_type": dev.device_type,
                    "user_agent": dev.user_agent,
                })
            referrer = url
        if not out:  # a bounce still leaves one click on the landing page
            out.append({"click_id": "", "event_ts": 0, "user_id": None if s.anonymous else s.user.user_id,
                        "session_id": s.session_id, "page_url": page_url("/") if web else "app://travelvn/launch",
                        "referrer": referrer, "element_id": "body", "element_type": "page", "x": vw // 2,
                        "y": vh // 3, "viewport_width": vw, "viewport_height": vh, "device_type": dev.device_type,
                        "user_agent": dev.user_agent})
        return out

    def generate(self, timestamps: list[int]) -> list[Keyed]:
        out: list[Keyed] = []
        pool, k = self.pool, len(self.pool)
        rnd, bits = self.rng.random, self.rng.getrandbits
        for ts in timestamps:
            i = int(rnd() * k)
            clicks = pool[i]
            rec = clicks.pop()
            if not clicks:
                pool[i] = self._next(ts)
            rec["click_id"] = "clk-%016x" % bits(64)  # noqa: UP031 - hot path
            rec["event_ts"] = ts
            out.append((rec["session_id"], rec))
        return out
