"""The rules a correct pipeline follows, in one place: which windows an event time falls in, when a
window is closed, and whether a late event is counted — read from the homes of their parameters.

* windows and watermark: the jobs' settings (``emr_jobs.config.SparkSettings``: ``EB_SPARK_WINDOW_MINUTES``,
  ``EB_SPARK_CLICK_WINDOW_MINUTES``/``_SLIDE_MINUTES``, ``EB_SPARK_WATERMARK``) — verify reads the same
  variables the jobs do, so a changed window is verified as changed;
* effective event time and dedup key: the catalog (``event_time``, ``dedup_key``), applied by the
  simulators' truth recorder when it counts an event;
* the watermark rule (Spark): a row is dropped when its window's end <= the watermark when its
  micro-batch runs, the watermark being the newest event time seen minus the delay. The truth keeps each
  late event with the newest time delivered before it, so: counted when the window ends after that
  minus the delay plus ``UPPER_BAND_MS``, excluded when it ends before it minus ``LOWER_BAND_MS``,
  ambiguous (window not compared) in between.

    >>> r = Rules.load()
    >>> [w for w in r.windows("clickstream", 1_700_000_100_000)]   # two sliding windows
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eventbus.catalog import Catalog
from eventbus.durations import duration_ms

#: Spark may see a newer event time than the recorder did (another producer's future-dated event, at
#: most max_future_skew_s ahead) or lag behind it (its micro-batch interval): events this close to the
#: edge are neither counted nor excluded with confidence.
LOWER_BAND_MS = 60_000

#: The processed-event jobs verify knows: truth kind -> (job names in the output key, the job's window).
APP_JOB, FUNNEL_JOB, CLICK_JOB = "app_events", "app_events_funnel", "clickstream"
FUNNEL_STEPS = ("search", "booking_view", "booking_created")
FUNNEL_ENTITY = "funnel=" + ">".join(FUNNEL_STEPS)


@dataclass(frozen=True)
class Window:
    size_ms: int
    slide_ms: int

    def starts(self, ts: int) -> list[int]:
        """Starts of every window containing ``ts`` (Spark's tumbling/sliding windows, aligned to the epoch)."""
        last = ts - ts % self.slide_ms
        first = last - self.size_ms + self.slide_ms
        return [s for s in range(first, last + 1, self.slide_ms) if s <= ts < s + self.size_ms]


@dataclass(frozen=True)
class Rules:
    windows: dict[str, Window]  # truth kind -> window
    watermark_ms: int
    upper_band_ms: int

    @classmethod
    def load(cls, catalog: Catalog | None = None, spark: Any = None) -> Rules:
        """The jobs' parameters from their one home (``EB_SPARK_*`` through the jobs' settings model)."""
        if spark is None:
            from emr_jobs.config import SparkSettings  # pydantic only: no Spark import

            spark = SparkSettings()
        skews = [s.event_time.max_future_skew_ms for s in (catalog or _catalog()) if s.event_time]
        m = 60_000
        watermark_ms = duration_ms(spark.watermark)  # checked by the jobs' model (EB_SPARK_WATERMARK)
        return cls(
            windows={"app_events": Window(spark.window_minutes * m, spark.window_minutes * m),
                     "clickstream": Window(spark.click_window_minutes * m, spark.click_slide_minutes * m)},
            watermark_ms=watermark_ms,
            upper_band_ms=max(skews, default=0) + 60_000,
        )

    def late_outcome(self, window_end: int, max_seen_ts: int) -> str:
        """``counted`` / ``excluded`` / ``ambiguous`` for a late event in a window ending at ``window_end``."""
        wm = max_seen_ts - self.watermark_ms
        if window_end > wm + self.upper_band_ms:
            return "counted"
        if window_end <= wm - LOWER_BAND_MS:
            return "excluded"
        return "ambiguous"


def _catalog() -> Catalog:
    from eventbus.catalog import load_catalog

    return load_catalog()


def lake_root() -> str:
    """Where the lake job writes (``EB_SPARK_LAKE_ROOT``; its default: the state folder locally)."""
    from emr_jobs.config import SparkSettings

    return SparkSettings().lake()
