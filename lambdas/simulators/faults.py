"""Fault injection: duplicates, late and future-dated events, as real clients produce them.

Applies to the sources whose topic has a client event time (the catalog's ``event_time``: app events,
clickstream), after generation and before the sink, seeded per (seed, source, stream) so a run replays::

    >>> inj = FaultInjector(FaultSpec(duplicates=0.01, late=0.02, future=0.001), catalog, "mobile", seed=7)
    >>> batch = inj.apply("topic_app_events", batch)

* **duplicate** — the same record (same ``dedup_key``) sent twice in a row: a client retry. Counted once.
* **late within** — event time moved back by ``late_within_s`` (a buffered client): inside the allowed
  lateness, so counted in its (earlier) window.
* **late beyond** — moved back by ``late_beyond_s``: its window ends well behind the watermark, so a
  correct pipeline drops it (and the truth says so: ``truth.py`` records it with the watermark it met).
* **future** — event time moved ahead by ``future_s``, beyond the catalog's ``max_future_skew_s``: the
  gateway refuses it (422, not delivered); on a Kafka topic it is clamped to trusted time + skew.

The delays are chosen clear of the watermark's edge (10 min) on purpose: an event near the edge is
counted or dropped depending on when the job's micro-batch runs, which no truth can predict.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from eventbus.catalog import Catalog
from lambdas.simulators.scenario import FaultSpec
from lambdas.simulators.sources.base import Keyed


class FaultInjector:
    def __init__(self, spec: FaultSpec, catalog: Catalog, source: str, seed: int, stream: int = 0) -> None:
        self.spec = spec
        self.catalog = catalog
        self.rng = random.Random(f"faults:{seed}:{source}:{stream}")
        #: ids of the records dated beyond the skew (a gateway sink counts their 422 as planned, not as loss)
        self.future_ids: set[str] = set()
        self.n: Counter[str] = Counter()

    def apply(self, topic: str | None, batch: list[Keyed]) -> list[Keyed]:
        spec = self.spec
        et = self.catalog.get(topic).event_time if topic else None
        if et is None or not spec.any():
            return batch
        dedup = self.catalog.get(topic).dedup_key  # type: ignore[arg-type]
        rnd, uniform = self.rng.random, self.rng.uniform
        out: list[Keyed] = []
        for key, rec in batch:
            r = rnd()
            if r < spec.late:
                beyond = rnd() < spec.late_beyond_share
                lo, hi = spec.late_beyond_s if beyond else spec.late_within_s
                rec[et.field] = int(rec[et.field] - uniform(lo, hi) * 1000)
                self.n["late_beyond" if beyond else "late_within"] += 1
            elif r < spec.late + spec.future:
                lo, hi = spec.future_s
                rec[et.field] = int(rec[et.field] + max(uniform(lo, hi), et.max_future_skew_s + 60) * 1000)
                if dedup:
                    self.future_ids.add(str(rec[dedup]))
                self.n["future"] += 1
            out.append((key, rec))
            if spec.duplicates and rnd() < spec.duplicates:
                out.append((key, dict(rec)))
                self.n["duplicates"] += 1
        return out

    def stats(self) -> dict[str, int]:
        return {f"injected_{k}": v for k, v in self.n.items()}


def planned_refusal(future_ids: set[str], record: dict[str, Any]) -> bool:
    """Whether a refused app event is one the injector dated beyond the skew on purpose."""
    return str(record.get("event_id")) in future_ids
