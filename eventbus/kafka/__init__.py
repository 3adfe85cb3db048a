"""Kafka clients: one producer, one consumer factory, one admin factory.

    >>> from eventbus.kafka import Producer, make_consumer, make_admin
"""

from eventbus.kafka.admin import ApplyReport, apply_topics, describe_topics, make_admin, topic_configs
from eventbus.kafka.consumer import make_consumer
from eventbus.kafka.producer import Producer
from eventbus.kafka.reader import end_offsets, read_range

__all__ = [
    "ApplyReport",
    "Producer",
    "apply_topics",
    "describe_topics",
    "end_offsets",
    "make_admin",
    "make_consumer",
    "read_range",
    "topic_configs",
]
