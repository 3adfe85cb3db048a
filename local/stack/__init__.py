"""The local stack's supervisor: Kafka, PostgreSQL, the AWS emulator, Airflow, Spark and the components under
supervisord, no Docker. ``python -m local.stack --help``; from Python, ``local.stack.control``."""
