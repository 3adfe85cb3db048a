"""Every source, registered by name (``Source.name``) when its module is imported — and every module is:
the ones in this folder, then the ones in ``EB_SIMULATORS_SOURCE_DIRS``. No list to keep.

Adding a source is three files: a module here (or in one of those folders) with one ``Source`` subclass,
its schema in ``schemas/`` and its line in ``schemas/topics.yaml``.

    >>> from lambdas.simulators.sources import REGISTRY
    >>> REGISTRY["clickstream"].topic
    'topic_clickstream'
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
from pathlib import Path

from lambdas.simulators.exceptions import SimulatorError
from lambdas.simulators.settings import SimulatorSettings
from lambdas.simulators.sources.base import REGISTRY, Keyed, Source, SourceContext, SourceOptions

__all__ = ["REGISTRY", "Keyed", "Source", "SourceContext", "SourceOptions", "discover"]


def _load_file(path: Path) -> None:
    name = f"{__name__}._ext_{path.parent.name}_{path.stem}"
    if name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SimulatorError(f"cannot load source module {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise SimulatorError(f"source module {path} failed to import: {type(exc).__name__}: {exc}") from exc


def discover(extra_dirs: tuple[Path, ...] = ()) -> dict[str, type[Source]]:
    """Import every source module (this package's, then ``extra_dirs``'); returns the registry."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    for folder in extra_dirs:
        if not folder.is_dir():
            raise SimulatorError(f"EB_SIMULATORS_SOURCE_DIRS: {folder} is not a folder")
        for path in sorted(folder.glob("*.py")):
            if not path.name.startswith("_"):
                _load_file(path)
    return REGISTRY


discover(SimulatorSettings().source_dirs)
