"""The jobs' errors, and the one-line translation of what Spark/the JVM raise at start-up.

A user who starts a job with a missing topic, an unreachable broker or an unusable checkpoint location
gets one line saying what to fix (``emr_jobs.errors.one_line``), not a Java stack trace.
"""

from __future__ import annotations

import re


class JobError(Exception):
    """A job cannot start or run; the message says what is wrong and what to do."""


_JAVA_HINTS: tuple[tuple[str, str], ...] = (
    (r"UnknownTopicOrPartition|topic.*does not exist|Topic .* not present",
     "a topic the job reads does not exist — run `make local-up` (applies the catalog) or create it"),
    (r"TimeoutException|Connection refused|Timed out waiting for a node",
     "the Kafka broker did not answer — check EB_KAFKA_BOOTSTRAP / run `make local-up`"),
    (r"AccessDenied|403", "access denied by AWS — check the job's execution role"),
    (r"NoSuchBucket", "the bucket does not exist — check EB_SPARK_CHECKPOINT_ROOT / EB_LAKE_BUCKET"),
    (r"No FileSystem for scheme", "no filesystem for that scheme locally — use a local folder or s3a:// on EMR"),
    (r"ClassNotFoundException|Failed to find data source: kafka",
     "the connector jars are not on the classpath — run `make spark-jars`"),
    (r"Permission denied|AccessControlException", "cannot write there — pick a writable checkpoint/lake folder"),
)


def one_line(exc: BaseException) -> str:
    """A single actionable line for ``exc`` (a JobError, an AnalysisException, a Py4J error…)."""
    text = str(exc)
    if isinstance(exc, JobError) and "Traceback (most recent call last)" not in text:
        return text or type(exc).__name__
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    if "Traceback (most recent call last)" in text:  # a Python worker failed: its last error line says why
        raised = [ln.strip() for ln in text.splitlines() if re.match(r"^\s*[\w.]+(Error|Exception): ", ln)]
        if raised:
            return f"{first.split(':')[0]}: {raised[-1][:300]}"
    gone = re.fullmatch(r"An error occurred while calling (\S+)", text.strip())
    if gone:  # py4j's whole message when the JVM did not answer at all (its network error is only logged)
        return (f"the driver's JVM did not answer while calling {gone.group(1)}: it stopped, was killed or ran "
                "out of memory — see the lines above this one in the log")
    first = re.sub(r"^(An error occurred while calling \S+\.\s*)", "", first)
    for pattern, hint in _JAVA_HINTS:
        if re.search(pattern, text, flags=re.IGNORECASE):
            return f"{hint} ({first[:200]})"
    return first[:300]
