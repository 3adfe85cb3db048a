"""Every source, registered by name (``Source.name``) on import. Adding one: a module here with one
``Source`` subclass, its schema in ``schemas/`` and its line in ``schemas/topics.yaml``."""

from lambdas.simulators.sources import app_logs, clickstream, external, mobile, oltp, web
from lambdas.simulators.sources.base import REGISTRY, Keyed, Source, SourceContext, SourceOptions

__all__ = ["REGISTRY", "Keyed", "Source", "SourceContext", "SourceOptions", "app_logs", "clickstream", "external",
           "mobile", "oltp", "web"]
