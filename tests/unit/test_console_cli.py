"""``python -m local.console serve``: a bad --port or --host (or EB_CONSOLE_*) is one line and exit 2 before
anything listens — never a port taken modulo 65536, never a UnicodeError traceback."""

from __future__ import annotations

from typing import Any

import pytest

from local.console.__main__ import main


@pytest.fixture(autouse=True)
def no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    def run(*_a: Any, **_k: Any) -> None:
        raise AssertionError("the console started serving on a refused address")

    monkeypatch.setattr(uvicorn, "run", run)


@pytest.mark.parametrize("port", ["99999", "0", "-1", "http"])
def test_a_port_outside_1_to_65535_is_a_usage_error(capsys: pytest.CaptureFixture[str], port: str) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--port", port])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "argument --port:" in err and "(1-65535)" in err and "console on" not in err


@pytest.mark.parametrize("host", ["bad..host", "nosuchhost.invalid"])
def test_a_host_that_does_not_resolve_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], host: str) -> None:
    assert main(["serve", "--host", host, "--port", "18123"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot listen on {host!r}") and err.count("\n") == 1


def test_the_same_checks_apply_to_the_settings(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from eventbus.exceptions import SettingsError

    monkeypatch.setenv("EB_CONSOLE_PORT", "0")
    with pytest.raises(SettingsError, match="EB_CONSOLE_PORT='0'"):  # exit_with prints it, exit 2
        main(["serve"])
    monkeypatch.delenv("EB_CONSOLE_PORT")
    monkeypatch.setenv("EB_CONSOLE_HOST", "bad..host")
    assert main(["serve", "--port", "18123"]) == 2
    assert "cannot listen on 'bad..host'" in capsys.readouterr().err
