"""`make local-status`: each supervised program and each catalog topic."""

from __future__ import annotations

from local.stack import emulator
from local.stack.programs import PROGRAMS
from local.stack.spec import Ctx, ProgramSpec
from local.stack.supervision import Supervisor, marked_processes

#: Exit code when the stack is not running (as LSB `status` does).
NOT_RUNNING = 3


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=False)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*headers), fmt.format(*("-" * w for w in widths))] +
                     [fmt.format(*map(str, r)) for r in rows])


def report(ctx: Ctx) -> int:
    sup = Supervisor(ctx.state)
    if not sup.running():
        print(f"local stack is down (state folder: {ctx.state.root}) — `make local-up` starts it")
        if leftovers := marked_processes(ctx.state):
            print(f"{len(leftovers)} leftover stack process(es) without supervisord — `make local-down` stops them:")
            for orphan, cmd in leftovers.items():
                print(f"  {orphan} {cmd}")
        return NOT_RUNNING
    specs = {s.name: s for s in PROGRAMS}
    rows = []
    order = [s.name for s in PROGRAMS]
    infos = sorted(sup.all_info(), key=lambda i: order.index(i["name"]) if i["name"] in order else len(order))
    for info in infos:
        spec = specs.get(info["name"])
        healthy = "?"
        if spec is not None and info["statename"] == "RUNNING":
            try:
                healthy = "yes" if spec.healthy(ctx) else "no"
            except Exception:
                healthy = "no"
        elif info["statename"] != "RUNNING":
            healthy = "-"
        pid = str(info["pid"]) if info["pid"] else "-"
        uptime = info["description"].rsplit("uptime ", 1)[1] if "uptime " in info["description"] else "-"
        rows.append([info["name"], info["statename"], pid, uptime, healthy,
                     spec.endpoint(ctx) if spec else ""])
    names = {r[0] for r in rows}
    if "emulator" not in names and (kind := emulator.probe(ctx)):
        rows.append(["emulator", f"external ({kind})", "-", "-", "yes" if kind != "foreign" else "no",
                     emulator.endpoint(ctx)])
    for spec in PROGRAMS:
        if spec.skipped(ctx) and spec.name not in names:
            rows.append([spec.name, "SKIPPED", "-", "-", "-", "EB_STACK_SKIP"])
    print(_table(["program", "state", "pid", "uptime", "healthy", "endpoint"], rows))
    print(f"\nlogs: {ctx.state.logs}")

    kafka = specs.get("kafka")
    if kafka is None or not _safe_healthy(kafka, ctx):
        print("\ntopics: kafka is not answering")
        return 1
    from eventbus.kafka import describe_topics

    topic_rows = []
    for t in describe_topics(ctx.settings, timeout=5.0):
        if not t["present"]:
            topic_rows.append([t["topic"], "MISSING", "-", "-"])
            continue
        parts = str(t["partitions"])
        if t["partitions"] != t["expected_partitions"]:
            parts += f" (catalog: {t['expected_partitions']})"
        topic_rows.append([t["topic"], parts, str(t["messages"]), t["cleanup_policy"]])
    print()
    print(_table(["topic", "partitions", "messages", "cleanup"], topic_rows))
    return 0


def _safe_healthy(spec: ProgramSpec, ctx: Ctx) -> bool:
    try:
        return bool(spec.healthy(ctx))
    except Exception:
        return False
