"""Shared code of the external-data DAGs: settings, declarative sources, HTTP fetch, landing, publishing.

The DAG files in ``mwaa_dags/`` import this package (the DAGs folder is on ``sys.path`` in Airflow,
locally and on MWAA); it never imports another component — Kafka, Avro and S3 come from ``eventbus``.
"""
