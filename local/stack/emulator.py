"""The AWS emulator on 127.0.0.1:4566: moto server, or a LocalStack already listening there.

S3, Secrets Manager and the Glue Schema Registry API for the local profile. If something already
answers on the port as an AWS emulator (LocalStack, someone's moto), the stack uses it as is.
"""

from __future__ import annotations

import sys
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


#: moto's ids (Glue schema version UUIDs among them) come from a seedable generator. Seeding it right
#: after start makes the bootstrap register every schema under the same UUID on every start, so
#: records kept in Kafka across `make local-down`/`up` still resolve their writer schema.
MOTO_SEED = 20_240_601


def seed(ctx: Ctx) -> None:
    answer = http_post(f"{endpoint(ctx)}/moto-api/seed?a={MOTO_SEED}")
    if answer is None or answer[0] != 200:
        raise StackError(f"moto did not accept its id seed at {endpoint(ctx)}/moto-api/seed: {answer}")


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
    on_start=seed,
    volatile=True,
    start_timeout=60.0,
    stop_wait_s=15,
)
