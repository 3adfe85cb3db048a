"""bench-compare's reading of the benches' JSON and its head/base rows (the runs themselves need the stack)."""

from __future__ import annotations

import pytest

from bench.compare import RUNNER, compare, result_rows


def test_rows_come_from_write_results_or_from_the_gateway_runs() -> None:
    assert result_rows({"rows": [{"case": "a", "rate_per_s": 1.0}]}) == [{"case": "a", "rate_per_s": 1.0}]
    gateway = {"raw_producer": {"msgs_per_s": 400.0}, "runs": {"single": {"req_per_s": 40.0, "p99_ms": 9.0}}}
    assert result_rows(gateway) == [{"case": "raw producer", "msgs_per_s": 400.0},
                                    {"case": "single", "req_per_s": 40.0, "p99_ms": 9.0}]
    with pytest.raises(SystemExit, match="no rows or runs"):
        result_rows({"machine": {}})


def test_head_over_base_is_the_ratio_of_the_medians_per_figure() -> None:
    base = [[{"case": "x", "rate_per_s": 100.0, "records": 5}], [{"case": "x", "rate_per_s": 300.0, "records": 5}],
            [{"case": "x", "rate_per_s": 200.0, "records": 5}]]
    head = [[{"case": "x", "rate_per_s": 100.0}], [{"case": "x", "rate_per_s": 100.0}],
            [{"case": "y", "rate_per_s": 1.0}]]
    rows = compare(base, head, "kafka")
    assert [(r["row"], r["figure"], r["base"], r["head"], r["head/base"]) for r in rows] == [
        ("x", "rate_per_s", 200.0, 100.0, 0.5)]  # counts are not figures; "y" is on one side only


def test_the_runner_skips_both_ways_a_bench_holds_the_stack() -> None:
    code = RUNNER.format(bench="kafka")
    compile(code, "<runner>", "exec")
    assert "ensure_stack = lambda" in code and '"local.stack", "local.stack.control"' in code
    assert 'run_module("bench.kafka", run_name="__main__", alter_sys=True)' in code
