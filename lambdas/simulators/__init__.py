"""Simulators: one seeded travel-booking world emitting mobile, web, clickstream, app-log, external and
OLTP traffic at any rate. Entry points: ``python -m lambdas.simulators run`` (the Fargate command) and
``lambdas.simulators.handler.handler`` (a scheduled Lambda burst)."""
