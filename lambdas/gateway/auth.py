"""API keys: from ``EB_GATEWAY_API_KEYS`` (comma-separated) or a Secrets Manager secret (JSON list).

Keys are compared with ``hmac.compare_digest`` against every configured key (no early exit, so the
time does not say which key nearly matched) and are never logged. Secret-backed keys are re-read every
``refresh_s`` seconds so a rotation needs no redeploy; a failed re-read keeps the previous keys.

    >>> keys = ApiKeys.from_settings(Settings(gateway_api_keys="k1,k2"))
    >>> keys.check("k2"), keys.check("nope"), keys.check(None)
    (True, False, False)
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable

from eventbus.logging import get_logger
from eventbus.settings import Settings

log = get_logger("gateway.auth")


class ApiKeys:
    def __init__(self, loader: Callable[[], list[str]], refresh_s: float | None = None) -> None:
        self._loader = loader
        self._refresh_s = refresh_s
        self._lock = threading.Lock()
        self._keys = self._encode(loader())
        self._loaded_at = time.monotonic()
        if not self._keys:
            log.error("no API keys configured: every request will be answered 401")

    @staticmethod
    def _encode(keys: list[str]) -> tuple[bytes, ...]:
        return tuple(k.strip().encode() for k in keys if k.strip())

    @classmethod
    def from_settings(cls, settings: Settings, refresh_s: float = 300) -> ApiKeys:
        """``settings.gateway_keys()``; re-read every ``refresh_s`` when they come from a secret."""
        if settings.gateway_api_keys_secret_arn:
            return cls(settings.gateway_keys, refresh_s)
        static = settings.gateway_keys()
        return cls(lambda: static)

    def _maybe_refresh(self) -> None:
        if self._refresh_s is None or time.monotonic() - self._loaded_at < self._refresh_s:
            return
        with self._lock:
            if time.monotonic() - self._loaded_at < self._refresh_s:
                return
            self._loaded_at = time.monotonic()
            try:
                self._keys = self._encode(self._loader()) or self._keys
            except Exception as exc:  # keep serving with the keys we have
                log.error("re-reading the API keys failed; keeping the previous ones", extra={"error": str(exc)})

    def check(self, provided: str | None) -> bool:
        self._maybe_refresh()
        if not provided:
            return False
        candidate = provided.encode("utf-8", "surrogateescape")
        ok = False
        for key in self._keys:
            ok |= hmac.compare_digest(candidate, key)
        return ok

    def __len__(self) -> int:
        return len(self._keys)
