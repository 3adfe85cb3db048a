"""The console's Verify page: /api/verify serves the last `make verify` result and the latency history
written by lambdas/verify/run.py:save, and the page links each differing key to its records."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lambdas.verify.run import save
from local.console.app import create_app

STATIC = Path(__file__).resolve().parents[2] / "local" / "console" / "static"


def test_api_verify_serves_the_last_result_and_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EB_VERIFY_RESULT_DIR", str(tmp_path))
    client = TestClient(create_app(sample=False))
    assert client.get("/api/verify").json()["last"] is None  # none yet: not an error
    for i, ok in enumerate((True, False)):
        save({"ok": ok, "verified_at": 1_000 + i, "seconds": 1.5, "topic_prefix": "", "skipped": {}, "tallies": {},
              "rows": [{"output": "funnel", "topic": "topic_processed_events", "compared": 3, "matched": 3 - i,
                        "missing": 0, "extra": 0, "wrong": i, "ok": ok, "note": "",
                        "diffs": [{"key": "app_events_funnel|2026-12-04T16:40Z|funnel=x", "kind": "wrong",
                                   "expected": "2", "actual": "3"}] * i}],
              "latency": [{"name": "app: received_ts -> Kafka append", "n": 9, "p50_ms": 5.0, "p99_ms": 9.0,
                           "max_ms": 9.0}]}, tmp_path)
    doc = client.get("/api/verify").json()
    assert doc["last"]["ok"] is False and doc["last"]["rows"][0]["diffs"][0]["kind"] == "wrong"
    assert [h["ok"] for h in doc["history"]] == [True, False]
    assert doc["history"][1]["latency"]["app: received_ts -> Kafka append"] == [5.0, 9.0]


def test_the_page_is_wired_into_the_console() -> None:
    index = (STATIC / "index.html").read_text()
    assert 'href="#verify"' in index and index.index("verify.js") < index.index("app.js")
    page = (STATIC / "verify.js").read_text()
    assert "/api/verify" in page and "#messages?topic=" in page
    assert "window.extraPages" in (STATIC / "app.js").read_text()


def test_the_console_reads_the_folder_verify_writes_when_it_is_set_in_dot_env(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lambdas.verify.settings import VerifySettings

    monkeypatch.delenv("EB_VERIFY_RESULT_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # the .env both read (env_file=".env", relative to the working folder)
    (tmp_path / ".env").write_text(f"EB_VERIFY_RESULT_DIR={tmp_path / 'from-dot-env'}\n")
    written = VerifySettings().results()  # where `make verify` writes
    assert written == tmp_path / "from-dot-env"
    save({"ok": True, "verified_at": 7, "seconds": 1.0, "rows": [], "latency": []}, written)
    doc = TestClient(create_app(sample=False)).get("/api/verify").json()
    assert doc["folder"] == str(written) and doc["last"]["verified_at"] == 7
