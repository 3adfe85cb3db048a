"""The Lag page's Kafka part: every consumer group's committed offsets against the end offsets.

    >>> consumer_groups(clients)["groups"][0]["partitions"][0]["lag"]
"""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition

from local.console.clients import Clients


def consumer_groups(clients: Clients) -> dict[str, Any]:
    """Per group and partition: committed offset, end offset, lag (end - committed)."""
    admin = clients.admin()
    timeout = clients.console.timeout_s
    deadline = time.monotonic() + timeout
    try:
        admin.list_topics(timeout=timeout)  # a broker that does not answer is an error, not "no groups"
        listed = admin.list_consumer_groups(request_timeout=timeout).result(timeout=timeout)
        if listed.errors and not listed.valid:
            raise KafkaException(listed.errors[0])
        ids = sorted(g.group_id for g in listed.valid)
        groups = []
        consumer = clients.consumer("lag")
        try:
            for gid in ids:
                if time.monotonic() > deadline:
                    groups.append({"group": gid, "error": "skipped: the request's deadline passed"})
                    continue
                fut = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(gid)],
                                                        request_timeout=timeout)[gid]
                parts = []
                for tp in fut.result(timeout=timeout).topic_partitions or []:
                    if tp.offset < 0:
                        continue
                    _lo, hi = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition),
                                                             timeout=max(0.2, deadline - time.monotonic()))
                    parts.append({"topic": tp.topic, "partition": tp.partition, "committed": tp.offset,
                                  "end": hi, "lag": max(0, hi - tp.offset)})
                groups.append({"group": gid, "partitions": parts, "total_lag": sum(p["lag"] for p in parts)})
        finally:
            consumer.close()
    except KafkaException as exc:
        raise clients.broker_error(exc) from exc
    except TimeoutError as exc:
        raise clients.broker_error(exc) from exc
    return {"groups": groups}
