"""Browser tests of the console: headless Debian chromium driven by Playwright, against the real stack.

The session starts the local stack when it is down (like tests/integration), runs the console on a
free port for the session, and launches /usr/bin/chromium (never a downloaded browser).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from local.stack.health import http_get, wait_until

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CHROMIUM = os.environ.get("EB_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session", autouse=True)
def stack() -> Iterator[None]:
    for key, value in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"),
                       ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ.setdefault(key, value)
    from local.stack import control as local_stack

    with local_stack.session():
        yield


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served_console(log: Path, **env_overrides: str) -> Iterator[str]:
    """``python -m local.console serve`` on a free port until the block ends; yields its URL."""
    port = free_port()
    env = {**os.environ, "EB_PROFILE": "local", "EB_CONSOLE_SAMPLE_EVERY_S": "1", "EB_LOG_LEVEL": "WARNING",
           **env_overrides}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "local.console", "serve", "--port", str(port)],
                                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: (http_get(url + "/api/health") or (0,))[0] == 200, 30, f"console on {url}",
                   abort=lambda: f"exited: {log.read_text()[-2000:]}" if proc.poll() is not None else None)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def console_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The console against the stack, for the session."""
    with served_console(tmp_path_factory.mktemp("console") / "console.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Module scope: Playwright's sync API keeps an event loop running in this thread until it stops, and
    # later tests in the same session (asyncio.run, mangum) need the thread's loop free again.
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found — apt-get install chromium (the .ci/run script does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


class ConsolePage:
    """A browser tab on the console that records console errors and uncaught exceptions."""

    def __init__(self, page: Any, base: str) -> None:
        self.page, self.base = page, base
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def open(self, hash_: str, timeout_ms: int = 20_000) -> Any:
        """Navigate to ``#hash_`` and wait until the page's first load finished (data or error)."""
        name = hash_.split("?")[0]
        if self.page.url.startswith(self.base):  # a same-document (hash) navigation: forget the last load
            self.page.evaluate("document.body.dataset.loaded = 'navigating'")
        self.page.goto(f"{self.base}/#{hash_}")
        self.page.wait_for_function(f"document.body.dataset.loaded === {name!r}", timeout=timeout_ms)
        return self.page


@pytest.fixture
def console(browser: Any, console_url: str) -> Iterator[ConsolePage]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield ConsolePage(context.new_page(), console_url)
    finally:
        context.close()
