"""The pipeline bench runs end to end on a tiny clip over a real shaped link (needs root: network namespaces
and tc). No timing assertions: it checks that both modes ran, the overlapped one streamed, and the figures
are there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "pipeline.py"


@pytest.mark.slow
@pytest.mark.skipif(
    os.geteuid() != 0 or not (shutil.which("ip") and shutil.which("tc")), reason="needs root with ip and tc"
)
def test_pipeline_bench_runs_both_modes_over_a_shaped_link(tmp_path: Path) -> None:
    report_path = tmp_path / "pipeline.json"
    before = _namespaces()
    argv = [sys.executable, str(BENCH), "--seconds", "4", "--preset", "480p", "--rate", "200mbit", "--stream-small"]
    argv += ["--cache-dir", str(tmp_path / "cache"), "--json", str(report_path)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "overlapped / max(encode, upload)" in done.stdout
    assert "did not stream" not in done.stdout
    report = json.loads(report_path.read_text())
    modes = {run["mode"]: run for run in report["runs"]}
    assert set(modes) == {"sequential", "overlapped"}
    assert modes["overlapped"]["streamed"] and not modes["sequential"]["streamed"]
    assert all(run["size"] > 0 and run["total_s"] >= run["encode_s"] > 0 for run in report["runs"])
    assert report["figures"]["rate"] == "200mbit"
    assert _namespaces() <= before  # the bench removed its test network


def _namespaces() -> set[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=15).stdout
    return {line.split()[0] for line in listed.splitlines() if line.strip()}
