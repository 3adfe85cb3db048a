"""CDC relay: PostgreSQL logical replication (pgoutput) -> Debezium envelopes -> Kafka.

The relay reads the write-ahead log through a replication slot, decodes pgoutput, wraps each row
change in a Debezium envelope (Avro, Glue wire format) and produces it keyed by table + primary key.
The slot's confirmed LSN advances only after Kafka acknowledged every record up to it.

    $ python -m lambdas.cdc run                 # the Fargate command / local-stack program
    $ python -m lambdas.cdc status              # slot, publication, lag
"""

__version__ = "0.1.0"
CONNECTOR = "postgresql"
