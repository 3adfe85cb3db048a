"""The Spark jobs' one registry: each job module marks its ``start`` function with ``@job``.

    @job(QUERY, queries=(QUERY,), reads=(SOURCE,), writes=(SINK,))
    def start(ctx: JobContext) -> list[Any]: ...

    >>> [j.name for j in registry()]                  # no pyspark imported
    ['app_events', 'booking_state', 'clickstream', 'lake', 'user_state']
    >>> registry().get("user_state").reads
    ('topic_app_events', 'topic_cdc_changes')

Readable without pyspark (the submit command, the CLI listing, tests): the decorators are read from the
job modules' source with ``ast``, so their arguments are literals or module-level constants bound to
literals. ``reads=ALL_READS`` means every topic whose catalog ``readers`` include ``spark`` (the lake).
Building the registry checks each job against the catalog: it may read only topics that list ``spark``
as a reader and write only topics that list it as a writer; ``JobContext.for_job`` enforces the same at
run time, so a declaration cannot drift from what the job does.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from eventbus.catalog import Catalog, load_catalog
from eventbus.exceptions import ConfigurationError
from eventbus.settings import Settings

#: The catalog component the jobs run as (``schemas/topics.yaml`` ``components.spark``).
COMPONENT = "spark"
#: ``reads=ALL_READS``: every topic the catalog lists ``spark`` as a reader of.
ALL_READS = "*"
PACKAGE = "emr_jobs"

F = TypeVar("F", bound=Callable[..., Any])


def job(name: str, *, queries: tuple[str, ...], reads: tuple[str, ...] | str, writes: tuple[str, ...] = ()
        ) -> Callable[[F], F]:
    """Mark a job module's start function (``start(ctx) -> [queries]``). The registry reads the call from
    the source, so the arguments must be literals or module constants bound to literals."""

    def mark(fn: F) -> F:
        fn.job_name = name  # type: ignore[attr-defined]
        return fn

    return mark


@dataclass(frozen=True)
class Job:
    name: str
    module: str  # emr_jobs.<module>
    function: str  # the decorated start function
    queries: tuple[str, ...]  # streaming query names = the progress files the console reads
    reads: tuple[str, ...]  # catalog topics (ALL_READS resolved)
    writes: tuple[str, ...]

    def starter(self) -> Callable[..., list[Any]]:
        """The start function (imports the job module, hence pyspark)."""
        fn: Callable[..., list[Any]] = getattr(importlib.import_module(self.module), self.function)
        return fn


class Registry:
    def __init__(self, jobs: list[Job]) -> None:
        self.jobs = {j.name: j for j in sorted(jobs, key=lambda j: j.name)}

    def __iter__(self) -> Iterator[Job]:
        return iter(self.jobs.values())

    def names(self) -> tuple[str, ...]:
        return tuple(self.jobs)

    def get(self, name: str) -> Job:
        try:
            return self.jobs[name]
        except KeyError:
            raise ConfigurationError(f"unknown job(s) {name} — choose from {', '.join(self.jobs)}") from None

    def select(self, names: list[str]) -> list[Job]:
        unknown = [n for n in names if n not in self.jobs]
        if unknown:
            raise ConfigurationError(f"unknown job(s) {', '.join(unknown)} — choose from {', '.join(self.jobs)}")
        return [self.jobs[n] for n in names]

    def queries(self) -> tuple[str, ...]:
        return tuple(q for j in self for q in j.queries)


def job_names(package: str = PACKAGE) -> tuple[str, ...]:
    """The jobs' names, read from their modules' source without the catalog or any setting: what a
    command's ``--help`` lists, even when an ``EB_*`` setting is refused (that error comes when it runs)."""
    return tuple(sorted(j.name for m in _modules(package) for j in _declared(m, None)))


def source_topics(settings: Settings | None = None) -> tuple[str, ...]:
    """Every topic the jobs may read: the catalog's topics with ``spark`` among their readers."""
    return tuple(load_catalog(settings).read_by(COMPONENT))


def output_topics(settings: Settings | None = None) -> tuple[str, ...]:
    """Every topic the jobs may write: the catalog's topics with ``spark`` among their writers."""
    return tuple(load_catalog(settings).written_by(COMPONENT))


def registry(settings: Settings | None = None, package: str = PACKAGE) -> Registry:
    """Every ``@job`` of ``package``'s modules, checked against the catalog (ConfigurationError if not)."""
    catalog = load_catalog(settings)
    jobs = [declared for name in _modules(package) for declared in _declared(name, catalog)]
    check(jobs, catalog)
    return Registry(jobs)


def check(jobs: list[Job], catalog: Catalog) -> None:
    """Names and queries unique; reads and writes within what the catalog grants ``spark``."""
    may_read, may_write = set(catalog.read_by(COMPONENT)), set(catalog.written_by(COMPONENT))
    problems: list[str] = []
    seen_jobs: set[str] = set()
    seen_queries: set[str] = set()
    for j in jobs:
        if j.name in seen_jobs:
            problems.append(f"job {j.name} is declared twice")
        if seen_queries & set(j.queries):
            problems.append(f"job {j.name}: query {', '.join(sorted(seen_queries & set(j.queries)))} taken")
        seen_jobs.add(j.name)
        seen_queries.update(j.queries)
        if not j.queries or not j.reads:
            problems.append(f"job {j.name} names no queries or no topics it reads")
        for what, topics, allowed, key in (("reads", j.reads, may_read, "readers"),
                                           ("writes", j.writes, may_write, "writers")):
            for topic in topics:
                if topic not in catalog.topics:
                    problems.append(f"job {j.name} {what} {topic}, which is not in the catalog ({catalog.path})")
                elif topic not in allowed:
                    problems.append(f"job {j.name} {what} {topic}, whose catalog {key} do not list {COMPONENT} "
                                    f"({catalog.path})")
    if problems:
        raise ConfigurationError("; ".join(problems))


def _modules(package: str) -> list[str]:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations is not None, package
    return [f"{package}.{m.name}" for m in pkgutil.iter_modules(spec.submodule_search_locations)
            if not m.ispkg and not m.name.startswith("_")]


def _source(module: str) -> str:
    spec = importlib.util.find_spec(module)
    loader: Any = spec.loader if spec else None
    # get_source: the file, or the .py inside pyfiles.zip on EMR (zipimporter)
    source = loader.get_source(module) if loader is not None and hasattr(loader, "get_source") else None
    if source is None and spec is not None and spec.origin:
        source = Path(spec.origin).read_text()
    return source or ""


def _declared(module: str, catalog: Catalog | None) -> list[Job]:
    """``module``'s ``@job`` declarations; ``reads=ALL_READS`` resolved through ``catalog`` (kept as
    ``(ALL_READS,)`` without one)."""
    source = _source(module)
    if "@job(" not in source:
        return []
    tree = ast.parse(source, module)
    consts: dict[str, Any] = {}
    for node in tree.body:  # module constants bound to literals, in order
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                consts[node.targets[0].id] = _literal(node.value, consts, module)
            except ConfigurationError:
                continue
    out = []
    for fn in tree.body:
        if not isinstance(fn, ast.FunctionDef):
            continue
        for deco in fn.decorator_list:
            if isinstance(deco, ast.Call) and isinstance(deco.func, ast.Name) and deco.func.id == "job":
                args = [_literal(a, consts, module) for a in deco.args]
                kw = {k.arg: _literal(k.value, consts, module) for k in deco.keywords if k.arg}
                reads = kw.get("reads", ())
                out.append(Job(name=args[0] if args else kw["name"], module=module, function=fn.name,
                               queries=tuple(kw.get("queries", ())),
                               reads=(tuple(catalog.read_by(COMPONENT)) if catalog else (ALL_READS,))
                               if reads == ALL_READS else tuple(reads),
                               writes=tuple(kw.get("writes", ()))))
    return out


def _literal(node: ast.AST, consts: dict[str, Any], module: str) -> Any:
    """A literal, a module constant, ``ALL_READS``, or a tuple/list of those."""
    if isinstance(node, ast.Name):
        if node.id == "ALL_READS":
            return ALL_READS
        if node.id in consts:
            return consts[node.id]
    elif isinstance(node, ast.Tuple | ast.List):
        return tuple(_literal(e, consts, module) for e in node.elts)
    else:
        try:
            return ast.literal_eval(node)
        except ValueError:
            pass
    raise ConfigurationError(f"{module}: @job arguments must be literals or module constants bound to literals "
                             f"(the registry is read without importing Spark): {ast.unparse(node)}")
