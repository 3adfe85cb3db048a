"""Acknowledgement futures: a report resolves the request; the deadline answers when none comes."""

from __future__ import annotations

import asyncio
import contextlib
from typing import cast

from eventbus.exceptions import DeliveryError
from eventbus.kafka import Producer
from eventbus.settings import Settings
from lambdas.gateway.delivery import Ack, AckingProducer, NotAcknowledged


def _producer(**conf: object) -> Producer:
    settings = Settings(profile="local", kafka_bootstrap="127.0.0.1:1")
    return Producer(settings, client_id="unit-delivery", background_poll=True, **conf)  # type: ignore[arg-type]


def test_mock_cluster_acks_resolve_every_future_with_partition_and_offset() -> None:
    producer = _producer(**{"test.mock.num.brokers": 1})
    acks = AckingProducer(producer, ack_timeout_s=10)

    async def run() -> list[Ack | NotAcknowledged]:
        singles = [acks.send("t", f"k{i}", b"v") for i in range(20)]
        many = acks.send_many("t", [(f"k{i}", b"v") for i in range(30)])
        out = await asyncio.gather(*singles, many)
        return [*cast(list[Ack | NotAcknowledged], out[:-1]), *cast(list[Ack | NotAcknowledged], out[-1])]

    try:
        outcomes = asyncio.run(run())
        assert len(outcomes) == 50 and all(type(o) is Ack for o in outcomes)
        assert len({(o.partition, o.offset) for o in outcomes}) == 50  # type: ignore[union-attr]
    finally:
        producer.close(5)


def test_deadline_answers_before_the_producer_gives_up_and_says_possibly_persisted() -> None:
    # librdkafka would keep trying for 10 s; the request deadline (0.3 s) answers first.
    producer = _producer(**{"delivery.timeout.ms": 10_000})
    acks = AckingProducer(producer, ack_timeout_s=0.3)

    async def run() -> tuple[Ack | NotAcknowledged, list[Ack | NotAcknowledged], float]:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        one, many = await asyncio.gather(acks.send("t", "k", b"v"), acks.send_many("t", [("a", b"1"), ("b", b"2")]))
        return one, many, loop.time() - t0

    try:
        one, many, took = asyncio.run(run())
        assert 0.3 <= took < 1.5
        for outcome in (one, *many):
            assert isinstance(outcome, NotAcknowledged) and outcome.possibly_persisted
            assert "within 0.3 s" in outcome.reason
    finally:
        producer.raw.purge()
        with contextlib.suppress(DeliveryError):  # the purged messages count as undelivered: loud, as meant
            producer.close(1)
