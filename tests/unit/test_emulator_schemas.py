"""moto starts empty after every restart; the stack registers every schema version again, each under a
UUID derived from its text, so a record kept in Kafka resolves to the very text it was written with —
also after a compatible edit of its .avsc, whose new text gets a new UUID (before: the old one).

Runs a private moto server on a free loopback port (never the stack's)."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventbus.registry import SchemaRegistry
from eventbus.settings import Settings
from local.stack import emulator
from local.stack.health import wait_until
from local.stack.spec import Ctx
from local.stack.state import REPO_ROOT, State
from tests.support.harness import free_port

V1 = json.dumps({"type": "record", "name": "AppLog", "namespace": "t.emulator", "fields": [
    {"name": "message", "type": "string"},
    {"name": "stack_trace", "type": ["null", "string"], "default": None},
    {"name": "attributes", "type": {"type": "map", "values": "string"}, "default": {}},
]})
# BACKWARD-compatible edit: a field with a default removed
V2 = json.dumps({"type": "record", "name": "AppLog", "namespace": "t.emulator", "fields": [
    {"name": "message", "type": "string"},
    {"name": "attributes", "type": {"type": "map", "values": "string"}, "default": {}},
]})


class PrivateMoto:
    """``moto_server`` as the stack runs it, on a free port; ``restart()`` gives an empty one."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(emulator.command(self.ctx), cwd=REPO_ROOT,
                                     env={**os.environ, **emulator.env(self.ctx)},
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        proc = self.proc
        wait_until(lambda: emulator.probe(self.ctx) == "moto", 60, "private moto", interval=0.1,
                   abort=lambda: f"moto exited {proc.returncode}" if proc.poll() is not None else None)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Ctx:
    for key, value in {**emulator.DUMMY_CREDENTIALS, "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    settings = Settings(profile="local", aws_endpoint_url=f"http://127.0.0.1:{free_port()}")
    return Ctx(State(tmp_path / "state").ensure(), settings)


@pytest.fixture
def moto(ctx: Ctx) -> Iterator[PrivateMoto]:
    server = PrivateMoto(ctx)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _text(ctx: Ctx, version_id: uuid.UUID) -> str:
    return SchemaRegistry(ctx.settings).definition(version_id)  # a fresh client: no cache


def test_an_old_uuid_resolves_to_its_own_text_after_a_restart_and_an_edit(ctx: Ctx, moto: PrivateMoto) -> None:
    emulator.restore(ctx)  # first start: nothing to restore
    v1 = emulator.register(ctx, "t_app_log", V1)
    moto.restart()  # `make local-down` / `make local-up`: moto is empty again
    emulator.restore(ctx)
    v2 = emulator.register(ctx, "t_app_log", V2)  # the bootstrap of the edited schemas/
    assert v2 != v1
    assert _text(ctx, v1) == V1
    assert _text(ctx, v2) == V2
    moto.restart()  # and again: both keep their UUIDs
    emulator.restore(ctx)
    assert SchemaRegistry(ctx.settings).register("t_app_log", V1) == v1
    assert SchemaRegistry(ctx.settings).register("t_app_log", V2) == v2
    assert _text(ctx, v1) == V1 and _text(ctx, v2) == V2


def test_a_uuid_comes_from_the_text_not_from_the_registration_order(ctx: Ctx, moto: PrivateMoto,
                                                                    tmp_path: Path) -> None:
    """The old seeding gave the first version registered after a start the same UUID, whatever its text."""
    v2_first = emulator.register(ctx, "t_app_log", V2)
    other = Ctx(State(tmp_path / "other").ensure(), ctx.settings)  # another state folder: empty journal
    moto.restart()
    v1_first = emulator.register(other, "t_app_log", V1)
    assert v1_first != v2_first
    moto.restart()
    assert emulator.register(other, "t_app_log", V2) == v2_first  # same text, same UUID, any order


def test_the_catalog_is_registered_before_the_bootstrap_which_finds_the_same_uuids(ctx: Ctx, moto: PrivateMoto) -> None:
    emulator.provision(ctx)
    journaled = {e["schema"]: e["version_id"] for e in map(json.loads, emulator.journal(ctx).read_text().splitlines())}
    moto.restart()
    emulator.restore(ctx)
    from lambdas.bootstrap.apply import register_schemas

    by_topic = register_schemas(ctx.settings)  # what `python -m lambdas.bootstrap` does
    from eventbus.catalog import load_catalog

    catalog = load_catalog(ctx.settings)
    assert {catalog.get(t).schema_name: v for t, v in by_topic.items()} == journaled
