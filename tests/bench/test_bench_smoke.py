"""The upload bench runs end to end on a tiny file: servers start, clients upload, sizes are verified.

No timing assertions: the bench reports figures; this only checks that it produces honest ones.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "upload.py"
SIZE = 8 * 1024 * 1024


@pytest.mark.slow
def test_bench_smoke_runs_prints_table_and_verifies_sizes(tmp_path: Path) -> None:
    report_path = tmp_path / "bench.json"
    argv = [sys.executable, str(BENCH), "--size", "8M", "--skip-shaped", "--peers", "boto3"]
    argv += ["--cache-dir", str(tmp_path / "cache"), "--json", str(report_path)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    header = next(line for line in lines if line.startswith("client "))
    for column in ("wall s", "MB/s", "CPU s/GiB", "peak RSS MiB", "object bytes"):
        assert column in header
    boto3_row = next(line for line in lines if line.startswith("boto3 "))
    assert f"{SIZE} ok" in boto3_row
    assert not any(line.startswith(("aws ", "s5cmd ")) for line in lines), "--peers must filter the peers"

    report = json.loads(report_path.read_text())
    results = {r["client"]: r for r in report["loopback"]["results"]}
    assert set(results) == {"reeldrop", "boto3"}
    boto3 = results["boto3"]
    assert boto3["status"] == "ok"
    assert [a["verified_size"] for a in boto3["attempts"]] == [SIZE]
    assert boto3["cpu_s_per_gib"] > 0 and boto3["peak_rss_mib"] > 0
    # ReelDrop either ran and its object was verified, or the row says plainly that it cannot run here.
    reeldrop = results["reeldrop"]
    if reeldrop["status"] == "ok":
        assert [a["verified_size"] for a in reeldrop["attempts"]] == [SIZE]
    else:
        assert reeldrop["status"] == "n/a" and "reeldrop upload not available" in reeldrop["message"]
        assert "reeldrop upload not available" in done.stdout
    assert "shaped" not in report
