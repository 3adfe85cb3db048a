"""The AWS emulator on 127.0.0.1:4566: moto server, or a LocalStack already listening there.

S3, Secrets Manager and the Glue Schema Registry API for the local profile. If something already
answers on the port as an AWS emulator (LocalStack, someone's moto), the stack uses it as is.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sys
import uuid
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from local.stack.exceptions import StackError
from local.stack.health import http_get, http_post
from local.stack.spec import Ctx, ProgramSpec

NAME = "emulator"
#: The emulator accepts any credentials; these are not secrets.
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
}

Kind = Literal["moto", "localstack", "foreign"] | None


def endpoint(ctx: Ctx) -> str:
    return (ctx.settings.aws_endpoint_url or "http://127.0.0.1:4566").rstrip("/")


def port(ctx: Ctx) -> int:
    return urlparse(endpoint(ctx)).port or 4566


def probe(ctx: Ctx) -> Kind:
    """What answers on the emulator endpoint: moto, LocalStack, something else, or nothing."""
    base = endpoint(ctx)
    health = http_get(f"{base}/_localstack/health", timeout=1.0)
    if health is None:
        return None
    if health[0] == 200 and '"services"' in health[1]:
        return "localstack"
    moto = http_get(f"{base}/moto-api/", timeout=1.0)
    if moto is not None and moto[0] == 200:
        return "moto"
    return "foreign"


def external(ctx: Ctx) -> Kind:
    """An emulator the stack did not start (checked before supervisord starts anything)."""
    kind = probe(ctx)
    return kind if kind in ("moto", "localstack") else None


# --- schema versions across restarts ----------------------------------------------------------------
# moto keeps the registry in memory and draws version UUIDs from its random generator. Records kept in
# Kafka name their writer schema by that UUID, so after a restart (a) every version ever registered must
# be there again, and (b) under the same UUID, and (c) a UUID must never come back for another text.
# The stack registers each version itself, right after seeding moto's generator with a hash of
# (registry, schema name, definition): the UUID is a function of the text. Every version it registered
# is kept, in order, in the state folder and registered again after each start of moto.


def journal(ctx: Ctx) -> Path:
    """The schema versions registered on the stack's moto, one JSON line each, oldest first."""
    return ctx.state.program_dir(NAME) / "schema-versions.jsonl"


def _read_journal(ctx: Ctx) -> list[dict[str, str]]:
    path = journal(ctx)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _seed(ctx: Ctx, value: int) -> None:
    answer = http_post(f"{endpoint(ctx)}/moto-api/seed?a={value}")
    if answer is None or answer[0] != 200:
        raise StackError(f"moto did not accept an id seed at {endpoint(ctx)}/moto-api/seed: {answer}")


def content_seed(registry: str, schema: str, definition: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{registry}\0{schema}\0{definition}".encode()).digest(), "big")


def register(ctx: Ctx, schema: str, definition: str, registry: str | None = None) -> uuid.UUID:
    """Register one version on the stack's moto under a UUID derived from its text (an existing one
    keeps its UUID) and note it in the journal. Returns its version UUID."""
    from eventbus.registry import SchemaRegistry

    settings = ctx.settings if registry is None else ctx.settings.model_copy(update={"registry_name": registry})
    reg = SchemaRegistry(settings)
    reg.ensure_registry()  # before the seed: the seeded calls below are the same on every start
    _seed(ctx, content_seed(reg.registry_name, schema, definition))
    version_id = reg.register(schema, definition)
    entry = {"registry": reg.registry_name, "schema": schema, "definition": definition}
    if not any({k: e.get(k) for k in entry} == entry for e in _read_journal(ctx)):
        journal(ctx).parent.mkdir(parents=True, exist_ok=True)
        with journal(ctx).open("a") as fh:
            fh.write(json.dumps({**entry, "version_id": str(version_id)}) + "\n")
    return version_id


def restore(ctx: Ctx) -> None:
    """After moto (re)started empty: every version of the journal again, in order, under its UUID."""
    moved = []
    for entry in _read_journal(ctx):
        got = register(ctx, entry["schema"], entry["definition"], entry["registry"])
        if str(got) != entry["version_id"]:
            moved.append(f"{entry['schema']} {entry['version_id']}")
    _seed(ctx, secrets.randbits(128))  # what others register next gets ids nobody can predict
    if moved:
        # Registered under another UUID than before (another client called moto between the seed and the
        # registration): records naming the old one fail to decode, loudly — never against another schema.
        print(f"local-stack: warning: {len(moved)} schema version(s) came back under a new UUID; records "
              f"written under the old one no longer decode: {', '.join(moved)}", flush=True)


def provision(ctx: Ctx) -> None:
    """Register the catalog's schemas (before the bootstrap, which then finds them), each under the
    UUID of its text, and remember them for the next start."""
    from eventbus.catalog import load_catalog

    for spec in load_catalog(ctx.settings):
        register(ctx, spec.schema_name, spec.schema_text)
    _seed(ctx, secrets.randbits(128))


def command(ctx: Ctx) -> list[str]:
    exe = Path(sys.executable).parent / "moto_server"
    base = [str(exe)] if exe.exists() else [sys.executable, "-m", "moto.server"]
    return [*base, "-H", "127.0.0.1", "-p", str(port(ctx))]


def env(ctx: Ctx) -> dict[str, str]:
    return {**DUMMY_CREDENTIALS, "AWS_DEFAULT_REGION": ctx.settings.aws_region}


SPEC = ProgramSpec(
    name=NAME,
    command=command,
    healthy=lambda ctx: probe(ctx) in ("moto", "localstack"),
    enabled=lambda ctx: external(ctx) is None,
    ports=lambda ctx: (port(ctx),),
    endpoint=endpoint,
    env=env,
    on_start=restore,
    provision=provision,
    volatile=True,
    start_timeout=60.0,
    stop_wait_s=15,
)
