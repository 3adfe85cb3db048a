"""A de-duplicating stream whose RocksDB state outgrows the memory settings, in a JVM of its own.

    python -m tests.support.state_probe --keys 500000 [--conf KEY=VALUE ...]

Builds the jobs' session (emr_jobs.session.build_session) with 1 MB block caches and write buffers, lets
``--keys`` distinct ids through ``dropDuplicates`` in one micro-batch (nothing expires) and prints
``rows=<n>``, the rows that came out. RocksDB's memory manager is a singleton of the JVM, so each probe
runs in its own process (tests/integration/test_spark_state_memory.py). Exit 1 with the one-line error
when the query fails.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.state_probe", description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=500_000, help="distinct keys held in the state (500k)")
    parser.add_argument("--conf", action="append", default=[], help="extra Spark property KEY=VALUE")
    args = parser.parse_args(argv)
    from pyspark.sql import functions as F

    from emr_jobs.config import SparkSettings
    from emr_jobs.errors import one_line
    from emr_jobs.session import build_session

    root = Path(tempfile.mkdtemp(prefix="state-probe-"))
    cfg = SparkSettings(checkpoint_root=str(root / "ckpt"), ui_port=0, rocksdb_block_cache_mb=1,
                        rocksdb_write_buffer_mb=1)
    spark = build_session("state-probe", cfg, **dict(c.split("=", 1) for c in args.conf))
    try:
        src = root / "ids"
        spark.range(args.keys).select(F.sha2(F.col("id").cast("string"), 256).alias("event_id"),
                                      F.timestamp_seconds(F.lit(1_767_261_600)).alias("ts")).write.parquet(str(src))
        stream = spark.readStream.schema("event_id string, ts timestamp").parquet(str(src))
        rows = stream.withWatermark("ts", "10 minutes").dropDuplicates(["event_id", "ts"])
        counted: list[int] = []
        q = (rows.writeStream.foreachBatch(lambda df, _: counted.append(df.count())).outputMode("append")
             .option("checkpointLocation", str(root / "ckpt")).trigger(availableNow=True).start())
        q.awaitTermination()
        print(f"rows={sum(counted)}")
        return 0
    except Exception as exc:  # the probe reports the query's failure as one line
        print(f"failed: {one_line(exc)}")
        return 1
    finally:
        spark.stop()


if __name__ == "__main__":
    sys.exit(main())
