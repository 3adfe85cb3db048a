"""librdkafka configuration from the settings: plaintext locally, MSK IAM (OAUTHBEARER) in AWS."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from eventbus.exceptions import local_hint
from eventbus.settings import Settings


def _msk_iam_token(region: str) -> Callable[[str], tuple[str, float]]:
    def oauth_cb(_config: str) -> tuple[str, float]:
        from aws_msk_iam_sasl_signer import MSKAuthTokenProvider

        token, expiry_ms = MSKAuthTokenProvider.generate_auth_token(region)
        return token, expiry_ms / 1000

    return oauth_cb


ERROR_LOG_EVERY_S = 10.0


def broker_error_logger(bootstrap: str) -> Callable[[Any], None]:
    """An ``error_cb`` that logs client-level errors (broker down, auth) once per code per 10 s.

    librdkafka repeats these on every reconnect attempt while it retries with backoff; per-message
    failures are still counted one by one by the delivery reports.
    """
    last: dict[int, float] = {}
    log = logging.getLogger("eventbus.kafka")
    hint = local_hint(bootstrap)

    def error_cb(err: Any) -> None:
        now = time.monotonic()
        if err.fatal():
            # librdkafka does not recover from these (e.g. an idempotent producer's sequence numbers out
            # of step with the broker's after a restart): the client instance has to be replaced.
            log.error(f"kafka client fatal error at {bootstrap}: {err.str()} — this client instance can no "
                      "longer send and must be replaced by a new one", extra={"fatal": True})
        elif now - last.get(err.code(), 0.0) >= ERROR_LOG_EVERY_S:
            last[err.code()] = now
            log.warning(
                f"kafka client error at {bootstrap}: {err.str()}{hint} (librdkafka retries with backoff)",
                extra={"fatal": False},
            )

    return error_cb


def client_config(settings: Settings, client_id: str) -> dict[str, Any]:
    """Connection settings common to producers, consumers and admin clients."""
    conf: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap,
        "client.id": client_id,
        # librdkafka's own log lines go through the project's JSON logging (served by poll()), critical
        # ones only: its per-attempt connection errors reach error_cb, which logs them rate-limited.
        "logger": logging.getLogger("librdkafka"),
        "log_level": 2,
        "error_cb": broker_error_logger(settings.kafka_bootstrap),
    }
    if settings.kafka_auth == "iam":
        try:
            import aws_msk_iam_sasl_signer  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError(
                "MSK IAM auth needs aws-msk-iam-sasl-signer-python — pip install 'travel-data-sources[msk]'"
            ) from exc
        conf.update(
            {
                "security.protocol": "SASL_SSL",
                "sasl.mechanisms": "OAUTHBEARER",
                "oauth_cb": _msk_iam_token(settings.aws_region),
            }
        )
    return conf


def producer_config(settings: Settings, client_id: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The project's producer contract: idempotent, acks=all, compressed, bounded delivery time."""
    conf = client_config(settings, client_id)
    conf.update(
        {
            "enable.idempotence": True,
            "acks": "all",
            "compression.type": settings.kafka_compression,
            "linger.ms": settings.kafka_linger_ms,
            "delivery.timeout.ms": settings.kafka_delivery_timeout_ms,
            "queue.buffering.max.messages": 500_000,
            "queue.buffering.max.kbytes": 512 * 1024,
            "batch.size": 512 * 1024,
        }
    )
    for key in ("enable.idempotence", "acks"):
        if key in overrides and overrides[key] != conf[key]:
            raise ValueError(f"{key} is fixed by the delivery contract and cannot be overridden")
    conf.update(overrides)
    return conf
